"""``make run`` and ``make demo``: the whole application on this machine, without Docker or an AWS account.

Starts the AWS emulator (moto) and the vendor sandbox as processes, creates the template's queues and the
secrets, starts the local runtime (the API routes on 127.0.0.1, a poller per queue, warm worker processes),
sends the sample events in events/ through both triggers of every function, prints what each vendor stored and
what went to the dead-letter queues. ``--serve`` (make run) then keeps serving, showing deliveries as they
happen, until Ctrl-C; without it (make demo) it stops at once and exits non-zero if a sample did not end as
expected. Either way it stops everything it started.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from devkit.aws import LocalStack, sqs_client
from devkit.client import delivery_status, send_webhook
from devkit.local_runtime.runtime import DEFAULT_PORT, LocalRuntime
from devkit.local_secrets import LOCAL_BEARER_TOKEN, LOCAL_SIGNING_SECRET, secret_prefix
from devkit.receipts import LOCAL_RECEIPTS_QUEUE, receipt_line, watch_receipts
from devkit.running_stack import running_stack
from devkit.stop_signal import wait_for_stop_signal
from devkit.template import REPO_ROOT, FunctionSpec, dead_letter_queue, function, load_template
from devkit.webhook_signing import signed_headers

EVENTS = REPO_ROOT / "events"
FUNCTION_LOG = REPO_ROOT / ".build" / "make-run.log"
FUNCTION_LOGS = REPO_ROOT / ".build" / "function-logs"


@dataclass(frozen=True)
class Samples:
    """One function's sample events and how to show what its vendor stored."""

    logical_id: str
    events: str
    api_cases: tuple[tuple[str, int], ...]
    stored_path: str
    stored_key: str
    columns: tuple[str, ...]
    invalid_queued: int
    """How many records of sqs-bad-input.json are invalid (and must end in the dead-letter queue)."""
    stored: int
    """How many records the vendor holds once the samples are through."""


