"""What the throughput bench runs on: the AWS emulator, the vendor sandbox, the template's stack and local runtimes.

The local runtime runs one poller per queue, so one invocation at a time per function. Lambda runs up to the
event source mapping's ``ScalingConfig.MaximumConcurrency`` batches at once, so the bench starts that many
runtimes on the same stack: each one is a poller with its own warm worker, as each of Lambda's concurrent
batches is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import httpx

from devkit.aws import LocalStack, provision, start_moto
from devkit.bench.reference.functions import only_function, reference_id, with_reference
from devkit.bench.vendors import BenchVendor, change_order_id
from devkit.intrinsics import resolve
from devkit.local_runtime.runtime import LocalRuntime
from devkit.local_runtime.sqs_poller import MAX_WAIT_SECONDS
from devkit.local_secrets import seed_connections
from devkit.running_stack import sandbox_process
from devkit.template import REPO_ROOT, SqsEventSource, function, invoked_function, load_template, resources_of_type

# Lambda's SQS pollers start with five concurrent batches when a mapping sets no maximum.
DEFAULT_CONCURRENCY = 5
# Bench limits far above what a run sends, for windows the bench does not study.
UNLIMITED = 10_000_000
# The template's client-side budget for Primavera Cloud, and the vendor's documented limit it stays under.
PRIME_BUDGET = "PrimeMaxRequestsPerSecond"
ORACLE_REQUESTS_PER_SECOND = 55


@dataclass(frozen=True)
class BenchStack:
    """The running parts a throughput run needs."""

    stack: LocalStack
    sandbox_url: str
    control: httpx.Client
    output: Path
    deliveries: TextIO

    @property
    def function_logs(self) -> Path:
        """Where the runtimes write each function's log (START/END/REPORT lines included)."""
        return self.output / "function-logs"

    def source(self, logical_id: str) -> SqsEventSource:
        """The function's SQS event source."""
        [source] = function(self.stack.template, REPO_ROOT, logical_id).sqs_sources
        return source

    def queue_url(self, logical_id: str) -> str:
        """The URL of the queue that feeds the function."""
        return self.stack.queues[self.source(logical_id).queue].url


@contextmanager
def bench_stack(
    output: Path, constructiononline_per_second: int, prime_per_second: int | None = None
) -> Iterator[BenchStack]:
    """Start the emulator and the sandbox, provision the template's stack and seed its connection secrets.

    The ConstructionOnline connection's budget is the bench's shortened window (see ``sandbox_config``); with
    ``prime_per_second`` (the sandbox's Primavera Cloud limit), ``PrimeMaxRequestsPerSecond`` is set under it as
    the template's default is under Oracle's 55 a second (50/55 of it), as an operator would set it.
    """
    template = load_template(REPO_ROOT / "template.yaml")
    output.mkdir(parents=True, exist_ok=True)
    overrides = {} if prime_per_second is None else {PRIME_BUDGET: str(prime_budget(template, prime_per_second))}
    with ExitStack() as running:
        moto = running.enter_context(start_moto())
        sandbox = running.enter_context(sandbox_process())
        stack = provision(template, moto.endpoint_url, overrides)
        # A backlog bench: one shortened window and no burst, so the whole window goes to the paced slots (an
        # operator's choice for a backlog). The sandbox's longer windows are off (``sandbox_config``), so are ours.
        hour = {"requests": constructiononline_per_second, "seconds": 1, "burst": 1}
        limits = {"hour": hour, "day": None, "week": None, "month": None}
        seed_connections(stack, sandbox.url, constructiononline_rate_limits=limits)
        control = running.enter_context(httpx.Client(base_url=sandbox.url, timeout=120))
        deliveries = running.enter_context((output / "deliveries.log").open("w"))
        yield BenchStack(stack, sandbox.url, control, output, deliveries)


def alone(bench: BenchStack, vendor: BenchVendor) -> BenchStack:
    """``bench`` whose runtimes run only the vendor's function (no idle pollers on the other queues)."""
    return replace(bench, stack=replace(bench.stack, template=only_function(bench.stack.template, vendor.function)))


def reference(bench: BenchStack, vendor: BenchVendor) -> tuple[BenchStack, BenchVendor]:
    """The bench and the vendor of the reference implementation: its queue provisioned, its runtimes run only it."""
    extended = with_reference(bench.stack.template, vendor.function, vendor.key)
    function = reference_id(vendor.function)
    stack = provision(only_function(extended, function), bench.stack.endpoint_url)
    return replace(bench, stack=stack), replace(vendor, function=function)


