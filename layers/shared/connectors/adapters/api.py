"""The API adapter: one API Gateway request in, one reply in the shared error model out, whatever is raised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from connectors.adapters.api_body import bounded_json_text, is_json, raw_body, routable
from connectors.adapters.api_replies import refusal
from connectors.auth.webhook import CallerVerifier, Verified, reach_refused
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
from connectors.observability import logger, metrics

MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class ApiSettings:
    """What a request is checked against before any route sees it, and where its reply is kept."""

    verifier: CallerVerifier
    function: str
    """This function's name, as callers' reach lists it."""
    max_body_bytes: int
    idempotency: Idempotency | None = None
    """Replies kept by replay key (None: every request is answered afresh)."""


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
    content_type = headers.get("content-type", "")
    if raw and content_type and not is_json(content_type):
        # Powertools would parse forms and multipart bodies (and fail on some); every route here takes JSON.
        message = "the body must be JSON: send Content-Type: application/json"
        problem = FieldProblem("header.Content-Type", message)
        return refusal(ConnectorError(FailureClass.INVALID_INPUT, message, problems=[problem], api_status_override=415))
    text = bounded_json_text(raw)
    key = _replay_key(headers, verified)
    if settings.idempotency is None or key is None:
        return app.resolve(routable(event, text), context)
    request = {
        "method": event.get("httpMethod"),
        "path": event.get("path"),
        "query": event.get("multiValueQueryStringParameters"),
        "body": text,
    }
    return settings.idempotency.reply(key, request, context, lambda: app.resolve(routable(event, text), context))


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
        return f"{verified.caller.name}#key:{given}"
    if verified.webhook_id is not None:
        return f"{verified.caller.name}#webhook:{verified.webhook_id}"
    return None
