"""Lambda entry point: API Gateway requests and SQS batches for ConstructionOnline change-order updates."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from connectors.adapters.api_replies import error_response, register_api_error_handlers
from connectors.deadline import Deadline
from connectors.entry import handle_event
from connectors.failure_log import log_failure
from connectors.failures import ConnectorError, invalid_input
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName, Int32Id
from connectors.models.constructiononline import ChangeOrderUpdateCommand, CoInfo
from connectors.models.errors import invalid_input_from, invalid_json
from connectors.models.exact_json import JsonInputError, loads_exact
from connectors.observability import logger, metrics, tracer
from connectors.operation import Attempt
from connectors.order import Outcome, Superseded, deliver_in_order, request_version
from constructiononline_change_order_update.operation import UpdateResult, update_change_orders
from constructiononline_change_order_update.ordering import ChangeOrderEdits
from constructiononline_change_order_update.runtime import runtime

ROUTE = "/constructiononline/api/ChangeOrders/<change_order_id>"
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
    body = app.current_event.body
    if coInfo is not None and body:
        raise invalid_input("send coInfo either as the query parameter or as the body, not both")
    source, text = ("query.coInfo", coInfo) if coInfo is not None else ("body", body or "")
    try:
        # Parsed here, not by the resolver: money must keep its exact decimal text.
        raw = loads_exact(text)
    except JsonInputError as error:
        raise invalid_json(error.field, error.reason, source) from None
    except ValueError as error:
        raise invalid_input(f"{source} is not JSON: {error}") from None
    try:
        co_info = CoInfo.model_validate(raw)
    except ValidationError as error:
        raise invalid_input_from(error, "coInfo", prefix=source.split(".")) from None
    command = ChangeOrderUpdateCommand(connection=connection, id=change_order_id, coInfo=co_info)
    version = request_version(app.current_event.headers)
    updated: list[UpdateResult] = []
    [outcome] = _update_in_order([command], [version], Deadline.from_context(app.lambda_context), updated)
    if isinstance(outcome, Superseded):
        return Response(status_code=200, content_type="application/json", body={"superseded": outcome.message})
    if outcome is not None:
        log_failure(outcome)
        return error_response(outcome)
    return Response(status_code=200, content_type="application/json", body=updated[0].record)


def parse_message(body: str) -> ChangeOrderUpdateCommand:
    """An SQS message body as the command, decimals kept exact."""
    return ChangeOrderUpdateCommand.model_validate(loads_exact(body))


def _deliver(commands: list[ChangeOrderUpdateCommand], attempt: Attempt) -> list[Outcome]:
    return _update_in_order(commands, attempt.versions, attempt.deadline, [])


def _update_in_order(
    commands: list[ChangeOrderUpdateCommand],
    versions: Sequence[Decimal],
    deadline: Deadline,
    updated: list[UpdateResult],
) -> list[Outcome]:
    """Each command's properties that no newer edit set, sent; what the vendor answered is added to ``updated``."""
    container = runtime()

    def send(narrowed: list[ChangeOrderUpdateCommand]) -> list[ConnectorError | None]:
        results = update_change_orders(narrowed, container.client, deadline, container.settings.vendor_concurrency)
        updated.extend(results)
        return [result.failure() for result in results]

    return deliver_in_order(commands, versions, EDITS, container.marks, deadline, send)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An SQS batch or an API request, through the shared entry flow."""
    return handle_event(event, context, app=app, runtime=runtime, parse=parse_message, deliver=_deliver)
