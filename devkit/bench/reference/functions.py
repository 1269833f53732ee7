"""The reference handlers as functions of the local stack, and templates that run one function at a time.

The reference is never in template.yaml: ``with_reference`` adds it to the transformed template in memory, as
``Reference<Function>`` with the real function's properties (memory, timeout, layers, environment) and handler
``devkit.bench.reference.<vendor>.lambda_handler`` from the repository's root, fed by ``Reference<Queue>`` (the
real queue's properties, its dead-letter queue included) through a copy of the real event source mapping (batch
size, batching window, ``MaximumConcurrency``, ``ReportBatchItemFailures``). ``only_function`` keeps one
function and its mapping: a local runtime runs every function of its template and polls every queue, and the
idle pollers' receives would be counted against the function under bench.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from devkit.local_aws import LOCAL_CODE_BUCKET
from devkit.template import invoked_function, resources_of_type

PREFIX = "Reference"
_FUNCTION = "AWS::Lambda::Function"
_MAPPING = "AWS::Lambda::EventSourceMapping"
# The routes of the API: a template without their functions must not keep them.
_API = ("AWS::ApiGateway::", "AWS::ApiGatewayV2::")


def reference_id(logical_id: str) -> str:
    """The logical id of the reference implementation of the function ``logical_id``."""
    return PREFIX + logical_id


def with_reference(template: Mapping[str, Any], logical_id: str, vendor: str) -> dict[str, Any]:
    """``template`` with the reference of ``logical_id`` (for ``vendor``), its queue and its event source mapping."""
    extended = copy.deepcopy(dict(template))
    resources = extended["Resources"]
    mapping_id, mapping = _mapping_of(resources, logical_id)
    queue_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
    function = copy.deepcopy(resources[logical_id])
    function["Properties"] |= {
        "Handler": f"devkit.bench.reference.{vendor}.lambda_handler",
        "Code": {"S3Bucket": LOCAL_CODE_BUCKET, "S3Key": "."},  # the repository root: devkit imports from it
    }
    reference_mapping = copy.deepcopy(mapping)
    reference_mapping["Properties"] |= {
        "FunctionName": {"Ref": reference_id(logical_id)},
        "EventSourceArn": {"Fn::GetAtt": [reference_id(queue_id), "Arn"]},
    }
    resources[reference_id(logical_id)] = function
    resources[reference_id(mapping_id)] = reference_mapping
    resources[reference_id(queue_id)] = copy.deepcopy(resources[queue_id])
    return extended


def only_function(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """``template`` with ``logical_id`` its only function (its SQS mapping kept, the API and other functions not)."""
    resources = template["Resources"]
    wanted = (logical_id, _mapping_of(resources, logical_id)[0])
    kept = {
        name: resource
        for name, resource in resources.items()
        if not resource["Type"].startswith(_API) and (resource["Type"] not in (_FUNCTION, _MAPPING) or name in wanted)
    }
    return {**template, "Resources": kept}


def _mapping_of(resources: Mapping[str, Any], logical_id: str) -> tuple[str, dict[str, Any]]:
    template = {"Resources": resources}
    for name, mapping in resources_of_type(template, _MAPPING).items():
        # The template's mappings invoke the function's alias (AutoPublishAlias), the reference's the function.
        if invoked_function(template, mapping["Properties"].get("FunctionName")) == logical_id:
            return name, mapping
    raise ValueError(f"{logical_id} has no SQS event source mapping in the template")
