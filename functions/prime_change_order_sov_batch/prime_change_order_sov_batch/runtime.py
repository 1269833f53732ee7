"""This function's warm-container collaborators: the shared container with a Prime client per connection."""

from __future__ import annotations

import functools

from connectors.auth.cached import CachedAuth
from connectors.auth.prime import prime_token_fetch
from connectors.container import Container
from connectors.http import RetryPolicy, VendorHttp
from connectors.limiter import Budget
from connectors.models.prime import PrimeConnection
from prime_change_order_sov_batch.client import PrimeClient

FUNCTION = "PrimeChangeOrderSovBatchFunction"
VENDOR = "prime"
# Oracle documents no rate-limit headers; its limit is per second, so that is how long a 429 waits.
RATE_LIMIT_WAIT_SECONDS = 1.0


def build_client(container: Container[PrimeClient], connection: str) -> PrimeClient:
    """A Prime client for ``connection``: its token and tenant headers, its throttle, the pooled HTTP client.

    The throttle is Oracle's per-user budget (``VENDOR_MAX_REQUESTS_PER_SECOND``), shared by every warm container
    when ``RATE_LIMIT_TABLE`` is set.
    """
    secret = container.connection_secret(connection, PrimeConnection)
    settings = container.settings
    auth = CachedAuth(prime_token_fetch(container.http, secret, settings.vendor_timeout_seconds))
    policy = RetryPolicy(timeout=settings.vendor_timeout_seconds, rate_limit_fallback=RATE_LIMIT_WAIT_SECONDS)
    rate = settings.vendor_max_requests_per_second
    limiter = container.limiter(connection, [Budget.per_second(rate)] if rate else [])
    http = VendorHttp(container.http, VENDOR, policy, limiter=limiter)
    return PrimeClient(http, secret(False).batch_url(), auth)


@functools.cache
def runtime() -> Container[PrimeClient]:
    """The container's collaborators, made on the first invocation."""
    return Container(FUNCTION, VENDOR, build_client)
