"""aws_session: clients of the named services are botocore's own; botocore's scan of every service is not made."""

import os

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from connectors.aws_session import NamedServicesLoader, aws_session
from connectors.container import AWS_SERVICES

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.mark.parametrize("service", AWS_SERVICES)
def test_a_named_service_gets_the_model_botocore_would_load(service):
    client = aws_session(AWS_SERVICES)[0].client(service, **CREDENTIALS)  # type: ignore[call-overload]
    assert client.meta.service_model.service_name == service
    assert client.meta.service_model.api_version == Loader().determine_latest_version(service, "service-2")


def test_a_service_not_named_is_unknown_as_in_botocore():
    with pytest.raises(UnknownServiceError):
        aws_session(["sqs"])[0].client("dynamodb", **CREDENTIALS)  # type: ignore[call-overload]


def test_only_the_named_services_are_listed_and_no_other_folder_is(monkeypatch):
    listed: list[str] = []
    listdir = os.listdir

    def counting_listdir(path):
        listed.append(str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", counting_listdir)
    loader = NamedServicesLoader(["sqs", "no-such-service"])
    assert loader.list_available_services("service-2") == ["sqs"]
    assert not any(path.endswith(os.sep + "dynamodb") for path in listed)


def test_aws_data_path_is_searched_first(tmp_path):
    loader = NamedServicesLoader(["sqs"], f"{tmp_path}{os.pathsep}~")
    assert loader.search_paths[:2] == [str(tmp_path), os.path.expanduser("~")]
