"""The record ledger against a real DynamoDB table in moto: claims one by one, a batch's deliveries in one item."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from botocore.exceptions import ClientError

from connectors.deliveries import DeliveryState, Settlement, now_utc
from connectors.idempotency import BATCH_WRITE_LIMIT, Claim, Idempotency, Settled, SettlingStore, new_batch
from connectors.models.errors import ErrorBody
from devkit.aws import dynamodb_client
from tests.integration.conftest import keyed_table

pytestmark = pytest.mark.integration

FUNCTION = "LedgerTestFunction"
REMAINING_MS = 30_000


@pytest.fixture
def table(moto) -> Iterator[str]:
    """An idempotency table shaped like the template's, new for each test."""
    with keyed_table(moto, "Idempotency", "expiration") as name:
        yield name


def counting_client(moto) -> tuple[Any, Counter[str]]:
    """A DynamoDB client that counts the requests it sends, by operation."""
    client = dynamodb_client(moto.endpoint_url)
    sent: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: sent.update([model.name]))
    return client, sent


def entries(prefix: str, count: int) -> list[tuple[str, str]]:
    return [(f"default#message:{prefix}-{n}", f'{{"n": {n}}}') for n in range(count)]


def done(settling: list[tuple[str, str]]) -> Settled:
    return [(entry, Settlement.delivered([{"ID": 1}], 1, now_utc())) for entry in settling]


def released(settling: list[tuple[str, str]]) -> Settled:
    error = ErrorBody(failure="transient", message="Procore answered 503")
    settled = Settlement(state=DeliveryState.WAITING_TO_RETRY, at=now_utc(), attempts=1, error=error)
    return [(entry, settled) for entry in settling]


