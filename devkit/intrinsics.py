"""Resolve the CloudFormation intrinsic functions of a transformed template against local values.

Supported: Ref (parameters, pseudo parameters, resources), Fn::GetAtt, Fn::Sub (both forms), Fn::Join,
Fn::If with the template's Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition) and AWS::NoValue.
Anything else raises UnresolvableError, so a template that needs more fails loudly instead of running wrong.

Not SAM CLI's intrinsic resolver (``samcli.lib.intrinsic_resolver``): SAM CLI lives in .tools because its pins
(boto3 among them) differ from the app's, so the dev kit, which runs in the app's environment, cannot import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from devkit.local_aws import ACCOUNT_ID, PARTITION, REGION

PSEUDO_PARAMETERS: Final[Mapping[str, str]] = {
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::StackName": "local",
    "AWS::URLSuffix": "amazonaws.com",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _NoValue:
    """Type of NO_VALUE: what ``Ref AWS::NoValue`` resolves to; dropped from the enclosing list or map."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()


class UnresolvableError(ValueError):
    """An intrinsic function that has no local value (unknown name, unsupported function, bad shape)."""


@dataclass(frozen=True)
class ResourceValues:
    """What a resource resolves to: its ``Ref`` value and its ``Fn::GetAtt`` attributes."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalValues:
    """The table intrinsics resolve against: parameter values, local resources and the template's Conditions."""

    parameters: Mapping[str, str]
    resources: Mapping[str, ResourceValues]
    conditions: Mapping[str, Any]


def resolve(value: Any, values: LocalValues) -> Any:
    """Return ``value`` with every intrinsic function replaced by its local value (NO_VALUE entries dropped)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(argument, values)
            if key.startswith("Fn::"):
                raise UnresolvableError(f"{key} is not supported locally")
        resolved = {key: resolve(item, values) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}
    if isinstance(value, list):
        return [item for item in (resolve(entry, values) for entry in value) if item is not NO_VALUE]
    return value


def condition_holds(name: str, values: LocalValues) -> bool:
    """Evaluate the template condition ``name``."""
    if name not in values.conditions:
        raise UnresolvableError(f"condition {name} is not defined in the template")
    return _evaluate(values.conditions[name], values)


def cfn_text(value: Any) -> str:
    """Return ``value`` as CloudFormation turns a scalar into a string (booleans in lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise UnresolvableError(f"expected a string, number or boolean, got {value!r}")


def references(value: Any) -> set[str]:
    """Return the logical ids and parameter names that ``value`` refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    if isinstance(value, list):
        return set().union(*(references(item) for item in value))
    if not isinstance(value, dict):
        return set()
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and isinstance(argument, str):
            return {argument}
        if key == "Fn::GetAtt":
            return {_split_get_att(argument)[0]}
        if key == "Fn::Sub":
            text, variables = _split_sub(argument)
            named = {match.split(".")[0] for match in _SUB_VARIABLE.findall(text) if not match.startswith("!")}
            return (named - variables.keys()) | references(list(variables.values()))
    return references(list(value.values()))


def _ref(name: Any, values: LocalValues) -> Any:
    if name == "AWS::NoValue":
        return NO_VALUE
    if name in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[name]
    if name in values.parameters:
        return values.parameters[name]
    if name in values.resources:
        return values.resources[name].ref
    raise UnresolvableError(f"Ref {name}: not a parameter, a pseudo parameter or a resource with a local value")


def _get_att(argument: Any, values: LocalValues) -> str:
    logical_id, attribute = _split_get_att(argument)
    attribute = resolve(attribute, values)
    resource = values.resources.get(logical_id)
    if resource is None:
        raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}: {logical_id} has no local value")
    if attribute not in resource.attributes:
        raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}: attribute unknown locally")
    return resource.attributes[attribute]


def _sub(argument: Any, values: LocalValues) -> str:
    text, variables = _split_sub(argument)
    resolved_variables = {name: resolve(variable, values) for name, variable in variables.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):  # ${!Literal} stands for the text ${Literal}
            return "${" + name[1:] + "}"
        if name in resolved_variables:
            return cfn_text(resolved_variables[name])
        if "." in name:
            return _get_att(name, values)
        return cfn_text(_ref(name, values))

    return _SUB_VARIABLE.sub(substitute, text)


def _join(argument: Any, values: LocalValues) -> str:
    if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
        raise UnresolvableError(f"Fn::Join expects [delimiter, [values]], got {argument!r}")
    delimiter: str = argument[0]
    resolved = resolve(argument[1], values)
    if not isinstance(resolved, list):
        raise UnresolvableError(f"Fn::Join expects a list of values, got {resolved!r}")
    return delimiter.join(cfn_text(item) for item in resolved)


def _if(argument: Any, values: LocalValues) -> Any:
    if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
        raise UnresolvableError(f"Fn::If expects [condition, value if true, value if false], got {argument!r}")
    name, when_true, when_false = argument
    return resolve(when_true if condition_holds(name, values) else when_false, values)


_FUNCTIONS: Final[Mapping[str, Callable[[Any, LocalValues], Any]]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::If": _if,
}


def _evaluate(expression: Any, values: LocalValues) -> bool:
    if not (isinstance(expression, dict) and len(expression) == 1):
        raise UnresolvableError(f"not a condition: {expression!r}")
    ((key, argument),) = expression.items()
    match key:
        case "Condition":
            return condition_holds(argument, values)
        case "Fn::Equals":
            left, right = (cfn_text(resolve(side, values)) for side in argument)
            return left == right
        case "Fn::Not":
            return not _evaluate(argument[0], values)
        case "Fn::And":
            return all(_evaluate(item, values) for item in argument)
        case "Fn::Or":
            return any(_evaluate(item, values) for item in argument)
    raise UnresolvableError(f"{key} is not a condition function")


def _split_get_att(argument: Any) -> tuple[str, Any]:
    if isinstance(argument, str) and "." in argument:
        logical_id, attribute = argument.split(".", 1)
        return logical_id, attribute
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
        return argument[0], argument[1]
    raise UnresolvableError(f"Fn::GetAtt expects [LogicalId, Attribute] or 'LogicalId.Attribute', got {argument!r}")


def _split_sub(argument: Any) -> tuple[str, Mapping[str, Any]]:
    if isinstance(argument, str):
        return argument, {}
    if isinstance(argument, list) and len(argument) == 2:
        text, variables = argument
        if isinstance(text, str) and isinstance(variables, dict):
            return text, variables
    raise UnresolvableError(f"Fn::Sub expects a string or [string, {{variables}}], got {argument!r}")
