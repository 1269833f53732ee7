"""The cold start's baseline: the third-party packages our modules import from, whichever of their modules."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.bench.cold_start import layer_packages, third_party_imports
from devkit.bench.lambda_site import PACKAGES_VARIABLE, LambdaSite


def test_the_baseline_is_the_packages_imported_from_not_the_modules_named(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "ours").mkdir(parents=True)
    (layer / "ours" / "__init__.py").write_text("")
    module = layer / "ours" / "adapter.py"
    module.write_text(
        "from __future__ import annotations\n"
        "import json\n"
        "from typing import TYPE_CHECKING\n"
        "import botocore.config\n"
        "from aws_lambda_powertools.event_handler import Response\n"
        "from aws_lambda_powertools.utilities.typing import LambdaContext\n"
        "from ours import helpers\n"
        "if TYPE_CHECKING:\n"
        "    import httpx\n"
        "def later():\n"
        "    import pydantic\n"
    )
    elsewhere = tmp_path / "site-packages" / "boto3.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text("import jmespath\n")

    packages = third_party_imports([module, elsewhere], [layer])

    # Deferred imports (in a function, for type checking) are the first request's or nobody's; stdlib and our
    # own modules are not third-party; a third-party module's own imports are its package's cost.
    assert packages == ["aws_lambda_powertools", "botocore"]


def test_the_probes_import_only_what_the_layer_installs(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "requirements.txt").write_text("# pinned\nhttpx==0.28.1\npydantic-core==2.50.4  # why\n\n")
    packages = layer_packages([layer])
    assert {"httpx", "pydantic_core", "snapshot_restore_py"} <= set(packages)
    assert "rich" not in packages

    packages = layer_packages([Path(__file__).parents[2] / "layers" / "shared"])
    # httpx imports its command line (click, rich) only when they can be imported: here they can, in Lambda not.
    probe = subprocess.run(
        [sys.executable, "-m", "devkit.bench.probe", "modules", "httpx"],
        env={**os.environ, PACKAGES_VARIABLE: ",".join(packages)},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(probe.stdout.splitlines()[-1])["files"]
    assert any("/httpx/" in file for file in loaded)
    assert not [file for file in loaded if "/rich/" in file or "/click/" in file]


def test_a_package_outside_the_layer_is_refused_and_everything_else_found_as_before(tmp_path: Path) -> None:
    installed = tmp_path / "site-packages"
    for name in ("in_layer", "dev_tool"):
        (installed / name).mkdir(parents=True)
        (installed / name / "__init__.py").write_text("")
    site = LambdaSite(["in_layer"], [str(installed)])

    with pytest.raises(ModuleNotFoundError, match="dev_tool"):
        site.find_spec("dev_tool", None)
    # The finder only refuses: the layer's packages, submodules and the standard library go to the other finders.
    assert site.find_spec("in_layer", None) is None
    assert site.find_spec("dev_tool.sub", [str(installed / "dev_tool")]) is None
    assert site.find_spec("json", None) is None
