# The two commands of the README: `make demo` and `make test`. Both set up .venv on their own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench check-live-view clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,cli]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bkjob-async demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check bkjob_async tests benchmarks
	$(BIN)/ruff format --check bkjob_async tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict bkjob_async

unit: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/pytest -q -s benchmarks -o testpaths=benchmarks

check-live-view: $(STAMP)
	bash scripts/check-live-view.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .benchmarks
