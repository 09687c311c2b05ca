# Every target bootstraps .venv itself, so `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

# The main job on the embedded default (SQLite at var/forecasting.db, no servers).
demo: $(STAMP)
	$(BIN)/forecasting db upgrade
	$(BIN)/forecasting series add sample-coffee --source sample --exist-ok
	$(BIN)/forecasting series add sample-tea --source sample --exist-ok
	$(BIN)/forecasting series add sample-flu --source sample --param seed=7 --exist-ok
	$(BIN)/forecasting refresh
	$(BIN)/forecasting series list
	@echo
	@echo "Synthetic 'sample' series are stored in $${FORECASTING_DATABASE_URL:-sqlite:///var/forecasting.db}."
	@echo "Next: $(BIN)/forecasting versions sample-coffee    $(BIN)/forecasting values sample-coffee"
	@echo "      $(BIN)/forecasting series add NAME --source google_trends   (live Google Trends)"

test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check forecasting tests bench
	$(BIN)/ruff format --check forecasting tests bench

bench: $(STAMP)
	$(BIN)/python bench/refresh_bench.py

clean:
	rm -rf $(VENV) var
