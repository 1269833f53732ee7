"""Every failure class and transport failure of every function, with the replies, logs and dead letters scanned for
the seeded connections' secrets, including a vendor that echoes the credentials it was sent.

The sandbox never repeats what it was sent, so the echoing vendor is a small loopback server here (``echo``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
from tests.integration.conftest import api_event, attributes_of

pytestmark = pytest.mark.integration

WRONG = "wrong-credential-value-7f3a"
ECHO_TOKEN = "echo-issued-token-5f6e7d8c"  # what the echoing vendor issues, then repeats back
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
    ECHO_TOKEN,
]
# A credential in a header value, other than the redacted form: "Bearer abc", "Basic abc".
CREDENTIAL_IN_CLEAR = re.compile(r"\b(Bearer|Basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}")
HEADERS = {"Authorization": f"Bearer {LOCAL_BEARER_TOKEN}", "Content-Type": "application/json"}
CLOSED_PORT = "http://127.0.0.1:9"

PROCORE = "/procore/rest/v1.0/potential_change_orders/sync"
PROCORE_QUERY = {"project_id": "1", "contract_id": "2"}
PRIME = "/prime/primeapi/restapi/changeOrderSOV/batch"
CO = "/constructiononline/api/ChangeOrders/1234567"
SOV = {"changeOrderLineItemId": 5, "name": "n", "sovType": "LUMP_SUM", "changeOrderSovCost": {"total": 1}}


def procore_call(updates, query=None):
    headers = {**HEADERS, "Procore-Company-Id": "3"}
    return api_event("PATCH", PROCORE, {"updates": updates}, headers, {**PROCORE_QUERY, **(query or {})})


def prime_call(items, query=None):
    return api_event("POST", PRIME, dumps_exact(items), HEADERS, query)


def co_call(co_info, query=None):
    return api_event("PUT", CO, None, HEADERS, {"coInfo": json.dumps(co_info), **(query or {})})


class EchoingVendor(BaseHTTPRequestHandler):
    """Refuses every request with an error text that repeats the credentials and the body it was sent.

    A token request under ``/refuse`` gets 401 (OAuth's shape); any other token request gets ``ECHO_TOKEN``.
    """

    def do_POST(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def _answer(self) -> None:
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        echo = f"{self.command} {self.path} Authorization: {self.headers['Authorization']} APIKey: "
        echo += f"{self.headers['APIKey']} body {sent} (raw credential {self._credential()})"
        if self.path.startswith("/refuse"):
            self._reply(401, {"error": "invalid_client", "error_description": echo})
        elif self.path.endswith("/oauth/token"):
            self._reply(200, {"access_token": ECHO_TOKEN, "token_type": "bearer", "expires_in": 7200})
        else:
            self._reply(400, {"message": echo, "Message": echo})

    def _credential(self) -> str:
        # What a vendor decoding the header would print: the password or token itself, not its encoding.
        scheme, _, value = (self.headers["Authorization"] or " ").partition(" ")
        return base64.b64decode(value).decode() if scheme == "Basic" else value

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what the functions log, not the server."""


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingVendor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Scenario:
    """One failure path: the function, the sandbox set up for it, the event (or queued body), the class expected."""

    function: str
    event: dict[str, Any]
    expect: str | None  # None: Procore's item-level refusals answer 200 with errors[]
    sandbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    timeout: float | None = None


def fault(route: str, kind: str, **options: Any) -> tuple[str, dict[str, Any]]:
    return ("/_sandbox/faults", {"route": route, "kind": kind, "count": 20, **options})


def seed_connections(stack, sandbox_url: str, echo_url: str) -> None:
    """``bad`` (wrong credentials), ``closed`` (nothing listening), ``echo`` (echoes), and ``limited`` for Procore."""
    prefix = secret_prefix(stack)
    procore, prime, co = SANDBOX_PROCORE_CLIENT, SANDBOX_PRIME_USER, SANDBOX_CONSTRUCTIONONLINE_ACCOUNT
    secrets = {
        "procore/bad": {**procore, "client_secret": WRONG, "auth_base_url": sandbox_url, "api_base_url": sandbox_url},
        "procore/closed": {**procore, "auth_base_url": CLOSED_PORT, "api_base_url": CLOSED_PORT},
        "procore/limited": {**procore, "auth_base_url": sandbox_url, "api_base_url": sandbox_url},
        "procore/echo": {**procore, "auth_base_url": echo_url, "api_base_url": echo_url},
        "procore/echo-refused": {**procore, "auth_base_url": f"{echo_url}/refuse", "api_base_url": echo_url},
        "prime/bad": {**prime, "password": WRONG, "base_url": sandbox_url},
        "prime/echo": {**prime, "base_url": echo_url},
        "constructiononline/bad": {**co, "api_key": WRONG, "base_url": sandbox_url},
        "constructiononline/closed": {**co, "base_url": CLOSED_PORT},
        "constructiononline/echo": {**co, "base_url": echo_url},
    }
    for name, value in secrets.items():
        put_secret(stack.endpoint_url, f"{prefix}/{name}", value)


def scenarios() -> list[Scenario]:
    """Every failure class each function can meet, transport failures, and a vendor echoing credentials."""
    procore, prime, co = (
        "ProcorePcoSyncFunction",
        "PrimeChangeOrderSovBatchFunction",
        "ConstructionOnlineChangeOrderUpdateFunction",
    )
    update = [{"origin_id": "a"}]
    queued_co = {"id": 1234567, "coInfo": {"NOTES": "x"}}
    return [
        # Procore
        Scenario(procore, procore_call([{"origin_id": "a", "colour": "red"}]), "invalid_input"),
        Scenario(procore, procore_call([{"id": 404404}]), None),
        Scenario(procore, procore_call(update, {"connection": "echo"}), "vendor_rejected"),
        Scenario(
            procore,
            procore_call(update, {"connection": "limited"}),
            "rate_limited",
            sandbox=[("/_sandbox/config", {"procore": {"hourly_limit": 0}})],
        ),
        Scenario(procore, procore_call(update), "transient", sandbox=[fault("procore.sync", "status", status=500)]),
        Scenario(
            procore,
            procore_call(update),
            "transient",
            sandbox=[fault("procore.sync", "timeout", delay_ms=2500, applied=False)],
            timeout=5,
        ),
        Scenario(procore, procore_call(update, {"connection": "closed"}), "transient"),
        Scenario(procore, procore_call(update, {"connection": "bad"}), "misconfiguration"),
        Scenario(procore, procore_call(update, {"connection": "echo-refused"}), "misconfiguration"),
        Scenario(
            procore, {"company_id": 3, "project_id": 1, "contract_id": 2, "updates": [{"id": 9}]}, "vendor_rejected"
        ),
        Scenario(
            procore,
            {"connection": "echo", "company_id": 3, "project_id": 1, "contract_id": 2, "updates": update},
            "vendor_rejected",
        ),
        # Oracle Primavera Cloud
        Scenario(prime, prime_call([{**SOV, "cbsCode": "x"}]), "invalid_input"),
        Scenario(prime, prime_call([SOV]), "transient", sandbox=[fault("prime.batch", "status", status=500)]),
        Scenario(prime, prime_call([SOV]), "unknown_outcome", sandbox=[fault("prime.batch", "drop", applied=True)]),
        Scenario(prime, prime_call([SOV], {"connection": "bad"}), "misconfiguration"),
        Scenario(prime, prime_call([SOV], {"connection": "echo"}), "misconfiguration"),
        Scenario(prime, {"items": [{**SOV, "sovId": 1}]}, "invalid_input"),
        Scenario(prime, {"items": [SOV]}, "unknown_outcome", sandbox=[fault("prime.batch", "drop", applied=True)]),
        # ConstructionOnline
        Scenario(co, co_call({"COLOR": "red"}), "invalid_input"),
        Scenario(co, co_call({"NOTES": "x"}, {"connection": "echo"}), "vendor_rejected"),
        Scenario(
            co, co_call({"NOTES": "x"}), "transient", sandbox=[fault("constructiononline.update", "status", status=500)]
        ),
        Scenario(co, co_call({"NOTES": "x"}, {"connection": "closed"}), "transient"),
        Scenario(co, co_call({"NOTES": "x"}, {"connection": "bad"}), "misconfiguration"),
        Scenario(co, {"id": 99999, "coInfo": {"NOTES": "x"}}, "vendor_rejected"),
        Scenario(co, {**queued_co, "connection": "echo"}, "vendor_rejected"),
    ]


@dataclass
class Seen:
    """What the scenarios produced, by where it went."""

    replies: list[str] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)


