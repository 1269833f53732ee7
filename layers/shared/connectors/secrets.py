"""Secrets Manager access through Powertools parameters: cached, re-read on demand after an auth failure."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from pydantic import BaseModel, ValidationError

from connectors.failures import ConnectorError, FailureClass, misconfiguration


class SecretNotFound(ConnectorError):
    """A secret that does not exist: a misconfiguration, unless a request chose its name (see Container)."""


class SecretStore:
    """Reads JSON secrets, cached for ``max_age`` seconds; ``force=True`` skips the cache (rotated credentials)."""

    def __init__(self, provider: SecretsProvider | None = None, max_age: int = 300) -> None:
        self._provider = provider or SecretsProvider()
        self._max_age = max_age

    def get_json(self, name: str, *, force: bool = False) -> dict[str, Any]:
        """The secret ``name`` parsed as a JSON object; a missing or malformed secret is a misconfiguration."""
        try:
            value = self._provider.get(name, transform="json", max_age=self._max_age, force_fetch=force)
        except TransformParameterError:
            raise misconfiguration(f"secret {name} is not a JSON object") from None
        except GetParameterError as error:
            code = _aws_error_code(error)
            if code == "ResourceNotFoundException":
                raise SecretNotFound(FailureClass.MISCONFIGURATION, f"secret {name} does not exist") from None
            raise misconfiguration(f"secret {name} could not be read ({code})") from None
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


def _aws_error_code(error: GetParameterError) -> str:
    cause = error.__cause__ or error.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "error"))
    return type(cause).__name__ if cause else "error"
