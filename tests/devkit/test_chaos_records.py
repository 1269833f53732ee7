"""Chaos's versioned records: groups of successive edits of one object whose producer versions (when given) grow
as the layer reads them, whose expected values are exactly what the sandbox stores once the function has sent
them, and which are queued oldest first, never two edits of one object in one batch."""

import json
import random
from collections import Counter

import pytest

from connectors.models.constructiononline import ChangeOrderUpdateCommand
from connectors.models.exact_json import loads_exact
from connectors.models.procore import PcoSyncCommand
from connectors.order import parse_version
from devkit.chaos.records import (
    CONSTRUCTIONONLINE_VERSIONS,
    FIRST_VERSIONED_CHANGE_ORDER_ID,
    PROCORE_VERSIONS,
    SEND_BATCH,
    build_records,
    build_versioned,
    change_order_ids,
    constructiononline_record,
    interleave,
    procore_record,
    send_batches,
)
from devkit.sandbox.constructiononline.co_info import parse_co_info
from devkit.sandbox.procore.pco_attributes import parse_item

VENDORS = {"procore": PROCORE_VERSIONS, "constructiononline": CONSTRUCTIONONLINE_VERSIONS}


def versioned(vendor, count=300, seed=3):
    return build_versioned("x-run", count, VENDORS[vendor], random.Random(seed))


def by_object(records):
    objects: dict[str, list] = {}
    for record in records:
        if record.version is not None:
            objects.setdefault(record.version.object_key, []).append(record)
    return objects


@pytest.mark.parametrize("vendor", VENDORS)
def test_objects_get_two_to_four_edits_of_one_to_three_properties_each(vendor):
    records = versioned(vendor)
    objects = by_object(records)

    assert 300 <= len(records) <= 303
    assert len({record.token for record in records}) == len(records)
    assert {len(edits) for edits in objects.values()} == {2, 3, 4}
    for edits in objects.values():
        assert [edit.version.position for edit in edits] == list(range(len(edits)))
        assert all(1 <= len(edit.version.stored) <= 3 for edit in edits)
        assert all(not edit.invalid for edit in edits)


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_third_of_the_objects_each_go_without_producer_versions_with_counters_and_with_date_times(vendor):
    kinds: Counter[str] = Counter()
    for edits in by_object(versioned(vendor)).values():
        given = [edit.version.producer_version for edit in edits]
        if given[0] is None:
            assert given == [None] * len(edits)  # SentTimestamp decides for the whole object
            kinds["none"] += 1
            continue
        parsed = [parse_version(text) for text in given]
        assert parsed == sorted(parsed) and len(set(parsed)) == len(parsed)
        kinds["date-time" if "T" in given[0] else "counter"] += 1
    assert set(kinds) == {"none", "counter", "date-time"}
    assert max(kinds.values()) - min(kinds.values()) <= 1  # the objects take turns


def test_producer_versions_do_not_sort_as_text():
    # A layer that compared the attribute as text would order these wrongly.
    edits = next(e for e in by_object(versioned("procore")).values() if len(e) == 4 and e[0].version.producer_version)
    given = [edit.version.producer_version for edit in edits]
    assert sorted(given) != given


def test_procore_edits_expect_what_the_sandbox_stores_from_what_the_function_sends():
    for record in versioned("procore"):
        [update] = PcoSyncCommand.model_validate(loads_exact(record.body)).updates
        attributes, errors = parse_item(update.wire())
        assert errors == {}
        assert attributes.pop("origin_id") == record.version.object_key
        assert attributes == record.version.stored


def test_constructiononline_edits_expect_what_the_sandbox_stores_from_what_the_function_sends():
    for record in versioned("constructiononline"):
        command = ChangeOrderUpdateCommand.model_validate(loads_exact(record.body))
        assert str(command.id) == record.version.object_key
        stored = parse_co_info(json.dumps(command.coInfo.wire()))
        assert stored == record.version.stored
        assert [type(value) for value in stored.values()] == [type(v) for v in record.version.stored.values()]


@pytest.mark.parametrize("vendor", VENDORS)
def test_each_property_gets_a_different_value_from_each_edit_of_an_object(vendor):
    for edits in by_object(versioned(vendor)).values():
        values = Counter((name, repr(value)) for edit in edits for name, value in edit.version.stored.items())
        assert max(values.values()) == 1


def test_interleaving_keeps_every_record_and_each_objects_edits_in_order():
    rng = random.Random(5)
    plain = build_records("co-run", 500, 0.01, constructiononline_record, rng)
    edits = versioned("constructiononline", count=100)

    mixed = interleave(plain, edits, rng)

    assert sorted(r.token for r in mixed) == sorted(r.token for r in [*plain, *edits])
    assert mixed[: len(plain)] != plain  # versioned edits are spread among the plain records
    for object_edits in by_object(mixed).values():
        assert [edit.version.position for edit in object_edits] == list(range(len(object_edits)))


def test_no_batch_holds_two_edits_of_one_object_and_the_order_stays():
    rng = random.Random(5)
    records = interleave(build_records("pco-run", 200, 0.01, procore_record, rng), versioned("procore", 200), rng)

    batches = list(send_batches(records))

    assert [r.token for batch in batches for r in batch] == [r.token for r in records]
    assert all(1 <= len(batch) <= SEND_BATCH for batch in batches)
    for batch in batches:
        keys = [r.version.object_key for r in batch if r.version is not None]
        assert len(keys) == len(set(keys))
    assert any(len(batch) < SEND_BATCH for batch in batches[:-1])  # the rule did split some batches


def test_every_change_order_a_record_updates_is_seeded_once():
    rng = random.Random(5)
    plain = build_records("co-run", 20, 0.01, constructiononline_record, rng)
    edits = versioned("constructiononline", count=10)

    ids = change_order_ids(interleave(plain, edits, rng))

    assert ids == sorted({*range(5_000_000, 5_000_020), *(int(key) for key in by_object(edits))})
    assert min(int(key) for key in by_object(edits)) == FIRST_VERSIONED_CHANGE_ORDER_ID