def run(scenario: Scenario, deploy, control, sqs, seen: Seen) -> str:
    """Play ``scenario``; keep its replies and dead letters (taken off their queue); return the class it ended in."""
    control.post("/_sandbox/reset").raise_for_status()
    for path, body in scenario.sandbox:
        control.post(path, json=body).raise_for_status()
    function = deploy(scenario.function)
    if "httpMethod" not in scenario.event:
        function.send(scenario.event)
        function.deliver(scenario.timeout)
        dead = function.dead_letters()
        for message in dead:
            sqs.delete_message(QueueUrl=function.dead_letter_queue.url, ReceiptHandle=message["ReceiptHandle"])
        seen.dead_letters.extend(json.dumps(message) for message in dead)
        return attributes_of(dead[0])["error_class"] if dead else "none"
    response = function.invoke(scenario.event, scenario.timeout)
    stranger = {**scenario.event, "headers": {"Authorization": f"Bearer {WRONG}"}}
    refused = function.invoke(stranger)
    assert refused["statusCode"] == 401
    seen.replies.extend([json.dumps(response), json.dumps(refused)])
    error = json.loads(response["body"]).get("error")
    return error["failure"] if error else "none"


def leaks(text: str) -> list[str]:
    """The seeded secrets in ``text``, and any credential in clear after Bearer or Basic."""
    return [secret for secret in SECRETS if secret in text] + CREDENTIAL_IN_CLEAR.findall(text)


