"""Cached auth headers: reused until expiry, renewed once after a 401, the secret re-read after a refusal."""

import httpx
import pytest

from connectors.auth.cached import EXPIRY_MARGIN_SECONDS, CachedAuth
from connectors.failures import ConnectorError, misconfiguration


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_headers_are_reused_until_shortly_before_they_expire():
    fetched = []
    clock = Clock()

    def fetch(fresh):
        fetched.append(fresh)
        return {"Authorization": f"Bearer t{len(fetched)}"}, 600.0

    auth = CachedAuth(fetch, clock)
    assert auth.current().headers["Authorization"] == "Bearer t1"
    clock.now += 600 - EXPIRY_MARGIN_SECONDS - 1
    assert auth.current().headers["Authorization"] == "Bearer t1"
    clock.now += 2
    assert auth.current().headers["Authorization"] == "Bearer t2"
    assert fetched == [False, False]


def test_a_401_renews_once_and_reads_the_secret_afresh():
    fetched = []

    def fetch(fresh):
        fetched.append(fresh)
        return {"Authorization": f"Bearer t{len(fetched)}"}, None

    statuses = iter([401, 200])
    seen = []

    def vendor(request):
        seen.append(request.headers["Authorization"])
        return httpx.Response(next(statuses))

    client = httpx.Client(transport=httpx.MockTransport(vendor), auth=CachedAuth(fetch))
    assert client.get("https://vendor.test/").status_code == 200
    assert seen == ["Bearer t1", "Bearer t2"] and fetched == [False, True]


def test_a_second_401_is_handed_back_not_retried_forever():
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(401)),
        auth=CachedAuth(lambda fresh: ({"Authorization": "Bearer x"}, None)),
    )
    assert client.get("https://vendor.test/").status_code == 401


def test_credentials_refused_with_the_cached_secret_are_tried_once_with_a_fresh_read():
    reads = []

    def fetch(fresh):
        reads.append(fresh)
        if not fresh:
            raise misconfiguration("token endpoint refused the credentials", 401)
        return {"Authorization": "Bearer rotated"}, 60.0

    assert CachedAuth(fetch).current().headers["Authorization"] == "Bearer rotated"
    assert reads == [False, True]


def test_credentials_refused_twice_are_a_misconfiguration():
    def fetch(fresh):
        raise misconfiguration("refused", 401)

    with pytest.raises(ConnectorError, match="refused"):
        CachedAuth(fetch).current()
