"""The instructor's nbgrader flow end to end: `llmcourse course init`, submissions in submitted/,
`nbgrader autograde` (hidden tests in the student's kernel) and `llmcourse grade` (verdicts out of
process) on the same course; then the gradebook, `nbgrader export` and `nbgrader generate_feedback`.

One course directory is built per module (``flow``); tests that change it work on a copy.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder import build, examples
from autograder.chapters import get_chapter

nbgrader_api = pytest.importorskip("nbgrader.api")
from autograder import gradebook  # noqa: E402 - needs nbgrader (the instructor extra)

pytestmark = pytest.mark.costly_setup  # the course of ``flow``: built once, by one xdist worker

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = get_chapter("ch04")
ASSIGNMENT = CHAPTER.assignment
NOTEBOOK = f"{CHAPTER.notebook_stem}.ipynb"
MISTAKE = ("ch04.layer_norm", "unbiased_variance")  # carol's one wrong exercise
EXPECTED_TOTAL = {"alice": CHAPTER.max_points, "bob": 0.0,
                  "carol": CHAPTER.max_points - CHAPTER.exercise(MISTAKE[0]).points}
GRADED = sorted(EXPECTED_TOTAL)
INVALID = "dave"  # submits a file that is not JSON
TAMPER = "eve"  # wrong softmax, plus an answer cell that patches the in-kernel checks
TAMPER_CELL = """
def softmax(x, dim=-1):
    return x.exp()  # wrong: not normalised

self_check = lambda *args, **kwargs: None
try:
    import autograder.kernel as _k
    _k.hidden_check = lambda *args, **kwargs: print("all hidden tests passed")
except Exception:
    pass
"""
HIDDEN = ("hidden_check", "BEGIN HIDDEN TESTS")


# --------------------------------------------------------------------------- helpers
def submissions(release_nb) -> dict:
    """Student → notebook (or raw text) as a student would hand it in."""
    answers = examples.solution_answers(CHAPTER)
    ex = CHAPTER.exercise(MISTAKE[0])
    mistake = next(m for m in ex.mistakes if m.key == MISTAKE[1])
    wrong = {**answers, ex.id: examples.answer_source(mistake.impl, ex.name)}
    tamper = {**answers, "ch04.softmax": TAMPER_CELL}
    return {"alice": examples.fill_answers(release_nb, CHAPTER, answers),
            "bob": release_nb,  # untouched release
            "carol": examples.fill_answers(release_nb, CHAPTER, wrong),
            INVALID: '{"cells": [ this is not JSON',
            TAMPER: examples.fill_answers(release_nb, CHAPTER, tamper)}


def submit(course: Path, student: str, nb) -> Path:
    path = course / "submitted" / student / ASSIGNMENT / NOTEBOOK
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)
    return path


def snapshot(course: Path) -> dict:
    """Student → {"total", "cells": {grade_id: auto_score}, "manual": {...}, "flag"} from the
    gradebook, through nbgrader's own API."""
    out = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission(ASSIGNMENT, student.id)
            except nbgrader_api.MissingEntry:
                continue
            grades = [g for nb in sub.notebooks for g in nb.grades]
            out[student.id] = {"total": sub.score, "flag": sub.needs_manual_grade,
                               "cells": {g.name: g.auto_score for g in grades},
                               "manual": {g.name: g.manual_score for g in grades}}
    return out


def export_csv(course: Path, name: str) -> dict:
    build.nbgrader(["export", "--to", name], course)
    with open(course / name, newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def autograded_nb(course: Path, student: str):
    return nbformat.read(course / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)


def check_cells(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


@dataclass
class Flow:
    course: Path
    init_log: str
    autograde: subprocess.CompletedProcess
    kernel: dict  # snapshot after nbgrader autograde
    kernel_csv: dict
    grade_rc: int
    grade_log: str
    ours: dict  # snapshot after llmcourse grade


@pytest.fixture(scope="module")
def flow(tmp_path_factory, figures_not_drawn, llmcourse):
    tmp = tmp_path_factory.mktemp("nbgrader_flow")
    env = build.jupyter_env(tmp)  # Jupyter/IPython/matplotlib state under tmp, for every subprocess
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                    "MPLCONFIGDIR", "PYTHONPATH"):
            mp.setenv(var, env[var])
        course = tmp / "course"
        rc, init_log, _ = llmcourse("course", "init", str(course), CHAPTER.id)
        assert rc == 0, init_log
        release = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
        for student, nb in submissions(release).items():
            submit(course, student, nb)

        autograde = subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
            cwd=course, env=env, capture_output=True, text=True)
        kernel = snapshot(course)
        kernel_csv = export_csv(course, "kernel.csv")

        grade_rc, grade_log, _ = llmcourse("grade", str(course), ASSIGNMENT)
        yield Flow(course, init_log, autograde, kernel, kernel_csv, grade_rc, grade_log,
                   snapshot(course))


