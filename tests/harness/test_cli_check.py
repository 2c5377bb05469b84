"""`llmcourse check`: the contract external tools rely on (table, --json schema, exit codes).

Most runs call the command's ``main`` in this process (it grades out of process all the same);
the bundled sample's table and the solution's JSON go through ``python -m autograder.cli``, as
the README's commands do, so that nothing but the table or one JSON object reaches stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder import cli
from autograder.build import ROOT, output_paths
from autograder.grade import grade_notebook

JSON_KEYS = {"notebook", "total", "max_total", "ungraded_points", "exercises"}
EXERCISE_KEYS = {"id", "name", "points", "max_points", "passed", "messages", "ungraded",
                 "held_for_review", "review"}


def _check_command(*args):
    """`llmcourse check ARGS` in a new Python process."""
    return subprocess.run([sys.executable, "-m", "autograder.cli", "check", *args],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.slow
def test_solution_gets_full_marks_as_json(ch04):
    proc = _check_command(str(output_paths(ch04)[1]), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert set(out) == JSON_KEYS
    assert out["total"] == out["max_total"] == ch04.max_points
    assert [e["id"] for e in out["exercises"]] == [ex.id for ex in ch04.exercises]
    for e in out["exercises"]:
        assert set(e) == EXERCISE_KEYS and e["passed"] and e["points"] == e["max_points"]
        assert not e["held_for_review"] and e["review"] == []


@pytest.mark.slow
def test_untouched_release_scores_zero_with_not_implemented(ch04, llmcourse):
    proc = llmcourse("check", str(output_paths(ch04)[0]), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["total"] == 0 and out["max_total"] == ch04.max_points
    for e in out["exercises"]:
        assert not e["passed"] and e["points"] == 0
        assert e["messages"][0].startswith("not implemented")


@pytest.mark.slow
def test_bundled_sample_table_and_json_agree(llmcourse):
    table, as_json = _check_command(), llmcourse("check", "--json")
    assert table.returncode == as_json.returncode == 0, table.stderr
    out = json.loads(as_json.stdout)
    assert 0 < out["total"] < out["max_total"]
    flat = " ".join(table.stdout.split())  # the table wraps long messages
    for e in out["exercises"]:
        assert f"{e['name']} {e['points']:g}/{e['max_points']:g} {'pass' if e['passed'] else 'FAIL'}" in flat
    assert "likely mistake: mask applied after the softmax" in flat
    assert f"total {out['total']:g}/{out['max_total']:g}" in flat
    assert "ungraded on this machine" in flat
    assert table.stderr == ""


@pytest.mark.slow
def test_flagged_answer_cell_is_held_for_review(ch04, make_submission, ch04_solutions,
                                               monkeypatch, llmcourse):
    """A thread in one answer cell: that exercise is graded as usual and held for review, with
    the line and the reason; the others are not held. (Graded once, shown as JSON and as the
    table.)"""
    held = ch04.exercise("ch04.softmax")
    path = make_submission({held.id: "import threading\n" + ch04_solutions[held.id]})
    graded = {}

    def grade_once(notebook, *args, **kwargs):
        if notebook not in graded:
            graded[notebook] = grade_notebook(notebook, *args, **kwargs)
        return graded[notebook]

    monkeypatch.setattr("autograder.grade.grade_notebook", grade_once)  # what check imports
    as_json, table = llmcourse("check", str(path), "--json"), llmcourse("check", str(path))
    assert len(graded) == 1
    assert as_json.returncode == table.returncode == 0, as_json.stderr
    out = json.loads(as_json.stdout)
    for e in out["exercises"]:
        assert set(e) == EXERCISE_KEYS
        if e["id"] == held.id:
            assert e["held_for_review"] and e["passed"] and e["points"] == held.points
            [finding] = e["review"]
            assert finding.startswith("line 1: `import threading` — starts a thread")
        else:
            assert not e["held_for_review"] and e["review"] == [], e
    flat = " ".join(table.stdout.split())
    assert "HELD FOR REVIEW: an instructor reads these lines" in flat
    assert "line 1: `import threading` — starts a thread" in flat
    assert f"HELD FOR REVIEW: {held.name} (" in flat


@pytest.mark.parametrize("content", [None, b"{oops"], ids=["missing", "invalid-json"])
def test_not_a_notebook_is_a_one_line_error(tmp_path, content, llmcourse):
    path = tmp_path / "x.ipynb"
    if content is not None:
        path.write_bytes(content)
    proc = llmcourse("check", str(path), "--json")
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_start_gives_a_work_copy_that_check_finds_by_chapter(ch04, llmcourse, tmp_path,
                                                             monkeypatch):
    """A student's own copy, outside the tracked assignments/: started once, never overwritten,
    and `check ch04` grades it."""
    monkeypatch.setattr(cli, "WORK", tmp_path / "work")
    missing = llmcourse("check", "ch04")
    assert missing.returncode == 2 and "llmcourse start ch04" in missing.stderr
    started = llmcourse("start", "ch04")
    copy = tmp_path / "work" / "ch04_attention" / "ch04_attention.ipynb"
    assert started.returncode == 0 and copy.read_bytes() == output_paths(ch04)[0].read_bytes()
    copy.write_text(copy.read_text().replace("raise NotImplementedError()", "raise NotImplementedError()  # mine"))
    again = llmcourse("start", "ch04")
    assert again.returncode == 0 and "already exists" in again.stdout and "# mine" in copy.read_text()
    checked = llmcourse("check", "ch04", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["notebook"] == str(copy)
    assert llmcourse("start", "ch99").returncode == 2


@pytest.mark.parametrize("argv", [["chapters"], ["chapters", "--json"], ["--help"],
                                  ["check", "ch99"]])
def test_commands_that_list_or_locate_do_not_import_torch(argv):
    """They answer at once: no PyTorch, no chapter module, no grader (a new process, so that
    nothing this test process imported counts)."""
    code = ("import sys\nfrom autograder import cli\ntry:\n    cli.main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'autograder.spec', 'autograder.grade') "
            "if m in sys.modules)\nassert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_a_folder_or_a_python_source_is_told_what_to_pass(tmp_path, llmcourse):
    source = tmp_path / "ch04_attention.py"
    source.write_text("# %%\nx = 1\n")
    for arg, said in ((tmp_path, "is a folder: pass the notebook (.ipynb) inside it"),
                      (source, "is Python source: pass the .ipynb notebook"),
                      ("ch99", "no such notebook file, and no chapter of that name")):
        proc = llmcourse("check", str(arg))
        assert proc.returncode == 2 and said in proc.stderr and proc.stdout == ""


@pytest.mark.slow
def test_a_chapter_forced_on_another_chapters_notebook_is_warned_about(llmcourse):
    appA = ROOT / "solutions" / "appA_math" / "appA_math.ipynb"
    proc = llmcourse("check", str(appA), "--chapter", "appB", "--json")
    assert proc.returncode == 0
    assert "looks like Appendix A's notebook (appA); graded as Appendix B's (appB)" in proc.stderr
    assert "warning" not in llmcourse("check", str(appA), "--chapter", "appA", "--json").stderr
