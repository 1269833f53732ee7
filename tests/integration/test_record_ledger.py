"""The record ledger against a real DynamoDB table in moto: claims one by one, a batch's settles 25 to a request."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from botocore.exceptions import ClientError

from connectors.deliveries import DeliveryState, Settlement, now_utc
from connectors.idempotency import BATCH_WRITE_LIMIT, Claim, Idempotency, Settled, SettlingStore
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


def test_a_batch_is_settled_in_batch_writes_and_its_claims_then_read_right(moto, table):
    client, sent = counting_client(moto)
    ledger = Idempotency(FUNCTION, table, 3600, client).records
    delivered, failed = entries("done", 60), entries("failed", 10)
    assert ledger.claim(delivered + failed, REMAINING_MS) == [Claim.NEW] * 70
    sent.clear()

    ledger.settle(done(delivered), released(failed))

    assert sent == {"BatchWriteItem": -(-70 // BATCH_WRITE_LIMIT)}  # 3 requests, not 70
    again = ledger.claim(delivered + failed, REMAINING_MS)
    assert again == [Claim.DONE] * 60 + [Claim.NEW] * 10  # done is done; a released record can be sent again


def test_a_settled_record_keeps_its_body_check(moto, table):
    ledger = Idempotency(FUNCTION, table, 3600, dynamodb_client(moto.endpoint_url)).records
    [(key, body)] = entries("checked", 1)
    ledger.claim([(key, body)], REMAINING_MS)
    ledger.settle(done([(key, body)]), [])
    assert ledger.claim([(key, '{"n": "another body"}')], REMAINING_MS) == [Claim.MISMATCH]


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
    delivered, failed = entries("done", 30), entries("failed", 3)
    ledger.claim(delivered + failed, REMAINING_MS)
    ledger.settle(done(delivered), released(failed))
    assert ledger.claim(delivered + failed, REMAINING_MS) == [Claim.DONE] * 30 + [Claim.NEW] * 3
    warnings = [line for line in logs.getvalue().splitlines() if "batch write to the idempotency table failed" in line]
    # The error's code, never its message (which names a role here).
    assert len(warnings) == 2 and all('"error":"InternalServerError"' in line for line in warnings)
    assert "role/x" not in logs.getvalue()


def test_a_key_settled_twice_in_one_batch_is_one_write(moto, table):
    # DynamoDB refuses a batch write that names a key twice; the store keeps the last write for each key.
    client, sent = counting_client(moto)
    ledger = Idempotency(FUNCTION, table, 3600, client).records
    [entry] = entries("twice", 1)
    ledger.claim([entry], REMAINING_MS)
    sent.clear()
    ledger.settle(done([entry, entry]), [])
    assert sent == {"BatchWriteItem": 1}
    assert ledger.claim([entry], REMAINING_MS) == [Claim.DONE]
