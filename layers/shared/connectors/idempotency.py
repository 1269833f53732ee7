"""Idempotency through Powertools: API requests by their ``Idempotency-Key``, queued records by producer key.

API requests go through Powertools' ``idempotent_function``; a repeated key gets the stored reply, a key reused
with another request is refused. Queued records are sent coalesced (one vendor call for many records), which
no per-call decorator fits, so the ledger drives the same Powertools persistence layer record by record:
claim each record before the call, mark it done after a delivery, release it after a failure so that a
retry (or a redrive from the dead-letter queue) is processed again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
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
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

from connectors.failures import ConnectorError, FieldProblem, invalid_input, transient
from connectors.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

IDEMPOTENCY_KEY_HEADER = "idempotency-key"
# SQS attribute names allow no spaces or colons; the same name as the HTTP header, for producers.
IDEMPOTENCY_KEY_ATTRIBUTE = "Idempotency-Key"
# Statuses whose reply is final for the request that got it; anything else (429, 5xx) may be retried.
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Claims and marks are single-item DynamoDB writes: send them side by side, not one after the other.
_PARALLEL_WRITES = 16


class Claim(StrEnum):
    """What the ledger says about a record before it is sent."""

    NEW = "new"  # claimed by this invocation: send it
    DONE = "done"  # delivered before: do not send again
    BUSY = "busy"  # another invocation is sending it right now
    MISMATCH = "mismatch"  # the key was used before for another body
    UNAVAILABLE = "unavailable"  # the ledger could not be read or written


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
        record_store = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
        record_config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            expires_after_seconds=expires_after_seconds,
        )
        record_store.configure(record_config, key_prefix=f"{function}#record")
        self.records = RecordLedger(record_store)

    def reply(
        self, key: str, request: Mapping[str, Any], context: LambdaContext, respond: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """``respond()``'s reply, stored under ``key``; a repeat gets the stored reply without responding again.

        Only final replies are stored: a 429 or 5xx is returned but forgotten, so the caller's retry with the
        same key is processed anew. A key reused for another request, or one still being processed, is refused.
        """
        self._api_config.register_lambda_context(context)

        store, config = self._api_store, self._api_config

        @idempotent_function(data_keyword_argument="data", persistence_store=store, config=config)  # type: ignore[untyped-decorator]
        def respond_once(data: dict[str, Any]) -> dict[str, Any]:
            reply = respond()
            if reply.get("statusCode") in _RETRYABLE_STATUSES:
                raise _Unsaved(reply)
            return reply

        try:
            result: dict[str, Any] = respond_once(data={"key": f"{self._function}#{key}", "request": dict(request)})
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
        return result


class RecordLedger:
    """Per-record claims on the Powertools persistence layer, for records that are sent coalesced."""

    def __init__(self, store: BasePersistenceLayer) -> None:
        self._store = store

    def claim(self, entries: list[tuple[str, str]], remaining_ms: int) -> list[Claim]:
        """Claim each ``(key, body)`` for this invocation, in order; the claim expires with the invocation."""
        with ThreadPoolExecutor(max_workers=_PARALLEL_WRITES) as pool:
            return list(pool.map(lambda entry: self._claim(entry[0], entry[1], remaining_ms), entries))

    def settle(self, delivered: list[tuple[str, str]], failed: list[tuple[str, str]]) -> None:
        """Mark ``delivered`` records done and release ``failed`` ones so that a later attempt is processed."""
        jobs = [(self._done, entry) for entry in delivered] + [(self._release, entry) for entry in failed]
        with ThreadPoolExecutor(max_workers=_PARALLEL_WRITES) as pool:
            list(pool.map(lambda job: job[0](*job[1]), jobs))

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

    def _done(self, key: str, body: str) -> None:
        try:
            self._store.save_success({"key": key, "body": body}, result={})
        except Exception:  # a redelivery would be sent again: harmless upsert for two vendors, looked up for Prime
            logger.exception("could not mark a delivered record done in the idempotency table")

    def _release(self, key: str, body: str) -> None:
        try:
            self._store.delete_record({"key": key, "body": body}, exception=RuntimeError("not delivered"))
        except Exception:  # the claim expires with the invocation anyway
            logger.exception("could not release a record in the idempotency table")


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
    return None
