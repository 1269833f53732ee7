"""Partial updates of frozen config dataclasses from JSON, with type and range checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class ConfigError(ValueError):
    """A config update that names an unknown key or carries a value of the wrong type or range."""


def require_at_least(name: str, value: int, minimum: int) -> None:
    """Raise ConfigError unless ``value >= minimum``."""
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")


def patched[C: DataclassInstance](current: C, patch: object, section: str) -> C:
    """Return a copy of ``current`` with the keys of ``patch`` replaced.

    Each value must have the type of the current value (JSON bools are not ints); range checks are the
    dataclass's own ``__post_init__``. ``section`` prefixes key names in error messages.
    """
    prefix = f"{section}." if section else ""
    if not isinstance(patch, Mapping):
        raise ConfigError(f"{section or 'config'} must be a JSON object")
    names = {field.name for field in dataclasses.fields(current)}
    changes: dict[str, object] = {}
    for key, value in patch.items():
        if key not in names:
            raise ConfigError(f"unknown config key {prefix}{key}")
        expected = type(getattr(current, key))
        if type(value) is not expected:
            raise ConfigError(f"{prefix}{key} must be of type {expected.__name__}")
        changes[key] = value
    return dataclasses.replace(current, **changes)


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """Settings shared by all vendors."""

    latency_ms: int = 0  # added to every vendor request, for benchmarks

    def __post_init__(self) -> None:
        require_at_least("latency_ms", self.latency_ms, 0)
