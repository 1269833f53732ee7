"""``sam local start-api`` and the SQS event sources together, without Docker.

    python -m devkit.local_runtime [--template template.yaml] [--port 3000] [--parameter-overrides K=V ...]
                                   [--workers-per-function 2] [--log-dir DIR]

The template's resources are provisioned on ``AWS_ENDPOINT_URL`` (required: the queues are polled there and the
functions reach it too; existing resources are reused), then its API routes are served on 127.0.0.1 and its
queues polled until SIGINT or SIGTERM. A line per invocation goes to stdout; the functions' logs go to stderr,
or with ``--log-dir`` to one ``<LogicalId>.log`` per function. Exit status: 0 after a signal, 2 when the runtime
could not start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from devkit.aws import provision
from devkit.invoke import parse_parameter_overrides
from devkit.local_runtime.runtime import DEFAULT_PORT, DEFAULT_WORKERS_PER_FUNCTION, LocalRuntime
from devkit.stop_signal import wait_for_stop_signal
from devkit.template import TemplateError, load_template


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        parameter_overrides = parse_parameter_overrides(arguments.parameter_overrides)
    except ValueError as error:
        parser.error(str(error))
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint_url:
        print(
            "Error: AWS_ENDPOINT_URL is not set: it names the local AWS (e.g. a moto server) to poll", file=sys.stderr
        )
        return 2
    try:
        template_path = arguments.template.resolve()
        stack = provision(load_template(template_path), endpoint_url, parameter_overrides)
        runtime = LocalRuntime(
            stack,
            template_dir=template_path.parent,
            port=arguments.port,
            workers_per_function=arguments.workers_per_function,
            function_logs=arguments.log_dir,
        ).start()
    except (TemplateError, OSError, ValueError, BotoCoreError, ClientError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    print("Serving until SIGINT (Ctrl-C) or SIGTERM.", flush=True)
    try:
        wait_for_stop_signal()
    finally:
        runtime.stop()
    print("Stopped: workers ended, port released.", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devkit.local_runtime",
        description="Serve the template's API routes and poll its queues locally, without Docker.",
    )
    parser.add_argument("-t", "--template", type=Path, default=Path("template.yaml"), help="default: template.yaml")
    parser.add_argument(
        "-p", "--port", type=int, default=DEFAULT_PORT, help=f"API port on 127.0.0.1, 0 for a free one ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values: Key=Value or ParameterKey=Key,ParameterValue=Value",
    )
    parser.add_argument(
        "--workers-per-function",
        type=int,
        default=DEFAULT_WORKERS_PER_FUNCTION,
        metavar="N",
        help=f"concurrent invocations (warm workers) per function (default {DEFAULT_WORKERS_PER_FUNCTION})",
    )
    parser.add_argument(
        "--log-dir", type=Path, help="write each function's logs to DIR/<LogicalId>.log (default: stderr)"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