def test_no_secret_reaches_a_log_line_a_reply_or_a_dead_letter(deploy, control, stack, sandbox, sqs, echo, logs):
    seed_connections(stack, sandbox.url, echo)
    seen = Seen()
    outcomes = []
    for scenario in scenarios():
        ended = run(scenario, deploy, control, sqs, seen)
        outcomes.append((scenario.function, scenario.event.get("queryStringParameters"), scenario.expect, ended))
    assert [o for o in outcomes if o[2] is not None and o[2] != o[3]] == []  # each path ran as meant
    replies, dead_letters = "\n".join(seen.replies), "\n".join(seen.dead_letters)
    # The echoes came back into the replies, the logs and the dead letters: it is their redaction under test.
    assert "/refuse/oauth/token" in replies and "PUT /api/ChangeOrders/1234567" in dead_letters
    assert "PATCH /rest/v1.0/potential_change_orders/sync" in logs.getvalue()
    assert leaks(replies) == []
    assert leaks(logs.getvalue()) == []
    assert leaks(dead_letters) == []


def test_secrets_manager_out_of_reach_keeps_a_queued_record_for_a_retry_and_logs_no_secret(
    deploy, control, monkeypatch, logs
):
    function = deploy("ProcorePcoSyncFunction")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", CLOSED_PORT)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    function.new_container()
    [sent] = function.send({"company_id": 3, "project_id": 1, "contract_id": 2, "updates": [{"origin_id": "a"}]})

    _, failed = function.deliver()

    assert failed == [sent] and function.dead_letters() == []
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    failures = [line["message"] for line in lines if line.get("failure") == "transient"]
    assert any("Secrets Manager out of reach (EndpointConnectionError)" in message for message in failures)
    assert [secret for secret in SECRETS if secret in logs.getvalue()] == []
