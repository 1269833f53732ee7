"""The receipts of an SQS batch: one per record whose outcome is final, published once the batch is settled.

A record delivered now, superseded, or moved to the dead-letter queue gets its receipt; one retried or waiting
gets none yet; one delivered before (a duplicate) got its receipt then. Receipts the bus does not take are kept on
the function's own queue as messages marked ``RECEIPT_ATTRIBUTE``, which a later batch publishes instead of
delivering (``republish_kept``), so that none is lost while the bus is unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from connectors.adapters.sqs_records import attribute, origin_message_id
from connectors.adapters.sqs_settings import QueueClient
from connectors.failures import ConnectorError
from connectors.idempotency import IDEMPOTENCY_KEY_ATTRIBUTE
from connectors.models.common import DEFAULT_CONNECTION
from connectors.models.errors import ErrorResponse
from connectors.models.exact_json import loads_exact
from connectors.observability import aws_error_name, logger, metrics
from connectors.order import Delivered, Outcome, Superseded
from connectors.receipts import RECEIPT_ATTRIBUTE, Receipt, ReceiptKind, ReceiptPublisher

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailures

# SendMessageBatch takes ten entries.
_KEEP_BATCH = 10


@dataclass(frozen=True)
class QueueReceipts:
    """Where an SQS batch's receipts go, and the function and vendor they name."""

    publisher: ReceiptPublisher
    function: str
    vendor: str

    def of(self, record: SQSRecord, outcome: Outcome, connection: str, *, moved: bool = False) -> Receipt | None:
        """The receipt for ``record``'s final ``outcome``; None while it is not final or was receipted before.

        A failure is final only once the record is ``moved`` to the dead-letter queue.
        """
        if isinstance(outcome, ConnectorError):
            if not moved:
                return None
            error = ErrorResponse.of(outcome).error.model_dump(exclude_none=True)
            return self._receipt(ReceiptKind.DEAD_LETTERED, record, connection, error=error)
        if isinstance(outcome, Delivered):
            return (
                None if outcome.before else self._receipt(ReceiptKind.DELIVERED, record, connection, outcome.vendor_ids)
            )
        return self._receipt(ReceiptKind.DELIVERED, record, connection, superseded=isinstance(outcome, Superseded))

    def send(self, receipts: list[Receipt], sqs: QueueClient | None, queue_url: str | None) -> None:
        """Publish ``receipts``; keep on ``queue_url`` those the bus did not take. Never raises."""
        left = self.publisher.publish(receipts)
        metrics.add_metric(name="ReceiptsPublished", unit="Count", value=len(receipts) - len(left))
        if left:
            keep(left, sqs, queue_url)

    def republish_kept(self, records: list[SQSRecord]) -> list[PartialItemFailures]:
        """Publish the receipts kept on the queue; the records whose receipt is still not taken stay there."""
        kept: list[tuple[SQSRecord, Receipt]] = []
        for record in records:
            try:
                kept.append((record, Receipt.from_json(record.body)))
            except ValueError:
                # Not a receipt this code wrote: nothing to publish and nothing to deliver.
                logger.error("a message marked as a kept receipt is not one", extra={"message_id": record.message_id})
        left = self.publisher.publish([receipt for _, receipt in kept])
        return [{"itemIdentifier": record.message_id} for record, receipt in kept if receipt in left]

    def _receipt(
        self,
        kind: ReceiptKind,
        record: SQSRecord,
        connection: str,
        vendor_ids: list[dict[str, Any]] | None = None,
        *,
        error: dict[str, Any] | None = None,
        superseded: bool = False,
    ) -> Receipt:
        return Receipt(
            kind=kind,
            function=self.function,
            vendor=self.vendor,
            connection=connection,
            trigger="sqs",
            key=receipt_key(record),
            vendor_ids=vendor_ids or [],
            error=error,
            attempts=int(record.attributes.approximate_receive_count or 1),
            superseded=superseded,
        )


def receipt_key(record: SQSRecord) -> str:
    """The record's key in its receipt: the producer's ``Idempotency-Key``, else the id it was first queued as."""
    return attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE) or origin_message_id(record)


def connection_of(body: str) -> str:
    """The connection a record's body names, read without the command model (for records it refused)."""
    try:
        # Bounded, as every body is read: a refused body may be hostile (nested past the recursion limit, say).
        named = loads_exact(body).get("connection")
    except (ValueError, AttributeError):
        return DEFAULT_CONNECTION
    return named if isinstance(named, str) else DEFAULT_CONNECTION


def keep(receipts: list[Receipt], sqs: QueueClient | None, queue_url: str | None) -> None:
    """Put ``receipts`` on ``queue_url`` to be published by a later batch; what cannot be kept is logged, whole."""
    marked = {RECEIPT_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}}
    for start in range(0, len(receipts), _KEEP_BATCH):
        chunk = receipts[start : start + _KEEP_BATCH]
        entries = [
            {"Id": str(index), "MessageBody": receipt.to_json(), "MessageAttributes": marked}
            for index, receipt in enumerate(chunk)
        ]
        failed: list[Receipt] = chunk
        if sqs is not None and queue_url is not None:
            try:
                answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
                failed = [chunk[int(entry["Id"])] for entry in answer.get("Failed", [])]
            except Exception as error:
                logger.warning("could not keep receipts on the queue", extra={"error": aws_error_name(error)})
        for receipt in failed:
            # The last place it can go: the log, which has no secret in it (a receipt carries none).
            metrics.add_metric(name="ReceiptsLost", unit="Count", value=1)
            logger.error("a delivery receipt could be neither published nor kept", extra={"receipt": receipt.to_json()})
