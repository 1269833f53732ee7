"""Run the bench: ``python -m devkit.bench [--records 10000] [--runs 3] ...``; see docs/benchmarks.md."""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

from devkit.bench.bounds import Bound, rate_limit
from devkit.bench.cold_start import measure_cold_start
from devkit.bench.comparison import comparison_figures
from devkit.bench.cost import load_prices
from devkit.bench.emulator_capacity import dynamodb_writes_per_second
from devkit.bench.naive import naive_records_per_second
from devkit.bench.overhead import overhead_us
from devkit.bench.report import (
    SECTIONS,
    ParameterMismatch,
    VendorRun,
    bench_table,
    check_parameters,
    cold_start_figures,
    merge_results,
    read_results,
    rewrite_table,
    summary_lines,
    vendor_figures,
    write_results,
)
from devkit.bench.stack import (
    BenchStack,
    alone,
    bench_stack,
    function_runtimes,
    maximum_concurrency,
    prepare_sandbox,
    reference,
    sandbox_config,
    vendor_config,
)
from devkit.bench.throughput import ThroughputRun, run_throughput
from devkit.bench.vendors import VENDORS, BenchVendor
from devkit.template import REPO_ROOT, function

RESULTS = REPO_ROOT / "bench" / "results.json"
TABLE_PAGE = REPO_ROOT / "docs" / "benchmarks.md"
OUTPUT = REPO_ROOT / ".build" / "bench"
_MAX_MEMORY = re.compile(r"Max Memory Used: (\d+) MB")


