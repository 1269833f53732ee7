"""The bench's figures: medians over the runs, the issue's targets, results.json, docs/benchmarks.md's table, stdout."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.limiter import ARRIVAL_JITTER_SECONDS
from devkit.bench.bounds import Bound
from devkit.bench.cold_start import ColdStart
from devkit.bench.comparison import (
    COMPARED,
    COST_RATIO_TARGETS,
    SPEEDUP_TARGETS,
    WRITE_UNITS_TARGET,
    comparison_bounded_by,
    comparison_lines,
    comparison_table,
)
from devkit.bench.medians import aws_requests_per_record, median
from devkit.bench.throughput import ThroughputRun

TABLE_START = "<!-- bench:start -->"
TABLE_END = "<!-- bench:end -->"
PROCORE_CALL_SIZE = 1000
# Above this share of the run spent inside invocations, the invocations are what bounds the throughput.
BUSY = 0.7
# A run whose calls were refused more often than this was held back by the vendor's 429s.
REFUSED = 0.05
# A run that reached this share of a rate-limit bound was held back by the limit, not by the local path.
NEAR_BOUND = 0.5
VENDOR_KEYS = ("procore", "prime", "constructiononline")
# The parts of results.json one run can measure on its own (``--only``).
SECTIONS = ("cold_start", *VENDOR_KEYS)
# Parameters of the run that measured a section, kept per section so that figures merged from several runs each
# keep their own. Every other parameter must be the same for all the runs merged, so that one heading holds.
PER_SECTION = ("measured_at", "wall_seconds", "emulator_dynamodb_writes_per_second", "sandbox_limits")
NOT_MEASURED = "not measured"
_COMPARISON_HEADING = (
    "Against the reference implementation (Powertools' batch and idempotency, one vendor call per record), in the "
    "same run and limits; per record delivered, cost at AWS's us-east-1 on-demand prices (bench/prices.json), "
    "receipts and the order marks apart:"
)
_MET = {True: "yes", False: "no", None: NOT_MEASURED}  # a target's ``met``, None where never measured


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: a figure's key, how it compares, the limit."""

    key: str
    compare: Callable[[float, float], bool]
    symbol: str
    limit: float


TARGETS = (
    Target("procore.calls_ratio", operator.le, "<=", 1.05),
    Target("procore.throughput_ratio_to_bound", operator.ge, ">=", 0.9),
    Target("prime.throughput_ratio_to_bound", operator.ge, ">=", 0.9),
    Target("constructiononline.throughput_ratio_to_bound", operator.ge, ">=", 0.9),
    Target("cold_start.ratio", operator.le, "<=", 1.25),
    Target("procore.overhead_us", operator.le, "<=", 25),
    *(Target(f"{key}.speedup_vs_reference", operator.ge, ">=", least) for key, least in SPEEDUP_TARGETS.items()),
    *(Target(f"{key}.cost_ratio_to_reference", operator.le, "<=", most) for key, most in COST_RATIO_TARGETS.items()),
    *(Target(f"{key}.dynamodb_write_units_per_record", operator.le, "<=", WRITE_UNITS_TARGET) for key in VENDOR_KEYS),
    Target("constructiononline.refused_calls", operator.le, "<=", 0),
)


@dataclass(frozen=True)
class VendorRun:
    """One throughput run of a function, the bound it ran against and the naive baseline measured after it."""

    run: ThroughputRun
    bound: Bound
    naive_records_per_second: float


