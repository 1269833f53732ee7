"""What an SQS record carries besides its body: its key, its version, its history, and what a copy keeps of it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from connectors.failures import FieldProblem, invalid_input
from connectors.idempotency import IDEMPOTENCY_KEY_ATTRIBUTE
from connectors.order import VERSION_ATTRIBUTE, parse_version, version_from_epoch_ms
from connectors.redact import redact

NOT_BEFORE_ATTRIBUTE = "not_before"
REQUEUED_FROM_ATTRIBUTE = "requeued_from"
SOURCE_MESSAGE_ID_ATTRIBUTE = "source_message_id"
ATTRIBUTE_LIMIT = 1000
"""Characters of a message attribute's value the adapter writes at most."""


def attribute(record: SQSRecord, name: str) -> str | None:
    """The string value of the record's message attribute ``name``, None when it has none."""
    # Not .get(): SQSMessageAttributes.get is dict's and returns the raw dict, not the attribute.
    value = record.message_attributes[name] if name in record.message_attributes else None  # noqa: SIM401
    return value.string_value if value is not None else None


def idempotency_key(record: SQSRecord) -> str:
    """The producer's ``Idempotency-Key`` attribute, else the id of the message the record was first queued as.

    A copy the adapter put back after a rate limit names its original (``requeued_from``); a dead letter moved
    back to the queue names the message that was dead-lettered (``source_message_id``), so two copies of one
    redriven record are still one record.
    """
    producer_key = attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE)
    if producer_key:
        return f"key:{producer_key}"
    return f"message:{origin_message_id(record)}"


def origin_message_id(record: SQSRecord) -> str:
    """The id of the message the record was first queued as (before any requeued copy or redrive)."""
    return (
        attribute(record, REQUEUED_FROM_ATTRIBUTE)
        or attribute(record, SOURCE_MESSAGE_ID_ATTRIBUTE)
        or record.message_id
    )


def record_version(record: SQSRecord, clock: Callable[[], float] = time.time) -> Decimal:
    """The record's version: the producer's ``Change-Order-Version`` (kept on copies), else when SQS accepted it.

    A version that cannot be read is the record's invalid input, naming the attribute.
    """
    given = attribute(record, VERSION_ATTRIBUTE)
    if given is not None:
        try:
            return parse_version(given)
        except ValueError as error:
            problem = FieldProblem(f"messageAttributes.{VERSION_ATTRIBUTE}", str(error))
            raise invalid_input(f"message attribute {VERSION_ATTRIBUTE} {error}", [problem]) from None
    sent = record.attributes.get("SentTimestamp")
    return version_from_epoch_ms(sent) if sent and str(sent).isdigit() else Decimal(str(clock()))


def carried(record: SQSRecord) -> dict[str, Any]:
    """What a requeued copy and a dead letter carry of the original: the producer's key and the record's version.

    A redriven dead letter thereby keeps both: it is the same record, at the same place in time.
    """
    kept = {}
    key = attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE)
    if key:
        kept[IDEMPOTENCY_KEY_ATTRIBUTE] = {"DataType": "String", "StringValue": key}
    given = attribute(record, VERSION_ATTRIBUTE)
    sent = record.attributes.get("SentTimestamp")
    version = (
        given if given is not None else (str(version_from_epoch_ms(sent)) if sent and str(sent).isdigit() else None)
    )
    if version is not None:
        kept[VERSION_ATTRIBUTE] = {"DataType": "String", "StringValue": redact(version)[:ATTRIBUTE_LIMIT]}
    return kept


def may_have_reached_the_vendor(record: SQSRecord) -> bool:
    """Whether, as far as SQS can tell, an earlier attempt at the record may have reached the vendor unanswered."""
    # Received before, put back after a rate limit (its original may have been received many times), or moved
    # back from the dead-letter queue: an earlier attempt may have gone unanswered.
    received_before = int(record.attributes.approximate_receive_count or 1) > 1
    return received_before or is_copy(record)


def is_copy(record: SQSRecord) -> bool:
    """Whether the record is a copy of another message: put back after a rate limit, or redriven."""
    return any(attribute(record, name) is not None for name in (REQUEUED_FROM_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE))


def seconds_until_due(record: SQSRecord, clock: Callable[[], float]) -> float:
    """How long a requeued copy must still wait for its rate-limit window (``not_before``); 0 when it is due."""
    value = attribute(record, NOT_BEFORE_ATTRIBUTE)
    if value is None:
        return 0.0
    try:
        due = float(value)
    except ValueError:
        return 0.0
    return due - clock() if math.isfinite(due) else 0.0


def age(record: SQSRecord, clock: Callable[[], float]) -> float:
    """Seconds since the record was first received (else sent); 0 when SQS did not say."""
    # From the first receive, not from when it was sent: time spent waiting in a backlog is not time spent failing.
    sent_ms = record.attributes.get("ApproximateFirstReceiveTimestamp") or record.attributes.get("SentTimestamp")
    try:
        return max(0.0, clock() - int(sent_ms) / 1000) if sent_ms else 0.0
    except ValueError:
        return 0.0
