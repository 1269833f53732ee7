"""Created change-order SOVs, with the ids and CBS codes Oracle assigns on create, and their look-up by parent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

# Above 2**53 and odd, so every id is unrepresentable as a float64: clients that round-trip ids through floats
# corrupt them visibly.
FIRST_SOV_ID: Final = 2**53 + 1
_ID_STEP: Final = 2

# The path parameters of "View a Change Order SOV by Parent", each with the SOV field it names. The sandbox keeps
# no hierarchy of workspaces, projects and agreements, so an SOV's parent is the codes it was created with.
PARENT_FIELDS: Final[Mapping[str, str]] = {
    "workspaceCode": "workspaceCode",
    "projectCode": "projectCode",
    "changeOrderCode": "changeOrderCode",
    "associatedAgreementCode": "associatedAgreementCode",
    "agreementType": "changeOrderType",
    "lineItemCode": "changeOrderLineItemCode",
}


class SovStore:
    """Every SOV created, in creation order. Not thread-safe: the caller holds its lock.

    Stored objects are never changed after creation, so they can be serialised outside the lock.
    """

    def __init__(self) -> None:
        self._sovs: list[dict[str, object]] = []
        self._next_id = FIRST_SOV_ID

    def create(self, items: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
        """Store validated items in order; return them as created (with ``sovId`` and ``cbsCode``)."""
        created: list[dict[str, object]] = []
        for item in items:
            sov_id = self._next_id
            self._next_id += _ID_STEP
            cost = item["changeOrderSovCost"]
            assert isinstance(cost, Mapping)  # guaranteed by validation
            sov = {
                **item,
                "sovId": sov_id,
                "cbsCode": f"CBS-{len(self._sovs) + 1}",
                "changeOrderSovCost": {**cost, "changeOrderSovId": sov_id},
            }
            self._sovs.append(sov)
            created.append(sov)
        return created

    def all(self) -> list[dict[str, object]]:
        """Every SOV created, oldest first."""
        return list(self._sovs)

    def under_parent(self, codes: Mapping[str, str]) -> list[dict[str, object]]:
        """The SOVs whose parent codes equal ``codes`` (keyed as ``PARENT_FIELDS``), oldest first."""
        return [
            sov for sov in self._sovs if all(sov.get(field) == codes[name] for name, field in PARENT_FIELDS.items())
        ]
