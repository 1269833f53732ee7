"""The Procore command model: every seed field, the status enum, exact 64-bit ids, dates as Procore stores them."""

import pytest
from pydantic import ValidationError

from connectors.models.errors import invalid_input_from
from connectors.models.procore import PcoStatus, PcoSyncCommand, PcoUpdate

BIG_ID = 2**53 + 1


def command(**updates_and_fields):
    fields = {"company_id": 1, "project_id": 2, "contract_id": 3, "updates": [{"origin_id": "CO-1"}]}
    fields.update(updates_and_fields)
    return PcoSyncCommand.model_validate(fields)


def problems(**fields):
    with pytest.raises(ValidationError) as caught:
        command(**fields)
    return {p.field: p.message for p in invalid_input_from(caught.value, "command").problems}


def test_every_seed_field_is_accepted_and_sent_as_given():
    item = {
        "origin_id": "CO-1",
        "origin_data": "{opaque}",
        "number": "007",
        "title": "Extra footing",
        "description": "Rock found",
        "status": "pending",
        "prime_change_event_id": BIG_ID,
        "commitment_change_event_id": 5,
        "change_order_request_id": 6,
        "change_order_request": {"change_order_package_id": 7},
        "currency_exchange_rate": "1.0825",
        "schedule_impact_amount": -3,
        "paid_date": "2024-05-01",
        "invoiced_date": "2024-05-02",
        "due_date": "2024-05-03T12:30:00Z",
    }
    update = command(updates=[item]).updates[0]
    assert update.wire() == item


def test_the_eleven_statuses():
    assert len(PcoStatus) == 11
    assert problems(updates=[{"origin_id": "a", "status": "accepted"}])["updates[0].status"].startswith(
        "Input should be"
    )


def test_ids_above_2_53_stay_exact_and_digit_strings_are_accepted():
    parsed = PcoSyncCommand.model_validate_json(
        f'{{"company_id": "{BIG_ID}", "project_id": {BIG_ID}, "contract_id": 3, "updates": [{{"id": {BIG_ID}}}]}}'
    )
    assert parsed.company_id == BIG_ID
    assert parsed.updates[0].wire() == {"id": BIG_ID}


def test_float_ids_are_refused_by_name():
    assert "not a float" in problems(company_id=1.0)["company_id"]


def test_unknown_field_is_refused_with_its_path():
    assert problems(updates=[{"origin_id": "a", "colour": "red"}]) == {
        "updates[0].colour": "unknown field: not part of the vendor's schema"
    }


def test_dates_are_normalised_to_what_procore_stores():
    update = PcoUpdate(origin_id="a", paid_date="2024-05-01T23:30:00-02:00", due_date="2024-05-03")
    assert update.wire() == {"origin_id": "a", "paid_date": "2024-05-02", "due_date": "2024-05-03T00:00:00Z"}


@pytest.mark.parametrize("bad", ["2024-13-01", "05/01/2024", "yesterday"])
def test_malformed_dates_are_refused_before_procore_could_null_them(bad):
    assert "updates[0].paid_date" in problems(updates=[{"origin_id": "a", "paid_date": bad}])


def test_a_date_time_without_time_zone_is_refused():
    found = problems(updates=[{"origin_id": "a", "due_date": "2024-05-03T10:00:00"}])
    assert "time zone" in found["updates[0].due_date"]


def test_every_update_needs_a_key_and_keys_are_unique():
    assert "origin_id (or id)" in problems(updates=[{"title": "no key"}])["updates[0]"]
    duplicate = problems(updates=[{"origin_id": "a"}, {"origin_id": "a"}])
    assert "appears twice" in duplicate["updates"]


def test_connection_names_cannot_leave_their_vendor_prefix():
    assert "connection" in problems(connection="../prime/default")
