# Two commands: `make run` starts everything on the embedded store; `make test` installs and tests.
PYTHON ?= python3
# pytest-xdist workers for `make test` (each has its own MySQL databases, SQLite files and ports;
# modules stay whole on one worker so their module fixtures start once): 3 suits 2 shared cores,
# most tests wait on sockets and subprocesses. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-wire test-console test-e2e test-ha test-bots test-reliability test-paths ha-up ha-down ha-status lint typecheck unit install clean console chromium screenshots

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
	$(BIN)/ruff check apps ccxt_driver test bench scripts mt5_driver

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest test/unit -q

test: $(STAMP) console chromium nats
	$(BIN)/ruff check apps ccxt_driver test bench scripts mt5_driver
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadscope -m "not ha and not bots and not reliability and not paths and not wire and not console and not e2e"

# exchanges over the wire (docs/testnet.md): CCXT's own classes, unpatched, against the local
# venues in each exchange's dialect (HTTP and websockets), and the gateway's CCXT accounts on
# them; minutes of servers and streams, so on its own
test-wire: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadscope -m wire test/integration/wire

# the web console in a real headless browser (docs/console.md); writes no tracked file
# (`make screenshots` does)
test-console: $(STAMP) console chromium
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadscope -m console test/console

# whole processes (docs/operations.md → Running the tests): the API, workers, the CLI's `up`,
# the bus publisher under kills and a restart of nats-server, as separate processes over real
# stores (test/e2e, but the reliability and price-path runs, and test/bus/test_bus_e2e.py);
# minutes of process starts, so on its own
test-e2e: $(STAMP) nats
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadscope -m "e2e and not reliability and not paths" test/e2e test/bus

# the reliability suite (docs/operations.md → Running the tests): whole stacks (API, workers,
# MariaDB) under kill -9 of workers and API processes, SIGSTOP, two workers racing and venue
# faults, each checked against the invariants (every accepted command ends once, nothing
# doubled, books equal to the venue); minutes of runs, so on its own, two at a time
test-reliability: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadscope -m reliability test/e2e

# the price-path property suite (docs/orders.md -> What survives what): contingent groups over
# 1,000 seeded price paths (OMS_KILL_PATHS) on the paper venue, the owning worker killed -9 at a
# random moment of each batch of 20; minutes of runs, so on its own
test-paths: $(STAMP)
	$(BIN)/pytest -q -m paths test/e2e

# the HA suite (docs/deployment-ha.md): a real 3-node Galera cluster, HAProxy and test hosts in
# network namespaces, started by the tests themselves; needs root. One process: the cluster
# tests take the machine's two cores for themselves.
test-ha: $(STAMP)
	bash scripts/ensure-galera
	$(BIN)/pytest -q -m ha test/ha

# the bot suite (docs/bots.md): unmodified freqtrade bots trading through the gateway (two ways:
# paper accounts, and CCXT accounts on local Binance venues over the wire), from a
# freqtrade environment of their own (scripts/ensure-freqtrade: created once, cached in
# ~/.cache/ccxt-oms). The bots wait on market time (a third of one core for the three files at
# once), so the files run side by side, each with its own stack
test-bots: $(STAMP)
	bash scripts/ensure-freqtrade >/dev/null
	$(BIN)/pytest -q -n 3 --dist loadfile -m bots test/bots

# a local 3-node Galera cluster + HAProxy for development and benchmarks (./data/ha; the write
# endpoint is mysql+asyncmy://root@127.0.0.1:3340/<db>); ha-down stops it (the data stays)
ha-up: $(STAMP)
	bash scripts/ensure-galera
	$(BIN)/python scripts/galera_cluster.py up
ha-down: $(STAMP)
	$(BIN)/python scripts/galera_cluster.py down
ha-status: $(STAMP)
	$(BIN)/python scripts/galera_cluster.py status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# web console (console/, served at /ui): built with npm from the committed lock file when missing or stale
CONSOLE_SRC := $(shell find console/src console/public -type f 2>/dev/null) console/index.html console/package.json console/package-lock.json console/vite.config.ts console/tsconfig.json
console/dist/index.html: $(CONSOLE_SRC)
	cd console && npm ci --no-audit --no-fund && npm run build
console: console/dist/index.html

# the console's screenshots in docs/console/, taken by its browser tests (`make test` writes none)
screenshots: $(STAMP) console chromium
	OMS_CONSOLE_SHOTS=$(CURDIR)/docs/console $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadscope test/console

# headless Chromium for the console's browser tests (Debian package; installed when missing)
chromium:
	bash scripts/ensure_chromium.sh

# the events bus (docs/events-bus.md): nats-server installed when missing (the bus tests start
# their own); nats-up / nats-down run a local JetStream server on 127.0.0.1:4222 for
# development (store in ./data/nats), e.g. with OMS_BUS__URL=nats://127.0.0.1:4222. nats-up
# fails, leaving no pid file, unless the server it started answers the port (scripts/nats_local.py);
# nats-down stops only the nats-server of that store directory
.PHONY: nats nats-up nats-down
NATS_SERVER ?= /usr/sbin/nats-server
NATS_PORT ?= 4222
NATS_DIR ?= data/nats
nats:
	bash scripts/ensure-nats
nats-up: nats
	@$(PYTHON) scripts/nats_local.py up --server $(NATS_SERVER) --port $(NATS_PORT) --dir $(NATS_DIR)
nats-down:
	@$(PYTHON) scripts/nats_local.py down --dir $(NATS_DIR)
