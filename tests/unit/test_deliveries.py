"""What a ledger item says about a key: ``connectors.deliveries.status_of`` on every kind of item there is."""

import json
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from connectors.deliveries import STORED_VENDOR_IDS, DeliveryState, ReplyReader, Settlement, status_of
from connectors.failures import vendor_rejected
from connectors.models.errors import ErrorBody

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def ids(body):
    return [{"id": entity["id"]} for entity in body["entities"]]


def record(status: str, data: str = "", held_until: datetime | None = None) -> DataRecord:
    held = int(held_until.timestamp() * 1000) if held_until else None
    return DataRecord(
        "k", status, expiry_timestamp=2_000_000_000, in_progress_expiry_timestamp=held, response_data=data
    )


def status(item: DataRecord, trigger="sqs"):
    return status_of(item, trigger, "erp-1", "default", ReplyReader(ids), NOW)


def test_a_claim_still_held_is_in_progress():
    answer = status(record("INPROGRESS", held_until=NOW + timedelta(seconds=30)))
    assert answer.state is DeliveryState.IN_PROGRESS and answer.connection == "default" and answer.key == "erp-1"


def test_a_claim_whose_invocation_ended_unsettled_waits_for_the_queue():
    answer = status(record("INPROGRESS", held_until=NOW - timedelta(seconds=1)))
    assert answer.state is DeliveryState.WAITING_TO_RETRY and answer.error is not None
    assert answer.error.failure == "unknown_outcome"


def test_a_settlement_is_answered_as_it_was_kept():
    error = ErrorBody(failure="transient", message="Procore answered 502", vendor_status=502)
    kept = Settlement(state=DeliveryState.WAITING_TO_RETRY, at=NOW, attempts=2, error=error, retry_at=NOW)
    # A release is a claim already expired: the settlement in its data decides, not its status.
    answer = status(record("INPROGRESS", json.dumps(kept.stored()), held_until=datetime.fromtimestamp(0, UTC)))
    assert answer.state is DeliveryState.WAITING_TO_RETRY and answer.error == error and answer.retry_at == NOW
    assert answer.attempts == 2 and answer.trigger == "sqs"


def test_a_delivered_record_keeps_a_bounded_number_of_vendor_ids():
    many = [{"ID": n} for n in range(STORED_VENDOR_IDS + 5)]
    kept = Settlement.delivered(many, 1, NOW)
    assert len(kept.vendor_ids) == STORED_VENDOR_IDS and kept.vendor_ids_total == STORED_VENDOR_IDS + 5
    assert Settlement.delivered(many[:3], 1, NOW).vendor_ids_total is None
    answer = status(record("COMPLETED", json.dumps(kept.stored())))
    assert answer.state is DeliveryState.DELIVERED and answer.vendor_ids == many[:STORED_VENDOR_IDS]


def test_a_record_settled_before_settlements_were_kept_is_delivered():
    assert status(record("COMPLETED", "{}")).state is DeliveryState.DELIVERED


def test_an_api_reply_is_delivered_with_the_ids_of_its_body_or_refused_with_its_error():
    delivered = {"statusCode": 200, "body": json.dumps({"entities": [{"id": 7}]})}
    answer = status(record("COMPLETED", json.dumps(delivered)), trigger="api")
    assert answer.state is DeliveryState.DELIVERED and answer.vendor_ids == [{"id": 7}] and answer.connection is None
    error = {"failure": "invalid_input", "message": "bad", "problems": []}
    refused = {"statusCode": 400, "body": json.dumps({"error": error})}
    answer = status(record("COMPLETED", json.dumps(refused)), trigger="api")
    assert answer.state is DeliveryState.REFUSED and answer.error == ErrorBody.model_validate(error)


def test_an_api_reply_delivered_in_part_keeps_the_error_of_the_items_refused_inside_it():
    def refused(body):
        return vendor_rejected(f"rejected {body['errors']}") if body["errors"] else None

    replies = ReplyReader(ids, refused)
    part = {"statusCode": 200, "body": json.dumps({"entities": [{"id": 7}], "errors": ["origin_id=x"]})}
    answer = status_of(record("COMPLETED", json.dumps(part)), "api", "erp-1", "default", replies, NOW)
    assert answer.state is DeliveryState.DELIVERED and answer.vendor_ids == [{"id": 7}]
    assert answer.error == ErrorBody(failure="vendor_rejected", message="rejected ['origin_id=x']")
    whole = {"statusCode": 200, "body": json.dumps({"entities": [{"id": 7}], "errors": []})}
    assert status_of(record("COMPLETED", json.dumps(whole)), "api", "erp-1", "default", replies, NOW).error is None
