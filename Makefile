# Two commands: `make run` starts everything on the embedded store; `make test` installs and tests.
PYTHON ?= python3
# pytest-xdist workers for `make test` (each has its own MySQL databases, SQLite files and ports;
# modules stay whole on one worker so their module fixtures start once): 3 suits 2 shared cores,
# most tests wait on sockets and subprocesses. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ccxt-oms up

lint: $(STAMP)
	$(BIN)/ruff check apps ccxt_driver test bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest test/unit -q

test: $(STAMP)
	$(BIN)/ruff check apps ccxt_driver test bench scripts
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadscope

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
