"""The naive baseline: one vendor call per record, one after another, as the vendors' samples do, with plain httpx.

It runs on a sample (a few hundred records) against the same sandbox, with the same latency and limits, and its
rate is extrapolated: it does not depend on how many records follow. A 429 is waited out (Procore's reset time,
ConstructionOnline's stated wait, Oracle's one-second window) and the record sent again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

import httpx

from devkit.bench.vendor_sessions import SESSIONS
from devkit.bench.vendors import BenchVendor
from devkit.local_secrets import SANDBOX_CONSTRUCTIONONLINE_ACCOUNT, SANDBOX_PRIME_USER, SANDBOX_PROCORE_CLIENT

# The sandbox's built-in credentials, those every local connection secret carries.
_CREDENTIALS: Mapping[str, Mapping[str, str]] = {
    "procore": SANDBOX_PROCORE_CLIENT,
    "prime": SANDBOX_PRIME_USER,
    "constructiononline": SANDBOX_CONSTRUCTIONONLINE_ACCOUNT,
}


def naive_records_per_second(base_url: str, vendor: BenchVendor, bodies: Sequence[str]) -> float:
    """Send each record's change order in its own call, in order; return records per second."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        send, wait = SESSIONS[vendor.key](client, _CREDENTIALS[vendor.key])
        started = time.monotonic()
        for body in bodies:
            command = json.loads(body)
            while (response := send(command)).status_code == 429:
                time.sleep(wait(response))
            response.raise_for_status()
        return len(bodies) / (time.monotonic() - started)
