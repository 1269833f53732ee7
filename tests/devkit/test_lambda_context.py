"""The Lambda-shaped context object."""

import re
import time

from devkit.lambda_context import new_context


def test_context_has_lambdas_attributes():
    context = new_context("EchoFunction", 256, 3)

    assert context.function_name == "EchoFunction"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    assert context.memory_limit_in_mb == "256"
    assert re.fullmatch(r"[0-9a-f-]{36}", context.aws_request_id)
    assert context.log_group_name == "/aws/lambda/EchoFunction"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", context.log_stream_name)
    assert context.identity.cognito_identity_id is None
    assert context.client_context is None


def test_remaining_time_counts_down_to_zero():
    context = new_context("EchoFunction", 128, 0.2)

    first = context.get_remaining_time_in_millis()
    assert 0 < first <= 200
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() < first
    time.sleep(0.2)
    assert context.get_remaining_time_in_millis() == 0


def test_given_deadline_and_request_id_are_kept():
    context = new_context("EchoFunction", 128, 3, request_id="abc", deadline_ms=1)

    assert context.aws_request_id == "abc"
    assert context.get_remaining_time_in_millis() == 0
