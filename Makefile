# Two commands set everything up: `make run` runs the system, `make test` runs the tests.
# Both create or update the virtual environment from the lock files first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.neuroscreen-installed

.PHONY: run test lint bench-intake bench-validation bench-screening bench-e2e bench-cds clean

run: $(STAMP)
	$(BIN)/python deploy/local/run.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench-intake: $(STAMP)
	$(BIN)/python bench/intake.py

bench-validation: $(STAMP)
	$(BIN)/python bench/validation.py

bench-screening: $(STAMP)
	$(BIN)/python bench/screening.py

bench-e2e: $(STAMP)
	$(BIN)/python bench/e2e.py

bench-cds: $(STAMP)
	$(BIN)/python bench/cds.py

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "NeuroScreen needs Python 3.11 or newer (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
