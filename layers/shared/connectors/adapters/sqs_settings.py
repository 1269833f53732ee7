"""What the SQS adapter answers to: the queue client, where records come from and go, the retry budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.failures import ConnectorError, FailureClass


class QueueClient(Protocol):
    """The SQS calls the adapter makes (boto3's SQS client has them)."""

    def send_message_batch(self, *, QueueUrl: str, Entries: Sequence[Any]) -> Any: ...

    def send_message(
        self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int, MessageAttributes: Mapping[str, Any]
    ) -> Any: ...

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class RetryBudget:
    """How long a record that keeps failing transiently is retried, and how far apart the attempts are.

    A record is retried until the time since SQS first accepted it, plus the next wait, would pass ``seconds``;
    the queue's ``max_receive_count`` stays the backstop of its redrive policy.
    """

    seconds: float = 7200.0
    backoff_base: float = 10.0
    backoff_cap: float = 900.0

    def wait(self, failure: ConnectorError, receive_count: int, jitter: Callable[[], float]) -> float:
        """Seconds to keep the record invisible before its next attempt."""
        if failure.failure is FailureClass.RATE_LIMITED and failure.retry_after is not None:
            return failure.retry_after + 1
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** min(receive_count - 1, 32))
        return max(failure.retry_after or 0.0, ceiling * (0.5 + jitter() / 2))


@dataclass(frozen=True)
class QueueSettings:
    """Where the records came from, where dead letters go, and how long a failing record is retried."""

    function: str
    queue_url: str | None
    dead_letter_queue_url: str | None
    max_receive_count: int
    retry: RetryBudget = RetryBudget()
