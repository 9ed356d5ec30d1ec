"""Secrets never leave the process through a log line.

`SECRETS` holds every client secret and bearer token a client of this process has seen (the client registers
them as it learns them); `SECRETS.redact(text)` replaces each with ***. Messages and exceptions the client
builds are redacted where they are built; `install_redaction()` is the safety net for everything else that
logs, called once at start-up by the CLI (and by the tests that need it), never as a side effect of an import.

It wraps the log record factory rather than adding filters, because only the factory sees every record:
`Logger.makeRecord` calls it for each record of each logger, whichever handlers exist at start-up or are added
later. Filters miss records: dlt's logger `dlt` does not propagate to the root and gets its own handler only
when a pipeline is initialised (after start-up), a logger's filter does not apply to its children
(`httpcore.http11` under `httpcore`, `livello_sync.client` under `livello_sync`), and pytest or a host
application add handlers whenever they like. A record is redacted once, where it is made: its message with its
arguments applied, its formatted exception and its stack.

Not covered: records that are not made by `makeRecord` (`logging.makeLogRecord` fills a record after making
it, e.g. one received from another process), records of processes that did not install redaction, and a record
factory installed later that does not chain to the one it replaces (the standard idiom does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

# Very short strings would redact ordinary words; a real secret or JWT is far longer.
_MIN_SECRET_LENGTH = 6
_MASK = "***"


class _SecretRegistry:
    """Every client secret and bearer token seen by any client of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Longest first, so that a secret containing another is masked whole. A tuple replaced whole on every
        # change, so `redact` reads it without the lock.
        self._secrets: tuple[str, ...] = ()

    def add(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def __len__(self) -> int:
        return len(self._secrets)


SECRETS = _SecretRegistry()


def redact_record(record: logging.LogRecord) -> None:
    """Mask registered secrets in `record`'s message, exception and stack, in place."""
    if not SECRETS:  # every record of the process comes here: nothing to look for before the first client
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the logging module's to report, not a reason to lose it
        return
    redacted = SECRETS.redact(message)
    if redacted != message:
        record.msg, record.args = redacted, ()
    if record.exc_info:
        text = logging.Formatter().formatException(record.exc_info)
        redacted = SECRETS.redact(text)
        if redacted != text:
            # Formatters print exc_text when set; the exception itself goes, so that none formats it anew.
            record.exc_text, record.exc_info = redacted, None
    if record.stack_info:
        record.stack_info = SECRETS.redact(record.stack_info)


class _RedactingRecordFactory:
    """A log record factory that redacts what the factory it wraps makes."""

    def __init__(self, make: Callable[..., logging.LogRecord]) -> None:
        self._make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._make(*args, **kwargs)
        redact_record(record)
        return record


_INSTALL_LOCK = threading.Lock()


def install_redaction() -> None:
    """Redact every log record made from now on, by any logger of the process; idempotent."""
    with _INSTALL_LOCK:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RedactingRecordFactory):
            logging.setLogRecordFactory(_RedactingRecordFactory(current))
