"""Batching, bad-item isolation and look-before-resending for Primavera Cloud, against a fake client at the seam."""

from collections.abc import Sequence
from decimal import Decimal

import pytest
from pydantic import ValidationError

from connectors.deadline import Deadline
from connectors.failures import FailureClass, rate_limited, transient, unknown_outcome, vendor_rejected
from connectors.models.exact_json import dumps_exact, loads_exact
from connectors.models.prime import ChangeOrderSov, SovBatchCommand
from prime_change_order_sov_batch.client import SovParent
from prime_change_order_sov_batch.operation import create_sovs

PARENT = {
    "workspaceCode": "WS",
    "projectCode": "PRJ",
    "changeOrderCode": "CO-1",
    "associatedAgreementCode": "AG-1",
    "changeOrderType": "CONTRACT",
    "changeOrderLineItemCode": "LI-1",
}
# What the lost create of the fake does: "applied" stores the items first, "lost" does not.
APPLIED, LOST = "applied", "lost"


def sov(name, line_item=1, **fields):
    return ChangeOrderSov.model_validate(
        {
            "changeOrderLineItemId": line_item,
            "name": name,
            "sovType": "LUMP_SUM",
            "changeOrderSovCost": {"total": 1},
            **fields,
        }
    )


def command(*names):
    return SovBatchCommand(items=[sov(n) for n in names])


def coded(*names, **fields):
    """A command whose items carry the parent codes the read by parent needs."""
    return SovBatchCommand(items=[sov(n, **PARENT, **fields) for n in names])


class FakePrime:
    """Oracle at the seam: rejects every batch holding a name in ``bad`` (whole batch, no detail), keeps what it
    created, and answers the read by parent from that.

    ``outcomes`` scripts the creates in turn: APPLIED or LOST end without an answer (after or before storing),
    a ConnectorError is raised; past the script every create succeeds.
    """

    def __init__(self, bad=(), fail_with=None, outcomes=(), read_fails_with=None):
        self.bad = set(bad)
        self.fail_with = fail_with
        self.outcomes = list(outcomes)
        self.read_fails_with = read_fails_with
        self.calls: list[list[str]] = []
        self.reads: list[SovParent] = []
        self.stored: list[dict] = []
        self.next_id = 100

    def create(self, items: Sequence[ChangeOrderSov], deadline):
        names = [i.name for i in items]
        self.calls.append(names)
        if self.fail_with:
            raise self.fail_with
        if self.bad & set(names):
            raise vendor_rejected("prime answered 400: Invalid input for the Change Order SOV service.", 400)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome == LOST:
            raise unknown_outcome("prime: the request was sent but no answer came (RemoteProtocolError)")
        created = self.store(items)
        if outcome == APPLIED:
            raise unknown_outcome("prime: the request was sent but no answer came (ReadTimeout)")
        return created

    def store(self, items):
        created = []
        for item in items:
            self.next_id += 1
            created.append({**item.wire(), "sovId": self.next_id})
        self.stored.extend(created)
        return created

    def under_parent(self, parent: SovParent, deadline):
        self.reads.append(parent)
        if self.read_fails_with:
            raise self.read_fails_with
        return [s for s in self.stored if SovParent.of(ChangeOrderSov.model_validate(_writable(s))) == parent]


def _writable(stored):
    return {name: value for name, value in stored.items() if name != "sovId"}


def run(commands, fake, batch_size=100, look_first=None, retry_looks_first=False):
    return create_sovs(
        commands, lambda _: fake, Deadline.in_seconds(30), batch_size, look_first, retry_looks_first=retry_looks_first
    )


def names_stored(fake):
    return sorted(s["name"] for s in fake.stored)


def test_items_go_out_in_batches_of_the_configured_size():
    fake = FakePrime()
    results = run([command("a", "b", "c"), command("d", "e")], fake, batch_size=2)
    assert fake.calls == [["a", "b"], ["c", "d"], ["e"]]
    assert all(r.failure() is None for r in results)
    assert [o["name"] for o in results[0].body()["created"]] == ["a", "b", "c"]


def test_one_bad_item_is_isolated_and_the_good_ones_are_created():
    fake = FakePrime(bad={"bad"})
    [good, mixed] = run([command("g1", "g2"), command("g3", "bad", "g4")], fake)
    assert good.failure() is None
    failure = mixed.failure()
    assert failure is not None and failure.failure is FailureClass.VENDOR_REJECTED
    assert "items[1] ('bad')" in failure.message
    assert [o["name"] for o in mixed.body()["created"]] == ["g3", "g4"]
    assert mixed.body()["rejected"][0]["index"] == 1
    assert ["bad"] in fake.calls  # split down to the bad item alone
    assert len(fake.calls) <= 1 + 2 * 3  # a bisection, not one call per item


