"""Secrets Manager access through Powertools parameters: cached, re-read on demand after an auth failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BaseModel, ValidationError

from connectors.failures import ConnectorError, FailureClass, misconfiguration, transient
from connectors.redact import remember

# Seconds a caller (or a queued record) is told to wait when Secrets Manager is throttling or unavailable.
SECRETS_RETRY_AFTER_SECONDS = 5.0

# Secrets Manager's answers that say "not now" rather than "not like this" (AccessDenied, DecryptionFailure, ...).
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

# Fields that say where to connect or who may call what, not how to prove who we are: kept readable in logs and
# replies (connection and function names are in most of them). Every other string is treated as secret, so a
# credential field added later is covered without a change here; a public one added later is merely redacted.
PUBLIC_FIELDS = frozenset(
    {"base_url", "auth_base_url", "api_base_url", "api_path_prefix", "name", "functions", "connections"}
)
# Standard Webhooks keys are used without this prefix, so that form is secret too.
_WEBHOOK_KEY_PREFIX = "whsec_"


class SecretNotFound(ConnectorError):
    """A secret that does not exist: a misconfiguration, unless a request chose its name (see Container)."""


class SecretStore:
    """Reads JSON secrets, cached for ``max_age`` seconds; ``force=True`` skips the cache (rotated credentials).

    Every secret value read is remembered for redaction, so it never reaches a log line, a reply or a dead letter.
    """

    def __init__(self, provider: SecretsProvider | None = None, max_age: int = 300) -> None:
        self._provider = provider or SecretsProvider()
        self._max_age = max_age

    def get_json(self, name: str, *, force: bool = False) -> dict[str, Any]:
        """The secret ``name`` parsed as a JSON object.

        A missing secret raises ``SecretNotFound``; Secrets Manager throttling, failing or out of reach is
        transient (503 with a short Retry-After); anything else (access denied, undecryptable, malformed) is a
        misconfiguration.
        """
        try:
            value = self._provider.get(name, transform="json", max_age=self._max_age, force_fetch=force)
        except TransformParameterError:
            raise misconfiguration(f"secret {name} is not a JSON object") from None
        except GetParameterError as error:
            raise _read_failure(name, error) from None
        remember(*_secret_strings(value))
        if not isinstance(value, dict):
            raise misconfiguration(f"secret {name} is not a JSON object")
        return value

    def get_model[M: BaseModel](self, name: str, model: type[M], *, force: bool = False) -> M:
        """The secret ``name`` validated as ``model``; the error names missing fields, never values."""
        try:
            return model.model_validate(self.get_json(name, force=force))
        except ValidationError as error:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
            raise misconfiguration(f"secret {name} lacks or mistypes: {', '.join(fields)}") from None


def _read_failure(name: str, error: GetParameterError) -> ConnectorError:
    # Powertools wraps whatever boto3 raised; the original is the context.
    cause = error.__cause__ or error.__context__
    if isinstance(cause, BotoConnectionError | HTTPClientError):  # refused, timed out, closed: nothing was answered
        return transient(
            f"secret {name} could not be read: Secrets Manager out of reach ({type(cause).__name__})",
            retry_after=SECRETS_RETRY_AFTER_SECONDS,
            api_status=503,
        )
    if not isinstance(cause, ClientError):
        kind = type(cause).__name__ if cause else "error"
        return misconfiguration(f"secret {name} could not be read ({kind})")
    code = str(cause.response.get("Error", {}).get("Code") or "error")
    status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code == "ResourceNotFoundException":
        return SecretNotFound(FailureClass.MISCONFIGURATION, f"secret {name} does not exist")
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return transient(
            f"secret {name} could not be read: Secrets Manager answered {code}",
            retry_after=SECRETS_RETRY_AFTER_SECONDS,
            api_status=503,
        )
    return misconfiguration(f"secret {name} could not be read ({code})")


def _secret_strings(value: Any) -> Iterator[str]:
    """Every string in a secret's JSON except the public fields' (numbers and booleans are limits and flags)."""
    if isinstance(value, str):
        yield value
        if value.startswith(_WEBHOOK_KEY_PREFIX):
            yield value.removeprefix(_WEBHOOK_KEY_PREFIX)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in PUBLIC_FIELDS:
                yield from _secret_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_strings(item)
