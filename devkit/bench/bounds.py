"""The throughput a vendor's rate limit, latency and batch size allow a function, whatever the code does."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """A fixed-window rate limit: ``limit`` calls per ``seconds``."""

    limit: int
    seconds: float


def window_rate(window: Window, run_seconds: float) -> float:
    """Calls per second a fixed window lets through over a run of ``run_seconds`` (its count reopens each window)."""
    return window.limit * math.ceil(run_seconds / window.seconds) / run_seconds


@dataclass(frozen=True)
class Bound:
    """``records_per_call x min(rate limit, concurrency x calls in flight / latency)`` in records per second."""

    records_per_call: int
    concurrency: int
    calls_in_flight: int
    latency_seconds: float
    rate_limit_calls_per_second: float

    @property
    def latency_calls_per_second(self) -> float:
        """Calls per second when every invocation keeps its calls in flight back to back."""
        return self.concurrency * self.calls_in_flight / self.latency_seconds

    @property
    def calls_per_second(self) -> float:
        """The smaller of the two limits on calls per second."""
        return min(self.rate_limit_calls_per_second, self.latency_calls_per_second)

    @property
    def records_per_second(self) -> float:
        """The bound on records per second."""
        return self.records_per_call * self.calls_per_second

    @property
    def limited_by(self) -> str:
        """Which limit sets the bound."""
        return "rate limit" if self.rate_limit_calls_per_second <= self.latency_calls_per_second else "latency"


def rate_limit(windows: Sequence[Window], run_seconds: float) -> float:
    """The tightest of the vendor's windows over a run of ``run_seconds``, in calls per second."""
    return min(window_rate(window, run_seconds) for window in windows)
