"""DynamoDB capacity units as AWS bills them: from the sizes of the items written and read."""

from __future__ import annotations

import base64
import json

import pytest

from devkit.bench.aws_requests import ItemAccess, capacity_counts, dynamodb_accesses
from devkit.bench.capacity import item_size, read_units, value_size, write_units

TABLE = "IdempotencyTable"


def signed(target: str) -> dict[str, str]:
    return {
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=key/20261205/us-east-1/dynamodb/aws4_request",
        "HTTP_X_AMZ_TARGET": f"DynamoDB_20120810.{target}",
    }


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),  # UTF-8 bytes, not characters
        ({"N": "12345"}, 4),  # a byte per two significant digits, plus one
        ({"N": "1000"}, 2),  # trailing zeroes do not count
        ({"B": base64.b64encode(b"\x00\x01\x02").decode()}, 3),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bc"]}, 3),
        ({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1),
        ({"L": [{"S": "v"}, {"N": "1"}]}, 3 + (1 + 1) + (1 + 2)),
    ],
)
def test_values_are_sized_as_dynamodb_documents_them(value: dict, size: int) -> None:
    assert value_size(value) == size


def test_an_item_is_its_names_and_values() -> None:
    assert item_size({"id": {"S": "abc"}, "status": {"S": "COMPLETED"}}) == 2 + 3 + 6 + 9


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (3000, 3)])
def test_a_write_is_a_unit_per_kilobyte_rounded_up(size: int, units: int) -> None:
    assert write_units(size) == units
    assert write_units(size, transactional=True) == 2 * units


def test_a_read_is_a_unit_per_4_kb_and_half_that_eventually_consistent() -> None:
    assert read_units(100, consistent=True) == 1
    assert read_units(100, consistent=False) == 0.5
    assert read_units(4097, consistent=True) == 2
    assert read_units(100, consistent=True, transactional=True) == 2


def test_a_batch_write_names_every_item_put_or_deleted() -> None:
    put = {"id": {"S": "f#record#1"}, "data": {"S": "x" * 10}}
    request = {
        "RequestItems": {TABLE: [{"PutRequest": {"Item": put}}, {"DeleteRequest": {"Key": {"id": {"S": "f#mark#2"}}}}]}
    }

    accesses = dynamodb_accesses(signed("BatchWriteItem"), json.dumps(request).encode())

    assert [(access.kind, access.written) for access in accesses] == [("ledger", put), ("order", None)]
    assert all(access.write for access in accesses)


def test_a_write_costs_the_larger_of_the_item_before_and_after_it() -> None:
    update = ItemAccess(TABLE, {"id": {"S": "f#record#1"}}, write=True)
    put = ItemAccess(TABLE, {"id": {"S": "x"}}, write=True, written={"id": {"S": "x"}, "d": {"S": "y" * 2000}})

    counts = capacity_counts([update, update, put], [1500, 100, None], [100, 2100, None])

    assert counts["dynamodb write units"] == 2 + 3 + 2  # shrunk from 1.5 KB; grew to 2.1 KB; the put's own 2 KB
    assert counts["dynamodb ledger write units"] == 5
    assert counts["dynamodb other write units"] == 2


def test_a_failed_conditional_write_still_costs_the_item_it_found() -> None:
    claim = ItemAccess(TABLE, {"id": {"S": "f#record#1"}}, write=True, written={"id": {"S": "f#record#1"}})

    assert capacity_counts([claim], [3000], [3000])["dynamodb write units"] == 3


def test_reads_cost_the_stored_item_by_their_consistency() -> None:
    strong = ItemAccess(TABLE, {"id": {"S": "a"}}, write=False, consistent=True)
    eventual = ItemAccess(TABLE, {"id": {"S": "b"}}, write=False)

    counts = capacity_counts([strong, eventual, eventual], [None, None, None], [5000, 10, None])

    assert counts["dynamodb read units"] == 2 + 0.5 + 0.5  # a missing item still costs a read
    assert "dynamodb write units" not in counts
