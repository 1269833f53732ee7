"""How to call each vendor's sandbox once per record, with plain httpx: sign in, then send one change order.

The naive baseline (``devkit.bench.naive``) and the reference handlers (``devkit.bench.reference``) both call the
vendors this way; the credentials are the connection's (the sandbox's built-in ones for the naive loop, the
connection secret for the reference handlers). Each session answers ``(send, wait)``: ``send`` makes the one
vendor call of a record's command, ``wait`` reads from a 429 how long the vendor asks to wait.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

Send = Callable[[dict[str, Any]], httpx.Response]
Wait = Callable[[httpx.Response], float]
Session = Callable[[httpx.Client, Mapping[str, Any]], tuple[Send, Wait]]
_CO_WAIT = re.compile(r"Try again in (\d+) seconds")
_SHORTEST_WAIT = 0.05


def _until_reset(response: httpx.Response) -> float:
    return max(_SHORTEST_WAIT, float(response.headers["X-Rate-Limit-Reset"]) - time.time())


def _one_second(_: httpx.Response) -> float:
    return 1.0  # Oracle's window is a second and its 429 says nothing more


def _stated_wait(response: httpx.Response) -> float:
    found = _CO_WAIT.search(response.text)
    return float(found[1]) if found else 1.0


def procore_session(client: httpx.Client, credentials: Mapping[str, Any]) -> tuple[Send, Wait]:
    """Procore: a client-credentials token, then one PCO sync call per command (``client_id``, ``client_secret``)."""
    secret = {"client_id": credentials["client_id"], "client_secret": credentials["client_secret"]}
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret})
    headers = {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}

    def send(command: dict[str, Any]) -> httpx.Response:
        return client.patch(
            "/rest/v1.0/potential_change_orders/sync",
            params={"project_id": command["project_id"], "contract_id": command["contract_id"]},
            headers={**headers, "Procore-Company-Id": str(command["company_id"])},
            json={"updates": command["updates"]},
        )

    return send, _until_reset


def prime_session(client: httpx.Client, credentials: Mapping[str, Any]) -> tuple[Send, Wait]:
    """Primavera Cloud: an API token for the user, then one SOV batch call per command (``username``, ``password``)."""
    scope = f"http://{urlsplit(str(client.base_url)).hostname}/api"
    answer = client.post(
        "/primediscovery/apitoken/request",
        params={"scope": scope},
        auth=(credentials["username"], credentials["password"]),
    )
    token = answer.raise_for_status().json()
    headers = {
        "Authorization": f"Bearer {token['accessToken']}",
        "x-prime-tenant-code": token["primeTenantCode"],
        **token["requestHeaders"],
    }

    def send(command: dict[str, Any]) -> httpx.Response:
        return client.post("/primeapi/restapi/changeOrderSOV/batch", headers=headers, json=command["items"])

    return send, _one_second


def constructiononline_session(client: httpx.Client, credentials: Mapping[str, Any]) -> tuple[Send, Wait]:
    """ConstructionOnline: one change-order update per command (``email``, ``password``, ``api_key``)."""
    auth = (credentials["email"], credentials["password"])
    api_key = credentials["api_key"]

    def send(command: dict[str, Any]) -> httpx.Response:
        return client.put(
            f"/api/ChangeOrders/{command['id']}",
            params={"coInfo": json.dumps(command["coInfo"])},
            headers={"APIKey": api_key},
            auth=auth,
        )

    return send, _stated_wait


SESSIONS: dict[str, Session] = {
    "procore": procore_session,
    "prime": prime_session,
    "constructiononline": constructiononline_session,
}