SAMPLES = (
    Samples(
        "ProcorePcoSyncFunction",
        "procore_pco_sync",
        (("api.json", 200), ("api-bad-input.json", 400)),
        "/_sandbox/procore/pcos",
        "pcos",
        ("id", "origin_id", "number", "status", "title"),
        1,
        5,
    ),
    Samples(
        "PrimeChangeOrderSovBatchFunction",
        "prime_change_order_sov_batch",
        (("api.json", 201), ("api-bad-input.json", 400)),
        "/_sandbox/prime/sovs",
        "sovs",
        ("sovId", "changeOrderLineItemId", "sovType", "name"),
        1,
        4,
    ),
    Samples(
        "ConstructionOnlineChangeOrderUpdateFunction",
        "constructiononline_change_order_update",
        (("api.json", 200), ("api-body.json", 200), ("api-bad-input.json", 400)),
        "/_sandbox/constructiononline/change-orders",
        "change_orders",
        ("ID", "CONDITION", "COST_MONEY", "PRICE", "DETAILS", "NOTES"),
        1,
        3,
    ),
)


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send this process's and its children's stderr (the functions' logs) to ``path`` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    sys.stderr.flush()
    with path.open("w") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return 0 when every sample ended as expected."""
    parser = argparse.ArgumentParser(prog="python -m devkit.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="keep serving after the samples, until Ctrl-C")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port (default 3000; 0: a free one)")
    arguments = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Through a pipe (make run | tee, a test) stdout is block-buffered: "Serving;" would wait for the next line.
        sys.stdout.reconfigure(line_buffering=True)
    template = load_template(REPO_ROOT / "template.yaml")
    ok = True
    with ExitStack() as running:
        running.enter_context(stderr_to(FUNCTION_LOG))
        local = running.enter_context(running_stack(template))
        stack = local.stack
        _print_setup(local.endpoint_url, local.sandbox_url, stack)
        runtime = running.enter_context(LocalRuntime(stack, port=arguments.port, function_logs=FUNCTION_LOGS))
        for samples in SAMPLES:
            spec = function(template, REPO_ROOT, samples.logical_id)
            print(f"\n######## {samples.logical_id}")
            ok &= _deliver_api_events(runtime.api_url, spec, samples)
            if samples is SAMPLES[0]:
                ok &= _show_caller_authentication(runtime.api_url, samples)
            queued, delivered_ids = _deliver_sqs_events(stack, spec, samples)
            ok &= queued and _show_status(runtime.api_url, spec, delivered_ids[0])
            ok &= _print_what_the_vendor_stored(local.sandbox_url, samples)
            ok &= _print_receipts(stack, samples)
        print("\nAll samples ended as expected." if ok else "\nSome samples did not end as expected (see above).")
        if arguments.serve:
            _print_try_it(runtime.api_url, local.endpoint_url)
            if stack.receipts_queue_url is not None:
                queue_url = stack.receipts_queue_url
                watching = threading.Thread(
                    target=watch_receipts,
                    args=(sqs_client(stack.endpoint_url), queue_url, lambda line: print(f"receipt  {line}")),
                    daemon=True,  # it waits on the queue until the process ends
                )
                watching.start()
            _serve_until_interrupted()
    print("Stopped the local runtime, the AWS emulator and the vendor sandbox.")
    print(f"The functions' logs: {FUNCTION_LOGS.relative_to(REPO_ROOT)}/<function>.log")
    return 0 if ok else 1


def _serve_until_interrupted() -> None:
    print("\nServing; deliveries and receipts show below as they happen. Ctrl-C stops everything.")
    wait_for_stop_signal()


def _print_try_it(api_url: str, aws_url: str) -> None:
    procore = "/procore/rest/v1.0/potential_change_orders/sync?project_id=298401&contract_id=562949953421312"
    body = '{"updates": [{"origin_id": "try-1", "title": "Tried by hand", "status": "draft"}]}'
    print("\n== Try it (in another terminal, from this folder)")
    print(f"  echo '{body}' | .venv/bin/python -m devkit.client webhook -X PATCH \\")
    print(f"      -H 'Procore-Company-Id: 4264807' '{api_url}{procore}'")
    print(f"  curl -X PATCH -H 'Authorization: Bearer {LOCAL_BEARER_TOKEN}' -H 'Procore-Company-Id: 4264807' \\")
    print(f"      -H 'Idempotency-Key: try-1' -H 'Content-Type: application/json' -d '{body}' '{api_url}{procore}'")
    # The message spelled out, as the webhook's body is: jq or bash's <(...) may not be there.
    message = (
        '{"connection": "default", "company_id": 4264807, "project_id": 298401, "contract_id": 562949953421312, '
        '"updates": [{"origin_id": "try-2", "title": "Queued by hand", "status": "draft"}]}'
    )
    # AWS_ENDPOINT_URL says where the emulator is; the client brings the emulator's credentials and region itself.
    print(f"  echo '{message}' | \\")
    print(f"      AWS_ENDPOINT_URL={aws_url} .venv/bin/python -m devkit.client enqueue ProcorePcoSyncFunction")
    # What became of the curl request, by its Idempotency-Key (the status route, signed as the webhook is).
    print(f"  .venv/bin/python -m devkit.client status procore try-1 --url {api_url}")


def _print_setup(aws_url: str, sandbox_url: str, stack: LocalStack) -> None:
    print("== Change-order connectors, running locally (no Docker, no AWS account)")
    print(f"AWS emulator (moto)  {aws_url}")
    print(f"Vendor sandbox       {sandbox_url}")
    print(f"Queues from template {', '.join(sorted(stack.queues))}")
    prefix = secret_prefix(stack)
    print(f"Secrets              {prefix}/webhook, {prefix}/<vendor>/default for each vendor (at the sandbox)")


def _deliver_api_events(api_url: str, spec: FunctionSpec, samples: Samples) -> bool:
    route = next(route for route in spec.api_routes if route.method != "GET")  # not the status route
    print(f"== API trigger: {route.method} {route.path}")
    ok = True
    for name, expected in samples.api_cases:
        event = _load(samples, name)
        response = httpx.request(
            event["httpMethod"],
            api_url + event["path"],
            params=event.get("queryStringParameters"),
            headers=event["headers"],
            content=(event.get("body") or "").encode(),
            timeout=60,
        )
        ok &= _report(f"events/{samples.events}/{name}", response, expected)
    return ok


def _show_caller_authentication(api_url: str, samples: Samples) -> bool:
    event = _load(samples, "api.json")
    url = api_url + event["path"]
    company = {"Procore-Company-Id": event["headers"]["Procore-Company-Id"]}
    query = event["queryStringParameters"]
    signed = send_webhook(f"{url}?{urlencode(query)}", event["body"], event["httpMethod"], company)
    ok = _report("api.json signed with Standard Webhooks (an upsert: no duplicate)", signed, 200)
    headers = {**company, **signed_headers(LOCAL_SIGNING_SECRET, event["body"])}
    altered = event["body"].replace("Rock excavation", "Rock excavation (altered)")
    forged = httpx.request(event["httpMethod"], url, params=query, headers=headers, content=altered.encode())
    return ok & _report("the same signature on an altered body", forged, 401)


def _report(label: str, response: httpx.Response, expected: int) -> bool:
    status = response.status_code
    body = response.json()
    if "error" in body:
        error = body["error"]
        problems = "; ".join(f"{p['field']}: {p['message']}" for p in error.get("problems", [])[:3])
        summary = f"{error['failure']}: {_shorten(problems or error['message'])}"
    elif isinstance(body, list):
        summary = f"{len(body)} created"
    elif "entities" in body:
        summary = f"{len(body['entities'])} stored, {len(body['errors'])} refused"
    else:
        summary = f"change order {body.get('ID')} updated"
    as_expected = bool(status == expected)
    mark = "" if as_expected else f"   <-- expected {expected}"
    print(f"  {label:<68} -> {status} {summary}{mark}")
    return as_expected


def _deliver_sqs_events(stack: LocalStack, spec: FunctionSpec, samples: Samples) -> tuple[bool, list[str]]:
    """Queue the samples and wait for them to settle; whether they ended as expected, and the good ones' ids."""
    [source] = spec.sqs_sources
    queue = stack.queues[source.queue]
    sqs = sqs_client(stack.endpoint_url)
    good = [r["body"] for r in _load(samples, "sqs.json")["Records"]]
    bad = [r["body"] for r in _load(samples, "sqs-bad-input.json")["Records"]]
    sent = [sqs.send_message(QueueUrl=queue.url, MessageBody=body)["MessageId"] for body in good + bad]
    print(f"== SQS trigger: {len(good + bad)} messages on {queue.name} (sqs.json and sqs-bad-input.json)")
    drained = _wait_until_drained(sqs, queue.url)
    print("  the queue is empty: every record settled" if drained else "  records still on the queue after 60 s")
    dead_letters = _dead_letters(stack, dead_letter_queue(stack.template, source.queue))
    for attributes in dead_letters:
        print(f"  dead-lettered, {attributes['error_class']}: {_shorten(attributes['error_message'])}")
    invalid = [a for a in dead_letters if a["error_class"] == "invalid_input"]
    return drained and len(invalid) == len(dead_letters) == samples.invalid_queued, sent[: len(good)]


def _show_status(api_url: str, spec: FunctionSpec, message_id: str) -> bool:
    """Ask the function's status route about a delivered sample: delivered, with the vendor's ids."""
    route = next(route for route in spec.api_routes if route.method == "GET")
    vendor = route.path.rsplit("/", 1)[-1]
    response = delivery_status(vendor, message_id, api_url=api_url)
    answer = response.json() if response.status_code == 200 else {}
    print(f"== Status: python -m devkit.client status {vendor} {message_id}")
    shown = json.dumps({k: answer.get(k) for k in ("state", "vendor_ids")}, separators=(",", ":"))
    print(f"  -> {response.status_code} {_shorten(shown)}")
    return answer.get("state") == "delivered" and bool(answer.get("vendor_ids"))


def _print_receipts(stack: LocalStack, samples: Samples) -> bool:
    """The receipts the samples got (from the local receipts queue, taken off it), and whether they are the expected.

    Every delivered sample has a delivered receipt naming the vendor's ids, every invalid queued one a
    dead-lettered receipt, and the API's invalid sample a refused one.
    """
    if stack.receipts_queue_url is None:
        return True
    sqs = sqs_client(stack.endpoint_url)
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=stack.receipts_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=stack.receipts_queue_url, ReceiptHandle=message["ReceiptHandle"])
    print(f"== Delivery receipts on the bus (read from the local queue {LOCAL_RECEIPTS_QUEUE}): {len(bodies)}")
    kinds: dict[str, int] = {}
    for body in bodies:
        print(f"  {_shorten(receipt_line(body))}")
        event = json.loads(body)
        named = bool(event["detail"]["vendor_ids"]) or event["detail-type"] != "Change order delivered"
        kinds[event["detail-type"] if named else "delivered without vendor ids"] = (
            kinds.get(event["detail-type"], 0) + 1
        )
    return (
        kinds.get("Change order dead-lettered", 0) == samples.invalid_queued
        and kinds.get("Change order refused", 0) == 1
        and kinds.get("Change order delivered", 0) >= 2  # the API sample and the queued ones
        and "delivered without vendor ids" not in kinds
    )


