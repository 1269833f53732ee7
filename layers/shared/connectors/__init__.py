"""Shared layer of the change-order connectors: auth, models, vendor HTTP plumbing and trigger adapters."""
