"""The API routes of Primavera Cloud change-order SOVs.

Imported with the first API request (``handler.routes``): a container that only gets batches never loads them.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import TypeAdapter, ValidationError

from connectors.adapters.api_replies import api_app, failure_reply
from connectors.adapters.api_status import add_status_route
from connectors.container import Container, routes_container
from connectors.deadline import Deadline
from connectors.failures import invalid_input
from connectors.models.common import DEFAULT_CONNECTION, ConnectionName
from connectors.models.errors import invalid_input_from
from connectors.models.exact_json import dumps_exact, loads_exact
from connectors.models.prime import ChangeOrderSov, SovBatchCommand, SovItems
from prime_change_order_sov_batch.client import PrimeClient
from prime_change_order_sov_batch.handler import REPLIES
from prime_change_order_sov_batch.operation import create_sovs

ROUTE = "/prime/primeapi/restapi/changeOrderSOV/batch"
STATUS_ROUTE = "/deliveries/prime"
_ITEMS = TypeAdapter(SovItems)

app = api_app()


@app.post(ROUTE)
def batch_route(connection: Annotated[ConnectionName, Query()] = DEFAULT_CONNECTION) -> Response[Any]:
    """Mirror of Oracle's batch endpoint: the body is the vendor's array; 201 with the created objects."""
    return _answer(SovBatchCommand(connection=connection, items=_items(app.current_event.body)))


def _items(body: str | None) -> list[ChangeOrderSov]:
    """The body's array of change-order SOVs, money kept exact; anything else is invalid input."""
    try:
        # Parsed here, not by the resolver: its JSON parsing turns money into binary floats.
        raw = loads_exact(body or "")
    except ValueError as error:
        raise invalid_input(f"the body is not JSON: {error}") from None
    if not isinstance(raw, list) or not raw:
        raise invalid_input("the body must be a non-empty JSON array of change-order SOVs")
    try:
        return _ITEMS.validate_python(raw)
    except ValidationError as error:
        raise invalid_input_from(error, "request body", prefix=("body",)) from None


def _answer(command: SovBatchCommand) -> Response[Any]:
    """Create the request's SOVs and answer as Oracle does; a failure carries what was created before it."""
    container: Container[PrimeClient] = routes_container(app)
    deadline = Deadline.from_context(app.lambda_context)
    [result] = create_sovs([command], container.client, deadline, container.settings.vendor_batch_size)
    failure = result.failure()
    if failure is not None:
        return failure_reply(failure, partial=result.body())
    return Response(status_code=201, content_type="application/json", body=dumps_exact(result.body()["created"]))


add_status_route(app, STATUS_ROUTE, lambda: routes_container(app).idempotency, REPLIES)
