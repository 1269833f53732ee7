"""Run the chaos test: ``python -m devkit.chaos [--records 2000]``.

Exit 0 only when, for every function, nothing was lost or duplicated, no valid record was dead-lettered, no
invocation failed and no versioned object was left stale, and every vendor outage refused requests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from devkit.aws import LocalStack, provision, sqs_client, start_moto
from devkit.chaos.invocations import InvocationTally, tally_invocations
from devkit.chaos.ledger import Ledger, StaleObject, VendorSend, count_ledger, find_stale, newest_values
from devkit.chaos.records import (
    CONSTRUCTIONONLINE_VERSIONS,
    PRIME_OLDER_SHAPE_CONNECTION,
    PROCORE_VERSIONS,
    ChaosRecord,
    VersionedVendor,
    build_records,
    build_versioned,
    change_order_ids,
    chaos_prime_record,
    constructiononline_record,
    interleave,
    procore_record,
    send_batches,
)
from devkit.demo import stderr_to
from devkit.local_runtime.runtime import LocalRuntime
from devkit.local_secrets import seed_connections, seed_prime_connection
from devkit.running_stack import sandbox_process
from devkit.template import REPO_ROOT, dead_letter_queue, function, load_template

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

OUTPUT = REPO_ROOT / ".build" / "chaos"
IDEMPOTENCY_KEY = "Idempotency-Key"
VERSION_ATTRIBUTE = "Change-Order-Version"
# Between two edits of one object, so that SQS stamps the newer one with a later SentTimestamp (milliseconds).
EDIT_SPACING_SECONDS = 0.003
STALE_SHOWN = 5  # stale objects printed per function, for diagnosis
# The functions' retry timing scaled down (production: 10 s doubling to 900 s, for 7200 s), so that an outage of
# tens of seconds outlasts what the old retry allowed at this base: 5 receives, waits of 1+2+4+8 s.
RETRY_BACKOFF_BASE_SECONDS = 1
RETRY_BACKOFF_CAP_SECONDS = 10
OLD_RETRY_SECONDS = sum(RETRY_BACKOFF_BASE_SECONDS * 2**n for n in range(4))
# The budget counts from when SQS first accepted a record, so it covers the backlog's age too: the last full run
# took 601 s to drain, and a record first received after minutes in the queue must still get its retries. As
# long as the run waits for the queues (--timeout's default), only the vendor's behaviour, not the backlog's age,
# can dead-letter a valid record.
RETRY_BUDGET_SECONDS = 900
# Only the redrive backstop: at the shortest waits (jitter factor 0.5: 0.5, 1, 2, 4 s, then 5 s each) the budget
# allows 7.5 + 178 x 5 = 897.5 s, 182 waits, 183 receives; the room above is for receives that never reach the
# function's retry decision (timed-out invocations).
MAX_RECEIVE_COUNT = 250
PARAMETERS = {
    # Short vendor timeouts so that injected timeouts cost seconds, not the default ten.
    "VendorTimeoutSeconds": "2",
    "RetryBudgetSeconds": str(RETRY_BUDGET_SECONDS),
    "RetryBackoffBaseSeconds": str(RETRY_BACKOFF_BASE_SECONDS),
    "RetryBackoffCapSeconds": str(RETRY_BACKOFF_CAP_SECONDS),
    "MaxReceiveCount": str(MAX_RECEIVE_COUNT),
}
TIMEOUT_HOLD_MS = 2_500
TOKEN_EXPIRY_EVERY_SECONDS = 2.0
QUIET_CHECKS = 3  # consecutive empty looks at every queue before the run counts as drained


@dataclass(frozen=True)
class Outage:
    """A vendor outage, started as the records are queued: every listed route fails for ``duration_ms``."""

    routes: tuple[str, ...]
    duration_ms: int
    retry_after: int = 0
    drop: bool = False

    def rules(self) -> list[dict[str, Any]]:
        """The sandbox fault rules, one per route."""
        options = {"duration_ms": self.duration_ms, "retry_after": self.retry_after, "drop": self.drop}
        return [{"route": route, "kind": "outage", **options} for route in self.routes]

    def describe(self) -> str:
        """``40 s of 503s with Retry-After: 2`` and the like."""
        if self.drop:
            failure = "dropped connections"
        elif self.retry_after:
            failure = f"503s with Retry-After: {self.retry_after}"
        else:
            failure = "503s without Retry-After"
        return f"{self.duration_ms / 1000:.0f} s of {failure}"


@dataclass(frozen=True)
class Target:
    """One function under test: its records, how to read them back from the vendor and the dead-letter queue, and
    the faults its vendor adds.

    ``token_route`` is None for a vendor that takes credentials on every call (ConstructionOnline).
    ``versions`` makes the target's versioned records (None: its edits are not ordered, Primavera Cloud), and
    ``stored_object`` names a stored item as ``Version.object_key`` does.
    """

    logical_id: str
    vendor: str
    prefix: str
    make: Callable[[str, int, bool], str]
    write_route: str
    token_route: str | None
    outage: Outage
    stored_path: str
    stored_key: str
    stored_token: Callable[[dict[str, Any]], str | None]
    sent_tokens: Callable[[dict[str, Any]], tuple[str, ...]]
    body_tokens: Callable[[Any], tuple[str, ...]]
    versions: VersionedVendor | None = None
    stored_object: Callable[[dict[str, Any]], str | None] = lambda _: None


def _procore_tokens(command: Any) -> tuple[str, ...]:
    updates = command.get("updates", []) if isinstance(command, dict) else []
    return tuple(str(u.get("origin_id")) for u in updates if isinstance(u, dict))


def _prime_tokens(items: Any) -> tuple[str, ...]:
    return tuple(str(i.get("name")) for i in items if isinstance(i, dict)) if isinstance(items, list) else ()


def _co_tokens(co_info: Any) -> tuple[str, ...]:
    return (str(co_info["NOTES"]),) if isinstance(co_info, dict) and "NOTES" in co_info else ()


def _co_query_tokens(entry: dict[str, Any]) -> tuple[str, ...]:
    try:
        return _co_tokens(json.loads(entry["query"].get("coInfo", "")))
    except ValueError:
        return ()


TARGETS = (
    Target(
        "ProcorePcoSyncFunction",
        "procore",
        "pco",
        procore_record,
        "procore.sync",
        "procore.token",
        Outage(("procore.token", "procore.sync"), duration_ms=30_000),
        "/_sandbox/procore/pcos",
        "pcos",
        lambda pco: pco.get("origin_id"),
        lambda entry: _procore_tokens(entry["body"]),
        _procore_tokens,
        PROCORE_VERSIONS,
        lambda pco: pco.get("origin_id"),
    ),
    Target(
        "PrimeChangeOrderSovBatchFunction",
        "prime",
        "sov",
        chaos_prime_record,
        "prime.batch",
        "prime.token",
        Outage(("prime.token", "prime.batch", "prime.sovs_by_parent"), duration_ms=40_000, retry_after=2),
        "/_sandbox/prime/sovs",
        "sovs",
        lambda sov: sov.get("name"),
        lambda entry: _prime_tokens(entry["body"]),
        lambda command: _prime_tokens(command.get("items") if isinstance(command, dict) else None),
    ),
    Target(
        "ConstructionOnlineChangeOrderUpdateFunction",
        "constructiononline",
        "co",
        constructiononline_record,
        "constructiononline.update",
        None,
        Outage(("constructiononline.update", "constructiononline.get"), duration_ms=45_000, drop=True),
        "/_sandbox/constructiononline/change-orders",
        "change_orders",
        lambda change_order: change_order.get("NOTES"),
        _co_query_tokens,
        lambda command: _co_tokens(command.get("coInfo") if isinstance(command, dict) else None),
        CONSTRUCTIONONLINE_VERSIONS,
        lambda change_order: str(change_order.get("ID")),
    ),
)


def faults_for(route: str) -> list[dict[str, Any]]:
    """The probability faults on one vendor write route: most of a run's calls still succeed."""
    return [
        {"route": route, "kind": "unavailable", "probability": 0.03, "retry_after": 1},
        {"route": route, "kind": "status", "status": 500, "probability": 0.03},
        {"route": route, "kind": "status", "status": 429, "probability": 0.02},
        {"route": route, "kind": "timeout", "probability": 0.01, "delay_ms": TIMEOUT_HOLD_MS, "applied": True},
        {"route": route, "kind": "drop", "probability": 0.01, "applied": True},
        {"route": route, "kind": "drop", "probability": 0.01, "applied": False},
        # 2xx answers that break the contract, after applying (the answer is lost) and without.
        {"route": route, "kind": "malformed", "shape": "wrong_shape", "applied": True, "probability": 0.01},
        {"route": route, "kind": "malformed", "shape": "truncated", "applied": True, "probability": 0.01},
        {"route": route, "kind": "malformed", "shape": "html", "applied": False, "probability": 0.01},
        {"route": route, "kind": "malformed", "shape": "empty_object", "applied": False, "probability": 0.01},
    ]


