"""Update change orders, one vendor call per command, several at a time (bounded).

Updates to the same change order keep their order: they go one after another, so the last one queued is the
last one applied; different change orders go concurrently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from connectors.deadline import Deadline
from connectors.failures import ConnectorError
from connectors.models.constructiononline import ChangeOrderUpdateCommand
from connectors.operation import CommandResult
from constructiononline_change_order_update.client import ChangeOrderClient


@dataclass
class UpdateResult(CommandResult):
    """The edited change order, or why it was not updated."""

    record: dict[str, Any] | None = None

    def vendor_ids(self) -> list[dict[str, Any]]:
        """The edited change order's ``ID``, as ConstructionOnline answered it."""
        return [{"ID": self.record.get("ID")}] if self.record else []


def update_change_orders(
    commands: Sequence[ChangeOrderUpdateCommand],
    client_for: Callable[[str], ChangeOrderClient],
    deadline: Deadline,
    concurrency: int,
) -> list[UpdateResult]:
    """Apply every command; one result per command, in order."""
    lanes: dict[tuple[str, int], list[int]] = {}
    for index, command in enumerate(commands):
        lanes.setdefault((command.connection, command.id), []).append(index)
    results: list[UpdateResult] = [UpdateResult() for _ in commands]
    # Each connection's slots booked for all its updates at once: one write of its shared limiter, not one each.
    for connection, updates in Counter(command.connection for command in commands).items():
        # A connection that cannot be used fails each of its updates below, with the reason.
        with suppress(ConnectorError):
            client_for(connection).book_ahead(updates, deadline)

    def run_lane(indexes: list[int]) -> None:
        for index in indexes:
            results[index] = _update(commands[index], client_for, deadline)

    with ThreadPoolExecutor(max_workers=min(concurrency, len(lanes)) or 1) as pool:
        for finished in [pool.submit(run_lane, indexes) for indexes in lanes.values()]:
            finished.result()
    return results


def _update(
    command: ChangeOrderUpdateCommand, client_for: Callable[[str], ChangeOrderClient], deadline: Deadline
) -> UpdateResult:
    try:
        return UpdateResult(record=client_for(command.connection).update(command.id, command.coInfo, deadline))
    except ConnectorError as failure:
        return UpdateResult(failures=[failure])
