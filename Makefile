# Two commands: `make run` and `make test`. Both set up .venv on first use; only `make test`
# installs the test tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
CONFIG ?= config.toml

.PHONY: run chat test lint typecheck check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

run: $(STAMP)
	@if [ ! -f $(CONFIG) ]; then cp config.example.toml $(CONFIG) && echo "created $(CONFIG) from config.example.toml"; fi
	$(BIN)/bananabot run --config $(CONFIG)

chat: $(STAMP)
	@if [ ! -f $(CONFIG) ]; then cp config.example.toml $(CONFIG) && echo "created $(CONFIG) from config.example.toml"; fi
	$(BIN)/bananabot chat --config $(CONFIG)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

bench: $(DEV_STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
