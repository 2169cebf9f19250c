# Every target builds its own virtualenv, so a fresh clone needs only python3 and PyPI.
# It installs the exact versions, checked by their hashes, of requirements/lock.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
LOCK_VENV := .venv-lock
UV ?= uv>=0.9,<1
UPGRADE ?=
HOST ?= 127.0.0.1
PORT ?= 8080
ARGS ?=

.PHONY: run demo test lint typecheck unit lock clean screenshots

# The package itself goes in without dependencies and without a build environment of
# its own, so that nothing but what the lock names (with its hashes) is downloaded.
$(STAMP): setup.cfg pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Resolve setup.cfg's ranges (with the "test" extra) and requirements/lock.in into the
# lock, with the hashes of every file on PyPI for each pinned version. Versions already
# in the lock are kept; `make lock UPGRADE=1` takes the newest each range allows.
lock:
	test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/python -m pip install --quiet '$(UV)'; }
	$(LOCK_VENV)/bin/uv pip compile setup.cfg requirements/lock.in --extra test \
		--universal --python-version 3.11 --generate-hashes $(if $(UPGRADE),--upgrade) \
		--custom-compile-command 'make lock' --quiet -o $(LOCK)

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
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
