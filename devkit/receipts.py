"""Delivery receipts as the dev kit shows them: who subscribes to them locally, and one line per receipt.

The functions publish every record's final outcome to the template's DeliveryEventBus (docs/operations.md,
"Delivery receipts"). A deployed stack leaves subscribing to producers, each with a rule of its own; a local
stack subscribes a queue of the dev kit's to every bus of the template (``devkit.aws.provision``), which
``python -m devkit.client receipts`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.receipts import RECEIPT_SOURCE, ReceiptKind

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

RECEIPT_DETAIL_TYPES = tuple(kind.value for kind in ReceiptKind)
# What a producer's rule matches to get every receipt (it may narrow it down, e.g. by detail.function).
PRODUCER_EVENT_PATTERN: dict[str, list[str]] = {"source": [RECEIPT_SOURCE], "detail-type": list(RECEIPT_DETAIL_TYPES)}

# The local stack's subscriber: this queue, and on each bus a rule of this name that targets it.
LOCAL_RECEIPTS_QUEUE = "change-order-receipts"
LOCAL_RECEIPTS_RULE = "change-order-receipts"
# Everything the functions publish, receipts of a detail type added later included.
LOCAL_EVENT_PATTERN: dict[str, list[str]] = {"source": [RECEIPT_SOURCE]}

_RECEIVE_MAX = 10
_LONG_POLL_SECONDS = 20


def receipt_line(body: str) -> str:
    """One line for a receipt as a rule's SQS target receives it (the whole EventBridge event as JSON).

    detail-type, function and key, then the vendor ids of a delivered record or the failure class of one that
    was not.
    """
    try:
        event = json.loads(body)
        detail: dict[str, Any] = event["detail"]
        outcome = (
            f"failure={detail['error']['failure']}"
            if detail.get("error")
            else f"vendor_ids={json.dumps(detail.get('vendor_ids'), separators=(',', ':'))}"
        )
        return f"{event['detail-type']}  {detail.get('function')}  key={detail.get('key')}  {outcome}"
    except (ValueError, TypeError, KeyError, AttributeError):
        # Anything may put an event with the receipts' source on the bus: show it rather than stop watching.
        return f"(not a receipt) {body}"


def watch_receipts(sqs: SQSClient, queue_url: str, show: Callable[[str], None]) -> None:
    """Show each receipt arriving on ``queue_url`` as one line, then delete it; returns only when interrupted."""
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=_RECEIVE_MAX, WaitTimeSeconds=_LONG_POLL_SECONDS
        )
        for message in answer.get("Messages", []):
            show(receipt_line(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
