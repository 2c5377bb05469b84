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

    monkeypatch.setattr(cli, "grade_notebook", grade_once)
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
