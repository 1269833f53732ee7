"""``python -m devkit.bench --only``: the sections measured again replace theirs, the others stay as they were."""

import copy
import json
from pathlib import Path

import pytest

from devkit.bench import __main__ as bench
from devkit.bench.report import (
    SECTIONS,
    VENDOR_KEYS,
    ParameterMismatch,
    bench_table,
    merge_results,
    read_results,
    summary_lines,
    write_results,
)

PAGE = "# Title\n\n<!-- bench:start -->\nold table\n<!-- bench:end -->\n"


def vendor_figures(records_per_second: float) -> dict:
    return {
        "records_per_second": records_per_second,
        "vendor_calls": 10.0,
        "calls_ratio": 1.0,
        "throughput_ratio_to_bound": records_per_second / 1000,
        "bound_records_per_second": 1000.0,
        "bound_limited_by": "rate limit",
        "speedup_vs_naive": 5.0,
        "naive_records_per_second": records_per_second / 5,
        "overhead_us": 10.0,
        "peak_memory_mb": 300,
        "seconds": 100.0,
        "refused_calls": 0.0,
        "invocations": 20.0,
        "records_per_invocation": 500.0,
        "busy_fraction": 0.9,
        "invocation_ms_per_record": 30.0,
        "concurrency": 5,
        "records_per_call": 1000,
        "calls_in_flight": 1,
        "rate_limit_calls_per_second": 1.0,
        "batching_window_seconds": 3,
    }


def cold_start_figures(ratio: float) -> dict:
    function = {"ms": 400.0 * ratio, "init_ms": 80.0, "third_party_ms": 400.0, "ratio": ratio}
    return {
        "ms": function["ms"],
        "third_party_ms": 400.0,
        "ratio": ratio,
        "function": "F",
        "functions": {"F": {**function, "top_self_imports_ms": [["pydantic", 9.0]]}},
    }


