"""Lambda entry point: API Gateway requests and SQS batches for Procore PCO sync."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from connectors.adapters.api_replies import failure_reply, register_api_error_handlers
from connectors.adapters.api_status import add_status_route
from connectors.container import Container, routes_container
from connectors.entry import handle_event
from connectors.failures import ConnectorError
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName, VendorId
from connectors.models.exact_json import loads_exact
from connectors.models.procore import PcoSyncBody, PcoSyncCommand
from connectors.observability import logger, metrics, tracer
from connectors.operation import Attempt
from connectors.order import SentInOrder, Superseded, outcomes_of, request_version, send_in_order
from procore_pco_sync.client import ProcoreClient
from procore_pco_sync.operation import SyncResult, sync_commands
from procore_pco_sync.ordering import PcoEdits
from procore_pco_sync.runtime import runtime

ROUTE = "/procore/rest/v1.0/potential_change_orders/sync"
STATUS_ROUTE = "/deliveries/procore"
EDITS = PcoEdits()

app = APIGatewayRestResolver(enable_validation=True)
register_api_error_handlers(app)


@app.patch(ROUTE)
def sync_route(
    project_id: Annotated[VendorId, Query()],
    contract_id: Annotated[VendorId, Query()],
    company_id: Annotated[VendorId, Header(alias="procore-company-id")],
    body: PcoSyncBody,
    connection: Annotated[ConnectionName, Query()] = DEFAULT_CONNECTION,
) -> Response[Any]:
    """Mirror of Procore's sync endpoint: 200 with the merged ``{entities, errors}``."""
    command = PcoSyncCommand(
        connection=connection,
        company_id=company_id,
        project_id=project_id,
        contract_id=contract_id,
        updates=body.updates,
    )
    return _answer(command)


def _answer(command: PcoSyncCommand) -> Response[Any]:
    """Sync the request's command in order and answer as Procore does."""
    attempt = Attempt.of_request(app.lambda_context, request_version(app.current_event.headers))
    sent = _deliver(routes_container(app), [command], attempt)
    [outcome] = sent.outcomes
    if isinstance(outcome, Superseded):
        return Response(status_code=200, content_type="application/json", body=reply_body(command, None))
    if isinstance(outcome, ConnectorError) and not sent.answered:
        # Not sent: its objects' marks could not be held (another invocation is sending them, the table is
        # unreachable, or the time ran out).
        return failure_reply(outcome)
    result = sent.answered[0][1]
    # Item refusals are Procore's per-item detail inside a 200; only a call that failed as a whole is an error.
    failure = result.failure() if result.failures or result.unanswered else None
    if failure is not None:
        return failure_reply(failure, partial=result.body() if result.entities or result.errors else None)
    return Response(status_code=200, content_type="application/json", body=reply_body(command, sent.answered[0]))


def reply_body(command: PcoSyncCommand, synced: tuple[PcoSyncCommand, SyncResult] | None) -> dict[str, Any]:
    """Procore's answer, plus ``superseded``: the updates not sent because newer edits set all they carried."""
    body = synced[1].body() if synced else {"entities": [], "errors": []}
    sent = {update.key for update in synced[0].updates} if synced else set()
    dropped = [
        f"{kind}={value}" for kind, value in (update.key for update in command.updates) if (kind, value) not in sent
    ]
    return {**body, "superseded": dropped} if dropped else body


def parse_message(body: str) -> PcoSyncCommand:
    """An SQS message body as the command, bounded before it is parsed (depth, number sizes)."""
    return PcoSyncCommand.model_validate(loads_exact(body))


def _deliver(
    container: Container[ProcoreClient], commands: list[PcoSyncCommand], attempt: Attempt
) -> SentInOrder[PcoSyncCommand, SyncResult]:
    """Each update's attributes that no newer edit set, synced."""
    sync = partial(sync_commands, client_for=container.client, deadline=attempt.deadline)
    return send_in_order(commands, attempt, EDITS, container.marks, sync)


def receipt_ids(body: Any) -> list[dict[str, Any]]:
    """Procore's ``id`` and ``origin_id`` per stored PCO of a delivered request's reply."""
    return [{"id": entity.get("id"), "origin_id": entity.get("origin_id")} for entity in body.get("entities", [])]


add_status_route(app, STATUS_ROUTE, lambda: routes_container(app).idempotency, receipt_ids)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An SQS batch or an API request, through the shared entry flow."""
    return handle_event(
        event,
        context,
        app=app,
        runtime=runtime,
        parse=parse_message,
        deliver=outcomes_of(_deliver),
        reply_ids=receipt_ids,
    )
