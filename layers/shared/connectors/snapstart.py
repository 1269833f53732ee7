"""SnapStart's runtime hooks: the container built before Lambda snapshots a version, renewed after each restore.

Lambda runs the hooks only for a version published with SnapStart on (the template's ``EnableSnapStart``); without
it they are registered and never called, and the container is built on the first invocation as before.
``snapshot_restore_py`` is part of Lambda's Python runtime (the layer does not bundle it: a copy of its own would
hold registrations the runtime never reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snapshot_restore_py import register_after_restore, register_before_snapshot

from connectors.container import Container

type Runtime = Callable[[], Container[Any]]
"""A function's ``runtime()``: builds its container once and returns it every time after."""


def build_before_snapshot(runtime: Runtime, routes: Callable[[], object]) -> None:
    """What the snapshot holds: the container with every AWS client built (their model files loaded), and the
    API side (``routes``), which a container that gets only batches would otherwise never import."""
    runtime().warm()
    routes()


def renew_after_restore(runtime: Runtime) -> None:
    """What each restored copy makes its own: credentials, connections, tokens, secrets, random state."""
    runtime().renew()


def register_snapstart_hooks(runtime: Runtime, routes: Callable[[], object]) -> None:
    """Register the hooks for the container ``runtime`` builds and the API app ``routes`` imports."""
    register_before_snapshot(build_before_snapshot, runtime, routes)
    register_after_restore(renew_after_restore, runtime)
