"""Trigger adapters: API Gateway events and SQS batches in, command outcomes out.

The operation decides nothing about triggers; these adapters apply the failure policy of
``connectors.failures`` to its outcomes, the same way for every function.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse, PartialItemFailures
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from connectors.auth.webhook import CallerVerifier, Verified, reach_refused
from connectors.deadline import Deadline
from connectors.failures import (
    ConnectorError,
    FailureClass,
    FieldProblem,
    invalid_input,
    service_unavailable,
    too_large,
    unexpected,
)
from connectors.idempotency import (
    IDEMPOTENCY_KEY_ATTRIBUTE,
    IDEMPOTENCY_KEY_HEADER,
    Claim,
    Idempotency,
    RecordLedger,
    claim_failure,
)
from connectors.models.common import DEFAULT_CONNECTION
from connectors.models.errors import ErrorResponse, invalid_input_from, invalid_json, problems_from_errors
from connectors.models.exact_json import JsonInputError, loads_exact
from connectors.observability import aws_error_name, logger, metrics
from connectors.order import VERSION_ATTRIBUTE, Outcome, Superseded, parse_version, version_from_epoch_ms
from connectors.redact import redact

# SQS allows a message to stay invisible for 12 hours at most.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
# SendMessage can delay a message by 15 minutes at most.
MAX_DELAY_SECONDS = 900
NOT_BEFORE_ATTRIBUTE = "not_before"
REQUEUED_FROM_ATTRIBUTE = "requeued_from"
SOURCE_MESSAGE_ID_ATTRIBUTE = "source_message_id"
_ATTRIBUTE_LIMIT = 1000
# A failure shared by a batch's records is logged once, with this many of their message ids: an outage fails
# hundreds of records alike, and a line per record cost more than the rest of the batch's wrap-up.
_LOGGED_IDS = 20


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

    @app.not_found
    def _no_route(error: NotFoundError) -> Response[str]:
        # API Gateway sends only its own resources here, so a path no route matches holds a path parameter the
        # routes' patterns refuse (a control character, say): the caller's input, named, not echoed.
        message = "the path matches no route: a path parameter holds characters it cannot"
        return error_response(invalid_input(message, [FieldProblem("path", message)]))


def handle_api_event(
    event: dict[str, Any],
    context: LambdaContext,
    app: APIGatewayRestResolver,
    verifier: CallerVerifier,
    function: str,
    max_body_bytes: int,
    idempotency: Idempotency | None = None,
) -> dict[str, Any]:
    """Answer one API request; whatever is raised on the way becomes an error reply in the shared model.

    The body's size is checked, then the caller authenticated before anything reads the request, then its reach
    (the function, and the connection the query names). Only JSON bodies are read, bounded before they are parsed.
    A request with an ``Idempotency-Key`` header, or a signed one (its ``webhook-id``), is answered once: a repeat
    gets the stored reply.
    """
    try:
        return _answer(event, context, app, verifier, function, max_body_bytes, idempotency)
    except ConnectorError as failure:
        return refusal(failure)
    except Exception as error:
        return refusal(caught_unexpected(error, "answering an API request"))


def _answer(
    event: dict[str, Any],
    context: LambdaContext,
    app: APIGatewayRestResolver,
    verifier: CallerVerifier,
    function: str,
    max_body_bytes: int,
    idempotency: Idempotency | None,
) -> dict[str, Any]:
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    raw = _raw_body(event)
    try:
        if len(raw) > max_body_bytes:
            raise too_large(len(raw), max_body_bytes)
        verified = _verify(verifier, headers, raw)
        refused = reach_refused(verified.caller, function, _connection(event))
        if refused is not None:
            metrics.add_metric(name="ForbiddenCalls", unit="Count", value=1)
            raise refused
    except ConnectorError as failure:  # too big, a stranger, a caller out of its reach, or no way to check
        metrics.add_metric(name="ApiRequestsRefused", unit="Count", value=1)
        if failure.failure is FailureClass.UNAUTHENTICATED:
            metrics.add_metric(name="UnauthenticatedCalls", unit="Count", value=1)
            return refusal(failure, {"WWW-Authenticate": 'Bearer realm="connectors"'})
        return refusal(failure)
    metrics.add_metric(name="ApiRequests", unit="Count", value=1)
    logger.append_keys(caller=verified.caller.name)
    content_type = headers.get("content-type", "")
    if raw and content_type and not _is_json(content_type):
        # Powertools would parse forms and multipart bodies (and fail on some); every route here takes JSON.
        message = "the body must be JSON: send Content-Type: application/json"
        problem = FieldProblem("header.Content-Type", message)
        return refusal(ConnectorError(FailureClass.INVALID_INPUT, message, problems=[problem], api_status_override=415))
    text = _bounded_json_text(raw)
    key = _replay_key(headers, verified)
    if idempotency is None or key is None:
        return app.resolve(_routable(event, text), context)
    request = {
        "method": event.get("httpMethod"),
        "path": event.get("path"),
        "query": event.get("multiValueQueryStringParameters"),
        "body": text,
    }
    return idempotency.reply(key, request, context, lambda: app.resolve(_routable(event, text), context))


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode(errors="surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_input("the body is marked base64 but is not valid base64") from None


def _verify(verifier: CallerVerifier, headers: Mapping[str, str], raw: bytes) -> Verified:
    try:
        return verifier.verify(headers, raw)
    except ConnectorError as failure:
        if failure.failure is FailureClass.UNAUTHENTICATED:
            raise
        reason = failure.message
    except Exception as error:
        reason = f"unexpected {type(error).__name__}"
        logger.exception("the webhook secret could not be used")
    # The secret is missing, unreadable or invalid: the operator learns why, the caller only that it must wait.
    logger.error("callers cannot be authenticated", extra={"reason": reason})
    metrics.add_metric(name="AuthenticationUnavailable", unit="Count", value=1)
    raise service_unavailable()


def _connection(event: Mapping[str, Any]) -> str:
    # Every route takes the connection from the query (default "default"); the route validates its form.
    query = event.get("queryStringParameters") or {}
    return str(query.get("connection") or DEFAULT_CONNECTION)


def _bounded_json_text(raw: bytes) -> str:
    """The body as text, refused before any route parses it when it is not UTF-8 or breaks the JSON bounds."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        message = f"the body is not UTF-8 (byte {error.start})"
        raise invalid_input(message, [FieldProblem("body", "must be UTF-8 text")]) from None
    if text.strip():
        try:
            loads_exact(text)
        except JsonInputError as error:
            raise invalid_json(error.field, error.reason, "body") from None
        except ValueError as error:
            raise invalid_input(f"the body is not JSON: {error}", [FieldProblem("body", "must be JSON")]) from None
    return text


