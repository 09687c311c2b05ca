# Every target bootstraps .venv itself, so `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The mlforecast peer of bench/forecast_bench.py needs pandas<3: its own env (bench/requirements-peer.txt).
PEER_VENV := .venv-bench
PEER_STAMP := $(PEER_VENV)/.installed

.PHONY: demo serve up down test lint bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

# The main job on the default store (SQLite at $XDG_DATA_HOME/forecasting/forecasting.db, by default
# ~/.local/share/forecasting/forecasting.db, whatever the working directory; no servers):
# apply the example config, refresh its series, backtest + train, forecast.
# SOURCE=sample (offline, synthetic) or SOURCE=google_trends (live Google Trends).
SOURCE ?= sample
MODEL_sample := sample-forecast
MODEL_google_trends := trends-forecast
MODEL := $(MODEL_$(SOURCE))

demo: $(STAMP)
	@test -f examples/$(SOURCE).yaml || { echo "SOURCE must be sample or google_trends, not '$(SOURCE)'"; exit 2; }
	$(BIN)/forecasting db upgrade
	$(BIN)/forecasting apply examples/$(SOURCE).yaml
	$(BIN)/forecasting refresh --model $(MODEL)
	$(BIN)/forecasting train $(MODEL)
	$(BIN)/forecasting predict $(MODEL)
	@echo
	@echo "Stored in $$($(BIN)/python -c 'from forecasting.db import database_url, shown; print(shown(database_url()))'). Next:"
	@echo "  $(BIN)/forecasting models                         models, served versions, backtest MASE"
	@echo "  $(BIN)/forecasting model-versions $(MODEL)   every trained version"
	@echo "  $(BIN)/forecasting predict $(MODEL) --json   the forecast as JSON"
	@echo "  $(BIN)/forecasting features $(MODEL) --output var/features.csv   the training matrix"
	@echo "  make serve                                          the service: http://127.0.0.1:8000/"
	@echo "  edit examples/$(SOURCE).yaml, then run make demo again"

# The forecasting service on the embedded store, under gunicorn (run `make demo` first for a model).
# http://127.0.0.1:8000/ lists the models; writes need FORECASTING_API_TOKEN set.
serve: $(STAMP)
	$(BIN)/forecasting db upgrade
	$(BIN)/gunicorn -c serving/gunicorn.conf.py 'serving:create_app()'

# The whole system on this machine, no Docker: airflow standalone (SQLite, DAGs unpaused) and the
# service behind Debian's nginx, seeded with examples/$(SOURCE).yaml; prints the URLs and the admin password.
# Everything lives under VAR (Airflow's home, both databases, logs, pid file). `make down` stops it.
VAR ?= var
AIRFLOW_PORT ?= 8080
SERVICE_PORT ?= 8000
up: $(STAMP)
	@$(BIN)/python scripts/stack.py up --var $(VAR) --airflow-port $(AIRFLOW_PORT) --service-port $(SERVICE_PORT) --apply examples/$(SOURCE).yaml

down: $(STAMP)
	@$(BIN)/python scripts/stack.py down --var $(VAR)

test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check forecasting serving tests bench dags plugins scripts
	$(BIN)/ruff format --check forecasting serving tests bench dags plugins scripts

$(PEER_STAMP): bench/requirements-peer.txt
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/python -m pip install --quiet -r bench/requirements-peer.txt
	touch $(PEER_STAMP)

# Postgres must answer on 127.0.0.1:5432 (the database forecasting_bench is created when missing);
# the serving benchmark needs wrk, checked first so a missing one stops the run before the long parts.
bench: $(STAMP) $(PEER_STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk (bench/serving_bench.py): apt-get install wrk"; exit 2; }
	$(BIN)/python bench/refresh_bench.py
	$(BIN)/python bench/forecast_bench.py --peer-python $(PEER_VENV)/bin/python
	$(BIN)/python bench/serving_bench.py
	$(BIN)/python bench/replay_bench.py  # two years of weekly cycles, ~15 min

clean:
	rm -rf $(VENV) var
