"""The whole API for fuzzing: template.yaml's queues and secrets in moto, the vendor sandbox, one local runtime.

The moto server, the sandbox and the transformed template are the local runtime tests' fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devkit.aws import provision
from devkit.local_secrets import seed_connections
from devkit.template import REPO_ROOT
from tests.local_runtime.conftest import RunningRuntime, moto, repo_template, reset_moto, running_runtime, sandbox

__all__ = ["moto", "repo_template", "sandbox"]

# Fuzzing sends far more requests than a caller would: the sandbox's rate limits would answer 429 and hide
# what the input did. Everything else stays as strict as the vendors.
UNLIMITED = 1_000_000
SANDBOX_LIMITS = {
    "procore": {"hourly_limit": UNLIMITED, "spike_limit": UNLIMITED},
    "prime": {"requests_per_second": UNLIMITED},
    "constructiononline": {
        "hourly_limit": UNLIMITED,
        "daily_limit": UNLIMITED,
        "weekly_limit": UNLIMITED,
        "monthly_limit": UNLIMITED,
    },
}


@pytest.fixture(scope="session")
def fuzz_runtime(moto, sandbox, repo_template, tmp_path_factory) -> Iterator[RunningRuntime]:
    """template.yaml provisioned, secrets pointing at the sandbox (rate limits lifted), one runtime for the run."""
    with httpx.Client(base_url=sandbox.url, timeout=10) as control:
        control.post("/_sandbox/reset").raise_for_status()
        control.post("/_sandbox/config", json=SANDBOX_LIMITS).raise_for_status()
    reset_moto(moto)
    stack = provision(repo_template, moto.endpoint_url)
    seed_connections(stack, sandbox.url)
    with running_runtime(stack, REPO_ROOT, tmp_path_factory.mktemp("fuzz-logs")) as running:
        yield running
