"""``make bench``: measured performance of the three functions (see docs/benchmarks.md).

Cold start (``cold_start``), throughput through the real local path against the vendor sandbox with a fixed
latency and rate limits (``throughput``, with the naive baseline in ``naive`` and the bound in ``bounds``),
per-record CPU overhead of validation and mapping (``overhead``), and the report (``report``): bench/results.json,
the table in docs/benchmarks.md and stdout.
"""
