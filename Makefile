# Two commands set everything up: `make run` runs the system, `make test` runs the tests.
# Both create or update the virtual environment from the lock files first.

# bash with pipefail: the dependency install below is filtered through grep, and a failing
# pip must still fail the build.
SHELL := bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.neuroscreen-installed

.PHONY: run test lint bench-intake bench-validation bench-screening bench-e2e bench-cds bench-import clean

# VERBOSE=1: every service's output in the terminal (otherwise in var/log/).
run: $(STAMP)
	$(BIN)/python deploy/local/run.py $(if $(VERBOSE),--verbose)

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

bench-import: $(STAMP)
	$(BIN)/python bench/import_backlog.py

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "NeuroScreen needs Python 3.11 or newer (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing the locked dependencies into $(VENV) (about a minute the first time)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@# One line per package as pip collects it (--quiet would show nothing for a minute).
	@# The runtime lock carries hashes (checked, as in the image); the dev tools on top do not.
	@$(BIN)/python -m pip install --require-hashes -r requirements.lock \
		| { grep --line-buffered -E '^(Collecting|Successfully installed)' || true; } | cut -c1-100
	@$(BIN)/python -m pip install -r requirements-dev.lock \
		| { grep --line-buffered -E '^(Collecting|Successfully installed)' || true; } | cut -c1-100
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@echo "==> $(VENV) is ready"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
