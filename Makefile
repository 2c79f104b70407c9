# Discretion: `make demo` runs the end-to-end demo, `make test` runs the whole suite.
# Both create .venv and install what they need from pyproject.toml on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test test-postgres serve lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		(echo "Python 3.11 or newer is required" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml sdk/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ./sdk -e .
	touch $@

$(DEV_STAMP): pyproject.toml sdk/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e './sdk[guard]' -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/python -m examples.demo

test: $(DEV_STAMP)
	$(BIN)/python -m pytest

# The broker and security suites again on PostgreSQL (one fresh database per test); the tests that
# start a real broker process (marked e2e) bring their own database and ran in `make test` already.
POSTGRES_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
test-postgres: $(DEV_STAMP)
	DISCRETION_TEST_POSTGRES_URL=$(POSTGRES_TEST_URL) $(BIN)/python -m pytest -m "not e2e" tests/broker tests/security

serve: $(RUNTIME_STAMP)
	$(BIN)/discretion serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check policy broker sdk tests examples benchmarks
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy policy sdk/discretion_sdk sdk/discretion_wire broker

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/token_issuance.py
	$(BIN)/python benchmarks/verify.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .discretion
