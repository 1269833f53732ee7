"""The fixed identity of the local AWS: region, account, dummy credentials, local ARNs and endpoints.

Region and account are moto's defaults, so ARNs the dev kit computes match the ones moto hands out.
``sam_transform.py`` carries the same constants; it runs in the SAM tool environment, where the dev kit
is not importable, which is why they are not imported from there.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"

# Bucket that sam_transform.py writes in place of local CodeUri/ContentUri folders (the key keeps the path).
LOCAL_CODE_BUCKET = "local-source"

# moto accepts any credentials; these are the values its documentation uses.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def function_arn(function_name: str) -> str:
    """Return the ARN Lambda would give ``function_name`` in the local account and region."""
    return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"


def is_local_endpoint(endpoint_url: str) -> bool:
    """Whether ``endpoint_url`` is on this machine (the local emulator), where the dummy credentials are the ones."""
    host = urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