def _routable(event: dict[str, Any], text: str) -> dict[str, Any]:
    """The event as the routes read it: the body as text (a base64 one decoded here, once), labelled plain JSON.

    A JSON media type was accepted above however it was spelled (``Application/JSON``, ``application/problem+json``);
    Powertools' resolver knows only ``application/json`` in lower case and would answer anything else itself.
    """
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() != "content-type"}
    multi = {name: v for name, v in (event.get("multiValueHeaders") or {}).items() if name.lower() != "content-type"}
    if text:
        headers["Content-Type"] = "application/json"
        multi["Content-Type"] = ["application/json"]
    return {**event, "headers": headers, "multiValueHeaders": multi, "body": text, "isBase64Encoded": False}


MAX_KEY_CHARS = 255


def _replay_key(headers: Mapping[str, str], verified: Verified) -> str | None:
    """The request's idempotency key, scoped to its caller: the header's, else a signed request's webhook-id."""
    given = headers.get(IDEMPOTENCY_KEY_HEADER)
    if given:  # an empty header is no key, as if it were not sent
        if len(given) > MAX_KEY_CHARS or not given.isprintable():
            message = f"must be 1 to {MAX_KEY_CHARS} printable characters"
            problem = FieldProblem("headers.Idempotency-Key", message)
            raise invalid_input(f"{IDEMPOTENCY_KEY_ATTRIBUTE} {message}", [problem])
        return f"{verified.caller.name}#key:{given}"
    if verified.webhook_id is not None:
        return f"{verified.caller.name}#webhook:{verified.webhook_id}"
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def refusal(failure: ConnectorError, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The proxy reply for a request refused before (or around) the route, logged like any failure."""
    log_failure(failure)
    response = error_response(failure)
    return {
        "statusCode": failure.api_status,
        "headers": {"Content-Type": "application/json", **response.headers, **(headers or {})},
        "body": response.body,
        "isBase64Encoded": False,
    }


# ---------------------------------------------------------------------------------------------- SQS


class QueueClient(Protocol):
    """The SQS calls the adapter makes (boto3's SQS client has them)."""

    def send_message_batch(self, *, QueueUrl: str, Entries: Sequence[Any]) -> Any: ...

    def send_message(
        self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int, MessageAttributes: Mapping[str, Any]
    ) -> Any: ...

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class RecordInfo:
    """What the operation knows of a record besides its command."""

    redelivered: bool
    """SQS delivered it before (or it was redriven): an earlier attempt may have reached the vendor unanswered."""
    version: Decimal
    """Its place in time (``connectors.order``): the producer's version, else when SQS first accepted it."""


@dataclass(frozen=True)
class RetryBudget:
    """How long a record that keeps failing transiently is retried, and how far apart the attempts are.

    A record is retried until the time since SQS first accepted it, plus the next wait, would pass ``seconds``;
    the queue's ``max_receive_count`` stays the backstop of its redrive policy.
    """

    seconds: float = 7200.0
    backoff_base: float = 10.0
    backoff_cap: float = 900.0

    def wait(self, failure: ConnectorError, receive_count: int, jitter: Callable[[], float]) -> float:
        """Seconds to keep the record invisible before its next attempt."""
        if failure.failure is FailureClass.RATE_LIMITED and failure.retry_after is not None:
            return failure.retry_after + 1
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** min(receive_count - 1, 32))
        return max(failure.retry_after or 0.0, ceiling * (0.5 + jitter() / 2))


@dataclass(frozen=True)
class QueueSettings:
    """Where the records came from, where dead letters go, and how long a failing record is retried."""

    function: str
    queue_url: str | None
    dead_letter_queue_url: str | None
    max_receive_count: int
    retry: RetryBudget = RetryBudget()


def handle_sqs_batch[C: BaseModel](
    event: dict[str, Any],
    parse: Callable[[str], C],
    process: Callable[[list[C], list[RecordInfo]], Sequence[Outcome]],
    sqs: QueueClient,
    settings: QueueSettings,
    ledger: RecordLedger | None = None,
    remaining_ms: int = 0,
    jitter: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.time,
    claim_by: Deadline | None = None,
) -> PartialItemFailureResponse:
    """Parse, process and settle one SQS batch; return the records SQS should deliver again. Never raises.

    ``parse`` turns a body into a command; ``process`` takes the commands and what is known of each record
    (whether SQS delivered it before, its version), and returns, in the same order, None for each one delivered,
    ``Superseded`` for each one newer edits made unnecessary, and the failure for each one not delivered.

    Each record is read alone: whatever reading it raises is that record's failure (invalid input, or transient
    for an exception nobody expected). If ``process`` raises for the batch, each command is processed alone,
    as possibly sent before, so that a poison record fails by itself.

    With a ``ledger``, each record is claimed by its idempotency key (the producer's ``Idempotency-Key``
    attribute, else the message id it was first queued under) for ``remaining_ms``, until ``claim_by`` (the
    records whose turn comes later are handed back, retried soon): a record delivered before
    is not sent again, one being sent by another invocation waits, and a key reused with another body is
    dead-lettered as invalid input.

    Permanent failures go to the dead-letter queue now, with the reason in message attributes; retryable
    ones stay on the queue, invisible for a backoff (or the vendor's rate-limit wait), until the retry budget is
    spent or the receive count reaches the redrive policy's; then they are dead-lettered with their reason too,
    rather than moved there blind by the redrive policy. A rate-limited record is never dead-lettered for waiting:
    waiting for a vendor's window is not a failed attempt, so it goes back on the queue as a fresh message that is
    not processed before the window ends.
    """
    records = list(SQSEvent(event).records)
    try:
        return _settle_batch(records, parse, process, sqs, settings, ledger, remaining_ms, jitter, clock, claim_by)
    except Exception as error:
        # Whatever was delivered is settled in the ledger, so handing every record back duplicates nothing.
        caught_unexpected(error, "settling an SQS batch")
        return {"batchItemFailures": [{"itemIdentifier": record.message_id} for record in records]}


def _settle_batch[C: BaseModel](
    records: list[SQSRecord],
    parse: Callable[[str], C],
    process: Callable[[list[C], list[RecordInfo]], Sequence[Outcome]],
    sqs: QueueClient,
    settings: QueueSettings,
    ledger: RecordLedger | None,
    remaining_ms: int,
    jitter: Callable[[], float],
    clock: Callable[[], float],
    claim_by: Deadline | None,
) -> PartialItemFailureResponse:
    failures: list[PartialItemFailures] = []
    outcomes: dict[str, Outcome] = {}
    parsed: list[tuple[SQSRecord, C, Decimal]] = []
    invisible: list[tuple[SQSRecord, float]] = []
    for record in records:
        early = _seconds_until_due(record, clock)
        if early > 0:
            invisible.append((record, early))
            failures.append({"itemIdentifier": record.message_id})
            continue
        try:
            parsed.append((record, parse(record.body), record_version(record, clock)))
        except ConnectorError as refused:
            outcomes[record.message_id] = refused
        except ValidationError as error:
            outcomes[record.message_id] = invalid_input_from(error, "message body")
        except JsonInputError as error:
            outcomes[record.message_id] = invalid_json(error.field, error.reason, "message body")
        except ValueError as error:  # not JSON at all
            outcomes[record.message_id] = invalid_input(f"message body is not JSON: {error}")
        except Exception as error:
            outcomes[record.message_id] = caught_unexpected(error, "reading a message body")
    outcomes.update(_send(parsed, process, ledger, remaining_ms, claim_by))

    dead: list[tuple[SQSRecord, ConnectorError]] = []
    # Per distinct failure (class, status, message): the failure and the records it hit.
    failed: dict[tuple[str, int | None, str], tuple[ConnectorError, list[str]]] = {}
    for record in records:
        if record.message_id not in outcomes:
            continue
        failure = outcomes[record.message_id]
        if failure is None:
            metrics.add_metric(name="RecordsDelivered", unit="Count", value=1)
            continue
        if isinstance(failure, Superseded):
            continue
        failed.setdefault((failure.failure, failure.vendor_status, failure.message), (failure, []))[1].append(
            record.message_id
        )
        receive_count = int(record.attributes.approximate_receive_count or 1)
        wait = settings.retry.wait(failure, receive_count, jitter)
        last_receive = receive_count >= settings.max_receive_count
        if failure.failure is FailureClass.RATE_LIMITED and last_receive:
            if not _requeue_after_window(record, failure, sqs, settings, clock):
                failures.append({"itemIdentifier": record.message_id})
        elif failure.retryable and not last_receive and not _budget_spent(record, wait, settings.retry, clock):
            invisible.append((record, wait))
            metrics.add_metric(name="RecordsRetried", unit="Count", value=1)
            failures.append({"itemIdentifier": record.message_id})
        elif failure.failure is FailureClass.RATE_LIMITED:
            # Out of budget while the vendor says wait: the wait is not a failure, so the record waits on.
            invisible.append((record, wait))
            failures.append({"itemIdentifier": record.message_id})
        else:
            dead.append((record, _with_attempts(failure, record, settings, clock)))
    for failure, message_ids in failed.values():
        log_failure(failure, records=len(message_ids), message_ids=message_ids[:_LOGGED_IDS])
    _make_invisible(invisible, sqs, settings)
    failures.extend(_dead_letter(dead, sqs, settings))
    return {"batchItemFailures": failures}


def _budget_spent(record: SQSRecord, wait: float, budget: RetryBudget, clock: Callable[[], float]) -> bool:
    """Whether the record's next attempt would come after its retry budget, counted from its first attempt."""
    return _age(record, clock) + wait > budget.seconds


def _age(record: SQSRecord, clock: Callable[[], float]) -> float:
    # From the first receive, not from when it was sent: time spent waiting in a backlog is not time spent failing.
    sent_ms = record.attributes.get("ApproximateFirstReceiveTimestamp") or record.attributes.get("SentTimestamp")
    try:
        return max(0.0, clock() - int(sent_ms) / 1000) if sent_ms else 0.0
    except ValueError:
        return 0.0


def _with_attempts(
    failure: ConnectorError, record: SQSRecord, settings: QueueSettings, clock: Callable[[], float]
) -> ConnectorError:
    if not failure.retryable:
        return failure
    receives = int(record.attributes.approximate_receive_count or 1)
    spent = f"retried for {round(_age(record, clock))} s over {receives} receives"
    budget = f"the retry budget is {round(settings.retry.seconds)} s and {settings.max_receive_count} receives"
    return dataclasses.replace(failure, message=f"{failure.message} ({spent}; {budget})")


def _send[C: BaseModel](
    parsed: list[tuple[SQSRecord, C, Decimal]],
    process: Callable[[list[C], list[RecordInfo]], Sequence[Outcome]],
    ledger: RecordLedger | None,
    remaining_ms: int,
    claim_by: Deadline | None,
) -> dict[str, Outcome]:
    """Claim, process and settle the parsed records; the outcome of each by message id."""
    entries = [(idempotency_key(record), record.body) for record, _, _ in parsed]
    claims = (
        ledger.claim(entries, remaining_ms, claim_by) if ledger is not None and parsed else [Claim.NEW] * len(parsed)
    )
    outcomes: dict[str, Outcome] = {}
    sending: list[tuple[SQSRecord, C, tuple[str, str]]] = []
    infos: list[RecordInfo] = []
    for (record, command, version), claim, entry in zip(parsed, claims, entries, strict=True):
        if claim is Claim.NEW:
            sending.append((record, command, entry))
            infos.append(RecordInfo(_may_have_reached_the_vendor(record), version))
            continue
        if claim is Claim.DONE:
            metrics.add_metric(name="RecordsAlreadyDelivered", unit="Count", value=1)
        outcomes[record.message_id] = claim_failure(claim)
    if not sending:
        return outcomes
    results = _process_isolating([command for _, command, _ in sending], infos, process)
    outcomes.update(zip([record.message_id for record, _, _ in sending], results, strict=True))
    if ledger is not None:
        # A superseded record is settled like a delivered one: sending it again could only be superseded again.
        settled = [
            (entry, not isinstance(result, ConnectorError))
            for (_, _, entry), result in zip(sending, results, strict=True)
        ]
        try:
            ledger.settle(
                delivered=[entry for entry, done in settled if done],
                failed=[entry for entry, done in settled if not done],
            )
        except Exception as error:
            # Claims left unsettled expire with the invocation; the outcomes above stand.
            caught_unexpected(error, "settling records in the idempotency table")
    return outcomes


def _process_isolating[C: BaseModel](
    commands: list[C],
    infos: list[RecordInfo],
    process: Callable[[list[C], list[RecordInfo]], Sequence[Outcome]],
) -> list[Outcome]:
    """``process(commands)``; if it raises, each command alone, as possibly sent, so a poison one fails alone."""
    try:
        results = list(process(commands, infos))
    except Exception as error:
        caught_unexpected(error, "delivering a batch")
        if len(commands) == 1:
            return [unexpected(error, "delivering a record")]
        return [
            _process_isolating([command], [dataclasses.replace(info, redelivered=True)], process)[0]
            for command, info in zip(commands, infos, strict=True)
        ]
    if len(results) != len(commands):
        raise RuntimeError(f"the operation answered {len(results)} outcomes for {len(commands)} commands")
    return results


def _may_have_reached_the_vendor(record: SQSRecord) -> bool:
    # Received before, put back after a rate limit (its original may have been received many times), or moved
    # back from the dead-letter queue: an earlier attempt may have gone unanswered.
    received_before = int(record.attributes.approximate_receive_count or 1) > 1
    copied = any(
        _attribute(record, name) is not None for name in (REQUEUED_FROM_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE)
    )
    return received_before or copied


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


def _make_invisible(delays: list[tuple[SQSRecord, float]], sqs: QueueClient, settings: QueueSettings) -> None:
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


def _seconds_until_due(record: SQSRecord, clock: Callable[[], float]) -> float:
    value = _attribute(record, NOT_BEFORE_ATTRIBUTE)
    if value is None:
        return 0.0
    try:
        due = float(value)
    except ValueError:
        return 0.0
    return due - clock() if math.isfinite(due) else 0.0


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
    wait = (failure.retry_after or settings.retry.backoff_base) + 1
    origin = _attribute(record, REQUEUED_FROM_ATTRIBUTE)
    attributes = {
        **_carried(record),
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


def record_version(record: SQSRecord, clock: Callable[[], float] = time.time) -> Decimal:
    """The record's version: the producer's ``Change-Order-Version`` (kept on copies), else when SQS accepted it.

    A version that cannot be read is the record's invalid input, naming the attribute.
    """
    given = _attribute(record, VERSION_ATTRIBUTE)
    if given is not None:
        try:
            return parse_version(given)
        except ValueError as error:
            problem = FieldProblem(f"messageAttributes.{VERSION_ATTRIBUTE}", str(error))
            raise invalid_input(f"message attribute {VERSION_ATTRIBUTE} {error}", [problem]) from None
    sent = record.attributes.get("SentTimestamp")
    return version_from_epoch_ms(sent) if sent and str(sent).isdigit() else Decimal(str(clock()))


def _carried(record: SQSRecord) -> dict[str, Any]:
    """What a requeued copy and a dead letter carry of the original: the producer's key and the record's version.

    A redriven dead letter thereby keeps both: it is the same record, at the same place in time.
    """
    carried = {}
    key = _attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE)
    if key:
        carried[IDEMPOTENCY_KEY_ATTRIBUTE] = {"DataType": "String", "StringValue": key}
    given = _attribute(record, VERSION_ATTRIBUTE)
    sent = record.attributes.get("SentTimestamp")
    version = (
        given if given is not None else (str(version_from_epoch_ms(sent)) if sent and str(sent).isdigit() else None)
    )
    if version is not None:
        carried[VERSION_ATTRIBUTE] = {"DataType": "String", "StringValue": redact(version)[:_ATTRIBUTE_LIMIT]}
    return carried


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
        for index, (record, _) in enumerate(chunk):
            if index in failed_ids:
                kept.append({"itemIdentifier": record.message_id})
            else:
                metrics.add_metric(name="RecordsDeadLettered", unit="Count", value=1)
    return kept


# SendMessageBatch takes ten entries of at most 1 MiB together (bodies and attributes alike).
_BATCH_ENTRIES = 10
_BATCH_BYTES = 1024 * 1024


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
        "error_message": redact(failure.message)[:_ATTRIBUTE_LIMIT],
        "function": function,
        SOURCE_MESSAGE_ID_ATTRIBUTE: record.message_id,
        "receive_count": str(record.attributes.approximate_receive_count or "1"),
    }
    if failure.vendor_status is not None:
        values["vendor_status"] = str(failure.vendor_status)
    if failure.problems:
        values["problems"] = redact(json.dumps([p.__dict__ for p in failure.problems]))[:_ATTRIBUTE_LIMIT]
    reasons = {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}
    return {**_carried(record), **reasons}


def caught_unexpected(error: BaseException, doing: str) -> ConnectorError:
    """Log an exception nobody expected once, with its stack, count it, and return its transient failure."""
    logger.exception(f"unexpected {type(error).__name__} while {doing}")
    metrics.add_metric(name="UnexpectedErrors", unit="Count", value=1)
    return unexpected(error, doing)


def log_failure(failure: ConnectorError, **extra: Any) -> None:
    """One warning line per failure: its class, vendor status and message (messages never hold secrets)."""
    logger.warning(
        failure.message,
        extra={"failure": failure.failure.value, "vendor_status": failure.vendor_status, **extra},
    )
