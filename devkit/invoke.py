"""``sam local invoke`` without Docker: run one function of the template on one event, the way Lambda would.

    python -m devkit.invoke FUNCTION_LOGICAL_ID [-e EVENT_FILE | -e -] [-n ENV_VARS_FILE] [-t TEMPLATE]
                            [--parameter-overrides KEY=VALUE ...]

The handler runs in a fresh worker of the local runtime (``devkit.local_runtime.worker``) whose environment is
the function's (template values, then the -n file's) plus Lambda's own variables and the AWS access variables;
PYTHONPATH is the code folder then each layer folder, as /var/task and /opt/python are in Lambda. The result (or
Lambda's error object) is printed as JSON on stdout; logs, with Lambda's START/END/REPORT lines, go to stderr.
Exit status: 0 the handler returned, 1 it failed or timed out, 2 the invocation could not be set up, 130 it was
interrupted.

The template's Refs to resources (queue URLs...) and the function's secrets need a local stack. With
AWS_ENDPOINT_URL set, the template's resources are provisioned there first (idempotent: existing ones are reused)
and the secrets must already exist (``make run`` seeds them). Without it, the invocation gets a stack of its own
(``devkit.running_stack``, as ``make run`` starts it: the AWS emulator, the vendor sandbox, the resources, the
secrets), stopped once the result is in, also on an error, Ctrl-C or SIGTERM; its URLs are logged on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from devkit.aws import LocalStack, provision, resolve_environment
from devkit.lambda_context import FUNCTION_VERSION, log_group_name, new_log_stream_name
from devkit.local_aws import DUMMY_CREDENTIALS, REGION
from devkit.local_runtime.function_log import FunctionLog
from devkit.local_runtime.worker import Invocation, Worker
from devkit.running_stack import RunningStack, running_stack
from devkit.template import FunctionSpec, TemplateError, function, load_template

# Passed through from the caller: where AWS is, and who calls it.
ACCESS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

_SAM_PARAMETER_PAIR = re.compile(r"ParameterKey=(?P<key>[^,]+),ParameterValue=(?P<value>.*)")


def function_environment(
    stack: LocalStack, spec: FunctionSpec, env_vars: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """Resolve the function's Environment Variables on ``stack``, overridden by an ``--env-vars`` document (SAM's).

    ``env_vars["Parameters"]`` applies to every function, ``env_vars[<logical id>]`` to one and wins. As in
    ``sam local invoke``, only variables the template declares are overridden.
    """
    overrides = {**env_vars.get("Parameters", {}), **env_vars.get(spec.logical_id, {})}
    variables = {name: overrides.get(name, value) for name, value in spec.environment.items()}
    return resolve_environment(variables, stack.values)


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
    # SIGTERM unwinds like Ctrl-C, through the finally blocks that stop what was started.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ExitStack() as running:
            try:
                spec, environment, event = _set_up(arguments, parameter_overrides, running)
            except (TemplateError, OSError, ValueError, BotoCoreError, ClientError, RuntimeError) as error:
                print(f"Error: {error}", file=sys.stderr)
                return 2
            invocation = invoke_function(spec, environment, event)
    except KeyboardInterrupt:
        _log("Interrupted: everything the invocation started is stopped.")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(invocation.payload))
    return 0 if invocation.succeeded else 1


def _set_up(
    arguments: argparse.Namespace, parameter_overrides: Mapping[str, str], running: ExitStack
) -> tuple[FunctionSpec, dict[str, str], Any]:
    """The function, its whole environment and the event; a stack of its own entered on ``running`` if needed."""
    template_path = arguments.template.resolve()
    template = load_template(template_path)
    spec = function(template, template_path.parent, arguments.function)
    event = _read_json(arguments.event) if arguments.event else {}
    env_vars = _read_env_vars(arguments.env_vars) if arguments.env_vars else {}
    _warn_about_undeclared(spec, env_vars)
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint_url:
        stack = provision(template, endpoint_url, parameter_overrides)
        caller_environment: Mapping[str, str] = os.environ
    else:
        local = running.enter_context(_stack_of_its_own(template, parameter_overrides))
        stack = local.stack
        # The stack's own credentials: the caller's (if any) are for another AWS.
        caller_environment = {**os.environ, "AWS_ENDPOINT_URL": local.endpoint_url, **DUMMY_CREDENTIALS}
    variables = function_environment(stack, spec, env_vars)
    return spec, lambda_environment(spec, variables, caller_environment), event


@contextmanager
def _stack_of_its_own(template: Mapping[str, Any], parameter_overrides: Mapping[str, str]) -> Iterator[RunningStack]:
    with running_stack(template, parameter_overrides) as local:
        where = f"AWS emulator {local.endpoint_url}, vendor sandbox {local.sandbox_url}"
        _log(f"Started a local stack for this invocation: {where}")
        yield local
    _log("Stopped the local stack: the AWS emulator and the vendor sandbox.")


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


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
