"""The API adapter: one API Gateway request in, one reply in the shared error model out, whatever is raised."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from connectors.adapters.api_body import bounded_json_text, is_json, raw_body, routable
from connectors.adapters.api_replies import refusal
from connectors.adapters.sqs_receipts import QueueReceipts
from connectors.adapters.sqs_settings import QueueClient
from connectors.auth.webhook import CallerVerifier, Verified, reach_refused
from connectors.deliveries import ReplyReader
from connectors.failure_log import caught_unexpected
from connectors.failures import (
    ConnectorError,
    FailureClass,
    FieldProblem,
    invalid_input,
    service_unavailable,
    too_large,
)
from connectors.idempotency import IDEMPOTENCY_KEY_ATTRIBUTE, IDEMPOTENCY_KEY_HEADER, Idempotency
from connectors.models.common import DEFAULT_CONNECTION
from connectors.observability import count_by, logger, metrics
from connectors.receipts import Receipt, ReceiptKind

MAX_KEY_CHARS = 255
# Methods that only read: answered afresh every time, with no receipt.
_READS = frozenset({"GET", "HEAD"})
# Where the routes find the authenticated caller's name (Powertools clears the context after each request).
_CALLER_CONTEXT_KEY = "caller"


@dataclass(frozen=True)
class ApiSettings:
    """What a request is checked against before any route sees it, and where its reply is kept."""

    verifier: CallerVerifier
    function: str
    """This function's name, as callers' reach lists it."""
    max_body_bytes: int
    idempotency: Idempotency | None = None
    """Replies kept by replay key (None: every request is answered afresh)."""
    receipts: QueueReceipts | None = None
    """Where the receipt of each request a route answered goes (None: no receipts)."""
    sqs: QueueClient | None = None
    queue_url: str | None = None
    """Where receipts the bus does not take are kept (the function's own queue)."""
    replies: ReplyReader = field(default_factory=lambda: ReplyReader(lambda body: []))
    """What a delivered request's reply body says: the vendor ids, and the items refused inside it."""


def handle_api_event(
    event: dict[str, Any], context: LambdaContext, app: APIGatewayRestResolver, settings: ApiSettings
) -> dict[str, Any]:
    """Answer one API request; whatever is raised on the way becomes an error reply in the shared model.

    The body's size is checked, then the caller authenticated before anything reads the request, then its reach
    (the function, and the connection the query names). Only JSON bodies are read, bounded before they are parsed.
    A request with an ``Idempotency-Key`` header, or a signed one (its ``webhook-id``), is answered once: a repeat
    gets the stored reply.
    """
    try:
        return _answer(event, context, app, settings)
    except ConnectorError as failure:
        return refusal(failure)
    except Exception as error:
        return refusal(caught_unexpected(error, "answering an API request"))


def _answer(
    event: dict[str, Any], context: LambdaContext, app: APIGatewayRestResolver, settings: ApiSettings
) -> dict[str, Any]:
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    raw = raw_body(event)
    try:
        if len(raw) > settings.max_body_bytes:
            raise too_large(len(raw), settings.max_body_bytes)
        verified = _verify(settings.verifier, headers, raw)
        refused = reach_refused(verified.caller, settings.function, _connection(event))
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
    app.context[_CALLER_CONTEXT_KEY] = verified.caller.name
    content_type = headers.get("content-type", "")
    if raw and content_type and not is_json(content_type):
        # Powertools would parse forms and multipart bodies (and fail on some); every route here takes JSON.
        message = "the body must be JSON: send Content-Type: application/json"
        problem = FieldProblem("header.Content-Type", message)
        return refusal(ConnectorError(FailureClass.INVALID_INPUT, message, problems=[problem], api_status_override=415))
    text = bounded_json_text(raw)
    if event.get("httpMethod") in _READS:
        # A read changes nothing: it is neither replayed from a stored reply nor receipted.
        reply: dict[str, Any] = app.resolve(routable(event, text), context)
        return reply
    key = _replay_key(headers, verified)

    def resolve() -> dict[str, Any]:
        # Inside the replay guard: a replayed request gets the stored reply and no second receipt.
        reply: dict[str, Any] = app.resolve(routable(event, text), context)
        _send_receipt(event, reply, _receipt_key(headers, verified, event), settings)
        return reply

    if settings.idempotency is None or key is None:
        return resolve()
    request = {
        "method": event.get("httpMethod"),
        "path": event.get("path"),
        "query": event.get("multiValueQueryStringParameters"),
        "body": text,
    }
    return settings.idempotency.reply(key, request, context, resolve)


# A refusal that is final for the change order; 401 (who sent it is unknown), 408, 409 (the key is in use) and 429
# (wait and send again) are not.
_NOT_FINAL_REFUSALS = frozenset({401, 408, 409, 429})


def _send_receipt(event: Mapping[str, Any], reply: Mapping[str, Any], key: str, settings: ApiSettings) -> None:
    """The receipt of a request a route answered: delivered (2xx) or refused (a final 4xx); none for the rest.

    Counted for the dashboard too: ``RecordsDelivered`` (trigger ``api``), ``RequestsRefused`` by failure class.
    """
    receipts = settings.receipts
    status = int(reply.get("statusCode", 500))
    if not (200 <= status < 500) or status in _NOT_FINAL_REFUSALS:
        return
    try:
        body = json.loads(reply.get("body") or "null")
        delivered = status < 300
        if delivered:
            count_by("RecordsDelivered", "trigger", {"api": 1})
        else:
            count_by("RequestsRefused", "failure", {str(body["error"]["failure"]): 1})
        if receipts is None:
            return
        receipt = Receipt(
            kind=ReceiptKind.DELIVERED if delivered else ReceiptKind.REFUSED,
            function=receipts.function,
            vendor=receipts.vendor,
            connection=_connection(event),
            trigger="api",
            key=key,
            vendor_ids=settings.replies.vendor_ids(body) if delivered else [],
            error=_refused_inside(settings.replies, body) if delivered else body.get("error"),
        )
    except Exception as error:  # a reply this code did not expect: the caller's answer stands, the receipt not
        caught_unexpected(error, "writing an API request's receipt")
        return
    receipts.send([receipt], settings.sqs, settings.queue_url)


def _refused_inside(replies: ReplyReader, body: Any) -> dict[str, Any] | None:
    """A delivered reply's refused items as a receipt's ``error`` (Procore's 200 with item errors), else None."""
    refused = replies.error(body)
    return refused.model_dump(exclude_none=True) if refused is not None else None


def _receipt_key(headers: Mapping[str, str], verified: Verified, event: Mapping[str, Any]) -> str:
    """The request's key in its receipt: the producer's Idempotency-Key, else its webhook-id, else its request id."""
    given = headers.get(IDEMPOTENCY_KEY_HEADER)
    if given:
        return given
    if verified.webhook_id is not None:
        return verified.webhook_id
    return str((event.get("requestContext") or {}).get("requestId") or "")


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


def _replay_key(headers: Mapping[str, str], verified: Verified) -> str | None:
    """The request's idempotency key, scoped to its caller: the header's, else a signed request's webhook-id."""
    given = headers.get(IDEMPOTENCY_KEY_HEADER)
    if given:  # an empty header is no key, as if it were not sent
        if len(given) > MAX_KEY_CHARS or not given.isprintable():
            message = f"must be 1 to {MAX_KEY_CHARS} printable characters"
            problem = FieldProblem("headers.Idempotency-Key", message)
            raise invalid_input(f"{IDEMPOTENCY_KEY_ATTRIBUTE} {message}", [problem])
        return replay_keys(verified.caller.name, given)[0]
    if verified.webhook_id is not None:
        return replay_keys(verified.caller.name, verified.webhook_id)[1]
    return None


def replay_keys(caller: str, key: str) -> list[str]:
    """``caller``'s replay keys for ``key``: as an Idempotency-Key, and as a signed request's webhook-id."""
    return [f"{caller}#key:{key}", f"{caller}#webhook:{key}"]


def route_caller(app: APIGatewayRestResolver) -> str:
    """The name of the caller whose request ``app`` is resolving (authenticated before any route runs)."""
    return str(app.context[_CALLER_CONTEXT_KEY])
