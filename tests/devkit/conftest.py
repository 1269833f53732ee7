"""Shared fixtures of the dev kit tests: the real template, the fixture template and a moto server."""

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from devkit.aws import MotoServer, start_moto
from devkit.template import REPO_TEMPLATE, load_template
from tests.devkit.fixture_paths import FIXTURE_TEMPLATE


@pytest.fixture(scope="session")
def repo_template() -> dict:
    return load_template(REPO_TEMPLATE)


@pytest.fixture(scope="session")
def fixture_template() -> dict:
    return load_template(FIXTURE_TEMPLATE)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with start_moto() as server:
        yield server


@pytest.fixture
def endpoint_url(moto_server: MotoServer) -> str:
    """The moto server's URL, its state emptied first so each test starts from nothing."""
    address = urlsplit(moto_server.endpoint_url)
    assert address.hostname is not None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    connection.request("POST", "/moto-api/reset")
    assert connection.getresponse().status == 200
    connection.close()
    return moto_server.endpoint_url
