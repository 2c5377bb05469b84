"""Out of process, through a real notebook: a catalogued mistake in one exercise costs exactly
that exercise's points — every other exercise (including those that call it) keeps full marks."""

from __future__ import annotations

import pytest

from autograder.chapters import get_chapter
from autograder.grade import grade_notebook

CH04 = get_chapter("ch04")


@pytest.mark.slow
@pytest.mark.parametrize("ex", CH04.exercises, ids=[e.id for e in CH04.exercises])
def test_one_mistake_costs_only_its_exercise(ex, make_submission):
    mistake = ex.mistakes[0]
    result = grade_notebook(str(make_submission({ex.id: mistake.impl})), "ch04")
    for e in result.exercises:
        if e.id == ex.id:
            assert e.points == 0
            assert f"likely mistake: {mistake.title}. {mistake.hint}" in e.messages
        else:
            assert e.passed and e.points == e.max_points, (e.id, e.messages)
