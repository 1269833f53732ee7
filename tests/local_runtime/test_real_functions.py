"""The template's real functions behind the local runtime, with real parts: moto (queues, secrets), the vendor
sandbox, and webhooks over HTTP signed the Standard Webhooks way."""

import json
import re
from typing import NamedTuple

import httpx
import pytest

from devkit.aws import provision, put_secret
from devkit.client import delivery_status
from devkit.local_secrets import LOCAL_SIGNING_SECRET, seed_connections
from devkit.template import REPO_ROOT, dead_letter_queue
from devkit.webhook_signing import signed_headers
from tests.local_runtime.conftest import reset_moto, running_runtime, wait_for


class Connector(NamedTuple):
    function: str
    events: str
    vendor: str
    vendor_route: str  # the sandbox's name for the vendor call
    api_status: int
    queue: str


CONNECTORS = [
    Connector("ProcorePcoSyncFunction", "procore_pco_sync", "procore", "procore.sync", 200, "ProcorePcoSyncQueue"),
    Connector(
        "PrimeChangeOrderSovBatchFunction",
        "prime_change_order_sov_batch",
        "prime",
        "prime.batch",
        201,
        "PrimeChangeOrderSovBatchQueue",
    ),
    Connector(
        "ConstructionOnlineChangeOrderUpdateFunction",
        "constructiononline_change_order_update",
        "constructiononline",
        "constructiononline.update",
        200,
        "ConstructionOnlineChangeOrderUpdateQueue",
    ),
]
IDS = [connector.vendor for connector in CONNECTORS]
MAX_RECEIVE_COUNT = 2


@pytest.fixture(scope="module")
def connectors(moto, sandbox, repo_template, tmp_path_factory):
    """The template provisioned (MaxReceiveCount 2), secrets pointing at the sandbox, one runtime for the module.

    One worker per function: every function has a single execution environment, cold once, warm afterwards.
    """
    reset_moto(moto)
    stack = provision(repo_template, moto.endpoint_url, {"MaxReceiveCount": str(MAX_RECEIVE_COUNT)})
    seed_connections(stack, sandbox.url)
    with running_runtime(stack, REPO_ROOT, tmp_path_factory.mktemp("logs"), workers_per_function=1) as running:
        yield running


