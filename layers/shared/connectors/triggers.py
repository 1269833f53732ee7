"""Trigger adapters: API Gateway events and SQS batches in, command outcomes out.

The operation decides nothing about triggers; these adapters apply the failure policy of
``connectors.failures`` to its outcomes, the same way for every function.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse, PartialItemFailures
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from connectors.auth.webhook import CallerVerifier
from connectors.failures import ConnectorError, FailureClass, FieldProblem, invalid_input, too_large
from connectors.idempotency import (
    IDEMPOTENCY_KEY_ATTRIBUTE,
    IDEMPOTENCY_KEY_HEADER,
    Claim,
    Idempotency,
    RecordLedger,
    claim_failure,
)
from connectors.models.errors import ErrorResponse, invalid_input_from, problems_from_errors
from connectors.observability import logger, metrics

# SQS allows a message to stay invisible for 12 hours at most.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
RETRY_BASE_SECONDS = 10.0
RETRY_CAP_SECONDS = 900.0
# SendMessage can delay a message by 15 minutes at most.
MAX_DELAY_SECONDS = 900
NOT_BEFORE_ATTRIBUTE = "not_before"
REQUEUED_FROM_ATTRIBUTE = "requeued_from"
SOURCE_MESSAGE_ID_ATTRIBUTE = "source_message_id"
_ATTRIBUTE_LIMIT = 1000


def is_sqs_event(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is an SQS batch (else it is treated as an API Gateway request)."""
    records = event.get("Records") or []
    return bool(records) and all(r.get("eventSource") == "aws:sqs" for r in records)


# ---------------------------------------------------------------------------------------------- API


def error_response(failure: ConnectorError, partial: dict[str, Any] | None = None) -> Response[str]:
    """The API reply for ``failure``: its class's status, Retry-After where a wait is known."""
    headers = {}
    if failure.retry_after is not None and failure.api_status in (429, 503):
        headers["Retry-After"] = str(max(1, round(failure.retry_after)))
    return Response(
        status_code=failure.api_status,
        content_type="application/json",
        body=ErrorResponse.of(failure, partial).model_dump_json(exclude_none=True),
        headers=headers,
    )


def register_api_error_handlers(app: APIGatewayRestResolver) -> None:
    """Map validation errors and connector failures to the shared error model on ``app``."""

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        problems = problems_from_errors(error.errors())
        listed = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        return error_response(invalid_input(f"invalid request: {listed}", problems))

    @app.exception_handler(ConnectorError)  # type: ignore[untyped-decorator]
    def _connector_failure(error: ConnectorError) -> Response[str]:
        log_failure(error)
        return error_response(error)


