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
