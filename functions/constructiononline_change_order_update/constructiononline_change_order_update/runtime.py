"""Warm-container collaborators: the shared container with a ConstructionOnline client per connection."""

from __future__ import annotations

import functools

from connectors.auth.cached import CachedAuth
from connectors.auth.constructiononline import constructiononline_headers
from connectors.container import Container
from connectors.http import RetryPolicy, VendorHttp
from connectors.limiter import Budget
from connectors.models.constructiononline import ConstructionOnlineConnection
from constructiononline_change_order_update.client import ConstructionOnlineClient, wait_from_message

FUNCTION = "ConstructionOnlineChangeOrderUpdateFunction"
VENDOR = "constructiononline"


def build_client(container: Container[ConstructionOnlineClient], connection: str) -> ConstructionOnlineClient:
    """A ConstructionOnline client for ``connection``: Basic + APIKey, its budget, the pooled HTTP client.

    The vendor's limits are per API key: the limiter books every request in each of the connection's windows (500
    an hour, 10,000 a day, 50,000 a week, 200,000 a month, a tenth of each at once after a quiet spell, unless the
    secret says otherwise) and holds any wait a 429 names, for every warm container when ``RATE_LIMIT_TABLE`` is
    set, so the concurrent senders stay within every window together instead of each learning of it from 429s.
    """
    secret = container.connection_secret(connection, ConstructionOnlineConnection)
    policy = RetryPolicy(timeout=container.settings.vendor_timeout_seconds, wait_from_body=wait_from_message)
    first = secret(False)
    windows = first.rate_limits.windows()
    budgets = [Budget(window.requests, window.seconds, window.burst_or_default) for window in windows]
    http = VendorHttp(container.http, VENDOR, policy, limiter=container.limiter(connection, budgets))
    return ConstructionOnlineClient(http, str(first.base_url), CachedAuth(constructiononline_headers(secret)))


@functools.cache
def runtime() -> Container[ConstructionOnlineClient]:
    """The container's collaborators, made on the first invocation."""
    return Container(FUNCTION, VENDOR, build_client)