def test_a_batch_s_deliveries_are_one_item_and_its_releases_batch_writes_and_its_claims_then_read_right(moto, table):
    client, sent = counting_client(moto)
    ledger = Idempotency(FUNCTION, table, 3600, client).records
    delivered, failed = entries("done", 60), entries("failed", 30)
    batch = new_batch()
    assert ledger.claim(delivered + failed, REMAINING_MS, batch) == [Claim.NEW] * 90
    sent.clear()

    ledger.settle(done(delivered), released(failed), batch)

    # One item for the 60 delivered, the 30 releases 25 to a request: 3 requests, not 90.
    assert sent == {"PutItem": 1, "BatchWriteItem": -(-30 // BATCH_WRITE_LIMIT)}
    again = ledger.claim(delivered + failed, REMAINING_MS, new_batch())
    # Done is done; a released record can be sent again, and its claim says an earlier attempt left it.
    assert again == [Claim.DONE] * 60 + [Claim.RECLAIMED] * 30


def consumed_write_units(client: Any) -> list[float]:
    """Per write request the client sends from now on, the write capacity units DynamoDB says it consumed."""
    units: list[float] = []

    def total(parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            units.append(float(entry["CapacityUnits"]))

    def ask(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    for operation in ("PutItem", "BatchWriteItem", "UpdateItem"):
        client.meta.events.register(f"provide-client-params.dynamodb.{operation}", ask)
        client.meta.events.register(f"after-call.dynamodb.{operation}", total)
    return units


def test_a_delivered_record_costs_about_one_write_unit(moto, table):
    client = dynamodb_client(moto.endpoint_url)
    ledger = Idempotency(FUNCTION, table, 3600, client).records
    delivered = entries("unit", 100)
    units = consumed_write_units(client)
    batch = new_batch()
    ledger.claim(delivered, REMAINING_MS, batch)
    ledger.settle(done(delivered), [], batch)
    # A claim each (one unit), then one item for the batch: its 1 KB units shared by the hundred.
    assert len(units) == 101 and sum(units[:100]) == 100
    assert sum(units) / 100 <= 1.1


def test_a_delivered_record_stays_done_after_its_invocation_s_time_ran_out(moto, table):
    ledger = Idempotency(FUNCTION, table, 3600, dynamodb_client(moto.endpoint_url)).records
    [entry] = entries("late-duplicate", 1)
    batch = new_batch()
    ledger.claim([entry], 1, batch)  # held for a millisecond: the claim alone would be free again at once
    ledger.settle(done([entry]), [], batch)
    time.sleep(0.01)
    assert ledger.claim([entry], REMAINING_MS, new_batch()) == [Claim.DONE]
    found = ledger.find([entry[0]])
    assert found is not None and found.status == "COMPLETED"
    assert Settlement.model_validate_json(found.response_data or "").vendor_ids == [{"ID": 1}]


def test_a_claim_left_when_its_invocation_ended_is_taken_over_once(moto, table):
    ledger = Idempotency(FUNCTION, table, 3600, dynamodb_client(moto.endpoint_url)).records
    [entry] = entries("crashed", 1)
    ledger.claim([entry], 1, new_batch())  # its invocation ends without settling (a crash)
    time.sleep(0.01)
    # Not delivered, as far as anyone knows; but the crashed attempt may have reached the vendor.
    assert ledger.claim([entry], REMAINING_MS, new_batch()) == [Claim.RECLAIMED]
    assert ledger.claim([entry], REMAINING_MS, new_batch()) == [Claim.BUSY]  # the new claim holds


def test_a_claim_still_held_is_busy_until_its_batch_says_delivered(moto, table):
    ledger = Idempotency(FUNCTION, table, 3600, dynamodb_client(moto.endpoint_url)).records
    [entry] = entries("held", 1)
    batch = new_batch()
    ledger.claim([entry], REMAINING_MS, batch)
    assert ledger.claim([entry], REMAINING_MS, new_batch()) == [Claim.BUSY]
    ledger.settle(done([entry]), [], batch)
    assert ledger.claim([entry], REMAINING_MS, new_batch()) == [Claim.DONE]


def test_a_settlement_too_large_for_the_batch_item_is_written_to_its_record(moto, table):
    client, sent = counting_client(moto)
    ledger = Idempotency(FUNCTION, table, 3600, client).records
    small, large = entries("small", 2), entries("large", 1)
    batch = new_batch()
    ledger.claim(small + large, REMAINING_MS, batch)
    many_ids = [{"id": n, "origin_id": f"origin-{n}"} for n in range(100)]
    sent.clear()
    ledger.settle([*done(small), (large[0], Settlement.delivered(many_ids, 1, now_utc()))], [], batch)
    assert sent == {"PutItem": 1, "BatchWriteItem": 1}
    assert ledger.claim(small + large, REMAINING_MS, new_batch()) == [Claim.DONE] * 3
    found = ledger.find([large[0][0]])
    assert found is not None and len(Settlement.model_validate_json(found.response_data or "").vendor_ids) == 100


def test_a_settled_record_keeps_its_body_check(moto, table):
    ledger = Idempotency(FUNCTION, table, 3600, dynamodb_client(moto.endpoint_url)).records
    [(key, body)] = entries("checked", 1)
    batch = new_batch()
    ledger.claim([(key, body)], REMAINING_MS, batch)
    ledger.settle(done([(key, body)]), [], batch)
    assert ledger.claim([(key, '{"n": "another body"}')], REMAINING_MS, new_batch()) == [Claim.MISMATCH]


def configured_store(client: Any, table: str) -> SettlingStore:
    store = SettlingStore(table_name=table, boto3_client=client)
    store.configure(IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="body"), FUNCTION)
    return store


def test_outside_a_batch_the_store_writes_one_record_as_powertools_does(moto, table):
    client, sent = counting_client(moto)
    store = configured_store(client, table)
    store.save_inprogress({"key": "k", "body": "b"}, remaining_time_in_millis=REMAINING_MS)
    store.save_success({"key": "k", "body": "b"}, result={})
    store.release({"key": "k", "body": "b"}, {"state": "waiting_to_retry"})
    assert sent == {"PutItem": 2, "UpdateItem": 1}


class LeavesOneUnprocessed:
    """A BatchWriteItem that processes all but the last write the first time, then everything."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.requests: list[list[dict[str, Any]]] = []

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        writes = request["RequestItems"][self.table]
        self.requests.append(writes)
        return {"UnprocessedItems": {self.table: writes[-1:]}} if len(self.requests) == 1 else {}


def test_writes_dynamodb_leaves_unprocessed_are_sent_again(table, monkeypatch):
    scripted = LeavesOneUnprocessed(table)
    store = configured_store(scripted, table)
    monkeypatch.setattr("connectors.idempotency.time.sleep", lambda _: None)
    with store.batched():
        for key in ("a", "b", "c"):
            store.release({"key": key, "body": "b"}, {"state": "waiting_to_retry"})
    first, second = scripted.requests
    assert len(first) == 3 and second == first[-1:]


class BatchWritesFail:
    """A DynamoDB client whose BatchWriteItem always fails; every other call goes to the real one."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def batch_write_item(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "arn:aws:iam::1:role/x"}}, "BatchWrite")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_batch_write_that_fails_is_settled_one_record_at_a_time(moto, table, logs):
    client = dynamodb_client(moto.endpoint_url)
    ledger = Idempotency(FUNCTION, table, 3600, BatchWritesFail(client)).records
    delivered, failed = entries("done", 30), entries("failed", 30)
    batch = new_batch()
    ledger.claim(delivered + failed, REMAINING_MS, batch)
    ledger.settle(done(delivered), released(failed), batch)
    assert ledger.claim(delivered + failed, REMAINING_MS, new_batch()) == [Claim.DONE] * 30 + [Claim.RECLAIMED] * 30
    warnings = [line for line in logs.getvalue().splitlines() if "batch write to the idempotency table failed" in line]
    # The error's code, never its message (which names a role here).
    assert len(warnings) == 2 and all('"error":"InternalServerError"' in line for line in warnings)
    assert "role/x" not in logs.getvalue()


class PutsFail(BatchWritesFail):
    """A DynamoDB client whose PutItem fails (the batch item), while its batch writes go to the real one."""

    def put_item(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "PutItem")

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        return self._client.batch_write_item(**request)


def test_a_batch_item_that_cannot_be_written_leaves_its_records_completed_one_by_one(moto, table, logs):
    client = dynamodb_client(moto.endpoint_url)
    delivered = entries("fallback", 3)
    batch = new_batch()
    Idempotency(FUNCTION, table, 3600, client).records.claim(delivered, REMAINING_MS, batch)
    Idempotency(FUNCTION, table, 3600, PutsFail(client)).records.settle(done(delivered), [], batch)
    assert "could not write a batch's deliveries" in logs.getvalue()
    ledger = Idempotency(FUNCTION, table, 3600, client).records
    assert ledger.claim(delivered, REMAINING_MS, new_batch()) == [Claim.DONE] * 3
    found = ledger.find([delivered[0][0]])
    assert found is not None and found.status == "COMPLETED"


def test_a_key_settled_twice_in_one_batch_is_one_write(moto, table):
    # DynamoDB refuses a batch write that names a key twice; the batch item keeps the last settlement for each key.
    client, sent = counting_client(moto)
    ledger = Idempotency(FUNCTION, table, 3600, client).records
    [entry] = entries("twice", 1)
    batch = new_batch()
    ledger.claim([entry], REMAINING_MS, batch)
    sent.clear()
    ledger.settle(done([entry, entry]), [], batch)
    assert sent == {"PutItem": 1}
    assert ledger.claim([entry], REMAINING_MS, new_batch()) == [Claim.DONE]
