# Two commands for a fresh machine: `make run` (platform + simulator) and `make test` (whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast setup services stop bench-ingest bench-nab bench-risk bench-alerts evaluate clean

$(STAMP): pyproject.toml
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq mosquitto) >/dev/null; \
	  else echo "mosquitto missing: run 'sudo apt-get install -y mosquitto'"; exit 1; fi; }
	@command -v pg_config >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null; \
	  else echo "PostgreSQL missing: run 'sudo apt-get install -y postgresql'"; exit 1; fi; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

services: setup
	$(BIN)/resilience services start

stop:
	-$(BIN)/resilience services stop

run: setup
	$(BIN)/resilience run

test: setup
	$(BIN)/resilience services start
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# everything but the long end-to-end and fault-injection tests (marked slow)
test-fast: setup
	$(BIN)/resilience services start
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench-ingest: services
	$(BIN)/resilience bench ingest

bench-nab: setup
	$(BIN)/resilience bench nab

bench-risk: setup
	$(BIN)/resilience bench risk

bench-alerts: services
	$(BIN)/resilience bench alerts

clean: stop
	rm -rf .local

evaluate: services
	bash scripts/evaluate-simulated-day.sh
