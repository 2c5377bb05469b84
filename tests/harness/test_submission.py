"""Reading submissions: answer cells by trusted id, a fallback for lost metadata, clear errors."""

from __future__ import annotations

import json

import nbformat
import pytest

from autograder.chapters import all_chapters
from autograder.submission import SubmissionError, detect_chapter, extract, read_notebook


def test_answer_cells_are_found_by_their_nbgrader_id(ch04, ch04_release):
    sub = extract(json.loads(nbformat.writes(ch04_release)), ch04)
    assert [c["id"] for c in sub.cells] == [ex.answer_cell_id for ex in ch04.exercises]
    assert all(len(sub.exercise_cells[ex.id]) == 1 for ex in ch04.exercises)


def test_lost_metadata_falls_back_to_definitions(ch04, ch04_release):
    nb = json.loads(nbformat.writes(ch04_release))
    for cell in nb["cells"]:
        cell["metadata"] = {}
    sub = extract(nb, ch04)
    assert all(sub.exercise_cells[ex.id] for ex in ch04.exercises)
    assert detect_chapter(nb, all_chapters(), "renamed.ipynb") is ch04


def test_tampered_test_cells_are_ignored(ch04, ch04_release):
    nb = json.loads(nbformat.writes(ch04_release))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            cell["source"] = "print('all tests passed')"
            cell["metadata"]["nbgrader"]["points"] = 1000
    sub = extract(nb, ch04)
    assert all("all tests passed" not in c["source"] for c in sub.cells)


@pytest.mark.parametrize("content,match", [
    (b"{not json", "invalid JSON"),
    (b"[]", "no 'cells' list"),
    (b"\xff\xfe", "invalid JSON"),
], ids=["broken-json", "not-a-notebook", "binary"])
def test_unreadable_notebooks_raise_one_line_errors(tmp_path, content, match):
    p = tmp_path / "bad.ipynb"
    p.write_bytes(content)
    with pytest.raises(SubmissionError, match=match) as err:
        read_notebook(p)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(SubmissionError, match="no such notebook"):
        read_notebook(tmp_path / "nope.ipynb")
