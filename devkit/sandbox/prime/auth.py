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


def tenant_header_problem(request: Request) -> str | None:
    """The name of the first tenant header that is missing or wrong, or None when all are right."""
    for name, expected in TENANT_HEADERS.items():
        if request.header(name) != expected:
            return name
    return None
