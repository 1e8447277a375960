# make test: set up (when needed) and run lint, type checks and the whole test suite.
# make demo: set up (when needed) and run the demo against the built-in simulator.
# make test-min: the session, simulator and end-to-end suites at the lowest allowed versions.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MIN_VENV ?= .venv-min
MIN_BIN := $(MIN_VENV)/bin
MIN_STAMP := $(MIN_VENV)/.installed
NEED_PYTHON := $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	{ echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }

.PHONY: test test-min lint typecheck pytest broker database demo bench clean

$(STAMP): pyproject.toml
	$(NEED_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check enphase_local tests benchmarks
	$(BIN)/ruff format --check enphase_local tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# The MQTT sink tests start their own mosquitto on a loopback port; install it when missing
# (needs root, as on CI; elsewhere those tests are skipped with a reason).
broker:
	bash scripts/mosquitto.sh || echo "make: no mosquitto: the MQTT broker tests will be skipped"

# The PostgreSQL sink and ingest tests start their own throwaway cluster on a loopback port;
# install the server when missing (needs root, as on CI; elsewhere those tests are skipped).
database:
	bash scripts/postgres.sh || echo "make: no PostgreSQL: the PostgreSQL tests will be skipped"

pytest: $(STAMP) broker database
	$(BIN)/pytest --cov --cov-branch --cov-report=term

test: lint typecheck pytest

# Every direct dependency (runtime and the test extras) at the lowest version pyproject.toml
# allows, its own dependencies at their newest: uv's lowest-direct resolution. The venv is
# rebuilt from scratch whenever pyproject.toml changes, so no newer version lingers in it.
$(MIN_STAMP): pyproject.toml
	$(NEED_PYTHON)
	$(PYTHON) -m venv --clear $(MIN_VENV)
	$(MIN_BIN)/python -m pip install --quiet uv
	$(MIN_BIN)/uv pip install --quiet --python $(MIN_BIN)/python --resolution lowest-direct \
		-e '.[test]'
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_BIN)/pytest tests/session tests/simulator tests/e2e \
		tests/benchmarks/test_transport_tuning.py

demo: $(STAMP)
	$(BIN)/enphase-local demo

# make bench: every benchmark against pyenphase and raw aiohttp (about 35 minutes, 25 of
# them scale's ten-minute windows), a simulated day of the energy ledger against the
# simulator's truth (about a minute), a simulated day's MQTT stream into PostgreSQL by one
# and two ingest processes (about three minutes) and twenty gateways through a ten-minute
# MQTT broker outage (about 12 minutes). BEFORE=REV also counts the library's lines at REV.
BEFORE ?=
bench: $(STAMP) broker database
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.startup
	$(BIN)/python -m benchmarks.parse
	$(BIN)/python -m benchmarks.overhead
	$(BIN)/python -m benchmarks.per_poll
	$(BIN)/python -m benchmarks.memory_probe
	$(BIN)/python -m benchmarks.memory
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.politeness
	$(BIN)/python -m benchmarks.plan_load
	$(BIN)/python -m benchmarks.ledger_day
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.outbox
	$(BIN)/python -m benchmarks.lines $(if $(BEFORE),--before $(BEFORE))

clean:
	rm -rf $(VENV) $(MIN_VENV) .mypy_cache .pytest_cache .ruff_cache .coverage
