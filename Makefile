# The two commands of the README's quick start, and what they build on.
#   make demo         set up .venv for a student (the course and JupyterLab) and grade the bundled
#                     sample submission (prints the score table)
#   make test         set up .venv with everything (instructor tools, test tools, Chapter 12's
#                     libraries, Dask) and run the whole test suite (what CI runs, .ci/run)
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
# On Linux without an NVIDIA GPU: PyTorch's CPU wheels (a few hundred MB, not several GB of CUDA
# wheels), from PyTorch's CPU index where it answers, else from the default index.
CPU_ONLY := $(shell [ "$$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1 && echo yes)
TORCH_INDEX ?= $(if $(CPU_ONLY),https://download.pytorch.org/whl/cpu,)
PYTEST_ARGS ?= -n 2 --dist worksteal
QUICK_CHAPTER ?= ch04

BIN := $(VENV)/bin
STUDENT := $(VENV)/.installed-student
STAMP := $(VENV)/.installed

.PHONY: setup setup-student demo test test-fast test-quick build sync-check clean

# the student's install: the course, the grader and JupyterLab (extra `lab`)
$(STUDENT): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_INDEX)" ] && $(BIN)/python -c "import urllib.request as u; u.urlopen('$(TORCH_INDEX)/', timeout=5)" 2>/dev/null; then \
	  echo "PyTorch from $(TORCH_INDEX)"; \
	  $(BIN)/pip install --quiet --index-url $(TORCH_INDEX) "$(TORCH)" || $(BIN)/pip install --quiet "$(TORCH)"; \
	else \
	  $(BIN)/pip install --quiet "$(TORCH)"; \
	fi
	$(BIN)/pip install --quiet -e '.[lab]'
	touch $(STUDENT)

# everything: the instructor tools (nbgrader, otter), the test tools, Chapter 12's libraries
$(STAMP): $(STUDENT)
	$(BIN)/pip install --quiet -e '.[instructor,lab,test,practice,cluster]'
	touch $(STAMP)

setup-student: $(STUDENT)

setup: $(STAMP)

demo: setup-student
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
