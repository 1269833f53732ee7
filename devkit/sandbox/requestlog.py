"""The log of vendor requests the sandbox received, with secrets redacted."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from devkit.sandbox.messages import Request, parse_json

REDACTED = "***"
# Credentials in these headers keep only their scheme ("Bearer ***"), so tests can still check which scheme was used.
_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})
# Headers whose whole value is a secret (ConstructionOnline sends its key in APIKey).
_SECRET_HEADERS = frozenset({"cookie", "apikey", "x-api-key"})
# Query parameters that carry credentials (Procore's token endpoint tolerates them in the query string).
_SECRET_PARAMS = frozenset({"client_secret", "password", "access_token", "refresh_token", "code"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers with lowercase names and credentials replaced by ``***``."""
    redacted: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _SCHEME_HEADERS:
            scheme, _, credentials = value.strip().partition(" ")
            redacted[lower] = f"{scheme} {REDACTED}" if credentials else REDACTED
        elif lower in _SECRET_HEADERS:
            redacted[lower] = REDACTED
        else:
            redacted[lower] = value
    return redacted


def redact_query(query: Mapping[str, str]) -> dict[str, str]:
    """Return the query parameters with credentials replaced by ``***``."""
    return {name: REDACTED if name.lower() in _SECRET_PARAMS else value for name, value in query.items()}


@dataclass
class LogEntry:
    """One vendor request; ``status`` is None until answered and stays None for dropped connections."""

    vendor: str | None
    route: str | None
    request: Request
    log_body: bool
    status: int | None = None
    fault: str | None = None
    # Wall-clock seconds: when the request came in and when its answer was ready (None until then), so tests
    # can see which requests were in flight at the same time.
    received_at: float = field(default_factory=time.time)
    answered_at: float | None = None

    def to_json(self) -> dict[str, object]:
        """The entry as the control API shows it."""
        body: object = None
        if self.log_body and self.request.body:
            try:
                body = parse_json(self.request.body)
            except ValueError:
                body = None  # not JSON: the log only keeps parsed JSON bodies
        return {
            "vendor": self.vendor,
            "route": self.route,
            "method": self.request.method,
            "path": self.request.path,
            "query": redact_query(self.request.query),
            "headers": redact_headers(self.request.headers),
            "status": self.status,
            "fault": self.fault,
            "body": body,
            "received_at": self.received_at,
            "answered_at": self.answered_at,
        }


class RequestLog:
    """Entries in the order requests arrived. Not thread-safe: the caller holds its lock."""

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []

    def record(self, entry: LogEntry) -> LogEntry:
        """Append an entry and return it so the caller can fill in the outcome."""
        self._entries.append(entry)
        return entry

    def entries(self, vendor: str | None = None) -> list[LogEntry]:
        """The entries, optionally only those of one vendor."""
        return [entry for entry in self._entries if vendor is None or entry.vendor == vendor]
