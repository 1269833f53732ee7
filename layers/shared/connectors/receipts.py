"""Delivery receipts: every record's final outcome, put on the template's ``DeliveryEventBus``.

A receipt says what became of one record (a queued message or an API request): delivered, with the ids the
vendor assigned or matched; dead-lettered, with the reason; or refused (an API request answered with a 4xx). It
carries the shared error model and never a secret or a whole body (docs/operations.md, "Delivery receipts").

Receipts are published after the outcome is settled, so publishing never delays or fails a delivery: PutEvents
takes 10 entries and 256 KB a request; the entries EventBridge did not take are put again a few times, and what
is still not taken is handed back for the caller to keep (the adapters put it on the function's own queue, whose
next invocation publishes it: ``RECEIPT_ATTRIBUTE``), so that no receipt is lost while the bus is unavailable.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from connectors.models.exact_json import loads_exact
from connectors.observability import aws_error_name, logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

RECEIPT_SOURCE = "change-order-connectors"
# A queued message that is a receipt waiting to be published, not a change order (its body is the receipt).
RECEIPT_ATTRIBUTE = "Change-Order-Receipt"
# PutEvents' limits: entries per request, and bytes per request counted as EventBridge counts them.
ENTRIES_PER_PUT = 10
BYTES_PER_PUT = 256 * 1024
# An entry's time counts 14 bytes whether given or not.
_TIME_BYTES = 14
# PutEvents calls in flight at once.
PARALLEL_PUTS = 8
# Rounds of putting again what EventBridge did not take (throttling, an internal failure), with backoff.
PUT_ROUNDS = 3
_PUT_BACKOFF_SECONDS = 0.1
# A receipt for a request of many items lists each item's ids; past this many the list is cut short, and says so.
VENDOR_IDS_LIMIT = 1000


class ReceiptKind(StrEnum):
    """A receipt's ``DetailType``."""

    DELIVERED = "Change order delivered"
    DEAD_LETTERED = "Change order dead-lettered"
    REFUSED = "Change order refused"


