"""The functions against the reference implementation: speed, AWS requests, write units and cost per record.

Both run through the same local stack, sandbox, latency and limits, one after the other in each run; every count
is per record delivered (landed at the vendor) and priced at bench/prices.json (``devkit.bench.cost``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devkit.bench.cost import APART, cost_per_million, requests_per_service, usage
from devkit.bench.medians import aws_requests_per_record, median
from devkit.bench.throughput import ThroughputRun

# The targets for the comparison, by vendor: least speed-up, most cost against the reference's.
SPEEDUP_TARGETS = {"procore": 10.0, "prime": 10.0, "constructiononline": 1.0}
COST_RATIO_TARGETS = {"procore": 0.5, "prime": 0.5, "constructiononline": 1.0}
WRITE_UNITS_TARGET = 1.1
# The targets' figures whose misses the comparison explains.
COMPARED = ("speedup_vs_reference", "cost_ratio_to_reference", "dynamodb_write_units_per_record", "refused_calls")


def implementation_figures(runs: Sequence[ThroughputRun], memory_mb: int, prices: Mapping[str, Any]) -> dict[str, Any]:
    """One implementation's figures per record delivered, each the median over the runs."""
    per_run = [_per_record(run, memory_mb, prices) for run in runs]
    costs = [figures.pop("cost") for figures in per_run]
    figures: dict[str, Any] = {
        name: median([run[name] for run in per_run]) for name in per_run[0] if not isinstance(per_run[0][name], dict)
    }
    services = sorted({service for run in per_run for service in run["aws_requests_per_service"]})
    figures["aws_requests_per_service"] = {
        service: median([run["aws_requests_per_service"].get(service, 0.0) for run in per_run]) for service in services
    }
    figures["aws_requests_per_record"] = aws_requests_per_record(runs)
    by_price = {name: median([cost[name] for cost in costs]) for name in costs[0]}
    figures["cost_per_million_usd"] = by_price.pop("total")
    # Like for like: what only the functions do (receipts, ordering) is in its own figure, not among the prices the
    # total sums.
    for figure, names in APART.items():
        figures[f"{figure}_cost_per_million_usd"] = by_price.pop(figure)
        for name in names:
            by_price.pop(name, None)
    figures["cost_per_million_usd_by_price"] = by_price
    return figures


def comparison_figures(
    ours: Sequence[ThroughputRun], reference: Sequence[ThroughputRun], memory_mb: int, prices: Mapping[str, Any]
) -> dict[str, Any]:
    """The keys results.json keeps per vendor for the comparison; the reference's own figures under ``reference``."""
    mine = implementation_figures(ours, memory_mb, prices)
    theirs = implementation_figures(reference, memory_mb, prices)
    return {
        "speedup_vs_reference": median(
            [run.records_per_second / other.records_per_second for run, other in zip(ours, reference, strict=True)]
        ),
        "aws_requests_per_service": mine["aws_requests_per_service"],
        "dynamodb_write_units_per_record": mine["dynamodb_write_units_per_record"],
        "dynamodb_read_units_per_record": mine["dynamodb_read_units_per_record"],
        "vendor_calls_per_record": mine["vendor_calls_per_record"],
        "lambda_invocations_per_record": mine["lambda_invocations_per_record"],
        "lambda_billed_ms_per_record": mine["lambda_billed_ms_per_record"],
        "cost_per_million_usd": mine["cost_per_million_usd"],
        "cost_per_million_usd_by_price": mine["cost_per_million_usd_by_price"],
        "receipts_cost_per_million_usd": mine["receipts_cost_per_million_usd"],
        "ordering_cost_per_million_usd": mine["ordering_cost_per_million_usd"],
        "reference_cost_per_million_usd": theirs["cost_per_million_usd"],
        "cost_ratio_to_reference": round(mine["cost_per_million_usd"] / theirs["cost_per_million_usd"], 4),
        "memory_mb": memory_mb,
        "prices_read_on": prices["read_on"],
        "reference": theirs,
    }


def _per_record(run: ThroughputRun, memory_mb: int, prices: Mapping[str, Any]) -> dict[str, Any]:
    records = run.records
    counts = {name: value / records for name, value in run.aws_requests.items()}
    invocations = run.invocations.count / records
    billed_ms = run.billed_ms / records
    return {
        "records_per_second": run.records_per_second,
        "records": records,
        "not_landed": run.not_landed,
        "seconds": run.seconds,
        "refused_calls": run.refused_calls,
        "vendor_calls_per_record": run.vendor_calls / records,
        "lambda_invocations_per_record": invocations,
        "lambda_billed_ms_per_record": billed_ms,
        "dynamodb_write_units_per_record": counts.get("dynamodb write units", 0.0),
        "dynamodb_read_units_per_record": counts.get("dynamodb read units", 0.0),
        "aws_requests_per_service": requests_per_service(counts),
        "cost": cost_per_million(usage(counts, invocations, billed_ms, memory_mb), prices),
    }


