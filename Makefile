# Two commands matter: `make run` (the demo on this machine) and `make test` (everything CI checks).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 (the Lambda runtime): on PATH, or in pyenv's versions folder.
PYTHON ?= $(shell for candidate in python3.13 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	  path=$$(command -v $$candidate 2>/dev/null) || continue; \
	  "$$path" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo $$path; break; }; \
	done)
VENV := .venv
TOOLS := .tools
PY := $(VENV)/bin/python
# sam build looks for python3.13 on PATH; SAM CLI should not phone home from CI.
SAM_ENV := PATH="$(dir $(PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0
SAM := $(SAM_ENV) $(TOOLS)/bin/sam
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: help run demo bench chaos test lint typecheck unit template-check build clean python openapi

help:
	@echo "make run    the application on this machine: samples through both triggers, then serve until Ctrl-C"
	@echo "make demo   the same once; exits non-zero if a sample did not end as expected"
	@echo "make test   lint, type-check, tests, sam validate --lint, cfn-lint on the transformed template, sam build"
	@echo "make chaos  2000 records per function under injected faults; prints the ledger, fails if one is lost or duplicated"

python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "Python 3.13 not found: not on PATH as python3.13 and not in $${PYENV_ROOT:-$$HOME/.pyenv}/versions." >&2; \
	  echo "Install it (e.g. 'pyenv install 3.13') or run 'make PYTHON=/path/to/python3.13 ...'." >&2; exit 1; fi

$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt pyproject.toml | python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -r requirements-dev.txt
	$(PY) -m pip install $(PIP_QUIET) --no-deps --no-build-isolation -e .
	touch $@

$(TOOLS)/.installed: requirements-tools.txt | python
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install $(PIP_QUIET) -r requirements-tools.txt
	touch $@

.build/template.json: template.yaml devkit/sam_transform.py $(TOOLS)/.installed
	mkdir -p .build
	$(TOOLS)/bin/python devkit/sam_transform.py template.yaml > $@.tmp && mv $@.tmp $@

# The local API listens on PORT (3000 unless given: make run PORT=3001).
PORT ?= 3000

run: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m devkit.demo --serve --port $(PORT)

demo: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m devkit.demo --port 0

# Throughput, cold start, overhead and memory of the three functions: bench/results.json and docs/benchmarks.md's table.
bench: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m devkit.bench

# 2000 records per function through the SQS path while the sandbox injects faults; fails unless lost=duplicated=0.
chaos: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m devkit.chaos

# openapi.json from the handlers' routes (tests/devkit/test_openapi.py fails while it is out of date).
openapi: $(VENV)/.installed
	$(PY) -m devkit.openapi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed $(TOOLS)/.installed
	$(VENV)/bin/pytest

template-check: $(TOOLS)/.installed .build/template.json
	$(SAM) validate --lint
	# SQS event source mappings take no DestinationConfig (ES1001): their DLQ is the queue's RedrivePolicy.
	$(TOOLS)/bin/cfn-lint --append-rules cfn_lint_serverless.rules --ignore-checks ES1001 -- .build/template.json
	$(TOOLS)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

build: $(TOOLS)/.installed
	$(SAM) build

test: lint typecheck unit template-check build

clean:
	rm -rf $(VENV) $(TOOLS) .build .aws-sam .mypy_cache .ruff_cache .pytest_cache
