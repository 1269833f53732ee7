"""Fault rules that imitate network and platform failures in front of the vendor routes."""

from __future__ import annotations

import random
import time
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
    MALFORMED = "malformed"  # apply (unless applied=false), then answer a 2xx whose body breaks the contract
    OUTAGE = "outage"  # every request for duration_ms: 503 (or a dropped connection), not applied


class MalformedShape(StrEnum):
    """How a ``malformed`` fault breaks the 2xx body."""

    HTML = "html"  # an HTML page (a proxy's or maintenance page served with 2xx)
    TRUNCATED = "truncated"  # the JSON body cut in half
    EMPTY = "empty"  # no body at all, still labelled JSON
    EMPTY_OBJECT = "empty_object"  # {}
    WRONG_SHAPE = "wrong_shape"  # JSON of the wrong shape for the route (Route.wrong_shape)


# Options each kind accepts, with their defaults (None: required).
_OPTIONS: dict[FaultKind, dict[str, int | bool | str | None]] = {
    FaultKind.LATENCY: {"delay_ms": None},
    FaultKind.STATUS: {"status": None},
    FaultKind.UNAVAILABLE: {"retry_after": 1},
    FaultKind.TIMEOUT: {"delay_ms": 30_000, "applied": True},
    FaultKind.DROP: {"applied": False},
    FaultKind.MALFORMED: {"shape": MalformedShape.HTML.value, "applied": True},
    FaultKind.OUTAGE: {"duration_ms": None, "retry_after": 0, "drop": False},
}
_TRIGGERS = frozenset({"count", "probability"})


class FaultError(ValueError):
    """A fault rule that cannot be understood."""


@dataclass
class FaultRule:
    """One rule; ``remaining`` counts down for count rules, ``probability`` is drawn from the seeded RNG.

    An outage rule has neither: it fires on every matching request until ``ends_at`` (``time.monotonic``).
    """

    id: int
    route: str
    kind: FaultKind
    remaining: int | None
    probability: float | None
    options: dict[str, int | bool | str]
    ends_at: float | None = None

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
        """The Retry-After seconds of an ``unavailable`` or ``outage`` fault (0: no header)."""
        return int(self.options["retry_after"])

    @property
    def applied(self) -> bool:
        """Whether a ``timeout``/``drop``/``malformed`` fault lets the vendor apply the request first."""
        return bool(self.options.get("applied", False))

    @property
    def drops(self) -> bool:
        """Whether an ``outage`` closes connections instead of answering 503."""
        return bool(self.options.get("drop", False))

    @property
    def shape(self) -> MalformedShape:
        """How a ``malformed`` fault breaks the body."""
        return MalformedShape(str(self.options["shape"]))

    def ended(self, now: float) -> bool:
        """Whether an outage is over (never true for other kinds)."""
        return self.ends_at is not None and now >= self.ends_at

    def to_json(self, now: float) -> dict[str, object]:
        """The rule as the control API shows it (``count``/``remaining_ms`` is what is left of it)."""
        trigger: dict[str, object]
        if self.ends_at is not None:
            trigger = {"remaining_ms": max(0, round((self.ends_at - now) * 1000))}
        elif self.remaining is not None:
            trigger = {"count": self.remaining}
        else:
            trigger = {"probability": self.probability}
        return {"id": self.id, "route": self.route, "kind": self.kind.value, **trigger, **self.options}


def _int_option(spec: Mapping[str, object], name: str, low: int, high: int | None = None) -> int:
    value = spec[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise FaultError(f"{name} must be an integer {bounds}")
    return value


def _option(spec: Mapping[str, object], name: str) -> int | bool | str:
    """One given option, validated."""
    match name:
        case "applied" | "drop":
            value = spec[name]
            if not isinstance(value, bool):
                raise FaultError(f"{name} must be true or false")
            return value
        case "shape":
            try:
                return MalformedShape(str(spec[name])).value
            except ValueError:
                raise FaultError(f"shape must be one of {[shape.value for shape in MalformedShape]}") from None
        case "status":
            return _int_option(spec, name, 400, 599)
        case "duration_ms":
            return _int_option(spec, name, 1)
        case _:
            return _int_option(spec, name, 0)


def _probability(spec: Mapping[str, object]) -> float:
    raw = spec["probability"]
    if not isinstance(raw, int | float) or isinstance(raw, bool) or not 0 <= raw <= 1:
        raise FaultError("probability must be a number between 0 and 1")
    return float(raw)


def parse_fault_rule(spec: object, rule_id: int, routes: Collection[str], now: float) -> FaultRule:
    """Validate a rule from the control API; ``routes`` are the known route names, ``now`` starts an outage."""
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
    unknown = set(spec) - {"route", "kind"} - _TRIGGERS - set(defaults)
    if unknown:
        raise FaultError(f"options not understood for kind {kind.value}: {sorted(unknown)}")
    given_triggers = _TRIGGERS & set(spec)
    if kind is FaultKind.OUTAGE:
        if given_triggers:  # an outage is every request while it lasts: nothing to count or draw
            raise FaultError("an outage takes duration_ms, not count or probability")
    elif len(given_triggers) != 1:
        raise FaultError("give exactly one of count or probability")
    options: dict[str, int | bool | str] = {}
    for name, default in defaults.items():
        if name in spec:
            options[name] = _option(spec, name)
        elif default is None:
            raise FaultError(f"kind {kind.value} needs {name}")
        else:
            options[name] = default
    if options.get("drop") and options.get("retry_after"):
        raise FaultError("a dropped connection carries no Retry-After: give retry_after or drop, not both")
    remaining = _int_option(spec, "count", 1) if "count" in spec else None
    probability = _probability(spec) if "probability" in spec else None
    ends_at = now + int(options["duration_ms"]) / 1000 if kind is FaultKind.OUTAGE else None
    return FaultRule(rule_id, str(route), kind, remaining, probability, options, ends_at)


class FaultBook:
    """The active rules, checked in the order they were added; the first that fires wins.

    A running outage wins over every other rule, whatever the order: a vendor that is down applies nothing, so
    a timeout or drop rule that would apply the request must not fire then. Not thread-safe: the caller holds
    its lock.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, spec: object, routes: Collection[str]) -> dict[str, object]:
        """Validate and append a rule (raises FaultError); return it as the control API shows it."""
        now = time.monotonic()
        rule = parse_fault_rule(spec, self._next_id, routes, now)
        self._next_id += 1
        self._rules.append(rule)
        return rule.to_json(now)

    def clear(self) -> None:
        """Drop every rule."""
        self._rules.clear()

    def to_json(self) -> list[dict[str, object]]:
        """The active rules, in order, as the control API shows them (ended outages are gone)."""
        now = self._forget_ended()
        return [rule.to_json(now) for rule in self._rules]

    def draw(self, route: str) -> FaultRule | None:
        """Pick the fault for one request to ``route``, consuming a count or an RNG draw; None: no fault."""
        self._forget_ended()
        matching = [rule for rule in self._rules if rule.route in (ANY_ROUTE, route)]
        for rule in matching:
            if rule.kind is FaultKind.OUTAGE:
                return rule
        for rule in matching:
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule
            if self._rng.random() < (rule.probability or 0.0):
                return rule
        return None

    def _forget_ended(self) -> float:
        """Drop outages that are over; return the monotonic clock's reading."""
        now = time.monotonic()
        self._rules = [rule for rule in self._rules if not rule.ended(now)]
        return now
