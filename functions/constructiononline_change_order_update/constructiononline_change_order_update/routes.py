"""The API routes of ConstructionOnline change-order updates.

Imported with the first API request (``handler.routes``): a container that only gets batches never loads them.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import ValidationError

from connectors.adapters.api_replies import api_app, failure_reply
from connectors.adapters.api_status import add_status_route
from connectors.container import routes_container
from connectors.failures import ConnectorError, invalid_input
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName, Int32Id
from connectors.models.constructiononline import ChangeOrderUpdateCommand, CoInfo
from connectors.models.errors import invalid_input_from, invalid_json
from connectors.models.exact_json import JsonInputError, loads_exact
from connectors.operation import Attempt
from connectors.order import Superseded, request_version
from constructiononline_change_order_update.handler import REPLIES, deliver

ROUTE = "/constructiononline/api/ChangeOrders/<change_order_id>"
STATUS_ROUTE = "/deliveries/constructiononline"

app = api_app()


@app.put(ROUTE)
def update_route(
    change_order_id: Annotated[Int32Id, Path()],
    coInfo: Annotated[str | None, Query()] = None,
    connection: Annotated[ConnectionName, Query()] = DEFAULT_CONNECTION,
) -> Response[Any]:
    """Mirror of ConstructionOnline's update: coInfo as the query parameter or as the JSON body; 200 with the record."""
    co_info = _co_info(coInfo, app.current_event.body)
    return _answer(ChangeOrderUpdateCommand(connection=connection, id=change_order_id, coInfo=co_info))


def _co_info(query: str | None, body: str | None) -> CoInfo:
    """coInfo from the query parameter or from the body, not both; invalid input names where it was read."""
    if query is not None and body:
        raise invalid_input("send coInfo either as the query parameter or as the body, not both")
    source, text = ("query.coInfo", query) if query is not None else ("body", body or "")
    try:
        # Parsed here, not by the resolver: money must keep its exact decimal text.
        raw = loads_exact(text)
    except JsonInputError as error:
        raise invalid_json(error.field, error.reason, source) from None
    except ValueError as error:
        raise invalid_input(f"{source} is not JSON: {error}") from None
    try:
        return CoInfo.model_validate(raw)
    except ValidationError as error:
        raise invalid_input_from(error, "coInfo", prefix=source.split(".")) from None


def _answer(command: ChangeOrderUpdateCommand) -> Response[Any]:
    """Update the change order in order and answer as ConstructionOnline does: the edited record."""
    attempt = Attempt.of_request(app.lambda_context, request_version(app.current_event.headers))
    sent = deliver(routes_container(app), [command], attempt)
    [outcome] = sent.outcomes
    if isinstance(outcome, Superseded):
        return Response(status_code=200, content_type="application/json", body={"superseded": outcome.message})
    if isinstance(outcome, ConnectorError):
        return failure_reply(outcome)
    return Response(status_code=200, content_type="application/json", body=sent.answered[0][1].record)


add_status_route(app, STATUS_ROUTE, lambda: routes_container(app).idempotency, REPLIES)
