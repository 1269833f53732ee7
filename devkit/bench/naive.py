"""The naive baseline: one vendor call per record, one after another, as the vendors' samples do, with plain httpx.

It runs on a sample (a few hundred records) against the same sandbox, with the same latency and limits, and its
rate is extrapolated: it does not depend on how many records follow. A 429 is waited out (Procore's reset time,
ConstructionOnline's stated wait, Oracle's one-second window) and the record sent again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from devkit.bench.vendors import BenchVendor
from devkit.local_secrets import SANDBOX_CONSTRUCTIONONLINE_ACCOUNT, SANDBOX_PRIME_USER, SANDBOX_PROCORE_CLIENT

Send = Callable[[dict[str, Any]], httpx.Response]
Wait = Callable[[httpx.Response], float]
_CO_WAIT = re.compile(r"Try again in (\d+) seconds")
_SHORTEST_WAIT = 0.05


def naive_records_per_second(base_url: str, vendor: BenchVendor, bodies: Sequence[str]) -> float:
    """Send each record's change order in its own call, in order; return records per second."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        send, wait = _SESSIONS[vendor.key](client)
        started = time.monotonic()
        for body in bodies:
            command = json.loads(body)
            while (response := send(command)).status_code == 429:
                time.sleep(wait(response))
            response.raise_for_status()
        return len(bodies) / (time.monotonic() - started)


def _until_reset(response: httpx.Response) -> float:
    return max(_SHORTEST_WAIT, float(response.headers["X-Rate-Limit-Reset"]) - time.time())


def _one_second(_: httpx.Response) -> float:
    return 1.0  # Oracle's window is a second and its 429 says nothing more


def _stated_wait(response: httpx.Response) -> float:
    found = _CO_WAIT.search(response.text)
    return float(found[1]) if found else 1.0


def _procore(client: httpx.Client) -> tuple[Send, Wait]:
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", **SANDBOX_PROCORE_CLIENT})
    headers = {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}

    def send(command: dict[str, Any]) -> httpx.Response:
        return client.patch(
            "/rest/v1.0/potential_change_orders/sync",
            params={"project_id": command["project_id"], "contract_id": command["contract_id"]},
            headers={**headers, "Procore-Company-Id": str(command["company_id"])},
            json={"updates": command["updates"]},
        )

    return send, _until_reset


def _prime(client: httpx.Client) -> tuple[Send, Wait]:
    scope = f"http://{urlsplit(str(client.base_url)).hostname}/api"
    answer = client.post(
        "/primediscovery/apitoken/request",
        params={"scope": scope},
        auth=(SANDBOX_PRIME_USER["username"], SANDBOX_PRIME_USER["password"]),
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


def _constructiononline(client: httpx.Client) -> tuple[Send, Wait]:
    account = SANDBOX_CONSTRUCTIONONLINE_ACCOUNT
    auth = (account["email"], account["password"])

    def send(command: dict[str, Any]) -> httpx.Response:
        return client.put(
            f"/api/ChangeOrders/{command['id']}",
            params={"coInfo": json.dumps(command["coInfo"])},
            headers={"APIKey": account["api_key"]},
            auth=auth,
        )

    return send, _stated_wait


_SESSIONS: dict[str, Callable[[httpx.Client], tuple[Send, Wait]]] = {
    "procore": _procore,
    "prime": _prime,
    "constructiononline": _constructiononline,
}
