"""The hidden tests discriminate, for every registered chapter: each catalogued mistake loses its
exercise's points and is named in the feedback; each alternative correct implementation gets full
marks; the reference itself passes. (In process: the verdict code is the one used out of process.)"""

from __future__ import annotations

import alternatives
import pytest
import torch

from autograder.chapters import all_chapters
from autograder.spec import missing_requirements

CHAPTERS = all_chapters()
EXERCISES = [ex for ch in CHAPTERS.values() for ex in ch.exercises]
EXERCISE = {ex.id: ex for ex in EXERCISES}
MISTAKES = [(ex.id, m) for ex in EXERCISES for m in ex.mistakes]
ALTERNATIVES = [(ex.id, a) for ex in EXERCISES for a in alternatives.ALTERNATIVES.get(ex.id, ())]


@pytest.fixture
def grade(grade_inprocess):
    """``grade(ex_id, impl)`` -> (exercise, result), on the devices the exercise is graded on."""
    def grade(ex_id, impl):
        ex = EXERCISE[ex_id]
        missing = missing_requirements(ex.requires)
        if missing:  # reported as skipped, never as passed; test_triton.py covers it on CPU
            pytest.skip(f"ungraded on this machine: needs {' and '.join(missing)}")
        on_gpu = "cuda" in ex.requires and torch.cuda.is_available()  # else Triton's interpreter
        return ex, grade_inprocess(ex_id, impl, devices=("cuda",) if on_gpu else ("cpu",))
    return grade


@pytest.mark.parametrize("ex_id", [ex.id for ex in EXERCISES])
def test_reference_gets_full_marks_and_no_mistake_is_named(grade, ex_id):
    ex, result = grade(ex_id, EXERCISE[ex_id].reference)
    assert result.passed and result.points == ex.points, result.messages
    assert not any(m.startswith("likely mistake") for m in result.messages)


@pytest.mark.parametrize("ex_id,mistake", MISTAKES, ids=[f"{e}-{m.key}" for e, m in MISTAKES])
def test_mistake_is_caught_and_named(grade, ex_id, mistake):
    ex, result = grade(ex_id, mistake.impl)
    assert not result.passed and result.points == 0
    named = [m for m in result.messages if m.startswith("likely mistake:")]
    assert named == [f"likely mistake: {mistake.title}. {mistake.hint}"], result.messages


@pytest.mark.parametrize("ex_id,impl", ALTERNATIVES, ids=[f"{e}-{a.__name__}" for e, a in ALTERNATIVES])
def test_alternative_gets_full_marks(grade, ex_id, impl):
    ex, result = grade(ex_id, impl)
    assert result.passed and result.points == ex.points, result.messages


@pytest.mark.parametrize("ex_id", [ex.id for ex in EXERCISES])
def test_every_exercise_has_a_catalog(ex_id):
    """A declaration check, made on every machine (it needs no cases)."""
    ex = EXERCISE[ex_id]
    assert len(ex.mistakes) >= 3, f"{ex.id}: fewer than 3 catalogued mistakes"
    assert alternatives.ALTERNATIVES.get(ex.id), f"{ex.id}: no alternative correct implementation"
    assert len({m.key for m in ex.mistakes}) == len(ex.mistakes)