def test_a_retryable_failure_reaches_every_command_in_the_batch():
    fake = FakePrime(fail_with=transient("prime: server error 502"))
    results = run([command("a"), command("b")], fake)
    assert [r.failure().failure for r in results] == [FailureClass.TRANSIENT] * 2


def test_money_keeps_every_digit_through_the_wire_format():
    text = '{"items": [{"changeOrderLineItemId": 9, "name": "x", "sovType": "UNIT_PRICE", "quantity": 2.75,'
    text += ' "changeOrderSovCost": {"total": 12345678901234.5678901, "unitPrice": 0.1}}]}'
    parsed = SovBatchCommand.model_validate(loads_exact(text))
    cost = parsed.items[0].wire()["changeOrderSovCost"]
    assert cost == {"total": Decimal("12345678901234.5678901"), "unitPrice": Decimal("0.1")}
    assert '"total":12345678901234.5678901' in dumps_exact(parsed.items[0].wire())


# --- an unknown outcome: look, then re-send only what is missing ------------------------------------------------


def test_a_lost_answer_to_an_applied_create_is_found_and_not_sent_again():
    fake = FakePrime(outcomes=[APPLIED])
    [result] = run([coded("a", "b")], fake)
    assert result.failure() is None
    assert fake.calls == [["a", "b"]]
    assert names_stored(fake) == ["a", "b"]
    assert result.body()["created"] == fake.stored  # the objects Oracle holds, ids included


def test_a_create_lost_before_it_was_applied_is_sent_again_once():
    fake = FakePrime(outcomes=[LOST])
    [result] = run([coded("a", "b")], fake)
    assert result.failure() is None
    assert fake.calls == [["a", "b"], ["a", "b"]]
    assert names_stored(fake) == ["a", "b"]


def test_only_the_items_not_found_are_sent_again():
    fake = FakePrime(outcomes=[LOST])
    fake.store(coded("a").items)  # e.g. created by an earlier attempt whose answer was lost too
    [result] = run([coded("a", "b", "c")], fake)
    assert result.failure() is None
    assert fake.calls == [["a", "b", "c"], ["b", "c"]]
    assert names_stored(fake) == ["a", "b", "c"]
    assert [o["name"] for o in result.body()["created"]] == ["a", "b", "c"]


def test_the_items_are_sent_again_at_most_once_per_invocation_then_retried_looking_first():
    fake = FakePrime(outcomes=[LOST, LOST])
    [result] = run([coded("a")], fake, retry_looks_first=True)
    failure = result.failure()
    # Retryable, not dead-lettered: every item can be looked up, and a redelivered record is looked up first.
    assert failure is not None and failure.failure is FailureClass.TRANSIENT
    assert "looks these items up first" in failure.message
    assert fake.calls == [["a"], ["a"]]


def test_when_the_retry_would_not_look_first_a_lost_resend_stays_an_unknown_outcome():
    # An API caller's retry is sent as it is: only the caller can check first, so it is told the outcome is unknown.
    fake = FakePrime(outcomes=[LOST, LOST])
    [result] = run([coded("a")], fake)
    failure = result.failure()
    assert failure is not None and failure.failure is FailureClass.UNKNOWN_OUTCOME
    assert fake.calls == [["a"], ["a"]]


def test_when_the_read_fails_the_items_stay_unknown_and_are_not_sent_again():
    fake = FakePrime(outcomes=[LOST], read_fails_with=transient("prime: server error 502", 502))
    [result] = run([coded("a")], fake)
    failure = result.failure()
    assert failure is not None and failure.failure is FailureClass.UNKNOWN_OUTCOME
    assert "looking up what it created failed: prime: server error 502" in failure.message
    assert fake.calls == [["a"]]


def test_when_the_read_fails_and_the_retry_looks_first_the_items_are_retried_not_sent_again_now():
    fake = FakePrime(outcomes=[LOST], read_fails_with=transient("prime: server error 502", 502))
    [result] = run([coded("a")], fake, retry_looks_first=True)
    failure = result.failure()
    assert failure is not None and failure.failure is FailureClass.TRANSIENT
    assert "looking up what it created failed: prime: server error 502" in failure.message
    assert "looks these items up first" in failure.message
    assert fake.calls == [["a"]]


def test_items_without_the_parent_codes_stay_unknown_without_a_read():
    fake = FakePrime(outcomes=[LOST])
    [result] = run([command("a")], fake)
    failure = result.failure()
    assert failure is not None and failure.failure is FailureClass.UNKNOWN_OUTCOME
    assert "changeOrderLineItemCode" in failure.message
    assert fake.calls == [["a"]] and fake.reads == []


