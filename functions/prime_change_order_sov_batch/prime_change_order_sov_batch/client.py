"""The Primavera Cloud calls, through the shared HTTP plumbing: the batch create and the SOV read by parent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from connectors.deadline import Deadline
from connectors.failures import ConnectorError, misconfiguration, transient, unknown_outcome, vendor_rejected
from connectors.http import VendorHttp, classify_refusal
from connectors.models.exact_json import dumps_exact, loads_exact
from connectors.models.prime import ChangeOrderSov

# "View a Change Order SOV by Parent": GET {prefix}/changeOrderSOV/workspace/{worksaceCode}/project/{projectCode}
#   /changeOrder/{changeOrderCode}/associatedAgreement/{associatedAgreementCode}/type/{agreementType}
#   /lineItem/{lineItemCode}
# listed at https://docs.oracle.com/construction-engineering/prime-17/PRIME/api-change-order-sov.html. The only
# other SOV reads are by sovId (unknown after a lost answer) and by parent and SOV code (one SOV), so this one, all
# SOVs of one change-order line item, is the narrowest that finds what a lost batch created.
_BY_PARENT_PATH = "/workspace/{}/project/{}/changeOrder/{}/associatedAgreement/{}/type/{}/lineItem/{}"
_HEADERS = {"Accept": "application/json", "Version": "3"}


@dataclass(frozen=True)
class SovParent:
    """The codes that name an SOV's change-order line item in the read by parent, in path order."""

    workspace_code: str
    project_code: str
    change_order_code: str
    associated_agreement_code: str
    agreement_type: str
    line_item_code: str

    @classmethod
    def of(cls, item: ChangeOrderSov) -> SovParent | None:
        """The parent ``item`` names, or None when it lacks one of the codes (all are optional on create)."""
        codes = (
            item.workspaceCode,
            item.projectCode,
            item.changeOrderCode,
            item.associatedAgreementCode,
            item.changeOrderType,
            item.changeOrderLineItemCode,
        )
        if any(code is None for code in codes):
            return None
        return cls(*(str(code) for code in codes))

    def path(self) -> str:
        """The read's path below ``{prefix}/changeOrderSOV``, every code one percent-encoded segment."""
        return _BY_PARENT_PATH.format(*(quote(code, safe="") for code in astuple(self)))


ItemOutcome = dict[str, Any] | ConnectorError
"""One item of a batch create: Oracle's created object, or why it alone was refused (a 207's item)."""


class SovBatchClient(Protocol):
    """What the operation needs from Primavera Cloud (the real client, or a fake in unit tests)."""

    def create(self, items: Sequence[ChangeOrderSov], deadline: Deadline) -> list[ItemOutcome]: ...

    def under_parent(self, parent: SovParent, deadline: Deadline) -> list[dict[str, Any]]: ...


def _multi_status(answer: object, sent: int) -> list[ItemOutcome]:
    """A 207's items: one entry per item sent, in order, each a created SOV or an error with its 4xx status."""
    if not isinstance(answer, list) or len(answer) != sent or not all(isinstance(entry, dict) for entry in answer):
        raise unknown_outcome("prime answered 207 without saying which item was created")
    outcomes: list[ItemOutcome] = []
    for entry in answer:
        status = entry.get("status")
        if entry.get("sovId") is not None:
            outcomes.append(entry)
        elif isinstance(status, int) and 400 <= status < 500:
            message = entry.get("message")
            outcomes.append(vendor_rejected(f"prime: {message if isinstance(message, str) else status}", status))
        else:
            raise unknown_outcome("prime answered 207 with an item that is neither created nor refused")
    return outcomes


class PrimeClient:
    """``POST {base}{prefix}/changeOrderSOV/batch`` and the SOV read by parent, for one connection."""

    def __init__(self, http: VendorHttp, batch_url: str, auth: httpx.Auth) -> None:
        self._http = http
        self._url = batch_url
        # Both calls live under {prefix}/changeOrderSOV, which the batch URL ends in plus "/batch".
        self._sovs_url = batch_url.removesuffix("/batch")
        self._auth = auth

    def create(self, items: Sequence[ChangeOrderSov], deadline: Deadline) -> list[ItemOutcome]:
        """Create ``items``; per item, in order, Oracle's created object (with ``sovId``) or why it was refused.

        A 400 rejects the whole batch (Oracle does not say which item): it raises a vendor-rejected failure
        and the caller splits the batch to find the bad item. A 207 Multi-Status created some: each item's
        outcome comes from its own entry, and one that cannot be told apart makes the whole answer an unknown
        outcome, so that what was created is looked up, never sent again.
        """
        request = httpx.Request(
            "POST",
            self._url,
            headers={"Content-Type": "application/json", **_HEADERS},
            content=dumps_exact([item.wire() for item in items]).encode(),
        )
        # A create is not idempotent: a request that went out without an answer must not be resent blindly.
        response = self._http.send(request, deadline, auth=self._auth, idempotent=False)
        if response.status_code == 404:
            # The batch route exists on every Primavera Cloud host: a 404 means the connection names the wrong
            # prefix, for the whole batch, not a refusal of its items one by one.
            raise misconfiguration(
                f"prime answered 404 for {httpx.URL(self._url).path}: check the connection's api_path_prefix",
                vendor_status=404,
            )
        if not response.is_success:
            raise classify_refusal("prime", response)
        # Any other answer may still mean the items were created: they are looked up before anything is resent.
        try:
            created = loads_exact(response.content) if response.status_code in (200, 201, 207) else None
        except ValueError:
            created = None
        if response.status_code == 207:
            return _multi_status(created, len(items))
        if (
            not isinstance(created, list)
            or len(created) != len(items)
            or not all(isinstance(sov, dict) for sov in created)
        ):
            raise unknown_outcome(f"prime answered {response.status_code} but not with one object per item sent")
        return list(created)

    def under_parent(self, parent: SovParent, deadline: Deadline) -> list[dict[str, Any]]:
        """Every SOV of ``parent``'s line item as Oracle stores it (money exact); [] when it has none.

        Takes an array, a single object or an empty 204 (the documentation pages disagree on the shape).
        """
        request = httpx.Request("GET", self._sovs_url + parent.path(), headers=_HEADERS)
        response = self._http.send(request, deadline, auth=self._auth, idempotent=True)
        if response.status_code == 204 or (response.status_code == 200 and not response.content.strip()):
            return []
        if response.status_code != 200:
            raise classify_refusal("prime", response)
        try:
            found = loads_exact(response.content)
        except ValueError:
            found = None
        found = [found] if isinstance(found, dict) else found
        if not isinstance(found, list) or not all(isinstance(sov, dict) for sov in found):
            raise transient("prime answered the SOV read with something other than SOV objects", vendor_status=200)
        return found
