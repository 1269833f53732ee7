"""One precedence of failure classes decides a command's fate, the same for every operation."""

from connectors.failures import (
    POLICIES,
    PRECEDENCE,
    FailureClass,
    deciding_failure,
    forbidden,
    misconfiguration,
    rate_limited,
    transient,
    unknown_outcome,
    vendor_rejected,
)
from constructiononline_change_order_update.operation import UpdateResult
from prime_change_order_sov_batch.operation import SovResult
from procore_pco_sync.operation import SyncResult


def test_every_failure_class_is_ranked_once():
    assert sorted(PRECEDENCE) == sorted(FailureClass)
    assert len(set(PRECEDENCE)) == len(PRECEDENCE)


def test_the_classes_worth_retrying_rank_before_the_permanent_ones():
    retryable = [POLICIES[failure_class].retryable for failure_class in PRECEDENCE]
    assert retryable == sorted(retryable, reverse=True)


def test_the_highest_ranked_failure_decides_and_the_first_of_equals_wins():
    first, second = transient("first"), transient("second")
    assert deciding_failure([vendor_rejected("no"), second, forbidden("out of reach"), first]) is second
    limited = rate_limited("wait", retry_after=5)
    assert deciding_failure([first, limited]) is limited
    assert deciding_failure([]) is None


def test_every_operation_ranks_a_mix_of_failures_alike():
    mix = [unknown_outcome("no answer"), misconfiguration("credentials refused"), vendor_rejected("no")]
    for result in (SyncResult(failures=list(mix)), SovResult(failures=list(mix)), UpdateResult(failures=list(mix))):
        failure = result.failure()
        assert failure is not None and failure.failure is FailureClass.MISCONFIGURATION