def main(argv: list[str] | None = None) -> int:
    """Measure every section or those ``--only`` names, write results.json and the bench table, print the figures."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    arguments.reference_records = min(arguments.reference_records, arguments.records)
    sections = [section for section in SECTIONS if section in (arguments.only or SECTIONS)]
    # A full run stands alone; --only keeps the stored figures of the sections it does not measure.
    previous = read_results(arguments.results) if arguments.only else None
    parameters = _parameters(arguments, sections)
    if previous is not None:
        try:
            # merge_results checks too; checking here refuses before the minutes of measuring, not after.
            check_parameters(previous["parameters"], parameters)
        except ParameterMismatch as mismatch:
            parser.error(f"--only with {arguments.results}: {mismatch}")
    started = time.monotonic()
    measured = _measure(arguments, parameters, sections)
    wall_seconds = round(time.monotonic() - started, 1)
    # Per section: the wall time of the invocation that measured it (a full run gives every section the same).
    parameters["wall_seconds"] = dict.fromkeys(sections, wall_seconds)
    results = merge_results(previous, measured)
    write_results(arguments.results, results)
    rewrite_table(arguments.page, bench_table(results))
    for line in summary_lines(results):
        print(line)
    print(f"measured {', '.join(sections)} in {wall_seconds:.0f} s; results in {arguments.results}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devkit.bench", description=__doc__)
    parser.add_argument("--records", type=int, default=10_000, help="records queued per function and run (10000)")
    # One run by default: on 2 cores a run of the three functions and their references takes about 80 minutes.
    parser.add_argument("--runs", type=int, default=1, help="runs per figure; each figure is their median (1)")
    parser.add_argument("--latency-ms", type=int, default=50, help="latency the sandbox adds to each vendor call (50)")
    parser.add_argument("--naive-records", type=int, default=200, help="sample size of the naive baseline (200)")
    parser.add_argument(
        "--constructiononline-per-second",
        type=int,
        default=10,
        # Under what the reference reaches locally (about 20 records/s), so that the vendor's limit binds it.
        help="ConstructionOnline requests per one-second window for the bench (10; the real limit is 500 an hour)",
    )
    parser.add_argument(
        "--prime-per-second",
        type=int,
        default=10,
        help="Primavera Cloud requests per second for the bench (10; Oracle documents 55, which the reference "
        "cannot reach on the local emulator)",
    )
    parser.add_argument(
        "--reference-records",
        type=int,
        default=300,
        # Its figures are per record: 300 show them, where 10,000 at one vendor call each would take hours.
        help="records queued per run for the reference implementation (300, at most --records); those not landed "
        "by --timeout are left out of its figures",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a run may take to land (1800)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write results.json")
    parser.add_argument("--page", type=Path, default=TABLE_PAGE, help="page whose bench table to rewrite")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="logs of the run (.build/bench)")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"measure only this section ({', '.join(SECTIONS)}; repeatable) and merge it into --results, keeping "
        "the others; the other options must be those the stored results were measured with",
    )
    return parser


def _measure(arguments: argparse.Namespace, parameters: dict[str, Any], sections: list[str]) -> dict[str, Any]:
    """The figures of ``sections``, with ``parameters`` completed by what the run found out."""
    measured: dict[str, Any] = {"parameters": parameters}
    per_second = arguments.constructiononline_per_second
    config = sandbox_config(arguments.latency_ms, per_second, arguments.prime_per_second)
    with bench_stack(arguments.output, per_second, arguments.prime_per_second) as bench:
        writes = dynamodb_writes_per_second(bench.stack.endpoint_url)
        parameters["emulator_dynamodb_writes_per_second"] = dict.fromkeys(sections, round(writes, 1))
        if "cold_start" in sections:
            measured["cold_start"] = _cold_start(bench, arguments.runs)
        for vendor in VENDORS:
            if vendor.key in sections:
                measured[vendor.key] = _bench_vendor(bench, vendor, config, arguments)
                parameters["sandbox_limits"][vendor.key] = vendor_config(bench.control, vendor)
    return measured


def _cold_start(bench: BenchStack, runs: int) -> dict[str, Any]:
    stack = bench.stack
    return cold_start_figures(
        [measure_cold_start(stack, function(stack.template, REPO_ROOT, vendor.function), runs) for vendor in VENDORS]
    )


def _bench_vendor(
    bench: BenchStack, vendor: BenchVendor, config: dict[str, Any], arguments: argparse.Namespace
) -> dict[str, Any]:
    stack = bench.stack
    concurrency = maximum_concurrency(stack, vendor.function)
    batch_size = bench.source(vendor.function).batch_size
    function_log = bench.function_logs / f"{vendor.function}.log"
    # The log is appended to across bench invocations: only this one's REPORT lines count.
    log_start = function_log.stat().st_size if function_log.exists() else 0
    ours = alone(bench, vendor)
    reference_bench, reference_vendor = reference(bench, vendor)
    runs = []
    references = []
    for run in range(arguments.runs):
        prepare_sandbox(bench.control, config, vendor, arguments.records)
        prefix = f"bench-{vendor.key}-{run}"
        functions = functools.partial(function_runtimes, ours, concurrency)
        measured = run_throughput(ours, vendor, arguments.records, prefix, arguments.timeout, functions)
        references.append(_reference_run(reference_bench, reference_vendor, config, arguments, run))
        naive_bodies = [vendor.record(f"naive-{prefix}-{i}", i) for i in range(arguments.naive_records)]
        bound = Bound(
            records_per_call=vendor.records_per_call(stack.parameters, batch_size),
            concurrency=concurrency,
            calls_in_flight=vendor.calls_in_flight(stack.parameters, batch_size),
            latency_seconds=arguments.latency_ms / 1000,
            rate_limit_calls_per_second=rate_limit(
                vendor.windows(vendor_config(bench.control, vendor)), measured.seconds
            ),
        )
        naive = naive_records_per_second(bench.sandbox_url, vendor, naive_bodies)
        runs.append(VendorRun(measured, bound, naive))
        print(
            f"{vendor.key} run {run + 1}/{arguments.runs}: {measured.records_per_second:.1f} records/s, "
            f"{measured.vendor_calls} vendor calls; reference {references[-1].records_per_second:.1f} records/s; "
            f"naive {naive:.1f} records/s",
            flush=True,
        )
    overheads = [overhead_us(vendor, arguments.records, bound.records_per_call) for _ in range(arguments.runs)]
    peak = peak_memory_mb(function_log, log_start)
    figures = vendor_figures(vendor.key, runs, overheads, peak)
    figures["batching_window_seconds"] = bench.source(vendor.function).maximum_batching_window_seconds
    memory_mb = function(stack.template, REPO_ROOT, vendor.function).memory_size
    figures |= comparison_figures([r.run for r in runs], references, memory_mb, load_prices())
    return figures


def _reference_run(
    bench: BenchStack, vendor: BenchVendor, config: dict[str, Any], arguments: argparse.Namespace, run: int
) -> ThroughputRun:
    """One run of the reference implementation on its own queue, against the sandbox as the functions' run had it."""
    records = arguments.reference_records
    prepare_sandbox(bench.control, config, vendor, records)
    concurrency = maximum_concurrency(bench.stack, vendor.function)
    functions = functools.partial(function_runtimes, bench, concurrency)
    prefix = f"reference-{vendor.key}-{run}"
    # Its refused records wait out the queue's 180 s visibility timeout, so a few may still be queued at the timeout.
    return run_throughput(bench, vendor, records, prefix, arguments.timeout, functions, partial=True)


def peak_memory_mb(function_log: Path, start: int = 0) -> int:
    """The highest ``Max Memory Used`` of the function's REPORT lines from byte ``start`` of its log on."""
    with function_log.open("rb") as log:
        log.seek(start)
        return max(int(found) for found in _MAX_MEMORY.findall(log.read().decode()))


def _parameters(arguments: argparse.Namespace, sections: list[str]) -> dict[str, Any]:
    return {
        "records": arguments.records,
        "runs": arguments.runs,
        "latency_ms": arguments.latency_ms,
        "naive_records": arguments.naive_records,
        "constructiononline_requests_per_second": arguments.constructiononline_per_second,
        "prime_requests_per_second": arguments.prime_per_second,
        "reference_records": arguments.reference_records,
        "procore_call_size": 1000,
        "procore_calls_floor": math.ceil(arguments.records / 1000),
        "measured_at": dict.fromkeys(sections, time.strftime("%Y-%m-%d", time.gmtime())),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}",
        "emulator": "moto server with devkit.bench.fast_moto's SQS speed-ups",
        "sandbox_limits": {},
    }


if __name__ == "__main__":
    sys.exit(main())
