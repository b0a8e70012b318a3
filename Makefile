# credit-sync: `make demo` runs the main job on the embedded default; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
INSTALLED  := $(VENV)/.installed

export CREDIT_SYNC_HOME := $(CURDIR)
export GX_ANALYTICS_ENABLED := False

.PHONY: install demo test lint format bench ui clean clean-demo

install: $(INSTALLED)

# The venv is rebuilt when the lock file changes; every dependency comes from requirements.lock.
$(INSTALLED): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip sync --quiet requirements.lock
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip install --quiet --no-deps -e .
	touch $@

demo: install
	$(BIN)/credit-sync demo

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

# The full Airflow UI on http://127.0.0.1:8080 with the demo departments and stand-ins.
ui: install
	$(BIN)/python -m credit_sync.demo.ui

# Regenerate the lock file after editing pyproject.toml dependencies.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev -p 3.11 --no-header -o requirements.lock

clean-demo:
	rm -rf .airflow

clean: clean-demo
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
