"""Lambda entry point: API Gateway requests and SQS batches for ConstructionOnline change-order updates."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from connectors.deadline import Deadline
from connectors.entry import Attempt, handle_event
from connectors.failures import ConnectorError, FieldProblem, invalid_input
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName, VendorId
from connectors.models.constructiononline import ChangeOrderUpdateCommand, CoInfo
from connectors.models.errors import invalid_input_from
from connectors.models.exact_json import JsonInputError, loads_exact
from connectors.observability import logger, metrics, tracer
from connectors.triggers import error_response, log_failure, register_api_error_handlers
from constructiononline_change_order_update.operation import update_change_orders
from constructiononline_change_order_update.runtime import runtime

ROUTE = "/constructiononline/api/ChangeOrders/<change_order_id>"

app = APIGatewayRestResolver(enable_validation=True)
register_api_error_handlers(app)


@app.put(ROUTE)
def update_route(
    change_order_id: Annotated[VendorId, Path()],
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
        field = source if error.field == "(root)" else f"{source}.{error.field}".replace(".[", "[")
        raise invalid_input(f"invalid {field}: {error.reason}", [FieldProblem(field, error.reason)]) from None
    except ValueError as error:
        raise invalid_input(f"{source} is not JSON: {error}") from None
    try:
        co_info = CoInfo.model_validate(raw)
    except ValidationError as error:
        raise invalid_input_from(error, "coInfo", prefix=source.split(".")) from None
    command = ChangeOrderUpdateCommand(connection=connection, id=change_order_id, coInfo=co_info)
    container = runtime()
    [result] = update_change_orders(
        [command], container.client, Deadline.from_context(app.lambda_context), container.settings.vendor_concurrency
    )
    if result.failure is not None:
        log_failure(result.failure)
        return error_response(result.failure)
    return Response(status_code=200, content_type="application/json", body=result.record)


def parse_message(body: str) -> ChangeOrderUpdateCommand:
    """An SQS message body as the command, decimals kept exact."""
    return ChangeOrderUpdateCommand.model_validate(loads_exact(body))


def _deliver(commands: list[ChangeOrderUpdateCommand], attempt: Attempt) -> list[ConnectorError | None]:
    container = runtime()
    results = update_change_orders(commands, container.client, attempt.deadline, container.settings.vendor_concurrency)
    return [result.failure for result in results]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An SQS batch or an API request, through the shared entry flow."""
    return handle_event(event, context, app=app, runtime=runtime, parse=parse_message, deliver=_deliver)
