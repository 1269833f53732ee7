"""The ``prime`` config section."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from devkit.sandbox.config import ConfigError, patched, require_at_least
from devkit.sandbox.prime.sov_schema import is_int64

_SECTION = "prime"
PARTIAL_BATCHES = ("refuse", "multi_status", "multi_status_unattributed")
_LINE_ITEMS_KEY = "known_line_item_ids"


@dataclass(frozen=True)
class PrimeConfig:
    """Defaults follow Oracle's documentation (55 requests/second, 1-hour tokens); tests shrink them."""

    token_lifetime_seconds: int = 3600  # 0 issues tokens that are already expired
    requests_per_second: int = 55
    max_batch_size: int = 1000  # undocumented by Oracle, so configurable
    known_line_item_ids: tuple[int, ...] | None = None  # None: every changeOrderLineItemId exists
    # A batch with some invalid items: "refuse" it whole (400, as Oracle documents the batch endpoints), or create
    # the valid ones and answer 207 Multi-Status (Oracle lists it among its status codes): per item
    # ("multi_status"), or without saying which item is which ("multi_status_unattributed").
    partial_batches: str = "refuse"

    def __post_init__(self) -> None:
        if self.partial_batches not in PARTIAL_BATCHES:
            raise ConfigError(f"prime.partial_batches must be one of {', '.join(PARTIAL_BATCHES)}")
        require_at_least("prime.token_lifetime_seconds", self.token_lifetime_seconds, 0)
        require_at_least("prime.requests_per_second", self.requests_per_second, 0)
        require_at_least("prime.max_batch_size", self.max_batch_size, 1)

    def to_json(self) -> dict[str, object]:
        """The section as the control API shows it."""
        line_items = self.known_line_item_ids
        return {**dataclasses.asdict(self), _LINE_ITEMS_KEY: None if line_items is None else list(line_items)}


def patched_prime_config(current: PrimeConfig, patch: Mapping[str, object]) -> PrimeConfig:
    """Return ``current`` with ``patch`` applied (raises ConfigError).

    ``known_line_item_ids`` is null or a list, which the shared same-type check cannot express; it is
    validated here and the other keys go through ``config.patched``.
    """
    others = {key: value for key, value in patch.items() if key != _LINE_ITEMS_KEY}
    updated = patched(current, others, _SECTION)
    if _LINE_ITEMS_KEY not in patch:
        return updated
    return dataclasses.replace(updated, known_line_item_ids=_line_item_ids(patch[_LINE_ITEMS_KEY]))


def _line_item_ids(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(is_int64(item) for item in value):
        raise ConfigError(f"{_SECTION}.{_LINE_ITEMS_KEY} must be null or a list of 64-bit integers")
    return tuple(value)