def handle_api_event(
    event: dict[str, Any],
    context: LambdaContext,
    app: APIGatewayRestResolver,
    verifier: CallerVerifier,
    max_body_bytes: int,
    idempotency: Idempotency | None = None,
) -> dict[str, Any]:
    """Refuse an oversized body, authenticate the caller before anything reads the request, then route it.

    Only JSON bodies are read. A request with an ``Idempotency-Key`` header is answered once: a repeat gets
    the stored reply.
    """
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    try:
        if len(raw) > max_body_bytes:
            raise too_large(len(raw), max_body_bytes)
        verifier.verify(headers, raw)
    except ConnectorError as failure:  # too big, a stranger, or no webhook secret to check against
        metrics.add_metric(name="ApiRequestsRefused", unit="Count", value=1)
        if failure.failure is FailureClass.UNAUTHENTICATED:
            metrics.add_metric(name="UnauthenticatedCalls", unit="Count", value=1)
            return _refusal(failure, {"WWW-Authenticate": 'Bearer realm="connectors"'})
        return _refusal(failure)
    metrics.add_metric(name="ApiRequests", unit="Count", value=1)
    content_type = headers.get("content-type", "")
    if raw and content_type and not _is_json(content_type):
        # Powertools would parse forms and multipart bodies (and fail on some); every route here takes JSON.
        message = "the body must be JSON: send Content-Type: application/json"
        problem = FieldProblem("header.Content-Type", message)
        refused = ConnectorError(FailureClass.INVALID_INPUT, message, problems=[problem], api_status_override=415)
        return _refusal(refused)
    key = headers.get(IDEMPOTENCY_KEY_HEADER)
    if idempotency is None or not key:
        return app.resolve(event, context)
    request = {
        "method": event.get("httpMethod"),
        "path": event.get("path"),
        "query": event.get("multiValueQueryStringParameters"),
        "body": raw.decode(errors="replace"),
    }
    try:
        return idempotency.reply(key, request, context, lambda: app.resolve(event, context))
    except ConnectorError as failure:  # the key was reused for another request, or is still being answered
        return _refusal(failure)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _refusal(failure: ConnectorError, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The proxy reply for a request refused before (or around) the route, logged like any failure."""
    log_failure(failure)
    return {
        "statusCode": failure.api_status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": error_response(failure).body,
        "isBase64Encoded": False,
    }


# ---------------------------------------------------------------------------------------------- SQS


class QueueClient(Protocol):
    """The SQS calls the adapter makes (boto3's SQS client has them)."""

    def send_message_batch(self, *, QueueUrl: str, Entries: Sequence[Any]) -> Any: ...

    def send_message(
        self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int, MessageAttributes: Mapping[str, Any]
    ) -> Any: ...

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> Any: ...


@dataclass(frozen=True)
class QueueSettings:
    """Where the records came from and where dead letters go."""

    function: str
    queue_url: str | None
    dead_letter_queue_url: str | None
    max_receive_count: int


def handle_sqs_batch[C: BaseModel](
    event: dict[str, Any],
    parse: Callable[[str], C],
    process: Callable[[list[C], list[bool]], Sequence[ConnectorError | None]],
    sqs: QueueClient,
    settings: QueueSettings,
    ledger: RecordLedger | None = None,
    remaining_ms: int = 0,
    jitter: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.time,
) -> PartialItemFailureResponse:
    """Parse, process and settle one SQS batch; return the records SQS should deliver again.

    ``parse`` turns a body into a command; ``process`` takes the commands, and for each whether SQS delivered
    it before (so an earlier attempt's outcome may be unknown), and returns, in the same order, None for each
    one delivered and the failure for each one not.

    With a ``ledger``, each record is claimed by its idempotency key (the producer's ``Idempotency-Key``
    attribute, else the message id it was first queued under) for ``remaining_ms``: a record delivered before
    is not sent again, one being sent by another invocation waits, and a key reused with another body is
    dead-lettered as invalid input.

    Permanent failures go to the dead-letter queue now, with the reason in message attributes; retryable
    ones stay on the queue, invisible for a backoff (or the vendor's rate-limit wait). A retryable failure
    on its last allowed receive is dead-lettered with its reason too, rather than moved there blind by the
    redrive policy, except a rate-limited one: waiting for a vendor's window is not a failed attempt, so it
    goes back on the queue as a fresh message that is not processed before the window ends.
    """
    records = list(SQSEvent(event).records)
    failures: list[PartialItemFailures] = []
    outcomes: dict[str, ConnectorError | None] = {}
    parsed: list[tuple[SQSRecord, C]] = []
    for record in records:
        early = _seconds_until_due(record, clock)
        if early > 0:
            _make_invisible(record, early, sqs, settings)
            failures.append({"itemIdentifier": record.message_id})
            continue
        try:
            parsed.append((record, parse(record.body)))
        except ValidationError as error:
            outcomes[record.message_id] = invalid_input_from(error, "message body")
        except ValueError as error:  # not JSON at all
            outcomes[record.message_id] = invalid_input(f"message body is not JSON: {error}")
    outcomes.update(_send(parsed, process, ledger, remaining_ms))

    dead: list[tuple[SQSRecord, ConnectorError]] = []
    for record in records:
        if record.message_id not in outcomes:
            continue
        failure = outcomes[record.message_id]
        if failure is None:
            metrics.add_metric(name="RecordsDelivered", unit="Count", value=1)
            continue
        log_failure(failure, message_id=record.message_id)
        receive_count = int(record.attributes.approximate_receive_count or 1)
        last_receive = receive_count >= settings.max_receive_count
        if failure.failure is FailureClass.RATE_LIMITED and last_receive:
            if not _requeue_after_window(record, failure, sqs, settings, clock):
                failures.append({"itemIdentifier": record.message_id})
        elif failure.retryable and not last_receive:
            _make_invisible(record, _retry_wait(failure, receive_count, jitter), sqs, settings)
            metrics.add_metric(name="RecordsRetried", unit="Count", value=1)
            failures.append({"itemIdentifier": record.message_id})
        else:
            dead.append((record, failure))
    failures.extend(_dead_letter(dead, sqs, settings))
    return {"batchItemFailures": failures}


def _send[C: BaseModel](
    parsed: list[tuple[SQSRecord, C]],
    process: Callable[[list[C], list[bool]], Sequence[ConnectorError | None]],
    ledger: RecordLedger | None,
    remaining_ms: int,
) -> dict[str, ConnectorError | None]:
    """Claim, process and settle the parsed records; the outcome of each by message id."""
    entries = [(idempotency_key(record), record.body) for record, _ in parsed]
    claims = ledger.claim(entries, remaining_ms) if ledger is not None and parsed else [Claim.NEW] * len(parsed)
    outcomes: dict[str, ConnectorError | None] = {}
    sending: list[tuple[SQSRecord, C, tuple[str, str]]] = []
    for (record, command), claim, entry in zip(parsed, claims, entries, strict=True):
        if claim is Claim.NEW:
            sending.append((record, command, entry))
            continue
        if claim is Claim.DONE:
            metrics.add_metric(name="RecordsAlreadyDelivered", unit="Count", value=1)
        outcomes[record.message_id] = claim_failure(claim)
    if not sending:
        return outcomes
    redelivered = [_may_have_reached_the_vendor(record) for record, _, _ in sending]
    results = process([command for _, command, _ in sending], redelivered)
    outcomes.update(zip([record.message_id for record, _, _ in sending], results, strict=True))
    if ledger is not None:
        ledger.settle(
            delivered=[entry for (_, _, entry), result in zip(sending, results, strict=True) if result is None],
            failed=[entry for (_, _, entry), result in zip(sending, results, strict=True) if result is not None],
        )
    return outcomes


def _may_have_reached_the_vendor(record: SQSRecord) -> bool:
    # Received before, or moved back from the dead-letter queue: an earlier attempt may have gone unanswered.
    received_before = int(record.attributes.approximate_receive_count or 1) > 1
    return received_before or _attribute(record, SOURCE_MESSAGE_ID_ATTRIBUTE) is not None


def idempotency_key(record: SQSRecord) -> str:
    """The producer's ``Idempotency-Key`` attribute, else the id of the message the record was first queued as.

    A copy the adapter put back after a rate limit names its original (``requeued_from``); a dead letter moved
    back to the queue names the message that was dead-lettered (``source_message_id``), so two copies of one
    redriven record are still one record.
    """
    producer_key = _attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE)
    if producer_key:
        return f"key:{producer_key}"
    origin = _attribute(record, REQUEUED_FROM_ATTRIBUTE) or _attribute(record, SOURCE_MESSAGE_ID_ATTRIBUTE)
    return f"message:{origin or record.message_id}"


def _retry_wait(failure: ConnectorError, receive_count: int, jitter: Callable[[], float]) -> float:
    if failure.failure is FailureClass.RATE_LIMITED and failure.retry_after is not None:
        return failure.retry_after + 1
    ceiling: float = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2.0 ** (receive_count - 1))
    return max(failure.retry_after or 0.0, ceiling * (0.5 + jitter() / 2))


