"""SecretStore: Secrets Manager's failures classed (missing, not now, not like this), and every secret value learnt."""

import json

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from connectors.failures import ConnectorError, FailureClass
from connectors.redact import MARKER, redact
from connectors.secrets import SECRETS_RETRY_AFTER_SECONDS, SecretNotFound, SecretStore

NAME = "change-order-connectors/procore/default"


@pytest.fixture
def client():
    return boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def store_answering(client, *, secret=None, code=None, status=400):
    stubber = Stubber(client)
    if code is None:
        stubber.add_response("get_secret_value", {"Name": NAME, "SecretString": json.dumps(secret)}, {"SecretId": NAME})
    else:
        stubber.add_client_error("get_secret_value", code, "the message", status, expected_params={"SecretId": NAME})
    stubber.activate()
    return SecretStore(SecretsProvider(boto3_client=client))


def store_raising(client, monkeypatch, error):
    """A store whose client raises ``error`` (what botocore raises when no answer comes, or no credentials)."""

    def get_secret_value(**_):
        raise error

    monkeypatch.setattr(client, "get_secret_value", get_secret_value)
    return SecretStore(SecretsProvider(boto3_client=client))


def test_a_missing_secret_is_secret_not_found(client):
    with pytest.raises(SecretNotFound) as raised:
        store_answering(client, code="ResourceNotFoundException").get_json(NAME)
    assert raised.value.failure is FailureClass.MISCONFIGURATION and NAME in raised.value.message


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("TooManyRequestsException", 429),
        ("InternalServiceError", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNewAndBroken", 500),  # any 5xx, whatever its code
    ],
)
def test_secrets_manager_throttling_or_failing_is_transient_503_with_a_short_wait(client, code, status):
    with pytest.raises(ConnectorError) as raised:
        store_answering(client, code=code, status=status).get_json(NAME)
    failure = raised.value
    assert failure.failure is FailureClass.TRANSIENT and failure.retryable
    assert failure.api_status == 503 and failure.retry_after == SECRETS_RETRY_AFTER_SECONDS
    assert code in failure.message and NAME in failure.message


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_secrets_manager_out_of_reach_is_transient_503(client, monkeypatch, error):
    with pytest.raises(ConnectorError) as raised:
        store_raising(client, monkeypatch, error).get_json(NAME)
    failure = raised.value
    assert failure.failure is FailureClass.TRANSIENT
    assert failure.api_status == 503 and failure.retry_after == SECRETS_RETRY_AFTER_SECONDS
    assert type(error).__name__ in failure.message


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "DecryptionFailure", "InvalidRequestException", "InvalidParameterException"]
)
def test_a_secret_that_cannot_be_read_as_configured_is_a_misconfiguration(client, code):
    with pytest.raises(ConnectorError) as raised:
        store_answering(client, code=code).get_json(NAME)
    assert raised.value.failure is FailureClass.MISCONFIGURATION and raised.value.api_status == 500
    assert not isinstance(raised.value, SecretNotFound) and code in raised.value.message


def test_no_aws_credentials_is_a_misconfiguration(client, monkeypatch):
    with pytest.raises(ConnectorError) as raised:
        store_raising(client, monkeypatch, NoCredentialsError()).get_json(NAME)
    assert raised.value.failure is FailureClass.MISCONFIGURATION and "NoCredentialsError" in raised.value.message


def test_every_secret_string_is_remembered_but_where_to_connect_stays_readable(client):
    secret = {
        "client_id": "store-client-id-0a1b",
        "client_secret": "store-client-secret-2c3d",
        "nested": {"keys": ["store-nested-key-4e5f"]},
        "auth_base_url": "https://login-sandbox.procore.com",
        "rate_limits": {"hour": {"requests": 500, "seconds": 3600}},
    }
    assert store_answering(client, secret=secret).get_json(NAME) == secret
    text = "store-client-id-0a1b store-client-secret-2c3d store-nested-key-4e5f https://login-sandbox.procore.com 500"
    assert redact(text) == f"{MARKER} {MARKER} {MARKER} https://login-sandbox.procore.com 500"


def test_a_webhook_key_is_remembered_with_and_without_its_prefix_and_caller_reach_stays_readable(client):
    secret = {
        "callers": [
            {
                "name": "erp-prod",
                "signing_secrets": ["whsec_c3RvcmUtc2lnbmluZy1rZXktb2YtMzItYnl0ZXM="],
                "bearer_tokens": ["store-bearer-token-6a7b8c9d"],
                "functions": ["ProcorePcoSyncFunction"],
                "connections": ["default"],
            }
        ]
    }
    store_answering(client, secret=secret).get_json(NAME)
    text = (
        "c3RvcmUtc2lnbmluZy1rZXktb2YtMzItYnl0ZXM= store-bearer-token-6a7b8c9d erp-prod ProcorePcoSyncFunction default"
    )
    assert redact(text) == f"{MARKER} {MARKER} erp-prod ProcorePcoSyncFunction default"


def test_a_secret_that_is_not_an_object_is_a_misconfiguration_that_does_not_repeat_it(client):
    with pytest.raises(ConnectorError) as raised:
        store_answering(client, secret=["store-listed-secret-1234"]).get_json(NAME)
    assert raised.value.failure is FailureClass.MISCONFIGURATION
    assert "store-listed-secret-1234" not in raised.value.message
    assert redact("store-listed-secret-1234") == MARKER
