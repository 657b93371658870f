# Market Spine: `make run` starts the platform with data in it, `make test` runs the suite.
# Only Python 3.11 and make are assumed; everything else installs from the lock files.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
# The home the platform keeps its state in: the environment's MARKET_SPINE_HOME when set (an
# empty value, as a Market Spine process holds when no home is set, counts as unset).
ifeq ($(strip $(MARKET_SPINE_HOME)),)
MARKET_SPINE_HOME := $(CURDIR)/.market_spine
endif

.PHONY: install system-packages run test lint bench clean

# The install compiles bytecode once: where PYTHONDONTWRITEBYTECODE is set, Python would
# otherwise compile every module it imports on every command (seconds for Dagster alone).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib market_spine
	MARKET_SPINE_HOME="$(MARKET_SPINE_HOME)" $(BIN)/python -m market_spine.warehouse.project
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/market-spine up

# System tools the tests call: promtool (Debian's prometheus package) checks the alert rules;
# promtool checks the alert rules; initdb and pg_ctl (Debian's postgresql) start the throwaway
# PostgreSQL clusters of the instance tests and benchmark; chromium runs the browser pages' tests
# (Playwright drives it: no browser download). Each installed only when absent, so a second
# `make test` touches nothing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-packages:
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
		|| missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: $(STAMP) system-packages
	$(BIN)/ruff check market_spine market_spine_tests bench
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=40 market_spine_tests

lint: $(STAMP)
	$(BIN)/ruff check market_spine market_spine_tests bench
	$(BIN)/ruff format --check market_spine market_spine_tests bench
	@# dbt SQL (config in market_spine_dbt/.sqlfluff); a scratch home keeps the warehouse closed.
	cd market_spine_dbt && MARKET_SPINE_HOME=$$(mktemp -d) $(CURDIR)/$(BIN)/sqlfluff lint models

bench: $(STAMP) system-packages
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements-bench.lock
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .market_spine .pytest_cache
