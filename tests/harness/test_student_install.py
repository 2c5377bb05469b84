"""The student's install (`pip install -e '.[lab]'`, `make demo`) is enough to start, run and check
a notebook: nothing on that path imports the instructor tools (nbgrader, otter, pandas), the test
tools or Chapter 12's libraries.

Installing a second environment in the test would cost minutes and the network, so the missing
extras are simulated instead: a ``sitecustomize`` on ``PYTHONPATH`` makes every import of those
packages fail, in the command-line process, the grader's worker and the notebook's kernel alike
(they all inherit the environment). The test first proves the block works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
LLMCOURSE = [sys.executable, "-m", "autograder.cli"]
# everything outside the base install and the `lab` extra (pyproject.toml's optional extras)
NOT_INSTALLED = ("nbgrader", "otter", "pandas", "transformers", "tokenizers", "tiktoken",
                 "safetensors", "triton", "sacrebleu", "rouge_score", "hypothesis", "pytest",
                 "xdist", "playwright")
BLOCKER = f"""
import importlib.abc, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_INSTALLED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (student install)", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def student_env(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
               LLMCOURSE_WORK=str(tmp_path_factory.mktemp("work")), OMP_NUM_THREADS="1")
    return env


def run(cmd, env, **kw):
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          **kw)


def test_the_missing_extras_really_are_missing(student_env):
    for name in ("nbgrader", "otter", "pandas"):
        done = run([sys.executable, "-c", f"import {name}"], student_env)
        assert done.returncode != 0 and "student install" in done.stderr, name


def answer_cells(nb, exercise_id):
    return [c for c in nb.cells if c.metadata.get("llmcourse", {}).get("exercise") == exercise_id
            and c.metadata["llmcourse"].get("role") == "answer"]


def test_start_run_all_and_check_without_the_instructor_extras(student_env):
    started = run([*LLMCOURSE, "start", "ch04"], student_env)
    assert started.returncode == 0, started.stderr
    work = Path(student_env["LLMCOURSE_WORK"]) / "ch04_attention" / "ch04_attention.ipynb"
    assert work.exists(), started.stdout

    # Run All, as JupyterLab does: every cell runs (check cells of unfinished exercises are tagged
    # raises-exception, which nbclient honours as JupyterLab does), in a kernel without the extras
    runner = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], 4)\n"
        "NotebookClient(nb, timeout=300, kernel_name='python3').execute()\n"
        "nbformat.write(nb, sys.argv[1])\n"
    )
    executed = run([sys.executable, "-c", runner, str(work)], student_env)
    assert executed.returncode == 0, executed.stderr[-3000:]
    nb = nbformat.read(work, 4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "Run All stopped before the last cell"
    errors = [c for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert all("raises-exception" in c.metadata.get("tags", ()) for c in errors)
    assert any(o.get("data", {}).get("image/png") for c in code for o in c.outputs), "no figure"

    # a right answer for one exercise, typed into the student's copy, and check
    solution = nbformat.read(ROOT / "solutions" / "ch04_attention" / "ch04_attention.ipynb", 4)
    (mine,), (right,) = answer_cells(nb, "ch04.softmax"), answer_cells(solution, "ch04.softmax")
    mine.source = right.source
    nbformat.write(nb, work)
    checked = run([*LLMCOURSE, "check", "ch04", "--json"], student_env)
    assert checked.returncode == 0, checked.stderr[-3000:]
    result = json.loads(checked.stdout)
    by_id = {ex["id"]: ex for ex in result["exercises"]}
    assert by_id["ch04.softmax"]["points"] == by_id["ch04.softmax"]["max_points"] > 0
    assert result["total"] == by_id["ch04.softmax"]["points"], "only the answered exercise scores"
