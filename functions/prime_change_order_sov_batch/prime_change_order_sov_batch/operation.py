"""Batch-create change-order SOVs: send items in batches of the configured size; when Oracle rejects a batch
(it never says which item), split it until every bad item stands alone, so the good ones are still created.

A create is not idempotent. When one ends without an answer (an unknown outcome), the items are looked up under
their change-order line items: those found count as created and only the others are sent again, once per
invocation. A command that may have been sent before (a redelivered record) is looked up before its first send.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.deadline import Deadline
from connectors.failures import ConnectorError, FailureClass, transient, unknown_outcome, vendor_rejected
from connectors.models.prime import ChangeOrderSov, SovBatchCommand
from connectors.observability import logger
from connectors.operation import CommandResult
from prime_change_order_sov_batch.client import SovBatchClient, SovParent

_NOT_SEARCHABLE = (
    "its items cannot be looked up: the read by parent needs workspaceCode, projectCode, changeOrderCode, "
    "associatedAgreementCode, changeOrderType and changeOrderLineItemCode on every item"
)


@dataclass(frozen=True)
class Rejected:
    """An item Oracle refused on its own."""

    index: int
    name: str
    message: str


@dataclass
class SovResult(CommandResult):
    """Per item of one command: Oracle's created object, or why it was not created."""

    created: dict[int, dict[str, Any]] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)

    def failure(self) -> ConnectorError | None:
        """The failure that decides this command's fate, or None when every item was created."""
        if self.failures:
            return super().failure()
        if self.rejected:
            listed = "; ".join(f"items[{r.index}] ({r.name!r}): {r.message}" for r in self.rejected)
            created = ", ".join(f"items[{i}] sovId={o.get('sovId')}" for i, o in sorted(self.created.items()))
            return vendor_rejected(f"prime rejected {listed}" + (f"; created {created}" if created else ""), 400)
        return None

    def vendor_ids(self) -> list[dict[str, Any]]:
        """Oracle's ``sovId`` per item created (or found created), with the item's place in the command."""
        return [{"item": index, "sovId": self.created[index].get("sovId")} for index in sorted(self.created)]

    def body(self) -> dict[str, Any]:
        """Per-item detail: what was created (or found already created) and what was rejected."""
        return {
            "created": [self.created[i] for i in sorted(self.created)],
            "rejected": [{"index": r.index, "name": r.name, "message": r.message} for r in self.rejected],
        }


@dataclass(frozen=True, eq=False)  # by identity: every item of an invocation is one object
class _Item:
    owner: int
    index: int
    sov: ChangeOrderSov


@dataclass
class _Run:
    """One connection's share of an invocation: its client, its deadline and what is already accounted for."""

    connect: Callable[[], SovBatchClient]
    deadline: Deadline
    results: list[SovResult]
    retry_looks_first: bool = False
    """Whether the next attempt at these items looks them up before sending (SQS: a redelivery is looked up)."""
    claimed: set[object] = field(default_factory=set)
    """sovIds already attributed to an item in this invocation: a look-up never hands one out twice."""

    def still_unknown(self, message: str) -> ConnectorError:
        """Searchable items whose outcome this invocation could not settle: retried when the retry looks first,
        else an unknown outcome (a person, or the API caller, checks before sending again)."""
        if self.retry_looks_first:
            return transient(f"{message}; the next attempt looks these items up first")
        return unknown_outcome(message)

    def created(self, item: _Item, sov: dict[str, Any]) -> None:
        self.results[item.owner].created[item.index] = sov
        self.claimed.add(sov.get("sovId"))

    def failed(self, items: Iterable[_Item], failure: ConnectorError) -> None:
        for owner in {item.owner for item in items}:
            self.results[owner].failures.append(failure)


def _is_same_sov(existing: Mapping[str, Any], item: ChangeOrderSov) -> bool:
    """Whether an SOV Oracle holds is the one ``item`` asks for: the same line item and name, and the same
    item code when the request gives one."""
    return (
        existing.get("changeOrderLineItemId") == item.changeOrderLineItemId
        and existing.get("name") == item.name
        and (item.itemCode is None or existing.get("itemCode") == item.itemCode)
    )


