"""The PCO sync operation: coalesce commands per sync target, split into calls of at most 1000 updates,
and match every entity and error back to its command by origin_id (or id), never by position."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.deadline import Deadline
from connectors.failures import ConnectorError, FailureClass, transient, vendor_rejected
from connectors.models.procore import MAX_SYNC_ITEMS, PcoSyncCommand, PcoUpdate
from connectors.operation import CommandResult
from procore_pco_sync.client import PcoSyncClient

ItemKey = tuple[str, str]


@dataclass
class SyncResult(CommandResult):
    """What became of one command: Procore's entities and item errors for its updates, or a whole failure."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    unanswered: list[ItemKey] = field(default_factory=list)

    def failure(self) -> ConnectorError | None:
        """The failure that decides this command's fate, or None when every update was stored."""
        if self.failures:
            return super().failure()
        if self.unanswered:
            listed = ", ".join(f"{kind}={value}" for kind, value in self.unanswered[:10])
            return transient(f"procore reported no outcome for {listed}; resending (upsert by origin_id)")
        if self.errors:
            return items_refused(self.errors)
        return None

    def body(self) -> dict[str, Any]:
        """Procore's response shape, merged over every call this command took."""
        return {"entities": self.entities, "errors": self.errors}

    def vendor_ids(self) -> list[dict[str, Any]]:
        """Procore's ``id`` and the ``origin_id`` it matched, per stored PCO."""
        return [{"id": entity.get("id"), "origin_id": entity.get("origin_id")} for entity in self.entities]


@dataclass(frozen=True)
class _Target:
    connection: str
    company_id: int
    project_id: int
    contract_id: int


@dataclass
class _Call:
    target: _Target
    items: list[tuple[int, PcoUpdate]] = field(default_factory=list)
    keys: set[ItemKey] = field(default_factory=set)


def sync_commands(
    commands: Sequence[PcoSyncCommand],
    client_for: Callable[[str], PcoSyncClient],
    deadline: Deadline,
) -> list[SyncResult]:
    """Deliver ``commands`` with as few sync calls as Procore allows; one result per command, in order."""
    results = [SyncResult() for _ in commands]
    for call in plan_calls(commands):
        _deliver(call, commands, results, client_for, deadline)
    return results


def plan_calls(commands: Sequence[PcoSyncCommand]) -> list[_Call]:
    """Group updates by sync target into calls of at most 1000, never the same key twice in one call."""
    open_calls: dict[_Target, _Call] = {}
    calls: list[_Call] = []
    for index, command in enumerate(commands):
        target = _Target(command.connection, command.company_id, command.project_id, command.contract_id)
        for update in command.updates:
            call = open_calls.get(target)
            if call is None or len(call.items) == MAX_SYNC_ITEMS or update.key in call.keys:
                # A key already in the call would make its outcome ambiguous: later commands go in a later call.
                call = _Call(target)
                open_calls[target] = call
                calls.append(call)
            call.items.append((index, update))
            call.keys.add(update.key)
    return calls


def _deliver(
    call: _Call,
    commands: Sequence[PcoSyncCommand],
    results: list[SyncResult],
    client_for: Callable[[str], PcoSyncClient],
    deadline: Deadline,
) -> None:
    target = call.target
    try:
        client = client_for(target.connection)
        response = client.sync(
            target.company_id, target.project_id, target.contract_id, [u for _, u in call.items], deadline
        )
    except ConnectorError as failure:
        owners = sorted({index for index, _ in call.items})
        if failure.failure is FailureClass.VENDOR_REJECTED and len(owners) > 1:
            # A whole-request refusal of a coalesced call: send each command alone so one bad record
            # does not take the others down with it.
            for owner in owners:
                alone = _Call(target, [(i, u) for i, u in call.items if i == owner])
                alone.keys = {u.key for _, u in alone.items}
                _deliver(alone, commands, results, client_for, deadline)
            return
        for owner in owners:
            results[owner].failures.append(failure)
        return
    entities, errors = index_outcomes(response.entities, response.errors)
    for owner, update in call.items:
        result = results[owner]
        if update.key in errors:
            result.errors.append(errors[update.key])
        elif update.key in entities:
            result.entities.append(entities[update.key])
        else:
            result.unanswered.append(update.key)


def index_outcomes(
    entities: Iterable[dict[str, Any]], errors: Iterable[dict[str, Any]]
) -> tuple[dict[ItemKey, dict[str, Any]], dict[ItemKey, dict[str, Any]]]:
    """Entities and item errors by every key they can be found by (``id`` and ``origin_id``)."""
    return _by_keys(entities), _by_keys(errors)


def _by_keys(items: Iterable[dict[str, Any]]) -> dict[ItemKey, dict[str, Any]]:
    found: dict[ItemKey, dict[str, Any]] = {}
    for item in items:
        for kind in ("id", "origin_id"):
            if item.get(kind) is not None:
                found[(kind, str(item[kind]))] = item
    return found


def items_refused(errors: Sequence[dict[str, Any]]) -> ConnectorError:
    """Procore's item errors as one failure that names each refused update and why."""
    return vendor_rejected(f"procore rejected {len(errors)} update(s): {describe_item_errors(errors)}")


def describe_item_errors(errors: Iterable[dict[str, Any]]) -> str:
    """``origin_id=CO-7: status: is not included in the list`` for each refused item."""
    parts = []
    for error in errors:
        who = f"origin_id={error['origin_id']}" if error.get("origin_id") else f"id={error.get('id')}"
        messages = error.get("errors")
        if isinstance(messages, dict):
            text = "; ".join(
                f"{name}: {', '.join(map(str, m)) if isinstance(m, list) else m}" for name, m in messages.items()
            )
        else:
            text = str(messages)
        parts.append(f"{who}: {text}")
    return " | ".join(parts)