def _make_invisible(record: SQSRecord, seconds: float, sqs: QueueClient, settings: QueueSettings) -> None:
    if settings.queue_url is None:
        return
    timeout = int(min(MAX_VISIBILITY_SECONDS, max(1, round(seconds))))
    try:
        sqs.change_message_visibility(
            QueueUrl=settings.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=timeout
        )
    except Exception:  # the record still comes back after the queue's own visibility timeout
        logger.exception("could not delay record", extra={"message_id": record.message_id})


def _seconds_until_due(record: SQSRecord, clock: Callable[[], float]) -> float:
    value = _attribute(record, NOT_BEFORE_ATTRIBUTE)
    if value is None:
        return 0.0
    try:
        return float(value) - clock()
    except ValueError:
        return 0.0


def _attribute(record: SQSRecord, name: str) -> str | None:
    # Not .get(): SQSMessageAttributes.get is dict's and returns the raw dict, not the attribute.
    attribute = record.message_attributes[name] if name in record.message_attributes else None  # noqa: SIM401
    return attribute.string_value if attribute is not None else None


def _requeue_after_window(
    record: SQSRecord, failure: ConnectorError, sqs: QueueClient, settings: QueueSettings, clock: Callable[[], float]
) -> bool:
    """Put a fresh copy of ``record`` on its queue, due when the rate-limit window ends; True when it worked."""
    if settings.queue_url is None:
        return False
    wait = (failure.retry_after or RETRY_BASE_SECONDS) + 1
    origin = _attribute(record, REQUEUED_FROM_ATTRIBUTE)
    attributes = {
        **_producer_key(record),
        NOT_BEFORE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(round(clock() + wait))},
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
        return False
    metrics.add_metric(name="RecordsRequeuedForRateLimit", unit="Count", value=1)
    return True


