"""``sam local invoke`` without Docker: run one function of the template on one event, the way Lambda would.

    python -m devkit.invoke FUNCTION_LOGICAL_ID [-e EVENT_FILE | -e -] [-n ENV_VARS_FILE] [-t TEMPLATE]
                            [--parameter-overrides KEY=VALUE ...]

The handler runs in a fresh worker of the local runtime (``devkit.local_runtime.worker``) whose environment is
the function's (template values, then the -n file's) plus Lambda's own variables and the caller's AWS access
variables; PYTHONPATH is the code folder then each layer folder, as /var/task and /opt/python are in Lambda.
The result (or Lambda's error object) is printed as JSON on stdout; logs, with Lambda's START/END/REPORT
lines, go to stderr. Exit status: 0 the handler returned, 1 it failed or timed out, 2 the invocation could
not be set up.

Template Refs to resources (queue URLs...) need the local stack: when AWS_ENDPOINT_URL is set the template's
resources are provisioned there first (idempotent: existing ones are reused); without it, only variables that
refer to parameters resolve, and the others must come from the -n file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from devkit.aws import provision, resolve_environment, template_values
from devkit.intrinsics import UnresolvableError
from devkit.lambda_context import FUNCTION_VERSION, log_group_name, new_log_stream_name
from devkit.local_aws import DUMMY_CREDENTIALS, REGION
from devkit.local_runtime.function_log import FunctionLog
from devkit.local_runtime.worker import Invocation, Worker
from devkit.template import FunctionSpec, TemplateError, function, load_template, resolve_parameters

# Passed through from the caller: where AWS is, and who calls it.
ACCESS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

_SAM_PARAMETER_PAIR = re.compile(r"ParameterKey=(?P<key>[^,]+),ParameterValue=(?P<value>.*)")


def function_environment(
    template: Mapping[str, Any],
    spec: FunctionSpec,
    env_vars: Mapping[str, Mapping[str, Any]],
    parameter_overrides: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
) -> dict[str, str]:
    """Resolve the function's Environment Variables, overridden by an ``--env-vars`` document (SAM's format).

    ``env_vars["Parameters"]`` applies to every function, ``env_vars[<logical id>]`` to one and wins. As in
    ``sam local invoke``, only variables the template declares are overridden.
    """
    overrides = {**env_vars.get("Parameters", {}), **env_vars.get(spec.logical_id, {})}
    variables = {name: overrides.get(name, value) for name, value in spec.environment.items()}
    if endpoint_url:
        values = provision(template, endpoint_url, parameter_overrides).values
    else:
        values = template_values(template, resolve_parameters(template, parameter_overrides))
    try:
        return resolve_environment(variables, values)
    except UnresolvableError as error:
        hint = "" if endpoint_url else " (set AWS_ENDPOINT_URL to a local stack, or give the variable with -n)"
        raise UnresolvableError(f"{error}{hint}") from error


def lambda_environment(
    spec: FunctionSpec, variables: Mapping[str, str], caller_environment: Mapping[str, str]
) -> dict[str, str]:
    """Return the whole environment of the function's process: nothing else leaks in from the caller."""
    access = {name: caller_environment[name] for name in ACCESS_VARIABLES if name in caller_environment}
    if "AWS_ENDPOINT_URL" in access and "AWS_ACCESS_KEY_ID" not in access:
        access.update(DUMMY_CREDENTIALS)
    return {
        **variables,
        # Lambda reserves these: a function's configuration cannot set them, so they win over it.
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
        "AWS_LAMBDA_FUNCTION_VERSION": FUNCTION_VERSION,
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group_name(spec.logical_id),
        "AWS_LAMBDA_LOG_STREAM_NAME": new_log_stream_name(),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "TZ": ":UTC",
        # What sam local invoke sets; Powertools reads it to switch X-Ray tracing off (no daemon here).
        "AWS_SAM_LOCAL": "true",
        # Lambda's PATH starts with its runtime's bin folder; here that is the interpreter's.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        # /var/task first, then /opt/python: the function's code, then its layers.
        "PYTHONPATH": os.pathsep.join(str(folder) for folder in (spec.code_dir, *spec.layer_dirs)),
        **access,
    }


def invoke_function(spec: FunctionSpec, environment: Mapping[str, str], event: Any) -> Invocation:
    """Run the function's handler on ``event`` in a fresh worker (a cold start) and enforce its Timeout.

    The worker is the local runtime's: the START/END/REPORT lines and the function's logs go to stderr.
    """
    worker = Worker(spec, environment, FunctionLog.stderr())
    try:
        return worker.invoke(event)
    finally:
        worker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        parameter_overrides = parse_parameter_overrides(arguments.parameter_overrides)
    except ValueError as error:
        parser.error(str(error))
    try:
        template_path = arguments.template.resolve()
        template = load_template(template_path)
        spec = function(template, template_path.parent, arguments.function)
        event = _read_json(arguments.event) if arguments.event else {}
        env_vars = _read_env_vars(arguments.env_vars) if arguments.env_vars else {}
        _warn_about_undeclared(spec, env_vars)
        variables = function_environment(
            template, spec, env_vars, parameter_overrides, os.environ.get("AWS_ENDPOINT_URL")
        )
    except (TemplateError, OSError, ValueError, BotoCoreError, ClientError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    invocation = invoke_function(spec, lambda_environment(spec, variables, os.environ), event)
    print(json.dumps(invocation.payload))
    return 0 if invocation.succeeded else 1


def parse_parameter_overrides(arguments: Sequence[str]) -> dict[str, str]:
    """Parse SAM's ``--parameter-overrides``: ``Key=Value`` or ``ParameterKey=Key,ParameterValue=Value`` items."""
    overrides = {}
    for argument in arguments:
        for item in shlex.split(argument):
            pair = _SAM_PARAMETER_PAIR.fullmatch(item)
            if pair:
                overrides[pair["key"]] = pair["value"]
            elif "=" in item:
                key, _, value = item.partition("=")
                overrides[key] = value
            else:
                raise ValueError(f"parameter override {item!r} is not Key=Value")
    return overrides


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devkit.invoke", description="Invoke a function of the SAM template locally, without Docker."
    )
    parser.add_argument("function", metavar="FUNCTION_LOGICAL_ID", help="logical id of the function in the template")
    parser.add_argument("-e", "--event", type=Path, help="JSON event file, '-' for stdin (default: {})")
    parser.add_argument("-n", "--env-vars", type=Path, help="JSON file of environment variable overrides (SAM format)")
    parser.add_argument("-t", "--template", type=Path, default=Path("template.yaml"), help="default: template.yaml")
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values: Key=Value or ParameterKey=Key,ParameterValue=Value",
    )
    return parser


def _read_json(path: Path) -> Any:
    return json.load(sys.stdin) if str(path) == "-" else json.loads(path.read_text())


def _read_env_vars(path: Path) -> dict[str, dict[str, Any]]:
    document = _read_json(path)
    if not (isinstance(document, dict) and all(isinstance(section, dict) for section in document.values())):
        raise ValueError(f'{path}: expected {{"Parameters" or a function logical id: {{"VARIABLE": "value"}}}}')
    return document


def _warn_about_undeclared(spec: FunctionSpec, env_vars: Mapping[str, Mapping[str, Any]]) -> None:
    undeclared = sorted(env_vars.get(spec.logical_id, {}).keys() - spec.environment.keys())
    if undeclared:
        _log(f"Ignoring {', '.join(undeclared)} from the env-vars file: not declared in {spec.logical_id}'s template")


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
