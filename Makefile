# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv test lint demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

demo: $(STAMP)
	$(BIN)/caseline demo

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@echo "benchmarks: see benchmarks/README.md"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-output
