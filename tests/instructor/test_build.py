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
    answer = next(c for c in nb.cells if build.role(c).get("role") == "answer")
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