def _wait_until_drained(sqs: Any, queue_url: str, seconds: float = 60) -> bool:
    """Whether the pollers took every message off the queue within ``seconds``."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        if all(attributes.get(name) == "0" for name in names):
            return True
        time.sleep(0.25)
    return False


def _dead_letters(stack: LocalStack, queue: str) -> list[dict[str, str]]:
    dead = stack.queues[queue]
    answer = sqs_client(stack.endpoint_url).receive_message(
        QueueUrl=dead.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return [
        {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
        for message in answer.get("Messages", [])
    ]


def _print_what_the_vendor_stored(sandbox_url: str, samples: Samples) -> bool:
    records = httpx.get(sandbox_url + samples.stored_path, timeout=10).json()[samples.stored_key]
    print(f"== What the vendor holds now (sandbox {samples.stored_path}): {len(records)}")
    print("  " + " | ".join(samples.columns))
    for record in records:
        cells = ("" if record.get(column) is None else str(record[column]) for column in samples.columns)
        print("  " + " | ".join(_shorten(cell, 40) for cell in cells))
    return len(records) == samples.stored


def _shorten(text: str, limit: int = 150) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load(samples: Samples, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / samples.events / name).read_text())
    return loaded


if __name__ == "__main__":
    sys.exit(main())