def vendor_figures(
    key: str, runs: Sequence[VendorRun], overhead_us: Sequence[float], peak_memory_mb: int
) -> dict[str, Any]:
    """The vendor's figures, each the median over the runs."""
    first = runs[0].bound
    figures: dict[str, Any] = {
        "records_per_second": median([r.run.records_per_second for r in runs]),
        "vendor_calls": median([r.run.vendor_calls for r in runs]),
        "throughput_ratio_to_bound": median([r.run.records_per_second / r.bound.records_per_second for r in runs]),
        "bound_records_per_second": median([r.bound.records_per_second for r in runs]),
        "bound_limited_by": first.limited_by,
        "speedup_vs_naive": median([r.run.records_per_second / r.naive_records_per_second for r in runs]),
        "naive_records_per_second": median([r.naive_records_per_second for r in runs]),
        "overhead_us": median(overhead_us),
        "peak_memory_mb": peak_memory_mb,
        "seconds": median([r.run.seconds for r in runs]),
        "enqueue_seconds": median([r.run.enqueue_seconds for r in runs]),
        "refused_calls": median([r.run.refused_calls for r in runs]),
        "token_calls": median([r.run.token_calls for r in runs]),
        "invocations": median([r.run.invocations.count for r in runs]),
        "records_per_invocation": median([r.run.invocations.records / max(1, r.run.invocations.count) for r in runs]),
        # Share of the run the concurrent invocations were running: near 1, the invocations bound the throughput;
        # well under 1, getting records to them (polling, batching window, deletes) does.
        "busy_fraction": median(
            [r.run.invocations.milliseconds / 1000 / (r.bound.concurrency * r.run.seconds) for r in runs]
        ),
        "invocation_ms_per_record": median(
            [r.run.invocations.milliseconds / max(1, r.run.invocations.records) for r in runs]
        ),
        "concurrency": first.concurrency,
        "records_per_call": first.records_per_call,
        "calls_in_flight": first.calls_in_flight,
        "rate_limit_calls_per_second": median([r.bound.rate_limit_calls_per_second for r in runs]),
        "aws_requests_per_record": aws_requests_per_record([r.run for r in runs]),
    }
    if key == "procore":
        figures["calls_ratio"] = median(
            [r.run.vendor_calls / math.ceil(r.run.records / PROCORE_CALL_SIZE) for r in runs]
        )
    return figures


def dynamodb_per_record(figures: Mapping[str, Any]) -> dict[str, float]:
    """DynamoDB per record: all requests, and the requests and item writes of the ledger and of the order marks.

    Without ordering a record would cost the requests less the order's: the before and after of the marks.
    """
    counts = figures.get("aws_requests_per_record", {})
    requests = sum(value for name, value in counts.items() if name.startswith("dynamodb ") and name.count(" ") == 1)
    per_record = {"requests": requests}
    for kind in ("ledger", "order"):
        for measure in ("requests", "writes"):
            per_record[f"{kind}_{measure}"] = counts.get(f"dynamodb {kind} {measure}", 0.0)
    per_record["requests_without_order"] = requests - per_record["order_requests"]
    return {name: round(value, 3) for name, value in per_record.items()}


def cold_start_figures(measured: Sequence[ColdStart]) -> dict[str, Any]:
    """The function with the highest ratio at the top (the target holds only if it holds for every function)."""
    worst = max(measured, key=lambda cold: cold.ratio)
    return {
        "ms": round(worst.ms, 1),
        "third_party_ms": round(worst.third_party_ms, 1),
        "ratio": round(worst.ratio, 3),
        "function": worst.function,
        "functions": {
            cold.function: {
                "ms": round(cold.ms, 1),
                "init_ms": round(cold.init_ms, 1),
                "third_party_ms": round(cold.third_party_ms, 1),
                "ratio": round(cold.ratio, 3),
                "third_party_modules": list(cold.third_party_modules),
                "top_self_imports_ms": [[module, ms] for module, ms in cold.top_imports],
            }
            for cold in measured
        },
    }


