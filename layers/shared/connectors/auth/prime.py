"""Oracle Primavera Cloud: a bearer token from the token service, plus the tenant headers it hands out."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from connectors.auth.cached import Fetch, basic_authorization, request_token, token_field, token_lifetime
from connectors.failures import misconfiguration
from connectors.models.prime import PrimeConnection

DISCOVERY_PATH = "/primediscovery/apitoken/request"


def prime_token_fetch(
    client: httpx.Client, connection: Callable[[bool], PrimeConnection], timeout: float = 10.0
) -> Fetch:
    """A ``CachedAuth`` fetch: Basic credentials buy a token; every call then sends it with the tenant headers."""

    def fetch(fresh: bool) -> tuple[Mapping[str, str], float | None]:
        secret = connection(fresh)
        # The scope names the host over plain http whatever scheme the call itself uses, as Oracle documents.
        scope = f"http://{secret.base_url.host}/api"
        credentials = basic_authorization(secret.username.get_secret_value(), secret.password.get_secret_value())
        body = request_token(
            "prime",
            lambda: client.post(
                str(secret.base_url).rstrip("/") + DISCOVERY_PATH,
                params={"scope": scope},
                data={"grant_type": "client_credentials"},
                headers={"Authorization": credentials},
                timeout=timeout,
            ),
        )
        # Current hosts answer access_token; older ones only accessToken.
        token = token_field("prime", body, "access_token", "accessToken")
        headers = {**tenant_headers(body), "Authorization": f"Bearer {token}"}
        return headers, token_lifetime(body, "expiresIn", "expires_in")

    return fetch


def tenant_headers(body: Mapping[str, object]) -> dict[str, str]:
    """The headers every call carries, from a token reply in either documented shape.

    Current: ``requestHeaders`` (x-prime-tenant, x-prime-identity-app, x-prime-region) and ``primeTenantCode``
    (sent as x-prime-tenant-code). Older (the data-service reference guide): no ``requestHeaders``; calls carry
    ``x-prime-tenant`` and ``x-prime-identity-app`` from ``primeTenant`` and ``primeIdentityApp``. A reply in
    neither shape is a misconfiguration naming what is missing.
    """
    given = body.get("requestHeaders")
    if given is not None:
        if not isinstance(given, dict) or not all(isinstance(v, str | int) for v in given.values()):
            raise misconfiguration("prime token endpoint answered requestHeaders that are not a JSON object of text")
        headers = {str(name): str(value) for name, value in given.items()}
        if body.get("primeTenantCode"):
            headers["x-prime-tenant-code"] = str(body["primeTenantCode"])
        return headers
    tenant, identity_app = body.get("primeTenant"), body.get("primeIdentityApp")
    if isinstance(tenant, str) and tenant and isinstance(identity_app, str) and identity_app:
        return {"x-prime-tenant": tenant, "x-prime-identity-app": identity_app}
    raise misconfiguration(
        "prime token endpoint answered neither documented shape: no requestHeaders, and not both primeTenant and "
        "primeIdentityApp; check the connection's base_url"
    )