def test_one_read_per_parent_in_the_batch():
    fake = FakePrime(outcomes=[APPLIED])
    other = {**PARENT, "changeOrderLineItemCode": "LI-2"}
    items = [sov("a", **PARENT), sov("b", **PARENT), sov("c", 2, **other)]
    [result] = run([SovBatchCommand(items=items)], fake)
    assert result.failure() is None
    assert [p.line_item_code for p in fake.reads] == ["LI-1", "LI-2"]


def test_an_sov_already_reported_for_another_item_is_not_handed_out_again():
    fake = FakePrime(outcomes=[None, LOST])
    first, second = run([coded("same"), coded("same")], fake, batch_size=1)
    assert first.failure() is None and second.failure() is None
    assert fake.calls == [["same"], ["same"], ["same"]]
    assert len(fake.stored) == 2
    assert first.body()["created"][0]["sovId"] != second.body()["created"][0]["sovId"]


def test_an_sov_with_another_item_code_is_not_the_one_asked_for():
    fake = FakePrime(outcomes=[LOST])
    fake.store(coded("a", itemCode="IC-1").items)
    [result] = run([coded("a", itemCode="IC-2")], fake)
    assert result.failure() is None
    assert fake.calls == [["a"], ["a"]]
    assert [s.get("itemCode") for s in fake.stored] == ["IC-1", "IC-2"]


def test_a_rejected_half_of_a_lost_batch_is_still_isolated():
    fake = FakePrime(bad={"bad"}, outcomes=[LOST])
    [result] = run([coded("a", "bad")], fake)
    failure = result.failure()
    assert failure is not None and failure.failure is FailureClass.VENDOR_REJECTED
    assert names_stored(fake) == ["a"]
    assert [r["name"] for r in result.body()["rejected"]] == ["bad"]


# --- a redelivered record: look before the first send ----------------------------------------------------------


def test_a_redelivered_command_finds_its_sovs_and_sends_only_the_missing_ones():
    fake = FakePrime()
    fake.store(coded("a").items)
    fresh, redelivered = run([coded("x"), coded("a", "b")], fake, look_first=[False, True])
    assert fresh.failure() is None and redelivered.failure() is None
    assert fake.calls == [["x", "b"]]
    assert names_stored(fake) == ["a", "b", "x"]
    assert [o["name"] for o in redelivered.body()["created"]] == ["a", "b"]


def test_a_redelivered_command_whose_read_fails_keeps_the_reads_failure_and_sends_nothing():
    fake = FakePrime(read_fails_with=rate_limited("prime: rate limited: 429- Too Many Requests", retry_after=1.0))
    [result] = run([coded("a")], fake, look_first=[True])
    failure = result.failure()
    assert failure is not None and failure.failure is FailureClass.RATE_LIMITED and failure.retry_after == 1.0
    assert "redelivered" in failure.message
    assert fake.calls == []


def test_a_redelivered_command_without_the_parent_codes_is_sent_since_it_cannot_be_looked_up():
    # Dead-lettering it instead would keep it from ever being delivered, a redrive after a check included.
    fake = FakePrime()
    [result] = run([command("a")], fake, look_first=[True])
    assert result.failure() is None
    assert [len(call) for call in fake.calls] == [1]


def test_look_first_needs_one_flag_per_command():
    with pytest.raises(ValueError, match="look_first"):
        run([coded("a"), coded("b")], FakePrime(), look_first=[True])


@pytest.mark.parametrize(
    "given", ["2024-05-01T00:00:00", "2024-05-01T00:00:00Z", "2024-05-01T08:00:00.5+02:00", "2024-05-01T08:00:00-0500"]
)
def test_a_period_applied_date_goes_out_as_given_with_or_without_an_offset(given):
    sov = ChangeOrderSov.model_validate(
        {**coded("a").items[0].model_dump(exclude_none=True), "periodAppliedDate": given}
    )
    assert sov.wire()["periodAppliedDate"] == given  # no zone invented for a date-time Oracle's way


@pytest.mark.parametrize("given", ["2024-05-01", "2024-02-30T00:00:00", "2024-05-01 00:00:00", "yesterday"])
def test_a_period_applied_date_that_is_not_a_real_date_time_is_invalid_input(given):
    with pytest.raises(ValidationError) as raised:
        with_period_applied_date(given)
    assert raised.value.errors()[0]["loc"] == ("periodAppliedDate",)


def with_period_applied_date(given: str) -> ChangeOrderSov:
    return ChangeOrderSov.model_validate({**coded("a").items[0].wire(), "periodAppliedDate": given})
