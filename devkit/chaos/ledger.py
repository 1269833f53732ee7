"""The chaos ledger: what became of every record, counted from the vendor's side and the dead-letter queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class VendorSend:
    """One request the sandbox received: the records it carried and whether it was answered with a clean 2xx.

    A clean answer (no injected fault) is one the client got: sending its records again is a duplicate.
    """

    tokens: tuple[str, ...]
    answered_ok: bool


@dataclass(frozen=True)
class Ledger:
    """Per function: records sent, delivered, dead-lettered (and not delivered), lost, duplicated.

    ``valid_dead_lettered``: valid records (not made invalid on purpose) found in the dead-letter queue, delivered
    or not; ``errors``: the function's failed invocations (Lambda's ``Errors``).
    """

    function: str
    sent: int
    delivered: int
    dead_lettered: int
    lost: int
    duplicated: int
    valid_dead_lettered: int
    errors: int

    def line(self) -> str:
        """The ledger line ``make chaos`` prints (the first five counts keep their order for older readers)."""
        return (
            f"ledger {self.function}: sent={self.sent} delivered={self.delivered} "
            f"dead_lettered={self.dead_lettered} lost={self.lost} duplicated={self.duplicated} "
            f"valid_dead_lettered={self.valid_dead_lettered} errors={self.errors}"
        )

    @property
    def balanced(self) -> bool:
        """Nothing lost and nothing duplicated."""
        return self.lost == 0 and self.duplicated == 0

    def problems(self) -> list[str]:
        """The counts that fail the run (``lost=2``, ``errors=1``, ...); empty when this function passed."""
        counts = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "valid_dead_lettered": self.valid_dead_lettered,
            "errors": self.errors,
        }
        return [f"{name}={count}" for name, count in counts.items() if count]


def count_ledger(
    function: str,
    sent: Sequence[str],
    stored: Iterable[str],
    dead_lettered: Iterable[str],
    sends: Iterable[VendorSend],
    *,
    invalid: Iterable[str] = (),
    errors: int = 0,
) -> Ledger:
    """Count the ledger of one function.

    ``sent``: the token of every record put on the queue (each once, however many copies were sent);
    ``stored``: the token of every object the vendor holds (repeated when it holds a record twice);
    ``dead_lettered``: the tokens found in the dead-letter queue; ``sends``: the vendor's request log in order;
    ``invalid``: the tokens of the records made invalid on purpose (the only ones the dead-letter queue may hold);
    ``errors``: the function's failed invocations.
    A record is duplicated when the vendor holds it more than once, or when it was sent again after the
    vendor had answered a request carrying it cleanly.
    """
    wanted = set(sent)
    held = Counter(token for token in stored if token in wanted)
    delivered = set(held)
    in_dead_letter_queue = set(dead_lettered) & wanted
    dead = in_dead_letter_queue - delivered
    resent: set[str] = set()
    answered: set[str] = set()
    for send in sends:
        resent.update(token for token in send.tokens if token in answered)
        if send.answered_ok:
            answered.update(send.tokens)
    duplicated = {token for token, count in held.items() if count > 1} | (resent & wanted)
    return Ledger(
        function=function,
        sent=len(wanted),
        delivered=len(delivered),
        dead_lettered=len(dead),
        lost=len(wanted - delivered - dead),
        duplicated=len(duplicated),
        valid_dead_lettered=len(in_dead_letter_queue - set(invalid)),
        errors=errors,
    )
