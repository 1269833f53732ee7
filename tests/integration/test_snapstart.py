"""SnapStart's hooks as Lambda runs them (``snapshot_restore_py``'s registries), on a function over moto and the
sandbox: the container is built before the snapshot, and a restored copy renews what it must not share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from snapshot_restore_py import get_after_restore, get_before_snapshot

from procore_pco_sync import handler
from tests.integration.test_procore_failure_classes import message, stored_pcos, tokens

pytestmark = pytest.mark.integration


@pytest.fixture
def procore(deploy):
    return deploy("ProcorePcoSyncFunction")


def run_hooks(registry: list[Any], runtime: Callable[[], Any]) -> None:
    """Run the hooks registered for ``runtime``, as Lambda's runtime runs a registry."""
    mine = [(hook, args, kwargs) for hook, args, kwargs in registry if args[:1] == (runtime,)]
    assert len(mine) == 1, "one hook per function and phase, registered when its runtime module is imported"
    for hook, args, kwargs in mine:
        hook(*args, **kwargs)


def test_the_container_is_built_before_the_snapshot_and_renewed_after_a_restore(procore, control):
    # The API side goes into the snapshot too: a restored copy's first request would otherwise import it.
    [(_, snapshot_args, _)] = [entry for entry in get_before_snapshot() if entry[1][:1] == (procore.runtime,)]
    assert snapshot_args == (procore.runtime, handler.routes)
    run_hooks(get_before_snapshot(), procore.runtime)
    container = procore.runtime()
    # Every AWS client a request may use is in the snapshot, with its model files loaded.
    assert {"idempotency", "marks", "receipts", "_events"} <= set(vars(container))
    procore.send(message("snap-1"))
    assert procore.deliver()[1] == []
    before = (container.http, container.client("default"), container.idempotency, container.secrets)

    run_hooks(get_after_restore(), procore.runtime)

    assert procore.runtime() is container  # renewed in place: what the snapshot built stays built
    after = (container.http, container.client("default"), container.idempotency, container.secrets)
    assert all(new is not old for new, old in zip(after, before, strict=True))
    assert before[0].is_closed  # no connection of the snapshot's is used again
    procore.send(message("snap-2"))
    assert procore.deliver()[1] == []
    assert {p["origin_id"] for p in stored_pcos(control)} == {"snap-1", "snap-2"}
    assert len(tokens(control)) == 2  # the restored copy fetched its own token
