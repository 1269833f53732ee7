"""Resolving intrinsic functions against local values."""

import pytest

from devkit.intrinsics import LocalValues, ResourceValues, UnresolvableError, references, resolve

QUEUE_URL = "http://127.0.0.1:5000/123456789012/WorkQueue"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:WorkQueue"

VALUES = LocalValues(
    parameters={"Stage": "dev", "AlarmTopicArn": "", "MaxReceiveCount": "5"},
    resources={
        "WorkQueue": ResourceValues(ref=QUEUE_URL, attributes={"Arn": QUEUE_ARN, "QueueName": "WorkQueue"}),
    },
    conditions={
        "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
        "IsDev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]},
        "IsDevWithoutTopic": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Not": [{"Condition": "HasAlarmTopic"}]}]},
    },
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "Stage"}, "dev"),
        ({"Ref": "AWS::Region"}, "us-east-1"),
        ({"Ref": "AWS::AccountId"}, "123456789012"),
        ({"Ref": "WorkQueue"}, QUEUE_URL),
        ({"Fn::GetAtt": ["WorkQueue", "Arn"]}, QUEUE_ARN),
        ({"Fn::GetAtt": "WorkQueue.QueueName"}, "WorkQueue"),
        (
            {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:x"},
            "arn:aws:sqs:us-east-1:123456789012:x",
        ),
        ({"Fn::Sub": "${WorkQueue.Arn}/${Stage}"}, f"{QUEUE_ARN}/dev"),
        ({"Fn::Sub": "${!Literal}-${Stage}"}, "${Literal}-dev"),
        ({"Fn::Sub": ["${Name}-${Stage}", {"Name": {"Ref": "WorkQueue"}}]}, f"{QUEUE_URL}-dev"),
        ({"Fn::Join": [":", ["a", {"Ref": "Stage"}, 5]]}, "a:dev:5"),
        ({"Fn::If": ["IsDev", "yes", "no"]}, "yes"),
        ({"Fn::If": ["IsDevWithoutTopic", "quiet", "loud"]}, "quiet"),
        ({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}, None),
        ({"plain": ["text", 1, True]}, {"plain": ["text", 1, True]}),
    ],
)
def test_resolves(value, expected):
    resolved = resolve({"Value": value}, VALUES)
    assert resolved.get("Value") == expected  # a NO_VALUE result drops the key


def test_no_value_is_dropped_from_lists():
    assert resolve(["a", {"Ref": "AWS::NoValue"}, "b"], VALUES) == ["a", "b"]


@pytest.mark.parametrize(
    "value",
    [
        {"Ref": "Unknown"},
        {"Fn::GetAtt": ["WorkQueue", "Nope"]},
        {"Fn::GetAtt": ["Unknown", "Arn"]},
        {"Fn::Sub": "${Unknown}"},
        {"Fn::If": ["NoSuchCondition", "a", "b"]},
        {"Fn::Select": [0, ["a"]]},
    ],
)
def test_unresolvable_values_raise(value):
    with pytest.raises(UnresolvableError):
        resolve(value, VALUES)


def test_references_find_refs_getatts_and_sub_names():
    value = {
        "a": {"Ref": "Stage"},
        "b": [{"Fn::GetAtt": ["Dlq", "Arn"]}, {"Fn::GetAtt": "Table.StreamArn"}],
        "c": {"Fn::Sub": ["${Queue.Arn}/${Local}/${!Skip}", {"Local": {"Ref": "Bucket"}}]},
    }
    assert references(value) == {"Stage", "Dlq", "Table", "Queue", "Bucket"}
