"""template.yaml as the local tools read it: transformed by the SAM translator, then read through typed accessors.

The transform runs in the SAM tool environment (a separate interpreter: aws-sam-translator pins its own
pydantic). Its output for the repository's template.yaml is kept in .build/template.json, byte for byte what
``make`` writes there for cfn-lint, with the fingerprint of its inputs beside it; other templates (test
fixtures) are kept under .build/templates/ so they never take that file's place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.intrinsics import cfn_text, references
from devkit.local_aws import LOCAL_CODE_BUCKET

REPO_ROOT = Path(__file__).resolve().parent.parent
TRANSFORM_SCRIPT = Path(__file__).with_name("sam_transform.py")
REPO_TEMPLATE = REPO_ROOT / "template.yaml"
CACHE_PATH = REPO_ROOT / ".build" / "template.json"

# Lambda's defaults when a function sets neither the property nor a Globals value.
_DEFAULT_TIMEOUT = 3
_DEFAULT_MEMORY_SIZE = 128
# Lambda's defaults for an SQS event source mapping.
_DEFAULT_SQS_BATCH_SIZE = 10
_DEFAULT_SQS_BATCHING_WINDOW = 0

_API_TYPES = ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api")
_ANY_METHOD = "x-amazon-apigateway-any-method"
# A function's ARN, or an alias of it (``${Fn.Arn}``, ``${FnAliaslive}``: AutoPublishAlias).
_INTEGRATION_TARGET = re.compile(r"\$\{(\w+?)(?:\.Arn)?\}")


class TemplateError(RuntimeError):
    """The template cannot be transformed or holds something the local tools do not support."""


@dataclass(frozen=True)
class ApiRoute:
    """One API Gateway route that invokes a function."""

    api: str  # logical id of the RestApi (payload format 1.0) or ApiGatewayV2 Api (HTTP API)
    method: str  # upper case; ANY for x-amazon-apigateway-any-method
    path: str


@dataclass(frozen=True)
class SqsEventSource:
    """An SQS queue that feeds a function (an AWS::Lambda::EventSourceMapping)."""

    queue: str  # the queue's logical id
    batch_size: int
    maximum_batching_window_seconds: int
    function_response_types: tuple[str, ...]


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Lambda::Function of the transformed template, with its triggers."""

    logical_id: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    runtime: str
    timeout: int
    memory_size: int
    environment: Mapping[str, Any]  # raw values: intrinsics still unresolved
    api_routes: tuple[ApiRoute, ...]
    sqs_sources: tuple[SqsEventSource, ...]


def sam_tools_python() -> Path:
    """Return the interpreter of the SAM tool environment (``SAM_TOOLS_PYTHON`` or ``.tools/bin/python``)."""
    configured = os.environ.get("SAM_TOOLS_PYTHON")
    python = Path(configured) if configured else REPO_ROOT / ".tools" / "bin" / "python"
    if not python.exists():
        raise TemplateError(
            f"SAM tool environment not found: {python} does not exist. Run `make tools` or set SAM_TOOLS_PYTHON."
        )
    # A venv interpreter finds its pyvenv.cfg next to the folder it was started from: when that folder is a
    # symlink (.tools/bin -> elsewhere) it must be started through the real folder or its packages are missing.
    return python.parent.resolve() / python.name


def load_template(template_path: Path, cache_path: Path | None = None) -> dict[str, Any]:
    """Return the CloudFormation template the SAM transform makes of ``template_path``.

    The result is kept in ``cache_path`` (default: see the module docstring) and made again when the template
    or the transform script changes.
    """
    cache_path = cache_path or _default_cache_path(template_path)
    fingerprint = hashlib.sha256(template_path.read_bytes() + TRANSFORM_SCRIPT.read_bytes()).hexdigest()
    cached = _read_cache(cache_path, fingerprint)
    if cached is None:
        cached = _transform(template_path)
        _write_cache(cache_path, fingerprint, cached)
    template: dict[str, Any] = json.loads(cached)
    return template


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Return the resources of ``resource_type`` by logical id."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def queues(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the raw Properties of every AWS::SQS::Queue by logical id."""
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources_of_type(template, "AWS::SQS::Queue").items()
    }


