"""Fault rules that imitate network and platform failures in front of the vendor routes."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

ANY_ROUTE = "*"


class FaultKind(StrEnum):
    """What a fault does to a matching request."""

    LATENCY = "latency"  # sleep delay_ms, then handle normally
    STATUS = "status"  # answer `status` with a vendor-style error, not applied
    UNAVAILABLE = "unavailable"  # 503 with Retry-After, not applied
    TIMEOUT = "timeout"  # apply (unless applied=false), then hold the response for delay_ms
    DROP = "drop"  # close the connection without a response, applied only if applied=true


# Options each kind accepts, with their defaults (None: required).
_OPTIONS: dict[FaultKind, dict[str, int | bool | None]] = {
    FaultKind.LATENCY: {"delay_ms": None},
    FaultKind.STATUS: {"status": None},
    FaultKind.UNAVAILABLE: {"retry_after": 1},
    FaultKind.TIMEOUT: {"delay_ms": 30_000, "applied": True},
    FaultKind.DROP: {"applied": False},
}


class FaultError(ValueError):
    """A fault rule that cannot be understood."""


@dataclass
class FaultRule:
    """One rule; ``remaining`` counts down for count rules, ``probability`` is drawn from the seeded RNG."""

    id: int
    route: str
    kind: FaultKind
    remaining: int | None
    probability: float | None
    options: dict[str, int | bool]

    @property
    def delay_seconds(self) -> float:
        """The configured delay in seconds (0 for kinds without one)."""
        return int(self.options.get("delay_ms", 0)) / 1000

    @property
    def status(self) -> int:
        """The status of a ``status`` fault."""
        return int(self.options["status"])

    @property
    def retry_after(self) -> int:
        """The Retry-After seconds of an ``unavailable`` fault."""
        return int(self.options["retry_after"])

    @property
    def applied(self) -> bool:
        """Whether a ``timeout``/``drop`` fault lets the vendor apply the request first."""
        return bool(self.options.get("applied", False))

    def to_json(self) -> dict[str, object]:
        """The rule as the control API shows it (``count`` is what is left of it)."""
        trigger: dict[str, object] = (
            {"count": self.remaining} if self.remaining is not None else {"probability": self.probability}
        )
        return {"id": self.id, "route": self.route, "kind": self.kind.value, **trigger, **self.options}


def _int_option(spec: Mapping[str, object], name: str, low: int, high: int | None = None) -> int:
    value = spec[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise FaultError(f"{name} must be an integer {bounds}")
    return value


def parse_fault_rule(spec: object, rule_id: int, routes: Collection[str]) -> FaultRule:
    """Validate a rule from the control API; ``routes`` are the known route names."""
    if not isinstance(spec, Mapping):
        raise FaultError("a fault rule must be a JSON object")
    route = spec.get("route")
    if route != ANY_ROUTE and route not in routes:
        raise FaultError(f"route must be '*' or one of {sorted(routes)}")
    try:
        kind = FaultKind(str(spec.get("kind")))
    except ValueError:
        raise FaultError(f"kind must be one of {[kind.value for kind in FaultKind]}") from None
    defaults = _OPTIONS[kind]
    unknown = set(spec) - {"route", "kind", "count", "probability"} - set(defaults)
    if unknown:
        raise FaultError(f"options not understood for kind {kind.value}: {sorted(unknown)}")
    if ("count" in spec) == ("probability" in spec):
        raise FaultError("give exactly one of count or probability")
    remaining = _int_option(spec, "count", 1) if "count" in spec else None
    probability: float | None = None
    if "probability" in spec:
        raw = spec["probability"]
        if not isinstance(raw, int | float) or isinstance(raw, bool) or not 0 <= raw <= 1:
            raise FaultError("probability must be a number between 0 and 1")
        probability = float(raw)
    options: dict[str, int | bool] = {}
    for name, default in defaults.items():
        if name not in spec:
            if default is None:
                raise FaultError(f"kind {kind.value} needs {name}")
            options[name] = default
        elif name == "applied":
            if not isinstance(spec[name], bool):
                raise FaultError("applied must be true or false")
            options[name] = bool(spec[name])
        elif name == "status":
            options[name] = _int_option(spec, name, 400, 599)
        else:
            options[name] = _int_option(spec, name, 0)
    return FaultRule(rule_id, str(route), kind, remaining, probability, options)


class FaultBook:
    """The active rules, checked in the order they were added; the first that fires wins.

    Not thread-safe: the caller holds its lock.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, spec: object, routes: Collection[str]) -> FaultRule:
        """Validate and append a rule (raises FaultError)."""
        rule = parse_fault_rule(spec, self._next_id, routes)
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule."""
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        """The active rules, in order."""
        return list(self._rules)

    def draw(self, route: str) -> FaultRule | None:
        """Pick the fault for one request to ``route``, consuming a count or an RNG draw; None: no fault."""
        for rule in self._rules:
            if rule.route not in (ANY_ROUTE, route):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)  # safe: we return right away
                return rule
            if self._rng.random() < (rule.probability or 0.0):
                return rule
        return None
