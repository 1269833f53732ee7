"""A delivered record's entry in its batch's ledger item: short, and read back as the settlement it stands for."""

from datetime import UTC, datetime

import pytest

from connectors.deliveries import Settlement
from connectors.idempotency import batch_entry, settlement_of_entry

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("settlement", "entry"),
    [
        (Settlement.delivered([{"item": 0, "sovId": 7}], 1, AT), '[{"item":0,"sovId":7}]'),
        (Settlement.delivered([], 1, AT), "[]"),
        (Settlement.delivered([{"ID": 5}], 3, AT), '{"attempts":3,"vendor_ids":[{"ID":5}]}'),
        (Settlement.delivered([], 1, AT, superseded=True), '{"superseded":true}'),
    ],
    ids=["first-attempt", "no-ids", "third-attempt", "superseded"],
)
def test_an_entry_keeps_only_what_the_batch_does_not_say_and_reads_back_whole(settlement, entry):
    assert batch_entry(settlement) == entry
    assert Settlement.model_validate(settlement_of_entry(entry, AT.isoformat())) == settlement