def dead_letter_queue(template: Mapping[str, Any], queue: str) -> str:
    """The logical id of the queue that ``queue``'s RedrivePolicy sends to."""
    target = queues(template)[queue].get("RedrivePolicy", {}).get("deadLetterTargetArn", {})
    if not isinstance(target, dict) or "Fn::GetAtt" not in target:
        raise TemplateError(f"queue {queue} has no RedrivePolicy pointing at a queue of the template")
    return str(target["Fn::GetAtt"][0])


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    """Return the Default of every template parameter that has one, as the string CloudFormation passes on."""
    return {
        name: _parameter_text(declaration["Default"])
        for name, declaration in template.get("Parameters", {}).items()
        if "Default" in declaration
    }


def resolve_parameters(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return every parameter's value: the override if given, else the default; unknown or missing ones raise."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides or {}) - declared.keys())
    if unknown:
        raise TemplateError(f"parameter overrides for parameters the template does not declare: {', '.join(unknown)}")
    values = {**parameter_defaults(template), **(overrides or {})}
    missing = sorted(declared.keys() - values.keys())
    if missing:
        raise TemplateError(f"parameters without a default need an override: {', '.join(missing)}")
    return values


def functions(template: Mapping[str, Any], template_dir: Path) -> dict[str, FunctionSpec]:
    """Return every function by logical id; code and layer folders resolve against ``template_dir``."""
    routes = _api_routes(template)
    sources = _sqs_sources(template)
    layers = {
        logical_id: _local_dir(resource["Properties"]["Content"], template_dir, logical_id)
        for logical_id, resource in resources_of_type(template, "AWS::Lambda::LayerVersion").items()
    }
    specs = {}
    for logical_id, resource in resources_of_type(template, "AWS::Lambda::Function").items():
        properties = resource["Properties"]
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=properties["Handler"],
            code_dir=_local_dir(properties["Code"], template_dir, logical_id),
            # Layers given as ARNs are not in the template: their packages come from the dev environment.
            layer_dirs=tuple(
                layers[layer["Ref"]]
                for layer in properties.get("Layers", [])
                if isinstance(layer, dict) and layer.get("Ref") in layers
            ),
            runtime=properties["Runtime"],
            timeout=_literal_int(properties.get("Timeout", _DEFAULT_TIMEOUT), logical_id, "Timeout"),
            memory_size=_literal_int(properties.get("MemorySize", _DEFAULT_MEMORY_SIZE), logical_id, "MemorySize"),
            environment=properties.get("Environment", {}).get("Variables", {}),
            api_routes=tuple(routes.get(logical_id, [])),
            sqs_sources=tuple(sources.get(logical_id, [])),
        )
    return specs


def function(template: Mapping[str, Any], template_dir: Path, logical_id: str) -> FunctionSpec:
    """Return the function ``logical_id``; an unknown id raises TemplateError naming the known ones."""
    specs = functions(template, template_dir)
    if logical_id not in specs:
        raise TemplateError(f"no function {logical_id} in the template (functions: {', '.join(sorted(specs))})")
    return specs[logical_id]


def _default_cache_path(template_path: Path) -> Path:
    if template_path.resolve() == REPO_TEMPLATE:
        return CACHE_PATH
    path_digest = hashlib.sha256(str(template_path.resolve()).encode()).hexdigest()[:16]
    return CACHE_PATH.parent / "templates" / f"{template_path.stem}-{path_digest}.json"


def _fingerprint_path(cache_path: Path) -> Path:
    return cache_path.with_name(f"{cache_path.name}.sha256")


def _read_cache(cache_path: Path, fingerprint: str) -> str | None:
    # The output's own hash is checked too: `make` may have rewritten the file from another template version.
    try:
        recorded = _fingerprint_path(cache_path).read_text()
        transformed = cache_path.read_text()
    except OSError:
        return None
    return transformed if recorded == _record(fingerprint, transformed) else None


def _write_cache(cache_path: Path, fingerprint: str, transformed: str) -> None:
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent reader never sees half a file.
    record = _record(fingerprint, transformed)
    for path, text in ((cache_path, transformed), (_fingerprint_path(cache_path), record)):
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(text)
        partial.replace(path)


