"""The records an SQS batch could read: claimed in the ledger, delivered through the operation, settled."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel

from connectors.adapters.sqs_records import idempotency_key, may_have_reached_the_vendor
from connectors.deadline import Deadline
from connectors.failure_log import caught_unexpected
from connectors.failures import ConnectorError, unexpected
from connectors.idempotency import Claim, RecordLedger, claim_failure
from connectors.observability import metrics
from connectors.order import Delivered, Outcome


@dataclass(frozen=True)
class RecordInfo:
    """What the operation knows of a record besides its command."""

    redelivered: bool
    """SQS delivered it before (or it was redriven): an earlier attempt may have reached the vendor unanswered."""
    version: Decimal
    """Its place in time (``connectors.order``): the producer's version, else when SQS first accepted it."""


type Process[C] = Callable[[list[C], list[RecordInfo]], Sequence[Outcome]]
"""Delivers commands, given what is known of their records; one outcome per command, in order."""


def deliver_claimed[C: BaseModel](
    parsed: list[tuple[SQSRecord, C, Decimal]],
    process: Process[C],
    ledger: RecordLedger | None,
    remaining_ms: int,
    claim_by: Deadline | None,
) -> dict[str, Outcome]:
    """Claim, process and settle the parsed records; the outcome of each by message id."""
    entries = [(idempotency_key(record), record.body) for record, _, _ in parsed]
    claims = (
        ledger.claim(entries, remaining_ms, claim_by) if ledger is not None and parsed else [Claim.NEW] * len(parsed)
    )
    outcomes: dict[str, Outcome] = {}
    sending: list[tuple[SQSRecord, C, tuple[str, str]]] = []
    infos: list[RecordInfo] = []
    for (record, command, version), claim, entry in zip(parsed, claims, entries, strict=True):
        if claim is Claim.NEW:
            sending.append((record, command, entry))
            infos.append(RecordInfo(may_have_reached_the_vendor(record), version))
            continue
        if claim is Claim.DONE:
            metrics.add_metric(name="RecordsAlreadyDelivered", unit="Count", value=1)
            outcomes[record.message_id] = Delivered(before=True)  # its receipt went out then
            continue
        outcomes[record.message_id] = claim_failure(claim)
    if not sending:
        return outcomes
    results = _process_isolating([command for _, command, _ in sending], infos, process)
    outcomes.update(zip([record.message_id for record, _, _ in sending], results, strict=True))
    if ledger is not None:
        # A superseded record is settled like a delivered one: sending it again could only be superseded again.
        settled = [
            (entry, not isinstance(result, ConnectorError))
            for (_, _, entry), result in zip(sending, results, strict=True)
        ]
        try:
            ledger.settle(
                delivered=[entry for entry, done in settled if done],
                failed=[entry for entry, done in settled if not done],
            )
        except Exception as error:
            # Claims left unsettled expire with the invocation; the outcomes above stand.
            caught_unexpected(error, "settling records in the idempotency table")
    return outcomes


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