# --------------------------------------------------------------------------- fast
def test_verdict_outputs_pass_and_fail():
    ok = {"name": "softmax", "points": 2.0, "max_points": 2.0, "passed": True,
          "messages": ["all 35 cases passed"]}
    bad = {**ok, "points": 0.0, "passed": False, "messages": ["wrong on 3 of 35 cases"]}
    [out] = gradebook.verdict_outputs(ok)
    assert out["output_type"] == "stream" and "2/2 points" in out["text"]
    [out] = gradebook.verdict_outputs(bad)
    assert out["output_type"] == "error" and out["ename"] == "AssertionError"
    assert "wrong on 3 of 35 cases" in out["evalue"] and "0/2 points" in out["evalue"]
    assert not any(h in json.dumps(out) for h in HIDDEN)


def test_grade_without_a_course_is_a_usage_error(tmp_path, llmcourse):
    rc, log, _ = llmcourse("grade", str(tmp_path), ASSIGNMENT)
    assert rc == gradebook.EXIT_USAGE
    assert "no gradebook" in log


def test_init_refuses_an_existing_course(tmp_path, llmcourse):
    (tmp_path / "nbgrader_config.py").write_text("# an instructor's course\n")
    rc, log, _ = llmcourse("course", "init", str(tmp_path))
    assert rc == gradebook.EXIT_USAGE and "not empty" in log
    assert (tmp_path / "nbgrader_config.py").read_text() == "# an instructor's course\n"


def test_init_rejects_unknown_chapter(tmp_path, llmcourse):
    rc, log, _ = llmcourse("course", "init", str(tmp_path / "c"), "ch99")
    assert rc == gradebook.EXIT_USAGE and "ch99" in log
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- slow: the flow
@pytest.mark.slow
def test_course_init_makes_a_ready_course(flow):
    c = flow.course
    assert (c / "nbgrader_config.py").exists()
    assert (c / "source" / ASSIGNMENT / NOTEBOOK).exists()
    assert (c / "release" / ASSIGNMENT / NOTEBOOK).exists()
    with nbgrader_api.Gradebook(f"sqlite:///{c / 'gradebook.db'}") as gb:
        [nb] = gb.find_assignment(ASSIGNMENT).notebooks
        cells = sorted(g.name for g in nb.grade_cells)
        assert gb.find_assignment(ASSIGNMENT).max_score == CHAPTER.max_points
    assert cells == sorted(ex.check_cell_id for ex in CHAPTER.exercises)
    for cmd in (f"llmcourse grade . {ASSIGNMENT}", f"nbgrader generate_feedback {ASSIGNMENT}",
                "nbgrader export"):
        assert cmd in flow.init_log


@pytest.mark.slow
@pytest.mark.parametrize("student", GRADED, ids=GRADED)
def test_both_paths_agree_per_check_cell(flow, student):
    kernel, ours = flow.kernel[student], flow.ours[student]
    assert ours["cells"] == kernel["cells"]
    assert ours["total"] == kernel["total"] == EXPECTED_TOTAL[student]
    assert None not in ours["cells"].values()
    assert not ours["flag"]


@pytest.mark.slow
def test_mistake_costs_exactly_its_exercise(flow):
    cells = flow.ours["carol"]["cells"]
    wrong = CHAPTER.exercise(MISTAKE[0]).check_cell_id
    assert cells[wrong] == 0.0
    assert all(cells[ex.check_cell_id] == ex.points
               for ex in CHAPTER.exercises if ex.check_cell_id != wrong)


@pytest.mark.slow
def test_invalid_submission_is_reported_not_scored(flow):
    assert flow.autograde.returncode != 0  # nbgrader: the batch fails at the end ...
    assert flow.kernel[INVALID]["flag"]  # ... and leaves a flagged, unscored submission
    assert flow.grade_rc == gradebook.EXIT_FAILURES
    [line] = [ln for ln in flow.grade_log.splitlines() if ln.startswith(f"{INVALID} ")]
    assert "NOT GRADED" in line and "invalid JSON" in line and "gradebook unchanged" in line
    assert flow.ours[INVALID] == flow.kernel[INVALID]  # nothing written for it
    for student in GRADED:  # and it stopped nobody else
        [line] = [ln for ln in flow.grade_log.splitlines() if ln.startswith(f"{student} ")]
        assert f"{EXPECTED_TOTAL[student]:g}/{CHAPTER.max_points:g}" in line


