# The commands the README names. Each one works on a fresh clone with only python3 and pip:
# the environment (.venv) is created from the pin file and reused while the pins are unchanged.
PYTHON ?= python3
VENV ?= .venv
UV_VERSION := 0.13.9
PINS ?= requirements/airflow-3.3.txt
BIN := $(VENV)/bin

.PHONY: help install demo test lint typecheck unit bench bench-quick wheel lock matrix matrix-lock constrained e2e clean

help:
	@echo "make demo    run the example DAG end to end on the local Pinpoint emulator"
	@echo "make test    lint, type-check and run the whole test suite (also: make lint, typecheck, unit)"
	@echo "make bench   run the benchmarks (about 16 minutes) and write benchmarks/results/"
	@echo "make bench-quick  the benchmarks at small sizes into a temporary folder (under 3 minutes)"
	@echo "make wheel   build the wheel and sdist into dist/"
	@echo "make matrix  the whole suite on every supported Airflow line, one environment per cell"
	@echo "make e2e     the provider on a real deployment (PostgreSQL, Celery, triggerer); E2E_LINE=2.10|3.0"
	@echo "make constrained  install the wheel under Airflow's constraint files, as MWAA does"
	@echo "make lock    regenerate $(PINS) (pinned to packages released before a fixed date)"
	@echo "make matrix-lock  regenerate the matrix pin files in requirements/matrix/"
	@echo "make clean   remove the environments, Airflow homes and build output"

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: $(BIN)/uv $(PINS) pyproject.toml airflow_provider_pinpoint/__init__.py
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

# Benchmarks against the local emulator (see docs/architecture.md). `bench` writes
# the committed results; `bench-quick` checks that every figure is still produced, not the goals.
bench: install
	$(BIN)/python -m benchmarks.run --out benchmarks/results

bench-quick: install
	$(BIN)/python -m benchmarks.run --quick --out $$(mktemp -d)

wheel: install
	rm -rf dist && $(BIN)/python -m build --installer uv --outdir dist .

# Pins for `make test`: Airflow 3.3.2 and what it needs, resolved as of a fixed date so the
# same versions install next month. The flags are the `# lock:` line at the top of the .in file.
lock-flags = $$(sed -n 's/^\# lock: //p' $(1))

lock: $(BIN)/uv
	$(BIN)/uv pip compile $(PINS:.txt=.in) -o $(PINS) --python-version 3.11 \
		$(call lock-flags,$(PINS:.txt=.in)) --no-header --quiet

# The compatibility matrix: one environment per cell, each installed from its pin file. A cell is
# a file requirements/matrix/<cell>.in (test-deps.in is included by every cell, not a cell), and
# its first lines say how its pins were resolved: `# lock: <uv pip compile flags>`. Pins come from
# Airflow's own constraint file where we have one (the 2.10 and 3.0 lines, as MWAA uses them),
# else from uv's resolver limited to packages released within about two weeks of that Airflow
# release (--exclude-newer). Adding a cell is one new .in file and `make matrix-lock`.
# `make test` is the Airflow 3.3 cell.
MATRIX_CELLS := $(filter-out test-deps,$(sort $(basename $(notdir $(wildcard requirements/matrix/*.in)))))

matrix-lock: $(BIN)/uv
	@for cell in $(MATRIX_CELLS); do \
		flags=$(call lock-flags,requirements/matrix/$$cell.in); \
		echo "$$cell: $$flags"; \
		$(BIN)/uv pip compile requirements/matrix/$$cell.in $$flags -o requirements/matrix/$$cell.txt \
			--python-version 3.11 --no-header --quiet || exit 1; \
	done

matrix:
	CELLS="$(CELLS)" bash scripts/matrix.sh

constrained: wheel
	bash scripts/constrained.sh

# A real deployment: scheduler, Celery worker, triggerer and API server as separate processes on
# the local PostgreSQL and Redis. E2E_LINE=3.3 (the `make test` environment), 2.10 (the
# airflow-2.10 cell, full run) or 3.0 (the airflow-3.0 cell, the deferral part only).
E2E_LINE ?= 3.3
E2E_PART_3.3 := full
E2E_PART_2.10 := full
E2E_PART_3.0 := deferral

e2e: $(if $(filter 3.3,$(E2E_LINE)),install)
ifeq ($(E2E_LINE),3.3)
	$(BIN)/python scripts/e2e.py --part $(E2E_PART_3.3)
else
	bash scripts/matrix.sh --install airflow-$(E2E_LINE)
	.matrix/airflow-$(E2E_LINE)/bin/python scripts/e2e.py --part $(E2E_PART_$(E2E_LINE))
endif

clean:
	rm -rf $(VENV) .matrix .airflow dist build .pytest_cache .mypy_cache .ruff_cache
