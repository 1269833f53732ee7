"""Coalescing, splitting and matching outcomes back by key, against a fake Procore client at the seam."""

from collections.abc import Sequence

from connectors.deadline import Deadline
from connectors.failures import FailureClass, rate_limited, vendor_rejected
from connectors.models.procore import PcoSyncCommand, PcoUpdate, SyncResponse
from procore_pco_sync.operation import plan_calls, sync_commands


def cmd(keys, project_id=2, connection="default"):
    return PcoSyncCommand(
        connection=connection,
        company_id=1,
        project_id=project_id,
        contract_id=3,
        updates=[PcoUpdate(origin_id=k) for k in keys],
    )


class FakeProcore:
    """Stores everything except origin_ids listed in ``refuse``; answers in reverse order."""

    def __init__(self, refuse=(), fail_with=None, reject_calls_containing=None):
        self.calls: list[list[str]] = []
        self.refuse = set(refuse)
        self.fail_with = fail_with
        self.reject_calls_containing = reject_calls_containing

    def sync(self, company_id, project_id, contract_id, updates: Sequence[PcoUpdate], deadline):
        keys = [str(u.origin_id) for u in updates]
        self.calls.append(keys)
        if self.fail_with:
            raise self.fail_with
        if self.reject_calls_containing in keys:
            raise vendor_rejected("procore answered 422: origin_id has already been taken", 422)
        entities = [{"id": 10 + i, "origin_id": k} for i, k in enumerate(keys) if k not in self.refuse]
        errors = [{"origin_id": k, "errors": {"status": ["is invalid"]}} for k in keys if k in self.refuse]
        return SyncResponse(entities=entities[::-1], errors=errors[::-1])


def test_records_for_one_target_go_out_in_one_call_and_outcomes_map_back_by_origin_id():
    fake = FakeProcore(refuse={"b2"})
    results = sync_commands([cmd(["a1", "a2"]), cmd(["b1", "b2"])], lambda _: fake, Deadline.in_seconds(30))
    assert fake.calls == [["a1", "a2", "b1", "b2"]]
    assert [e["origin_id"] for e in results[0].entities] == ["a1", "a2"]
    assert results[0].failure() is None
    failure = results[1].failure()
    assert failure is not None and failure.failure is FailureClass.VENDOR_REJECTED
    assert "origin_id=b2: status: is invalid" in failure.message
    assert [e["origin_id"] for e in results[1].entities] == ["b1"]


def test_more_than_1000_updates_are_split_and_targets_kept_apart():
    big = cmd([f"k{i}" for i in range(2500)])
    other = cmd(["x"], project_id=9)
    calls = plan_calls([big, other])
    assert [len(c.items) for c in calls] == [1000, 1000, 500, 1]
    fake = FakeProcore()
    results = sync_commands([big, other], lambda _: fake, Deadline.in_seconds(30))
    assert len(results[0].entities) == 2500 and results[1].failure() is None


def test_the_same_key_twice_in_a_batch_goes_out_in_separate_calls():
    assert [len(c.items) for c in plan_calls([cmd(["a", "b"]), cmd(["a"])])] == [2, 1]


def test_a_whole_request_refusal_is_isolated_to_the_record_that_caused_it():
    fake = FakeProcore(reject_calls_containing="bad")
    results = sync_commands([cmd(["ok1"]), cmd(["bad"]), cmd(["ok2"])], lambda _: fake, Deadline.in_seconds(30))
    assert fake.calls == [["ok1", "bad", "ok2"], ["ok1"], ["bad"], ["ok2"]]
    assert [r.failure() is None for r in results] == [True, False, True]


def test_a_retryable_failure_is_given_to_every_record_of_the_call():
    fake = FakeProcore(fail_with=rate_limited("procore: rate limited", retry_after=30))
    results = sync_commands([cmd(["a"]), cmd(["b"])], lambda _: fake, Deadline.in_seconds(30))
    failures = [r.failure() for r in results]
    assert [f.failure if f else None for f in failures] == [FailureClass.RATE_LIMITED] * 2


def test_an_item_procore_did_not_answer_for_is_retried_not_assumed_stored():
    class Forgetful(FakeProcore):
        def sync(self, *args, **kwargs):
            response = super().sync(*args, **kwargs)
            return SyncResponse(entities=response.entities[1:], errors=[])

    [result] = sync_commands([cmd(["a", "b"])], lambda _: Forgetful(), Deadline.in_seconds(30))
    failure = result.failure()
    assert failure is not None and failure.retryable and "no outcome" in failure.message
