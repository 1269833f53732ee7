"""Who may call the API, and where: Standard Webhooks signatures or static bearer tokens, from ``<prefix>/webhook``.

The secret names callers, each with its own keys and reach::

    {"callers": [{"name": "erp-prod", "signing_secrets": ["whsec_..."], "bearer_tokens": ["..."],
                  "functions": ["ProcorePcoSyncFunction"], "connections": ["default"]}]}

``"*"`` in ``functions`` or ``connections`` allows all. The flat shape ``{"signing_secrets": [...],
"bearer_tokens": [...]}`` means one caller, ``default``, allowed everywhere. The secret is validated as it is
loaded: a bad one is a misconfiguration every caller meets, never a crash on the request that reveals it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from connectors.failures import ConnectorError, forbidden, misconfiguration, unauthenticated

ALL = "*"
WEBHOOK_ID_HEADER = "webhook-id"
_SIGNING_PREFIX = "whsec_"
# Standard Webhooks asks for keys of 24 to 64 random bytes; a shorter one is guessable, so it is refused.
MIN_SIGNING_KEY_BYTES = 24
MIN_BEARER_TOKEN_CHARS = 16
# The headers a signature check reads, bounded before the library sees them: it splits and decodes them
# without guarding against malformed values.
_WEBHOOK_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_SIGNATURE = re.compile(r"^v1,[A-Za-z0-9+/]{4,256}={0,2}$")
_MAX_SIGNATURES = 10
_NOT_VALID = "webhook signature not valid (wrong key, altered body, or timestamp outside 5 minutes)"


def _signing_key(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text.startswith(_SIGNING_PREFIX):
        raise ValueError(f"must start with {_SIGNING_PREFIX}")
    try:
        key = base64.b64decode(text.removeprefix(_SIGNING_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {_SIGNING_PREFIX} followed by base64") from None
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise ValueError(f"must hold at least {MIN_SIGNING_KEY_BYTES} random bytes")
    return value


def _bearer_token(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if len(text) < MIN_BEARER_TOKEN_CHARS or not text.isprintable() or any(c.isspace() for c in text):
        raise ValueError(f"must be at least {MIN_BEARER_TOKEN_CHARS} printable characters without spaces")
    return value


SigningKey = Annotated[SecretStr, AfterValidator(_signing_key)]
BearerToken = Annotated[SecretStr, AfterValidator(_bearer_token)]
Reach = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(min_length=1)]


class Caller(BaseModel):
    """One caller: its credentials, and the functions and connections it may reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    signing_secrets: list[SigningKey] = []
    bearer_tokens: list[BearerToken] = []
    functions: Reach
    connections: Reach

    @model_validator(mode="after")
    def _has_credentials(self) -> Caller:
        if not self.signing_secrets and not self.bearer_tokens:
            raise ValueError("a caller needs at least one signing secret or bearer token")
        return self

    def may_reach(self, function: str, connection: str) -> bool:
        """Whether this caller may call ``function`` for ``connection``."""
        return (ALL in self.functions or function in self.functions) and (
            ALL in self.connections or connection in self.connections
        )


class WebhookSecret(BaseModel):
    """The ``<prefix>/webhook`` secret in either shape; ``callers()`` gives the callers it names."""

    model_config = ConfigDict(extra="forbid")

    callers_: Annotated[list[Caller] | None, Field(alias="callers")] = None
    signing_secrets: list[SigningKey] | None = None
    bearer_tokens: list[BearerToken] | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> WebhookSecret:
        flat = self.signing_secrets is not None or self.bearer_tokens is not None
        if self.callers_ is not None and flat:
            raise ValueError("give either callers or the flat signing_secrets/bearer_tokens, not both")
        if self.callers_ is not None:
            names = [caller.name for caller in self.callers_]
            if len(set(names)) != len(names):
                raise ValueError("caller names must be unique")
            tokens = [t.get_secret_value() for caller in self.callers_ for t in caller.bearer_tokens]
            keys = [k.get_secret_value() for caller in self.callers_ for k in caller.signing_secrets]
            if len(set(tokens)) != len(tokens) or len(set(keys)) != len(keys):
                raise ValueError("a token or signing secret may belong to one caller only")
        elif not (self.signing_secrets or self.bearer_tokens):
            raise ValueError("the secret names no callers: give callers, or signing_secrets/bearer_tokens")
        return self

    def callers(self) -> list[Caller]:
        """The callers, the flat shape as one caller allowed everywhere."""
        if self.callers_ is not None:
            return list(self.callers_)
        flat = Caller(
            name="default",
            signing_secrets=list(self.signing_secrets or []),
            bearer_tokens=list(self.bearer_tokens or []),
            functions=[ALL],
            connections=[ALL],
        )
        return [flat]