@dataclass(frozen=True)
class Receipt:
    """One record's final outcome, as its ``Detail`` says it.

    ``key`` is the producer's Idempotency-Key, else the message id or the webhook-id; ``vendor_ids`` what the
    vendor assigned or matched, per item (Procore ``id`` + ``origin_id``, Primavera Cloud ``sovId``,
    ConstructionOnline ``ID``); ``error`` the shared error model's ``error`` member: None when delivered, except for the
    items a vendor refused inside a delivered request's reply (Procore's 200 with item ``errors``).
    """

    kind: ReceiptKind
    function: str
    vendor: str
    connection: str
    trigger: str
    key: str
    vendor_ids: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    attempts: int = 1
    at: str = field(default_factory=lambda: now_iso())
    # Set on a receipt that only says the change order's edits were superseded by newer ones (nothing was sent).
    superseded: bool = False
    # The receipt's own id, the same on every copy: a PutEvents retried after a timeout (ours or the SDK's) can
    # put it twice, and EventBridge delivers at least once, so subscribers drop a receipt id they have seen.
    receipt_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def detail(self) -> dict[str, Any]:
        """The event's ``Detail``: every field but the kind, which is its ``DetailType``."""
        detail = asdict(self)
        del detail["kind"]
        if len(self.vendor_ids) > VENDOR_IDS_LIMIT:
            detail["vendor_ids"] = self.vendor_ids[:VENDOR_IDS_LIMIT]
            detail["vendor_ids_truncated"] = True
        return detail

    def to_json(self) -> str:
        """The receipt as JSON, to be kept on a queue until it is published."""
        return json.dumps({"kind": self.kind.value, **self.detail()}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Receipt:
        """A receipt kept by ``to_json``; ValueError when ``text`` is not one."""
        try:
            # Bounded: anyone who may send to the queue can mark a message as a kept receipt.
            data = loads_exact(text)
            data.pop("vendor_ids_truncated", None)
            return cls(**{**data, "kind": ReceiptKind(data["kind"])})
        except (TypeError, KeyError, AttributeError) as error:
            raise ValueError(f"not a kept receipt: {type(error).__name__}") from None


def now_iso() -> str:
    """The time now in ISO 8601, UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry(receipt: Receipt, bus: str) -> PutEventsRequestEntryTypeDef:
    """The PutEvents entry for ``receipt`` on ``bus``."""
    return {
        "Source": RECEIPT_SOURCE,
        "DetailType": receipt.kind.value,
        "Detail": json.dumps(receipt.detail(), separators=(",", ":")),
        "EventBusName": bus,
    }


def entry_size(item: PutEventsRequestEntryTypeDef) -> int:
    """An entry's size as PutEvents counts it against its 256 KB."""
    parts = (item.get("Source", ""), item.get("DetailType", ""), item.get("Detail", ""))
    return _TIME_BYTES + sum(len(part.encode()) for part in parts)


def put_batches(entries: Sequence[PutEventsRequestEntryTypeDef]) -> Iterator[list[int]]:
    """The indexes of ``entries`` grouped into PutEvents requests: at most 10 entries and 256 KB each."""
    batch: list[int] = []
    size = 0
    for index, item in enumerate(entries):
        item_size = entry_size(item)
        if batch and (len(batch) == ENTRIES_PER_PUT or size + item_size > BYTES_PER_PUT):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += item_size
    if batch:
        yield batch


class ReceiptPublisher:
    """Puts receipts on the delivery bus; never raises, and hands back the receipts it could not put.

    Without a bus (unit tests, a stack without receipts) it publishes nothing and keeps nothing.
    """

    def __init__(
        self,
        events: Callable[[], EventBridgeClient],
        bus: str | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._events = events
        self.bus = bus
        self._sleep = sleep

    def publish(self, receipts: Sequence[Receipt]) -> list[Receipt]:
        """Put ``receipts`` on the bus; return those still not taken after ``PUT_ROUNDS`` rounds."""
        if self.bus is None or not receipts:
            return []
        bus = self.bus
        pending = list(receipts)
        for round_ in range(PUT_ROUNDS):
            if round_:
                self._sleep(_PUT_BACKOFF_SECONDS * 2 ** (round_ - 1))
            pending, error = self._put(pending, bus)
            if not pending:
                return []
        logger.warning(
            "Delivery receipts not published: they are kept to be published again",
            extra={"delivery_event_bus": bus, "receipts": len(pending), "error": error},
        )
        return pending

    def _put(self, receipts: list[Receipt], bus: str) -> tuple[list[Receipt], str | None]:
        """One round: every batch put once, a few at a time; the receipts the bus did not take, and the last reason.

        Side by side: a batch of a thousand records has a hundred PutEvents to make, which one after another took
        seconds of the invocation's wrap-up against a loaded emulator.
        """
        entries = [entry(receipt, bus) for receipt in receipts]
        batches = list(put_batches(entries))
        with ThreadPoolExecutor(max_workers=min(PARALLEL_PUTS, len(batches))) as pool:
            answers = list(pool.map(lambda batch: self._put_batch([entries[index] for index in batch]), batches))
        left: list[Receipt] = []
        reason: str | None = None
        for batch, (taken, why) in zip(batches, answers, strict=True):
            left += [receipts[index] for index, ok in zip(batch, taken, strict=True) if not ok]
            reason = why or reason
        return left, reason

    def _put_batch(self, batch: list[PutEventsRequestEntryTypeDef]) -> tuple[list[bool], str | None]:
        """Whether the bus took each entry of one PutEvents, and why not (the last reason given)."""
        try:
            answer = self._events().put_events(Entries=batch)
        except (BotoCoreError, ClientError) as error:
            return [False] * len(batch), aws_error_name(error)
        results = answer.get("Entries", [])
        # An answer with fewer entries than were sent leaves the rest unaccounted for: they are put again.
        taken = [
            index < len(results) and "EventId" in results[index] and "ErrorCode" not in results[index]
            for index in range(len(batch))
        ]
        reasons = [
            str(result.get("ErrorCode", "no event id")) for result, ok in zip(results, taken, strict=False) if not ok
        ]
        return taken, (reasons[-1] if reasons else None if all(taken) else "unanswered")
