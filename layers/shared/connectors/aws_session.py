"""The boto3 session every AWS client of a container comes from, told up front which services it will serve.

botocore checks that a service exists before it loads its model by listing every service it ships data for: some
450 folders, each listed again, for the service model and again for the endpoint rules. On a cold start that is
half the cost of the first client, spent on services no function uses. The loader here lists only the services
named, so an unknown one still fails as botocore would, while its models, extras and search path (including
``AWS_DATA_PATH``) are botocore's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import boto3
import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader, instance_cache


class NamedServicesLoader(Loader):
    """botocore's data loader, whose list of available services is limited to the ones named."""

    def __init__(self, services: Iterable[str], data_path: str | None = None) -> None:
        # As botocore.loaders.create_loader reads AWS_DATA_PATH: extra folders searched before its own.
        extra = (
            [os.path.expanduser(os.path.expandvars(path)) for path in data_path.split(os.pathsep)]
            if data_path
            else None
        )
        super().__init__(extra_search_paths=extra)
        self._services = tuple(services)

    @instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        """The named services that have ``type_name`` data (a service model, endpoint rules, ...), sorted."""
        return sorted(service for service in self._services if self._has_data(service, type_name))

    def _has_data(self, service: str, type_name: str) -> bool:
        try:
            self.list_api_versions(service, type_name)
        except DataNotFoundError:
            return False
        return True


def aws_session(services: Iterable[str], loader: Loader | None = None) -> tuple[boto3.session.Session, Loader]:
    """A boto3 session whose clients may be of ``services`` only (any other is an unknown service), and its loader.

    ``loader``: the one of an earlier session, to reuse with the model files it has read (SnapStart's renewal).
    """
    core = botocore.session.get_session()
    loader = loader or NamedServicesLoader(services, core.get_config_variable("data_path"))
    core.register_component("data_loader", loader)
    return boto3.session.Session(botocore_session=core), loader
