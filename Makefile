# The commands the README names. Each one works on a fresh clone with only python3 and pip:
# the environment (.venv) is created from the pin file and reused while the pins are unchanged.
PYTHON ?= python3
VENV ?= .venv
UV_VERSION := 0.13.9
PINS ?= requirements/airflow-3.3.txt
BIN := $(VENV)/bin

.PHONY: help install demo test lint typecheck unit wheel lock clean

help:
	@echo "make demo    run the example DAG end to end on the local Pinpoint emulator"
	@echo "make test    lint, type-check and run the whole test suite"
	@echo "make wheel   build the wheel and sdist into dist/"
	@echo "make lock    regenerate $(PINS) (pinned to packages released before a fixed date)"

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: $(BIN)/uv $(PINS) pyproject.toml
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(PINS)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python scripts/demo.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

wheel: install
	rm -rf dist && $(BIN)/python -m build --installer uv --outdir dist .

# Pins for `make test`: Airflow 3.3.2 and what it needs, resolved as of a fixed date so the
# same versions install next month.
lock: $(BIN)/uv
	$(BIN)/uv pip compile requirements/airflow-3.3.in -o $(PINS) --python-version 3.11 \
		--exclude-newer 2026-11-20 --no-header --quiet

clean:
	rm -rf $(VENV) .airflow dist build .pytest_cache .mypy_cache .ruff_cache
