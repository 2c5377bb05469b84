"""`llmcourse grade` with exercises that wait for a manual grade, in one Chapter 7 class:

- *ungraded on this machine*: the Triton kernel needs a CUDA GPU (skipped on GPU machines, where it
  is graded);
- *held for review*: an answer cell that the static review flags (autograder/review.py).

Both get no auto score and are flagged for a manual grade, with why in their output; the other
exercises are scored as usual and the run is not a failure. The held one's flagged lines are in the
batch summary, the reports and the feedback. Grading used the course's secret seed, which no
report or result holds in clear."""

from __future__ import annotations

import csv
import json
import os
import stat

import nbformat
import pytest
import torch

from autograder import build, examples, secret
from autograder.chapters import get_chapter

nbgrader_api = pytest.importorskip("nbgrader.api")
from autograder import gradebook  # noqa: E402 - needs nbgrader (the instructor extra)
CH = get_chapter("ch07")
TRITON = CH.exercise("ch07.triton_flash_attention_forward")
HELD = CH.exercise("ch07.attention_flops")
NOTEBOOK = f"{CH.notebook_stem}.ipynb"
FLAGGED = "import threading\n"


def _cell_text(course, exercise) -> str:
    graded = nbformat.read(course / "autograded" / "alice" / CH.assignment / NOTEBOOK,
                           as_version=4)
    [cell] = [c for c in graded.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") == exercise.check_cell_id]
    return str(cell.outputs)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the Triton exercise is graded")
def test_ungraded_and_held_exercises_wait_for_a_manual_grade(tmp_path, monkeypatch, llmcourse):
    env = build.jupyter_env(tmp_path)
    for var in ("PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR",
                "PYTHONPATH"):
        monkeypatch.setenv(var, env[var])
    course = tmp_path / "course"
    rc, log, _ = llmcourse("course", "init", str(course), CH.id)
    assert rc == 0, log
    release = nbformat.read(course / "release" / CH.assignment / NOTEBOOK, as_version=4)
    answers = examples.solution_answers(CH)
    answers[HELD.id] = FLAGGED + answers[HELD.id]
    path = course / "submitted" / "alice" / CH.assignment / NOTEBOOK
    path.parent.mkdir(parents=True)
    nbformat.write(examples.fill_answers(release, CH, answers), path)

    rc, log, _ = llmcourse("grade", str(course), CH.assignment)
    assert rc == 0, log
    assert "NOT GRADED" not in log and "secret seed" in log
    assert f"HELD FOR REVIEW: {HELD.name}" in log  # the student's line
    assert "line 1: `import threading` — starts a thread" in log  # the batch summary

    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(CH.assignment, "alice")
        grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
        for ex in CH.exercises:
            g = grades[ex.check_cell_id]
            if ex in (TRITON, HELD):
                assert g.auto_score is None and g.manual_score is None and g.needs_manual_grade
            else:
                assert g.auto_score == ex.points and not g.needs_manual_grade, ex.id
        assert sub.needs_manual_grade
    text = _cell_text(course, TRITON)
    assert "ungraded: 2 points to grade by hand" in text and "needs a CUDA GPU" in text
    text = _cell_text(course, HELD)
    assert "held for review by your instructor" in text
    assert f"the hidden tests gave {HELD.points:g}/{HELD.points:g} points" in text
    assert "line 1: `import threading`" in text

    reports = course / "llmcourse" / "reports"
    [row] = list(csv.DictReader((reports / f"{CH.assignment}.csv").open()))
    assert row["held_for_review"].startswith(f"{HELD.id}: line 1: `import threading`")
    report = json.loads((reports / f"{CH.assignment}.json").read_text())
    assert list(report["held_for_review"]) == ["alice"]
    assert list(report["held_for_review"]["alice"]) == [HELD.id]
    feedback = (course / "llmcourse" / "feedback" / CH.assignment / "alice.html").read_text()
    assert "held for review by your instructor" in feedback

    seed_file = course / "llmcourse" / "secret_seed"
    assert stat.S_IMODE(os.stat(seed_file).st_mode) == 0o600
    seed = str(secret.course_seed(course))
    assert not (course / "release" / CH.assignment / "secret_seed").exists()
    for p in (course / "llmcourse").rglob("*"):
        if p.is_file() and p != seed_file:
            assert seed not in p.read_text(encoding="utf-8"), p


def test_verdict_outputs_of_a_held_exercise():
    verdict = {"name": "softmax", "points": 2.0, "max_points": 2.0, "passed": True,
               "messages": ["all 35 cases passed"], "ungraded": False, "held_for_review": True,
               "review": ["line 1: `import threading` — starts a thread: ..."]}
    [out] = gradebook.verdict_outputs(verdict)
    assert out["output_type"] == "stream"
    assert out["text"].startswith("⚠ softmax: held for review by your instructor: 2 points to "
                                  "grade by hand (the hidden tests gave 2/2 points)")
    assert "  ! line 1: `import threading`" in out["text"] and "all 35 cases passed" in out["text"]
