"""Commands under test: run as on a machine without AWS configuration, every process they start seen through /proc.

The descendants are listed again every few milliseconds until the command exits, so that afterwards a test can
ask which of them are still alive, however they were started (another session, another process group). Linux only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_PROC = Path("/proc")
_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Process:
    """One process as first seen: its start time tells it apart from a later process given the same pid."""

    pid: int
    start_time: int
    command: str

    def alive(self) -> bool:
        """Whether this process (not a zombie, not another one with its pid) still runs."""
        stat = _stat(self.pid)
        return stat is not None and stat.start_time == self.start_time and stat.state != "Z"


@dataclass(frozen=True)
class _Stat:
    state: str
    parent: int
    start_time: int


class WatchedCommand:
    """A command run with its output in files and its descendants recorded until it exits."""

    def __init__(self, command: Sequence[str], output_dir: Path, cwd: Path, env: Mapping[str, str]) -> None:
        self.stdout_path = output_dir / "stdout"
        self.stderr_path = output_dir / "stderr"
        with self.stdout_path.open("w") as stdout, self.stderr_path.open("w") as stderr:
            # A session of its own, as a shell gives a foreground job: killpg reaches it as Ctrl-C would.
            self.process = subprocess.Popen(
                command, cwd=cwd, env=dict(env), stdout=stdout, stderr=stderr, start_new_session=True
            )
        self.descendants: dict[int, Process] = {}

    @property
    def stdout(self) -> str:
        """What the command printed on stdout so far."""
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        """What the command printed on stderr so far."""
        return self.stderr_path.read_text()

    def wait_for_stderr(self, text: str, timeout: float) -> None:
        """Record descendants until ``text`` shows on stderr; AssertionError if the command ends or time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            assert self.process.poll() is None, f"the command ended before {text!r}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.stderr}"
            self._record()
            time.sleep(_POLL_SECONDS)

    def wait(self, timeout: float) -> int:
        """Record descendants until the command exits; return its exit status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"still running after {timeout} s:\n{self.stderr}"
            self._record()
            time.sleep(_POLL_SECONDS)
        return self.process.returncode

    def leftovers(self) -> list[Process]:
        """The descendants seen that are still alive."""
        return [process for process in self.descendants.values() if process.alive()]

    def kill_everything(self) -> None:
        """Kill the command and whatever it started that is still alive (a failed test's cleanup)."""
        pids = [process.pid for process in self.leftovers()]
        if self.process.poll() is None:
            pids.append(self.process.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def _record(self) -> None:
        for pid in _descendants(self.process.pid):
            if pid not in self.descendants and (stat := _stat(pid)) is not None:
                self.descendants[pid] = Process(pid, stat.start_time, _command(pid))


@contextlib.contextmanager
def watched(command: Sequence[str], output_dir: Path, cwd: Path, env: Mapping[str, str]) -> Iterator[WatchedCommand]:
    """Run ``command`` watched; whatever is left when the block ends (a failed assertion) is killed."""
    run = WatchedCommand(command, output_dir, cwd, env)
    try:
        yield run
    finally:
        run.kill_everything()


def without_aws_configuration(home: Path) -> dict[str, str]:
    """This process's environment as on a machine never set up for AWS: no AWS_* variable, ``home`` made empty."""
    home.mkdir()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return {**environment, "HOME": str(home)}


def listening(url: str) -> bool:
    """Whether something accepts connections at ``url``'s host and port."""
    address = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address.hostname, address.port)) == 0


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat.parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _stat(pid: int) -> _Stat | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name, in parentheses, may hold spaces: the fields that follow it are counted from its end.
    fields = text[text.rindex(")") + 2 :].split()
    return _Stat(state=fields[0], parent=int(fields[1]), start_time=int(fields[19]))


def _command(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""
