"""The local stack as processes for the length of a ``with`` block: what ``make run`` and a one-shot invoke stand on.

``running_stack(template)`` starts the AWS emulator (moto) and the vendor sandbox, creates the template's resources
in the emulator and seeds the connection secrets pointing at the sandbox; when the block ends, however it ends
(an error, Ctrl-C), both processes are stopped and their ports released.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from devkit.aws import LocalStack, provision, start_moto
from devkit.local_secrets import PREFIX_PARAMETER, seed_connections

_SANDBOX_STOP_SECONDS = 10


@dataclass(frozen=True)
class Sandbox:
    """The vendor sandbox process."""

    url: str
    process: subprocess.Popen[str]


@dataclass(frozen=True)
class RunningStack:
    """The template's resources on a running emulator, and the sandbox its connection secrets point at."""

    stack: LocalStack
    sandbox_url: str

    @property
    def endpoint_url(self) -> str:
        """The emulator's URL (what AWS_ENDPOINT_URL names for the functions)."""
        return self.stack.endpoint_url


@contextmanager
def sandbox_process(seed: int = 0) -> Iterator[Sandbox]:
    """Run ``python -m devkit.sandbox`` on a free port until the block ends."""
    command = [sys.executable, "-m", "devkit.sandbox", "--port", "0", "--seed", str(seed)]
    # Popen's own exit closes the pipe and waits for the process.
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the vendor sandbox did not start")
            yield Sandbox(json.loads(line)["url"], process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=_SANDBOX_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def running_stack(
    template: Mapping[str, Any], parameter_overrides: Mapping[str, str] | None = None
) -> Iterator[RunningStack]:
    """Start the emulator and the sandbox, provision ``template`` and seed its secrets; stop both when done.

    The connection secrets are seeded only for a template that names where they live (its
    ``ConnectionSecretPrefix`` parameter); another template (a test fixture's) gets its resources only.
    """
    with ExitStack() as running:
        moto = running.enter_context(start_moto())
        sandbox = running.enter_context(sandbox_process())
        stack = provision(template, moto.endpoint_url, parameter_overrides)
        if PREFIX_PARAMETER in stack.parameters:
            seed_connections(stack, sandbox.url)
        yield RunningStack(stack, sandbox.url)