def comparison_lines(key: str, figures: Mapping[str, Any]) -> list[str]:
    """The comparison's figures for stdout (empty for results measured before the reference existed)."""
    if "reference" not in figures:
        return []
    reference = figures["reference"]
    return [
        f"  vs reference: {figures['records_per_second']:.1f} against {reference['records_per_second']:.1f} records/s "
        f"-> speed-up {figures['speedup_vs_reference']:.2f} (reference: {reference['refused_calls']:g} calls "
        f"answered 429, {reference['vendor_calls_per_record']:.2f} vendor calls per record, "
        f"{reference['not_landed']:g} records not landed by the timeout)",
        f"  AWS requests per record: ours {_services(figures['aws_requests_per_service'])}; reference "
        f"{_services(reference['aws_requests_per_service'])}",
        f"  DynamoDB write units per record: ours {figures['dynamodb_write_units_per_record']:.3g}, reference "
        f"{reference['dynamodb_write_units_per_record']:.3g}; Lambda billed ms per record: ours "
        f"{figures['lambda_billed_ms_per_record']:.3g}, reference {reference['lambda_billed_ms_per_record']:.3g}",
        f"  cost per million change orders (prices of {figures['prices_read_on']}): ours "
        f"${figures['cost_per_million_usd']:.2f}, reference ${figures['reference_cost_per_million_usd']:.2f} "
        f"(ratio {figures['cost_ratio_to_reference']:.2f}); apart: receipts "
        f"${figures['receipts_cost_per_million_usd']:.2f}, ordering "
        f"{_usd(figures.get('ordering_cost_per_million_usd'))}",
    ]


def comparison_table(results: Mapping[str, Any], vendors: Sequence[str]) -> list[str]:
    """The comparison's rows for docs/benchmarks.md (vendors measured before the reference existed left out)."""
    lines = [
        "| function | records/s ours / reference | speed-up vs reference | AWS requests per record, ours / reference "
        "| DynamoDB write units per record | cost per million, ours / reference "
        "| apart: receipts, ordering per million |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in vendors:
        figures = results.get(key, {})
        if "reference" not in figures:
            continue
        reference = figures["reference"]
        lines.append(
            f"| {key} | {figures['records_per_second']:.1f} / {reference['records_per_second']:.1f} "
            f"| {figures['speedup_vs_reference']:.2f} | {_services(figures['aws_requests_per_service'])} / "
            f"{_services(reference['aws_requests_per_service'])} | {figures['dynamodb_write_units_per_record']:.3g} / "
            f"{reference['dynamodb_write_units_per_record']:.3g} | ${figures['cost_per_million_usd']:.2f} / "
            f"${figures['reference_cost_per_million_usd']:.2f} | ${figures['receipts_cost_per_million_usd']:.2f}, "
            f"{_usd(figures.get('ordering_cost_per_million_usd'))} |"
        )
    return lines


def _usd(value: float | None) -> str:
    """Dollars, or a dash for a figure measured before it existed."""
    return "-" if value is None else f"${value:.2f}"


def _services(per_service: Mapping[str, float]) -> str:
    return ", ".join(f"{service} {value:.3g}" for service, value in sorted(per_service.items()))


def comparison_bounded_by(name: str, figures: Mapping[str, Any], held_back_by: str) -> str | None:
    """What the comparison's figures say held a missed target back; None for a name not the comparison's.

    ``held_back_by`` is what held the functions' own throughput back (``report``'s reading of the run).
    """
    if name == "speedup_vs_reference":
        reference = figures["reference"]
        return (
            f"ours {figures['records_per_second']:.1f} records/s against the reference's "
            f"{reference['records_per_second']:.1f} ({reference['refused_calls']:g} of its calls answered 429); "
            f"ours was held back by {held_back_by}"
        )
    if name == "cost_ratio_to_reference":
        return (
            f"ours ${figures['cost_per_million_usd']:.2f} per million "
            f"({_largest(figures['cost_per_million_usd_by_price'])}) "
            f"against ${figures['reference_cost_per_million_usd']:.2f} "
            f"({_largest(figures['reference']['cost_per_million_usd_by_price'])})"
        )
    if name == "dynamodb_write_units_per_record":
        counts = figures["aws_requests_per_record"]
        kinds = {
            found[len("dynamodb ") : -len(" write units")]: value
            for found, value in counts.items()
            if found.endswith(" write units") and found != "dynamodb write units"
        }
        return "write units per record by item: " + ", ".join(f"{kind} {value:.3g}" for kind, value in kinds.items())
    if name == "refused_calls":
        return f"{figures['refused_calls']:g} of {figures['vendor_calls']:g} calls answered 429"
    return None


def _largest(costs: Mapping[str, float]) -> str:
    top = sorted(costs.items(), key=lambda item: -item[1])[:3]
    return ", ".join(f"{name} ${value:.2f}" for name, value in top)
