"""An API request's body as the routes read it: decoded once, UTF-8, JSON within bounds, labelled plain JSON."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from connectors.failures import FieldProblem, invalid_input
from connectors.models.errors import invalid_json
from connectors.models.exact_json import JsonInputError, loads_exact


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The body's bytes, a base64 one decoded; one marked base64 that is not is invalid input."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode(errors="surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_input("the body is marked base64 but is not valid base64") from None


def bounded_json_text(raw: bytes) -> str:
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


def routable(event: dict[str, Any], text: str) -> dict[str, Any]:
    """The event as the routes read it: the body as text (a base64 one decoded here, once), labelled plain JSON.

    A JSON media type is accepted (``is_json``) however it is spelled (``Application/JSON``,
    ``application/problem+json``); Powertools' resolver knows only ``application/json`` in lower case and would
    answer anything else itself.
    """
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() != "content-type"}
    multi = {name: v for name, v in (event.get("multiValueHeaders") or {}).items() if name.lower() != "content-type"}
    if text:
        headers["Content-Type"] = "application/json"
        multi["Content-Type"] = ["application/json"]
    return {**event, "headers": headers, "multiValueHeaders": multi, "body": text, "isBase64Encoded": False}


def is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON: ``application/json`` or any ``+json`` type, in any case."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")
