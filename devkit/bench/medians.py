"""Figures over a bench's runs: each the median of the runs' values."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from devkit.bench.throughput import ThroughputRun


def median(values: Sequence[float]) -> float:
    """The median, to six significant digits (ratios to a high bound are small numbers)."""
    return float(f"{statistics.median(values):.6g}")


def aws_requests_per_record(runs: Sequence[ThroughputRun]) -> dict[str, float]:
    """Each count of the emulator (``devkit.bench.aws_requests``) per record landed, the median over the runs."""
    names = sorted({name for run in runs for name in run.aws_requests})
    return {name: median([run.aws_requests.get(name, 0) / run.records for run in runs]) for name in names}
