"""The chaos ledger counts what became of each record; these cases show it can find a lost or duplicated one."""

from devkit.chaos.ledger import VendorSend, count_ledger


def test_a_clean_run_balances():
    ledger = count_ledger("Fn", ["a", "b", "c"], ["a", "b"], ["c"], [VendorSend(("a", "b"), answered_ok=True)])
    assert ledger.line() == "ledger Fn: sent=3 delivered=2 dead_lettered=1 lost=0 duplicated=0"
    assert ledger.balanced


def test_a_record_neither_stored_nor_dead_lettered_is_lost():
    ledger = count_ledger("Fn", ["a", "b"], ["a"], [], [])
    assert (ledger.lost, ledger.balanced) == (1, False)


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
    ledger = count_ledger("Fn", ["a"], ["a"], ["a"], [])
    assert (ledger.delivered, ledger.dead_lettered, ledger.lost) == (1, 0, 0)


def test_copies_and_foreign_tokens_do_not_inflate_the_counts():
    ledger = count_ledger("Fn", ["a", "a"], ["a", "zz"], ["yy"], [VendorSend(("zz",), answered_ok=True)] * 2)
    assert ledger.line() == "ledger Fn: sent=1 delivered=1 dead_lettered=0 lost=0 duplicated=0"
