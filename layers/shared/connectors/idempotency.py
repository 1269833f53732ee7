"""Idempotency through Powertools: API requests by their ``Idempotency-Key``, queued records by producer key.

API requests go through Powertools' ``idempotent_function``; a repeated key gets the stored reply, a key reused
with another request is refused. Queued records are sent coalesced (one vendor call for many records), which
no per-call decorator fits, so the ledger drives the same Powertools persistence layer record by record:
claim each record before the call, release it after a failure so that a retry (or a redrive from the dead-letter
queue) is processed again. A claim must be a conditional write of its own. A delivery writes nothing per record:
each claim names its batch, and one item per batch (``<function>#record#batch#<token>``) lists the records it
delivered, so a record costs one write unit, not two (a duplicate's claim reads the batch item to learn it was
delivered). The releases of one batch, and the few settlements too large for the batch item, go 25 to a
BatchWriteItem.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

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
# The attribute of a claim that names its batch.
_BATCH_ATTRIBUTE = "batch"
# A batch item stays well under DynamoDB's 400 KB item limit; the settlements that do not fit are written to their
# records, as is one larger than ``BATCHED_SETTLEMENT_BYTES`` (a record with many vendor ids would fill the item).
BATCH_ITEM_BYTES = 300_000
BATCHED_SETTLEMENT_BYTES = 500
# Rounds of resending what BatchWriteItem left unprocessed (throttling), with backoff, before giving up.
_BATCH_WRITE_ROUNDS = 5
_BATCH_WRITE_BACKOFF_SECONDS = 0.05


class Claim(StrEnum):
    """What the ledger says about a record before it is sent."""

    NEW = "new"  # claimed by this invocation, the first claim of it the ledger holds: send it
    RECLAIMED = "reclaimed"  # claimed by this invocation after an earlier attempt's claim or release: send it
    DONE = "done"  # delivered before: do not send again
    BUSY = "busy"  # another invocation is sending it right now
    MISMATCH = "mismatch"  # the key was used before for another body
    UNAVAILABLE = "unavailable"  # the ledger could not be read or written
    LATE = "late"  # not tried: the time for claiming ran out first


class ClaimedBefore(IdempotencyItemAlreadyExistsError):
    """A record claimed already: its stored record, and the batch whose claim it is (None when settled or released)."""

    def __init__(self, old_data_record: DataRecord, batch: str | None) -> None:
        super().__init__(old_data_record=old_data_record)
        self.batch = batch


SENDABLE = frozenset({Claim.NEW, Claim.RECLAIMED})
"""The claims whose record this invocation sends."""


def new_batch() -> str:
    """A token naming one invocation's batch in the ledger: its claims and the item listing what it delivered."""
    return uuid.uuid4().hex


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

    def claim(self, data: dict[str, Any], remaining_ms: int, batch: str, *, taking_over: str | None = None) -> bool:
        """Claim ``data``'s record for ``batch`` until ``remaining_ms`` from now, as Powertools' in-progress record;
        True when the claim replaced an item an earlier attempt left (its claim or release, or an expired record).

        The condition is Powertools' (no record, an expired one, or a claim whose time ran out), except that a claim
        naming a batch is not taken by time alone: its batch may have delivered it (``batch_outcome``). Only
        ``taking_over`` that batch's claim, once the batch is known not to have delivered it, replaces it. Raises
        ``ClaimedBefore`` (with the stored record) when the record is not free, ``IdempotencyValidationError`` when it
        was stored for another body.
        """
        record = DataRecord(
            idempotency_key=str(self._get_hashed_idempotency_key(data)),
            status=STATUS_CONSTANTS["INPROGRESS"],
            expiry_timestamp=self._get_expiry_timestamp(),
            in_progress_expiry_timestamp=int(time.time() * 1000) + remaining_ms,
            payload_hash=self._get_hashed_payload(data),
        )
        item = {**self._claim_item(record), _BATCH_ATTRIBUTE: {"S": batch}}
        names = {
            "#id": self.key_attr,
            "#expiry": self.expiry_attr,
            "#in_progress_expiry": self.in_progress_expiry_attr,
            "#status": self.status_attr,
            "#batch": _BATCH_ATTRIBUTE,
        }
        now = time.time()
        values: dict[str, Any] = {
            ":now": {"N": str(int(now))},
            ":now_in_millis": {"N": str(int(now * 1000))},
            ":inprogress": {"S": STATUS_CONSTANTS["INPROGRESS"]},
        }
        free = (
            "attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND "
            "attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis AND "
            "attribute_not_exists(#batch))"
        )
        if taking_over is not None:
            free += " OR #batch = :taken"
            values[":taken"] = {"S": taking_over}
        try:
            # The item replaced comes back at no cost in read units.
            answer = self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=free,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws_error_name(error) != "ConditionalCheckFailedException":
                raise
            # The stubs do not list the item DynamoDB returns with a refusal.
            stored = cast(Mapping[str, Any], error.response).get("Item")
            if stored is None:
                raise IdempotencyItemAlreadyExistsError() from error
            old = self._item_to_data_record(dict(stored))
            self._validate_payload(data_payload=record, stored_data_record=old)
            raise ClaimedBefore(old, stored.get(_BATCH_ATTRIBUTE, {}).get("S")) from error
        return bool(answer.get("Attributes"))

    def batch_outcome(self, batch: str, key: str) -> dict[str, Any] | None:
        """The settlement ``batch`` recorded for the record stored under ``key``; None when it delivered no such record.

        Only that record's entry is read back (the item holds the whole batch's); DynamoDB still bills its reads by
        the whole item's size, which only a duplicate or the status route pays.
        """
        answer = self.client.get_item(
            TableName=self.table_name,
            Key=self._get_key(self._batch_key(batch)),
            ConsistentRead=True,
            ProjectionExpression="#delivered.#record, #at",
            ExpressionAttributeNames={"#delivered": "delivered", "#record": _hash(key), "#at": "at"},
        )
        item = answer.get("Item", {})
        entry = item.get("delivered", {}).get("M", {}).get(_hash(key))
        if entry is None:
            return None
        return settlement_of_entry(entry["S"], item.get("at", {}).get("S"))

    def record_batch(self, batch: str, delivered: Mapping[str, str], at: str) -> None:
        """Write ``batch``'s item: each delivered record's entry (``batch_entry``) by its hashed key."""
        self.client.put_item(
            TableName=self.table_name,
            Item={
                **self._get_key(self._batch_key(batch)),
                self.expiry_attr: {"N": str(self._get_expiry_timestamp())},
                "at": {"S": at},
                # By the hash alone: the function's prefix, repeated per record, would be a third of the item.
                "delivered": {"M": {_hash(key): {"S": entry} for key, entry in delivered.items()}},
            },
        )

    def hashed_key(self, data: dict[str, Any]) -> str:
        """``data``'s record key as stored, and as a batch item names it."""
        return str(self._get_hashed_idempotency_key(data))

    def _get_record(self, idempotency_key: str) -> DataRecord:
        """The stored record; a claim its batch delivered reads as completed, with the batch's settlement."""
        answer = self.client.get_item(
            TableName=self.table_name, Key=self._get_key(idempotency_key), ConsistentRead=True
        )
        item = answer.get("Item")
        if item is None:
            raise IdempotencyItemNotFoundError
        record = self._item_to_data_record(item)
        batch = item.get(_BATCH_ATTRIBUTE, {}).get("S")
        if batch is None or record.status != STATUS_CONSTANTS["INPROGRESS"]:
            return record
        settlement = self.batch_outcome(batch, idempotency_key)
        if settlement is None:
            return record
        return DataRecord(
            idempotency_key=idempotency_key,
            status=STATUS_CONSTANTS["COMPLETED"],
            expiry_timestamp=record.expiry_timestamp,
            response_data=json.dumps(settlement),
            payload_hash=record.payload_hash,
        )

    def _batch_key(self, batch: str) -> str:
        return f"{self.function_name}#batch#{batch}"

    def _claim_item(self, record: DataRecord) -> dict[str, Any]:
        item = {
            **self._get_key(record.idempotency_key),
            self.expiry_attr: {"N": str(record.expiry_timestamp)},
            self.status_attr: {"S": record.status},
            self.in_progress_expiry_attr: {"N": str(record.in_progress_expiry_timestamp)},
        }
        if self.payload_validation_enabled:
            item[self.validation_key_attr] = {"S": record.payload_hash}
        return item

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

    def claim(
        self, entries: list[tuple[str, str]], remaining_ms: int, batch: str, by: Deadline | None = None
    ) -> list[Claim]:
        """Claim each ``(key, body)`` for ``batch`` (``new_batch``), in order; the claim expires with the invocation.

        A record whose turn comes after ``by`` is not tried (``LATE``): a slow table must not take the time the
        claimed records need to be delivered and settled.
        """

        def claim(entry: tuple[str, str]) -> Claim:
            if by is not None and by.remaining() <= 0:
                return Claim.LATE
            return self._claim(entry[0], entry[1], remaining_ms, batch)

        with ThreadPoolExecutor(max_workers=PARALLEL_TABLE_WRITES) as pool:
            return list(pool.map(claim, entries))

    def settle(self, delivered: Settled, failed: Settled, batch: str) -> None:
        """Record ``batch``'s ``delivered`` records in its batch item and release ``failed`` ones for a later attempt.

        Each ``((key, body), settlement)`` keeps its settlement (``connectors.deliveries``): a delivered record's in
        the batch item, unless it is large or the item is full (then in the record, as Powertools completes one);
        a failed record's in the record. If the batch item cannot be written, each delivered record is completed.
        """
        batched: dict[str, str] = {}
        completed: Settled = []
        size = 0
        for (key, body), settlement in delivered:
            entry = batch_entry(settlement)
            entry_size = len(entry.encode()) + 26  # the hash and the map's overhead
            if entry_size > BATCHED_SETTLEMENT_BYTES or size + entry_size > BATCH_ITEM_BYTES:
                completed.append(((key, body), settlement))
                continue
            batched[self._store.hashed_key({"key": key, "body": body})] = entry
            size += entry_size
        if batched:
            at = next((settled.at for _, settled in delivered if settled.at is not None), None)
            try:
                self._store.record_batch(batch, batched, at.isoformat() if at else "")
            except (BotoCoreError, ClientError) as error:
                logger.warning(
                    "could not write a batch's deliveries; completing its records one by one",
                    extra={"error": aws_error_name(error)},
                )
                completed = list(delivered)
        with self._store.batched():
            for (key, body), settlement in completed:
                self._store.save_success({"key": key, "body": body}, result=settlement.stored())
            for (key, body), settlement in failed:
                self._store.release({"key": key, "body": body}, settlement.stored())

    @property
    def memory_seconds(self) -> int:
        """How long the ledger keeps a record's item after its last claim or settlement."""
        return self._store.expires_after_seconds

    def find(self, keys: list[str]) -> DataRecord | None:
        """The record of the first of ``keys`` that has one; None when none has. Raises when the table fails."""
        return find_record(self._store, keys)

    def _claim(self, key: str, body: str, remaining_ms: int, batch: str) -> Claim:
        data = {"key": key, "body": body}
        try:
            earlier = self._store.claim(data, remaining_ms, batch)
        except IdempotencyValidationError:
            return Claim.MISMATCH
        except IdempotencyItemAlreadyExistsError as exists:
            return self._existing(data, exists, remaining_ms, batch)
        except Exception:
            logger.exception("could not claim a record in the idempotency table")
            return Claim.UNAVAILABLE
        return Claim.RECLAIMED if earlier else Claim.NEW

    def _existing(
        self, data: dict[str, str], exists: IdempotencyItemAlreadyExistsError, remaining_ms: int, batch: str
    ) -> Claim:
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
        earlier = exists.batch if isinstance(exists, ClaimedBefore) else None
        if earlier is None:
            return Claim.BUSY
        return self._claimed_in_batch(data, record, earlier, remaining_ms, batch)

    def _claimed_in_batch(
        self, data: dict[str, str], record: DataRecord | None, earlier: str, remaining_ms: int, batch: str
    ) -> Claim:
        """A record an earlier batch claimed: delivered by it, still being sent, or left when its invocation ended."""
        try:
            if self._store.batch_outcome(earlier, self._store.hashed_key(data)) is not None:
                return Claim.DONE
            held_until = record.in_progress_expiry_timestamp if record is not None else None
            if held_until is not None and held_until > time.time() * 1000:
                return Claim.BUSY
            # Its invocation ended without recording a delivery or a release (it crashed, or the table failed it):
            # the record was not delivered by it as far as anyone can know, so it is claimed again.
            self._store.claim(data, remaining_ms, batch, taking_over=earlier)
        except IdempotencyItemAlreadyExistsError:
            return Claim.BUSY  # another invocation took it over first
        except Exception:
            logger.exception("could not read a batch's deliveries from the idempotency table")
            return Claim.UNAVAILABLE
        return Claim.RECLAIMED


