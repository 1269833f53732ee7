"""Oracle Primavera Cloud imitation: the token service and the change-order SOV batch create."""

from devkit.sandbox.prime.vendor import PrimeVendor

__all__ = ["PrimeVendor"]
