"""ConstructionOnline: HTTP Basic (account email and password) plus the ``APIKey`` header on every call."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from connectors.auth.cached import Fetch, basic_authorization
from connectors.models.constructiononline import ConstructionOnlineConnection


def constructiononline_headers(connection: Callable[[bool], ConstructionOnlineConnection]) -> Fetch:
    """A ``CachedAuth`` fetch of static credentials; after a 401 they are read from the secret again."""

    def fetch(fresh: bool) -> tuple[Mapping[str, str], float | None]:
        secret = connection(fresh)
        return {
            "Authorization": basic_authorization(secret.email.get_secret_value(), secret.password.get_secret_value()),
            "APIKey": secret.api_key.get_secret_value(),
        }, None

    return fetch
