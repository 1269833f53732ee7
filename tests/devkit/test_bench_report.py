"""What the bench says held a missed target back, from the figures alone."""

from pathlib import Path

from devkit.bench.__main__ import peak_memory_mb
from devkit.bench.report import check_targets


def results(refused_calls: int, busy_fraction: float, limited_by: str = "latency", ratio: float = 0.5) -> dict:
    vendor = {
        "throughput_ratio_to_bound": ratio,
        "bound_limited_by": limited_by,
        "refused_calls": refused_calls,
        "vendor_calls": 1000,
        "busy_fraction": busy_fraction,
        "invocation_ms_per_record": 20.0,
        "batching_window_seconds": 3,
        "records_per_invocation": 300.0,
        "concurrency": 5,
        "calls_ratio": 1.0,
        "overhead_us": 10.0,
    }
    return {
        "parameters": {
            "emulator_dynamodb_writes_per_second": dict.fromkeys(("procore", "prime", "constructiononline"), 140.0)
        },
        "procore": dict(vendor),
        "prime": dict(vendor),
        "constructiononline": dict(vendor),
        "cold_start": {
            "ratio": 1.0,
            "function": "F",
            "functions": {"F": {"ms": 100.0, "init_ms": 20.0, "third_party_ms": 100.0, "top_self_imports_ms": []}},
        },
    }


def bounded_by(figures: dict, key: str) -> str:
    return next(target["bounded_by"] for target in check_targets(figures) if target["key"] == key)


def test_a_run_the_vendor_refused_often_names_the_refusals():
    said = bounded_by(results(refused_calls=200, busy_fraction=0.95), "constructiononline.throughput_ratio_to_bound")
    assert said.startswith("the vendor's refusals: 200 of 1000 calls answered 429")


def test_a_busy_run_without_refusals_names_the_invocations():
    said = bounded_by(results(refused_calls=10, busy_fraction=0.95), "constructiononline.throughput_ratio_to_bound")
    assert said.startswith("the invocations (busy 95%)")
    assert "the local emulator takes 140 single-item DynamoDB writes/s" in said


def test_a_run_near_a_rate_limit_bound_names_the_limit_and_its_refusals():
    figures = results(refused_calls=12, busy_fraction=0.99, limited_by="rate limit", ratio=0.86)
    said = bounded_by(figures, "constructiononline.throughput_ratio_to_bound")
    assert said.startswith("the vendor's rate limit") and "12 of 1000 calls still answered 429" in said


def test_a_run_far_under_a_rate_limit_bound_names_what_held_it_back_locally():
    figures = results(refused_calls=0, busy_fraction=0.4, limited_by="rate limit", ratio=0.03)
    assert "the 3 s batching window" in bounded_by(figures, "procore.throughput_ratio_to_bound")


def test_an_idle_run_names_the_way_records_reach_the_invocations():
    said = bounded_by(results(refused_calls=0, busy_fraction=0.4), "procore.throughput_ratio_to_bound")
    assert "the 3 s batching window" in said


def test_peak_memory_counts_only_the_report_lines_after_the_start(tmp_path: Path) -> None:
    log = tmp_path / "Function.log"
    log.write_text("REPORT RequestId: a\tMax Memory Used: 318 MB\n")
    start = log.stat().st_size
    with log.open("a") as more:
        more.write("REPORT RequestId: b\tMax Memory Used: 91 MB\nREPORT RequestId: c\tMax Memory Used: 88 MB\n")
    assert peak_memory_mb(log, start) == 91
    assert peak_memory_mb(log) == 318


def test_comparison_targets_of_sections_measured_before_the_reference_are_not_measured():
    checked = {target["key"]: target for target in check_targets(results(refused_calls=0, busy_fraction=0.4))}

    assert checked["procore.speedup_vs_reference"]["met"] is None
    assert checked["prime.cost_ratio_to_reference"]["value"] is None
    assert checked["constructiononline.refused_calls"]["met"] is True


def test_a_missed_speed_up_names_both_rates_and_what_held_ours_back():
    figures = results(refused_calls=0, busy_fraction=0.4)
    figures["procore"] |= {
        "speedup_vs_reference": 3.0,
        "records_per_second": 30.0,
        "reference": {"records_per_second": 10.0, "refused_calls": 7},
    }

    said = bounded_by(figures, "procore.speedup_vs_reference")

    assert said.startswith("ours 30.0 records/s against the reference's 10.0 (7 of its calls answered 429)")
    assert "the 3 s batching window" in said
