"""Transport-neutral request and response values passed between the HTTP server and the handlers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

JSON_CONTENT_TYPE: Final = "application/json"


class BadRequest(Exception):
    """A control request the sandbox cannot act on; answered with 400 and the message."""


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handlers see it: lowercase header names, last query value wins (as in Rails).

    ``path_params`` holds the percent-decoded ``{name}`` segments of the matched route's path template.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    path_params: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """Return the value of a header by case-insensitive name, or None when absent."""
        return self.headers.get(name.lower())

    def media_type(self) -> str:
        """Return the Content-Type without parameters, lowercased ('' when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()


@dataclass
class Response:
    """One HTTP response; ``headers`` holds everything except Content-Type and Content-Length."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status``, or "Error" for codes without one (fault rules allow any 4xx/5xx)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_response(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    """Build a JSON response."""
    return Response(status, json.dumps(payload).encode(), JSON_CONTENT_TYPE, dict(headers or {}))


def text_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    """Build a plain-text response."""
    return Response(status, text.encode(), "text/plain; charset=utf-8", dict(headers or {}))


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> object:
    """Parse strict JSON (no NaN/Infinity); integers stay exact whatever their size.

    Raises ValueError when the body is not JSON.
    """
    return json.loads(body, parse_constant=_reject_constant)


def json_object_body(request: Request) -> dict[str, object]:
    """Return the request body as a JSON object ({} when empty); raise BadRequest otherwise."""
    if not request.body.strip():
        return {}
    try:
        payload = parse_json(request.body)
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    return payload
