"""What a run tells its operator while it works, for both audiences.

* On a terminal: one compact live line that follows the current load (rows, requests, time) and shows when
  the run is waiting for API budget; finished events are printed above it.
* Without a terminal (cron, systemd, CI): one plain line per event, each with a UTC timestamp, and a line at
  least every 60 s while the run waits, so a log never looks dead during a long pacing pause.
* `--log-format json`: the same events as one JSON object per line, for log shippers.

Numbers in words people read: plurals right, thousands separated, durations in human units."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
# Without a terminal, the longest a wait goes without a line in the log.
HEARTBEAT_SECONDS = 60.0
# Waits shorter than this pass silently (the pacer spaces requests by fractions of a second).
QUIET_WAIT_SECONDS = 5.0


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def human(seconds: float) -> str:
    """'0.4 s', '12 s', '4 min', '1 h 05 min', '2 d 3 h'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h"


class Reporter:
    """Events and a live status of one command; callable with a message for a plain informative event."""

    def __init__(
        self, stream: TextIO | None = None, *, log_format: LogFormat = "text", live: bool | None = None
    ):
        self.stream = stream or sys.stdout
        self.log_format = log_format
        self.live = log_format == "text" and (self.stream.isatty() if live is None else live)
        self._lock = threading.Lock()
        self._last_line_at = time.monotonic()
        self._live_text: str | None = None
        self._console: Any = None
        self._live: Any = None

    # -- events ---------------------------------------------------------------------------------------------
    def __call__(self, message: str) -> None:
        self.event("info", message)

    def event(self, kind: str, message: str, **fields: Any) -> None:
        with self._lock:
            self._last_line_at = time.monotonic()
            if self.log_format == "json":
                record = {"time": _now(), "event": kind, "message": message, **fields}
                self.stream.write(json.dumps(record, default=str) + "\n")
                self.stream.flush()
            elif self.live:
                self._rich().print(message, markup=False, highlight=False, soft_wrap=True)
            else:
                for line in message.splitlines() or [""]:
                    self.stream.write(f"{_now()} {line}\n" if line.strip() else "\n")
                self.stream.flush()

    def error(self, message: str) -> None:
        """An error: on stderr, as a JSON object in json format."""
        if self.log_format == "json":
            record = {"time": _now(), "event": "error", "message": message}
            sys.stderr.write(json.dumps(record) + "\n")
        else:
            sys.stderr.write(f"livello-sync: {message}\n")
        sys.stderr.flush()

    # -- the live status ------------------------------------------------------------------------------------
    def status(self, text: str, *, heartbeat: bool = True) -> None:
        """The current state: the live line on a terminal; elsewhere a line when none was written for a
        minute (`heartbeat`), so the log shows the run is alive."""
        if self.live:
            with self._lock:
                self._live_text = text
                self._live_line().update(_rich_text(text))
            return
        if heartbeat and time.monotonic() - self._last_line_at >= HEARTBEAT_SECONDS:
            self.event("heartbeat", text)

    def clear_status(self) -> None:
        if self.live and self._live is not None:
            with self._lock:
                self._live_text = None
                self._live.update(_rich_text(""))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def sleeper(self, budget: Callable[[], tuple[int, int] | None]) -> Callable[[float], None]:
        """A `sleep` for the API client that keeps the operator informed during long waits; `budget()` gives
        (requests used, requests allowed) of the current rate-limit window when known."""

        def sleep(seconds: float) -> None:
            end = time.monotonic() + seconds
            step = 1.0 if self.live else HEARTBEAT_SECONDS / 2
            while (left := end - time.monotonic()) > 0:
                if seconds >= QUIET_WAIT_SECONDS:
                    known = budget()
                    used = f", {known[0]:,}/{known[1]:,} used this window" if known else ""
                    self.status(f"waiting {human(math.ceil(left))} for API budget{used}")
                time.sleep(min(step, left))
            if seconds >= QUIET_WAIT_SECONDS:
                self.clear_status()

        return sleep

    def _rich(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        return self._console

    def _live_line(self) -> Any:
        if self._live is None:
            from rich.live import Live

            self._live = Live(_rich_text(""), console=self._rich(), transient=True, refresh_per_second=4)
            self._live.start()
        return self._live


def _rich_text(text: str) -> Any:
    from rich.text import Text

    return Text(text, style="dim")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JsonLogFormatter:
    """Log records as JSON objects (`--log-format json`), one per line."""

    def format(self, record: Any) -> str:
        return json.dumps(
            {"time": _now(), "event": "log", "level": record.levelname, "logger": record.name,
             "message": record.getMessage()}
        )  # fmt: skip
