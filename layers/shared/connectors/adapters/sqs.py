"""The SQS adapter: one batch in, the records SQS should deliver again out, each failure applied by its class."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ValidationError

from connectors.adapters.sqs_delivery import Process, deliver_claimed, settle_claimed
from connectors.adapters.sqs_queue import dead_letter, make_invisible, requeue_after_window
from connectors.adapters.sqs_receipts import QueueReceipts, connection_of
from connectors.adapters.sqs_records import age, attribute, record_version, seconds_until_due
from connectors.adapters.sqs_settings import QueueClient, QueueSettings, RetryBudget
from connectors.deadline import Deadline
from connectors.failure_log import caught_unexpected, log_failure
from connectors.failures import ConnectorError, FailureClass, invalid_input
from connectors.idempotency import RecordLedger
from connectors.models.common import DEFAULT_CONNECTION
from connectors.models.errors import invalid_input_from, invalid_json
from connectors.models.exact_json import JsonInputError
from connectors.observability import count_by, logger, metrics
from connectors.order import Delivered, Outcome
from connectors.receipts import RECEIPT_ATTRIBUTE, Receipt

if TYPE_CHECKING:
    # Types only: at run time Powertools' batch utility loads its parser models for every event source, about a
    # fifth of a batch's cold start.
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse, PartialItemFailures

# A failure shared by a batch's records is logged once, with this many of their message ids: an outage fails
# hundreds of records alike, and a line per record cost more than the rest of the batch's wrap-up.
_LOGGED_IDS = 20


def handle_sqs_batch[C: BaseModel](
    event: dict[str, Any],
    parse: Callable[[str], C],
    process: Process[C],
    sqs: QueueClient,
    settings: QueueSettings,
    ledger: RecordLedger | None = None,
    remaining_ms: int = 0,
    jitter: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.time,
    claim_by: Deadline | None = None,
    receipts: QueueReceipts | None = None,
) -> PartialItemFailureResponse:
    """Parse, process and settle one SQS batch; return the records SQS should deliver again. Never raises.

    ``parse`` turns a body into a command; ``process`` takes the commands and what is known of each record
    (whether SQS delivered it before, its version), and returns, in the same order, None for each one delivered,
    ``Superseded`` for each one newer edits made unnecessary, and the failure for each one not delivered.

    Each record is read alone: whatever reading it raises is that record's failure (invalid input, or transient
    for an exception nobody expected). If ``process`` raises for the batch, each command is processed alone,
    as possibly sent before, so that a poison record fails by itself.

    With a ``ledger``, each record is claimed by its idempotency key (the producer's ``Idempotency-Key``
    attribute, else the message id it was first queued under) for ``remaining_ms``, until ``claim_by`` (the
    records whose turn comes later are handed back, retried soon): a record delivered before
    is not sent again, one being sent by another invocation waits, and a key reused with another body is
    dead-lettered as invalid input.

    Permanent failures go to the dead-letter queue now, with the reason in message attributes; retryable
    ones stay on the queue, invisible for a backoff (or the vendor's rate-limit wait), until the retry budget is
    spent or the receive count reaches the redrive policy's; then they are dead-lettered with their reason too,
    rather than moved there blind by the redrive policy. A rate-limited record is never dead-lettered for waiting:
    waiting for a vendor's window is not a failed attempt, so it goes back on the queue as a fresh message that is
    not processed before the window ends.

    With ``receipts``, each record whose outcome is final (delivered, superseded, dead-lettered) gets its receipt
    once the batch is settled, and receipts kept on the queue earlier are published (``sqs_receipts``).
    """
    records = _once_each(list(SQSEvent(event).records))
    try:
        return _settle_batch(
            records, parse, process, sqs, settings, ledger, remaining_ms, jitter, clock, claim_by, receipts
        )
    except Exception as error:
        # Whatever was delivered is settled in the ledger, so handing every record back duplicates nothing.
        caught_unexpected(error, "settling an SQS batch")
        return {"batchItemFailures": [{"itemIdentifier": record.message_id} for record in records]}


def _settle_batch[C: BaseModel](
    records: list[SQSRecord],
    parse: Callable[[str], C],
    process: Process[C],
    sqs: QueueClient,
    settings: QueueSettings,
    ledger: RecordLedger | None,
    remaining_ms: int,
    jitter: Callable[[], float],
    clock: Callable[[], float],
    claim_by: Deadline | None,
    receipts: QueueReceipts | None,
) -> PartialItemFailureResponse:
    failures: list[PartialItemFailures] = []
    outcomes: dict[str, Outcome] = {}
    parsed: list[tuple[SQSRecord, C, Decimal]] = []
    invisible: list[tuple[SQSRecord, float]] = []
    if receipts is not None:
        kept = [record for record in records if attribute(record, RECEIPT_ATTRIBUTE)]
        failures.extend(receipts.republish_kept(kept))
        records = [record for record in records if record not in kept]
    for record in records:
        early = seconds_until_due(record, clock)
        if early > 0:
            invisible.append((record, early))
            failures.append({"itemIdentifier": record.message_id})
            continue
        try:
            parsed.append((record, parse(record.body), record_version(record, clock)))
        except ConnectorError as refused:
            outcomes[record.message_id] = refused
        except ValidationError as error:
            outcomes[record.message_id] = invalid_input_from(error, "message body")
        except JsonInputError as error:
            outcomes[record.message_id] = invalid_json(error.field, error.reason, "message body")
        except ValueError as error:  # not JSON at all
            outcomes[record.message_id] = invalid_input(f"message body is not JSON: {error}")
        except Exception as error:
            outcomes[record.message_id] = caught_unexpected(error, "reading a message body")
    claimed = deliver_claimed(parsed, process, ledger, remaining_ms, claim_by)
    outcomes.update(claimed.outcomes)

    dead: list[tuple[SQSRecord, ConnectorError]] = []
    final: list[Receipt] = []
    delivered_now = 0
    connections = {
        record.message_id: getattr(command, "connection", DEFAULT_CONNECTION) for record, command, _ in parsed
    }
    # When each record retried is due again (epoch seconds), and the records moved to the dead-letter queue.
    retry_at: dict[str, float] = {}
    moved: set[str] = set()
    # Per distinct failure (class, status, message): the failure and the records it hit.
    failed: dict[tuple[str, int | None, str], tuple[ConnectorError, list[str]]] = {}
    try:
        for record in records:
            if record.message_id not in outcomes:
                continue
            failure = outcomes[record.message_id]
            if not isinstance(failure, ConnectorError):
                if failure is None or (isinstance(failure, Delivered) and not failure.before):
                    delivered_now += 1
                receipt = receipts.of(record, failure, connections[record.message_id]) if receipts else None
                final += [receipt] if receipt else []
                continue
            failed.setdefault((failure.failure, failure.vendor_status, failure.message), (failure, []))[1].append(
                record.message_id
            )
            receive_count = int(record.attributes.approximate_receive_count or 1)
            wait = settings.retry.wait(failure, receive_count, jitter)
            last_receive = receive_count >= settings.max_receive_count
            if failure.failure is FailureClass.RATE_LIMITED and last_receive:
                due = requeue_after_window(record, failure, sqs, settings, clock)
                if due is None:
                    failures.append({"itemIdentifier": record.message_id})
                else:
                    retry_at[record.message_id] = due
            elif failure.retryable and not last_receive and not _budget_spent(record, wait, settings.retry, clock):
                invisible.append((record, wait))
                retry_at[record.message_id] = clock() + wait
                metrics.add_metric(name="RecordsRetried", unit="Count", value=1)
                failures.append({"itemIdentifier": record.message_id})
            elif failure.failure is FailureClass.RATE_LIMITED:
                # Out of budget while the vendor says wait: the wait is not a failure, so the record waits on.
                invisible.append((record, wait))
                retry_at[record.message_id] = clock() + wait
                failures.append({"itemIdentifier": record.message_id})
            else:
                dead.append((record, _with_attempts(failure, record, settings, clock)))
        for failure, message_ids in failed.values():
            log_failure(failure, records=len(message_ids), message_ids=message_ids[:_LOGGED_IDS])
        count_by("RecordsDelivered", "trigger", {"sqs": delivered_now})
        make_invisible(invisible, sqs, settings)
        not_moved = dead_letter(dead, sqs, settings)
        failures.extend(not_moved)
        stayed = {failure["itemIdentifier"] for failure in not_moved}
        moved = {record.message_id for record, _ in dead if record.message_id not in stayed}
    finally:
        # Also when the above raised: what was delivered is marked done, so that handing every record back (as
        # handle_sqs_batch then does) duplicates nothing.
        if ledger is not None:
            settle_claimed(ledger, claimed, records, retry_at, moved)
    if receipts is not None:
        for record, failure in dead:
            if record.message_id in moved:
                connection = connections.get(record.message_id) or connection_of(record.body)
                final += [receipt for receipt in [receipts.of(record, failure, connection, moved=True)] if receipt]
        receipts.send(final, sqs, settings.queue_url)
    return {"batchItemFailures": failures}


def _once_each(records: list[SQSRecord]) -> list[SQSRecord]:
    """Each message once, as its latest receive: a standard queue may hand one message over twice in a batch.

    Settled twice, it would be claimed against itself and get two receipts; its latest receipt handle is the one
    SQS honours.
    """
    latest: dict[str, SQSRecord] = {}
    for record in records:
        seen = latest.get(record.message_id)
        if seen is None or _receives(record) > _receives(seen):
            latest[record.message_id] = record
    if len(latest) < len(records):
        logger.warning("SQS handed over a message twice in one batch", extra={"repeated": len(records) - len(latest)})
    return [record for record in records if latest[record.message_id] is record]


def _receives(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count or 1)


def _budget_spent(record: SQSRecord, wait: float, budget: RetryBudget, clock: Callable[[], float]) -> bool:
    """Whether the record's next attempt would come after its retry budget, counted from its first attempt."""
    return age(record, clock) + wait > budget.seconds


def _with_attempts(
    failure: ConnectorError, record: SQSRecord, settings: QueueSettings, clock: Callable[[], float]
) -> ConnectorError:
    if not failure.retryable:
        return failure
    receives = int(record.attributes.approximate_receive_count or 1)
    spent = f"retried for {round(age(record, clock))} s over {receives} receives"
    budget = f"the retry budget is {round(settings.retry.seconds)} s and {settings.max_receive_count} receives"
    return dataclasses.replace(failure, message=f"{failure.message} ({spent}; {budget})")
