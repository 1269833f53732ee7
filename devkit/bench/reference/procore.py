"""The reference handler for procore (see ``devkit.bench.reference.batch``)."""

from devkit.bench.reference.batch import reference_handler

lambda_handler = reference_handler("procore")
