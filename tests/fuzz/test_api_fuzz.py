"""Schemathesis against openapi.json, through the local runtime, with the real functions, moto and the sandbox.

For every operation, generated requests (valid and invalid ones, each authenticated with the local bearer token)
must never get a 5xx, every 4xx must be the shared error model naming the field at fault (or, when the vendor
refused, carrying the vendor's message), and every reply must match what openapi.json says about it. How many
requests and which checks: schemathesis.toml beside this file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from pydantic import ValidationError

from connectors.failures import FailureClass
from connectors.models.errors import ErrorResponse
from devkit.local_secrets import LOCAL_BEARER_TOKEN
from devkit.openapi import BEARER, DOCUMENT_PATH

SETTINGS = Path(__file__).with_name("schemathesis.toml")
# handle_api_event reads the credentials from these before anything else: a 401 names them.
CREDENTIAL_NAMES = ("bearer", "signature")
# classify_refusal: "<vendor> answered <status>: <the vendor's own text>", after what the operation adds.
VENDOR_ANSWER = re.compile(r"\b\w+ answered \d{3}: \S")


@pytest.fixture(scope="session")
def api_schema(fuzz_runtime):
    """openapi.json aimed at the running API, with schemathesis.toml's settings and the local bearer token."""
    settings = tomllib.loads(SETTINGS.read_text())
    settings["base-url"] = fuzz_runtime.url
    settings["auth"] = {"openapi": {BEARER: {"bearer": LOCAL_BEARER_TOKEN}}}
    return schemathesis.openapi.from_path(DOCUMENT_PATH, config=schemathesis.Config.from_dict(settings))


def error_names_the_field(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """A 4xx is the shared error model and says what was wrong: the field, the credentials or the vendor's answer."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        error = ErrorResponse.model_validate_json(response.content).error
    except ValidationError as invalid:
        raise AssertionError(f"{response.status_code} is not the shared error model: {invalid}") from None
    if error.failure == FailureClass.INVALID_INPUT:
        fields = [problem.field for problem in error.problems if problem.field]
        parts = {parameter.name for parameter in case.operation.iter_parameters()} | {"body"}
        assert fields or any(part in error.message for part in parts), f"no field named: {error.message}"
    elif error.failure == FailureClass.VENDOR_REJECTED:
        assert error.vendor_status is not None, error.message
        assert VENDOR_ANSWER.search(error.message), f"not the vendor's message: {error.message}"
    elif error.failure == FailureClass.UNAUTHENTICATED:
        assert any(name in error.message.lower() for name in CREDENTIAL_NAMES), error.message
    else:
        raise AssertionError(f"{response.status_code} {error.failure} is not about the request: {error.message}")
    return True


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_no_request_gets_a_5xx_and_every_4xx_names_the_field(case):
    case.call_and_validate(additional_checks=[error_names_the_field])
