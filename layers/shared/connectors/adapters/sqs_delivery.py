"""The records an SQS batch could read: claimed in the ledger, delivered through the operation, settled."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel

from connectors.adapters.sqs_records import age, idempotency_key, is_copy, may_have_reached_the_vendor
from connectors.deadline import Deadline
from connectors.deliveries import DeliveryState, Settlement, now_utc
from connectors.failure_log import caught_unexpected
from connectors.failures import ConnectorError, unexpected
from connectors.idempotency import SENDABLE, Claim, RecordLedger, Settled, claim_failure, new_batch
from connectors.models.common import DEFAULT_CONNECTION
from connectors.models.errors import ErrorResponse
from connectors.observability import metrics
from connectors.order import Delivered, Outcome, Superseded


@dataclass(frozen=True)
class RecordInfo:
    """What the operation knows of a record besides its command."""

    redelivered: bool
    """SQS delivered it before (or it was redriven): an earlier attempt may have reached the vendor unanswered."""
    version: Decimal
    """Its place in time (``connectors.order``): the producer's version, else when SQS first accepted it."""


type Process[C] = Callable[[list[C], list[RecordInfo]], Sequence[Outcome]]
"""Delivers commands, given what is known of their records; one outcome per command, in order."""


@dataclass(frozen=True)
class Claimed:
    """What ``deliver_claimed`` did: each record's outcome, and the ledger entries of those it claimed and sent."""

    outcomes: dict[str, Outcome]
    """By message id."""
    entries: dict[str, tuple[str, str]]
    """By message id: ``(ledger key, body)`` of each record this invocation claimed, to be settled."""
    batch: str
    """The token the claims name (``idempotency.new_batch``): the batch item that settles them has it."""


def ledger_key(record: SQSRecord, connection: str) -> str:
    """The record's key in the ledger: its idempotency key within its connection.

    Scoped by connection: two connections are two vendor accounts, where one key is two deliveries; and the status
    route, which a caller asks about one connection, can find only that connection's records.
    """
    return f"{connection}#{idempotency_key(record)}"


def ledger_keys(connection: str, key: str) -> list[str]:
    """Where the ledger may hold the record a caller names by ``key``: a producer's key, else a message id."""
    return [f"{connection}#key:{key}", f"{connection}#message:{key}"]


def deliver_claimed[C: BaseModel](
    parsed: list[tuple[SQSRecord, C, Decimal]],
    process: Process[C],
    ledger: RecordLedger | None,
    remaining_ms: int,
    claim_by: Deadline | None,
) -> Claimed:
    """Claim and process the parsed records; the caller settles the claimed ones once it knows what comes next."""
    entries = [
        (ledger_key(record, getattr(command, "connection", DEFAULT_CONNECTION)), record.body)
        for record, command, _ in parsed
    ]
    batch = new_batch()
    claims = (
        ledger.claim(entries, remaining_ms, batch, claim_by)
        if ledger is not None and parsed
        else [Claim.NEW] * len(parsed)
    )
    outcomes: dict[str, Outcome] = {}
    sending: list[tuple[SQSRecord, C, tuple[str, str]]] = []
    infos: list[RecordInfo] = []
    for (record, command, version), claim, entry in zip(parsed, claims, entries, strict=True):
        if claim in SENDABLE:
            sending.append((record, command, entry))
            infos.append(RecordInfo(earlier_attempt_may_have_reached(record, claim, ledger), version))
            continue
        if claim is Claim.DONE:
            metrics.add_metric(name="RecordsAlreadyDelivered", unit="Count", value=1)
            outcomes[record.message_id] = Delivered(before=True)  # its receipt went out then
            continue
        outcomes[record.message_id] = claim_failure(claim)
    if not sending:
        return Claimed(outcomes, {}, batch)
    results = _process_isolating([command for _, command, _ in sending], infos, process)
    outcomes.update(zip([record.message_id for record, _, _ in sending], results, strict=True))
    claimed = {record.message_id: entry for record, _, entry in sending} if ledger is not None else {}
    return Claimed(outcomes, claimed, batch)


def earlier_attempt_may_have_reached(record: SQSRecord, claim: Claim, ledger: RecordLedger | None) -> bool:
    """Whether an earlier attempt at the record may have reached the vendor unanswered.

    SQS's word (``may_have_reached_the_vendor``), unless the ledger held nothing for the record when this invocation
    claimed it, and it would still hold what an earlier attempt left: every attempt claims before it sends, so none
    was sent. An attempt that ran out of time before its claim (a slow table, a backlog) leaves nothing: looking its
    record up before sending it again would spend a vendor request on it for nothing. A copy keeps SQS's word: its
    original may have been sent before the ledger's memory.
    """
    if not may_have_reached_the_vendor(record):
        return False
    if ledger is None or claim is not Claim.NEW or is_copy(record):
        return True
    return age(record, time.time) >= ledger.memory_seconds


def settle_claimed(
    ledger: RecordLedger,
    claimed: Claimed,
    records: list[SQSRecord],
    retry_at: Mapping[str, float],
    dead_lettered: Collection[str],
) -> None:
    """Settle each claimed record in the ledger by its outcome. Never raises.

    A delivered (or superseded) record is done, with the vendor ids (in the batch's item); a failed one is released,
    keeping its error and either when it is retried (``retry_at``, epoch seconds, by message id) or that it was
    dead-lettered.
    """
    now = now_utc()
    delivered: Settled = []
    failed: Settled = []
    for record in records:
        entry = claimed.entries.get(record.message_id)
        if entry is None:
            continue
        outcome = claimed.outcomes[record.message_id]
        attempts = int(record.attributes.approximate_receive_count or 1)
        if not isinstance(outcome, ConnectorError):
            ids = outcome.vendor_ids if isinstance(outcome, Delivered) else []
            settled = Settlement.delivered(ids, attempts, now, superseded=isinstance(outcome, Superseded))
            delivered.append((entry, settled))
            continue
        error = ErrorResponse.of(outcome).error
        due = retry_at.get(record.message_id)
        state = DeliveryState.DEAD_LETTERED if record.message_id in dead_lettered else DeliveryState.WAITING_TO_RETRY
        when = datetime.fromtimestamp(due, UTC) if due is not None else None
        failed.append((entry, Settlement(state=state, at=now, attempts=attempts, error=error, retry_at=when)))
    try:
        ledger.settle(delivered=delivered, failed=failed, batch=claimed.batch)
    except Exception as error:
        # Claims left unsettled expire with the invocation; the outcomes stand.
        caught_unexpected(error, "settling records in the idempotency table")


def _process_isolating[C: BaseModel](commands: list[C], infos: list[RecordInfo], process: Process[C]) -> list[Outcome]:
    """``process(commands)``; if it raises, each command alone, as possibly sent, so a poison one fails alone."""
    try:
        results = list(process(commands, infos))
    except Exception as error:
        caught_unexpected(error, "delivering a batch")
        if len(commands) == 1:
            return [unexpected(error, "delivering a record")]
        return [
            _process_isolating([command], [dataclasses.replace(info, redelivered=True)], process)[0]
            for command, info in zip(commands, infos, strict=True)
        ]
    if len(results) != len(commands):
        raise RuntimeError(f"the operation answered {len(results)} outcomes for {len(commands)} commands")
    return results
