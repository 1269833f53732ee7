"""Lambda entry point: SQS batches and API Gateway requests for ConstructionOnline change-order updates.

The API routes are in ``routes``, imported with the first API request: a container that only gets batches never
imports them (Powertools' OpenAPI parameters alone are a sizeable part of a cold start).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connectors.container import Container
from connectors.deliveries import ReplyReader
from connectors.entry import handle_event
from connectors.models.constructiononline import ChangeOrderUpdateCommand
from connectors.models.exact_json import loads_exact
from connectors.observability import logger, metrics, tracer
from connectors.operation import Attempt
from connectors.order import SentInOrder, outcomes_of, send_in_order
from connectors.snapstart import register_snapstart_hooks
from constructiononline_change_order_update.client import ConstructionOnlineClient
from constructiononline_change_order_update.operation import UpdateResult, update_change_orders
from constructiononline_change_order_update.ordering import ChangeOrderEdits
from constructiononline_change_order_update.runtime import runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

EDITS = ChangeOrderEdits()


def parse_message(body: str) -> ChangeOrderUpdateCommand:
    """An SQS message body as the command, decimals kept exact."""
    return ChangeOrderUpdateCommand.model_validate(loads_exact(body))


def deliver(
    container: Container[ConstructionOnlineClient], commands: list[ChangeOrderUpdateCommand], attempt: Attempt
) -> SentInOrder[ChangeOrderUpdateCommand, UpdateResult]:
    """Each command's properties that no newer edit set, sent (for both triggers)."""
    concurrency = container.settings.vendor_concurrency
    update = partial(
        update_change_orders, client_for=container.client, deadline=attempt.deadline, concurrency=concurrency
    )
    return send_in_order(commands, attempt, EDITS, container.marks, update)


def receipt_ids(body: Any) -> list[dict[str, Any]]:
    """The edited change order's ``ID`` in a delivered request's reply (none when it was superseded)."""
    return [{"ID": body["ID"]}] if "ID" in body else []


REPLIES = ReplyReader(receipt_ids)
"""How the receipt and the status route read a delivered request's reply."""


def routes() -> APIGatewayRestResolver:
    """The API app with this function's routes, imported on first use."""
    from constructiononline_change_order_update.routes import app

    return app


# With SnapStart on, Lambda builds both before the snapshot and renews the container in every restored copy.
register_snapstart_hooks(runtime, routes)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An SQS batch or an API request, through the shared entry flow."""
    return handle_event(
        event,
        context,
        routes=routes,
        runtime=runtime,
        parse=parse_message,
        deliver=outcomes_of(deliver),
        replies=REPLIES,
    )
