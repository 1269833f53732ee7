"""The local AWS: a moto server process, the template's resources created in it, and clients that reach it.

Resources are created by type through ``_PROVISIONERS``; supporting another type means one provisioner
function, its entry there, and the client it needs on ``_Clients``. Besides the template's resources, a template
with an event bus gets the dev kit's receipts queue, subscribed to every bus (``devkit.receipts``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from graphlib import TopologicalSorter
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

import boto3

from devkit.intrinsics import (
    NO_VALUE,
    LocalValues,
    ResourceValues,
    UnresolvableError,
    cfn_text,
    condition_holds,
    references,
    resolve,
)
from devkit.local_aws import DUMMY_CREDENTIALS, REGION, function_arn
from devkit.receipts import LOCAL_EVENT_PATTERN, LOCAL_RECEIPTS_QUEUE, LOCAL_RECEIPTS_RULE
from devkit.template import TemplateError, resolve_parameters, resources_of_type

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

_MOTO_HOST = "127.0.0.1"
_MOTO_STARTUP_SECONDS = 30.0
_MOTO_STOP_SECONDS = 10.0

# CloudFormation properties of AWS::SQS::Queue that are SQS queue attributes under the same name.
_QUEUE_ATTRIBUTES: frozenset[QueueAttributeNameType] = frozenset(
    {
        "DelaySeconds",
        "KmsDataKeyReusePeriodSeconds",
        "KmsMasterKeyId",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "RedriveAllowPolicy",
        "RedrivePolicy",
        "SqsManagedSseEnabled",
        "VisibilityTimeout",
    }
)


class MotoServer:
    """A moto server running as a child process; stop it (or use it as a context manager) when done."""

    def __init__(self, process: subprocess.Popen[bytes], endpoint_url: str, log: IO[bytes]) -> None:
        self.process = process
        self.endpoint_url = endpoint_url
        self._log = log

    def stop(self) -> None:
        """Terminate the server and wait for it to exit (killed if it does not); safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_MOTO_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_moto(port: int = 0) -> MotoServer:
    """Start the devkit's moto server (``devkit.bench.fast_moto``) on 127.0.0.1 (``port`` 0: a free one).

    Returns once it answers.
    """
    port = port or _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the MotoServer, closed by stop()
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.bench.fast_moto", "-H", _MOTO_HOST, "-p", str(port)], stdout=log, stderr=log
    )
    server = MotoServer(process, f"http://{_MOTO_HOST}:{port}", log)
    try:
        deadline = time.monotonic() + _MOTO_STARTUP_SECONDS
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-4000:]
                raise RuntimeError(f"moto server on port {port} did not start:\n{tail}")
            time.sleep(0.05)
    except BaseException:
        server.stop()  # also on Ctrl-C while it starts: the caller has no server to stop yet
        raise
    return server


def sqs_client(endpoint_url: str) -> SQSClient:
    """Return an SQS client for the local endpoint."""
    return _session().client("sqs", endpoint_url=endpoint_url)


def dynamodb_client(endpoint_url: str) -> DynamoDBClient:
    """Return a DynamoDB client for the local endpoint."""
    return _session().client("dynamodb", endpoint_url=endpoint_url)


def events_client(endpoint_url: str) -> EventBridgeClient:
    """Return an EventBridge client for the local endpoint."""
    return _session().client("events", endpoint_url=endpoint_url)


def secretsmanager_client(endpoint_url: str) -> SecretsManagerClient:
    """Return a Secrets Manager client for the local endpoint."""
    return _session().client("secretsmanager", endpoint_url=endpoint_url)


def put_secret(endpoint_url: str, name: str, value: Mapping[str, Any]) -> str:
    """Create the secret ``name`` holding ``value`` as a JSON string, or replace its value; return its ARN."""
    client = secretsmanager_client(endpoint_url)
    secret_string = json.dumps(value)
    try:
        return client.create_secret(Name=name, SecretString=secret_string)["ARN"]
    except client.exceptions.ResourceExistsException:
        return client.put_secret_value(SecretId=name, SecretString=secret_string)["ARN"]


