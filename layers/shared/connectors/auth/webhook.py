"""Who may call the API: Standard Webhooks signatures or a static bearer token, from ``<prefix>/webhook``."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from pydantic import BaseModel, ConfigDict, SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from connectors.failures import unauthenticated


class WebhookCredentials(BaseModel):
    """The webhook secret. Lists, so a new key can be added before the old one is retired."""

    model_config = ConfigDict(extra="ignore")

    signing_secrets: list[SecretStr] = []
    bearer_tokens: list[SecretStr] = []


class CallerVerifier:
    """Checks a request's credentials before anything else looks at it."""

    def __init__(self, credentials: Callable[[], WebhookCredentials]) -> None:
        self._credentials = credentials

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Return if the caller is known; raise an unauthenticated failure otherwise."""
        lowered = {name.lower(): value for name, value in headers.items()}
        authorization = lowered.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            self._verify_bearer(authorization[7:].strip())
        elif "webhook-signature" in lowered:
            self._verify_signature(lowered, body)
        else:
            raise unauthenticated("no credentials: send a Standard Webhooks signature or Authorization: Bearer")

    def _verify_bearer(self, token: str) -> None:
        given = token.encode()
        # Compare against every token, without stopping early, in constant time each.
        matches = [hmac.compare_digest(given, t.get_secret_value().encode()) for t in self._credentials().bearer_tokens]
        if not any(matches):
            raise unauthenticated("bearer token not accepted")

    def _verify_signature(self, headers: dict[str, str], body: bytes) -> None:
        for secret in self._credentials().signing_secrets:
            try:
                Webhook(secret.get_secret_value()).verify(body, headers, json_parse=False)
            except WebhookVerificationError:
                continue
            return
        raise unauthenticated("webhook signature not valid (wrong key, altered body, or timestamp outside 5 minutes)")
