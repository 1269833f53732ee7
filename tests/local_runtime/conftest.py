"""Real parts for the local runtime tests: a moto server, the vendor sandbox, templates and running runtimes.

Each runtime under test writes its delivery lines to a StringIO and its functions' logs to one file per function,
so tests read what a developer would see.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devkit.aws import LocalStack, MotoServer, provision, sqs_client, start_moto
from devkit.local_runtime.runtime import LocalRuntime
from devkit.sandbox import RunningSandbox, start_sandbox
from devkit.template import REPO_ROOT, load_template

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
# Short long polls: each stop() waits for one to end.
POLL_WAIT_SECONDS = 1


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with start_moto() as server:
        yield server


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with start_sandbox(seed=5) as running:
        yield running


@pytest.fixture(scope="session")
def fixture_template() -> dict[str, Any]:
    return load_template(FIXTURE_TEMPLATE)


@pytest.fixture(scope="session")
def repo_template() -> dict[str, Any]:
    return load_template(REPO_ROOT / "template.yaml")


def reset_moto(moto: MotoServer) -> None:
    """Empty the moto server: no queue, message or secret of an earlier test is left."""
    address = urlsplit(moto.endpoint_url)
    assert address.hostname is not None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    connection.request("POST", "/moto-api/reset")
    assert connection.getresponse().status == 200
    connection.close()


@dataclass
class RunningRuntime:
    """A started LocalRuntime, and what it printed and logged."""

    runtime: LocalRuntime
    stack: LocalStack
    out: io.StringIO
    log_dir: Path

    @property
    def url(self) -> str:
        return self.runtime.api_url

    def deliveries(self, function: str | None = None) -> list[str]:
        """The delivery lines so far (of ``function``'s invocations only, when given)."""
        lines = self.out.getvalue().splitlines()
        invocations = [line for line in lines if re.search(r" (api|sqs) \S+ .*: \d+ records? -> ", line)]
        return [line for line in invocations if function is None or f" {function} " in line]

    def function_log(self, function: str) -> str:
        path = self.log_dir / f"{function}.log"
        return path.read_text() if path.exists() else ""

    def reports(self, function: str) -> list[str]:
        """The function's REPORT lines so far."""
        return [line for line in self.function_log(function).splitlines() if line.startswith("REPORT ")]

    def received(self, function: str) -> list[list[str]]:
        """The bodies of each batch the probe consumers printed, in order."""
        lines = [json.loads(line) for line in self.function_log(function).splitlines() if line.startswith("{")]
        return [line["bodies"] for line in lines if line.get("probe") == "received"]

    def send(self, queue: str, *bodies: str) -> list[str]:
        """Put ``bodies`` on the stack's queue ``queue`` in one SendMessageBatch call; their message ids, in order."""
        entries: list[Any] = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)]
        sqs = sqs_client(self.stack.endpoint_url)
        answer = sqs.send_message_batch(QueueUrl=self.stack.queues[queue].url, Entries=entries)
        ids = {entry["Id"]: entry["MessageId"] for entry in answer["Successful"]}
        return [ids[str(index)] for index in range(len(bodies))]

    def messages(self, queue: str) -> list[dict[str, Any]]:
        """What ``queue`` holds (visible messages), without hiding them from the runtime."""
        answer = sqs_client(self.stack.endpoint_url).receive_message(
            QueueUrl=self.stack.queues[queue].url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        return [dict(message) for message in answer.get("Messages", [])]


@contextmanager
def running_runtime(stack: LocalStack, template_dir: Path, log_dir: Path, **options: Any) -> Iterator[RunningRuntime]:
    """A LocalRuntime on a free port, logging to ``log_dir``, stopped when the block ends."""
    out = io.StringIO()
    runtime = LocalRuntime(
        stack,
        template_dir=template_dir,
        port=0,
        function_logs=log_dir,
        out=out,
        poll_wait_seconds=POLL_WAIT_SECONDS,
        **options,
    )
    with runtime:
        yield RunningRuntime(runtime, stack, out, log_dir)


@pytest.fixture
def fixture_stack(moto, fixture_template) -> LocalStack:
    """The fixture template's queues, on an emptied moto server."""
    reset_moto(moto)
    return provision(fixture_template, moto.endpoint_url)


@pytest.fixture
def fixture_runtime(fixture_stack, tmp_path) -> Iterator[RunningRuntime]:
    """A runtime of the fixture template, new for the test."""
    with running_runtime(fixture_stack, FIXTURES, tmp_path / "logs") as running:
        yield running


def wait_for[T](probe: Callable[[], T], timeout: float = 15.0, what: str = "the condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
