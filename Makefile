# The two commands of the README's quick start, and what they build on.
#   make demo         set up .venv and grade the bundled sample submission (prints the score table)
#   make test         set up .venv and run the whole test suite (what CI runs, .ci/run)
# Smaller runs of the same suite (tests/: reference/, harness/, chapters/, instructor/):
#   make test-fast    every test but those marked `slow` (the ones that build, execute or grade whole
#                     notebooks out of process: sandbox attacks, CLI, batch, nbgrader, otter, release
#                     gate); `make test` minus `make test-fast` is exactly `pytest -m slow`
#   make test-quick   the edit loop: the reference, the harness and one chapter's grading
#                     (QUICK_CHAPTER, default ch04), no slow tests
# PYTEST_ARGS: two pytest workers that steal work from each other; tests/conftest.py lays the
# collection out for that (costly set-ups at the front of each worker's block, slow tests early).
# PYTHON: a Python 3.11+ interpreter. TORCH: the PyTorch requirement installed first, so that
# CPU-only machines can take a CPU build (e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?= -n 2 --dist worksteal
QUICK_CHAPTER ?= ch04

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast test-quick build sync-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install --quiet -e '.[instructor,lab,test,practice]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/llmcourse check

test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS) -m "not slow"

test-quick: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS) -m "not slow" \
		tests/reference tests/harness tests/chapters/test_chapter_declarations.py \
		tests/chapters/test_catalogs.py -k "not test_catalogs or $(QUICK_CHAPTER)"

build: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/llmcourse build

sync-check: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/llmcourse sync-check

clean:
	rm -rf $(VENV) build .pytest_cache
