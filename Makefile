# Two commands: `make run` starts everything on the embedded store; `make test` installs and tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit install clean console chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP) console
	$(BIN)/ccxt-oms up

lint: $(STAMP)
	$(BIN)/ruff check apps ccxt_driver test bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest test/unit -q

test: $(STAMP) console chromium
	$(BIN)/ruff check apps ccxt_driver test bench scripts
	$(BIN)/mypy
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# web console (console/, served at /ui): built with npm from the committed lock file when missing or stale
CONSOLE_SRC := $(shell find console/src -type f 2>/dev/null) console/index.html console/package.json console/package-lock.json console/vite.config.ts console/tsconfig.json
console/dist/index.html: $(CONSOLE_SRC)
	cd console && npm ci --no-audit --no-fund && npm run build
console: console/dist/index.html

# headless Chromium for the console's browser tests (Debian package; installed when missing)
chromium:
	bash scripts/ensure_chromium.sh
