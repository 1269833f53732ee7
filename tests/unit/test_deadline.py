"""How much of an invocation vendor work may use."""

from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import pytest

from connectors.deadline import RESERVE_SECONDS, Deadline
from connectors.failures import OUT_OF_TIME_RETRY_SECONDS, ConnectorError, FailureClass
from connectors.idempotency import Claim, RecordLedger, SettlingStore, claim_failure
from connectors.order import Edit, ObjectMarks, deliver_in_order


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_an_api_request_keeps_the_fixed_reserve():
    assert Deadline.from_context(Context(30_000)).remaining() == pytest.approx(30 - RESERVE_SECONDS, abs=0.1)


def test_a_batch_keeps_its_share_of_the_invocation_for_its_wrap_up():
    assert Deadline.for_batch(Context(30_000)).remaining() == pytest.approx(21, abs=0.1)


def test_a_batch_near_its_end_still_keeps_at_least_the_fixed_reserve():
    assert Deadline.for_batch(Context(3_000)).remaining() == pytest.approx(3 - RESERVE_SECONDS, abs=0.1)


class Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"the marks were used ({name}) with no time left")


class OneEdit:
    def edits(self, command):
        return [Edit(command, frozenset({"title"}))]

    def narrow(self, command, keep):
        return command


def test_with_no_time_left_no_object_is_held_and_nothing_is_sent():
    def process(commands):
        raise AssertionError("sent with no time left")

    marks = cast(ObjectMarks, Untouchable())
    outcomes = deliver_in_order(
        ["a", "b"], [Decimal(1), Decimal(2)], OneEdit(), marks, Deadline.in_seconds(-1), process
    )

    # Not failed, not tried: back in a second, like a record waiting for a vendor's window.
    assert all(isinstance(o, ConnectorError) and o.failure is FailureClass.RATE_LIMITED for o in outcomes)
    assert len(outcomes) == 2


def test_records_whose_turn_comes_after_the_claim_deadline_are_not_claimed_and_are_retried_soon():
    ledger = RecordLedger(cast(SettlingStore, Untouchable()))

    claims = ledger.claim([("key:a", "{}"), ("key:b", "{}")], 30_000, "batch", by=Deadline.in_seconds(-1))

    assert claims == [Claim.LATE, Claim.LATE]
    failure = claim_failure(Claim.LATE)
    assert failure is not None and failure.failure is FailureClass.RATE_LIMITED
    assert failure.retry_after == OUT_OF_TIME_RETRY_SECONDS


def test_a_share_of_a_deadline_ends_that_far_along():
    now = [100.0]
    deadline = Deadline(110.0, lambda: now[0])
    assert deadline.share(0.5).remaining() == 5.0
    now[0] = 106.0
    assert deadline.share(0.5).remaining() == 2.0
