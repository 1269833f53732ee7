"""Procore OAuth 2.0 client credentials: a bearer token per connection, renewed before ``expires_in``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from connectors.auth.cached import Fetch, request_token, token_field, token_lifetime
from connectors.models.procore import ProcoreConnection


def procore_token_fetch(
    client: httpx.Client, connection: Callable[[bool], ProcoreConnection], timeout: float = 10.0
) -> Fetch:
    """A ``CachedAuth`` fetch that asks ``{auth_base_url}/oauth/token`` for a client-credentials token."""

    def fetch(fresh: bool) -> tuple[Mapping[str, str], float | None]:
        secret = connection(fresh)
        form = {
            "grant_type": "client_credentials",
            "client_id": secret.client_id.get_secret_value(),
            "client_secret": secret.client_secret.get_secret_value(),
        }
        url = f"{str(secret.auth_base_url).rstrip('/')}/oauth/token"
        body = request_token("procore", lambda: client.post(url, data=form, timeout=timeout))
        token = token_field("procore", body, "access_token")
        return {"Authorization": f"Bearer {token}"}, token_lifetime(body, "expires_in")

    return fetch