def create_sovs(
    commands: Sequence[SovBatchCommand],
    client_for: Callable[[str], SovBatchClient],
    deadline: Deadline,
    batch_size: int,
    look_first: Sequence[bool] | None = None,
    *,
    retry_looks_first: bool = False,
) -> list[SovResult]:
    """Create every command's items with batches of at most ``batch_size``; one result per command, in order.

    ``look_first`` holds one flag per command (default: all False). A flagged command may have been sent before
    (SQS delivered it again): its items are looked up first, and those found are reported as created, not sent.
    Items that cannot be looked up (no parent codes) are sent: a redelivery follows a retryable failure, which
    leaves nothing created, except when a container died mid-call; refusing them would keep them from ever
    being delivered, a redrive after a person's check included.

    ``retry_looks_first`` says whether a failed command's next attempt is looked up first (queued records: yes);
    then searchable items whose outcome stays unknown are retried instead of reported as unknown outcomes.
    """
    flags = [False] * len(commands) if look_first is None else list(look_first)
    if len(flags) != len(commands):
        raise ValueError(f"look_first has {len(flags)} flags for {len(commands)} commands")
    results = [SovResult() for _ in commands]
    by_connection: dict[str, list[_Item]] = {}
    for owner, command in enumerate(commands):
        items = by_connection.setdefault(command.connection, [])
        items.extend(_Item(owner, index, sov) for index, sov in enumerate(command.items))
    for connection, items in by_connection.items():
        run = _Run(functools.partial(client_for, connection), deadline, results, retry_looks_first)
        flagged = [item for item in items if flags[item.owner] and SovParent.of(item.sov) is not None]
        not_found = set(_look_up(flagged, run, _redelivered_read_failed))
        pending = [item for item in items if item not in flagged or item in not_found]
        for start in range(0, len(pending), batch_size):
            _send(pending[start : start + batch_size], run, may_reconcile=True)
    return results


def _redelivered_read_failed(read: ConnectorError) -> ConnectorError:
    # Nothing was sent in this invocation, so the read's own failure decides: a retry will look again.
    return dataclasses.replace(read, message=f"looking up a redelivered record's items: {read.message}")


def _send(batch: list[_Item], run: _Run, *, may_reconcile: bool) -> None:
    try:
        created = run.connect().create([item.sov for item in batch], run.deadline)
    except ConnectorError as failure:
        if failure.failure is FailureClass.VENDOR_REJECTED and len(batch) > 1:
            middle = len(batch) // 2
            _send(batch[:middle], run, may_reconcile=may_reconcile)
            _send(batch[middle:], run, may_reconcile=may_reconcile)
        elif failure.failure is FailureClass.VENDOR_REJECTED:
            [item] = batch
            run.results[item.owner].rejected.append(Rejected(item.index, item.sov.name, failure.message))
        elif failure.failure is FailureClass.UNKNOWN_OUTCOME and may_reconcile:
            _reconcile(batch, run, failure)
        elif failure.failure is FailureClass.UNKNOWN_OUTCOME:
            # The resend after a look-up was lost too; every item here can be looked up.
            run.failed(batch, run.still_unknown(failure.message))
        else:
            run.failed(batch, failure)
        return
    for item, answer in zip(batch, created, strict=True):
        if isinstance(answer, ConnectorError):  # refused alone, inside a 207: the others stand
            run.results[item.owner].rejected.append(Rejected(item.index, item.sov.name, answer.message))
        elif (
            answer.get("changeOrderLineItemId") != item.sov.changeOrderLineItemId or answer.get("name") != item.sov.name
        ):
            # Oracle does not document the order of its answer; if it differs, the outcome cannot be attributed.
            run.results[item.owner].failures.append(
                unknown_outcome("prime created the batch but its answer does not line up with the items sent")
            )
        else:
            run.created(item, answer)


def _reconcile(batch: list[_Item], run: _Run, lost: ConnectorError) -> None:
    """After a create whose answer never came: count the items found as created, send the others once more."""

    def read_failed(read: ConnectorError) -> ConnectorError:
        return run.still_unknown(f"{lost.message}; looking up what it created failed: {read.message}")

    searchable = [item for item in batch if SovParent.of(item.sov) is not None]
    run.failed(
        [item for item in batch if item not in searchable], unknown_outcome(f"{lost.message}; {_NOT_SEARCHABLE}")
    )
    missing = _look_up(searchable, run, read_failed)
    logger.info(
        "prime: looked up a batch whose create had an unknown outcome",
        extra={"items": len(batch), "sending_again": len(missing)},
    )
    if missing:
        _send(missing, run, may_reconcile=False)


def _look_up(items: list[_Item], run: _Run, read_failed: Callable[[ConnectorError], ConnectorError]) -> list[_Item]:
    """Report the items (all with parent codes) Oracle already holds as created; return the others, in order.

    One read per distinct parent. Items whose read fails fail with ``read_failed`` of the read's failure and are
    not returned.
    """
    by_parent: dict[SovParent, list[_Item]] = {}
    for item in items:
        parent = SovParent.of(item.sov)
        if parent is not None:
            by_parent.setdefault(parent, []).append(item)
    missing: set[_Item] = set()
    for parent, children in by_parent.items():
        try:
            existing = run.connect().under_parent(parent, run.deadline)
        except ConnectorError as failure:
            run.failed(children, read_failed(failure))
            continue
        for item in children:
            found = next(
                (sov for sov in existing if sov.get("sovId") not in run.claimed and _is_same_sov(sov, item.sov)), None
            )
            if found is None:
                missing.add(item)
            else:
                run.created(item, found)
    return [item for item in items if item in missing]
