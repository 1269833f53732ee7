"""Procore imitation: OAuth client credentials and the Potential Change Order sync action."""

from devkit.sandbox.procore.vendor import ProcoreVendor

__all__ = ["ProcoreVendor"]
