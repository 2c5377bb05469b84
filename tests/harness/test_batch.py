"""Class-scale batch grading: parallel, resumable after a kill, deterministic, failures never
recorded as zeros, reports and per-student feedback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from autograder import batch
from autograder.build import ROOT, output_paths
from autograder.chapters import find_exercise

ASSIGNMENT = "ch04_attention"

layer_norm_unbiased = find_exercise("ch04.layer_norm")[1].mistake("unbiased_variance").impl


@pytest.fixture
def course(ch04, make_class, make_submission):
    """A course folder with four submissions: right, one mistake, untouched, invalid JSON."""
    return make_class({"alice": make_submission({}),
                       "carol": make_submission({"ch04.layer_norm": layer_norm_unbiased}),
                       "bob": output_paths(ch04)[0], "dave": "{ not json"})


def _folders(root):
    return {p.parent.name: p for p in sorted((root / "submitted").glob(f"*/{ASSIGNMENT}"))}


def _run(root, ch04, students=None, **kw):
    folders = {s: f for s, f in _folders(root).items() if students is None or s in students}
    return batch.grade_all(root, ASSIGNMENT, ch04, folders, [ASSIGNMENT], log=lambda *a: None, **kw)


def _totals(records):
    return {s: (None if r["failure"] else sum(e["points"] for e in batch.exercise_rows(r)))
            for s, r in records.items()}


@pytest.mark.slow
def test_parallel_batch_reports_and_feedback(course, ch04):
    before = {p: p.read_bytes() for p in (course / "submitted").rglob("*") if p.is_file()}
    records = _run(course, ch04, jobs=2)
    full = ch04.max_points  # alice solved everything; carol lost layer_norm's 1.5 points
    assert _totals(records) == {"alice": full, "bob": 0.0, "carol": full - 1.5, "dave": None}
    assert "invalid JSON" in records["dave"]["failure"]
    # raw submissions untouched
    assert before == {p: p.read_bytes() for p in (course / "submitted").rglob("*") if p.is_file()}
    csv_path, json_path = batch.write_reports(course, ASSIGNMENT, ch04, records)
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("student,status,failure,total,max_total,"
                              + ",".join(ex.id for ex in ch04.exercises))
    dave = next(r for r in rows if r.startswith("dave,"))
    assert dave.startswith("dave,failed,") and f",{full}," in dave
    assert ",0" not in dave.split(f",{full},")[0]
    assert json.loads(json_path.read_text())["students"]["carol"]["failure"] is None
    folder = batch.write_feedback(course, ASSIGNMENT, ch04, records)
    carol = (folder / "carol.html").read_text()
    assert f"{full - 1.5:g} / {full:g}" in carol and "unbiased variance" in carol
    assert "Not graded" in (folder / "dave.html").read_text()
    table = batch.summary(records, ch04)
    assert "graded: 3   failed to grade: 1" in table and "dave:" in table


@pytest.mark.slow
def test_rerun_reuses_finished_work_and_regrade_is_identical(course, ch04):
    first = _run(course, ch04, jobs=1)
    stamp = {s: (batch.results_dir(course, ASSIGNMENT) / f"{s}.json").stat().st_mtime_ns
             for s in ("alice", "bob", "carol")}
    second = _run(course, ch04, jobs=1)
    assert all(second[s].get("reused") for s in ("alice", "bob", "carol"))
    assert not second["dave"].get("reused")  # failures are always retried
    assert stamp == {s: (batch.results_dir(course, ASSIGNMENT) / f"{s}.json").stat().st_mtime_ns
                     for s in stamp}
    third = _run(course, ch04, ("alice", "carol"), jobs=2, regrade=True)
    assert not any(r.get("reused") for r in third.values())
    for s in ("alice", "carol"):  # same code, same notebooks: identical verdicts
        assert third[s]["notebooks"] == first[s]["notebooks"]
    # a changed notebook is regraded even without --regrade
    nb = course / "submitted" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb.write_text(nb.read_text().replace("torch.manual_seed(0)", "torch.manual_seed(1)"))
    fourth = _run(course, ch04, jobs=1)
    assert not fourth["alice"].get("reused") and fourth["carol"].get("reused")


@pytest.mark.slow
def test_a_batch_killed_halfway_loses_nothing(course, ch04):
    script = (
        "import sys; from pathlib import Path; from autograder import batch;"
        "from autograder.chapters import get_chapter;"
        f"root = Path({str(course)!r});"
        f"folders = {{p.parent.name: p for p in sorted((root / 'submitted').glob('*/{ASSIGNMENT}'))}};"
        f"batch.grade_all(root, {ASSIGNMENT!r}, get_chapter('ch04'), folders, [{ASSIGNMENT!r}], jobs=1)"
    )
    store = batch.results_dir(course, ASSIGNMENT)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(store.glob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole batch dies, mid-way through the class
    proc.wait()
    done = {p.name: p.read_bytes() for p in store.glob("*.json")}
    assert 1 <= len(done) < 4, "the kill should land after the first result and before the last"
    for content in done.values():  # atomic writes: every result on disk is complete
        assert json.loads(content)["version"] == batch.RESULT_VERSION
    records = _run(course, ch04, jobs=1)
    for name, content in done.items():  # finished work is reused as it was, not regraded
        student = name.removesuffix(".json")
        if records[student]["failure"] is None:
            assert records[student].get("reused")
            assert (store / name).read_bytes() == content
    full = ch04.max_points  # alice solved everything; carol lost layer_norm's 1.5 points
    assert _totals(records) == {"alice": full, "bob": 0.0, "carol": full - 1.5, "dave": None}


def test_held_exercises_in_summary_reports_and_feedback(tmp_path, ch04):
    """A held exercise (autograder/review.py flagged its answer cell) is listed per student with
    its flagged lines; the student's feedback only says it is held."""
    finding = "line 1: `import threading` — starts a thread: ..."
    rows = [{"id": ex.id, "name": ex.name, "points": ex.points, "max_points": ex.points,
             "passed": True, "messages": ["all cases passed"], "ungraded": False,
             "held_for_review": ex.id == "ch04.softmax",
             "review": [finding] if ex.id == "ch04.softmax" else []} for ex in ch04.exercises]
    records = {"alice": {"student": "alice", "failure": None,
                         "notebooks": {ASSIGNMENT: {"exercises": rows}}},
               "bob": {"student": "bob", "failure": None, "notebooks": {ASSIGNMENT: {
                   "exercises": [r | {"held_for_review": False, "review": []} for r in rows]}}}}
    table = batch.summary(records, ch04)
    assert "HELD FOR REVIEW (1 student(s))" in table
    assert "  alice: softmax" in table and f"      {finding}" in table and "bob:" not in table
    csv_path, json_path = batch.write_reports(tmp_path, ASSIGNMENT, ch04, records)
    header, alice, bob = csv_path.read_text(encoding="utf-8").splitlines()
    assert header.endswith(",held_for_review")
    assert alice.endswith(f"ch04.softmax: {finding}") and bob.endswith(",")
    assert json.loads(json_path.read_text())["held_for_review"] == {
        "alice": {"ch04.softmax": [finding]}}
    html = batch.feedback_html(records["alice"], ch04)
    assert "held for review by your instructor" in html and "import threading" not in html
    assert "held for review" not in batch.feedback_html(records["bob"], ch04)


