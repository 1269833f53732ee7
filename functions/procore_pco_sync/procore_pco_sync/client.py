"""The Procore sync call: one PATCH of at most 1000 updates, through the shared HTTP plumbing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import httpx
from pydantic import ValidationError

from connectors.deadline import Deadline
from connectors.failures import transient
from connectors.http import VendorHttp, classify_refusal
from connectors.models.procore import MAX_SYNC_ITEMS, PcoUpdate, SyncResponse

SYNC_PATH = "/rest/v1.0/potential_change_orders/sync"


class PcoSyncClient(Protocol):
    """What the operation needs from Procore (the real client, or a fake in unit tests)."""

    def sync(
        self, company_id: int, project_id: int, contract_id: int, updates: Sequence[PcoUpdate], deadline: Deadline
    ) -> SyncResponse: ...


class ProcoreClient:
    """Procore's sync endpoint for one connection."""

    def __init__(self, http: VendorHttp, api_base_url: str, auth: httpx.Auth) -> None:
        self._http = http
        self._url = api_base_url.rstrip("/") + SYNC_PATH
        self._auth = auth

    def sync(
        self, company_id: int, project_id: int, contract_id: int, updates: Sequence[PcoUpdate], deadline: Deadline
    ) -> SyncResponse:
        """Send one sync call; item-level refusals come back inside the response, not as errors."""
        if not 0 < len(updates) <= MAX_SYNC_ITEMS:
            raise ValueError(f"a sync call carries 1 to {MAX_SYNC_ITEMS} updates, not {len(updates)}")
        request = httpx.Request(
            "PATCH",
            self._url,
            params={"project_id": project_id, "contract_id": contract_id},
            headers={"Procore-Company-Id": str(company_id), "Accept": "application/json"},
            json={"updates": [update.wire() for update in updates]},
        )
        # Every update carries origin_id or id, so a resend is an upsert: safe to retry after a timeout.
        response = self._http.send(request, deadline, auth=self._auth, idempotent=True)
        if not response.is_success:
            raise classify_refusal("procore", response)
        # An answer outside the contract tells nothing of what was stored; the resend is an upsert, so it is safe.
        if response.status_code != 200:
            raise transient(
                f"procore answered {response.status_code} instead of 200", vendor_status=response.status_code
            )
        try:
            return SyncResponse.model_validate_json(response.content)
        except ValidationError:
            raise transient("procore answered 200 with a body that is not {entities, errors}", 200) from None
