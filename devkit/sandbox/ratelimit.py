"""Fixed-window request counters: each window opens on the first request after the previous one closed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowLimit:
    """A limit of ``limit`` requests per ``seconds``; ``name`` tells windows of the same key apart."""

    name: str
    limit: int
    seconds: int


@dataclass(frozen=True)
class WindowState:
    """One window after counting a request."""

    limit: int
    remaining: int
    reset_at: float  # Unix time when the window closes
    exceeded: bool

    @property
    def reset_epoch(self) -> int:
        """The reset time as whole Unix seconds, rounded up so a client waiting until then is never early."""
        return math.ceil(self.reset_at)


@dataclass(frozen=True)
class RateVerdict:
    """Whether a request may proceed, and the window to report (the one nearest to exhaustion)."""

    allowed: bool
    reported: WindowState
    retry_after: int  # seconds until the blocking window closes; 0 when allowed


@dataclass
class _Window:
    opened_at: float
    count: int


class FixedWindowLimiter:
    """Counts requests per key in several fixed windows at once. Not thread-safe: the caller holds its lock."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], _Window] = {}

    def hit(self, key: str, limits: Sequence[WindowLimit], now: float) -> RateVerdict:
        """Count one request for ``key`` in every window (rejected requests count too) and judge it."""
        states = [self._count(key, limit, now) for limit in limits]
        # Least remaining first; on a tie the later reset, so a client that waits for it waits long enough.
        reported = min(states, key=lambda state: (state.remaining, -state.reset_at))
        blocking = [state for state in states if state.exceeded]
        if not blocking:
            return RateVerdict(allowed=True, reported=reported, retry_after=0)
        wait = max(state.reset_at for state in blocking) - now
        return RateVerdict(allowed=False, reported=reported, retry_after=max(1, math.ceil(wait)))

    def _count(self, key: str, limit: WindowLimit, now: float) -> WindowState:
        window = self._windows.get((key, limit.name))
        if window is None or now >= window.opened_at + limit.seconds:
            window = self._windows[(key, limit.name)] = _Window(opened_at=now, count=0)
        window.count += 1
        return WindowState(
            limit=limit.limit,
            remaining=max(0, limit.limit - window.count),
            reset_at=window.opened_at + limit.seconds,
            exceeded=window.count > limit.limit,
        )