def test_job_folders_of_killed_graders_are_removed(tmp_path, monkeypatch):
    """A grader killed before its cleanup leaves students' code in the temp dir: the next batch
    removes the folders whose process is gone, and only those."""
    import tempfile

    from autograder import runner

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{runner.JOB_PREFIX}{dead.pid}-abc"
    (stale / "in").mkdir(parents=True)
    (stale / "in" / "job.bin").write_bytes(b"student code")
    running = tmp_path / f"{runner.JOB_PREFIX}{os.getpid()}-def"
    running.mkdir()
    other = tmp_path / "llmcourse-build-xyz"
    other.mkdir()
    assert runner.remove_stale_job_dirs() == 1
    assert not stale.exists() and running.exists() and other.exists()


def test_feedback_leads_with_the_likely_mistake_and_says_shared_notes_once():
    from autograder.chapters import get_chapter

    note = "CUDA cases: ungraded on this machine (no CUDA device); graded on CPU only"
    ex = lambda name, passed, messages: {  # noqa: E731
        "id": f"ch04.{name}", "name": name, "points": 1.0 if passed else 0.0, "max_points": 1.0,
        "passed": passed, "messages": messages}
    rec = {"student": "alice", "failure": None, "warnings": ["not graded: extra.ipynb"],
           "notebooks": {"nb": {"exercises": [
               ex("softmax", True, [note]),
               ex("dot_product_variance", True, ["equal at 40 points"]),  # read, not run: no note
               ex("layer_norm", False, ["case 3 (float64, (2, 5)): max error 0.2", note,
                                        "likely mistake: unbiased variance. use 1/N"])]}}}
    page = batch.feedback_html(rec, get_chapter("ch04"))
    assert page.count(note) == 1 and "not graded: extra.ipynb" in page
    assert page.index("likely mistake") < page.index("case 3")
    assert "<title>Chapter 4: " in page
