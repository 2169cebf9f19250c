# Every target builds its own virtualenv, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
ARGS ?=

.PHONY: run demo test lint typecheck unit clean screenshots

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/retailpulse serve --host $(HOST) --port $(PORT) $(ARGS)

demo: $(STAMP)
	$(BIN)/retailpulse demo

lint: $(STAMP)
	$(BIN)/ruff check retailpulse tests examples
	$(BIN)/ruff format --check retailpulse tests examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck unit

# The dashboard's screenshots in docs/ (needs /usr/bin/chromium); not part of the suite.
screenshots: $(STAMP)
	$(BIN)/python -m pytest tests/browser/make_screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
