"""Oracle Primavera Cloud change-order SOVs: the command model, the connection secret.

Money (Cost), Percent and Quantity are Decimals end to end: parsed with ``loads_exact``, sent with
``dumps_exact``. Read-only fields and ``sovId`` are refused with a message that names them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, SecretStr, create_model, model_validator

from connectors.models.common import DEFAULT_CONNECTION, TEXT_CHARS, Code, ConnectionName, LongText, VendorId

DEFAULT_API_PATH_PREFIX = "/primeapi/restapi"
BATCH_PATH = "/changeOrderSOV/batch"

_COST_STEMS = ("balanceRemaining", "retainage", "total", "unitPrice")
_COST_SUFFIXES = (
    "",
    "AssociatedAgreement",
    "Commitment",
    "Contract",
    "LineItem",
    "Project",
    "Workspace1",
    "Workspace2",
    "Workspace3",
)
COST_FIELDS = tuple(stem + suffix for stem in _COST_STEMS for suffix in _COST_SUFFIXES)
"""The 36 Cost fields of ApiEntityChangeOrderSOVCost."""

MAX_AMOUNT_DIGITS = 38
"""Digits a Cost, Percent or Quantity may have written out. Oracle documents no range; 38 is the precision of Oracle
Database's NUMBER, far past any real amount, and it bounds what ``dumps_exact`` writes (no exponent)."""

MAX_BATCH_ITEMS = 1000
"""Items one command may carry. Oracle documents no maximum per batch; the operation sends PrimeBatchSize (100 by
default) at a time, so 1000 is ten batches, far beyond the SOV lines of a change order; more go as several commands."""

Amount = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=MAX_AMOUNT_DIGITS)]


def _real_moment(value: str) -> str:
    # The pattern alone lets 2024-02-30 or 25:00 through; Oracle refuses the whole batch for them.
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real date and time, such as 2024-05-01T00:00:00 (an offset is optional)") from None
    return value


class SovType(StrEnum):
    """How the line item is billed."""

    LUMP_SUM = "LUMP_SUM"
    UNIT_PRICE = "UNIT_PRICE"


class ChangeOrderType(StrEnum):
    """Contract or commitment change order."""

    CONTRACT = "CONTRACT"
    COMMITMENT = "COMMITMENT"


class _RefusesFields(BaseModel):
    """Refuses, by name, fields the vendor sets itself."""

    model_config = ConfigDict(extra="forbid")
    refused: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _refuse(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = [f"{name} ({why})" for name, why in cls.refused.items() if name in data]
            if found:
                raise ValueError(f"fields Oracle sets itself cannot be sent: {', '.join(found)}")
        return data


class _CostBase(_RefusesFields):
    refused: ClassVar[dict[str, str]] = {
        "link": "read-only",
        "updateDate": "read-only",
        "changeOrderSovId": "set by Oracle on create",
    }


ChangeOrderSovCost: type[BaseModel] = create_model(
    "ChangeOrderSovCost",
    __base__=_CostBase,
    **{name: (Amount | None, None) for name in COST_FIELDS},  # type: ignore[call-overload]
)
"""ApiEntityChangeOrderSOVCost: every Cost field, as exact decimals."""


class ChangeOrderSov(_RefusesFields):
    """ApiEntityChangeOrderSOV as sent on create."""

    refused: ClassVar[dict[str, str]] = {
        "cbsCode": "read-only",
        "link": "read-only",
        "updateDate": "read-only",
        "sovId": "set by Oracle on create",
    }

    changeOrderLineItemId: VendorId
    changeOrderSovCost: ChangeOrderSovCost
    name: Annotated[str, Field(min_length=1, max_length=TEXT_CHARS)]
    sovType: SovType
    abbreviation: Code | None = None
    associatedAgreementCode: Code | None = None
    changeOrderCode: Code | None = None
    changeOrderId: VendorId | None = None
    changeOrderLineItemCode: Code | None = None
    changeOrderType: ChangeOrderType | None = None
    costCategoryId: VendorId | None = None
    costCategoryName: LongText | None = None
    costSheetItemId: VendorId | None = None
    description: LongText | None = None
    isSummarySOV: Annotated[bool, Field(strict=True)] | None = None
    itemCode: Code | None = None
    itemSuffix: VendorId | None = None
    parentChangeOrderSovCode: Code | None = None
    parentChangeOrderSovId: VendorId | None = None
    percentComplete: Amount | None = None
    periodAppliedDate: (
        Annotated[
            str,
            # Oracle's own examples write no offset (2024-05-01T00:00:00): sent as given, no zone invented.
            Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$"),
            AfterValidator(_real_moment),
        ]
        | None
    ) = None
    projectCode: Code | None = None
    quantity: Amount | None = None
    unitsOfMeasureCode: Code | None = None
    unitsOfMeasureId: VendorId | None = None
    workspaceCode: Code | None = None

    def wire(self) -> dict[str, Any]:
        """The fields the caller gave, Decimals kept (write with ``dumps_exact``)."""
        return self.model_dump(exclude_unset=True)


SovItems = Annotated[list[ChangeOrderSov], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]
"""The items of a command: what the API route's body (Oracle's array) is validated as, too."""


class SovBatchCommand(BaseModel):
    """The Primavera Cloud operation's command model: ``{connection, items[]}``."""

    model_config = ConfigDict(extra="forbid")

    connection: ConnectionName = DEFAULT_CONNECTION
    items: SovItems


class PrimeConnection(BaseModel):
    """The ``<prefix>/prime/<connection>`` secret."""

    model_config = ConfigDict(extra="ignore")

    username: SecretStr
    password: SecretStr
    base_url: HttpUrl = HttpUrl("https://primavera.oraclecloud.com")
    api_path_prefix: Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_-]*$")] = DEFAULT_API_PATH_PREFIX

    def batch_url(self) -> str:
        """Where change-order SOVs are batch-created for this connection."""
        return str(self.base_url).rstrip("/") + self.api_path_prefix.rstrip("/") + BATCH_PATH
