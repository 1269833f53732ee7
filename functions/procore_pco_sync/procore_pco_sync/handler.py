"""Lambda entry point: SQS batches and API Gateway requests for Procore PCO sync.

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
from connectors.failures import ConnectorError
from connectors.models.exact_json import loads_exact
from connectors.models.procore import PcoSyncCommand
from connectors.observability import logger, metrics, tracer
from connectors.operation import Attempt
from connectors.order import SentInOrder, outcomes_of, send_in_order
from connectors.snapstart import register_snapstart_hooks
from procore_pco_sync.client import ProcoreClient
from procore_pco_sync.operation import SyncResult, items_refused, sync_commands
from procore_pco_sync.ordering import PcoEdits
from procore_pco_sync.runtime import runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

EDITS = PcoEdits()


def parse_message(body: str) -> PcoSyncCommand:
    """An SQS message body as the command, bounded before it is parsed (depth, number sizes)."""
    return PcoSyncCommand.model_validate(loads_exact(body))


def deliver(
    container: Container[ProcoreClient], commands: list[PcoSyncCommand], attempt: Attempt
) -> SentInOrder[PcoSyncCommand, SyncResult]:
    """Each update's attributes that no newer edit set, synced (for both triggers)."""
    sync = partial(sync_commands, client_for=container.client, deadline=attempt.deadline)
    return send_in_order(commands, attempt, EDITS, container.marks, sync)


def receipt_ids(body: Any) -> list[dict[str, Any]]:
    """Procore's ``id`` and ``origin_id`` per stored PCO of a delivered request's reply."""
    return [{"id": entity.get("id"), "origin_id": entity.get("origin_id")} for entity in body.get("entities", [])]


def refused_items(body: Any) -> ConnectorError | None:
    """The updates Procore refused inside a delivered request's 200 (its item ``errors``), or None."""
    errors = body.get("errors")
    return items_refused(errors) if errors else None


REPLIES = ReplyReader(receipt_ids, refused_items)
"""How the receipt and the status route read a delivered request's reply."""


def routes() -> APIGatewayRestResolver:
    """The API app with this function's routes, imported on first use."""
    from procore_pco_sync.routes import app

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
