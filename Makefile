# The two commands of the README's quick start, and what they build on.
#   make demo   set up .venv and grade the bundled sample submission (prints the score table)
#   make test   set up .venv and run the whole test suite
# PYTHON: a Python 3.11+ interpreter. TORCH: the PyTorch requirement installed first, so that
# CPU-only machines can take a CPU build (e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?= -n 2

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test build sync-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install --quiet -e '.[instructor,lab,test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/llmcourse check

test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

build: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/llmcourse build

sync-check: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/llmcourse sync-check

clean:
	rm -rf $(VENV) build .pytest_cache
