"""Cold start: a fresh process imports a function's handler and builds its container, against importing only the
third-party packages that the function's own code imports from.

Both run through ``devkit.bench.probe`` in the function's code folder with the environment the template gives it
(its layer on PYTHONPATH as in Lambda, no AWS endpoint: import and init call nothing). ``AWS_SAM_LOCAL`` is left
out, so Powertools' tracer loads the X-Ray SDK as it does in Lambda. The baseline list is read from the imports
at the top of every module of the function and the layer that the handler loaded (``TYPE_CHECKING`` blocks
excepted), each cut to its package (``aws_lambda_powertools.event_handler`` counts as ``aws_lambda_powertools``):
what any code using those packages pays to import them; whatever those packages then import is theirs. The
package, not the module named, so that which of a package's modules our code loads, and when, is ours to pay:
a baseline of the modules named would grow with every module imported up front and shrink with every one
deferred, and the ratio could not show either.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.aws import LocalStack
from devkit.bench.lambda_site import PACKAGES_VARIABLE
from devkit.invoke import lambda_environment
from devkit.template import FunctionSpec

TOP_IMPORTS = 10
# Lambda's Python runtime brings these itself (SnapStart's hooks), so the layer does not install them.
RUNTIME_PACKAGES = ("snapshot_restore_py",)
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PROBE = ("-m", "devkit.bench.probe")


@dataclass(frozen=True)
class ColdStart:
    """One function's import-and-init time and its baseline, medians over the runs."""

    function: str
    ms: float
    init_ms: float  # of ``ms``: building the container after the imports
    third_party_ms: float
    third_party_modules: tuple[str, ...]
    top_imports: tuple[tuple[str, float], ...]  # (module, self ms) from one ``-X importtime`` run

    @property
    def ratio(self) -> float:
        """Handler import and init over the third-party imports alone."""
        return self.ms / self.third_party_ms


def measure_cold_start(stack: LocalStack, spec: FunctionSpec, runs: int) -> ColdStart:
    """Time ``runs`` fresh handler imports and ``runs`` baseline imports, alternating; one warm-up of each first."""
    environment = probe_environment(stack, spec)
    handler = ["handler", spec.handler]
    loaded = _probe(spec, environment, handler)
    roots = (spec.code_dir, *spec.layer_dirs)
    modules = third_party_imports([Path(file) for file in loaded["files"]], roots)
    baseline = ["modules", *modules]
    _probe(spec, environment, baseline)
    handler_ms, init_ms, baseline_ms = [], [], []
    for _ in range(runs):
        timings = _probe(spec, environment, handler)
        handler_ms.append(timings["ms"])
        init_ms.append(timings["init_ms"])
        baseline_ms.append(_probe(spec, environment, baseline)["ms"])
    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", *_PROBE, *handler],
        cwd=spec.code_dir,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return ColdStart(
        function=spec.logical_id,
        ms=statistics.median(handler_ms),
        init_ms=statistics.median(init_ms),
        third_party_ms=statistics.median(baseline_ms),
        third_party_modules=tuple(modules),
        top_imports=tuple(top_self_imports(importtime.stderr, TOP_IMPORTS)),
    )


def probe_environment(stack: LocalStack, spec: FunctionSpec) -> dict[str, str]:
    """The function's Lambda environment without an AWS endpoint or credentials, and without AWS_SAM_LOCAL.

    With the packages its layers install named, so that the probe imports nothing else (``lambda_site``).
    """
    environment = lambda_environment(spec, stack.function_environment(spec.logical_id), {})
    environment.pop("AWS_SAM_LOCAL")
    environment[PACKAGES_VARIABLE] = ",".join(layer_packages(spec.layer_dirs))
    return environment


def layer_packages(layer_dirs: Sequence[Path]) -> list[str]:
    """The top-level import names of what the layers' requirements.txt pin, and of the runtime's own packages.

    Read from the distributions installed here, which the development requirements pin to the same versions.
    """
    pinned = {
        _normalized(match.group())
        for layer in layer_dirs
        if (layer / "requirements.txt").is_file()
        for line in (layer / "requirements.txt").read_text().splitlines()
        if (match := _REQUIREMENT_NAME.match(line.partition("#")[0].strip()))
    }
    installed = importlib.metadata.packages_distributions()
    names = {
        name
        for name, distributions in installed.items()
        if name.isidentifier() and any(_normalized(d) in pinned for d in distributions)
    }
    return sorted(names | set(RUNTIME_PACKAGES))


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def third_party_imports(files: Sequence[Path], roots: Sequence[Path]) -> list[str]:
    """The packages that the files under ``roots`` import from at module level that are neither theirs nor stdlib."""
    own_files = [file for file in files if any(file.is_relative_to(root) for root in roots)]
    own_packages = {
        file.relative_to(root).parts[0].removesuffix(".py")
        for file in own_files
        for root in roots
        if file.is_relative_to(root)
    }
    found: dict[str, None] = {}
    for file in own_files:
        for name in _module_level_imports(ast.parse(file.read_text())):
            top = name.partition(".")[0]
            if top not in own_packages and top not in sys.stdlib_module_names and top != "__future__":
                found[top] = None
    return sorted(found)


def _module_level_imports(tree: ast.Module) -> Iterator[str]:
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _module_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _module_level(node.body)
        else:
            yield node


def top_self_imports(importtime_output: str, limit: int) -> list[tuple[str, float]]:
    """The ``limit`` imports with the most self time in ``-X importtime`` output, as (module, ms)."""
    timings = []
    for line in importtime_output.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, _, module = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if self_us.isdigit():
            timings.append((module, int(self_us) / 1000))
    return sorted(timings, key=lambda timing: -timing[1])[:limit]


def _probe(spec: FunctionSpec, environment: Mapping[str, str], arguments: Sequence[str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, *_PROBE, *arguments],
        cwd=spec.code_dir,
        env=dict(environment),
        capture_output=True,
        text=True,
        check=True,
    )
    line: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return line