@dataclass(frozen=True)
class LocalQueue:
    """A queue created in the local stack."""

    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class LocalStack:
    """The template's resources as created on a local endpoint, and the values intrinsics resolve to there."""

    template: Mapping[str, Any]
    endpoint_url: str
    values: LocalValues
    # The queue every delivery receipt reaches (``devkit.receipts``); None when the template has no event bus.
    receipts_queue_url: str | None = None

    @property
    def parameters(self) -> Mapping[str, str]:
        """The parameter values the stack was provisioned with."""
        return self.values.parameters

    @property
    def queues(self) -> dict[str, LocalQueue]:
        """Every created queue by logical id."""
        return {
            logical_id: LocalQueue(
                name=resource.attributes["QueueName"], url=resource.ref, arn=resource.attributes["Arn"]
            )
            for logical_id in resources_of_type(self.template, "AWS::SQS::Queue")
            if (resource := self.values.resources.get(logical_id)) is not None
        }

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Return the function's Environment Variables resolved to plain strings."""
        functions = resources_of_type(self.template, "AWS::Lambda::Function")
        if logical_id not in functions:
            raise TemplateError(f"no function {logical_id} in the template")
        variables = functions[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        return resolve_environment(variables, self.values)


def template_values(template: Mapping[str, Any], parameters: Mapping[str, str]) -> LocalValues:
    """Return the values known without any server: parameters, conditions and the functions' local names."""
    functions = {
        logical_id: ResourceValues(ref=logical_id, attributes={"Arn": function_arn(logical_id)})
        for logical_id in resources_of_type(template, "AWS::Lambda::Function")
    }
    return LocalValues(parameters=parameters, resources=functions, conditions=template.get("Conditions", {}))


def resolve_environment(variables: Mapping[str, Any], values: LocalValues) -> dict[str, str]:
    """Resolve Lambda Environment Variables to the strings the function sees (NO_VALUE ones are left out)."""
    resolved = {}
    for name, value in variables.items():
        try:
            text = resolve(value, values)
            if text is not NO_VALUE:
                resolved[name] = cfn_text(text)
        except UnresolvableError as error:
            raise UnresolvableError(f"environment variable {name}: {error}") from error
    return resolved


def provision(
    template: Mapping[str, Any], endpoint_url: str, parameter_overrides: Mapping[str, str] | None = None
) -> LocalStack:
    """Create the template's resources on ``endpoint_url`` (idempotent) and return the resulting LocalStack.

    Each queue is named after its logical id (or its QueueName property), so names live in the template only.
    """
    values = template_values(template, resolve_parameters(template, parameter_overrides))
    created = dict(values.resources)
    clients = _Clients(endpoint_url)
    for logical_id, resource in _in_creation_order(template):
        current = replace(values, resources=created)
        if "Condition" in resource and not condition_holds(resource["Condition"], current):
            continue
        properties = resolve(resource.get("Properties", {}), current)
        created[logical_id] = _PROVISIONERS[resource["Type"]](clients, logical_id, properties)
    buses = [created[bus].ref for bus in resources_of_type(template, "AWS::Events::EventBus") if bus in created]
    return LocalStack(
        template=template,
        endpoint_url=endpoint_url,
        values=replace(values, resources=created),
        receipts_queue_url=_subscribe_receipts(clients, buses) if buses else None,
    )


class _Clients:
    """The clients provisioners use, each made once per provision() call."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    @cached_property
    def sqs(self) -> SQSClient:
        return sqs_client(self.endpoint_url)

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return dynamodb_client(self.endpoint_url)

    @cached_property
    def events(self) -> EventBridgeClient:
        return events_client(self.endpoint_url)


def _provision_queue(clients: _Clients, logical_id: str, properties: Mapping[str, Any]) -> ResourceValues:
    if properties.get("FifoQueue"):
        raise TemplateError(f"{logical_id}: FIFO queues are not provisioned locally yet")
    name = properties.get("QueueName", logical_id)
    # Create without attributes, then set them: create_queue refuses an existing queue with other attributes,
    # and this way a second provision (say with another MaxReceiveCount) updates instead of failing.
    url = clients.sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = {
        attribute: json.dumps(value) if isinstance(value, dict) else cfn_text(value)
        for attribute in _QUEUE_ATTRIBUTES
        if (value := properties.get(attribute)) is not None
    }
    if attributes:
        clients.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return ResourceValues(ref=url, attributes={"Arn": arn, "QueueName": name, "QueueUrl": url})


def _provision_table(clients: _Clients, logical_id: str, properties: Mapping[str, Any]) -> ResourceValues:
    if properties.get("BillingMode") != "PAY_PER_REQUEST":
        raise TemplateError(f"{logical_id}: only on-demand (PAY_PER_REQUEST) tables are provisioned locally")
    name = properties.get("TableName", logical_id)
    # Provisioned before (a second provision of the same stack): keep the table and its items.
    with contextlib.suppress(clients.dynamodb.exceptions.ResourceInUseException):
        clients.dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
        )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        clients.dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
        )
    arn = clients.dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
    return ResourceValues(ref=name, attributes={"Arn": arn})


def _provision_event_bus(clients: _Clients, logical_id: str, properties: Mapping[str, Any]) -> ResourceValues:
    name = properties["Name"]
    # Provisioned before: the bus and its rules stay.
    with contextlib.suppress(clients.events.exceptions.ResourceAlreadyExistsException):
        clients.events.create_event_bus(Name=name)
    arn = clients.events.describe_event_bus(Name=name)["Arn"]
    return ResourceValues(ref=name, attributes={"Arn": arn, "Name": name})


def _subscribe_receipts(clients: _Clients, buses: list[str]) -> str:
    """Create the receipts queue and, on each bus, the rule that sends it every receipt; return its URL."""
    queue = _provision_queue(clients, LOCAL_RECEIPTS_QUEUE, {})
    # No queue policy letting events.amazonaws.com send: moto's rules deliver in-process, without IAM.
    for bus in buses:
        clients.events.put_rule(
            Name=LOCAL_RECEIPTS_RULE, EventBusName=bus, EventPattern=json.dumps(LOCAL_EVENT_PATTERN)
        )
        clients.events.put_targets(
            Rule=LOCAL_RECEIPTS_RULE,
            EventBusName=bus,
            Targets=[{"Id": LOCAL_RECEIPTS_QUEUE, "Arn": queue.attributes["Arn"]}],
        )
    return queue.ref


_PROVISIONERS: Mapping[str, Callable[[_Clients, str, Mapping[str, Any]], ResourceValues]] = {
    "AWS::SQS::Queue": _provision_queue,
    "AWS::DynamoDB::Table": _provision_table,
    "AWS::Events::EventBus": _provision_event_bus,
}


def _in_creation_order(template: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    # A resource comes after those it refers to (a queue after its dead-letter queue).
    resources = {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") in _PROVISIONERS
    }
    dependencies = {
        logical_id: (references(resource.get("Properties", {})) | _depends_on(resource)) & resources.keys()
        for logical_id, resource in resources.items()
    }
    for logical_id in TopologicalSorter(dependencies).static_order():
        yield logical_id, resources[logical_id]


def _depends_on(resource: Mapping[str, Any]) -> set[str]:
    depends_on = resource.get("DependsOn", [])
    return {depends_on} if isinstance(depends_on, str) else set(depends_on)


def _session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((_MOTO_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection(_MOTO_HOST, port, timeout=1)
    try:
        connection.request("GET", "/moto-api/")
        return connection.getresponse().status == http.HTTPStatus.OK
    except OSError:
        return False
    finally:
        connection.close()
