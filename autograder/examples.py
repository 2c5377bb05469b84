"""Submissions made from the catalogs: the bundled sample, and what the platform's tests grade.

``answer_source`` turns a catalog implementation (a mistake or an alternative) into the text of an
answer cell; ``fill_answers`` writes such texts into a released student notebook, exactly where a
student would type.
"""

from __future__ import annotations

import copy
import inspect
import textwrap
from pathlib import Path

import nbformat

from autograder.build import output_paths, read_source, role, solution_notebook
from autograder.chapters import get_chapter
from autograder.spec import Chapter

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PATH = ROOT / "examples" / "ch04_sample_submission.ipynb"


def _helpers(fn, seen: set) -> list:
    """Private module-level functions/classes that ``fn`` uses, dependencies first."""
    module = inspect.getmodule(fn)
    code = getattr(fn, "__code__", None)
    names = set(code.co_names) if code else set()
    if inspect.isclass(fn):
        for member in vars(fn).values():
            if inspect.isfunction(member):
                names |= set(member.__code__.co_names)
    out = []
    for name in sorted(names):
        obj = getattr(module, name, None)
        if (name.startswith("_") and obj is not None and name not in seen
                and (inspect.isfunction(obj) or inspect.isclass(obj))
                and inspect.getmodule(obj) is module):
            seen.add(name)
            out += _helpers(obj, seen) + [obj]
    return out


def answer_source(impl, name: str) -> str:
    """Self-contained answer-cell text that defines ``name`` as the catalog's ``impl`` (a patched
    mistake's impl carries its own text)."""
    if hasattr(impl, "__llmcourse_source__"):
        return impl.__llmcourse_source__
    parts = [textwrap.dedent(inspect.getsource(h)) for h in _helpers(impl, {impl.__name__})]
    parts.append(textwrap.dedent(inspect.getsource(impl)))
    if impl.__name__ != name:
        parts.append(f"{name} = {impl.__name__}\n")
    return "\n\n".join(p.rstrip() + "\n" for p in parts)


def fill_answers(release_nb, chapter: Chapter, answers: dict[str, str]):
    """A copy of the released notebook with the answer cells of ``answers`` (exercise id → text)
    replaced, as a student would have typed them."""
    nb = copy.deepcopy(release_nb)
    by_cell = {ex.answer_cell_id: ex.id for ex in chapter.exercises}
    for cell in nb.cells:
        ex_id = by_cell.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if ex_id in answers:
            cell.source = answers[ex_id]
    return nb


def solution_answers(chapter: Chapter) -> dict[str, str]:
    """Exercise id → the answer-cell text of the solution (markers removed)."""
    nb = solution_notebook(read_source(chapter), chapter)
    return {role(c)["exercise"]: c.source for c in nb.cells if role(c).get("role") == "answer"}


def sample_submission():
    """The bundled example: a plausible student's notebook with some right and some wrong answers,
    one exercise left undone."""
    chapter = get_chapter("ch04")
    answers = solution_answers(chapter)
    for ex_id, mistake_key in (("ch04.scaled_dot_product_attention", "mask_after_softmax"),
                               ("ch04.layer_norm", "unbiased_variance")):
        ex = chapter.exercise(ex_id)
        answers[ex_id] = answer_source(ex.mistake(mistake_key).impl, ex.name)
    del answers["ch04.kernel_smoother"]  # not attempted
    release = nbformat.read(output_paths(chapter)[0], as_version=4)
    return fill_answers(release, chapter, answers)


def write_sample(path: Path = SAMPLE_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(sample_submission(), path)
    return path
