# Quick start: `make demo` runs the product, `make test` runs every test. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_HOME := $(CURDIR)/.test-data
PYTEST_ARGS ?=
# Test processes (pytest-xdist); the suite takes about half the time with two on two cores.
WORKERS ?= 2

.PHONY: demo test test-sqlite test-postgres system-needs lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/drumbeat demo

test: test-sqlite test-postgres

# What the suite needs from the system (scripts/system_needs.py): Debian's Chromium for the
# browser tests and SpamAssassin for the content check of the shipped email designs, installed
# here as root (else the exact command to run is printed and make stops).
system-needs: $(VENV)/.installed-test
	@$(BIN)/python -m scripts.system_needs chromium
	@$(BIN)/python -m scripts.system_needs spamassassin

test-sqlite: $(VENV)/.installed-test system-needs
	rm -rf $(TEST_HOME) && mkdir -p $(TEST_HOME)
	DRUMBEAT_HOME=$(TEST_HOME) $(BIN)/pytest -n $(WORKERS) $(PYTEST_ARGS)

# PostgreSQL (and Redis) must be running: if not, the check says how to start them; without
# CI=true the pass is then skipped (exit 3 of the check), with CI=true make stops.
test-postgres: $(VENV)/.installed-test system-needs
	@$(BIN)/python -m scripts.system_needs services $(PG_TEST_URL); status=$$?; \
	  if [ $$status -eq 3 ]; then exit 0; fi; [ $$status -eq 0 ] || exit $$status; \
	  mkdir -p $(TEST_HOME) && DRUMBEAT_HOME=$(TEST_HOME) DATABASE_URL=$(PG_TEST_URL) \
	  $(BIN)/pytest -n $(WORKERS) -m "postgres or postgres_only" $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks (see bench/run.py): SIZE records, SQLite then PostgreSQL; figures in bench/results/.
SIZE ?= 100000
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null || apt-get install -y wrk || sudo apt-get install -y wrk
	$(BIN)/python -m bench.run --size $(SIZE)

clean:
	rm -rf $(VENV) $(TEST_HOME) drumbeat-data
