"""The build: generated notebooks are in sync with course/, the release hides solutions and hidden
tests, the solution is executed, and a broken source is refused."""

from __future__ import annotations

import nbformat
import pytest

from autograder import build
from autograder.chapters import all_chapters

CHAPTERS = list(all_chapters().values())
each_chapter = pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)


@pytest.mark.slow
def test_committed_notebooks_are_in_sync_with_course():
    """Every chapter at once: one nbgrader run builds all the releases."""
    assert build.out_of_date_all(CHAPTERS) == {chapter.id: [] for chapter in CHAPTERS}


@pytest.mark.slow
def test_a_stale_notebook_is_reported(ch04, tmp_path, monkeypatch):
    """The sync check can fail: an edited student notebook and a solution built from another
    source are each named."""
    student, solution = (tmp_path / "student.ipynb", tmp_path / "solution.ipynb")
    nb = nbformat.read(build.output_paths(ch04)[0], as_version=4)
    nb.cells[0].source += "\nan edit made by hand"
    nbformat.write(nb, student)
    nb = nbformat.read(build.output_paths(ch04)[1], as_version=4)
    nb.metadata["llmcourse"]["source_sha256"] = "0" * 64
    nbformat.write(nb, solution)
    monkeypatch.setattr(build, "output_paths", lambda chapter: (student, solution))
    [why] = build.out_of_date(ch04)
    assert why == f"{solution} was built from another version of course/ch04_attention/ch04_attention.py"
    nb.metadata["llmcourse"]["source_sha256"] = build.source_digest(ch04)
    nbformat.write(nb, solution)
    assert build.out_of_date(ch04) == [f"{student} differs from a fresh build"]


@each_chapter
def test_release_has_no_solutions_or_hidden_tests(chapter):
    ch04 = chapter
    text = build.output_paths(ch04)[0].read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "hidden_check" not in text
    nb = nbformat.read(build.output_paths(ch04)[0], as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(stubs) == len(ch04.exercises)
    assert all("raise NotImplementedError()" in c.source for c in stubs)


@each_chapter
def test_run_all_goes_on_past_a_failing_check(chapter):
    """Every check cell of the release carries the tag with which JupyterLab's Run All and
    nbclient go on after an error in that cell (nbgrader still scores it by the error); no
    setup cell prints a value."""
    release = nbformat.read(build.output_paths(chapter)[0], as_version=4)
    checks = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(checks) == len(chapter.exercises)
    assert all(build.RUN_ALL_CONTINUES in c.metadata.get("tags", []) for c in checks)
    solution = nbformat.read(build.output_paths(chapter)[1], as_version=4)
    setup = [c for c in solution.cells if c.metadata.get("llmcourse", {}).get("role") == "setup"]
    assert setup and not any(o.get("output_type") == "execute_result"
                             for c in setup for o in c.get("outputs", []))


@pytest.mark.slow
def test_run_all_on_an_untouched_release_runs_every_cell(ch04, tmp_path):
    """What a student's first Run All does (the kernel JupyterLab would start): every code cell
    runs and every figure draws; each check cell fails with its message, not a traceback."""
    from nbclient import NotebookClient

    nb = nbformat.read(build.output_paths(ch04)[0], as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    solution = nbformat.read(build.output_paths(ch04)[1], as_version=4)
    solved = [c for c in solution.cells if c.cell_type == "code"]
    for mine, done in zip(code, solved, strict=True):  # every figure that needs no answer draws
        drew = any("image/png" in o.get("data", {}) for o in mine.outputs)
        waits = any("Implement" in o.get("text", "") for o in mine.outputs)  # a "Try it" cell
        assert drew or waits or not any("image/png" in o.get("data", {}) for o in done.outputs)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert len(errors) == len(ch04.exercises)
    assert all(e.traceback[0].startswith("\x1b[1;31m✗ ") and "not implemented" in e.traceback[1]
               for e in errors)


@each_chapter
def test_solution_is_executed_with_figures(chapter):
    nb = nbformat.read(build.output_paths(chapter)[1], as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert len(images) >= 2 and not errors


@each_chapter
def test_instructor_notebook_carries_points_and_hidden_tests(chapter):
    ch04 = chapter
    nb = build.instructor_notebook(build.read_source(ch04), ch04)
    grade_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata.nbgrader.points for c in grade_cells] == [ex.points for ex in ch04.exercises]
    for cell, ex in zip(grade_cells, ch04.exercises):
        assert f'hidden_check("{ex.id}", globals())' in cell.source


@each_chapter
def test_source_round_trips_through_jupytext(chapter):
    """The markers that carry structure survive text → notebook → text."""
    import jupytext

    nb = build.read_source(chapter)
    again = jupytext.reads(jupytext.writes(nb, fmt="py:percent"), fmt="py:percent")
    assert [build.role(c) for c in again.cells] == [build.role(c) for c in nb.cells]
    assert [c.source for c in again.cells] == [c.source for c in nb.cells]


@pytest.mark.parametrize("breakage", ["drop_check", "drop_markers", "rename_function"])
def test_a_broken_source_is_refused(ch04, breakage):
    nb = build.read_source(ch04)
    answer = next(c for c in nb.cells if build.role(c).get("role") == "answer"
                  and build.role(c).get("exercise") == "ch04.softmax")
    if breakage == "drop_check":
        nb.cells = [c for c in nb.cells if build.role(c).get("exercise") != "ch04.softmax"
                    or build.role(c).get("role") != "check"]
    elif breakage == "drop_markers":
        answer.source = answer.source.replace(build.SOLUTION_BEGIN, "")
    else:
        answer.source = answer.source.replace("def softmax(", "def my_softmax(")
    with pytest.raises(build.BuildError):
        build.validate_source(nb, ch04)


def test_gate_refuses_a_wrong_solution(ch04, make_submission, chapter_plan):
    sdpa_no_scale = ch04.exercise("ch04.scaled_dot_product_attention").mistake("no_scale").impl

    wrong = make_submission({"ch04.scaled_dot_product_attention": sdpa_no_scale})
    problems = build.gate(ch04, wrong, build.output_paths(ch04)[0], plan=chapter_plan("ch04"))
    assert len(problems) == 1 and "solution loses ch04.scaled_dot_product_attention" in problems[0]


@pytest.mark.slow
@each_chapter
def test_committed_notebooks_pass_the_release_gate(chapter, chapter_plan):
    """Out of process: full marks on solutions/, 0 with 'not implemented' on assignments/ (on
    the plan the catalog tests grade with: the reference runs once per test run)."""
    student, solution = build.output_paths(chapter)
    assert build.gate(chapter, solution, student, plan=chapter_plan(chapter.id)) == []


def test_bundled_sample_is_in_sync():
    """examples/ch04_sample_submission.ipynb is what `llmcourse build` would write now."""
    from autograder.examples import SAMPLE_PATH, sample_submission

    assert build.structure(SAMPLE_PATH) == build.structure(sample_submission())
