"""Chaos checks order by what each versioned object holds after the run: for every property an edit set, the
newest such edit's value, exactly as the sandbox stores it. These cases show the check catches an older value
held, a value of the wrong type and an object the vendor never got, and passes a correct state."""

from devkit.chaos.ledger import Newest, StaleObject, find_stale, newest_values
from devkit.chaos.records import ChaosRecord, Version

Held = dict[str, dict[str, object]]  # the vendor's stored state, by object key


def edit(token, key, position, stored):
    return ChaosRecord(token, f"body of {token}", invalid=False, version=Version(key, position, stored, None))


EDITS = [
    edit("v2", "6000001", 2, {"NOTES": "newest notes", "CONDITION": 1}),
    edit("v0", "6000001", 0, {"NOTES": "old notes", "PRICE": "1000.00"}),
    edit("v1", "6000001", 1, {"PRICE": "1001.10", "NOTES": "middle notes"}),
    edit("w0", "6000002", 0, {"DETAILS": "only edit"}),
    ChaosRecord("plain", "a plain record", invalid=False),
]


def test_the_newest_edit_of_each_property_wins_whatever_order_the_edits_are_listed_in():
    assert newest_values(EDITS) == {
        "6000001": {
            "NOTES": Newest("newest notes", "v2"),
            "CONDITION": Newest(1, "v2"),
            "PRICE": Newest("1001.10", "v1"),
        },
        "6000002": {"DETAILS": Newest("only edit", "w0")},
    }


def test_the_newest_state_passes_whatever_else_the_object_holds():
    held: Held = {
        "6000001": {"ID": 6000001, "NOTES": "newest notes", "CONDITION": 1, "PRICE": "1001.10", "QTY": None},
        "6000002": {"ID": 6000002, "DETAILS": "only edit", "CONDITION": 0},
        "5000000": {"ID": 5000000, "NOTES": "a plain record's"},
    }
    assert find_stale(newest_values(EDITS), held) == []


def test_an_older_value_held_is_stale_and_says_what_should_have_won():
    held: Held = {
        "6000001": {"NOTES": "newest notes", "CONDITION": 1, "PRICE": "1000.00"},  # v0's price overwrote v1's
        "6000002": {"DETAILS": "only edit"},
    }
    [stale] = find_stale(newest_values(EDITS), held)
    assert stale == StaleObject("6000001", {"PRICE": Newest("1001.10", "v1")}, {"PRICE": "1000.00"})
    assert stale.describe() == "6000001: PRICE held '1000.00', expected '1001.10' (from v1)"


def test_a_value_of_another_type_or_a_property_missing_is_stale():
    held: Held = {"6000001": {"NOTES": "newest notes", "CONDITION": "1"}, "6000002": {"DETAILS": "only edit"}}
    [stale] = find_stale(newest_values(EDITS), held)
    assert stale.describe() == (
        "6000001: CONDITION held '1', expected 1 (from v2); PRICE held '<absent>', expected '1001.10' (from v1)"
    )


def test_an_object_the_vendor_does_not_hold_is_stale():
    held: Held = {"6000001": {"NOTES": "newest notes", "CONDITION": 1, "PRICE": "1001.10"}}
    [stale] = find_stale(newest_values(EDITS), held)
    assert (stale.key, stale.held, stale.describe()) == ("6000002", None, "6000002: not held by the vendor")
