"""The time an invocation has left, so that no retry or wait runs past the Lambda's timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class HasRemainingTime(Protocol):
    """The part of Lambda's context object that tells the time left."""

    def get_remaining_time_in_millis(self) -> int: ...


# Time kept back for answering, dead-lettering and flushing logs after the last vendor call.
RESERVE_SECONDS = 2.0
# An SQS batch's wrap-up writes to DynamoDB and SQS for every record (releases, settles, waits, dead letters): it
# keeps this share of the invocation, so that a slow dependency delays it rather than timing the batch out.
BATCH_WRAP_UP_SHARE = 0.3
# Claiming a batch's records may take this share of its vendor-work time, and holding their objects a quarter of
# what is left then (about as long again), so that against a slow table the releases and settles, which take
# about as long as the claims and holds did, still fit the wrap-up's share; records not claimed or held by then
# are retried soon.
CLAIM_SHARE = 0.2
HOLD_SHARE = 0.25


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock by which vendor work must be over."""

    at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_context(cls, context: HasRemainingTime, reserve: float = RESERVE_SECONDS) -> Deadline:
        """The invocation's deadline less ``reserve`` seconds for wrapping up."""
        return cls(time.monotonic() + context.get_remaining_time_in_millis() / 1000 - reserve)

    @classmethod
    def for_batch(cls, context: HasRemainingTime) -> Deadline:
        """The deadline of an SQS batch's vendor work: ``BATCH_WRAP_UP_SHARE`` of the time left is kept back."""
        remaining = context.get_remaining_time_in_millis() / 1000
        return cls.from_context(context, reserve=max(RESERVE_SECONDS, remaining * BATCH_WRAP_UP_SHARE))

    @classmethod
    def in_seconds(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(clock() + seconds, clock)

    def share(self, fraction: float) -> Deadline:
        """A deadline ``fraction`` of the way from now to this one (a phase that must leave time to the next)."""
        now = self.clock()
        return Deadline(now + self.remaining() * fraction, self.clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self.clock())

    def allows(self, seconds: float) -> bool:
        """Whether ``seconds`` more still end before the deadline."""
        return seconds <= self.remaining()
