"""What SnapStart's hooks save, measured locally: a cold start's init against a restored copy's.

    python -m devkit.bench.snapstart [--runs 5]

Per function, in fresh processes with the function's Lambda environment (as the cold-start bench runs them):

- ``cold_ms``: what an execution environment pays before it can serve without SnapStart: import the handler,
  build the container and every AWS client a request may use (``Container.warm``);
- ``restored_ms``: what a copy restored from a snapshot pays: the snapshot already holds all of the above (the
  ``register_before_snapshot`` hook ran it), so only the ``register_after_restore`` hook (``Container.renew``:
  new session, secrets, HTTP and vendor clients, random seed) and rebuilding the AWS clients from the models the
  snapshot kept.

Lambda's own restore (resuming the microVM) cannot be measured here and is not in either figure. ``saved_ms`` is
the difference, ``ratio`` restored over cold.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from devkit.bench.cold_start import probe_environment
from devkit.bench.vendors import VENDORS
from devkit.running_stack import running_stack
from devkit.template import REPO_ROOT, FunctionSpec, function, load_template

FUNCTIONS = (
    "ProcorePcoSyncFunction",
    "PrimeChangeOrderSovBatchFunction",
    "ConstructionOnlineChangeOrderUpdateFunction",
)


LAMBDA_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "example",
    "AWS_SESSION_TOKEN": "example",
}


@dataclass(frozen=True)
class SnapStartSaving:
    """One function's init without SnapStart and after a restore, medians over the runs (ms)."""

    function: str
    cold_ms: float
    restored_ms: float

    @property
    def saved_ms(self) -> float:
        """What a restored copy does not pay."""
        return self.cold_ms - self.restored_ms

    def figures(self) -> dict[str, Any]:
        """As results.json holds them."""
        return {
            **asdict(self),
            "saved_ms": round(self.saved_ms, 1),
            "ratio": round(self.restored_ms / self.cold_ms, 3),
        }


def measure(spec: FunctionSpec, environment: dict[str, str], runs: int) -> SnapStartSaving:
    """``runs`` fresh-process probes of ``spec`` (after one warm-up), their medians."""
    command = [sys.executable, "-m", "devkit.bench.snapstart_probe", spec.handler]
    samples = []
    for _ in range(runs + 1):
        completed = subprocess.run(
            command, cwd=spec.code_dir, env=environment, capture_output=True, text=True, check=True
        )
        samples.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    measured = samples[1:]
    return SnapStartSaving(
        function=spec.logical_id,
        cold_ms=round(statistics.median(sample["cold_ms"] for sample in measured), 1),
        restored_ms=round(statistics.median(sample["restored_ms"] for sample in measured), 1),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print each function's figures as a JSON line."""
    parser = argparse.ArgumentParser(prog="python -m devkit.bench.snapstart", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per function (5)")
    arguments = parser.parse_args(argv)
    template = load_template(REPO_ROOT / "template.yaml")
    with running_stack(template) as running:
        for vendor in VENDORS:
            spec = function(template, REPO_ROOT, vendor.function)
            # Lambda hands every environment its role's credentials; without them botocore would ask the instance
            # metadata service for some while building each client, and time out.
            environment = {**probe_environment(running.stack, spec), **LAMBDA_CREDENTIALS}
            saving = measure(spec, environment, arguments.runs)
            print(json.dumps(saving.figures()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
