"""The run summary: what a run loaded and what it cost, printed at the end and recorded in `sync_runs`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.progress import human, plural


@dataclass
class RunSummary:
    destination: str
    dataset: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # running, complete, paused (max-duration), partial (some resources stopped, see `failed`), failed
    status: str = "running"
    error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    windows_done: int = 0
    windows_total: int = 0
    requests: int = 0
    token_requests: int = 0
    retries: int = 0
    http_429: int = 0
    budget_limit: int | None = None
    budget_remaining: int | None = None
    budget_reset_seconds: int | None = None
    duration_seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # resource -> why it stopped (the rest loaded)
    resources: list[str] = field(default_factory=list)  # the resources the run set out to sync
    drift: dict[str, Any] = field(
        default_factory=dict
    )  # resource -> {new, missing, retyped}: API field -> what
    warnings: list[str] = field(default_factory=list)
    transform: str | None = None
    # Several API clients: client name -> what it read and cost (Lane.record()); empty with one client.
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_clients: dict[str, str] = field(default_factory=dict)  # client name -> why it stopped

    def record_client(self, stats: Any) -> None:
        self.requests = int(stats.requests)
        self.token_requests = int(stats.token_requests)
        self.retries = int(stats.retries)
        self.http_429 = int(getattr(stats, "http_429", 0) or 0)
        self.budget_limit = stats.rate_limit_limit
        self.budget_remaining = stats.rate_limit_remaining
        self.budget_reset_seconds = stats.rate_limit_reset

    def record(self) -> dict[str, Any]:
        """One row of the `sync_runs` table."""
        return {
            "started_at": self.started_at,
            "finished_at": datetime.now(UTC),
            "status": self.status,
            "error": self.error,
            "duration_seconds": round(self.duration_seconds, 3),
            "windows_done": self.windows_done,
            "windows_total": self.windows_total,
            "rows_loaded": sum(self.rows.values()),
            "rows_per_table": json.dumps(self.rows, sort_keys=True),
            "requests": self.requests,
            "token_requests": self.token_requests,
            "retries": self.retries,
            "http_429": self.http_429,
            "budget_limit": self.budget_limit,
            "budget_remaining": self.budget_remaining,
            "skipped": json.dumps(self.skipped, sort_keys=True),
            "failed": json.dumps(self.failed, sort_keys=True),
            "resources": json.dumps(self.resources),
            "drift": json.dumps(self.drift, sort_keys=True),
            "transform": self.transform,
            "clients": json.dumps(self.clients, sort_keys=True) if self.clients else None,
        }

    def render(self) -> str:
        where = f"{self.destination}, dataset {self.dataset}"
        lines = [f"Run {self.status} in {human(self.duration_seconds)}  ({where})"]
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.rows:
            width = max(len(t) for t in self.rows)
            lines.append("  rows loaded:")
            lines += [f"    {table:<{width}}  {count:>10,}" for table, count in sorted(self.rows.items())]
        else:
            lines.append("  rows loaded: none")
        lines.append(f"  loads: {self.windows_done} of {plural(self.windows_total, 'load')}")
        budget = "unknown"
        if self.budget_remaining is not None:
            budget = f"{self.budget_remaining:,} of {self.budget_limit:,} left in the current window"
            if self.budget_reset_seconds is not None:
                budget += f" (resets in {human(self.budget_reset_seconds)})"
        lines.append(
            f"  API: {self.requests:,} requests, {self.token_requests} token requests, "
            f"{self.retries} retries, {self.http_429} x 429; budget {budget}"
        )
        for name, client in self.clients.items():
            lines.append(f"  client {name}: {describe_client(client)}")
        for name, reason in self.failed_clients.items():
            lines.append(f"  FAILED client {name}: {reason}")
        for resource, reason in sorted(self.failed.items()):
            lines.append(f"  FAILED {resource}: {reason}")
        for resource, changes in sorted(self.drift.items()):
            for kind, fields in sorted(changes.items()):
                lines.append(f"  drift {resource} {kind}: " + ", ".join(sorted(fields)))
        for resource, reason in sorted(self.skipped.items()):
            lines.append(f"  skipped {resource}: {reason}")
        for warning in self.warnings:
            if not warning.startswith("skipping "):
                lines.append(f"  warning: {warning}")
        if self.transform:
            lines.append(f"  transform: {self.transform}")
        return "\n".join(lines)


def describe_client(client: dict[str, Any]) -> str:
    """'lv_m2m_org_2, 3 kiosks, complete, 41 requests, budget 41 of 800 used in the window'."""
    kiosks = client.get("kiosks")
    parts = [str(client.get("client_id"))]
    if kiosks is not None:
        parts.append(plural(int(kiosks), "kiosk") + (" (filtered)" if client.get("filtered") else ""))
    parts.append(str(client.get("status")))
    parts.append(plural(int(client.get("requests") or 0), "request"))
    used, allowed = client.get("budget_used"), client.get("budget_allowed")
    if used is not None and allowed is not None:
        parts.append(f"budget {used:,} of {allowed:,} used in the window")
    return ", ".join(parts)