def _record(fingerprint: str, transformed: str) -> str:
    return f"{fingerprint} {hashlib.sha256(transformed.encode()).hexdigest()}\n"


def _transform(template_path: Path) -> str:
    # The app's PYTHONPATH must not leak into the tool environment: its pins differ.
    environment = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    completed = subprocess.run(
        [str(sam_tools_python()), str(TRANSFORM_SCRIPT), str(template_path)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if completed.returncode != 0:
        raise TemplateError(f"SAM transform of {template_path} failed:\n{completed.stderr.strip()}")
    return completed.stdout


def _local_dir(location: Mapping[str, Any], template_dir: Path, logical_id: str) -> Path:
    if location.get("S3Bucket") != LOCAL_CODE_BUCKET:
        raise TemplateError(f"{logical_id}: only local CodeUri/ContentUri folders run locally, got {location!r}")
    return (template_dir / str(location["S3Key"])).resolve()


def _literal_int(value: Any, logical_id: str, name: str) -> int:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise TemplateError(f"{logical_id}: {name} must be a number to run locally, got {value!r}")


def _parameter_text(value: Any) -> str:
    if isinstance(value, list):  # a CommaDelimitedList default written as a YAML list
        return ",".join(cfn_text(item) for item in value)
    return cfn_text(value)


def _api_routes(template: Mapping[str, Any]) -> dict[str, list[ApiRoute]]:
    # SAM inlines every route into the API's OpenAPI Body; the integration URI names the function.
    routes: dict[str, list[ApiRoute]] = {}
    aliased = _alias_functions(template)
    for api_type in _API_TYPES:
        for api, resource in resources_of_type(template, api_type).items():
            paths = resource.get("Properties", {}).get("Body", {}).get("paths", {})
            for path, operations in paths.items():
                for method, operation in operations.items():
                    target = _integration_target(operation)
                    if target is not None:
                        target = aliased.get(target, target)
                        verb = "ANY" if method == _ANY_METHOD else method.upper()
                        routes.setdefault(target, []).append(ApiRoute(api=api, method=verb, path=path))
    return routes


def _integration_target(operation: Any) -> str | None:
    uri = operation.get("x-amazon-apigateway-integration", {}).get("uri") if isinstance(operation, dict) else None
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else None
    if isinstance(text, list):
        text = text[0]
    match = _INTEGRATION_TARGET.search(text) if isinstance(text, str) else None
    return match.group(1) if match else None


def invoked_function(template: Mapping[str, Any], name: Any) -> str | None:
    """The logical id of the function a ``FunctionName`` (``{"Ref": function or alias}``) invokes, if either."""
    if not isinstance(name, dict) or not isinstance(name.get("Ref"), str):
        return None
    target: str = name["Ref"]
    return _alias_functions(template).get(target, target)


def _alias_functions(template: Mapping[str, Any]) -> dict[str, str]:
    """Each alias's function, by logical id: what invokes an alias invokes its function locally (one version)."""
    return {
        alias: resource["Properties"]["FunctionName"]["Ref"]
        for alias, resource in resources_of_type(template, "AWS::Lambda::Alias").items()
        if isinstance(resource["Properties"].get("FunctionName"), dict)
        and "Ref" in resource["Properties"]["FunctionName"]
    }


def _sqs_sources(template: Mapping[str, Any]) -> dict[str, list[SqsEventSource]]:
    queue_ids = queues(template).keys()
    sources: dict[str, list[SqsEventSource]] = {}
    for mapping in resources_of_type(template, "AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        queue = next(iter(references(properties.get("EventSourceArn")) & queue_ids), None)
        function_id = invoked_function(template, properties.get("FunctionName"))
        if queue is None or function_id is None:
            continue  # not a queue of this template feeding a function of this template (streams, ARNs)
        sources.setdefault(function_id, []).append(
            SqsEventSource(
                queue=queue,
                batch_size=properties.get("BatchSize", _DEFAULT_SQS_BATCH_SIZE),
                maximum_batching_window_seconds=properties.get(
                    "MaximumBatchingWindowInSeconds", _DEFAULT_SQS_BATCHING_WINDOW
                ),
                function_response_types=tuple(properties.get("FunctionResponseTypes", [])),
            )
        )
    return sources
