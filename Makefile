# The two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/monitor.toml
STAMP  := $(VENV)/.installed

.PHONY: run test lint demo bench check-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/monitor run --config $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench
	$(BIN)/mypy monitor

demo: $(STAMP)
	$(BIN)/monitor demo

bench: $(STAMP)
	$(BIN)/python -m bench

check-config: $(STAMP)
	$(BIN)/monitor check-config $(CONFIG)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