def batch_entry(settlement: Settlement) -> str:
    """A delivered record's entry in its batch's item, as short as it can be: each byte is paid for per record.

    Its state is the item's (delivered) and its time the batch's; a first attempt's count is left out; a settlement
    that is only vendor ids is their bare list. Compact JSON.
    """
    kept = settlement.stored()
    kept.pop("state", None)
    kept.pop("at", None)
    if kept.get("attempts") == 1:
        del kept["attempts"]
    if kept.keys() <= {"vendor_ids"}:
        return json.dumps(kept.get("vendor_ids", []), separators=(",", ":"))
    return json.dumps(kept, separators=(",", ":"))


def settlement_of_entry(entry: str, at: str | None) -> dict[str, Any]:
    """The settlement a batch item's ``entry`` (``batch_entry``) stands for, delivered at the batch's ``at``."""
    kept = json.loads(entry)
    kept = {"vendor_ids": kept} if isinstance(kept, list) else kept
    return {"state": "delivered", "attempts": 1, **({"at": at} if at else {}), **kept}


def _hash(key: str) -> str:
    """A stored record key's hash (Powertools' MD5, hex) as a batch item names it: 22 characters of base64."""
    digest = bytes.fromhex(key.rpartition("#")[2])
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


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
    """The failure a record gets instead of being sent, or None when it is to be sent (``SENDABLE``) or was (DONE)."""
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
