"""Deliver SQS messages to a handler the way Lambda's event source mapping does, one batch at a time.

Receives with the real SQS API (so receive counts, visibility and redrive are the queue's own), builds the
event Lambda would pass, and after the handler returns deletes every record it did not report as failed.
``failed_message_ids`` is Lambda's rule for which records stay on the queue after an invocation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from devkit.local_aws import REGION

# SQS takes up to ten messages per ReceiveMessage, DeleteMessageBatch and ChangeMessageVisibilityBatch.
SQS_BATCH_LIMIT = 10
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def receive_records(
    sqs: Any, queue_url: str, queue_arn: str, max_messages: int = SQS_BATCH_LIMIT, wait_seconds: int = 0
) -> list[dict[str, Any]]:
    """Receive up to ``max_messages`` (at most ten) messages, each shaped as a record of Lambda's SQS event."""
    answer = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        WaitTimeSeconds=wait_seconds,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        }
        for message in answer.get("Messages", [])
    ]


def receive_event(
    sqs: Any, queue_url: str, queue_arn: str, batch_size: int = 10, wait_seconds: int = 0
) -> dict[str, Any]:
    """Receive up to ``batch_size`` messages and shape them as Lambda's SQS event."""
    return {"Records": receive_records(sqs, queue_url, queue_arn, batch_size, wait_seconds)}


def settle(sqs: Any, queue_url: str, event: dict[str, Any], response: dict[str, Any] | None) -> list[str]:
    """Delete the records the handler did not report in ``batchItemFailures``; return the failed ids.

    A response that is not a partial batch response fails the whole batch, as Lambda treats it.
    """
    ids = [record["messageId"] for record in event["Records"]]
    if not isinstance(response, dict) or not isinstance(response.get("batchItemFailures"), list):
        return ids
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    delete_records(sqs, queue_url, [r for r in event["Records"] if r["messageId"] not in failed])
    return [i for i in ids if i in failed]


def failed_message_ids(
    event: dict[str, Any], succeeded: bool, response: Any, function_response_types: Sequence[str]
) -> list[str]:
    """The ids of the records Lambda leaves on the queue after an invocation; it deletes the others.

    A failed invocation (error, timeout) fails every record. A successful one fails none, unless the mapping has
    ReportBatchItemFailures: then the records its ``batchItemFailures`` name fail, and a response Lambda cannot
    read as a partial batch response (an item without a known ``itemIdentifier``) fails them all.
    """
    ids = [record["messageId"] for record in event["Records"]]
    if not succeeded:
        return ids
    if REPORT_BATCH_ITEM_FAILURES not in function_response_types or response is None:
        return []
    if not isinstance(response, dict):
        return ids
    items = response.get("batchItemFailures")
    if items is None:
        return []
    if not isinstance(items, list):
        return ids
    named = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in items}
    if not named <= set(ids):
        return ids
    return [i for i in ids if i in named]


def delete_records(sqs: Any, queue_url: str, records: Sequence[dict[str, Any]]) -> None:
    """Delete ``records`` from the queue (they were handled)."""
    for start in range(0, len(records), SQS_BATCH_LIMIT):
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                for i, r in enumerate(records[start : start + SQS_BATCH_LIMIT])
            ],
        )


def release_records(sqs: Any, queue_url: str, records: Sequence[dict[str, Any]]) -> None:
    """Make ``records`` visible again now (received, but not handed to the function)."""
    for start in range(0, len(records), SQS_BATCH_LIMIT):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                for i, r in enumerate(records[start : start + SQS_BATCH_LIMIT])
            ],
        )


def deliver_once(
    sqs: Any, queue_url: str, queue_arn: str, handler: Callable[[dict[str, Any]], Any], batch_size: int = 10
) -> tuple[dict[str, Any], list[str]]:
    """Receive one batch, hand it to ``handler``, settle it; return the event and the failed message ids."""
    event = receive_event(sqs, queue_url, queue_arn, batch_size)
    if not event["Records"]:
        return event, []
    return event, settle(sqs, queue_url, event, handler(event))
