"""The hidden tests discriminate: every catalogued mistake of Chapter 4 loses its exercise's
points and is named in the feedback; every alternative correct implementation gets full marks;
the reference itself passes. (In-process: the verdict code is the same as out of process.)"""

from __future__ import annotations

import warnings

import pytest

from autograder.chapters import get_chapter
from autograder.inprocess import grade_object

CHAPTER = get_chapter("ch04")
MISTAKES = [(ex.id, m) for ex in CHAPTER.exercises for m in ex.mistakes]
ALTERNATIVES = [(ex.id, a) for ex in CHAPTER.exercises for a in ex.alternatives]


@pytest.mark.parametrize("ex_id", [ex.id for ex in CHAPTER.exercises])
def test_reference_gets_full_marks(ch04_plan, ex_id):
    ex, prepared = ch04_plan[ex_id]
    result = grade_object(ex.reference, ex, prepared)
    assert result.passed, result.messages
    assert result.points == ex.points


@pytest.mark.parametrize("ex_id,mistake", MISTAKES, ids=[f"{e}-{m.key}" for e, m in MISTAKES])
def test_mistake_is_caught_and_named(ch04_plan, ex_id, mistake):
    ex, prepared = ch04_plan[ex_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = grade_object(mistake.impl, ex, prepared)
    assert not result.passed and result.points == 0
    named = [m for m in result.messages if m.startswith("likely mistake:")]
    assert named == [f"likely mistake: {mistake.title}. {mistake.hint}"], result.messages


@pytest.mark.parametrize("ex_id,impl", ALTERNATIVES, ids=[f"{e}-{a.__name__}" for e, a in ALTERNATIVES])
def test_alternative_gets_full_marks(ch04_plan, ex_id, impl):
    ex, prepared = ch04_plan[ex_id]
    result = grade_object(impl, ex, prepared)
    assert result.passed, result.messages
    assert result.points == ex.points


def test_every_exercise_has_a_catalog():
    for ex in CHAPTER.exercises:
        assert len(ex.mistakes) >= 3, f"{ex.id}: fewer than 3 catalogued mistakes"
        assert len(ex.alternatives) >= 1, f"{ex.id}: no alternative correct implementation"
        assert len({m.key for m in ex.mistakes}) == len(ex.mistakes)


def test_no_mistake_is_named_for_a_correct_answer(ch04_plan):
    """A correct implementation must never be told it 'looks like' a mistake."""
    for ex_id, (ex, prepared) in ch04_plan.items():
        result = grade_object(ex.reference, ex, prepared)
        assert not any(m.startswith("likely mistake") for m in result.messages)