def measured(sections, date: str, wall_seconds: float, writes: float, rate: float, records: int = 10_000) -> dict:
    """What one run that measured ``sections`` hands to merge_results."""
    figures = {key: vendor_figures(rate) for key in VENDOR_KEYS if key in sections}
    if "cold_start" in sections:
        figures["cold_start"] = cold_start_figures(rate / 100)
    parameters = {
        "records": records,
        "runs": 3,
        "latency_ms": 50,
        "procore_calls_floor": -(-records // 1000),
        "machine": "2 CPUs, Python 3.13.0, Linux",
        "measured_at": dict.fromkeys(sections, date),
        "wall_seconds": dict.fromkeys(sections, wall_seconds),
        "emulator_dynamodb_writes_per_second": dict.fromkeys(sections, writes),
        "sandbox_limits": {key: {"limit": rate} for key in VENDOR_KEYS if key in sections},
    }
    return {"parameters": parameters, **figures}


def full_run() -> dict:
    return merge_results(None, measured(SECTIONS, "2026-11-23", wall_seconds=3000.0, writes=400.0, rate=100.0))


def target(results: dict, key: str) -> dict:
    return next(entry for entry in results["targets"] if entry["key"] == key)


def test_a_section_measured_again_replaces_its_figures_and_keeps_the_others() -> None:
    previous = full_run()
    stored = copy.deepcopy(previous)

    merged = merge_results(previous, measured(["procore"], "2026-11-25", wall_seconds=60.0, writes=300.0, rate=950.0))

    assert previous == stored
    assert merged["procore"] == vendor_figures(950.0)
    for section in ("cold_start", "prime", "constructiononline"):
        assert merged[section] == previous[section]
    parameters = merged["parameters"]
    assert parameters["measured_at"] == {
        "cold_start": "2026-11-23",
        "procore": "2026-11-25",
        "prime": "2026-11-23",
        "constructiononline": "2026-11-23",
    }
    assert parameters["wall_seconds"] == {
        "cold_start": 3000.0,
        "procore": 60.0,
        "prime": 3000.0,
        "constructiononline": 3000.0,
    }
    assert parameters["emulator_dynamodb_writes_per_second"]["procore"] == 300.0
    assert parameters["emulator_dynamodb_writes_per_second"]["prime"] == 400.0
    assert parameters["sandbox_limits"] == {
        "procore": {"limit": 950.0},
        "prime": {"limit": 100.0},
        "constructiononline": {"limit": 100.0},
    }
    # The targets are checked anew: procore's now holds, the others are as the full run left them.
    assert target(merged, "procore.throughput_ratio_to_bound")["met"] is True
    assert target(previous, "procore.throughput_ratio_to_bound")["met"] is False
    assert target(merged, "prime.throughput_ratio_to_bound") == target(previous, "prime.throughput_ratio_to_bound")
    assert bench_table(merged).startswith(
        "Measured per section (cold_start 2026-11-23, procore 2026-11-25, prime 2026-11-23, "
        "constructiononline 2026-11-23) on 2 CPUs"
    )


def test_results_written_before_only_count_as_one_run_of_every_section() -> None:
    previous = full_run()
    for key in ("measured_at", "wall_seconds", "emulator_dynamodb_writes_per_second"):
        previous["parameters"][key] = previous["parameters"][key]["prime"]  # one value for the whole run

    merged = merge_results(previous, measured(["cold_start"], "2026-11-25", wall_seconds=30.0, writes=300.0, rate=100))

    assert merged["parameters"]["measured_at"] == {
        "cold_start": "2026-11-25",
        "procore": "2026-11-23",
        "prime": "2026-11-23",
        "constructiononline": "2026-11-23",
    }
    assert merged["parameters"]["wall_seconds"]["cold_start"] == 30.0
    assert merged["parameters"]["wall_seconds"]["prime"] == 3000.0
    assert merged["parameters"]["emulator_dynamodb_writes_per_second"]["procore"] == 400.0


def test_without_stored_results_the_other_sections_are_reported_not_measured(tmp_path: Path) -> None:
    assert read_results(tmp_path / "results.json") is None

    results = merge_results(None, measured(["prime"], "2026-11-25", wall_seconds=60.0, writes=300.0, rate=950.0))

    assert set(results) == {"parameters", "targets", "prime"}
    assert results["parameters"]["measured_at"] == {"prime": "2026-11-25"}
    assert target(results, "prime.throughput_ratio_to_bound")["met"] is True
    unmeasured = target(results, "cold_start.ratio")
    assert (unmeasured["value"], unmeasured["met"]) == (None, None)
    assert "bounded_by" not in unmeasured
    table = bench_table(results)
    assert table.startswith("Measured 2026-11-25 on ")
    assert "| procore | not measured |" in table
    assert "| prime | 950.0 |" in table
    assert "Cold start: not measured." in table
    assert "| `cold_start.ratio` <= 1.25 | not measured | not measured |" in table
    lines = summary_lines(results)
    assert "cold start: not measured" in lines
    assert "constructiononline: not measured" in lines
    assert "target procore.calls_ratio <= 1.05: not measured" in lines


@pytest.mark.parametrize(
    ("key", "changes"),
    [
        ("records", {"records": 12, "procore_calls_floor": 1}),
        ("runs", {"runs": 1}),
        ("machine", {"machine": "8 CPUs, Python 3.13.1, Linux"}),
    ],
)
def test_a_run_with_other_parameters_is_refused(key: str, changes: dict) -> None:
    new = measured(["procore"], "2026-11-25", wall_seconds=60.0, writes=300.0, rate=950.0)
    new["parameters"] |= changes

    # As read back from results.json, whose keys are sorted: procore_calls_floor comes before the records it is from.
    stored = json.loads(json.dumps(full_run(), sort_keys=True))

    with pytest.raises(ParameterMismatch, match=rf"^parameters\.{key} is "):
        merge_results(stored, new)


def test_only_refuses_other_parameters_before_measuring(tmp_path: Path, monkeypatch, capsys) -> None:
    results_path = tmp_path / "results.json"
    write_results(results_path, full_run())

    def measure(*_):
        raise AssertionError("measured despite the stored results' other parameters")

    monkeypatch.setattr(bench, "_measure", measure)
    with pytest.raises(SystemExit) as exited:
        bench.main(["--only", "procore", "--records", "12", "--results", str(results_path)])

    assert exited.value.code == 2
    assert "parameters.records is 10000 in the stored results but 12 for this run" in capsys.readouterr().err


def test_only_merges_into_what_a_full_run_wrote(tmp_path: Path, monkeypatch) -> None:
    results_path = tmp_path / "results.json"
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE)
    options = ["--results", str(results_path), "--page", str(page)]
    rate = 100.0  # what the fake measuring reports, read when it runs

    def measure(_, parameters: dict, sections: list) -> dict:
        parameters["emulator_dynamodb_writes_per_second"] = dict.fromkeys(sections, 400.0)
        parameters["sandbox_limits"] = {key: {"limit": 1} for key in VENDOR_KEYS if key in sections}
        figures = {key: vendor_figures(rate) for key in VENDOR_KEYS if key in sections}
        if "cold_start" in sections:
            figures["cold_start"] = cold_start_figures(1.5)
        return {"parameters": parameters, **figures}

    monkeypatch.setattr(bench, "_measure", measure)
    assert bench.main(options) == 0
    full = read_results(results_path)
    rate = 950.0

    assert bench.main(["--only", "constructiononline", "--only", "procore", *options]) == 0

    merged = read_results(results_path)
    assert full is not None
    assert merged is not None
    assert merged["procore"]["records_per_second"] == merged["constructiononline"]["records_per_second"] == 950.0
    assert merged["prime"] == full["prime"]
    assert merged["cold_start"] == full["cold_start"]
    assert merged["parameters"]["wall_seconds"].keys() == set(SECTIONS)
    assert target(merged, "procore.throughput_ratio_to_bound")["met"] is True
    assert target(merged, "prime.throughput_ratio_to_bound")["met"] is False
    assert "| procore | 950.0 |" in page.read_text()
    assert "| prime | 100.0 |" in page.read_text()
