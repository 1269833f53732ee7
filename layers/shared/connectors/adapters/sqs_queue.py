"""What the SQS adapter writes back to the queues: waits, requeued copies and dead letters with their reasons."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from connectors.adapters.sqs_records import (
    ATTRIBUTE_LIMIT,
    NOT_BEFORE_ATTRIBUTE,
    REQUEUED_FROM_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
    attribute,
    carried,
)
from connectors.adapters.sqs_settings import QueueClient, QueueSettings
from connectors.failures import ConnectorError
from connectors.observability import aws_error_name, count_by, logger, metrics
from connectors.redact import redact

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailures

# SQS allows a message to stay invisible for 12 hours at most.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
# SendMessage can delay a message by 15 minutes at most.
MAX_DELAY_SECONDS = 900
# SendMessageBatch takes ten entries of at most 1 MiB together (bodies and attributes alike).
_BATCH_ENTRIES = 10
_BATCH_BYTES = 1024 * 1024


def make_invisible(delays: list[tuple[SQSRecord, float]], sqs: QueueClient, settings: QueueSettings) -> None:
    """Keep each record invisible for its wait: ten to a ChangeMessageVisibilityBatch, a few batches at once.

    One call per record took a batch of hundreds past the function's timeout against a slow queue.
    """
    if settings.queue_url is None or not delays:
        return
    queue_url = settings.queue_url
    entries = [
        {
            "Id": str(index),
            "ReceiptHandle": record.receipt_handle,
            "VisibilityTimeout": int(min(MAX_VISIBILITY_SECONDS, max(1, round(seconds)))),
        }
        for index, (record, seconds) in enumerate(delays)
    ]

    def change(chunk: list[dict[str, Any]]) -> None:
        try:
            answer = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=chunk)
            failed = len(answer.get("Failed", [])) if isinstance(answer, Mapping) else 0
        except Exception as error:
            failed = len(chunk)
            logger.warning("could not delay records", extra={"records": failed, "error": aws_error_name(error)})
        if failed:  # those come back after the queue's own visibility timeout instead
            logger.warning("some records could not be delayed", extra={"records": failed})

    chunks = [entries[start : start + _BATCH_ENTRIES] for start in range(0, len(entries), _BATCH_ENTRIES)]
    with ThreadPoolExecutor(max_workers=min(4, len(chunks))) as pool:
        list(pool.map(change, chunks))


def requeue_after_window(
    record: SQSRecord, failure: ConnectorError, sqs: QueueClient, settings: QueueSettings, clock: Callable[[], float]
) -> float | None:
    """Put a fresh copy of ``record`` on its queue, due when the rate-limit window ends; when it is due (epoch
    seconds), or None when it could not be put."""
    if settings.queue_url is None:
        return None
    wait = (failure.retry_after or settings.retry.backoff_base) + 1
    due = clock() + wait
    origin = attribute(record, REQUEUED_FROM_ATTRIBUTE)
    attributes = {
        **carried(record),
        NOT_BEFORE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(round(due))},
        REQUEUED_FROM_ATTRIBUTE: {
            "DataType": "String",
            "StringValue": origin or record.message_id,
        },
    }
    try:
        sqs.send_message(
            QueueUrl=settings.queue_url,
            MessageBody=record.body,
            DelaySeconds=int(min(MAX_DELAY_SECONDS, wait)),
            MessageAttributes=attributes,
        )
    except Exception:
        logger.exception("could not requeue a rate-limited record", extra={"message_id": record.message_id})
        return None
    metrics.add_metric(name="RecordsRequeuedForRateLimit", unit="Count", value=1)
    return due


def dead_letter(
    dead: list[tuple[SQSRecord, ConnectorError]], sqs: QueueClient, settings: QueueSettings
) -> list[PartialItemFailures]:
    """Send ``dead`` to the DLQ; return those that could not be sent, so SQS keeps them."""
    if not dead:
        return []
    if settings.dead_letter_queue_url is None:
        logger.error("DEAD_LETTER_QUEUE_URL is not set: permanent failures stay on the queue")
        return [{"itemIdentifier": record.message_id} for record, _ in dead]
    kept: list[PartialItemFailures] = []
    moved: Counter[str] = Counter()
    for chunk in _batches(
        [(record, _reason_attributes(record, failure, settings.function)) for record, failure in dead]
    ):
        entries = [
            {"Id": str(index), "MessageBody": record.body, "MessageAttributes": attributes}
            for index, (record, attributes) in enumerate(chunk)
        ]
        try:
            answer = sqs.send_message_batch(QueueUrl=settings.dead_letter_queue_url, Entries=entries)
            failed_ids = {int(entry["Id"]) for entry in answer.get("Failed", [])}
        except Exception as error:
            logger.warning(
                "could not dead-letter records", extra={"records": len(chunk), "error": aws_error_name(error)}
            )
            failed_ids = set(range(len(chunk)))
        for index, (record, attributes) in enumerate(chunk):
            if index in failed_ids:
                kept.append({"itemIdentifier": record.message_id})
            else:
                moved[attributes["error_class"]["StringValue"]] += 1
    count_by("RecordsDeadLettered", "failure", moved)
    return kept


def _batches(
    letters: list[tuple[SQSRecord, dict[str, Any]]],
) -> list[list[tuple[SQSRecord, dict[str, Any]]]]:
    """``letters`` in SendMessageBatch-sized groups, in order; one too big for any batch is sent alone (and fails)."""
    batches: list[list[tuple[SQSRecord, dict[str, Any]]]] = []
    size = 0
    for letter in letters:
        record, attributes = letter
        length = len(record.body.encode(errors="surrogatepass")) + sum(
            len(name) + len(value["DataType"]) + len(value["StringValue"].encode())
            for name, value in attributes.items()
        )
        if not batches or len(batches[-1]) == _BATCH_ENTRIES or size + length > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(letter)
        size += length
    return batches


def _reason_attributes(record: SQSRecord, failure: ConnectorError, function: str) -> dict[str, Any]:
    values = {
        "error_class": failure.failure.value,
        "error_message": redact(failure.message)[:ATTRIBUTE_LIMIT],
        "function": function,
        SOURCE_MESSAGE_ID_ATTRIBUTE: record.message_id,
        "receive_count": str(record.attributes.approximate_receive_count or "1"),
    }
    if failure.vendor_status is not None:
        values["vendor_status"] = str(failure.vendor_status)
    if failure.problems:
        values["problems"] = redact(json.dumps([p.__dict__ for p in failure.problems]))[:ATTRIBUTE_LIMIT]
    reasons = {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}
    return {**carried(record), **reasons}
