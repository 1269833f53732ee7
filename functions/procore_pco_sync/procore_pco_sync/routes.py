"""The API routes of Procore PCO sync.

Imported with the first API request (``handler.routes``): a container that only gets batches never loads them.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from connectors.adapters.api_replies import api_app, failure_reply
from connectors.adapters.api_status import add_status_route
from connectors.container import routes_container
from connectors.failures import ConnectorError
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName, VendorId
from connectors.models.procore import PcoSyncBody, PcoSyncCommand
from connectors.operation import Attempt
from connectors.order import Superseded, request_version
from procore_pco_sync.handler import REPLIES, deliver
from procore_pco_sync.operation import SyncResult

ROUTE = "/procore/rest/v1.0/potential_change_orders/sync"
STATUS_ROUTE = "/deliveries/procore"

app = api_app()


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
    sent = deliver(routes_container(app), [command], attempt)
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


add_status_route(app, STATUS_ROUTE, lambda: routes_container(app).idempotency, REPLIES)
