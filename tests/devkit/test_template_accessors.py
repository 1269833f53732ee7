"""Loading the transformed template and reading functions, queues and parameters from it."""

import json
import shutil
from pathlib import Path

import pytest

from devkit.template import (
    CACHE_PATH,
    REPO_ROOT,
    ApiRoute,
    SqsEventSource,
    TemplateError,
    function,
    functions,
    load_template,
    parameter_defaults,
    queues,
    resolve_parameters,
)
from tests.devkit.fixture_paths import FIXTURE_TEMPLATE, FIXTURES


def test_procore_function_is_read_from_the_real_template(repo_template):
    spec = function(repo_template, REPO_ROOT, "ProcorePcoSyncFunction")

    assert spec.handler == "procore_pco_sync.handler.lambda_handler"
    assert spec.code_dir == REPO_ROOT / "functions" / "procore_pco_sync"
    assert spec.layer_dirs == (REPO_ROOT / "layers" / "shared",)
    assert spec.runtime == "python3.13"
    assert (spec.timeout, spec.memory_size) == (30, 512)
    assert spec.environment["DEAD_LETTER_QUEUE_URL"] == {"Ref": "ProcorePcoSyncDeadLetterQueue"}
    # Through the alias "live" (AutoPublishAlias) that both triggers invoke.
    assert sorted(spec.api_routes, key=lambda route: route.method) == [
        ApiRoute(api="ConnectorsApi", method="GET", path="/deliveries/procore"),
        ApiRoute(api="ConnectorsApi", method="PATCH", path="/procore/rest/v1.0/potential_change_orders/sync"),
    ]
    assert spec.sqs_sources == (
        SqsEventSource(
            queue="ProcorePcoSyncQueue",
            batch_size=1000,
            maximum_batching_window_seconds=3,
            function_response_types=("ReportBatchItemFailures",),
        ),
    )


def test_queues_and_parameters_come_from_the_real_template(repo_template):
    procore_queues = queues(repo_template)

    assert {"ProcorePcoSyncQueue", "ProcorePcoSyncDeadLetterQueue"} <= procore_queues.keys()
    assert procore_queues["ProcorePcoSyncQueue"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ProcorePcoSyncDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    defaults = parameter_defaults(repo_template)
    assert defaults["MaxReceiveCount"] == "50"  # a Number default reaches the stack as a string
    assert defaults["AlarmTopicArn"] == ""


def test_fixture_functions_use_defaults_and_the_layer(fixture_template):
    specs = functions(fixture_template, FIXTURES)

    echo = specs["EchoFunction"]
    assert echo.code_dir == FIXTURES / "function"
    assert echo.layer_dirs == (FIXTURES / "layer",)
    assert echo.api_routes == ()
    assert echo.sqs_sources == (SqsEventSource("EchoQueue", 10, 0, ()),)
    assert specs["SleepFunction"].timeout == 1


def test_unknown_function_names_the_known_ones(fixture_template):
    with pytest.raises(TemplateError, match="EchoFunction, SleepFunction"):
        function(fixture_template, FIXTURES, "NoSuchFunction")


def test_parameter_overrides_win_and_unknown_names_are_refused(repo_template):
    assert resolve_parameters(repo_template, {"Stage": "prod"})["Stage"] == "prod"
    with pytest.raises(TemplateError, match="Stagee"):
        resolve_parameters(repo_template, {"Stagee": "prod"})


def test_the_cache_is_used_until_the_template_changes(tmp_path, monkeypatch):
    template_path = tmp_path / "template.yaml"
    shutil.copy(FIXTURE_TEMPLATE, template_path)
    cache_path = tmp_path / "build" / "template.json"
    first = load_template(template_path, cache_path)

    monkeypatch.setenv("SAM_TOOLS_PYTHON", str(tmp_path / "missing" / "python"))
    assert load_template(template_path, cache_path) == first  # no transform needed: the tools are not touched

    template_path.write_text(template_path.read_text().replace("Default: hello", "Default: hi"))
    with pytest.raises(TemplateError, match="make tools"):
        load_template(template_path, cache_path)


def test_a_cache_file_rewritten_from_another_template_is_not_trusted(tmp_path):
    # `make` rewrites .build/template.json on its own; a stale fingerprint beside it must not vouch for it.
    template_path = tmp_path / "template.yaml"
    shutil.copy(FIXTURE_TEMPLATE, template_path)
    cache_path = tmp_path / "template.json"
    original = load_template(template_path, cache_path)
    cache_path.write_text(json.dumps({"Resources": {}}))

    assert load_template(template_path, cache_path) == original


def test_the_repo_template_is_cached_where_make_puts_it(repo_template):
    assert json.loads(CACHE_PATH.read_text()) == repo_template  # plain CloudFormation JSON, as cfn-lint reads it


def test_missing_tool_environment_is_named(tmp_path, monkeypatch):
    missing = Path(tmp_path) / "nowhere" / "python"
    monkeypatch.setenv("SAM_TOOLS_PYTHON", str(missing))
    template_path = tmp_path / "template.yaml"
    shutil.copy(FIXTURE_TEMPLATE, template_path)

    with pytest.raises(TemplateError, match=str(missing)):
        load_template(template_path, tmp_path / "template.json")
