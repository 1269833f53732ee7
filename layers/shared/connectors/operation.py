"""What every function's operation is given and what it answers: the attempt at a batch, a result per command."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.deadline import Deadline, HasRemainingTime
from connectors.failures import ConnectorError, deciding_failure


@dataclass(frozen=True)
class Attempt:
    """What an operation knows about the invocation that sends a batch of commands."""

    deadline: Deadline
    # Per command: SQS delivered it before, so an earlier attempt may have reached the vendor unanswered.
    redelivered: Sequence[bool]
    # Per command: its place in time (connectors.order), the producer's version or when SQS accepted it.
    versions: Sequence[Decimal]

    @classmethod
    def of_request(cls, context: HasRemainingTime, version: Decimal) -> Attempt:
        """An API request's attempt at its one command: the request's deadline, not redelivered, ``version``."""
        return cls(Deadline.from_context(context), [False], [version])


@dataclass
class CommandResult:
    """What became of one command at the vendor: the failures it met; each operation adds what the vendor answered."""

    failures: list[ConnectorError] = field(default_factory=list)

    def failure(self) -> ConnectorError | None:
        """The failure that decides the command's fate (``failures.PRECEDENCE``), or None when it was delivered."""
        return deciding_failure(self.failures)

    def vendor_ids(self) -> list[dict[str, Any]]:
        """What the vendor assigned or matched for the command, per item, as its delivery receipt names it."""
        return []
