"""Idempotency through Powertools: API requests by their ``Idempotency-Key``, queued records by producer key.

API requests go through Powertools' ``idempotent_function``; a repeated key gets the stored reply, a key reused
with another request is refused. Queued records are sent coalesced (one vendor call for many records), which
no per-call decorator fits, so the ledger drives the same Powertools persistence layer record by record:
claim each record before the call, mark it done after a delivery, release it after a failure so that a
retry (or a redrive from the dead-letter queue) is processed again. A claim must be a conditional write of its
own; the marks and releases of one batch are unconditional and go 25 to a BatchWriteItem.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from botocore.exceptions import BotoCoreError, ClientError

from connectors.deadline import Deadline
from connectors.deliveries import Settlement
from connectors.failures import (
    UNAVAILABLE_RETRY_SECONDS,
    ConnectorError,
    FieldProblem,
    invalid_input,
    out_of_time,
    transient,
)
from connectors.observability import aws_error_name, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef

type Settled = list[tuple[tuple[str, str], Settlement]]
"""Records to settle: each ``(key, body)`` with what the ledger keeps of its attempt."""

IDEMPOTENCY_KEY_HEADER = "idempotency-key"
# SQS attribute names allow no spaces or colons; the same name as the HTTP header, for producers.
IDEMPOTENCY_KEY_ATTRIBUTE = "Idempotency-Key"
# Statuses whose reply is final for the request that got it; anything else (429, 5xx) may be retried.
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Claims and order marks are single-item DynamoDB writes, settles batches of them: send them side by side, not one
# after another. The table's client keeps as many connections (container.TABLE_WRITES_CLIENT_CONFIG).
PARALLEL_TABLE_WRITES = 16
# DynamoDB's BatchWriteItem takes at most 25 writes.
BATCH_WRITE_LIMIT = 25
# Rounds of resending what BatchWriteItem left unprocessed (throttling), with backoff, before giving up.
_BATCH_WRITE_ROUNDS = 5
_BATCH_WRITE_BACKOFF_SECONDS = 0.05


class Claim(StrEnum):
    """What the ledger says about a record before it is sent."""

    NEW = "new"  # claimed by this invocation: send it
    DONE = "done"  # delivered before: do not send again
    BUSY = "busy"  # another invocation is sending it right now
    MISMATCH = "mismatch"  # the key was used before for another body
    UNAVAILABLE = "unavailable"  # the ledger could not be read or written
    LATE = "late"  # not tried: the time for claiming ran out first


class _Unsaved(Exception):  # a carrier, not an error: the reply Powertools must not store
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__("reply not stored")
        self.reply = reply


class Idempotency:
    """The API and record sides of one function's idempotency, on one DynamoDB table."""

    def __init__(self, function: str, table: str, expires_after_seconds: int, dynamodb: Any = None) -> None:
        self._function = function
        self._api_store = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
        self._api_config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="request",
            expires_after_seconds=expires_after_seconds,
        )
        record_store = SettlingStore(table_name=table, boto3_client=dynamodb)
        record_config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            expires_after_seconds=expires_after_seconds,
        )
        record_store.configure(record_config, key_prefix=f"{function}#record")
        self.records = RecordLedger(record_store)
        # Reads the replies ``reply`` stores, by the same key scheme (the decorator configures its own store per call).
        self._api_replies = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
        self._api_replies.configure(self._api_config, key_prefix=self._api_prefix)

    @property
    def _api_prefix(self) -> str:
        return f"{self._function}#api"

    def find_reply(self, keys: list[str]) -> DataRecord | None:
        """The stored reply (or claim) of the first of ``keys`` (replay keys) that has one; None when none has."""
        return find_record(self._api_replies, keys)

    def reply(
        self, key: str, request: Mapping[str, Any], context: LambdaContext, respond: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """``respond()``'s reply, stored under ``key``; a repeat gets the stored reply without responding again.

        Only final replies are stored: a 429 or 5xx is returned but forgotten, so the caller's retry with the
        same key is processed anew. A key reused for another request, or one still being processed, is refused.
        When the table cannot be reached before responding, the request is refused with a 503 (nothing was sent);
        when it fails only after responding, the reply is returned all the same: the vendor has it.
        """
        self._api_config.register_lambda_context(context)

        store, config = self._api_store, self._api_config
        answered: list[dict[str, Any]] = []

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="data", persistence_store=store, config=config, key_prefix=self._api_prefix
        )
        def respond_once(data: dict[str, Any]) -> dict[str, Any]:
            reply = respond()
            answered.append(reply)
            if reply.get("statusCode") in _RETRYABLE_STATUSES:
                raise _Unsaved(reply)
            return reply

        try:
            result: dict[str, Any] = respond_once(data={"key": key, "request": dict(request)})
        except _Unsaved as unsaved:
            return unsaved.reply
        except IdempotencyValidationError as error:
            message = "was used before for a different request; use a new key for a new request"
            problem = FieldProblem(field=f"headers.{IDEMPOTENCY_KEY_ATTRIBUTE}", message=message)
            raise invalid_input(f"{IDEMPOTENCY_KEY_ATTRIBUTE} {message}", [problem]) from error
        except IdempotencyAlreadyInProgressError as error:
            raise transient(
                "a request with this Idempotency-Key is still being processed; retry after it ends",
                retry_after=1.0,
                api_status=409,
            ) from error
        except IdempotencyPersistenceLayerError as error:
            if answered:
                # The key stays claimed until the claim expires; a repeat meanwhile is told to wait, not resent.
                logger.warning("could not store an API reply in the idempotency table", extra={"key_kind": "api"})
                return answered[-1]
            logger.warning("the idempotency table could not be reached", extra={"error": type(error).__name__})
            raise transient(
                "the idempotency store is unavailable; nothing was sent, retry later",
                retry_after=UNAVAILABLE_RETRY_SECONDS,
                api_status=503,
            ) from None
        return result