@pytest.fixture
def control(sandbox):
    """The sandbox's control API, reset before each test."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        client.post("/_sandbox/reset").raise_for_status()
        yield client


@pytest.fixture
def api(connectors):
    with httpx.Client(base_url=connectors.url, timeout=30) as client:
        yield client


def vendor_calls(control, connector: Connector) -> list[dict]:
    requests = control.get("/_sandbox/requests", params={"vendor": connector.vendor}).json()["requests"]
    return [request for request in requests if request["route"] == connector.vendor_route]


def webhook(connector: Connector, signed: bool) -> dict:
    """The sample API event of events/ as an HTTP request: signed with the local key, or with no credentials."""
    event = json.loads((REPO_ROOT / "events" / connector.events / "api.json").read_text())
    body = event["body"] or ""
    headers = {name: value for name, value in event["headers"].items() if name != "Authorization"}
    if signed:
        headers.update(signed_headers(LOCAL_SIGNING_SECRET, body))
    return {
        "method": event["httpMethod"],
        "url": event["path"],
        "params": event["queryStringParameters"],
        "headers": headers,
        "content": body.encode(),
    }


@pytest.mark.parametrize("connector", CONNECTORS, ids=IDS)
def test_a_signed_webhook_reaches_the_vendor(connectors, api, control, connector):
    response = api.request(**webhook(connector, signed=True))

    assert response.status_code == connector.api_status, response.text
    assert len(vendor_calls(control, connector)) == 1
    request = webhook(connector, signed=True)
    assert (
        f"api {connector.function} {request['method']} {request['url']}: 1 record -> {connector.api_status} in "
        in (connectors.deliveries(connector.function)[-1])
    )


@pytest.mark.parametrize("connector", CONNECTORS, ids=IDS)
def test_an_unsigned_webhook_is_refused_and_the_vendor_sees_nothing(connectors, api, control, connector):
    response = api.request(**webhook(connector, signed=False))

    assert response.status_code == 401
    assert response.json()["error"]["failure"] == "unauthenticated"
    assert control.get("/_sandbox/requests", params={"vendor": connector.vendor}).json()["requests"] == []


@pytest.mark.parametrize("connector", CONNECTORS, ids=IDS)
def test_a_queued_message_reaches_the_vendor(connectors, control, connector):
    record = json.loads((REPO_ROOT / "events" / connector.events / "sqs.json").read_text())["Records"][0]

    connectors.send(connector.queue, record["body"])

    wait_for(lambda: vendor_calls(control, connector), what=f"{connector.vendor_route} in the sandbox")
    line = wait_for(
        lambda: [line for line in connectors.deliveries(connector.function) if " sqs " in f" {line}"],
        what="the delivery line",
    )[-1]
    assert f"sqs {connector.function} {connector.queue}: 1 record -> 1 delivered, 0 failed in " in line
    assert connectors.messages(connector.queue) == []
    dead_letters = dead_letter_queue(connectors.stack.template, connector.queue)
    assert connectors.messages(dead_letters) == []


# What each vendor's receipt and status name as its ids: Procore id + origin_id, Oracle sovId (with the item's place
# in the batch), ConstructionOnline ID.
VENDOR_ID_NAMES = {"procore": {"id", "origin_id"}, "prime": {"item", "sovId"}, "constructiononline": {"ID"}}


@pytest.mark.parametrize("connector", CONNECTORS, ids=IDS)
def test_the_client_asks_the_status_route_what_became_of_a_queued_message(connectors, control, connector):
    record = json.loads((REPO_ROOT / "events" / connector.events / "sqs.json").read_text())["Records"][0]
    [message_id] = connectors.send(connector.queue, record["body"])

    def delivered() -> dict:
        response = delivery_status(connector.vendor, message_id, api_url=connectors.url)
        # 404 until the record is claimed, in_progress while it is sent.
        return response.json() if response.status_code == 200 and response.json()["state"] == "delivered" else {}

    answer = wait_for(delivered, what="the record's status: delivered")
    assert answer["trigger"] == "sqs" and answer["key"] == message_id
    assert answer["vendor_ids"] and all(set(ids) == VENDOR_ID_NAMES[connector.vendor] for ids in answer["vendor_ids"])
    assert delivery_status(connector.vendor, "never-sent", api_url=connectors.url).status_code == 404


def test_a_record_that_keeps_failing_is_dead_lettered_after_max_receive_count(connectors, control):
    # Credentials Procore refuses: a misconfiguration, retried (made invisible for a backoff) until the last
    # allowed receive, where the function dead-letters it with the reason.
    refused = {"client_id": "sandbox-client", "client_secret": "not-the-secret"}
    urls = {"auth_base_url": str(control.base_url), "api_base_url": str(control.base_url)}
    put_secret(connectors.stack.endpoint_url, "change-order-connectors/procore/refused", {**refused, **urls})
    body = json.dumps({"connection": "refused", "company_id": 1, "project_id": 2, "contract_id": 3, "updates": []})
    body = body.replace('"updates": []', '"updates": [{"origin_id": "x-1", "title": "Retried to death"}]')

    def queue_lines() -> list[str]:
        return [line for line in connectors.deliveries("ProcorePcoSyncFunction") if "ProcorePcoSyncQueue" in line]

    earlier = len(queue_lines())
    connectors.send("ProcorePcoSyncQueue", body)

    [dead] = wait_for(
        lambda: connectors.messages("ProcorePcoSyncDeadLetterQueue"), timeout=30, what="the record in the DLQ"
    )

    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert dead["Body"] == body
    assert attributes["error_class"] == "misconfiguration"
    assert attributes["receive_count"] == str(MAX_RECEIVE_COUNT)
    # The DLQ message is sent during the last invocation, before its delivery line is written: wait for that line.
    tries = wait_for(
        lambda: queue_lines()[earlier:] if len(queue_lines()) - earlier >= MAX_RECEIVE_COUNT else [],
        what="a delivery line for every receive",
    )
    assert len(tries) == MAX_RECEIVE_COUNT
    assert all("1 record -> 0 delivered, 1 failed" in line for line in tries[:-1])  # reported for a retry
    assert "1 record -> 1 delivered, 0 failed" in tries[-1]  # off the queue: the function dead-lettered it
    assert connectors.messages("ProcorePcoSyncQueue") == []
    assert vendor_calls(control, CONNECTORS[0]) == []


@pytest.mark.parametrize("connector", CONNECTORS, ids=IDS)
def test_each_function_starts_cold_once_then_stays_warm(connectors, api, connector):
    for _ in range(2):
        api.request(**webhook(connector, signed=False))

    reports = connectors.reports(connector.function)
    assert len(reports) >= 2
    assert re.search(r"\tInit Duration: [\d.]+ ms$", reports[0])
    assert not any("Init Duration" in report for report in reports[1:])
    assert all(re.search(r"\tMemory Size: 512 MB\tMax Memory Used: [1-9]\d* MB", report) for report in reports)
    deliveries = connectors.deliveries(connector.function)
    assert "(cold start)" in deliveries[0]
    assert not any("cold start" in line for line in deliveries[1:])
