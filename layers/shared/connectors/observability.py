"""Powertools logger, metrics and tracer, one of each per function (service name from the environment)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from botocore.exceptions import ClientError

METRICS_NAMESPACE = "ChangeOrderConnectors"

logger = Logger()
# The namespace is fixed here rather than read from the environment at import time.
metrics = Metrics(namespace=METRICS_NAMESPACE)
# Patched: botocore (Secrets Manager, DynamoDB, SQS) and httpx (the vendors). Patching all that X-Ray supports
# imports a dozen database drivers' patchers at every cold start for nothing.
tracer = Tracer(patch_modules=("botocore", "httpx"))


def aws_error_name(error: BaseException) -> str:
    """An AWS error's code (or the exception's kind), for logs: never its message, which can carry ARNs."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__