def token_faults_for(route: str) -> list[dict[str, Any]]:
    """Token answers that break the contract: a 200 without the token (issued anyway), or an HTML page."""
    return [
        {"route": route, "kind": "malformed", "shape": "wrong_shape", "applied": True, "probability": 0.03},
        {"route": route, "kind": "malformed", "shape": "html", "applied": False, "probability": 0.02},
    ]


# Real windows, shortened: ConstructionOnline's hourly limit reopens every 2 seconds, Procore's spike window too.
SANDBOX_CONFIG = {
    "constructiononline": {
        # The vendor's four windows per API key, shortened; the monthly one out of the way.
        "hourly_limit": 150,
        "hourly_window_seconds": 2,
        "daily_limit": 600,
        "daily_window_seconds": 10,
        "weekly_limit": 2400,
        "weekly_window_seconds": 60,
        "monthly_limit": 10_000_000,
        # Every 429 words its wait differently: the function must not depend on one wording.
        "limit_wordings": "varied",
    },
    "procore": {"spike_limit": 40, "spike_window_seconds": 2, "hourly_limit": 1_000_000},
}
# The function's windows for the shortened ones: the hour set above the sandbox's 150, so that real 429s still
# happen; the day and the week as the sandbox counts them, booked together; the month the vendor's default.
CONSTRUCTIONONLINE_RATE_LIMITS = {
    "hour": {"requests": 200, "seconds": 2},
    "day": {"requests": 600, "seconds": 10},
    "week": {"requests": 2400, "seconds": 60},
}