@dataclass(frozen=True)
class _Settle:
    """One record's settling write, as a batch write request: its completion, or its release (``done`` False)."""

    record: DataRecord
    done: bool
    request: WriteRequestTypeDef


class SettlingStore(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer whose completions and releases, inside ``batched()``, become batch writes.

    ``_update_record`` is the layer's documented extension point: Powertools still builds every record (key,
    hashes, expiry) and only the sending changes. A completion is written whole (a put of what the update would
    leave, less the claim's in-progress expiry, which a completed record does not use). A release (``release``)
    replaces the claim with one already expired, which the next claim takes as Powertools takes any expired claim,
    and which keeps why the attempt failed until then. What a batch write cannot settle is written one record at a
    time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per thread: a write another thread makes meanwhile must not land in this thread's batch.
        self._collecting = threading.local()

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Collect the completions and deletions made inside, then send them 25 to a BatchWriteItem."""
        # By key: one request may not name a key twice, and the last write for a key is the one that counts.
        settles: dict[str, _Settle] = {}
        self._collecting.settles = settles
        try:
            yield
        finally:
            self._collecting.settles = None
        pending = list(settles.values())
        chunks = [pending[start : start + BATCH_WRITE_LIMIT] for start in range(0, len(pending), BATCH_WRITE_LIMIT)]
        with ThreadPoolExecutor(max_workers=PARALLEL_TABLE_WRITES) as pool:
            list(pool.map(self._write_batch, chunks))

    def _update_record(self, data_record: DataRecord) -> None:
        settles = getattr(self._collecting, "settles", None)
        if settles is None:
            super()._update_record(data_record)
            return
        item = self._item(data_record)
        settles[data_record.idempotency_key] = _Settle(data_record, True, {"PutRequest": {"Item": item}})

    def release(self, data: dict[str, Any], settlement: dict[str, Any]) -> None:
        """Give ``data``'s claim back, keeping ``settlement`` (why it failed) in the record until it is claimed again.

        Its in-progress expiry is past, so Powertools' claim condition lets the next attempt take it at once.
        """
        record = DataRecord(
            idempotency_key=str(self._get_hashed_idempotency_key(data)),
            status=STATUS_CONSTANTS["INPROGRESS"],
            expiry_timestamp=self._get_expiry_timestamp(),
            in_progress_expiry_timestamp=0,
            response_data=json.dumps(settlement),
            payload_hash=self._get_hashed_payload(data),
        )
        request: WriteRequestTypeDef = {"PutRequest": {"Item": self._item(record)}}
        settles = getattr(self._collecting, "settles", None)
        if settles is None:
            self._write_one(_Settle(record, False, request))
            return
        settles[record.idempotency_key] = _Settle(record, False, request)

    def _item(self, record: DataRecord) -> dict[str, Any]:
        item = {
            **self._get_key(record.idempotency_key),
            self.expiry_attr: {"N": str(record.expiry_timestamp)},
            self.status_attr: {"S": record.status},
            self.data_attr: {"S": record.response_data},
        }
        if record.in_progress_expiry_timestamp is not None:
            item[self.in_progress_expiry_attr] = {"N": str(record.in_progress_expiry_timestamp)}
        if self.payload_validation_enabled:
            item[self.validation_key_attr] = {"S": record.payload_hash}
        return item

    def _write_batch(self, settles: list[_Settle]) -> None:
        for round_ in range(_BATCH_WRITE_ROUNDS):
            try:
                answer = self.client.batch_write_item(RequestItems={self.table_name: [s.request for s in settles]})
            except (BotoCoreError, ClientError) as error:
                logger.warning(
                    "a batch write to the idempotency table failed; settling its records one by one",
                    extra={"records": len(settles), "error": aws_error_name(error)},
                )
                break
            unprocessed = answer.get("UnprocessedItems", {}).get(self.table_name, [])
            settles = [settle for settle in settles if settle.request in unprocessed]
            if not settles:
                return
            time.sleep(_BATCH_WRITE_BACKOFF_SECONDS * 2**round_ * random.random())  # noqa: S311 - jitter, not secrecy
        for settle in settles:
            self._write_one(settle)

    def _write_one(self, settle: _Settle) -> None:
        try:
            if settle.done:
                super()._update_record(settle.record)
            else:
                self.client.put_item(TableName=self.table_name, Item=settle.request["PutRequest"]["Item"])
        except (BotoCoreError, ClientError) as error:
            # Left in progress, the claim expires with the invocation; a redelivery is then looked up (Prime) or
            # sent again, which is harmless for the two vendors whose writes are upserts.
            logger.warning("could not settle a record in the idempotency table", extra={"error": aws_error_name(error)})


class RecordLedger:
    """Per-record claims on the Powertools persistence layer, for records that are sent coalesced."""

    def __init__(self, store: SettlingStore) -> None:
        self._store = store

    def claim(self, entries: list[tuple[str, str]], remaining_ms: int, by: Deadline | None = None) -> list[Claim]:
        """Claim each ``(key, body)`` for this invocation, in order; the claim expires with the invocation.

        A record whose turn comes after ``by`` is not tried (``LATE``): a slow table must not take the time the
        claimed records need to be delivered and settled.
        """

        def claim(entry: tuple[str, str]) -> Claim:
            if by is not None and by.remaining() <= 0:
                return Claim.LATE
            return self._claim(entry[0], entry[1], remaining_ms)

        with ThreadPoolExecutor(max_workers=PARALLEL_TABLE_WRITES) as pool:
            return list(pool.map(claim, entries))

    def settle(self, delivered: Settled, failed: Settled) -> None:
        """Mark ``delivered`` records done and release ``failed`` ones, so that a later attempt is processed.

        Each ``((key, body), settlement)`` keeps its settlement (``connectors.deliveries``) in the record.
        """
        with self._store.batched():
            for (key, body), settlement in delivered:
                self._store.save_success({"key": key, "body": body}, result=settlement.stored())
            for (key, body), settlement in failed:
                self._store.release({"key": key, "body": body}, settlement.stored())

    def find(self, keys: list[str]) -> DataRecord | None:
        """The record of the first of ``keys`` that has one; None when none has. Raises when the table fails."""
        return find_record(self._store, keys)

    def _claim(self, key: str, body: str, remaining_ms: int) -> Claim:
        data = {"key": key, "body": body}
        try:
            self._store.save_inprogress(data, remaining_time_in_millis=remaining_ms)
        except IdempotencyValidationError:
            return Claim.MISMATCH
        except IdempotencyItemAlreadyExistsError as exists:
            return self._existing(data, exists)
        except Exception:
            logger.exception("could not claim a record in the idempotency table")
            return Claim.UNAVAILABLE
        return Claim.NEW

    def _existing(self, data: dict[str, str], exists: IdempotencyItemAlreadyExistsError) -> Claim:
        record = exists.old_data_record
        if record is None:  # older DynamoDB answers carry no item: read it
            try:
                record = self._store.get_record(data)
            except IdempotencyValidationError:
                return Claim.MISMATCH
            except IdempotencyItemNotFoundError:
                return Claim.BUSY  # deleted in between: another invocation released it; retry soon
            except Exception:
                logger.exception("could not read a record from the idempotency table")
                return Claim.UNAVAILABLE
        if record is not None and record.status == STATUS_CONSTANTS["COMPLETED"]:
            return Claim.DONE
        return Claim.BUSY


def find_record(store: DynamoDBPersistenceLayer, keys: list[str]) -> DataRecord | None:
    """The record ``store`` keeps for the first of ``keys`` that has one, read as stored (no payload to check)."""
    for key in keys:
        # The layer's own key scheme and its read by key, which have no public names.
        hashed = store._get_hashed_idempotency_key({"key": key})
        try:
            return store._get_record(hashed)
        except IdempotencyItemNotFoundError:
            continue
    return None


def claim_failure(claim: Claim) -> ConnectorError | None:
    """The failure a record gets instead of being sent, or None when it is to be sent (NEW) or was (DONE)."""
    if claim is Claim.MISMATCH:
        return invalid_input(
            f"{IDEMPOTENCY_KEY_ATTRIBUTE} was used before for a different message body; use a new key for a new record"
        )
    if claim is Claim.BUSY:
        return transient("another invocation is delivering this record right now", retry_after=30.0)
    if claim is Claim.UNAVAILABLE:
        return transient("the idempotency table could not be reached")
    if claim is Claim.LATE:
        return out_of_time()
    return None
