"""Reading a submitted notebook: which chapter it is, and the source of its answer cells.

Nothing else in a submission is trusted: test cells, points and other metadata are ignored (they
come from ``course/`` and the chapter's declarations). Answer cells are found by the nbgrader cell
id the build gave them; a notebook whose metadata was lost (e.g. the student pasted the code into a
fresh notebook) falls back to the code cells that define an exercise's name.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from autograder.spec import Chapter

MAX_NOTEBOOK_BYTES = 50 << 20


class SubmissionError(Exception):
    """The path is not a readable notebook (one line, shown to the user)."""


@dataclass
class Submission:
    path: str
    chapter: Chapter
    cells: list[dict]  # [{"id": str, "source": str}] in notebook order
    exercise_cells: dict  # exercise id -> indices into ``cells`` that were meant for it


def read_notebook(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise SubmissionError(f"{path}: no such notebook file")
    if p.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"{path}: larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    try:
        nb = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SubmissionError(f"{path}: not a notebook (invalid JSON: {e})") from None
    except OSError as e:
        raise SubmissionError(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError(f"{path}: not a Jupyter notebook (no 'cells' list)")
    return nb


def _source(cell) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else None


def defined_names(source: str) -> set[str]:
    """Functions, classes and plainly assigned names (``x = ...``) a cell defines at its top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return names | {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}


def detect_chapter(nb: dict, chapters: dict[str, Chapter], path: str = "") -> Chapter:
    ids = {_grade_id(c) for c in nb["cells"]}
    best = max(chapters.values(),
               key=lambda ch: sum(ex.answer_cell_id in ids for ex in ch.exercises))
    if any(ex.answer_cell_id in ids for ex in best.exercises):
        return best
    for ch in chapters.values():
        if Path(path).stem.startswith(ch.notebook_stem) or Path(path).stem.startswith(ch.id):
            return ch
    names = set().union(*(defined_names(_source(c)) for c in nb["cells"] if c.get("cell_type") == "code"))
    best = max(chapters.values(), key=lambda ch: sum(ex.name in names for ex in ch.exercises))
    if any(ex.name in names for ex in best.exercises):
        return best
    raise SubmissionError(f"{path}: cannot tell which assignment this notebook belongs to "
                          "(no answer cells found); pass --chapter")


def owning_chapter(nb: dict, chapter: Chapter, chapters: dict[str, Chapter]) -> Chapter | None:
    """Another of ``chapters`` whose notebook this is, when it has answer cells of that chapter
    and none of ``chapter``'s (a ch06 notebook handed in as ch04 would otherwise be graded on the
    names its cells happen to define); None when it is ``chapter``'s or cannot be told."""
    ids = {_grade_id(c) for c in nb["cells"]}
    if any(ex.answer_cell_id in ids for ex in chapter.exercises):
        return None
    owners = [ch for ch in chapters.values()
              if ch.id != chapter.id and any(ex.answer_cell_id in ids for ex in ch.exercises)]
    return max(owners, key=lambda ch: sum(ex.answer_cell_id in ids for ex in ch.exercises),
               default=None)


def extract(nb: dict, chapter: Chapter, path: str = "") -> Submission:
    code_cells = [c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    wanted = {ex.answer_cell_id: ex.id for ex in chapter.exercises}
    cells, exercise_cells = [], {ex.id: [] for ex in chapter.exercises}
    for c in code_cells:
        gid = _grade_id(c)
        if gid in wanted:
            exercise_cells[wanted[gid]].append(len(cells))
            cells.append({"id": gid, "source": _source(c)})
    missing = [ex for ex in chapter.exercises if not exercise_cells[ex.id]]
    if missing:  # metadata lost: take the code cells that define the missing names
        taken = {cells[i]["source"] for idx in exercise_cells.values() for i in idx}
        for n, c in enumerate(code_cells):
            src = _source(c)
            defined = defined_names(src)
            hits = [ex for ex in missing if ex.name in defined]
            if hits and src not in taken:
                for ex in hits:
                    exercise_cells[ex.id].append(len(cells))
                cells.append({"id": f"code_cell_{n}", "source": src})
                taken.add(src)
    return Submission(str(path), chapter, cells, exercise_cells)
