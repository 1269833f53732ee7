"""Chaos counts Lambda's Errors from the local runtime's delivery log; the lines here come from the runtime's own
writer, so a change of its format fails these tests rather than silently counting no errors."""

import io

from devkit.chaos.invocations import tally_invocations
from devkit.local_runtime.deliveries import DeliveryLog
from devkit.local_runtime.worker import Invocation


def invocation(succeeded: bool, *, cold: bool = False, error_type: str = "", message: str = "") -> Invocation:
    payload: dict[str, object] = (
        {"batchItemFailures": []} if succeeded else {"errorType": error_type, "errorMessage": message}
    )
    status = None if succeeded or error_type != "Runtime.ExitError" else "error"
    return Invocation("req", succeeded, payload, 12.0, 80, 300.0 if cold else None, status)


def delivery_lines(*entries: tuple[str, Invocation, int]) -> list[str]:
    out = io.StringIO()
    log = DeliveryLog(out)
    log.line("up to 2 workers per function; function logs: stderr")
    for function, outcome, failed in entries:
        log.sqs(function, f"{function}Queue", 10, failed, 42.0, outcome)
    log.api("Fn", "POST /things", 500, 3.0, invocation(False, error_type="KeyError", message="'x'"))
    return out.getvalue().splitlines()


def test_successful_invocations_count_no_errors_even_with_records_left_for_a_retry():
    lines = delivery_lines(("Fn", invocation(True, cold=True), 0), ("Fn", invocation(True), 4))

    tally = tally_invocations(lines)["Fn"]

    assert (tally.invocations, tally.error_count) == (2, 0)


def test_failed_invocations_are_counted_by_error_type():
    lines = delivery_lines(
        ("Fn", invocation(False, cold=True, error_type="KeyError", message="'access_token'"), 10),
        ("Fn", invocation(False, error_type="Sandbox.Timedout", message="Task timed out after 30.00 seconds"), 10),
        ("Fn", invocation(False, error_type="Runtime.ExitError", message="exit status 1"), 10),
        ("Fn", invocation(False, error_type="KeyError", message="'entities'"), 10),
        ("Other", invocation(True), 0),
    )

    tallies = tally_invocations(lines)

    assert (tallies["Fn"].invocations, tallies["Fn"].error_count) == (4, 4)
    assert dict(tallies["Fn"].errors) == {"KeyError": 2, "Sandbox.Timedout": 1, "Runtime.ExitError": 1}
    assert (tallies["Other"].invocations, tallies["Other"].error_count) == (1, 0)


def test_an_error_message_over_several_lines_counts_once():
    lines = delivery_lines(("Fn", invocation(False, error_type="ValueError", message="first (line)\nsecond"), 10))

    assert dict(tally_invocations(lines)["Fn"].errors) == {"ValueError": 1}


def test_api_invocations_are_not_sqs_deliveries():
    assert "Fn" not in tally_invocations(delivery_lines())
