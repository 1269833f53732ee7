"""Real parts: a moto server process provisioned from template.yaml, and the vendor sandbox on loopback.

A function's handler runs in this process with its environment resolved from the template and a fresh
container (its runtime is built on first use, so clearing that cache is all a test needs); its queue is
the real queue in moto, delivered the way the event source mapping does.
"""

from __future__ import annotations

import importlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.models.exact_json import dumps_exact
from devkit.aws import LocalStack, MotoServer, dynamodb_client, provision, sqs_client, start_moto
from devkit.lambda_context import new_context
from devkit.local_secrets import seed_connections
from devkit.queue_delivery import deliver_once
from devkit.sandbox import RunningSandbox, start_sandbox
from devkit.template import dead_letter_queue, function, load_template
from tests.log_capture import captured_logs

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def keyed_table(moto: MotoServer, prefix: str, ttl_attribute: str) -> Iterator[str]:
    """A table keyed by ``id`` with a TTL attribute, as the template's tables are, deleted afterwards."""
    client = dynamodb_client(moto.endpoint_url)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True}
    )
    try:
        yield name
    finally:
        client.delete_table(TableName=name)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template(REPO / "template.yaml")


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with start_moto() as server:
        yield server


@pytest.fixture
def stack(template, moto) -> LocalStack:
    """The template's queues and tables, new for each test (PurgeQueue is allowed once a minute).

    Tables go too: a rate-limit pause or an idempotency record one test leaves must not hold up the next.
    """
    client = sqs_client(moto.endpoint_url)
    for url in client.list_queues().get("QueueUrls", []):
        client.delete_queue(QueueUrl=url)
    dynamodb = dynamodb_client(moto.endpoint_url)
    for name in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=name)
    return provision(template, moto.endpoint_url)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with start_sandbox(seed=7) as running:
        yield running


@pytest.fixture
def control(sandbox) -> Iterator[httpx.Client]:
    """The sandbox's control API, reset before each test."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        client.post("/_sandbox/reset").raise_for_status()
        yield client


@pytest.fixture
def sqs(stack):
    return sqs_client(stack.endpoint_url)


class LocalFunction:
    """One function of the template, pointed at moto and the sandbox."""

    def __init__(self, logical_id: str, template: dict[str, Any], stack: LocalStack, sqs: Any) -> None:
        self.spec = function(template, REPO, logical_id)
        self.stack = stack
        self._sqs = sqs
        package = self.spec.handler.split(".")[0]
        self.handler = importlib.import_module(f"{package}.handler")
        self.runtime = importlib.import_module(f"{package}.runtime").runtime
        [source] = self.spec.sqs_sources
        self.queue = stack.queues[source.queue]
        self.dead_letter_queue = stack.queues[dead_letter_queue(template, source.queue)]

    def environment(self) -> dict[str, str]:
        return {
            **self.stack.function_environment(self.spec.logical_id),
            "AWS_ENDPOINT_URL": self.stack.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "VENDOR_TIMEOUT_SECONDS": "1.5",
        }

    def new_container(self) -> None:
        """What a cold start gives: nothing cached from earlier invocations."""
        self.runtime.cache_clear()

    def invoke(self, event: dict[str, Any], timeout: float | None = None) -> Any:
        """Call the handler as Lambda would: the deadline is the template's Timeout, or ``timeout`` seconds."""
        context = new_context(self.spec.logical_id, self.spec.memory_size, timeout or self.spec.timeout)
        return self.handler.lambda_handler(event, context)

    def send(self, *bodies: dict[str, Any] | str) -> list[str]:
        """Put message bodies on the function's queue; return their message ids."""
        return [
            self._sqs.send_message(QueueUrl=self.queue.url, MessageBody=b if isinstance(b, str) else dumps_exact(b))[
                "MessageId"
            ]
            for b in bodies
        ]

    def deliver(self, timeout: float | None = None) -> tuple[dict[str, Any], list[str]]:
        """One batch from the queue through the handler, settled as the event source mapping does."""
        return deliver_once(self._sqs, self.queue.url, self.queue.arn, lambda event: self.invoke(event, timeout))

    def visible(self) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(QueueUrl=self.queue.url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return answer.get("Messages", [])

    def dead_letters(self) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self.dead_letter_queue.url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )
        return answer.get("Messages", [])


@pytest.fixture
def deploy(template, stack, sandbox, control, sqs, monkeypatch) -> Iterator[Callable[[str], LocalFunction]]:
    """``deploy(logical_id)``: that function's environment set, secrets seeded, a cold container."""
    seed_connections(stack, sandbox.url)
    deployed: list[LocalFunction] = []

    def make(logical_id: str) -> LocalFunction:
        local = LocalFunction(logical_id, template, stack, sqs)
        for name, value in local.environment().items():
            monkeypatch.setenv(name, value)
        local.new_container()
        deployed.append(local)
        return local

    yield make
    for local in deployed:
        local.new_container()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the functions log while the test runs, as Powertools formats it."""
    with captured_logs() as captured:
        yield captured


def api_event(
    method: str, path: str, body: Any, headers: dict[str, str], query: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway proxy event (REST API, payload 1.0) as the deployed API would pass it."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"httpMethod": method, "path": f"/dev{path}", "stage": "dev", "requestId": "test"},
        "body": text,
        "isBase64Encoded": False,
    }


def reply(response: dict[str, Any]) -> tuple[int, Any]:
    return response["statusCode"], json.loads(response["body"])


def attributes_of(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}


def vendor_requests(control: httpx.Client, vendor: str, route: str) -> list[dict[str, Any]]:
    """What the sandbox received on ``route`` (e.g. procore.sync), in order."""
    answer = control.get("/_sandbox/requests", params={"vendor": vendor}).json()["requests"]
    return [r for r in answer if r["route"] == route]
