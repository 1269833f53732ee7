"""``python -m devkit.client receipts``: one line per receipt, and what it says about a deployed stack."""

import json

import pytest

from connectors.receipts import RECEIPT_SOURCE
from devkit.client import main
from devkit.receipts import PRODUCER_EVENT_PATTERN, receipt_line


def receipt_body(detail_type, detail):
    """A receipt as a rule's SQS target gets it: the whole EventBridge event."""
    return json.dumps({"source": RECEIPT_SOURCE, "detail-type": detail_type, "detail": detail})


@pytest.mark.parametrize(
    ("detail_type", "detail", "line"),
    [
        (
            "Change order delivered",
            {"function": "ProcorePcoSyncFunction", "key": "k-1", "vendor_ids": [{"id": 7, "origin_id": "o-1"}]},
            'Change order delivered  ProcorePcoSyncFunction  key=k-1  vendor_ids=[{"id":7,"origin_id":"o-1"}]',
        ),
        (
            "Change order dead-lettered",
            {
                "function": "PrimeChangeOrderSovBatchFunction",
                "key": "msg-9",
                "vendor_ids": None,
                "error": {"failure": "vendor_rejected", "message": "SOV code unknown"},
            },
            "Change order dead-lettered  PrimeChangeOrderSovBatchFunction  key=msg-9  failure=vendor_rejected",
        ),
        (
            "Change order refused",
            {
                "function": "ConstructionOnlineChangeOrderUpdateFunction",
                "key": "wh-3",
                "error": {"failure": "invalid_input"},
            },
            "Change order refused  ConstructionOnlineChangeOrderUpdateFunction  key=wh-3  failure=invalid_input",
        ),
    ],
)
def test_a_receipt_is_one_line_of_detail_type_function_key_and_outcome(detail_type, detail, line):
    assert receipt_line(receipt_body(detail_type, detail)) == line


@pytest.mark.parametrize("body", ["not json", json.dumps({"source": RECEIPT_SOURCE, "detail": "a string"}), "[]"])
def test_something_else_on_the_queue_is_shown_as_it_is(body):
    assert receipt_line(body) == f"(not a receipt) {body}"


def test_a_deployed_stack_gets_the_event_pattern_to_subscribe_with_not_a_watch(capsys):
    assert main(["receipts", "--stack", "connectors-prod"]) == 1

    out, err = capsys.readouterr()
    assert json.loads(out) == PRODUCER_EVENT_PATTERN
    assert "connectors-prod is a deployed stack" in err
    assert "DeliveryEventBusName" in err


def test_without_the_local_emulator_it_says_what_to_set(capsys, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    assert main(["receipts"]) == 1

    assert "AWS_ENDPOINT_URL" in capsys.readouterr().err
