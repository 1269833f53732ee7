"""A batch's cold start loads no API side and no Powertools batch utility (whose types are all the adapters use)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["procore_pco_sync", "prime_change_order_sov_batch", "constructiononline_change_order_update"]
NOT_LOADED = [
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi.params",
    "standardwebhooks",
    "connectors.adapters.api",
    "connectors.adapters.api_replies",
    "connectors.auth.webhook",
]
LOADED = """
import importlib, json, sys
package = sys.argv[1]
importlib.import_module(package + ".handler")
importlib.import_module(package + ".runtime").runtime()
print(json.dumps([name for name in [*sys.argv[2:], package + ".routes"] if name in sys.modules]))
"""


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_handler_and_building_its_container_loads_neither_the_api_nor_the_batch_utility(package):
    path = [str(REPO / "functions" / package), str(REPO / "layers" / "shared")]
    environment = {
        "PYTHONPATH": ":".join(path),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    completed = subprocess.run(
        [sys.executable, "-c", LOADED, package, *NOT_LOADED],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(completed.stdout.splitlines()[-1]) == []
