"""Procore OAuth 2.0 client credentials: the built-in client, the error bodies and the token request parser."""

from __future__ import annotations

import email.policy
from email import message_from_bytes
from typing import Final
from urllib.parse import parse_qsl

from devkit.sandbox.messages import Request, parse_json

BUILTIN_CLIENT_ID: Final = "sandbox-client"
BUILTIN_CLIENT_SECRET: Final = "sandbox-secret"  # noqa: S105 - published dev-only credential

INVALID_CLIENT: Final = {
    "error": "invalid_client",
    "error_description": (
        "Client authentication failed due to unknown client, no client authentication included, "
        "or unsupported authentication method."
    ),
}
INVALID_REQUEST: Final = {
    "error": "invalid_request",
    "error_description": "Missing required parameter: grant_type.",
}
UNSUPPORTED_GRANT_TYPE: Final = {"error": "unsupported_grant_type"}
INVALID_TOKEN: Final = {"errors": "The access token is invalid"}


def token_request_params(request: Request) -> dict[str, str]:
    """Parameters of a token request: the query string, overridden by a urlencoded, multipart or JSON body.

    Bodies of other media types are ignored, as a Rails app would not parse them.
    """
    params = dict(request.query)
    media_type = request.media_type()
    if media_type == "application/x-www-form-urlencoded":
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    elif media_type == "multipart/form-data":
        params.update(_multipart_fields(request))
    elif media_type == "application/json":
        params.update(_json_fields(request.body))
    return params


def _multipart_fields(request: Request) -> dict[str, str]:
    # The email parser reads multipart bodies once given the Content-Type header with its boundary.
    head = f"Content-Type: {request.header('content-type')}\r\n\r\n".encode()
    message = message_from_bytes(head + request.body, policy=email.policy.HTTP)
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


def _json_fields(body: bytes) -> dict[str, str]:
    try:
        payload = parse_json(body)
    except ValueError:
        return {}
    if not isinstance(payload, dict):
        return {}
    return {key: value for key, value in payload.items() if isinstance(value, str)}
