"""The secrets a local run needs: a ``default`` connection per vendor pointing at the sandbox, and webhook keys.

The values are for this machine only. The bearer token is the one the files in events/ carry.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import httpx

from devkit.aws import LocalStack, put_secret

# The template parameter that says where the functions look for their secrets.
PREFIX_PARAMETER = "ConnectionSecretPrefix"
LOCAL_BEARER_TOKEN = "local-dev-token-not-a-secret"  # noqa: S105 - a placeholder that events/ carries too
LOCAL_SIGNING_SECRET = "whsec_" + base64.b64encode(b"local-signing-key-not-a-secret!!").decode()
SANDBOX_PROCORE_CLIENT = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
SANDBOX_PRIME_USER = {"username": "sandbox-user", "password": "sandbox-password"}
SANDBOX_CONSTRUCTIONONLINE_ACCOUNT = {
    "email": "sandbox@example.com",
    "password": "sandbox-password",
    "api_key": "sandbox-api-key",
}


def secret_prefix(stack: LocalStack) -> str:
    """The ``ConnectionSecretPrefix`` the stack was provisioned with."""
    return stack.parameters[PREFIX_PARAMETER]


def seed_webhook_secret(stack: LocalStack) -> None:
    """``<prefix>/webhook`` with the local signing key and bearer token."""
    put_secret(
        stack.endpoint_url,
        f"{secret_prefix(stack)}/webhook",
        {"signing_secrets": [LOCAL_SIGNING_SECRET], "bearer_tokens": [LOCAL_BEARER_TOKEN]},
    )


def seed_connections(
    stack: LocalStack,
    sandbox_url: str,
    connection: str = "default",
    constructiononline_rate_limits: Mapping[str, object] | None = None,
) -> None:
    """The webhook secret and a connection for every vendor, all pointing at the sandbox.

    ``constructiononline_rate_limits`` is the ConstructionOnline connection's ``rate_limits`` (its windows by name,
    ``hour``, ``day``, ``week``, ``month``), for a sandbox whose windows are shortened; None leaves the function's
    defaults, the vendor's four documented windows.
    """
    seed_webhook_secret(stack)
    seed_procore_connection(stack, sandbox_url, connection)
    prefix = secret_prefix(stack)
    put_secret(stack.endpoint_url, f"{prefix}/prime/{connection}", {**SANDBOX_PRIME_USER, "base_url": sandbox_url})
    constructiononline = {
        **SANDBOX_CONSTRUCTIONONLINE_ACCOUNT,
        "base_url": sandbox_url,
        **({"rate_limits": constructiononline_rate_limits} if constructiononline_rate_limits else {}),
    }
    put_secret(stack.endpoint_url, f"{prefix}/constructiononline/{connection}", constructiononline)


def seed_prime_connection(stack: LocalStack, control: httpx.Client, connection: str, shape: str = "current") -> None:
    """``<prefix>/prime/<connection>`` with a sandbox user of its own, whose token replies come in ``shape``."""
    user = {"username": f"{connection}@sandbox.example", "password": f"{connection}-password"}
    control.post("/_sandbox/prime/users", json={**user, "token_shape": shape}).raise_for_status()
    secret = {**user, "base_url": str(control.base_url).rstrip("/")}
    put_secret(stack.endpoint_url, f"{secret_prefix(stack)}/prime/{connection}", secret)


def seed_procore_connection(stack: LocalStack, sandbox_url: str, connection: str = "default") -> None:
    """``<prefix>/procore/<connection>`` with the sandbox's built-in client, both base URLs at the sandbox."""
    put_secret(
        stack.endpoint_url,
        f"{secret_prefix(stack)}/procore/{connection}",
        {**SANDBOX_PROCORE_CLIENT, "auth_base_url": sandbox_url, "api_base_url": sandbox_url},
    )
