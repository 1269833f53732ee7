"""ConstructionOnline imitation: Basic + APIKey auth, four rate windows and ``/api/ChangeOrders/{id}``."""

from devkit.sandbox.constructiononline.vendor import ConstructionOnlineVendor

__all__ = ["ConstructionOnlineVendor"]
