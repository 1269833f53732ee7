"""Lambda entry point: API Gateway requests and SQS batches for ConstructionOnline change-order updates."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from connectors.adapters.api_replies import failure_reply, register_api_error_handlers
from connectors.adapters.api_status import add_status_route
from connectors.container import Container, routes_container
from connectors.entry import handle_event
from connectors.failures import ConnectorError, invalid_input
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName, Int32Id
from connectors.models.constructiononline import ChangeOrderUpdateCommand, CoInfo
from connectors.models.errors import invalid_input_from, invalid_json
from connectors.models.exact_json import JsonInputError, loads_exact
from connectors.observability import logger, metrics, tracer
from connectors.operation import Attempt
from connectors.order import SentInOrder, Superseded, outcomes_of, request_version, send_in_order
from constructiononline_change_order_update.client import ConstructionOnlineClient
from constructiononline_change_order_update.operation import UpdateResult, update_change_orders
from constructiononline_change_order_update.ordering import ChangeOrderEdits
from constructiononline_change_order_update.runtime import runtime

ROUTE = "/constructiononline/api/ChangeOrders/<change_order_id>"
STATUS_ROUTE = "/deliveries/constructiononline"
EDITS = ChangeOrderEdits()

app = APIGatewayRestResolver(enable_validation=True)
register_api_error_handlers(app)


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
    sent = _deliver(routes_container(app), [command], attempt)
    [outcome] = sent.outcomes
    if isinstance(outcome, Superseded):
        return Response(status_code=200, content_type="application/json", body={"superseded": outcome.message})
    if isinstance(outcome, ConnectorError):
        return failure_reply(outcome)
    return Response(status_code=200, content_type="application/json", body=sent.answered[0][1].record)


def parse_message(body: str) -> ChangeOrderUpdateCommand:
    """An SQS message body as the command, decimals kept exact."""
    return ChangeOrderUpdateCommand.model_validate(loads_exact(body))


def _deliver(
    container: Container[ConstructionOnlineClient], commands: list[ChangeOrderUpdateCommand], attempt: Attempt
) -> SentInOrder[ChangeOrderUpdateCommand, UpdateResult]:
    """Each command's properties that no newer edit set, sent."""
    concurrency = container.settings.vendor_concurrency
    update = partial(
        update_change_orders, client_for=container.client, deadline=attempt.deadline, concurrency=concurrency
    )
    return send_in_order(commands, attempt, EDITS, container.marks, update)


def receipt_ids(body: Any) -> list[dict[str, Any]]:
    """The edited change order's ``ID`` in a delivered request's reply (none when it was superseded)."""
    return [{"ID": body["ID"]}] if "ID" in body else []


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
