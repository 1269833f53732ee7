"""The webhook secret's callers: validated when loaded, malformed credentials refused, reach enforced."""

import base64
import json

import pytest

from connectors.auth.webhook import CallerVerifier, load_callers, reach_refused
from connectors.failures import ConnectorError, FailureClass
from devkit.webhook_signing import signed_headers

KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER_KEY = "whsec_" + base64.b64encode(b"o" * 32).decode()
TOKEN = "erp-token-0123456789"
BODY = json.dumps({"updates": []})


def verifier(secret: dict) -> CallerVerifier:
    return CallerVerifier(lambda: load_callers(secret, "prefix/webhook"))


def failure_of(call) -> ConnectorError:
    with pytest.raises(ConnectorError) as raised:
        call()
    return raised.value


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ({"signing_secrets": ["not-base64!"]}, "signing_secrets.0"),
        ({"signing_secrets": ["whsec_"]}, "signing_secrets.0"),
        ({"signing_secrets": ["whsec_" + base64.b64encode(b"short").decode()]}, "at least 24"),
        ({"bearer_tokens": [""]}, "bearer_tokens.0"),
        ({"bearer_tokens": ["has a space in it, long enough"]}, "bearer_tokens.0"),
        ({"bearer_tokens": [TOKEN], "signing_key": KEY}, "signing_key"),
        ({}, "names no callers"),
        ({"signing_secrets": [KEY], "callers": []}, "not both"),
        ({"callers": [{"name": "a", "bearer_tokens": [TOKEN], "connections": ["*"]}]}, "callers.0.functions"),
        (
            {
                "callers": [
                    {"name": "a", "bearer_tokens": [TOKEN], "functions": ["*"], "connections": ["*"]},
                    {"name": "b", "bearer_tokens": [TOKEN], "functions": ["*"], "connections": ["*"]},
                ]
            },
            "one caller only",
        ),
    ],
)
def test_a_bad_webhook_secret_is_a_misconfiguration_that_names_the_field_and_never_the_value(secret, named):
    failure = failure_of(lambda: verifier(secret).verify({"authorization": f"Bearer {TOKEN}"}, b""))
    assert failure.failure is FailureClass.MISCONFIGURATION
    assert named in failure.message
    assert TOKEN not in failure.message and KEY not in failure.message


@pytest.mark.parametrize(
    "signature",
    ["v1", "v1,abc", "v1,@@@@", "v2,abcd", "", "v1," + "A" * 100_000, " ".join(["v1,abcd"] * 50), "v1,abcd\x00"],
)
def test_a_malformed_signature_header_is_unauthenticated_not_a_crash(signature):
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1800000000", "webhook-signature": signature}
    failure = failure_of(lambda: verifier({"signing_secrets": [KEY]}).verify(headers, BODY.encode()))
    assert failure.failure is FailureClass.UNAUTHENTICATED


@pytest.mark.parametrize(
    "changed",
    [
        {"webhook-timestamp": "nan"},
        {"webhook-timestamp": "1e20"},
        {"webhook-timestamp": ""},
        {"webhook-id": ""},
        {"webhook-id": "x" * 10_000},
    ],
)
def test_malformed_id_and_timestamp_headers_are_unauthenticated(changed):
    headers = {**signed_headers(KEY, BODY), **changed}
    failure = failure_of(lambda: verifier({"signing_secrets": [KEY]}).verify(headers, BODY.encode()))
    assert failure.failure is FailureClass.UNAUTHENTICATED


def test_a_signed_body_that_is_not_utf8_is_unauthenticated():
    headers = signed_headers(KEY, BODY)
    failure = failure_of(lambda: verifier({"signing_secrets": [KEY]}).verify(headers, b"\xff\xfe" + BODY.encode()))
    assert failure.failure is FailureClass.UNAUTHENTICATED


CALLERS = {
    "callers": [
        {
            "name": "erp-prod",
            "signing_secrets": [KEY],
            "bearer_tokens": [TOKEN],
            "functions": ["ProcorePcoSyncFunction"],
            "connections": ["default"],
        },
        {"name": "ops", "signing_secrets": [OTHER_KEY], "functions": ["*"], "connections": ["*"]},
    ]
}


def test_each_credential_proves_its_own_caller_and_a_signature_carries_its_webhook_id():
    signed = signed_headers(OTHER_KEY, BODY, message_id="msg_ops_1")
    by_signature = verifier(CALLERS).verify(signed, BODY.encode())
    by_token = verifier(CALLERS).verify({"Authorization": f"Bearer {TOKEN}"}, b"")
    assert (by_signature.caller.name, by_signature.webhook_id) == ("ops", "msg_ops_1")
    assert (by_token.caller.name, by_token.webhook_id) == ("erp-prod", None)


def test_a_caller_reaches_only_the_functions_and_connections_it_is_given():
    erp, ops = load_callers(CALLERS, "prefix/webhook")
    assert reach_refused(erp, "ProcorePcoSyncFunction", "default") is None
    assert reach_refused(ops, "PrimeChangeOrderSovBatchFunction", "anything") is None
    for function, connection in [("PrimeChangeOrderSovBatchFunction", "default"), ("ProcorePcoSyncFunction", "b")]:
        refused = reach_refused(erp, function, connection)
        assert refused is not None and refused.failure is FailureClass.FORBIDDEN and refused.api_status == 403


def test_the_flat_shape_is_one_caller_allowed_everywhere():
    [caller] = load_callers({"signing_secrets": [KEY], "bearer_tokens": [TOKEN]}, "prefix/webhook")
    assert caller.name == "default" and caller.may_reach("AnyFunction", "any-connection")
