"""The cold start's baseline: the third-party packages our modules import from, whichever of their modules."""

from pathlib import Path

from devkit.bench.cold_start import third_party_imports


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