@pytest.mark.slow
def test_autograded_notebook_carries_our_verdicts_and_ran_nothing(flow):
    nb = autograded_nb(flow.course, "carol")
    assert nb.metadata["llmcourse"]["graded_by"] == gradebook.GRADER_TAG
    checks = check_cells(nb)
    wrong = CHAPTER.exercise(MISTAKE[0]).check_cell_id
    [err] = checks[wrong].outputs
    assert err.output_type == "error" and "unbiased variance" in err.evalue
    for gid, cell in checks.items():
        if gid != wrong:
            assert [o.output_type for o in cell.outputs] == ["stream"]
    others = [c for c in nb.cells
              if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("grade")]
    assert all(not c.outputs and c.execution_count is None for c in others)


@pytest.mark.slow
def test_export_csv_has_the_totals(flow):
    rows = export_csv(flow.course, "ours.csv")
    for student in GRADED:
        assert float(rows[student]["score"]) == EXPECTED_TOTAL[student]
        assert rows[student]["score"] == flow.kernel_csv[student]["score"]
        assert float(rows[student]["max_score"]) == CHAPTER.max_points


@pytest.mark.slow
def test_feedback_shows_our_reasons_not_hidden_tests(flow):
    build.nbgrader(["generate_feedback", ASSIGNMENT, "--force"], flow.course)
    pages = {s: (flow.course / "feedback" / s / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html"))
             .read_text(encoding="utf-8") for s in GRADED}
    ex = CHAPTER.exercise(MISTAKE[0])
    assert f"{ex.name}: hidden tests failed (0/{ex.points:g} points)" in pages["carol"]
    assert "unbiased variance" in pages["carol"]
    assert "✓ softmax: 2/2 points" in pages["alice"]
    assert "not implemented" in pages["bob"]
    for page in pages.values():
        assert not any(h in page for h in HIDDEN)
    assert not (flow.course / "feedback" / INVALID).exists()


@pytest.mark.slow
def test_tampering_fools_the_kernel_path_not_ours(flow):
    """The measured reason docs/NBGRADER.md recommends `llmcourse grade` for scores: in the
    student's kernel, an answer cell can replace the hidden test."""
    softmax = CHAPTER.exercise("ch04.softmax")
    assert flow.kernel[TAMPER]["cells"][softmax.check_cell_id] == softmax.points
    # ours: the out-of-process verdict is 0, and the static review (it imports the grader's
    # code) holds the cell for a manual grade, with the reasons in its output
    assert flow.ours[TAMPER]["cells"][softmax.check_cell_id] is None and flow.ours[TAMPER]["flag"]
    assert flow.ours[TAMPER]["total"] == CHAPTER.max_points - softmax.points
    [out] = check_cells(autograded_nb(flow.course, TAMPER))[softmax.check_cell_id].outputs
    assert f"the hidden tests gave 0/{softmax.points:g} points" in out.text
    assert "import autograder.kernel as _k` — imports the grader's own code" in out.text


# --------------------------------------------------------------------------- slow: regrading
@pytest.fixture
def course_copy(flow, tmp_path, monkeypatch):
    env = build.jupyter_env(tmp_path)
    for var in ("PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR",
                "PYTHONPATH"):
        monkeypatch.setenv(var, env[var])
    dest = tmp_path / "course"
    shutil.copytree(flow.course, dest, ignore=shutil.ignore_patterns(".state"))
    return dest


@pytest.mark.slow
def test_regrade_keeps_manual_scores_and_survives_a_broken_resubmission(course_copy, llmcourse):
    wrong = CHAPTER.exercise(MISTAKE[0]).check_cell_id
    with nbgrader_api.Gradebook(f"sqlite:///{course_copy / 'gradebook.db'}") as gb:
        grade = gb.find_grade(wrong, CHAPTER.notebook_stem, ASSIGNMENT, "carol")
        grade.manual_score = 1.0  # the instructor gave partial credit in formgrader
        gb.db.commit()
    before = snapshot(course_copy)

    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student", "carol")
    assert rc == 0 and "already recorded" in log, log  # nothing changed: nbgrader not run
    assert snapshot(course_copy) == before  # the manual score untouched

    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student", "carol",
                           "--regrade")
    assert rc == 0, log
    after = snapshot(course_copy)
    assert after["carol"]["manual"][wrong] == 1.0 and after["carol"]["flag"]  # kept, for review
    assert after["carol"]["total"] == EXPECTED_TOTAL["carol"] + 1.0
    assert {s: after[s] for s in after if s != "carol"} == \
        {s: before[s] for s in before if s != "carol"}  # nobody else touched

    submit(course_copy, "carol", "not a notebook at all")
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student", "carol")
    assert rc == gradebook.EXIT_FAILURES and "NOT GRADED" in log
    assert snapshot(course_copy) == after
    assert check_cells(autograded_nb(course_copy, "carol"))[wrong].outputs  # still there


