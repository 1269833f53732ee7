"""API Gateway's REST proxy integration (payload format 1.0): an HTTP request into the event a function gets,
and the function's result back into the HTTP response."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devkit.local_aws import ACCOUNT_ID
from devkit.local_runtime.routes import RouteMatch

# What a REST API accepts in a proxy result; any other key (statusDescription, cookies...) makes it malformed.
_RESULT_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
# Headers the local server computes itself: taken from a function's reply they would contradict the body sent.
_OWN_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as received."""

    method: str
    target: str  # path and query, still percent-encoded
    headers: Sequence[tuple[str, str]]  # in the order sent, names as sent, repeated names repeated
    body: bytes
    source_ip: str
    protocol: str  # e.g. HTTP/1.1

    @property
    def raw_path(self) -> str:
        """The path part of the target, still percent-encoded."""
        return urlsplit(self.target).path


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP response to send."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def proxy_event(request: HttpRequest, match: RouteMatch, request_id: str) -> dict[str, Any]:
    """The event API Gateway passes to the function of ``match`` for ``request``."""
    route = match.route
    path = unquote(request.raw_path)
    query = parse_qsl(urlsplit(request.target).query, keep_blank_values=True)  # '+' is a space, as API Gateway has it
    headers = _multi(request.headers)
    received = time.time()
    try:
        body: str | None = request.body.decode() if request.body else None
        is_base64 = False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(request.body).decode(), True
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.method,
        # Single-valued maps keep a repeated name's last value, as API Gateway does.
        "headers": dict(request.headers) or None,
        "multiValueHeaders": headers or None,
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": _multi(query) or None,
        "pathParameters": match.path_parameters,
        "stageVariables": dict(route.stage.variables) if route.stage.variables else None,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": request.method,
            "path": f"/{route.stage.name}{path}",
            "stage": route.stage.name,
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(received)),
            "requestTimeEpoch": int(received * 1000),
            "accountId": ACCOUNT_ID,
            "apiId": route.stage.api,
            "protocol": request.protocol,
            "domainName": _first(headers, "host"),
            "identity": {"sourceIp": request.source_ip, "userAgent": _first(headers, "user-agent")},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def proxy_response(result: Any) -> HttpResponse | None:
    """The HTTP response for a function's proxy result; None when API Gateway would call it malformed (502)."""
    if not isinstance(result, dict) or not result.keys() <= _RESULT_KEYS:
        return None
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)  # API Gateway takes the status as a number or digits in a string
    body = result.get("body")
    headers = result.get("headers") or {}
    multi_value_headers = result.get("multiValueHeaders") or {}
    if not (
        isinstance(status, int)
        and 100 <= status <= 599
        and (body is None or isinstance(body, str))
        and isinstance(headers, dict)
        and isinstance(multi_value_headers, dict)
        and all(isinstance(values, list) for values in multi_value_headers.values())
    ):
        return None
    try:
        content = base64.b64decode(body, validate=True) if body and result.get("isBase64Encoded") else (body or "")
    except binascii.Error:
        return None
    # Both maps given: multiValueHeaders wins for a name in both, as API Gateway merges them.
    multi = {name.lower() for name in multi_value_headers}
    pairs = [(name, str(value)) for name, values in multi_value_headers.items() for value in values]
    pairs += [(name, str(value)) for name, value in headers.items() if name.lower() not in multi]
    pairs = [(name, value) for name, value in pairs if name.lower() not in _OWN_HEADERS]
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "application/json"))  # API Gateway's default
    return HttpResponse(status, pairs, content.encode() if isinstance(content, str) else content)


def gateway_response(status: int, message: str, error_type: str) -> HttpResponse:
    """A reply API Gateway makes itself, without the function: ``{"message": ...}`` and its error type header."""
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
    return HttpResponse(status, headers, json.dumps({"message": message}).encode())


def missing_route() -> HttpResponse:
    """API Gateway's answer to a path or method no route has."""
    return gateway_response(403, "Missing Authentication Token", "MissingAuthenticationTokenException")


def function_failed() -> HttpResponse:
    """API Gateway's answer when the function failed, timed out or returned no valid proxy result."""
    return gateway_response(502, "Internal server error", "InternalServerErrorException")


def _multi(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    return next((values[0] for key, values in headers.items() if key.lower() == name), None)
