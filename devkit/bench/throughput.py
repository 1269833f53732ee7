"""One throughput run: a backlog of N queued records, the time until the vendor sandbox holds every one, the calls.

The records are queued while no function polls; the clock starts when the functions start (as when an event
source mapping is enabled on a queue with a backlog, or a vendor comes back after an outage) and stops at the
sandbox's answer to the last successful vendor call of the run, once the sandbox's stored state holds every
record: what landed, not what the client thinks. Queueing is timed apart (``enqueue_seconds``): on the emulator
it runs at about 150 records/s, under what the functions drain, so a clock started at the first record queued
would time the producer. Vendor calls are counted from the sandbox's request log (reset before each run), AWS
requests by the emulator (``devkit.bench.aws_requests``, reset as the functions start).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit.aws import sqs_client
from devkit.bench import aws_requests
from devkit.bench.stack import BenchStack, stored_tokens, vendor_requests
from devkit.bench.vendors import BenchVendor

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SQS_BATCH = 10
BENCH_OWN_REQUEST = "sqs GetQueueAttributes"
_POLL_SECONDS = 1.0
_DRAINED_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class NotLanded(RuntimeError):
    """Not every record reached the vendor's stored state in time."""


@dataclass(frozen=True)
class Invocations:
    """The SQS invocations of one function in a run, from the runtimes' delivery lines."""

    count: int
    records: int
    delivered: int  # records the invocations settled as delivered
    milliseconds: float  # summed over invocations


@dataclass(frozen=True)
class ThroughputRun:
    """What one run measured."""

    records: int
    seconds: float
    enqueue_seconds: float
    vendor_calls: int
    refused_calls: int  # answered 429
    token_calls: int
    invocations: Invocations
    aws_requests: dict[str, float]  # the emulator's counts while the functions ran (the bench's own left out)
    billed_ms: float = 0.0  # the Billed Duration of the run's REPORT lines, summed
    not_landed: int = 0  # queued records a partial run had not landed by its timeout (``records`` are those landed)

    @property
    def records_per_second(self) -> float:
        """Records landed per second."""
        return self.records / self.seconds


def run_throughput(
    bench: BenchStack,
    vendor: BenchVendor,
    records: int,
    prefix: str,
    timeout: float,
    functions: Callable[[], AbstractContextManager[object]],
    *,
    partial: bool = False,
) -> ThroughputRun:
    """Queue ``records`` records named ``<prefix>-<n>``, then run ``functions()`` until all have landed.

    ``partial``: a run that has not landed every record by the timeout is measured on those that have (the rest
    are purged from the queue, so that they do not reach the next run) instead of raising NotLanded.
    """
    bodies = [vendor.record(f"{prefix}-{index}", index) for index in range(records)]
    sqs = sqs_client(bench.stack.endpoint_url)
    queue_url = bench.queue_url(vendor.function)
    deliveries_start = bench.deliveries.tell()
    enqueue_started = time.time()
    for start in range(0, records, SQS_BATCH):
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start : start + SQS_BATCH])
        ]
        if sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed"):
            raise RuntimeError(f"could not queue the {vendor.key} records")
    aws_requests.reset(bench.stack.endpoint_url)
    function_log = bench.function_logs / f"{vendor.function}.log"
    log_start = function_log.stat().st_size if function_log.exists() else 0
    with functions():
        started = time.time()
        tokens = {f"{prefix}-{index}" for index in range(records)}
        try:
            _wait_until_landed(bench, vendor, tokens, deliveries_start, started + timeout)
            landed = records
        except NotLanded:
            landed = len(tokens & stored_tokens(bench.control, vendor)) if partial else 0
            if not landed:  # nothing to measure
                raise
        requests = vendor_requests(bench.control, vendor)
        writes = [entry for entry in requests if entry["route"] == vendor.write_route]
        finished = max(entry["answered_at"] for entry in writes if _succeeded(entry))
        if landed == records:
            _wait_until_drained(sqs, queue_url, started + timeout)
    if landed < records:
        sqs.purge_queue(QueueUrl=queue_url)
    counted = aws_requests.counts(bench.stack.endpoint_url)
    bench.deliveries.flush()
    return ThroughputRun(
        records=landed,
        not_landed=records - landed,
        seconds=finished - started,
        enqueue_seconds=started - enqueue_started,
        vendor_calls=len(writes),
        refused_calls=sum(1 for entry in writes if entry["status"] == 429),
        token_calls=sum(1 for entry in requests if str(entry["route"]).endswith(".token")),
        invocations=sqs_invocations(_read_from(bench, deliveries_start), vendor.function),
        # The bench asks for the queue's counts while it waits; no function or poller does.
        aws_requests={name: count for name, count in counted.items() if name != BENCH_OWN_REQUEST},
        billed_ms=billed_ms(function_log, log_start),
    )


_BILLED = re.compile(r"Billed Duration: (\d+) ms")


def billed_ms(function_log: Path, start: int = 0) -> float:
    """The Billed Duration of the function's REPORT lines from byte ``start`` of its log on, summed."""
    if not function_log.exists():
        return 0.0
    with function_log.open("rb") as log:
        log.seek(start)
        return float(sum(int(found) for found in _BILLED.findall(log.read().decode(errors="replace"))))


_SQS_DELIVERY = re.compile(
    r" sqs (?P<function>\S+) \S+: (?P<records>\d+) records? -> (?P<delivered>\d+) delivered, .* in (?P<ms>\d+) ms"
)


def sqs_invocations(lines: Sequence[str], function: str) -> Invocations:
    """The function's SQS invocations among the runtimes' delivery lines."""
    found = [match for line in lines if (match := _SQS_DELIVERY.search(line)) and match["function"] == function]
    return Invocations(
        count=len(found),
        records=sum(int(match["records"]) for match in found),
        delivered=sum(int(match["delivered"]) for match in found),
        milliseconds=sum(float(match["ms"]) for match in found),
    )


def _read_from(bench: BenchStack, offset: int) -> list[str]:
    bench.deliveries.flush()
    with (bench.output / "deliveries.log").open() as log:
        log.seek(offset)
        return log.read().splitlines()


def _succeeded(entry: dict[str, Any]) -> bool:
    status = entry["status"]
    return status is not None and 200 <= status < 300


def _wait_until_landed(
    bench: BenchStack, vendor: BenchVendor, tokens: set[str], deliveries_start: int, deadline: float
) -> None:
    """Wait until the sandbox holds every token; ask it only once the runtimes report as many records delivered.

    Listing 10,000 stored records is 7 MB of JSON that holds the sandbox's interpreter for ~140 ms (idle machine):
    asked every second, it delayed the vendor calls being timed by up to 300 ms and bunched them into 429s.
    """
    while True:
        delivered = sqs_invocations(_read_from(bench, deliveries_start), vendor.function).delivered
        missing = len(tokens) - delivered
        if missing <= 0 and not (missing := len(tokens - stored_tokens(bench.control, vendor))):
            return
        if time.time() > deadline:
            raise NotLanded(f"{vendor.key}: {missing} of {len(tokens)} records had not landed in the sandbox in time")
        time.sleep(_POLL_SECONDS)


def _wait_until_drained(sqs: Any, queue_url: str, deadline: float) -> None:
    """Wait until the queue holds nothing (the last deletes are done), so the next run starts from empty."""
    while time.time() < deadline:
        counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(_DRAINED_ATTRIBUTES))["Attributes"]
        if all(counts.get(name) == "0" for name in _DRAINED_ATTRIBUTES):
            return
        time.sleep(_POLL_SECONDS / 4)
    raise NotLanded(f"the queue {queue_url} was not empty in time")