@pytest.mark.slow
def test_failed_recording_puts_back_the_earlier_notebook(course_copy, monkeypatch, llmcourse):
    before_nb = (course_copy / "autograded" / "alice" / ASSIGNMENT / NOTEBOOK).read_bytes()
    before = snapshot(course_copy)

    def broken_record(course_dir, assignment, graded, chapter, run):
        shutil.rmtree(course_dir / "autograded" / "alice")  # as --force does, then it fails
        return subprocess.CompletedProcess([], 1, "", "nbgrader: simulated crash")

    monkeypatch.setattr(gradebook, "record", broken_record)
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student", "alice",
                           "--regrade")
    assert rc == gradebook.EXIT_FAILURES
    assert "alice" in log and "NOT GRADED" in log and "simulated crash" in log
    page = (course_copy / "llmcourse" / "feedback" / ASSIGNMENT / "alice.html").read_text()
    assert "simulated crash" not in page  # nbgrader's log is for the instructor only
    assert (course_copy / "autograded" / "alice" / ASSIGNMENT / NOTEBOOK).read_bytes() == before_nb
    assert snapshot(course_copy) == before


def test_course_config_gives_kernels_one_thread_unless_the_instructor_chose(monkeypatch):
    """nbgrader's kernels inherit the environment the course config leaves."""
    config = (build.COURSE / "nbgrader_config.py").read_text()
    for preset, expected in ((None, "1"), ("4", "4")):
        if preset is None:
            monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OMP_NUM_THREADS", preset)
        exec(compile(config, "nbgrader_config.py", "exec"),  # noqa: S102 - our own config
             {"get_config": lambda: __import__("traitlets.config").config.Config()})
        assert os.environ["OMP_NUM_THREADS"] == expected


# --------------------------------------------------------------------------- slow: a real class
def report_rows(course: Path) -> dict:
    with open(course / "llmcourse" / "reports" / f"{ASSIGNMENT}.csv", newline="") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def stored(course: Path) -> dict:
    folder = course / "llmcourse" / "results" / ASSIGNMENT
    return {json.loads(p.read_text())["student"]: json.loads(p.read_text())
            for p in folder.glob("*.json") if not p.name.startswith(".")}


@pytest.mark.slow
def test_wrong_assignment_is_named_and_the_feedback_holds_no_log(course_copy, llmcourse):
    """A ch06 notebook saved under ch04's name: named as such up front (it was graded on the
    names its cells define, then 'not recorded' with nbgrader's log in the student's feedback)."""
    ch06 = get_chapter("ch06")
    shutil.copy(ROOT / "solutions" / ch06.assignment / f"{ch06.notebook_stem}.ipynb",
                course_copy / "submitted" / "carol" / ASSIGNMENT / NOTEBOOK)
    before = snapshot(course_copy)["carol"]
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student", "carol")
    assert rc == gradebook.EXIT_FAILURES
    [line] = [ln for ln in log.splitlines() if ln.startswith("carol ")]
    assert f"is a {ch06.assignment} notebook" in line and "gradebook unchanged" in line
    assert snapshot(course_copy)["carol"] == before
    page = (course_copy / "llmcourse" / "feedback" / ASSIGNMENT / "carol.html").read_text()
    assert f"is a {ch06.assignment} notebook" in page
    for leak in ("alice", "bob", "[Autograde", str(course_copy), "Traceback"):
        assert leak not in page, leak
    assert stored(course_copy)["carol"]["failure"].startswith(NOTEBOOK)


@pytest.mark.slow
def test_one_student_regraded_keeps_the_class_wide_reports(course_copy, llmcourse):
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student", "alice",
                           "--regrade")
    assert rc == 0, log
    rows = report_rows(course_copy)
    assert set(rows) == {*GRADED, INVALID, TAMPER}, "the report lost the other students"
    assert float(rows["carol"]["total"]) == EXPECTED_TOTAL["carol"]
    assert rows[INVALID]["status"] == "failed"


