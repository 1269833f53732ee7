"""Lambda's ``Errors`` metric for a chaos run: the SQS invocations that failed, read from the runtime's delivery log.

The local runtime writes one line per SQS invocation (``devkit.local_runtime.deliveries``):
``HH:MM:SS.mmm sqs <Function> <queue>: N records -> D delivered, F failed in T ms`` followed by `` (<notes>)``
when there are notes: ``cold start`` first, then ``<errorType>: <errorMessage>`` when the invocation failed
(the handler raised, timed out, or its runtime exited), which is what Lambda counts as an error. A failure the
function reports for some records (partial batch response) is a successful invocation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

_SQS_LINE: Final = re.compile(
    r"^\S+ sqs (?P<function>\S+) \S+: \d+ records? -> \d+ delivered, \d+ failed in \d+ ms(?: \((?P<notes>.*?)\)?)?$"
)
_COLD_START: Final = "cold start"


@dataclass
class InvocationTally:
    """One function's SQS invocations, and its failed ones counted by Lambda error type."""

    invocations: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def error_count(self) -> int:
        """How many invocations failed (Lambda's ``Errors``)."""
        return sum(self.errors.values())


def tally_invocations(lines: Iterable[str]) -> dict[str, InvocationTally]:
    """Count each function's SQS invocations and failures among the runtime's delivery lines."""
    tallies: dict[str, InvocationTally] = {}
    for line in lines:
        if (match := _SQS_LINE.match(line)) is None:
            continue  # another kind of line (API, start-up, polling trouble) or a multi-line error's continuation
        tally = tallies.setdefault(match["function"], InvocationTally())
        tally.invocations += 1
        notes = match["notes"] or ""
        if notes == _COLD_START:
            continue
        error = notes.removeprefix(f"{_COLD_START}; ")
        if error:
            tally.errors[error.split(":", 1)[0]] += 1
    return tallies
