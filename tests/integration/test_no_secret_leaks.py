"""Every failure path of every function, with the logs, replies and dead letters scanned for secrets."""

from __future__ import annotations

import base64
import json
import re

import pytest

from connectors.models.exact_json import dumps_exact
from devkit.aws import put_secret
from devkit.local_secrets import (
    LOCAL_BEARER_TOKEN,
    LOCAL_SIGNING_SECRET,
    SANDBOX_CONSTRUCTIONONLINE_ACCOUNT,
    SANDBOX_PRIME_USER,
    SANDBOX_PROCORE_CLIENT,
    secret_prefix,
)
from tests.integration.conftest import api_event

pytestmark = pytest.mark.integration

WRONG = "wrong-credential-value-7f3a"
SECRETS = [
    SANDBOX_PROCORE_CLIENT["client_secret"],
    SANDBOX_PRIME_USER["password"],
    SANDBOX_CONSTRUCTIONONLINE_ACCOUNT["password"],
    SANDBOX_CONSTRUCTIONONLINE_ACCOUNT["api_key"],
    LOCAL_BEARER_TOKEN,
    LOCAL_SIGNING_SECRET,
    LOCAL_SIGNING_SECRET.removeprefix("whsec_"),
    base64.b64encode(b"sandbox@example.com:sandbox-password").decode(),
    base64.b64encode(b"sandbox-user:sandbox-password").decode(),
    WRONG,
]
# A credential in a header value, other than the redacted form: "Bearer abc", "Basic abc".
CREDENTIAL_IN_CLEAR = re.compile(r"\b(Bearer|Basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}")
HEADERS = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Content-Type": "application/json"}

PROCORE = "/procore/rest/v1.0/potential_change_orders/sync"
PROCORE_QUERY = {"project_id": "1", "contract_id": "2"}
PRIME = "/prime/primeapi/restapi/changeOrderSOV/batch"
CO = "/constructiononline/api/ChangeOrders/1234567"


def procore_call(updates, query=None):
    headers = {**HEADERS, "Procore-Company-Id": "3"}
    return api_event("PATCH", PROCORE, {"updates": updates}, headers, {**PROCORE_QUERY, **(query or {})})


def prime_call(items, query=None):
    return api_event("POST", PRIME, dumps_exact(items), HEADERS, query)


def co_call(co_info, query=None):
    return api_event("PUT", CO, None, HEADERS, {"coInfo": json.dumps(co_info), **(query or {})})


SOV = {"changeOrderLineItemId": 5, "name": "n", "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": 1}}


def scenarios(stack, sandbox):
    """(function, setup(control), event or queued body) for every failure class each function can meet."""
    prefix = secret_prefix(stack)
    put_secret(
        stack.endpoint_url,
        f"{prefix}/procore/bad",
        {
            "client_id": "sandbox-client",
            "client_secret": WRONG,
            "auth_base_url": sandbox.url,
            "api_base_url": sandbox.url,
        },
    )
    put_secret(
        stack.endpoint_url,
        f"{prefix}/prime/bad",
        {"username": "sandbox-user", "password": WRONG, "base_url": sandbox.url},
    )
    put_secret(
        stack.endpoint_url,
        f"{prefix}/constructiononline/bad",
        {"email": "sandbox@example.com", "password": "sandbox-password", "api_key": WRONG, "base_url": sandbox.url},
    )
    fault = {"kind": "status", "status": 500, "count": 20}
    return [
        ("ProcorePcoSyncFunction", None, procore_call([{"origin_id": "a"}], {"connection": "bad"})),
        ("ProcorePcoSyncFunction", {**fault, "route": "procore.sync"}, procore_call([{"origin_id": "a"}])),
        ("ProcorePcoSyncFunction", None, procore_call([{"id": 404404}])),
        ("ProcorePcoSyncFunction", None, procore_call([{"origin_id": "a", "colour": "red"}])),
        ("ProcorePcoSyncFunction", None, {"company_id": 3, "project_id": 1, "contract_id": 2, "updates": [{"id": 9}]}),
        ("PrimeChangeOrderSovBatchFunction", None, prime_call([SOV], {"connection": "bad"})),
        ("PrimeChangeOrderSovBatchFunction", {**fault, "route": "prime.batch"}, prime_call([SOV])),
        ("PrimeChangeOrderSovBatchFunction", None, prime_call([{**SOV, "cbsCode": "x"}])),
        ("PrimeChangeOrderSovBatchFunction", None, {"items": [{**SOV, "sovId": 1}]}),
        ("ConstructionOnlineChangeOrderUpdateFunction", None, co_call({"NOTES": "x"}, {"connection": "bad"})),
        (
            "ConstructionOnlineChangeOrderUpdateFunction",
            {**fault, "route": "constructiononline.update"},
            co_call({"NOTES": "x"}),
        ),
        ("ConstructionOnlineChangeOrderUpdateFunction", None, co_call({"COLOR": "red"})),
        ("ConstructionOnlineChangeOrderUpdateFunction", None, {"id": 99999, "coInfo": {"NOTES": "x"}}),
    ]


def test_no_secret_reaches_a_log_line_a_reply_or_a_dead_letter(deploy, control, stack, sandbox, logs):
    seen: list[str] = []
    for logical_id, fault, event in scenarios(stack, sandbox):
        control.post("/_sandbox/reset")
        if fault:
            control.post("/_sandbox/faults", json=fault)
        function = deploy(logical_id)
        if "httpMethod" in event:
            seen.append(json.dumps(function.invoke(event)))
            unauthenticated = {**event, "headers": {"Authorization": f"Bearer {WRONG}"}}
            seen.append(json.dumps(function.invoke(unauthenticated)))
        else:
            function.send(event)
            function.deliver()
            seen.extend(json.dumps(m) for m in function.dead_letters())
    text = "\n".join(seen) + logs.getvalue()
    assert '"failure":"misconfiguration"' in text and '"failure":"vendor_rejected"' in text  # the paths ran
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == []
    assert CREDENTIAL_IN_CLEAR.findall(text) == []
