"""Primavera Cloud's token service: its built-in user, the scope check and the tenant headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from devkit.sandbox.messages import Request

BUILTIN_USERNAME: Final = "sandbox-user"
BUILTIN_PASSWORD: Final = "sandbox-password"  # noqa: S105 - published dev-only credential

TENANT: Final = "sandbox-tenant"
TENANT_CODE: Final = "SBX01"
IDENTITY_APP: Final = "sandbox-identity-app"
REGION: Final = "us-phoenix-1"
# What the token response hands out for every later call, besides x-prime-tenant-code.
REQUEST_HEADERS: Final[Mapping[str, str]] = {
    "x-prime-tenant": TENANT,
    "x-prime-identity-app": IDENTITY_APP,
    "x-prime-region": REGION,
}
TENANT_HEADERS: Final[Mapping[str, str]] = {"x-prime-tenant-code": TENANT_CODE, **REQUEST_HEADERS}
# The token service's two documented reply shapes, and the headers calls then carry.
CURRENT_SHAPE: Final = "current"
OLDER_SHAPE: Final = "older"
TOKEN_SHAPES: Final = (CURRENT_SHAPE, OLDER_SHAPE)
# Older pages (the data-service reference guide): no requestHeaders and no primeTenantCode; calls carry the tenant
# and the identity app from primeTenant and primeIdentityApp.
OLDER_TENANT_HEADERS: Final[Mapping[str, str]] = {"x-prime-tenant": TENANT, "x-prime-identity-app": IDENTITY_APP}


def token_reply(shape: str, token: str, lifetime: int, username: str) -> dict[str, object]:
    """The token service's 200 body in ``shape``: the current one, or the older one without ``requestHeaders``."""
    if shape == OLDER_SHAPE:
        return {
            "accessToken": token,
            "expiresIn": lifetime,
            "primeTenant": TENANT,
            "primeIdentityApp": IDENTITY_APP,
            "userName": username,
        }
    return {
        "access_token": token,
        "accessToken": token,  # deprecated name, still sent
        "token_type": "Bearer",
        "expiresIn": lifetime,
        "primeTenantCode": TENANT_CODE,
        "requestHeaders": dict(REQUEST_HEADERS),
    }


def scope_is_valid(request: Request) -> bool:
    """Whether ``scope`` is ``http://<host>/api`` for the host the client addressed, with or without its port.

    Always http, even over https, as Oracle documents it. Scheme and host compare case-insensitively.
    """
    addressed = (request.header("host") or "").strip().lower()
    # "[::1]:8080" keeps its brackets; a colon after them (or in a plain name) starts the port.
    port_colon = addressed.rfind(":")
    hostname = addressed[:port_colon] if port_colon > addressed.rfind("]") else addressed
    try:
        scope = urlsplit(request.query.get("scope", ""))
    except ValueError:  # e.g. an unclosed "[" in the host
        return False
    return (
        bool(addressed)
        and scope.scheme.lower() == "http"
        and scope.netloc.lower() in {hostname, addressed}
        and scope.path == "/api"
        and not (scope.query or scope.fragment)
    )


def tenant_header_problem(request: Request, shape: str = CURRENT_SHAPE) -> str | None:
    """The name of the first tenant header the token's ``shape`` hands out that is missing or wrong, or None."""
    for name, expected in (OLDER_TENANT_HEADERS if shape == OLDER_SHAPE else TENANT_HEADERS).items():
        if request.header(name) != expected:
            return name
    return None
