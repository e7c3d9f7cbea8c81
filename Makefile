# legato: `make run` starts everything on embedded defaults; `make test` proves it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv lock run demo test test-unit lint format bench services clean

LOCK     := requirements-dev.lock
RT_LOCK  := requirements.lock
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile -q --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
             --generate-hashes --annotation-style line --custom-compile-command "make lock" $(LOCK_ARGS)

# The venv holds exactly what the lock lists (uv pip sync drops anything else), then
# legato itself without its dependencies: what CI tests is what a fresh machine gets.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/uv pip sync -q --python $(BIN)/python --require-hashes --allow-empty-requirements $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

venv: $(STAMP)

run: venv           ## the whole system: API on :8000, a worker for every tier, beat
	$(BIN)/legato run

demo: venv          ## start the embedded stack, run the demo piece to success, stop
	$(BIN)/legato demo

services:           ## start PostgreSQL, Redis and dockerd if they are down; Chromium for the console tests
	bash .ci/services.sh
	bash .ci/browser-setup.sh

test: venv services ## every test, against real PostgreSQL, Redis, workers and dockerd
	$(BIN)/pytest -q --durations=25 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

test-unit: venv     ## the pure tests only (no services needed)
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: image
image: venv         ## legato:latest, from a local Debian base and the locked wheels (README "The image")
	bash .ci/build-image.sh

bench: venv services ## throughput and overhead against a raw Celery chain
	$(BIN)/python -m tests.bench

lock:               ## pyproject.toml -> lock files (keeps current pins; LOCK_ARGS=--upgrade for newer)
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/pip install -q uv; }
	$(UV_COMPILE) pyproject.toml --extra dev -o $(LOCK)
	$(UV_COMPILE) pyproject.toml -c $(LOCK) -o $(RT_LOCK)

clean:
	rm -rf $(VENV) .legato .pytest_cache .ruff_cache .hypothesis
