"""Powertools logger, metrics and tracer, one of each per function (service name from the environment)."""

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError

from connectors.redact import redact

METRICS_NAMESPACE = "ChangeOrderConnectors"


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with every string of the record redacted before it is serialized.

    Redacting the strings rather than the JSON text keeps the line valid JSON and needs no JSON-escaped forms of
    the secrets. That covers the message, ``extra`` fields, the formatted traceback of ``logger.exception`` and
    anything serialized through ``json_default`` (an exception object, a model): its ``str`` is redacted too.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(json_default=lambda value: redact(str(value)), **options)

    def serialize(self, log: LogRecord) -> str:
        """The record as one JSON line, without secrets."""
        return super().serialize(_redacted(log))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value  # numbers, booleans, None; other objects reach json_default, which redacts their text


logger = Logger(logger_formatter=RedactingFormatter())
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


def count_by(name: str, dimension: str, counts: Mapping[str, int]) -> None:
    """``name`` counted per value of ``dimension`` (beside ``service``): one EMF line per value, not per record."""
    for value, count in counts.items():
        if count:
            with single_metric(name=name, unit=MetricUnit.Count, value=count, namespace=METRICS_NAMESPACE) as metric:
                metric.add_dimension(name=dimension, value=value)
