"""The reference handler for prime (see ``devkit.bench.reference.batch``)."""

from devkit.bench.reference.batch import reference_handler

lambda_handler = reference_handler("prime")
