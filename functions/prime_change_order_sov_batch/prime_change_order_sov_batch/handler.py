"""Lambda entry point: SQS batches and API Gateway requests for Primavera Cloud change-order SOVs.

The API routes are in ``routes``, imported with the first API request: a container that only gets batches never
imports them (Powertools' OpenAPI parameters alone are a sizeable part of a cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connectors.container import Container
from connectors.deliveries import ReplyReader
from connectors.entry import handle_event
from connectors.models.exact_json import loads_exact
from connectors.models.prime import SovBatchCommand
from connectors.observability import logger, metrics, tracer
from connectors.operation import Attempt
from connectors.order import Delivered, Outcome
from connectors.snapstart import register_snapstart_hooks
from prime_change_order_sov_batch.client import PrimeClient
from prime_change_order_sov_batch.operation import create_sovs
from prime_change_order_sov_batch.runtime import runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver


def parse_message(body: str) -> SovBatchCommand:
    """An SQS message body as the command, money kept exact."""
    return SovBatchCommand.model_validate(loads_exact(body))


def deliver(container: Container[PrimeClient], commands: list[SovBatchCommand], attempt: Attempt) -> list[Outcome]:
    """A batch's commands created, each looked up first when its record may have been delivered before."""
    results = create_sovs(
        commands,
        container.client,
        attempt.deadline,
        container.settings.vendor_batch_size,
        look_first=attempt.redelivered,
        retry_looks_first=True,
    )
    return [result.failure() or Delivered(result.vendor_ids()) for result in results]


def receipt_ids(body: Any) -> list[dict[str, Any]]:
    """Oracle's ``sovId`` per item of a delivered request's reply (the created objects, in the items' order)."""
    return [{"item": index, "sovId": created.get("sovId")} for index, created in enumerate(body)]


REPLIES = ReplyReader(receipt_ids)
"""How the receipt and the status route read a delivered request's reply."""


def routes() -> APIGatewayRestResolver:
    """The API app with this function's routes, imported on first use."""
    from prime_change_order_sov_batch.routes import app

    return app


# With SnapStart on, Lambda builds both before the snapshot and renews the container in every restored copy.
register_snapstart_hooks(runtime, routes)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An SQS batch or an API request, through the shared entry flow."""
    return handle_event(
        event, context, routes=routes, runtime=runtime, parse=parse_message, deliver=deliver, replies=REPLIES
    )
