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
        tenant_headers = body.get("requestHeaders") or {}
        if not isinstance(tenant_headers, dict):
            raise misconfiguration("prime token endpoint answered requestHeaders that are not a JSON object")
        headers = {str(k): str(v) for k, v in tenant_headers.items()}
        headers["Authorization"] = f"Bearer {token}"
        if body.get("primeTenantCode"):
            headers["x-prime-tenant-code"] = str(body["primeTenantCode"])
        return headers, token_lifetime(body, "expiresIn", "expires_in")

    return fetch
