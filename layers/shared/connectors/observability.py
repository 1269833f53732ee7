"""Powertools logger, metrics and tracer, one of each per function (service name from the environment)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "ChangeOrderConnectors"

logger = Logger()
# The namespace is fixed here rather than read from the environment at import time.
metrics = Metrics(namespace=METRICS_NAMESPACE)
tracer = Tracer()
