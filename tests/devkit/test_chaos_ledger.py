"""The chaos ledger counts what became of each record; these cases show it can find a lost or duplicated one,
a valid record dead-lettered and a failed invocation."""

from devkit.chaos.ledger import VendorSend, count_ledger


def test_a_clean_run_balances():
    ledger = count_ledger(
        "Fn", ["a", "b", "c"], ["a", "b"], ["c"], [VendorSend(("a", "b"), answered_ok=True)], invalid=["c"]
    )
    assert ledger.line() == (
        "ledger Fn: sent=3 delivered=2 dead_lettered=1 lost=0 duplicated=0 valid_dead_lettered=0 errors=0"
    )
    assert ledger.balanced
    assert ledger.problems() == []


def test_a_record_neither_stored_nor_dead_lettered_is_lost():
    ledger = count_ledger("Fn", ["a", "b"], ["a"], [], [])
    assert (ledger.lost, ledger.balanced, ledger.problems()) == (1, False, ["lost=1"])


def test_a_record_the_vendor_holds_twice_is_duplicated():
    ledger = count_ledger("Fn", ["a", "b"], ["a", "a", "b"], [], [])
    assert (ledger.delivered, ledger.duplicated, ledger.balanced) == (2, 1, False)


def test_sending_again_after_a_clean_answer_is_a_duplicate_but_after_a_lost_answer_it_is_not():
    sends = [
        VendorSend(("a", "b"), answered_ok=False),  # dropped or timed out: sending again is right
        VendorSend(("a", "b"), answered_ok=True),
        VendorSend(("b",), answered_ok=True),  # b again after its clean answer: a redelivery sent twice
    ]
    ledger = count_ledger("Fn", ["a", "b"], ["a", "b"], [], sends)
    assert ledger.duplicated == 1


def test_a_record_delivered_and_also_dead_lettered_counts_as_delivered_only():
    ledger = count_ledger("Fn", ["a"], ["a"], ["a"], [], invalid=["a"])
    assert (ledger.delivered, ledger.dead_lettered, ledger.lost, ledger.valid_dead_lettered) == (1, 0, 0, 0)


def test_copies_and_foreign_tokens_do_not_inflate_the_counts():
    ledger = count_ledger("Fn", ["a", "a"], ["a", "zz"], ["yy"], [VendorSend(("zz",), answered_ok=True)] * 2)
    assert ledger.line() == (
        "ledger Fn: sent=1 delivered=1 dead_lettered=0 lost=0 duplicated=0 valid_dead_lettered=0 errors=0"
    )


def test_a_valid_record_in_the_dead_letter_queue_fails_the_run_though_the_ledger_balances():
    ledger = count_ledger("Fn", ["a", "b", "c"], ["a"], ["b", "c"], [], invalid=["c"])
    assert (ledger.dead_lettered, ledger.lost, ledger.valid_dead_lettered) == (2, 0, 1)
    assert ledger.balanced
    assert ledger.problems() == ["valid_dead_lettered=1"]


def test_a_valid_record_dead_lettered_after_it_was_delivered_still_counts():
    # Its retries gave up on a record the vendor holds: a redrive would send it again.
    ledger = count_ledger("Fn", ["a"], ["a"], ["a"], [])
    assert (ledger.delivered, ledger.dead_lettered, ledger.valid_dead_lettered) == (1, 0, 1)


def test_failed_invocations_fail_the_run_and_show_in_the_line():
    ledger = count_ledger("Fn", ["a"], ["a"], [], [], errors=2)
    assert ledger.line().endswith(" lost=0 duplicated=0 valid_dead_lettered=0 errors=2")
    assert ledger.problems() == ["errors=2"]


def test_versioned_records_delivered_or_superseded_are_neither_lost_nor_duplicated():
    # v0 was superseded (never sent), v1 sent twice over a clean answer: an edit's token says nothing of its fate.
    sends = [VendorSend(("pco-v",), answered_ok=True), VendorSend(("pco-v",), answered_ok=True)]
    ledger = count_ledger("Fn", ["a", "v0", "v1"], ["a", "pco-v"], [], sends, versioned=["v0", "v1"], stale=0)
    assert ledger.line() == (
        "ledger Fn: sent=3 delivered=3 dead_lettered=0 lost=0 duplicated=0 valid_dead_lettered=0 errors=0 stale=0"
    )
    assert ledger.problems() == []


def test_a_versioned_record_in_the_dead_letter_queue_is_a_valid_record_dead_lettered():
    ledger = count_ledger("Fn", ["a", "v0", "v1"], ["a"], ["v1"], [], versioned=["v0", "v1"])
    assert (ledger.delivered, ledger.dead_lettered, ledger.lost, ledger.valid_dead_lettered) == (2, 1, 0, 1)
    assert ledger.problems() == ["valid_dead_lettered=1"]


def test_plain_records_are_still_found_lost_and_duplicated_among_versioned_ones():
    sends = [VendorSend(("a", "v0"), answered_ok=True), VendorSend(("a",), answered_ok=True)]
    ledger = count_ledger("Fn", ["a", "b", "c", "v0"], ["a", "c", "c"], [], sends, versioned=["v0"])
    assert (ledger.sent, ledger.delivered, ledger.lost, ledger.duplicated) == (4, 3, 1, 2)
    assert ledger.problems() == ["lost=1", "duplicated=2"]


def test_a_stale_object_fails_the_run_and_shows_in_the_line():
    ledger = count_ledger("Fn", ["a"], ["a"], [], [], stale=2)
    assert ledger.line().endswith(" errors=0 stale=2")
    assert ledger.problems() == ["stale=2"]


def test_a_function_without_ordered_objects_has_no_stale_count():
    assert "stale" not in count_ledger("Fn", ["a"], ["a"], [], []).line()


DELIVERED = "Change order delivered"
DEAD = "Change order dead-lettered"


def test_one_final_receipt_per_record_agreeing_with_the_ledger_passes():
    receipts = {"a": [DELIVERED], "b": [DELIVERED], "c": [DEAD], "not-sent": [DELIVERED]}
    ledger = count_ledger("Fn", ["a", "b", "c"], ["a", "b"], ["c"], [], invalid=["c"], receipts=receipts)
    assert ledger.line().endswith("errors=0 receipts=3 receipts_wrong=0")
    assert ledger.problems() == []


def test_a_missing_second_or_contradicting_receipt_fails_the_run():
    receipts = {"a": [DELIVERED, DELIVERED], "c": [DELIVERED]}  # a twice, b none, c says delivered: 3 wrong
    ledger = count_ledger("Fn", ["a", "b", "c"], ["a", "b"], ["c"], [], invalid=["c"], receipts=receipts)
    assert (ledger.receipts, ledger.receipts_wrong, ledger.problems()) == (2, 3, ["receipts_wrong=3"])
    assert ledger.wrong_receipts[1] == "b: [] (expected ['Change order delivered'])"


def test_each_dead_lettered_copy_of_a_record_has_its_receipt():
    receipts = {"a": [DELIVERED], "c": [DEAD, DEAD]}
    ledger = count_ledger("Fn", ["a", "c"], ["a"], ["c", "c"], [], invalid=["c"], receipts=receipts)
    assert (ledger.receipts, ledger.receipts_wrong) == (2, 0)
    assert count_ledger("Fn", ["c"], [], ["c", "c"], [], invalid=["c"], receipts={"c": [DEAD]}).receipts_wrong == 1
