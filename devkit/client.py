"""A small client for people trying the connectors: send a signed webhook, or put a message on a queue.

    python -m devkit.client webhook URL [-X PATCH] [-d BODY_FILE | -d -] [-H "Name: value" ...] [--bearer TOKEN]
    python -m devkit.client enqueue FUNCTION_LOGICAL_ID [-d BODY_FILE | -d -]
    python -m devkit.client redrive FUNCTION_LOGICAL_ID [--stack STACK_NAME] [--limit N]
    python -m devkit.client receipts [--stack STACK_NAME]
    python -m devkit.client status VENDOR KEY [--connection NAME] [--stack STACK_NAME | --url API_URL] [--bearer T]

``webhook`` signs the body with Standard Webhooks (the key from WEBHOOK_SIGNING_SECRET, else the local one that
``make run`` seeds) unless ``--bearer`` is given, and works against the local API or a deployed ``ApiUrl``.
``enqueue`` finds the function's queue in template.yaml and sends to it wherever AWS_ENDPOINT_URL points
(the local emulator, reached with its own dummy credentials and region: no AWS configuration needed) or, without
it, to the AWS account of the current credentials. ``redrive`` moves the function's dead letters back to its
queue once their cause is fixed: SQS's message move task in a deployed stack (``--stack``), the same move done
message by message against the local emulator (which has no move tasks). ``receipts`` prints each delivery
receipt as it reaches the local stack's receipts queue, until Ctrl-C; a deployed stack has no such queue, so
with ``--stack`` it prints the event pattern of the rule a producer subscribes with instead. ``status`` asks the
status route (``GET /deliveries/<vendor>``) what became of the change order sent under a key: on the local API
(``make run``), a deployed stack's (``--stack``: its ``ApiUrl`` output) or any ``--url``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import httpx

from devkit.aws import sqs_client
from devkit.local_aws import REGION, is_local_endpoint
from devkit.local_runtime.runtime import DEFAULT_PORT
from devkit.local_secrets import LOCAL_SIGNING_SECRET
from devkit.receipts import LOCAL_RECEIPTS_QUEUE, PRODUCER_EVENT_PATTERN, watch_receipts
from devkit.redrive import QueuePair, move_messages, start_move_task
from devkit.template import REPO_ROOT, dead_letter_queue, function, load_template
from devkit.webhook_signing import signed_headers

# The local API as ``make run`` serves it, and the vendors the status route is asked about (its path's last part).
LOCAL_API_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
VENDORS = ("procore", "prime", "constructiononline")


def send_webhook(
    url: str, body: str, method: str = "POST", headers: dict[str, str] | None = None, bearer: str | None = None
) -> httpx.Response:
    """Send ``body`` to ``url``, authenticated with a bearer token or a fresh Standard Webhooks signature."""
    auth = (
        {"Authorization": f"Bearer {bearer}"}
        if bearer
        else signed_headers(os.environ.get("WEBHOOK_SIGNING_SECRET", LOCAL_SIGNING_SECRET), body)
    )
    all_headers = {"Content-Type": "application/json", **(headers or {}), **auth}
    return httpx.request(method, url, content=body.encode(), headers=all_headers, timeout=60)


def enqueue(logical_id: str, body: str, template_path: Path = REPO_ROOT / "template.yaml") -> str:
    """Send ``body`` to the queue that feeds ``logical_id``; return the message id."""
    template = load_template(template_path)
    [source] = function(template, template_path.parent, logical_id).sqs_sources
    sqs = _sqs()
    queue_url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
    message_id: str = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]
    return message_id


def redrive(
    logical_id: str,
    stack: str | None = None,
    limit: int | None = None,
    template_path: Path = REPO_ROOT / "template.yaml",
) -> str:
    """Move ``logical_id``'s dead letters back to its queue; say what was done.

    With ``stack`` (a deployed stack's name) the queues are that stack's and SQS's move task does the work;
    without it they are the local emulator's, named by their logical ids, and the messages are moved here.
    """
    template = load_template(template_path)
    [source] = function(template, template_path.parent, logical_id).sqs_sources
    sqs = _sqs()
    names = (source.queue, dead_letter_queue(template, source.queue))
    if stack is None:
        urls = [sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in names]
    else:
        cloudformation = boto3.client("cloudformation", region_name=os.environ.get("AWS_REGION", REGION))
        urls = [
            cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=name)["StackResourceDetail"][
                "PhysicalResourceId"
            ]
            for name in names
        ]
    arns = [
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] for url in urls
    ]
    pair = QueuePair(queue_url=urls[0], queue_arn=arns[0], dead_letter_url=urls[1], dead_letter_arn=arns[1])
    if stack is None:
        return f"moved {move_messages(sqs, pair, limit)} message(s) from {names[1]} to {names[0]}"
    return f"started message move task {start_move_task(sqs, pair)} from {pair.dead_letter_arn} to {pair.queue_arn}"


def receipts(stack: str | None = None) -> int:
    """Print the local stack's delivery receipts as they arrive, until Ctrl-C; return the exit status.

    The receipts queue is the dev kit's own (``devkit.receipts``): with ``stack`` (a deployed stack's name) this
    says so and prints the event pattern of the rule a producer subscribes with.
    """
    if stack is not None:
        print(
            f"{stack} is a deployed stack: its receipts reach only the rules its producers put on its delivery bus "
            "(the stack's DeliveryEventBusName output); see docs/operations.md, 'Delivery receipts'. "
            "A rule with this event pattern gets every receipt:",
            file=sys.stderr,
        )
        print(json.dumps(PRODUCER_EVENT_PATTERN, indent=2))
        return 1
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    if not (endpoint_url and is_local_endpoint(endpoint_url)):
        print("Set AWS_ENDPOINT_URL to the local AWS emulator (make run prints it), or give --stack.", file=sys.stderr)
        return 1
    sqs = sqs_client(endpoint_url)
    try:
        queue_url = sqs.get_queue_url(QueueName=LOCAL_RECEIPTS_QUEUE)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        print(f"No {LOCAL_RECEIPTS_QUEUE} queue at {endpoint_url}: is `make run` serving there?", file=sys.stderr)
        return 1
    print(f"Receipts reaching {queue_url}, one line each (taken off the queue); Ctrl-C stops.", file=sys.stderr)
    # Ctrl-C is the way out: a receive is waiting for the next receipt most of the time.
    with contextlib.suppress(KeyboardInterrupt):
        watch_receipts(sqs, queue_url, lambda line: print(line, flush=True))
    return 0


def delivery_status(
    vendor: str,
    key: str,
    connection: str | None = None,
    api_url: str = LOCAL_API_URL,
    bearer: str | None = None,
) -> httpx.Response:
    """Ask ``api_url``'s status route what became of the change order sent to ``vendor`` under ``key``."""
    query = {"key": key, **({"connection": connection} if connection else {})}
    url = httpx.URL(f"{api_url.rstrip('/')}/deliveries/{vendor}", params=query)
    return send_webhook(str(url), "", "GET", bearer=bearer)