@pytest.mark.slow
def test_odd_student_ids_are_graded_and_recorded_as_themselves(course_copy, llmcourse):
    """nbgrader's exclusion list is comma-separated: with a student "o,ther" in the class,
    `--student other` ran nbgrader on them too and recorded 0. Ids are passed in a file now."""
    odd = ["smith, j", "ann lee", "zoë", "-dash"]
    alice = course_copy / "submitted" / "alice" / ASSIGNMENT / NOTEBOOK
    for student in [*odd, "o,ther"]:
        (course_copy / "submitted" / student / ASSIGNMENT).mkdir(parents=True)
        shutil.copy(alice, course_copy / "submitted" / student / ASSIGNMENT / NOTEBOOK)
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student=-dash",
                           *(f"--student={s}" for s in odd[:3]))
    assert rc == 0, log
    now = snapshot(course_copy)
    for student in odd:
        assert now[student]["total"] == CHAPTER.max_points and not now[student]["flag"], student
    assert "o,ther" not in now, "nbgrader recorded a student it was not given"
    assert set(report_rows(course_copy)) >= set(odd)


@pytest.mark.slow
def test_missing_and_extra_notebooks_are_visible(course_copy, llmcourse):
    alice = course_copy / "submitted" / "alice" / ASSIGNMENT / NOTEBOOK
    renamed = course_copy / "submitted" / "frank" / ASSIGNMENT / "ch04_attention (1).ipynb"
    renamed.parent.mkdir(parents=True)
    shutil.copy(alice, renamed)
    extra = course_copy / "submitted" / "gina" / ASSIGNMENT
    extra.mkdir(parents=True)
    shutil.copy(alice, extra / NOTEBOOK)
    shutil.copy(alice, extra / "ch04_attention-final.ipynb")
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT, "--student", "frank",
                           "--student", "gina")
    assert rc == gradebook.EXIT_FAILURES
    [frank] = [ln for ln in log.splitlines() if ln.startswith("frank ")]
    assert "NOT GRADED" in frank and "ch04_attention (1).ipynb" in frank
    now = snapshot(course_copy)
    assert now["frank"]["flag"] and set(now["frank"]["cells"].values()) == {None}  # to look at
    assert "frank" in export_csv(course_copy, "after.csv")  # not absent from the export
    assert now["gina"]["total"] == CHAPTER.max_points
    assert "warning: not graded: ch04_attention-final.ipynb" in log
    page = (course_copy / "llmcourse" / "feedback" / ASSIGNMENT / "gina.html").read_text()
    assert "ch04_attention-final.ipynb" in page


@pytest.mark.slow
def test_a_killed_regrade_resumes_and_never_mixes_generations(course_copy, llmcourse,
                                                             monkeypatch):
    from autograder import batch

    real, graded = batch.grade_folder, []

    def killed_after_two(student, *args, **kwargs):
        if len(graded) == 2:
            raise KeyboardInterrupt  # the instructor's Ctrl-C, or the machine going down
        graded.append(student)
        return real(student, *args, **kwargs)

    monkeypatch.setattr(batch, "grade_folder", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        llmcourse("grade", str(course_copy), ASSIGNMENT, "--regrade", "--jobs", "1")
    marker = json.loads((course_copy / "llmcourse" / "results" / ASSIGNMENT /
                         batch.REGRADE_MARKER).read_text())
    first = set(graded)
    assert {s for s, r in stored(course_copy).items()
            if r.get("generation") == marker["generation"]} == first

    graded.clear()
    monkeypatch.setattr(batch, "grade_folder",
                        lambda student, *a, **k: (graded.append(student), real(student, *a, **k))[1])
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT)  # no --regrade: resumed anyway
    assert rc == gradebook.EXIT_FAILURES  # dave's notebook is still not JSON
    assert "resuming the regrade" in log
    # the first two were kept (dave's notebook fails every time: a failure is never reused)
    assert set(graded) == (set(marker["students"]) - first) | {INVALID}
    assert {r.get("generation") for r in stored(course_copy).values()} == {marker["generation"]}
    assert not (course_copy / "llmcourse" / "results" / ASSIGNMENT / batch.REGRADE_MARKER).exists()
    assert snapshot(course_copy)["carol"]["total"] == EXPECTED_TOTAL["carol"]

    graded.clear()
    rc, log, _ = llmcourse("grade", str(course_copy), ASSIGNMENT)  # nothing changed
    assert graded == [INVALID] and "already recorded in the gradebook" in log
    assert "by nbgrader autograde" not in log  # nbgrader is not run again for nothing