def check_targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value, whether it was met, and what bounds it where it was not.

    A target whose section was never measured has ``value`` and ``met`` None: neither met nor missed.
    """
    checked = []
    for target in TARGETS:
        section, _, name = target.key.partition(".")
        entry: dict[str, Any] = {"key": target.key, "target": f"{target.symbol} {target.limit:g}"}
        if name not in results.get(section, {}):  # never measured, or measured before the figure existed
            checked.append({**entry, "value": None, "met": None})
            continue
        value = results[section][name]
        entry |= {"value": value, "met": target.compare(value, target.limit)}
        if not entry["met"]:
            entry["bounded_by"] = _bounded_by(section, name, results)
        checked.append(entry)
    return checked


def _bounded_by(section: str, name: str, results: Mapping[str, Any]) -> str:
    """What the figures say held the figure back."""
    if section == "cold_start":
        cold = results["cold_start"]["functions"][results["cold_start"]["function"]]
        top = ", ".join(f"{module} {ms:.0f} ms" for module, ms in cold["top_self_imports_ms"][:5])
        imports = cold["ms"] - cold["init_ms"]
        return (
            f"building the container (runtime(): the Secrets Manager client, the vendor HTTP client's TLS trust store) "
            f"{cold['init_ms']:.0f} ms, then imports {imports:.0f} ms against {cold['third_party_ms']:.0f} ms for the "
            f"third-party ones alone; most self time: {top}"
        )
    figures = results[section]
    if name in COMPARED:
        held_back_by = _bounded_by(section, "throughput_ratio_to_bound", results)
        return comparison_bounded_by(name, figures, held_back_by) or ""
    if name == "overhead_us":
        return "pydantic validation of each message into the command model, then the update's wire form and JSON"
    if name == "calls_ratio":
        return (
            f"{figures['records_per_invocation']:.0f} records per invocation: {figures['concurrency']} pollers "
            f"share the queue and each closes its batch when its {figures['batching_window_seconds']} s batching "
            "window ends; a call carries one invocation's records"
        )
    writes = results["parameters"].get("emulator_dynamodb_writes_per_second", {}).get(section, 0.0)
    if figures["refused_calls"] > REFUSED * figures["vendor_calls"]:
        return (
            f"the vendor's refusals: {figures['refused_calls']:g} of {figures['vendor_calls']:g} calls answered 429, "
            "each a wasted call and a pause for every container until the vendor's window reopens"
        )
    if figures["bound_limited_by"] == "rate limit" and figures["throughput_ratio_to_bound"] >= NEAR_BOUND:
        allowance = ARRIVAL_JITTER_SECONDS
        return (
            f"the vendor's rate limit, which the connection's budget paces to (its {allowance * 1000:.0f} ms jitter "
            f"allowance per window keeps {1 / (1 + allowance):.0%} of a one-second window); "
            f"{figures['refused_calls']:g} of {figures['vendor_calls']:g} calls still answered 429 when arrivals "
            "bunched, each pausing every container until the vendor's window reopened"
        )
    if figures["busy_fraction"] >= BUSY:
        return (
            f"the invocations (busy {figures['busy_fraction']:.0%}): {figures['invocation_ms_per_record']:.1f} ms "
            f"per record inside them, where each record costs a conditional idempotency claim (plus a 25th of a batch "
            f"write to settle it) and the local emulator takes {writes:.0f} single-item DynamoDB writes/s (a ceiling "
            f"near {writes:.0f} records/s on this machine)"
        )
    return (
        f"getting records to the invocations (busy {figures['busy_fraction']:.0%}): polling, the "
        f"{figures['batching_window_seconds']} s batching window and deletes against the local emulator"
    )


class ParameterMismatch(ValueError):
    """The stored results were measured with another value of a parameter that all merged sections must share."""


def check_parameters(stored: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
    """Raise ParameterMismatch naming the first parameter, other than the per-section ones, that differs."""
    # This run's keys first (records before the procore_calls_floor derived from it), then any only stored.
    for key in {**parameters, **stored}:
        if key not in PER_SECTION and stored.get(key) != parameters.get(key):
            raise ParameterMismatch(
                f"parameters.{key} is {stored.get(key)!r} in the stored results but {parameters.get(key)!r} for "
                "this run; rerun with the stored value, or without --only to measure every section"
            )


def merge_results(previous: Mapping[str, Any] | None, measured: Mapping[str, Any]) -> dict[str, Any]:
    """``previous`` results with the sections in ``measured`` replaced by its figures, and the targets checked anew.

    ``measured`` holds the sections one run measured and that run's parameters; ``previous`` is None where there
    are no stored results. The per-section parameters end up naming exactly the sections the results hold.
    """
    results: dict[str, Any] = {section: measured[section] for section in SECTIONS if section in measured}
    parameters = dict(measured["parameters"])
    if previous is not None:
        check_parameters(previous["parameters"], parameters)
        kept = [section for section in SECTIONS if section in previous and section not in results]
        results |= {section: previous[section] for section in kept}
        for key in PER_SECTION:
            stored = _by_section(previous["parameters"].get(key, {}))
            kept_values = {section: stored[section] for section in kept if section in stored}
            parameters[key] = kept_values | parameters.get(key, {})
    results["parameters"] = parameters
    results["targets"] = check_targets(results)
    return results


def _by_section(value: Any) -> dict[str, Any]:
    # Results written before --only existed hold one value for the whole run, which measured every section.
    return value if isinstance(value, dict) else dict.fromkeys(SECTIONS, value)


def read_results(path: Path) -> dict[str, Any] | None:
    """The results stored at ``path``; None if there are none yet."""
    return json.loads(path.read_text()) if path.exists() else None


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write results.json (sorted keys, so reruns diff cleanly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def bench_table(results: Mapping[str, Any]) -> str:
    """The table of figures for ``results`` (docs/benchmarks.md); a section never measured says so."""
    parameters = results["parameters"]
    lines = [
        f"Measured {_measured_at(parameters['measured_at'])} on {parameters['machine']}: {parameters['records']} "
        f"records per function, {_runs(parameters['runs'])}, vendor latency {parameters['latency_ms']} ms.",
        "",
        "| function | records/s | bound/s (limited by) | ratio to bound | speed-up vs naive | vendor calls "
        "| records/invocation | busy | overhead µs | peak MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in VENDOR_KEYS:
        if key not in results:
            lines.append(f"| {key} | {NOT_MEASURED} |")  # Markdown fills the missing cells
            continue
        figures = results[key]
        calls = f"{figures['vendor_calls']:g}"
        if "calls_ratio" in figures:
            calls += f" ({figures['calls_ratio']:.2f} x ceil(N/1000))"
        lines.append(
            f"| {key} | {figures['records_per_second']:.1f} | {figures['bound_records_per_second']:.0f} "
            f"({figures['bound_limited_by']}) | {figures['throughput_ratio_to_bound']:.3f} "
            f"| {figures['speedup_vs_naive']:.1f} | {calls} | {figures['records_per_invocation']:.0f} "
            f"| {figures['busy_fraction']:.0%} | {figures['overhead_us']:.1f} | {figures['peak_memory_mb']} |"
        )
    lines += [
        "",
        "DynamoDB per record landed (every ledger, mark and limiter item is under 1 KB: one write unit each):",
        "",
    ]
    lines += [
        f"- {key}: {_dynamodb_sentence(dynamodb_per_record(results[key]))}"
        for key in VENDOR_KEYS
        if key in results and "aws_requests_per_record" in results[key]
    ]
    compared = comparison_table(results, VENDOR_KEYS)
    if len(compared) > 2:  # a header and its rule, then a row per vendor compared
        lines += ["", _COMPARISON_HEADING, "", *compared]
    lines += [
        "",
        _cold_start_sentence(results.get("cold_start")),
        "",
        "| target | value | met | bounded by |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{target['key']}` {target['target']} | {_value(target)} | {_MET[target['met']]} "
        f"| {target.get('bounded_by', '')} |"
        for target in results["targets"]
    ]
    return "\n".join(lines)


def _measured_at(dates: Mapping[str, str]) -> str:
    if len(set(dates.values())) == 1:
        return next(iter(dates.values()))
    return "per section (" + ", ".join(f"{section} {dates[section]}" for section in SECTIONS if section in dates) + ")"


def _cold_start_sentence(cold: Mapping[str, Any] | None) -> str:
    if cold is None:
        return f"Cold start: {NOT_MEASURED}."
    return (
        f"Cold start (worst function, {cold['function']}): {cold['ms']:.0f} ms against {cold['third_party_ms']:.0f} ms "
        f"for its third-party imports alone, ratio {cold['ratio']:.2f}."
    )


def _value(target: Mapping[str, Any]) -> str:
    return NOT_MEASURED if target["value"] is None else f"{target['value']:.3g}"


def rewrite_table(page: Path, table: str) -> None:
    """Replace what stands between the bench markers of ``page`` (docs/benchmarks.md) with ``table``."""
    text = page.read_text()
    start = text.index(TABLE_START) + len(TABLE_START)
    end = text.index(TABLE_END)
    page.write_text(f"{text[:start]}\n{table}\n{text[end:]}")


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """The figures and ratios as lines for stdout; a section never measured says so."""
    lines = _cold_start_lines(results["cold_start"]) if "cold_start" in results else [f"cold start: {NOT_MEASURED}"]
    for key in VENDOR_KEYS:
        lines += _vendor_lines(key, results[key]) if key in results else [f"{key}: {NOT_MEASURED}"]
    for target in results["targets"]:
        if target["met"] is None:
            lines.append(f"target {target['key']} {target['target']}: {NOT_MEASURED}")
            continue
        verdict = "met" if target["met"] else f"MISSED, bounded by {target['bounded_by']}"
        lines.append(f"target {target['key']} {target['target']}: {target['value']:.3g} {verdict}")
    return lines


def _cold_start_lines(cold: Mapping[str, Any]) -> list[str]:
    lines = []
    for function, figures in cold["functions"].items():
        lines.append(
            f"cold start {function}: {figures['ms']:.0f} ms, third-party imports alone {figures['third_party_ms']:.0f}"
            f" ms, ratio {figures['ratio']:.2f}"
        )
        top = ", ".join(f"{module} {ms:.1f}" for module, ms in figures["top_self_imports_ms"][:5])
        lines.append(f"  most self time (ms, one -X importtime run): {top}")
    return lines


def _vendor_lines(key: str, f: Mapping[str, Any]) -> list[str]:
    bound = (
        f"bound {f['bound_records_per_second']:.0f}/s ({f['bound_limited_by']}: {f['records_per_call']} per call x "
        f"min({f['rate_limit_calls_per_second']:.1f} calls/s, {f['concurrency']} x {f['calls_in_flight']} in flight "
        "/ latency))"
    )
    calls = f"vendor calls {f['vendor_calls']:g} ({f['refused_calls']:g} answered 429)"
    if "calls_ratio" in f:
        calls += f", calls ratio {f['calls_ratio']:.2f}"
    invocations = (
        f"{f['invocations']:g} invocations of {f['records_per_invocation']:.0f} records, busy {f['busy_fraction']:.0%}"
    )
    naive = (
        f"naive {f['naive_records_per_second']:.1f} records/s (measured on a sample, extrapolated) -> speed-up "
        f"{f['speedup_vs_naive']:.1f}"
    )
    lines = [
        f"{key}: {f['records_per_second']:.1f} records/s in {f['seconds']:.1f} s, {bound} -> ratio "
        f"{f['throughput_ratio_to_bound']:.3f}",
        f"  {calls}; {invocations}; {naive}",
        f"  overhead {f['overhead_us']:.1f} us/record; peak memory {f['peak_memory_mb']} MB",
    ]
    if "aws_requests_per_record" in f:
        lines.append(f"  DynamoDB per record: {_dynamodb_sentence(dynamodb_per_record(f))}")
        every = ", ".join(f"{name} {value:g}" for name, value in f["aws_requests_per_record"].items())
        lines.append(f"  AWS requests per record: {every}")
    return lines + comparison_lines(key, f)


def _dynamodb_sentence(d: Mapping[str, float]) -> str:
    return (
        f"{d['requests']:g} requests ({d['requests_without_order']:g} without the order marks); ledger "
        f"{d['ledger_requests']:g} requests, {d['ledger_writes']:g} item writes; order marks {d['order_requests']:g} "
        f"requests, {d['order_writes']:g} item writes"
    )


def _runs(runs: int) -> str:
    return "one run" if runs == 1 else f"median of {runs} runs"
