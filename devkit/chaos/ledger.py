"""The chaos ledger: what became of every record, counted from the vendor's side and the dead-letter queue; and
the versioned objects whose stored state is not the newest edit of every property."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from connectors.receipts import ReceiptKind
from devkit.chaos.records import ChaosRecord

_ABSENT = "<absent>"
DELIVERED_RECEIPT = ReceiptKind.DELIVERED.value
DEAD_LETTERED_RECEIPT = ReceiptKind.DEAD_LETTERED.value


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
    or not; ``errors``: the function's failed invocations (Lambda's ``Errors``); ``stale``: versioned objects
    whose stored state is not the newest edit of every property, None for a function with no ordered objects.
    """

    function: str
    sent: int
    delivered: int
    dead_lettered: int
    lost: int
    duplicated: int
    valid_dead_lettered: int
    errors: int
    stale: int | None = None
    receipts: int | None = None
    """Records with a final delivery receipt; None when receipts were not counted."""
    receipts_wrong: int = 0
    """Records whose final receipts are not what the vendor and the DLQ say (see ``count_ledger``)."""
    wrong_receipts: tuple[str, ...] = ()
    """Each of those records: its token, the receipts it got and the ones expected."""

    def line(self) -> str:
        """The ledger line ``make chaos`` prints (the first five counts keep their order for older readers)."""
        return (
            f"ledger {self.function}: sent={self.sent} delivered={self.delivered} "
            f"dead_lettered={self.dead_lettered} lost={self.lost} duplicated={self.duplicated} "
            f"valid_dead_lettered={self.valid_dead_lettered} errors={self.errors}"
            + (f" stale={self.stale}" if self.stale is not None else "")
            + (f" receipts={self.receipts} receipts_wrong={self.receipts_wrong}" if self.receipts is not None else "")
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
            "stale": self.stale or 0,
            "receipts_wrong": self.receipts_wrong,
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
    versioned: Iterable[str] = (),
    errors: int = 0,
    stale: int | None = None,
    receipts: Mapping[str, Sequence[str]] | None = None,
) -> Ledger:
    """Count the ledger of one function.

    ``sent``: the token of every record put on the queue (each once, however many copies were sent);
    ``stored``: the token of every object the vendor holds (repeated when it holds a record twice);
    ``dead_lettered``: the tokens found in the dead-letter queue; ``sends``: the vendor's request log in order;
    ``invalid``: the tokens of the records made invalid on purpose (the only ones the dead-letter queue may hold);
    ``versioned``: the tokens of the versioned records among ``sent``; ``errors``: the function's failed
    invocations; ``stale``: the versioned objects found stale (see ``find_stale``).
    A record is duplicated when the vendor holds it more than once, or when it was sent again after the
    vendor had answered a request carrying it cleanly.

    A versioned record may rightly never reach the vendor (superseded) or be overwritten there, so its token says
    nothing: one not in the dead-letter queue counts as delivered (delivered or superseded; ``stale`` checks what
    its object holds), one in it as dead-lettered, and it is never counted lost or duplicated.

    ``receipts``: per token, the detail types of the final delivery receipts published for it. Every record sent
    must have exactly one ``Change order delivered`` when it counts as delivered, and one ``Change order
    dead-lettered`` per copy of it in the dead-letter queue: two copies of a record are two dead letters, each
    with its reason and each redriven on its own (the ledger cannot mark a dead-lettered key done, or a redrive
    would be dropped), so each has its receipt.
    """
    wanted = set(sent)
    ordered = set(versioned) & wanted
    plain = wanted - ordered
    held = Counter(token for token in stored if token in plain)
    in_dead_letter_queue = set(dead_lettered) & wanted
    delivered = set(held) | (ordered - in_dead_letter_queue)
    dead = in_dead_letter_queue - delivered
    resent: set[str] = set()
    answered: set[str] = set()
    for send in sends:
        resent.update(token for token in send.tokens if token in answered)
        if send.answered_ok:
            answered.update(send.tokens)
    duplicated = {token for token, count in held.items() if count > 1} | (resent & plain)
    receipted: int | None = None
    wrong: list[str] = []
    if receipts is not None:
        receipted = sum(1 for token in wanted if receipts.get(token))
        copies = Counter(token for token in dead_lettered if token in in_dead_letter_queue)
        for token in sorted(wanted):
            expected = ([DELIVERED_RECEIPT] if token in delivered else []) + [DEAD_LETTERED_RECEIPT] * copies[token]
            if sorted(receipts.get(token, ())) != sorted(expected):
                wrong.append(f"{token}: {list(receipts.get(token, ()))} (expected {expected})")
    return Ledger(
        function=function,
        sent=len(wanted),
        delivered=len(delivered),
        dead_lettered=len(dead),
        lost=len(plain - delivered - dead),
        duplicated=len(duplicated),
        valid_dead_lettered=len(in_dead_letter_queue - set(invalid)),
        errors=errors,
        stale=stale,
        receipts=receipted,
        receipts_wrong=len(wrong),
        wrong_receipts=tuple(wrong),
    )


@dataclass(frozen=True)
class Newest:
    """The value an object should hold for one property: the newest edit's that set it, and that edit's token."""

    value: object
    token: str


@dataclass(frozen=True)
class StaleObject:
    """A versioned object whose stored state differs from the newest edits: per differing property, what it
    should hold and what it holds (``held`` is None when the vendor does not hold the object at all)."""

    key: str
    expected: Mapping[str, Newest]
    held: Mapping[str, object] | None

    def describe(self) -> str:
        """``6000012: NOTES held 'a', expected 'b' (from co-...-v12-3); ...`` for the run's output."""
        if self.held is None:
            return f"{self.key}: not held by the vendor"
        return f"{self.key}: " + "; ".join(
            f"{name} held {self.held.get(name, _ABSENT)!r}, expected {newest.value!r} (from {newest.token})"
            for name, newest in self.expected.items()
        )


def newest_values(records: Iterable[ChaosRecord]) -> dict[str, dict[str, Newest]]:
    """Per versioned object, per property any of its edits set, the newest such edit's value (as stored).

    An object's edits are versioned in the order they were queued (``Version.position``), whether by the
    producer's ``Change-Order-Version`` or by SentTimestamp.
    """
    newest: dict[str, dict[str, tuple[int, Newest]]] = {}
    for record in records:
        version = record.version
        if version is None:
            continue
        properties = newest.setdefault(version.object_key, {})
        for name, value in version.stored.items():
            if name not in properties or properties[name][0] < version.position:
                properties[name] = (version.position, Newest(value, record.token))
    return {key: {name: found for name, (_, found) in properties.items()} for key, properties in newest.items()}


def find_stale(
    expected: Mapping[str, Mapping[str, Newest]], held: Mapping[str, Mapping[str, object]]
) -> list[StaleObject]:
    """The objects of ``expected`` whose ``held`` state (the vendor's, by object key) differs in some property;
    properties no edit set are not compared."""
    stale = []
    for key, properties in expected.items():
        state = held.get(key)
        if state is None:
            stale.append(StaleObject(key, properties, None))
            continue
        differing = {
            name: newest
            for name, newest in properties.items()
            if name not in state or not _same(state[name], newest.value)
        }
        if differing:
            stale.append(StaleObject(key, differing, {name: state.get(name, _ABSENT) for name in differing}))
    return stale


def _same(held: object, expected: object) -> bool:
    # Exactly as stored: 1 (CONDITION) and "1" differ, and so do True and 1.
    return type(held) is type(expected) and held == expected
