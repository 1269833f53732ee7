"""This function's warm-container collaborators: the shared container with a Procore client per connection."""

from __future__ import annotations

import functools

from connectors.auth.cached import CachedAuth
from connectors.auth.procore import procore_token_fetch
from connectors.container import Container
from connectors.http import RetryPolicy, VendorHttp
from connectors.models.procore import ProcoreConnection
from procore_pco_sync.client import ProcoreClient

FUNCTION = "ProcorePcoSyncFunction"
VENDOR = "procore"


def build_client(container: Container[ProcoreClient], connection: str) -> ProcoreClient:
    """A Procore client for ``connection``: its token cache, its rate-limit pause, the pooled HTTP client.

    Procore's limits come with every response, not up front: the limiter holds only the pauses Procore asks for,
    shared by every warm container when ``RATE_LIMIT_TABLE`` is set.
    """
    secret = container.connection_secret(connection, ProcoreConnection)
    timeout = container.settings.vendor_timeout_seconds
    auth = CachedAuth(procore_token_fetch(container.http, secret, timeout))
    limiter = container.limiter(connection, budgets=[])
    http = VendorHttp(container.http, VENDOR, RetryPolicy(timeout=timeout), limiter=limiter)
    return ProcoreClient(http, str(secret(False).api_base_url), auth)


@functools.cache
def runtime() -> Container[ProcoreClient]:
    """The container's collaborators, made on the first invocation (not at import, so tests need no reloads)."""
    return Container(FUNCTION, VENDOR, build_client)