def load_callers(raw: Mapping[str, Any], name: str) -> list[Caller]:
    """The callers of the secret ``name``; a misconfiguration naming the bad fields (never their values)."""
    try:
        return WebhookSecret.model_validate(raw).callers()
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in detail["loc"]) or "(root)"
            reason = str(detail.get("ctx", {}).get("error") or detail["msg"])
            problems.append(f"{where}: {reason}")
        raise misconfiguration(f"secret {name} is not a valid webhook secret ({'; '.join(problems[:10])})") from None


@dataclass(frozen=True)
class Verified:
    """A caller that proved who it is; a signed request's ``webhook_id`` is its replay key."""

    caller: Caller
    webhook_id: str | None = None


class CallerVerifier:
    """Checks a request's credentials before anything else looks at it.

    ``callers`` loads the current callers (cached by the secret store); any failure to load them propagates,
    and the API adapter answers it without telling the caller why.
    """

    def __init__(self, callers: Callable[[], list[Caller]]) -> None:
        self._callers = callers

    def verify(self, headers: Mapping[str, str], body: bytes) -> Verified:
        """The caller the credentials prove; an unauthenticated failure otherwise."""
        lowered = {name.lower(): value for name, value in headers.items()}
        authorization = lowered.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            return Verified(self._by_bearer(authorization[7:].strip()))
        if "webhook-signature" in lowered:
            return self._by_signature(lowered, body)
        raise unauthenticated("no credentials: send a Standard Webhooks signature or Authorization: Bearer")

    def _by_bearer(self, token: str) -> Caller:
        given = token.encode()
        found = None
        # Compare against every token of every caller, in constant time each, without stopping at a match.
        for caller in self._callers():
            for known in caller.bearer_tokens:
                if hmac.compare_digest(given, known.get_secret_value().encode()):
                    found = caller
        if found is None:
            raise unauthenticated("bearer token not accepted")
        return found

    def _by_signature(self, headers: dict[str, str], body: bytes) -> Verified:
        webhook_id = headers.get(WEBHOOK_ID_HEADER, "")
        signatures = headers.get("webhook-signature", "").split()
        well_formed = (
            _WEBHOOK_ID.match(webhook_id)
            and _TIMESTAMP.match(headers.get("webhook-timestamp", ""))
            and 0 < len(signatures) <= _MAX_SIGNATURES
            and all(_SIGNATURE.match(signature) for signature in signatures)
        )
        if not well_formed:
            raise unauthenticated("webhook signature headers are malformed: see the Standard Webhooks specification")
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise unauthenticated(_NOT_VALID) from None
        signed = {name: headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        for caller in self._callers():
            for secret in caller.signing_secrets:
                if _signed_with(secret, text, signed):
                    return Verified(caller, webhook_id)
        raise unauthenticated(_NOT_VALID)


def _signed_with(secret: SecretStr, text: str, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret.get_secret_value()).verify(text, headers, json_parse=False)
    except (WebhookVerificationError, ValueError):  # ValueError: a signature that is not base64
        return False
    return True


def reach_refused(caller: Caller, function: str, connection: str) -> ConnectorError | None:
    """A 403 failure when ``caller`` may not reach ``function`` for ``connection``; None when it may."""
    if caller.may_reach(function, connection):
        return None
    return forbidden(f"caller {caller.name} may not reach {function} for connection {connection!r}")