def stack_api_url(stack: str) -> str:
    """A deployed stack's ``ApiUrl`` output."""
    cloudformation = boto3.client("cloudformation", region_name=os.environ.get("AWS_REGION", REGION))
    [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return next(str(output["OutputValue"]) for output in described["Outputs"] if output["OutputKey"] == "ApiUrl")


def _sqs() -> Any:
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint_url and is_local_endpoint(endpoint_url):
        # The local stack's credentials and region, not the caller's (who may have none): what its queues live under.
        return sqs_client(endpoint_url)
    return boto3.client("sqs", region_name=os.environ.get("AWS_REGION", REGION))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m devkit.client", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    webhook = commands.add_parser("webhook", help="send a signed (or bearer) request to an API route")
    webhook.add_argument("url")
    webhook.add_argument("-X", "--method", default="POST")
    webhook.add_argument("-d", "--data", default="-", help="body file, '-' for stdin")
    webhook.add_argument("-H", "--header", action="append", default=[], help='"Name: value"')
    webhook.add_argument("--bearer", help="send Authorization: Bearer TOKEN instead of a signature")
    queued = commands.add_parser("enqueue", help="put a message on a function's queue")
    queued.add_argument("function", metavar="FUNCTION_LOGICAL_ID")
    queued.add_argument("-d", "--data", default="-", help="body file, '-' for stdin")
    redriven = commands.add_parser("redrive", help="move a function's dead letters back to its queue")
    redriven.add_argument("function", metavar="FUNCTION_LOGICAL_ID")
    redriven.add_argument("--stack", help="a deployed stack's name: start SQS's message move task there")
    redriven.add_argument("--limit", type=int, help="move at most this many (local emulator)")
    watched = commands.add_parser("receipts", help="print delivery receipts as they reach the local stack")
    watched.add_argument("--stack", help="a deployed stack's name: print the event pattern to subscribe with")
    asked = commands.add_parser("status", help="what became of the change order sent under a key")
    asked.add_argument("vendor", choices=VENDORS)
    asked.add_argument("key", help="its Idempotency-Key, else its SQS message id or webhook-id")
    asked.add_argument("--connection", help="the connection it was sent to (default: default)")
    where = asked.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed stack's name: ask its API (the ApiUrl output)")
    where.add_argument("--url", default=LOCAL_API_URL, help=f"the API's base URL (default {LOCAL_API_URL})")
    asked.add_argument("--bearer", help="send Authorization: Bearer TOKEN instead of a signature")
    arguments = parser.parse_args(argv)
    if arguments.command == "status":
        api_url = stack_api_url(arguments.stack) if arguments.stack else arguments.url
        response = delivery_status(arguments.vendor, arguments.key, arguments.connection, api_url, arguments.bearer)
        print(response.status_code, file=sys.stderr)
        print(response.text)
        return 0 if response.is_success else 1
    if arguments.command == "redrive":
        print(redrive(arguments.function, arguments.stack, arguments.limit))
        return 0
    if arguments.command == "receipts":
        return receipts(arguments.stack)
    body = sys.stdin.read() if arguments.data == "-" else Path(arguments.data).read_text()
    if arguments.command == "webhook":
        headers = dict(h.split(":", 1) for h in arguments.header)
        headers = {name.strip(): value.strip() for name, value in headers.items()}
        response = send_webhook(arguments.url, body, arguments.method.upper(), headers, arguments.bearer)
        print(response.status_code, file=sys.stderr)
        print(response.text)
        return 0 if response.is_success else 1
    print(json.dumps({"MessageId": enqueue(arguments.function, body)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
