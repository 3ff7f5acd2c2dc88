# Entry points: make run | make test | make lint | make bench
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,lint]'
	touch $@ $(RUN_STAMP)

## run: start Rondo on http://127.0.0.1:8080 with SQLite and a built-in agent (data in ./.rondo)
run: $(RUN_STAMP)
	$(BIN)/rondo server

## test: install what the tests need (PostgreSQL, a Docker engine, local images), then run them
test: $(DEV_STAMP)
	./scripts/test-services
	./scripts/build-images
	$(BIN)/pytest

## lint: ruff, mypy and the import rules of docs/architecture (import-linter)
lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: speed and memory ratios against baselines measured in the same run
bench: $(DEV_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
