"""Stored Potential Change Orders per company, and the create-or-update rules of the sync action."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Above 2**53 and odd, so every id is unrepresentable as a float64: clients that round-trip ids through floats
# corrupt them visibly.
FIRST_PCO_ID: Final = 2**53 + 1
_ID_STEP: Final = 2


class ItemRejected(Exception):
    """A sync item that cannot be applied: the field and the message for its ``errors``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SyncScope:
    """Where a sync request applies: the Procore-Company-Id header and the query parameters."""

    company_id: int
    project_id: int
    contract_id: int


def _new_entity(pco_id: int, scope: SyncScope, now: str) -> dict[str, object]:
    # The shape of Procore's PCO Show response, restricted to what the sync action can set.
    return {
        "id": pco_id,
        "project_id": scope.project_id,
        "contract_id": scope.contract_id,
        "number": None,
        "title": None,
        "description": None,
        "status": "draft",
        "origin_id": None,
        "origin_data": None,
        "grand_total": "0.00",
        "schedule_impact_amount": None,
        "paid_date": None,
        "invoiced_date": None,
        "due_date": None,
        "change_order_request": None,
        "change_order_request_id": None,
        "prime_change_event_id": None,
        "commitment_change_event_id": None,
        "currency_exchange_rate": None,
        "created_at": now,
        "updated_at": now,
    }


class PcoStore:
    """PCOs by company and id, with the per-company ``origin_id`` index. Not thread-safe: the caller locks."""

    def __init__(self) -> None:
        self._pcos: dict[int, dict[int, dict[str, object]]] = {}
        self._origins: dict[int, dict[str, int]] = {}
        self._next_id = FIRST_PCO_ID

    def apply(self, scope: SyncScope, attributes: Mapping[str, object], now: str) -> dict[str, object]:
        """Create or update one PCO from validated attributes and return a copy of it.

        Raises ItemRejected for an unknown ``id`` or an ``origin_id`` taken by another PCO of the company (one of
        another project included: ``origin_id`` is unique within a company).
        """
        pcos = self._pcos.setdefault(scope.company_id, {})
        origins = self._origins.setdefault(scope.company_id, {})
        values = dict(attributes)
        pco_id = values.pop("id", None)
        origin_id = values.get("origin_id")
        if isinstance(pco_id, int):
            if pco_id not in pcos:
                raise ItemRejected("id", "Entity with this ID not found")
            if isinstance(origin_id, str) and origins.get(origin_id, pco_id) != pco_id:
                raise ItemRejected("origin_id", "has already been taken")
            target_id = pco_id
        elif isinstance(origin_id, str) and origin_id in origins:
            target_id = origins[origin_id]
            if pcos[target_id]["project_id"] != scope.project_id:
                # origin_id is unique within the company: another project's PCO is not updated from here.
                raise ItemRejected("origin_id", "has already been taken")
        else:
            target_id = self._next_id
            self._next_id += _ID_STEP
            pcos[target_id] = _new_entity(target_id, scope, now)
        entity = pcos[target_id]
        previous_origin = entity["origin_id"]
        if "origin_id" in values and previous_origin != origin_id:
            if isinstance(previous_origin, str):
                del origins[previous_origin]
            if isinstance(origin_id, str):
                origins[origin_id] = target_id
        entity.update(values)
        entity["updated_at"] = now
        return dict(entity)

    def matching(
        self, company_id: int | None = None, project_id: int | None = None, contract_id: int | None = None
    ) -> list[dict[str, object]]:
        """Stored PCOs in creation order, each with its ``company_id``, filtered by whichever ids are given."""
        found: list[tuple[int, dict[str, object]]] = []
        for company, pcos in self._pcos.items():
            if company_id is not None and company != company_id:
                continue
            found.extend(
                (pco_id, {"company_id": company, **entity})
                for pco_id, entity in pcos.items()
                if (project_id is None or entity["project_id"] == project_id)
                and (contract_id is None or entity["contract_id"] == contract_id)
            )
        return [entity for _, entity in sorted(found, key=lambda pair: pair[0])]  # ids grow with creation
