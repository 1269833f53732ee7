"""Run the chaos test: ``python -m devkit.chaos [--records 2000]``.

Exit 0 only when, for every function, nothing was lost or duplicated, no valid record was dead-lettered and no
invocation failed, and every vendor outage refused requests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from devkit.aws import LocalStack, provision, sqs_client, start_moto
from devkit.chaos.invocations import InvocationTally, tally_invocations
from devkit.chaos.ledger import Ledger, VendorSend, count_ledger
from devkit.chaos.records import (
    FIRST_CHANGE_ORDER_ID,
    ChaosRecord,
    build_records,
    constructiononline_record,
    prime_record,
    procore_record,
)
from devkit.demo import sandbox_process, stderr_to
from devkit.local_runtime.runtime import LocalRuntime
from devkit.local_secrets import seed_connections
from devkit.template import REPO_ROOT, dead_letter_queue, function, load_template

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

OUTPUT = REPO_ROOT / ".build" / "chaos"
IDEMPOTENCY_KEY = "Idempotency-Key"
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
    ),
    Target(
        "PrimeChangeOrderSovBatchFunction",
        "prime",
        "sov",
        prime_record,
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
        "hourly_limit": 150,
        "hourly_window_seconds": 2,
        "daily_limit": 10_000_000,
        "weekly_limit": 10_000_000,
        "monthly_limit": 10_000_000,
    },
    "procore": {"spike_limit": 40, "spike_window_seconds": 2, "hourly_limit": 1_000_000},
}
# The function's budget for the shortened window, set above the sandbox's 150 so that real 429s still happen.
CONSTRUCTIONONLINE_LIMITS = {"requests_per_window": 200, "window_seconds": 2}


def main(argv: list[str] | None = None) -> int:
    """Run the chaos test; 0 when every ledger passed (see ``Ledger.problems``) and every outage hit."""
    parser = argparse.ArgumentParser(prog="python -m devkit.chaos", description=__doc__)
    parser.add_argument("--records", type=int, default=2000, help="records per function (default 2000)")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of records a producer sends twice")
    parser.add_argument("--invalid", type=float, default=0.01, help="share of records invalid on purpose")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the queues to drain")
    arguments = parser.parse_args(argv)
    rng = random.Random(arguments.seed)  # noqa: S311 - a repeatable test run, not crypto
    run = f"{arguments.seed}-{int(time.time())}"
    records = {
        target.logical_id: build_records(
            f"{target.prefix}-{run}", arguments.records, arguments.invalid, target.make, rng
        )
        for target in TARGETS
    }
    template = load_template(REPO_ROOT / "template.yaml")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with ExitStack() as running:
        running.enter_context(stderr_to(OUTPUT / "runtime.log"))
        moto = running.enter_context(start_moto())
        sandbox = running.enter_context(sandbox_process(seed=arguments.seed))
        stack = provision(template, moto.endpoint_url, PARAMETERS)
        seed_connections(stack, sandbox.url, constructiononline_limits=CONSTRUCTIONONLINE_LIMITS)
        control = running.enter_context(httpx.Client(base_url=sandbox.url, timeout=60))
        _prepare_sandbox(control, arguments.records)
        deliveries_log = OUTPUT / "deliveries.log"
        deliveries = running.enter_context(deliveries_log.open("w"))
        running.enter_context(LocalRuntime(stack, port=0, function_logs=OUTPUT / "function-logs", out=deliveries))
        expiries = running.enter_context(_Expirer(control))
        _start_outages(control)
        copies = _send_everything(stack, records, arguments.duplicates, rng)
        drained = _wait_until_drained(stack, arguments.timeout)
        tallies = tally_invocations(deliveries_log.read_text().splitlines())
        control.delete("/_sandbox/faults").raise_for_status()
        results = [
            _ledger(target, stack, control, records[target.logical_id], tallies.get(target.logical_id))
            for target in TARGETS
        ]
        injected = _injected_faults(control)
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
    for ledger, reasons in results:
        print(
            f"chaos: {ledger.function} dead letters by class: "
            + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items()))
        )
    for ledger, _ in results:
        print(ledger.line())
    problems = _problems(drained, [ledger for ledger, _ in results], tallies, injected)
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


def _prepare_sandbox(control: httpx.Client, count: int) -> None:
    control.post("/_sandbox/config", json=SANDBOX_CONFIG).raise_for_status()
    for index in range(count):  # one change order per record, so each record's update stays visible
        control.post(
            "/_sandbox/constructiononline/change-orders", json={"ID": FIRST_CHANGE_ORDER_ID + index}
        ).raise_for_status()
    for target in TARGETS:
        faults = faults_for(target.write_route) + (token_faults_for(target.token_route) if target.token_route else [])
        for fault in faults:
            control.post("/_sandbox/faults", json=fault).raise_for_status()


def _start_outages(control: httpx.Client) -> None:
    """Take every vendor down for a while from now (each outage runs from when its rules are added)."""
    for target in TARGETS:
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
    stack: LocalStack, records: dict[str, list[ChaosRecord]], duplicate_share: float, rng: random.Random
) -> int:
    """Queue every record once (keyed by its token), then a second copy of some; return the copies sent."""
    sqs = sqs_client(stack.endpoint_url)
    copies = 0
    for resend in (False, True):
        for logical_id, batch in records.items():
            url = _queue_url(stack, logical_id)
            chosen = [r for r in batch if rng.random() < duplicate_share] if resend else batch
            copies += len(chosen) if resend else 0
            for start in range(0, len(chosen), 10):
                entries: list[SendMessageBatchRequestEntryTypeDef] = [
                    {
                        "Id": str(n),
                        "MessageBody": record.body,
                        "MessageAttributes": {IDEMPOTENCY_KEY: {"DataType": "String", "StringValue": record.token}},
                    }
                    for n, record in enumerate(chosen[start : start + 10])
                ]
                answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
                if answer.get("Failed"):
                    raise RuntimeError(f"could not queue records: {answer['Failed']}")
    return copies


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


def _dead_letters(stack: LocalStack, logical_id: str) -> Iterator[tuple[Any, str]]:
    """Each dead letter's parsed body (None when it is not JSON) and its error class."""
    sqs = sqs_client(stack.endpoint_url)
    url = _queue_url(stack, logical_id, dead=True)
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=900, MessageAttributeNames=["error_class"]
    ).get("Messages", []):
        for message in messages:
            attributes = message.get("MessageAttributes", {})
            error_class = attributes["error_class"].get("StringValue", "") if "error_class" in attributes else "none"
            try:
                yield json.loads(message["Body"]), error_class
            except ValueError:
                yield None, error_class


def _ledger(
    target: Target,
    stack: LocalStack,
    control: httpx.Client,
    records: list[ChaosRecord],
    tally: InvocationTally | None,
) -> tuple[Ledger, Counter[str]]:
    """The function's ledger, and its dead letters counted by error class."""
    stored = control.get(target.stored_path).json()[target.stored_key]
    requests = control.get("/_sandbox/requests", params={"vendor": target.vendor}).json()["requests"]
    sends = [
        VendorSend(target.sent_tokens(entry), _answered_cleanly(entry))
        for entry in requests
        if entry["route"] == target.write_route
    ]
    letters = list(_dead_letters(stack, target.logical_id))
    dead = [token for body, _ in letters for token in target.body_tokens(body)]
    ledger = count_ledger(
        target.logical_id,
        [record.token for record in records],
        [token for item in stored if (token := target.stored_token(item)) is not None],
        dead,
        sends,
        invalid=[record.token for record in records if record.invalid],
        errors=tally.error_count if tally is not None else 0,
    )
    return ledger, Counter(error_class for _, error_class in letters)


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
