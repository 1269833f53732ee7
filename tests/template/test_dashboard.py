"""The deliveries dashboard: its body resolved as the dev kit resolves the template, then read as CloudWatch would."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from connectors.observability import METRICS_NAMESPACE
from devkit.aws import template_values
from devkit.intrinsics import ResourceValues, resolve
from devkit.template import load_template, resolve_parameters, resources_of_type
from tests.template.test_template import FUNCTIONS, REPO

# CloudWatch's dynamic labels, left in the body on purpose (written ${!PROP(...)} for Fn::Sub).
DYNAMIC_LABELS = {"${PROP('Dim.trigger')}", "${PROP('Dim.failure')}"}


@pytest.fixture(scope="module")
def template():
    return load_template(REPO / "template.yaml")


@pytest.fixture(scope="module")
def body(template) -> str:
    values = template_values(template, resolve_parameters(template))
    # Each queue named unlike its logical id: a widget can name it only through Fn::GetAtt QueueName.
    queues = {
        logical_id: ResourceValues(ref=f"https://sqs.local/{logical_id}", attributes={"QueueName": f"{logical_id}-q"})
        for logical_id in resources_of_type(template, "AWS::SQS::Queue")
    }
    [dashboard] = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    resolved: str = resolve(
        dashboard["Properties"]["DashboardBody"], replace(values, resources={**values.resources, **queues})
    )
    return resolved


def bands(body):
    """The widgets in bands, each a text heading and the graphs under it."""
    found: list[list[dict]] = []
    for widget in json.loads(body)["widgets"]:
        if widget["type"] == "text":
            found.append([])
        found[-1].append(widget)
    return found


def search(metric, dimension, service):
    return (
        f'SEARCH(\'{{{METRICS_NAMESPACE},service,{dimension}}} MetricName="{metric}" service="{service}"\', '
        "'Sum', 300)"
    )


def test_the_body_is_json_with_nothing_left_unresolved(body):
    assert json.loads(body)["widgets"]
    assert set(re.findall(r"\$\{[^}]*\}", body)) <= DYNAMIC_LABELS
    regions = {w["properties"]["region"] for w in json.loads(body)["widgets"] if w["type"] == "metric"}
    assert regions == {"us-east-1"}  # ${AWS::Region}, locally


def test_there_is_one_band_per_function(body):
    headings = [band[0]["properties"]["markdown"] for band in bands(body)]
    assert [[f for f in FUNCTIONS if f"`{f}`" in heading] for heading in headings] == [[f] for f in FUNCTIONS]


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_a_functions_band_watches_its_own_service_queue_and_dead_letter_queue(body, template, logical_id, expected):
    service = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    [band] = [band for band in bands(body) if f"`{logical_id}`" in band[0]["properties"]["markdown"]]
    metrics = [metric for graph in band[1:] for metric in graph["properties"]["metrics"]]
    queue, dead_letter_queue = f"{expected.queue}-q", f"{expected.dead_letter_queue}-q"

    graphed = {(*m[:4], m[4]["stat"]) for m in metrics if isinstance(m[0], str)}
    assert graphed == {
        (METRICS_NAMESPACE, "VendorCallLatency", "service", service, "p50"),
        (METRICS_NAMESPACE, "VendorCallLatency", "service", service, "p99"),
        (METRICS_NAMESPACE, "RateLimitWaitSeconds", "service", service, "Sum"),
        (METRICS_NAMESPACE, "RateLimitWaitSeconds", "service", service, "Maximum"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, "Maximum"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue, "Maximum"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dead_letter_queue, "Maximum"),
    }
    # Searches over the open dimension (no trigger or failure class named): a new class shows up by itself.
    searched = sorted((m[0]["expression"], m[0]["label"]) for m in metrics if isinstance(m[0], dict))
    assert searched == sorted(
        [
            (search("RecordsDelivered", "trigger", service), "${PROP('Dim.trigger')}"),
            (search("RecordsDeadLettered", "failure", service), "${PROP('Dim.failure')}"),
            (search("RequestsRefused", "failure", service), "${PROP('Dim.failure')}"),
        ]
    )
