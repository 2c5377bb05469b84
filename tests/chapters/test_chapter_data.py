"""Chapters are data: keyword-only declarations, mistakes as patches that apply exactly once,
stand-ins and drivers that exist in the grading library, catalogs that keep their size."""

from __future__ import annotations

import ast
import re
import dataclasses
import sys
from pathlib import Path

import pytest
from alternatives import ALTERNATIVES

from autograder import baked, gradelib
from autograder.chapters import all_chapters
from autograder.derivation import reference_formula
from autograder.symbolic import answer_expression, random_points
from autograder.spec import Case, Chapter, Exercise, Kind, Mistake, apply_patch

CHAPTERS = all_chapters()
EXERCISES = [ex for ch in CHAPTERS.values() for ex in ch.exercises]
PATCHED = [(ex, m) for ex in EXERCISES for m in ex.mistakes if m.patch]
GRADELIB = Path(gradelib.__file__).parent
# The catalogs may grow, never shrink: what issue 12 found when it turned them into data.
MIN_MISTAKES, MIN_ALTERNATIVES = 270, 111


def test_catalog_sizes():
    mistakes = sum(len(ex.mistakes) for ex in EXERCISES)
    alternatives = sum(len(ALTERNATIVES.get(ex.id, ())) for ex in EXERCISES)
    print(f"{len(CHAPTERS)} chapters, {len(EXERCISES)} exercises: {mistakes} catalogued "
          f"mistakes ({len(PATCHED)} as patches), {alternatives} alternatives")
    assert mistakes >= MIN_MISTAKES and alternatives >= MIN_ALTERNATIVES


@pytest.mark.parametrize("cls", [Case, Mistake, Exercise, Chapter], ids=lambda c: c.__name__)
def test_declarations_are_keyword_only(cls):
    assert all(f.kw_only for f in dataclasses.fields(cls) if f.init), \
        f"{cls.__name__} takes positional arguments"


@pytest.mark.parametrize("ex,mistake", PATCHED, ids=[f"{e.id}-{m.key}" for e, m in PATCHED])
def test_patch_applies_exactly_once_and_defines_the_exercise(ex, mistake):
    solution = CHAPTERS[ex.id.split(".")[0]].solution(ex.id)
    source = mistake.source
    assert source != solution
    for old, new in mistake.patch.items():
        assert solution.count(old) == 1, f"{old!r} occurs {solution.count(old)} times"
    if ex.kind is Kind.SYMBOLIC:  # a formula: read back, and not the reference's
        symbols = ex.derivation.symbol_table()
        formula = answer_expression(mistake.impl.source, ex.name, symbols)
        assert not random_points(formula, reference_formula(ex), symbols,
                                 ex.derivation.domains).ok
    else:
        assert callable(mistake.impl) and mistake.impl.__name__ == ex.name


def test_a_patch_that_does_not_apply_says_so():
    with pytest.raises(ValueError, match="occurs 0 times"):
        apply_patch("x = 1\n", {"y = 2": "y = 3"}, "demo")
    with pytest.raises(ValueError, match="occurs 2 times"):
        apply_patch("x = 1\nx = 1\n", {"x = 1": "x = 2"}, "demo")


def test_a_mistake_is_a_patch_or_a_function():
    with pytest.raises(ValueError):
        Mistake(key="k", title="t", hint="h")
    with pytest.raises(ValueError):
        Mistake(key="k", title="t", hint="h", fn=len, patch={"a": "b"})


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_standins_and_drivers_are_registered_and_named_like_what_they_replace(ex):
    assert isinstance(ex.kind, Kind)
    for key in ex.standins:
        assert key in gradelib.STANDINS
        chapter_id, name = key.split(".", 1)
        try:
            name = CHAPTERS[chapter_id].exercise(key).name
        except KeyError:  # not an exercise: a name that chapter's given cells define
            given = baked.load(chapter_id).given
            assert any(re.search(rf"^(class|def) {name}\b", src, re.M) for src in given), key
        assert gradelib.STANDINS[key].__name__ == name
    if ex.driver is not None:
        assert isinstance(ex.driver, str) and ex.driver in gradelib.DRIVERS


@pytest.mark.parametrize("path", sorted(GRADELIB.glob("*.py")), ids=lambda p: p.name)
def test_gradelib_imports_only_torch_the_standard_library_and_itself(path):
    """It runs in the sandbox beside the student's code, where nothing else of ours exists."""
    allowed = set(sys.stdlib_module_names) | {"torch", "__future__"}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
