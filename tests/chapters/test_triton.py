"""The Triton exercise (Chapter 7). Graded only where CUDA and Triton are present; elsewhere it is
reported "ungraded on this machine", with 0 points, left out of the graded total and never
passed. Its reference kernel and catalog are still proven on CPU, through Triton's interpreter
(TRITON_INTERPRET=1, which must be set before any kernel is defined: hence a subprocess)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from autograder.build import output_paths
from autograder.chapters import get_chapter
from autograder.cli import _table
from autograder.grade import NotebookResult
from autograder.inprocess import grade_object
from autograder.judge import ExerciseResult

CH07 = get_chapter("ch07")
EX = "ch07.triton_flash_attention_forward"
HAS_TRITON = importlib.util.find_spec("triton") is not None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _interpreted(script: str, timeout: float = 600) -> dict:
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine grades it for real (test_cuda)")
def test_without_cuda_the_exercise_is_ungraded_never_passed(plans):
    """Its verdict, and the totals (the release gate, test_build, grades the whole notebook out of
    process with it ungraded)."""
    ex, prepared = plans(EX, devices=None)  # the grader's default devices
    assert prepared == []
    e = grade_object(ex.reference, ex, prepared)
    assert e.ungraded and not e.passed and e.points == 0
    assert e.messages[0].startswith("ungraded on this machine: it needs a CUDA GPU")
    other = ExerciseResult("x", "x", 3.0, 3.0, True, [])
    result = NotebookResult("nb", "ch07", [other, e])
    assert (result.total, result.max_total, result.ungraded_points) == (3.0, 3.0, ex.points)
    assert "(+2 points ungraded on this machine)" in _table(result)


@pytest.mark.skipif(not HAS_TRITON, reason="Triton is not installed")
def test_reference_and_catalog_through_the_interpreter():
    """Reference full marks, each alternative full marks, each mistake caught and named."""
    report = _interpreted("""
        import json, sys, warnings
        warnings.simplefilter("ignore")
        sys.path.insert(0, "tests/chapters")
        from alternatives import ALTERNATIVES
        from autograder.chapters import get_chapter
        from autograder.grade import plan_for
        from autograder.inprocess import grade_object
        ch = get_chapter("ch07")
        ex = ch.exercise("ch07.triton_flash_attention_forward")
        [(_, prepared)] = plan_for(ch, [ex], devices=("cpu",))
        out = {"cases": len(prepared), "reference": grade_object(ex.reference, ex, prepared).as_json(),
               "alternatives": [grade_object(a, ex, prepared).as_json()
                                for a in ALTERNATIVES[ex.id]],
               "mistakes": [[m.title, m.hint, grade_object(m.impl, ex, prepared).as_json()]
                            for m in ex.mistakes]}
        print(json.dumps(out))
    """)
    assert report["cases"] >= 6
    ref = report["reference"]
    assert ref["passed"] and ref["points"] == ref["max_points"] and not ref["ungraded"], ref
    for alt in report["alternatives"]:
        assert alt["passed"], alt["messages"]
    assert len(report["mistakes"]) >= 3
    for title, hint, res in report["mistakes"]:
        assert not res["passed"] and res["points"] == 0, (title, res["messages"])
        assert f"likely mistake: {title}. {hint}" in res["messages"], (title, res["messages"])


@pytest.mark.skipif(not HAS_TRITON, reason="Triton is not installed")
def test_solution_notebook_out_of_process_through_the_interpreter():
    """The notebook's own kernel, run by the worker (the environment is inherited). Only this
    exercise is planned: the release gate (test_build) grades the notebook's other exercises."""
    report = _interpreted(f"""
        import json
        from autograder.chapters import get_chapter
        from autograder.grade import grade_submission, plan_for
        from autograder.submission import extract, read_notebook
        ch, path = get_chapter("ch07"), {str(output_paths(CH07)[1])!r}
        sub = extract(read_notebook(path), ch, path)
        results = grade_submission(sub, plan=plan_for(ch, [ch.exercise({EX!r})]))
        print(json.dumps([e.as_json() for e in results]))
    """)
    [e] = report
    assert e["passed"] and e["points"] == e["max_points"], e["messages"]
