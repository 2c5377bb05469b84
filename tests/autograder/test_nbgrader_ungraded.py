"""`llmcourse grade` on a machine that lacks what an exercise needs (Chapter 7's Triton kernel needs
a CUDA GPU): the other exercises are recorded as usual, that one gets no auto score and is
flagged for a manual grade, and the run is not a failure."""

from __future__ import annotations

import contextlib
import io

import nbformat
import pytest
import torch

from autograder import build, cli, examples
from autograder.chapters import get_chapter

nbgrader_api = pytest.importorskip("nbgrader.api")
CH07 = get_chapter("ch07")
TRITON = CH07.exercise("ch07.triton_flash_attention_forward")
NOTEBOOK = f"{CH07.notebook_stem}.ipynb"


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the exercise is graded")
def test_ungraded_exercise_waits_for_a_manual_grade(tmp_path, monkeypatch):
    env = build.jupyter_env(tmp_path)
    for var in ("PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR",
                "PYTHONPATH"):
        monkeypatch.setenv(var, env[var])
    course = tmp_path / "course"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["course", "init", str(course), CH07.id]) == 0, out.getvalue()
    release = nbformat.read(course / "release" / CH07.assignment / NOTEBOOK, as_version=4)
    path = course / "submitted" / "alice" / CH07.assignment / NOTEBOOK
    path.parent.mkdir(parents=True)
    nbformat.write(examples.fill_answers(release, CH07, examples.solution_answers(CH07)), path)

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["grade", str(course), CH07.assignment])
    log = out.getvalue()
    assert rc == 0, log
    assert "NOT GRADED" not in log

    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(CH07.assignment, "alice")
        grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
        for ex in CH07.exercises:
            g = grades[ex.check_cell_id]
            if ex is TRITON:
                assert g.auto_score is None and g.manual_score is None and g.needs_manual_grade
            else:
                assert g.auto_score == ex.points and not g.needs_manual_grade, ex.id
        assert sub.needs_manual_grade
    graded = nbformat.read(course / "autograded" / "alice" / CH07.assignment / NOTEBOOK,
                           as_version=4)
    [cell] = [c for c in graded.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") == TRITON.check_cell_id]
    text = str(cell.outputs)
    assert "ungraded: 2 points to grade by hand" in text and "needs a CUDA GPU" in text