def main(argv: list[str] | None = None) -> int:
    """Run the chaos test; 0 when every ledger passed (see ``Ledger.problems``) and every outage hit."""
    parser = argparse.ArgumentParser(prog="python -m devkit.chaos", description=__doc__)
    parser.add_argument("--records", type=int, default=2000, help="records per function (default 2000)")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of records a producer sends twice")
    parser.add_argument("--invalid", type=float, default=0.01, help="share of records invalid on purpose")
    parser.add_argument(
        "--versioned",
        type=float,
        default=0.15,
        help="share of Procore and ConstructionOnline records that are successive edits of one object",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the queues to drain")
    arguments = parser.parse_args(argv)
    rng = random.Random(arguments.seed)  # noqa: S311 - a repeatable test run, not crypto
    run = f"{arguments.seed}-{int(time.time())}"
    records = {target.logical_id: _records(target, f"{target.prefix}-{run}", arguments, rng) for target in TARGETS}
    template = load_template(REPO_ROOT / "template.yaml")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with ExitStack() as running:
        running.enter_context(stderr_to(OUTPUT / "runtime.log"))
        # The bench's moto: plain moto scans a whole queue for every message sent or received, so with the run's
        # thousands of records queued it, not the functions, set the pace and timed invocations out.
        moto = running.enter_context(start_moto())
        sandbox = running.enter_context(sandbox_process(seed=arguments.seed))
        stack = provision(template, moto.endpoint_url, PARAMETERS)
        seed_connections(stack, sandbox.url, constructiononline_rate_limits=CONSTRUCTIONONLINE_RATE_LIMITS)
        control = running.enter_context(httpx.Client(base_url=sandbox.url, timeout=60))
        seed_prime_connection(stack, control, PRIME_OLDER_SHAPE_CONNECTION, "older")
        _prepare_sandbox(
            control,
            change_order_ids([r for t in TARGETS if t.vendor == "constructiononline" for r in records[t.logical_id]]),
        )
        deliveries_log = OUTPUT / "deliveries.log"
        deliveries = running.enter_context(deliveries_log.open("w"))
        running.enter_context(LocalRuntime(stack, port=0, function_logs=OUTPUT / "function-logs", out=deliveries))
        expiries = running.enter_context(_Expirer(control))
        copies = _send_everything(
            stack, records, arguments.duplicates, rng, lambda logical_id: _start_outage(control, logical_id)
        )
        drained = _wait_until_drained(stack, arguments.timeout)
        tallies = tally_invocations(deliveries_log.read_text().splitlines())
        control.delete("/_sandbox/faults").raise_for_status()
        receipts = published_receipts(stack)
        results = [
            _ledger(
                target,
                stack,
                control,
                records[target.logical_id],
                tallies.get(target.logical_id),
                receipts.get(target.logical_id, {}),
            )
            for target in TARGETS
        ]
        injected = _injected_faults(control)
        # Kept for diagnosis: which call carried which record, with what fault and answer.
        (OUTPUT / "requests.json").write_text(control.get("/_sandbox/requests").text)
    elapsed = time.monotonic() - started
    print(f"chaos: {arguments.records} records per function, {copies} duplicate copies sent, seed {arguments.seed}")
    print(
        f"chaos: retry budget {RETRY_BUDGET_SECONDS} s, backoff {RETRY_BACKOFF_BASE_SECONDS} s doubling to "
        f"{RETRY_BACKOFF_CAP_SECONDS} s, MaxReceiveCount {MAX_RECEIVE_COUNT} (the old 5 receives: "
        f"{OLD_RETRY_SECONDS} s at most); outages as the records were queued: "
        + ", ".join(f"{target.vendor} {target.outage.describe()}" for target in TARGETS)
    )
    print(
        f"chaos: {'queues drained' if drained else 'queues NOT drained'} after {elapsed:.0f} s; "
        f"tokens expired {expiries()} times; logs in {OUTPUT.relative_to(REPO_ROOT)}/"
    )
    for vendor, faults in injected.items():
        print(f"chaos: {vendor} faults injected: " + ", ".join(f"{k}={v}" for k, v in sorted(faults.items())))
    for target in TARGETS:
        tally = tallies.get(target.logical_id, InvocationTally())
        by_type = ", ".join(f"{k}={v}" for k, v in sorted(tally.errors.items()))
        print(
            f"chaos: {target.logical_id} invocations: {tally.invocations}, failed: {tally.error_count}"
            + (f" ({by_type})" if by_type else "")
        )
    for result in results:
        print(
            f"chaos: {result.ledger.function} dead letters by class: "
            + ", ".join(f"{k}={v}" for k, v in sorted(result.dead_letter_classes.items()))
        )
    for target in TARGETS:
        edits = Counter(r.version.object_key for r in records[target.logical_id] if r.version is not None)
        if edits:
            print(f"chaos: {target.logical_id} versioned: {edits.total()} edits of {len(edits)} objects")
    for result in results:
        for stale in result.stale[:STALE_SHOWN]:
            print(f"chaos: {result.ledger.function} stale {stale.describe()}")
        if len(result.stale) > STALE_SHOWN:
            print(f"chaos: {result.ledger.function} ... and {len(result.stale) - STALE_SHOWN} more stale objects")
    for result in results:
        for wrong in result.ledger.wrong_receipts[:STALE_SHOWN]:
            print(f"chaos: {result.ledger.function} receipts {wrong}")
        print(result.ledger.line())
    problems = _problems(drained, [result.ledger for result in results], tallies, injected)
    for problem in problems:
        print(f"chaos: FAILED: {problem}")
    return 1 if problems else 0


def _problems(
    drained: bool, ledgers: list[Ledger], tallies: dict[str, InvocationTally], injected: dict[str, Counter[str]]
) -> list[str]:
    """Why the run fails, if it does."""
    problems = [] if drained else ["the queues did not drain in time"]
    problems += [f"{ledger.function}: {', '.join(found)}" for ledger in ledgers if (found := ledger.problems())]
    for target in TARGETS:
        if target.logical_id not in tallies:  # errors=0 would mean nothing: the delivery log was not understood
            problems.append(f"{target.logical_id}: no invocation found in deliveries.log")
        if not injected.get(target.vendor, Counter())["outage"]:
            problems.append(f"{target.vendor}: the outage refused no request, so it showed nothing")
    return problems


def _records(target: Target, prefix: str, arguments: argparse.Namespace, rng: random.Random) -> list[ChaosRecord]:
    """``--records`` records for the target: plain ones, and for an ordered vendor about ``--versioned`` of them
    successive edits of one object, interleaved so that each object's edits are queued oldest first."""
    versioned = (
        build_versioned(prefix, round(arguments.records * arguments.versioned), target.versions, rng)
        if target.versions is not None
        else []
    )
    plain = build_records(prefix, max(0, arguments.records - len(versioned)), arguments.invalid, target.make, rng)
    return interleave(plain, versioned, rng) if versioned else plain


def _prepare_sandbox(control: httpx.Client, change_orders: list[int]) -> None:
    control.post("/_sandbox/config", json=SANDBOX_CONFIG).raise_for_status()
    # The vendor updates only change orders it holds: one per plain record, so each record's update stays
    # visible, and one per versioned object.
    for change_order_id in change_orders:
        control.post("/_sandbox/constructiononline/change-orders", json={"ID": change_order_id}).raise_for_status()
    for target in TARGETS:
        faults = faults_for(target.write_route) + (token_faults_for(target.token_route) if target.token_route else [])
        for fault in faults:
            control.post("/_sandbox/faults", json=fault).raise_for_status()


def _start_outage(control: httpx.Client, logical_id: str) -> None:
    """Take the function's vendor down for a while from now (an outage runs from when its rules are added).

    Started as the function's records begin to be queued: queueing every function's records takes longer than an
    outage lasts, so outages started all at once would end before the last function's first call.
    """
    [target] = [target for target in TARGETS if target.logical_id == logical_id]
    for rule in target.outage.rules():
        control.post("/_sandbox/faults", json=rule).raise_for_status()


class _Expirer:
    """Every few seconds, every token the sandbox issued stops working (Procore and Primavera Cloud)."""

    def __init__(self, control: httpx.Client) -> None:
        self._control = control
        self._stop = threading.Event()
        self.count = 0
        self._thread = threading.Thread(target=self._run, name="token-expiry", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(TOKEN_EXPIRY_EVERY_SECONDS):
            for vendor in ("procore", "prime"):
                self._control.post(f"/_sandbox/{vendor}/expire-tokens").raise_for_status()
            self.count += 1

    def __enter__(self) -> Callable[[], int]:
        self._thread.start()
        return lambda: self.count

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _send_everything(
    stack: LocalStack,
    records: dict[str, list[ChaosRecord]],
    duplicate_share: float,
    rng: random.Random,
    starting: Callable[[str], None],
) -> int:
    """Queue every record once (keyed by its token), then a second copy of some; return the copies sent.

    ``starting(logical_id)`` is called before a function's first record is queued.

    An object's edits go in separate batches, a few milliseconds apart, so that SentTimestamp orders them. An edit
    without a producer version is never sent twice: a copy queued later is, by its SentTimestamp, a newer edit.
    """
    sqs = sqs_client(stack.endpoint_url)
    copies = 0
    last_edit: dict[str, float] = {}  # per object, when its latest edit was queued (time.monotonic)
    for resend in (False, True):
        for logical_id, batch in records.items():
            if not resend:
                starting(logical_id)
            url = _queue_url(stack, logical_id)
            chosen = [r for r in batch if rng.random() < duplicate_share and _resendable(r)] if resend else batch
            copies += len(chosen) if resend else 0
            for entries in send_batches(chosen):
                objects = {record.version.object_key for record in entries if record.version is not None}
                wait = max((last_edit[key] + EDIT_SPACING_SECONDS for key in objects if key in last_edit), default=0)
                time.sleep(max(0.0, wait - time.monotonic()))
                answer = sqs.send_message_batch(
                    QueueUrl=url, Entries=[_entry(n, record) for n, record in enumerate(entries)]
                )
                if answer.get("Failed"):
                    raise RuntimeError(f"could not queue records: {answer['Failed']}")
                last_edit.update(dict.fromkeys(objects, time.monotonic()))
    return copies


def _resendable(record: ChaosRecord) -> bool:
    return record.version is None or record.version.producer_version is not None


def _entry(n: int, record: ChaosRecord) -> SendMessageBatchRequestEntryTypeDef:
    attributes: dict[str, Any] = {IDEMPOTENCY_KEY: {"DataType": "String", "StringValue": record.token}}
    if record.version is not None and record.version.producer_version is not None:
        attributes[VERSION_ATTRIBUTE] = {"DataType": "String", "StringValue": record.version.producer_version}
    return {"Id": str(n), "MessageBody": record.body, "MessageAttributes": attributes}


def _queue_url(stack: LocalStack, logical_id: str, dead: bool = False) -> str:
    [source] = function(stack.template, REPO_ROOT, logical_id).sqs_sources
    return stack.queues[dead_letter_queue(stack.template, source.queue) if dead else source.queue].url


def _wait_until_drained(stack: LocalStack, timeout: float) -> bool:
    """Whether every queue stayed empty (nothing visible, in flight or delayed) for a few looks in a row."""
    sqs = sqs_client(stack.endpoint_url)
    urls = [_queue_url(stack, target.logical_id) for target in TARGETS]
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        counts = [
            sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            for url in urls
        ]
        quiet = quiet + 1 if all(value == "0" for count in counts for value in count.values()) else 0
        if quiet >= QUIET_CHECKS:
            return True
        time.sleep(1)
    return False


def published_receipts(stack: LocalStack) -> dict[str, dict[str, list[str]]]:
    """Per function, per record key, the detail types of the receipts on the local receipts queue (taken off it).

    Copies of one receipt (its ``receipt_id``: a PutEvents put again after a timeout) count once, as a
    subscriber counts them.
    """
    found: dict[str, dict[str, list[str]]] = {}
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    if stack.receipts_queue_url is None:
        return found
    sqs = sqs_client(stack.endpoint_url)
    while messages := sqs.receive_message(
        QueueUrl=stack.receipts_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=900
    ).get("Messages", []):
        for message in messages:
            event = json.loads(message["Body"])
            kept.append(event)
            detail = event["detail"]
            if detail["receipt_id"] in seen:
                continue
            seen.add(detail["receipt_id"])
            found.setdefault(detail["function"], {}).setdefault(detail["key"], []).append(event["detail-type"])
        sqs.delete_message_batch(
            QueueUrl=stack.receipts_queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )
    # Kept for diagnosis, beside the sandbox's request log: every receipt event as the bus delivered it.
    (OUTPUT / "receipts.json").write_text(json.dumps(kept))
    return found


def _dead_letters(stack: LocalStack, logical_id: str) -> Iterator[tuple[str, Any, str]]:
    """Each dead letter's body, parsed (None when it is not JSON), and its error class."""
    sqs = sqs_client(stack.endpoint_url)
    url = _queue_url(stack, logical_id, dead=True)
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=900, MessageAttributeNames=["error_class"]
    ).get("Messages", []):
        for message in messages:
            attributes = message.get("MessageAttributes", {})
            error_class = attributes["error_class"].get("StringValue", "") if "error_class" in attributes else "none"
            try:
                yield message["Body"], json.loads(message["Body"]), error_class
            except ValueError:
                yield message["Body"], None, error_class


@dataclass(frozen=True)
class _Result:
    """One function's ledger, its dead letters counted by error class, and its stale versioned objects."""

    ledger: Ledger
    dead_letter_classes: Counter[str]
    stale: list[StaleObject]


def _ledger(
    target: Target,
    stack: LocalStack,
    control: httpx.Client,
    records: list[ChaosRecord],
    tally: InvocationTally | None,
    receipts: Mapping[str, list[str]],
) -> _Result:
    """The function's ledger (with its receipts), its dead letters by error class, its versioned objects left stale."""
    stored = control.get(target.stored_path).json()[target.stored_key]
    requests = control.get("/_sandbox/requests", params={"vendor": target.vendor}).json()["requests"]
    sends = [
        VendorSend(target.sent_tokens(entry), _answered_cleanly(entry))
        for entry in requests
        if entry["route"] == target.write_route
    ]
    letters = list(_dead_letters(stack, target.logical_id))
    versioned = [record for record in records if record.version is not None]
    # A versioned edit may set no property that names it, so its dead letter is known by its body, as queued.
    by_body = {record.body: record.token for record in versioned}
    # One token per dead letter, however it is known: the count of copies is each record's dead-lettered receipts.
    dead = [
        token
        for text, body, _ in letters
        for token in set(target.body_tokens(body)) | ({by_body[text]} if text in by_body else set())
    ]
    stale = []
    if target.versions is not None:
        held = {key: item for item in stored if (key := target.stored_object(item)) is not None}
        stale = find_stale(newest_values(versioned), held)
    ledger = count_ledger(
        target.logical_id,
        [record.token for record in records],
        [token for item in stored if (token := target.stored_token(item)) is not None],
        dead,
        sends,
        invalid=[record.token for record in records if record.invalid],
        versioned=[record.token for record in versioned],
        errors=tally.error_count if tally is not None else 0,
        stale=len(stale) if target.versions is not None else None,
        receipts=receipts,
    )
    return _Result(ledger, Counter(error_class for _, _, error_class in letters), stale)


def _answered_cleanly(entry: dict[str, Any]) -> bool:
    status = entry["status"]
    return status is not None and 200 <= status < 300 and entry["fault"] in (None, "latency")


def _injected_faults(control: httpx.Client) -> dict[str, Counter[str]]:
    injected: dict[str, Counter[str]] = {}
    for entry in control.get("/_sandbox/requests").json()["requests"]:
        if entry["fault"] and entry["vendor"]:
            kind = entry["fault"] if entry["fault"] != "status" else f"status {entry['status']}"
            injected.setdefault(entry["vendor"], Counter())[kind] += 1
    return injected


if __name__ == "__main__":
    sys.exit(main())
