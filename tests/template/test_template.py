"""What template.yaml promises, read from the SAM transform's output (as CloudFormation will see it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.observability import METRICS_NAMESPACE
from connectors.receipts import RECEIPT_SOURCE
from devkit.receipts import RECEIPT_DETAIL_TYPES
from devkit.template import function, load_template, parameter_defaults, resources_of_type

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Expected:
    vendor: str
    queue: str
    dead_letter_queue: str
    route: tuple[str, str]
    shares_rate_limit: bool


FUNCTIONS = {
    "ProcorePcoSyncFunction": Expected(
        "procore",
        "ProcorePcoSyncQueue",
        "ProcorePcoSyncDeadLetterQueue",
        ("PATCH", "/procore/rest/v1.0/potential_change_orders/sync"),
        shares_rate_limit=True,
    ),
    "PrimeChangeOrderSovBatchFunction": Expected(
        "prime",
        "PrimeChangeOrderSovBatchQueue",
        "PrimeChangeOrderSovBatchDeadLetterQueue",
        ("POST", "/prime/primeapi/restapi/changeOrderSOV/batch"),
        shares_rate_limit=True,
    ),
    "ConstructionOnlineChangeOrderUpdateFunction": Expected(
        "constructiononline",
        "ConstructionOnlineChangeOrderUpdateQueue",
        "ConstructionOnlineChangeOrderUpdateDeadLetterQueue",
        ("PUT", "/constructiononline/api/ChangeOrders/{id}"),
        shares_rate_limit=True,
    ),
}


@pytest.fixture(scope="module")
def template():
    return load_template(REPO / "template.yaml")


def role_statements(template, logical_id):
    role = template["Resources"][f"{logical_id}Role"]["Properties"]
    return [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def actions(statement):
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def alarm(template, namespace, metric, dimension):
    """The one alarm on ``metric`` in ``namespace`` whose single dimension is ``dimension`` (name, value)."""
    found = [
        properties
        for properties in (a["Properties"] for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values())
        if (properties["Namespace"], properties["MetricName"]) == (namespace, metric)
        and properties["Dimensions"] == [{"Name": dimension[0], "Value": dimension[1]}]
    ]
    assert len(found) == 1, (namespace, metric, dimension, found)
    return found[0]


def number_default(template, name):
    return float(parameter_defaults(template)[name])


# The function waits min(cap, base * 2^(n-1)) seconds after its n-th receive, times a jitter factor in [0.5, 1].
SHORTEST_JITTER = 0.5
# SQS: a message stays invisible 12 hours at most, and a queue keeps it 14 days at most (the queues' setting).
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
# DynamoDB actions whose requests carry the dynamodb:LeadingKeys condition key (IAM Service Authorization
# Reference, Amazon DynamoDB). Scan, ListTables and the like do not: a statement limited by it would never match.
LEADING_KEYS_ACTIONS = {
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
}


def most_receives_within_budget(budget, base, cap):
    """Receives a record can take before the budget dead-letters it, if every wait is as short as jitter allows."""
    receives, elapsed = 1, 0.0
    while elapsed + min(cap, base * 2 ** (receives - 1)) * SHORTEST_JITTER <= budget:
        elapsed += min(cap, base * 2 ** (receives - 1)) * SHORTEST_JITTER
        receives += 1
    return receives


def test_globals_give_every_function_the_runtime_tracing_and_the_shared_layer(template):
    for logical_id, resource in resources_of_type(template, "AWS::Lambda::Function").items():
        properties = resource["Properties"]
        assert properties["Runtime"] == "python3.13", logical_id
        assert properties["TracingConfig"] == {"Mode": "Active"}, logical_id
        [layer] = properties["Layers"]
        assert template["Resources"][layer["Ref"]]["Type"] == "AWS::Lambda::LayerVersion"


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_each_function_has_its_api_route_its_status_route_and_its_queue(template, logical_id, expected):
    spec = function(template, REPO, logical_id)
    assert sorted((r.method, r.path) for r in spec.api_routes) == sorted(
        [expected.route, ("GET", f"/deliveries/{expected.vendor}")]
    )
    [source] = spec.sqs_sources
    assert source.queue == expected.queue
    assert source.function_response_types == ("ReportBatchItemFailures",)
    assert source.batch_size > 1  # partial batch responses, not BatchSize 1


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_queue_visibility_is_at_least_six_times_the_timeout_and_redrives_to_its_dlq(template, logical_id, expected):
    spec = function(template, REPO, logical_id)
    queue = template["Resources"][expected.queue]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * spec.timeout
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [expected.dead_letter_queue, "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_a_function_reads_only_its_vendors_connection_secrets_and_the_webhook_secret(template, logical_id, expected):
    statements = role_statements(template, logical_id)
    secret_statements = [s for s in statements if any(a.startswith("secretsmanager:") for a in actions(s))]
    assert [actions(s) for s in secret_statements] == [["secretsmanager:GetSecretValue"]]
    resources = [json.dumps(r) for r in secret_statements[0]["Resource"]]
    assert len(resources) == 2
    assert any(f":secret:${{ConnectionSecretPrefix}}/{expected.vendor}/*" in r for r in resources)
    assert any(":secret:${ConnectionSecretPrefix}/webhook-??????" in r for r in resources)


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_a_function_touches_only_its_own_queue_and_dead_letter_queue(template, logical_id, expected):
    sqs_statements = [s for s in role_statements(template, logical_id) if any(a.startswith("sqs:") for a in actions(s))]
    granted = sorted((action, s["Resource"]["Fn::GetAtt"][0]) for s in sqs_statements for action in actions(s))
    own = expected.queue
    assert granted == sorted(
        [
            ("sqs:ReceiveMessage", own),
            ("sqs:DeleteMessage", own),
            ("sqs:GetQueueAttributes", own),
            ("sqs:ChangeMessageVisibility", own),
            ("sqs:SendMessage", own),
            ("sqs:SendMessage", expected.dead_letter_queue),
        ]
    )


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_a_function_uses_only_the_tables_it_is_told_about(template, logical_id, expected):
    statements = role_statements(template, logical_id)
    granted = sorted(
        (action, s["Resource"]["Fn::GetAtt"][0])
        for s in statements
        for action in actions(s)
        if action.startswith("dynamodb:")
    )
    # Claims, stored replies, releases; BatchWriteItem for a batch's settles, 25 to a request.
    records = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]
    wanted = [(f"dynamodb:{action}", "IdempotencyTable") for action in records]
    told = {"IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"}}
    if expected.shares_rate_limit:
        wanted += [("dynamodb:GetItem", "RateLimitTable"), ("dynamodb:UpdateItem", "RateLimitTable")]
        told["RATE_LIMIT_TABLE"] = {"Ref": "RateLimitTable"}
    assert granted == sorted(wanted)
    environment = function(template, REPO, logical_id).environment
    assert {name: environment.get(name) for name in ("IDEMPOTENCY_TABLE", "RATE_LIMIT_TABLE")} == {
        "IDEMPOTENCY_TABLE": told["IDEMPOTENCY_TABLE"],
        "RATE_LIMIT_TABLE": told.get("RATE_LIMIT_TABLE"),
    }


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_a_role_reaches_no_service_beyond_secrets_queues_tables_and_the_delivery_bus(template, logical_id):
    services = {action.split(":")[0] for s in role_statements(template, logical_id) for action in actions(s)}
    assert services == {"secretsmanager", "sqs", "dynamodb", "events"}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_a_function_puts_receipts_on_the_delivery_bus_only_and_is_told_its_name(template, logical_id):
    statements = [s for s in role_statements(template, logical_id) if any(a.startswith("events:") for a in actions(s))]
    # Exactly one grant, on the bus's own ARN: a PutEvents on another bus, on "*" or on a list fails here.
    assert [(actions(s), s["Resource"]) for s in statements] == [
        (["events:PutEvents"], {"Fn::GetAtt": ["DeliveryEventBus", "Arn"]})
    ]
    # Only receipts: every entry of a PutEvents must carry their source and one of their detail types.
    assert statements[0]["Condition"] == {
        "ForAllValues:StringEquals": {
            "events:source": [RECEIPT_SOURCE],
            "events:detail-type": list(RECEIPT_DETAIL_TYPES),
        }
    }
    environment = function(template, REPO, logical_id).environment
    assert environment["DELIVERY_EVENT_BUS"] == {"Ref": "DeliveryEventBus"}


def test_the_delivery_bus_is_named_by_its_parameter_and_given_in_the_outputs(template):
    assert resources_of_type(template, "AWS::Events::EventBus") == {
        "DeliveryEventBus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": {"Ref": "DeliveryEventBusName"}}}
    }
    assert parameter_defaults(template)["DeliveryEventBusName"] == "change-order-deliveries"
    outputs = template["Outputs"]
    assert outputs["DeliveryEventBusName"]["Value"] == {"Ref": "DeliveryEventBus"}
    assert outputs["DeliveryEventBusArn"]["Value"] == {"Fn::GetAtt": ["DeliveryEventBus", "Arn"]}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_a_role_has_no_managed_policy_beyond_logging_and_tracing(template, logical_id):
    managed = template["Resources"][f"{logical_id}Role"]["Properties"]["ManagedPolicyArns"]
    names = sorted(json.dumps(arn).rsplit("/", 1)[-1].strip('"}') for arn in managed)
    assert names == ["AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"]
    function_role = template["Resources"][logical_id]["Properties"]["Role"]
    assert function_role == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_nothing_in_a_role_allows_every_action_or_every_resource(template, logical_id):
    for statement in role_statements(template, logical_id):
        assert "*" not in actions(statement)
        assert statement["Resource"] != "*"


def test_outputs_give_the_api_url_and_every_queue_url(template):
    queues = {name for e in FUNCTIONS.values() for name in (e.queue, e.dead_letter_queue)}
    assert {"ApiUrl"} | {f"{q}Url" for q in queues} <= set(template["Outputs"])


def test_every_function_of_the_template_is_checked_here(template):
    assert set(resources_of_type(template, "AWS::Lambda::Function")) == set(FUNCTIONS)


def test_the_layer_is_built_by_sam_for_python_3_13_from_pinned_requirements():
    sam_template = (REPO / "template.yaml").read_text()
    assert re.search(r"Type: AWS::Serverless::LayerVersion(.|\n)*?BuildMethod: python3\.13", sam_template)
    requirements = (REPO / "layers/shared/requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", line) for line in pins)


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_each_function_has_alarms_on_its_dead_letters_and_on_authentication_failures(template, logical_id, expected):
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    service = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    watched = {(a["Properties"]["MetricName"], json.dumps(a["Properties"]["Dimensions"][0]["Value"])) for a in alarms}
    dead_letter_queue = json.dumps({"Fn::GetAtt": [expected.dead_letter_queue, "QueueName"]})
    assert ("ApproximateNumberOfMessagesVisible", dead_letter_queue) in watched
    assert ("UnauthenticatedCalls", json.dumps(service)) in watched
    # The alarm watches the namespace the functions publish to (set in code, not read from the environment).
    assert {
        a["Properties"]["Namespace"] for a in alarms if a["Properties"]["MetricName"] == "UnauthenticatedCalls"
    } == {METRICS_NAMESPACE}


RETRY_ENVIRONMENT = {
    "RETRY_BUDGET_SECONDS": "RetryBudgetSeconds",
    "RETRY_BACKOFF_BASE_SECONDS": "RetryBackoffBaseSeconds",
    "RETRY_BACKOFF_CAP_SECONDS": "RetryBackoffCapSeconds",
    "MAX_RECEIVE_COUNT": "MaxReceiveCount",
}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_is_told_its_retry_budget_and_backoff(template, logical_id):
    environment = function(template, REPO, logical_id).environment
    assert {name: environment.get(name) for name in RETRY_ENVIRONMENT} == {
        name: {"Ref": parameter} for name, parameter in RETRY_ENVIRONMENT.items()
    }


def test_the_retry_parameters_stay_within_what_sqs_allows(template):
    parameters = template["Parameters"]
    retention = {
        q["Properties"]["MessageRetentionPeriod"] for q in resources_of_type(template, "AWS::SQS::Queue").values()
    }
    # A budget past the queues' retention would be cut short by SQS deleting the record, not dead-lettering it.
    assert int(parameters["RetryBudgetSeconds"]["MaxValue"]) <= min(retention)
    assert int(parameters["RetryBudgetSeconds"]["MinValue"]) >= 60
    # ChangeMessageVisibility refuses more than 12 hours.
    assert int(parameters["RetryBackoffCapSeconds"]["MaxValue"]) <= MAX_VISIBILITY_SECONDS
    assert int(parameters["RetryBackoffCapSeconds"]["MinValue"]) >= 1
    assert int(parameters["RetryBackoffBaseSeconds"]["MinValue"]) >= 1
    assert number_default(template, "RetryBackoffBaseSeconds") <= number_default(template, "RetryBackoffCapSeconds")


def test_a_one_hour_outage_is_retried_through_with_the_default_budget(template):
    # A record stops being retried only when the next wait (at most the cap) would pass the budget, so its last
    # attempt comes later than budget - cap after SQS accepted it: after an outage that began when it arrived.
    last_attempt_at_least = number_default(template, "RetryBudgetSeconds") - number_default(
        template, "RetryBackoffCapSeconds"
    )
    assert last_attempt_at_least >= 60 * 60


def test_the_receive_count_backstop_lets_the_default_budget_decide(template):
    needed = most_receives_within_budget(
        number_default(template, "RetryBudgetSeconds"),
        number_default(template, "RetryBackoffBaseSeconds"),
        number_default(template, "RetryBackoffCapSeconds"),
    )
    # The redrive policy moves a record on its (maxReceiveCount + 1)-th receive: the budget's last receive comes first.
    assert number_default(template, "MaxReceiveCount") > needed
    assert int(template["Parameters"]["MaxReceiveCount"]["MaxValue"]) <= 1000  # SQS's limit


def test_the_receive_arithmetic_matches_the_documented_one():
    # 5+10+20+40+80+160+320 = 635 s, then 450 s waits: 635 + 14 * 450 = 6935 <= 7200 < 7385 -> 21 waits, 22 receives.
    assert most_receives_within_budget(7200, 10, 900) == 22
    assert most_receives_within_budget(60, 10, 900) == 4  # 5 + 10 + 20 = 35 <= 60 < 75


def _alarm_is_actionable(properties):
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == {
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    }
    assert properties["EvaluationPeriods"] == 1


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_function_alarms_on_any_lambda_error_or_throttle(template, logical_id, metric):
    properties = alarm(template, "AWS/Lambda", metric, ("FunctionName", {"Ref": logical_id}))
    assert (properties["Statistic"], properties["Period"]) == ("Sum", 300)
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    _alarm_is_actionable(properties)


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_each_function_alarms_when_its_queue_stops_draining(template, logical_id, expected):
    queue_name = {"Fn::GetAtt": [expected.queue, "QueueName"]}
    properties = alarm(template, "AWS/SQS", "ApproximateAgeOfOldestMessage", ("QueueName", queue_name))
    assert properties["Statistic"] == "Maximum"
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["Threshold"] == {"Ref": "OldestMessageAgeAlarmSeconds"}
    assert number_default(template, "OldestMessageAgeAlarmSeconds") == 3600
    _alarm_is_actionable(properties)


@pytest.mark.parametrize("metric", ["AuthenticationUnavailable", "UnexpectedErrors"])
@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_function_alarms_on_its_first_misconfiguration_or_unexpected_error(template, logical_id, metric):
    service = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    properties = alarm(template, METRICS_NAMESPACE, metric, ("service", service))
    assert (properties["Statistic"], properties["Period"]) == ("Sum", 300)
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    _alarm_is_actionable(properties)


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_a_function_reaches_only_its_own_items_in_the_tables(template, logical_id, expected):
    # Idempotency ids: <FunctionLogicalId>#api#<hash> and <FunctionLogicalId>#record#<hash>;
    # rate limit ids: <vendor>#<connection>#limit.
    own_prefix = {"IdempotencyTable": f"{logical_id}#*", "RateLimitTable": f"{expected.vendor}#*"}
    statements = [
        s for s in role_statements(template, logical_id) if any(a.startswith("dynamodb:") for a in actions(s))
    ]
    assert statements
    for statement in statements:
        table = statement["Resource"]["Fn::GetAtt"][0]
        assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [own_prefix[table]]}}
        assert set(actions(statement)) <= LEADING_KEYS_ACTIONS, statement["Sid"]
    # No function's prefix matches another's items.
    others = [f"{other}#" for other in FUNCTIONS if other != logical_id]
    others += [f"{e.vendor}#" for other, e in FUNCTIONS.items() if other != logical_id]
    assert not any(o.startswith(own_prefix[t].rstrip("*")) for o in others for t in own_prefix)


def test_snapstart_is_a_switch_and_every_trigger_invokes_the_published_alias(template):
    assert template["Parameters"]["EnableSnapStart"]["Default"] == "false"
    resources = template["Resources"]
    for logical_id in FUNCTIONS:
        alias = f"{logical_id}Aliaslive"
        assert resources[logical_id]["Properties"]["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}
        }
        assert resources[alias]["Type"] == "AWS::Lambda::Alias"
        assert resources[alias]["Properties"]["FunctionName"] == {"Ref": logical_id}
        # SnapStart resumes published versions only: the queue and the API must call the alias, never $LATEST.
        [mapping] = [
            resource["Properties"]
            for resource in resources_of_type(template, "AWS::Lambda::EventSourceMapping").values()
            if resource["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [FUNCTIONS[logical_id].queue, "Arn"]}
        ]
        assert mapping["FunctionName"] == {"Ref": alias}
        uris = [
            json.dumps(operation["x-amazon-apigateway-integration"]["uri"])
            for operations in resources["ConnectorsApi"]["Properties"]["Body"]["paths"].values()
            for operation in operations.values()
            if logical_id in json.dumps(operation.get("x-amazon-apigateway-integration", {}))
        ]
        assert len(uris) == 2 and all(f"${{{alias}}}" in uri for uri in uris)
        permissions = [
            resource["Properties"]["FunctionName"]
            for resource in resources_of_type(template, "AWS::Lambda::Permission").values()
            if logical_id in json.dumps(resource["Properties"]["FunctionName"])
        ]
        assert permissions and all(name == {"Ref": alias} for name in permissions)
