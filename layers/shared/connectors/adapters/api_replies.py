"""The API's error replies: a failure in the shared error model, Retry-After where a wait is known."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from connectors.failure_log import log_failure
from connectors.failures import ConnectorError, FieldProblem, invalid_input
from connectors.models.errors import ErrorResponse, problems_from_errors


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


def failure_reply(failure: ConnectorError, partial: dict[str, Any] | None = None) -> Response[str]:
    """A route's reply for ``failure`` (with what was done before it, ``partial``), logged like any failure."""
    log_failure(failure)
    return error_response(failure, partial)


def api_app() -> APIGatewayRestResolver:
    """A resolver for a function's routes: requests validated, every error answered in the shared error model."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        problems = problems_from_errors(error.errors())
        listed = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        return error_response(invalid_input(f"invalid request: {listed}", problems))

    @app.exception_handler(ConnectorError)  # type: ignore[untyped-decorator]
    def _connector_failure(error: ConnectorError) -> Response[str]:
        return failure_reply(error)

    @app.not_found
    def _no_route(error: NotFoundError) -> Response[str]:
        # API Gateway sends only its own resources here, so a path no route matches holds a path parameter the
        # routes' patterns refuse (a control character, say): the caller's input, named, not echoed.
        message = "the path matches no route: a path parameter holds characters it cannot"
        return error_response(invalid_input(message, [FieldProblem("path", message)]))

    return app


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