def _producer_key(record: SQSRecord) -> dict[str, Any]:
    # Carried onto a requeued copy and into the dead-letter queue, so a redrive keeps the producer's key.
    key = _attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE)
    return {IDEMPOTENCY_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": key}} if key else {}


def _dead_letter(
    dead: list[tuple[SQSRecord, ConnectorError]], sqs: QueueClient, settings: QueueSettings
) -> list[PartialItemFailures]:
    """Send ``dead`` to the DLQ; return those that could not be sent, so SQS keeps them."""
    if not dead:
        return []
    if settings.dead_letter_queue_url is None:
        logger.error("DEAD_LETTER_QUEUE_URL is not set: permanent failures stay on the queue")
        return [{"itemIdentifier": record.message_id} for record, _ in dead]
    kept: list[PartialItemFailures] = []
    for start in range(0, len(dead), 10):  # SendMessageBatch takes ten entries
        chunk = dead[start : start + 10]
        entries = [
            {
                "Id": str(index),
                "MessageBody": record.body,
                "MessageAttributes": _reason_attributes(record, failure, settings.function),
            }
            for index, (record, failure) in enumerate(chunk)
        ]
        try:
            answer = sqs.send_message_batch(QueueUrl=settings.dead_letter_queue_url, Entries=entries)
            failed_ids = {int(entry["Id"]) for entry in answer.get("Failed", [])}
        except Exception:
            logger.exception("could not dead-letter records")
            failed_ids = set(range(len(chunk)))
        for index, (record, _) in enumerate(chunk):
            if index in failed_ids:
                kept.append({"itemIdentifier": record.message_id})
            else:
                metrics.add_metric(name="RecordsDeadLettered", unit="Count", value=1)
    return kept


def _reason_attributes(record: SQSRecord, failure: ConnectorError, function: str) -> dict[str, Any]:
    values = {
        "error_class": failure.failure.value,
        "error_message": failure.message[:_ATTRIBUTE_LIMIT],
        "function": function,
        SOURCE_MESSAGE_ID_ATTRIBUTE: record.message_id,
        "receive_count": str(record.attributes.approximate_receive_count or "1"),
    }
    if failure.vendor_status is not None:
        values["vendor_status"] = str(failure.vendor_status)
    if failure.problems:
        values["problems"] = json.dumps([p.__dict__ for p in failure.problems])[:_ATTRIBUTE_LIMIT]
    reasons = {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}
    return {**_producer_key(record), **reasons}


def log_failure(failure: ConnectorError, **extra: Any) -> None:
    """One warning line per failure: its class, vendor status and message (messages never hold secrets)."""
    logger.warning(
        failure.message,
        extra={"failure": failure.failure.value, "vendor_status": failure.vendor_status, **extra},
    )
