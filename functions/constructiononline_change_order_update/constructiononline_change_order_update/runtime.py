"""Warm-container collaborators: the shared container with a ConstructionOnline client per connection."""

from __future__ import annotations

import functools

from connectors.auth.cached import CachedAuth
from connectors.auth.constructiononline import constructiononline_headers
from connectors.container import Container
from connectors.http import RetryPolicy, VendorHttp
from connectors.limiter import connection_limiter
from connectors.models.constructiononline import ConstructionOnlineConnection
from constructiononline_change_order_update.client import ConstructionOnlineClient, wait_from_message

FUNCTION = "ConstructionOnlineChangeOrderUpdateFunction"
VENDOR = "constructiononline"


def build_client(container: Container[ConstructionOnlineClient], connection: str) -> ConstructionOnlineClient:
    """A ConstructionOnline client for ``connection``: Basic + APIKey, its pause, the pooled HTTP client.

    The vendor's limits are per API key and its 429 says how long to wait: the limiter holds that pause for every
    warm container (``RATE_LIMIT_TABLE``), so the concurrent senders stop together instead of each spending calls
    on 429s until it learns of the window itself.
    """
    secret = container.connection_secret(connection, ConstructionOnlineConnection)
    policy = RetryPolicy(timeout=container.settings.vendor_timeout_seconds, wait_from_body=wait_from_message)
    limiter = connection_limiter(container.settings.rate_limit_table, VENDOR, connection, rate=None)
    http = VendorHttp(container.http, VENDOR, policy, limiter=limiter)
    return ConstructionOnlineClient(http, str(secret(False).base_url), CachedAuth(constructiononline_headers(secret)))


@functools.cache
def runtime() -> Container[ConstructionOnlineClient]:
    """The container's collaborators, made on the first invocation."""
    return Container(FUNCTION, VENDOR, build_client)
