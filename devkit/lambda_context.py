"""A context object shaped like the one the Lambda Python runtime passes to handlers.

Not awslambdaric's ``LambdaContext``: that one reads the function's name, memory size and log names from this
process's environment when it is made, and the integration tests make contexts in their own process, whose
environment is not the function's; and awslambdaric is a runtime client with a native extension, a dependency
the dev kit would carry for one small class.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from devkit.local_aws import function_arn

FUNCTION_VERSION = "$LATEST"


@dataclass(frozen=True)
class CognitoIdentity:
    """``context.identity``: the runtime always sets it, empty unless a mobile SDK called the function."""

    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


@dataclass(frozen=True)
class LambdaContext:
    """The attributes and method of Lambda's context that handlers and Powertools use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    # The Python runtime hands this over as the environment string, not an int; so does this one.
    memory_limit_in_mb: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int  # epoch milliseconds, as the runtime API's Lambda-Runtime-Deadline-Ms header
    identity: CognitoIdentity = field(default_factory=CognitoIdentity)
    client_context: None = None

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function times out (0 once past the deadline)."""
        return max(self.deadline_ms - epoch_ms(), 0)


def new_context(
    function_name: str,
    memory_size: int,
    timeout_seconds: float,
    *,
    request_id: str | None = None,
    deadline_ms: int | None = None,
    log_stream_name: str | None = None,
) -> LambdaContext:
    """Return a context for one invocation; the deadline defaults to now + ``timeout_seconds``."""
    return LambdaContext(
        function_name=function_name,
        function_version=FUNCTION_VERSION,
        invoked_function_arn=function_arn(function_name),
        memory_limit_in_mb=str(memory_size),
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=log_group_name(function_name),
        log_stream_name=log_stream_name or new_log_stream_name(),
        deadline_ms=deadline_ms if deadline_ms is not None else epoch_ms() + round(timeout_seconds * 1000),
    )


def log_group_name(function_name: str) -> str:
    """Return the CloudWatch log group Lambda writes ``function_name``'s logs to."""
    return f"/aws/lambda/{function_name}"


def new_log_stream_name() -> str:
    """Return a log stream name in Lambda's format: ``YYYY/MM/DD/[$LATEST]<32 hex digits>``."""
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{FUNCTION_VERSION}]{uuid.uuid4().hex}"


def epoch_ms() -> int:
    """Return the current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