@contextmanager
def function_runtimes(bench: BenchStack, concurrency: int) -> Iterator[None]:
    """``concurrency`` local runtimes on the bench's stack, each with one worker per function.

    An idle poller long-polls for 20 seconds, as Lambda's do (the local runtime's default is 2, for a quick stop):
    its empty receives are counted, and a reference whose refused records wait out the visibility timeout would
    otherwise be charged ten times Lambda's empty receives. Stopping waits for each poller's last long poll, so
    the runtimes stop side by side: one after another, the others' pollers would start new polls meanwhile.
    """
    runtimes: list[LocalRuntime] = []
    try:
        for _ in range(concurrency):
            runtime = LocalRuntime(
                bench.stack,
                port=0,
                workers_per_function=1,
                function_logs=bench.function_logs,
                out=bench.deliveries,
                poll_wait_seconds=MAX_WAIT_SECONDS,
            )
            runtimes.append(runtime.start())
        yield
    finally:
        with ThreadPoolExecutor(max(1, len(runtimes))) as stopping:
            list(stopping.map(LocalRuntime.stop, runtimes))


def maximum_concurrency(stack: LocalStack, logical_id: str) -> int:
    """The ``ScalingConfig.MaximumConcurrency`` of the function's SQS event source mapping."""
    for mapping in resources_of_type(stack.template, "AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        if invoked_function(stack.template, properties.get("FunctionName")) == logical_id:
            scaling = resolve(properties.get("ScalingConfig", {}), stack.values)
            return int(scaling.get("MaximumConcurrency", DEFAULT_CONCURRENCY))
    raise ValueError(f"{logical_id} has no SQS event source mapping in the template")


def prime_budget(template: Mapping[str, Any], prime_per_second: int) -> int:
    """``PrimeMaxRequestsPerSecond`` under a Primavera Cloud limit of ``prime_per_second``, as its default under 55."""
    default = int(template["Parameters"][PRIME_BUDGET]["Default"])
    return max(1, prime_per_second * default // ORACLE_REQUESTS_PER_SECOND)


def sandbox_config(
    latency_ms: int, constructiononline_per_second: int, prime_per_second: int | None = None
) -> dict[str, Any]:
    """The bench's sandbox config: Procore's documented limits, Oracle's or ``prime_per_second``, ConstructionOnline's
    shortened (docs/benchmarks.md says why the comparison with the reference scales Oracle's down).

    ConstructionOnline allows 500 requests an hour per key, so 10,000 records would take 20 hours: its hourly
    window is one second long here, with ``constructiononline_per_second`` requests in it, and the longer
    windows are out of the way.
    """
    prime = {} if prime_per_second is None else {"prime": {"requests_per_second": prime_per_second}}
    return {
        **prime,
        "latency_ms": latency_ms,
        "constructiononline": {
            "hourly_limit": constructiononline_per_second,
            "hourly_window_seconds": 1,
            "daily_limit": UNLIMITED,
            "weekly_limit": UNLIMITED,
            "monthly_limit": UNLIMITED,
        },
    }


def prepare_sandbox(control: httpx.Client, config: Mapping[str, Any], vendor: BenchVendor, records: int) -> None:
    """Reset the sandbox (state, counters, request log), apply ``config``, seed what the vendor's records update."""
    control.post("/_sandbox/reset").raise_for_status()
    control.post("/_sandbox/config", json=config).raise_for_status()
    if vendor.seeds_change_orders:
        for index in range(records):
            control.post(
                "/_sandbox/constructiononline/change-orders", json={"ID": change_order_id(index)}
            ).raise_for_status()


def vendor_config(control: httpx.Client, vendor: BenchVendor) -> dict[str, Any]:
    """The vendor's section of the sandbox's config as it is now."""
    section: dict[str, Any] = control.get("/_sandbox/config").json()[vendor.key]
    return section


def vendor_requests(control: httpx.Client, vendor: BenchVendor) -> list[dict[str, Any]]:
    """The sandbox's request log for the vendor."""
    requests: list[dict[str, Any]] = control.get("/_sandbox/requests", params={"vendor": vendor.key}).json()["requests"]
    return requests


def stored_tokens(control: httpx.Client, vendor: BenchVendor) -> set[str]:
    """The tokens of every record the vendor holds now."""
    items = control.get(vendor.stored_path).json()[vendor.stored_key]
    return {str(token) for item in items if (token := vendor.stored_token(item)) is not None}
