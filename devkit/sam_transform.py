"""Apply the SAM transform to template.yaml offline and print the CloudFormation JSON.

Runs in the SAM tool environment (.tools), never in the app's: aws-sam-translator pins its own pydantic.
Managed policies named in the template resolve to their well-known ARNs, so no AWS call is made.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from boto3.session import Session

# Run as a script, so its own folder is on the path: the constants are shared with the app-side dev kit.
from local_aws import ACCOUNT_ID, LOCAL_CODE_BUCKET, REGION
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator


def _managed_policy_map() -> dict[str, str]:
    # The transform asks for a name -> ARN map; AWS-managed policies all live under one well-known path.
    class _AwsManaged(dict[str, str]):
        def __missing__(self, name: str) -> str:
            return f"arn:aws:iam::aws:policy/{name}"

        def __contains__(self, name: object) -> bool:
            return isinstance(name, str)

    return _AwsManaged()


def _point_local_code_at_placeholder_bucket(sam_template: dict[str, Any]) -> None:
    # The transform only accepts S3 code locations (sam validate does the same swap). The local path is
    # kept as the key, so readers of the output still find each function's and layer's source folder.
    for resource in sam_template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            location = properties.get(key)
            if isinstance(location, str) and not location.startswith("s3://"):
                properties[key] = f"s3://{LOCAL_CODE_BUCKET}/{location}"


def transform(template_path: Path) -> dict[str, Any]:
    """Return the CloudFormation template that the SAM transform makes of ``template_path``."""
    sam_template = yaml_parse(template_path.read_text())
    _point_local_code_at_placeholder_bucket(sam_template)
    translator = Translator(
        managed_policy_map=None, sam_parser=Parser(), plugins=[], boto_session=Session(region_name=REGION)
    )
    result: dict[str, Any] = translator.translate(
        sam_template=sam_template,
        parameter_values={"AWS::AccountId": ACCOUNT_ID},
        get_managed_policy_map=_managed_policy_map,
    )
    return result


if __name__ == "__main__":
    json.dump(transform(Path(sys.argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
