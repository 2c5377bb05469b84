"""Out of process, through a real notebook: catalogued mistakes cost exactly their exercises'
points — every other exercise keeps full marks, including those that call a wrong one (graded with
a built-in standing in for it).

Three notebooks cover every exercise's first mistake and every dependency of Chapter 4 (an
exercise's stand-ins) with the exercise it depends on wrong and itself right: softmax is wrong
while attention, multi-head attention and the kernel smoother are right; attention is wrong while
multi-head attention is right."""

from __future__ import annotations

import pytest

from autograder.chapters import get_chapter
from autograder.grade import grade_notebook

CH04 = get_chapter("ch04")
GROUPS = [("ch04.softmax", "ch04.softmax_jacobian", "ch04.rms_norm", "ch04.dot_product_variance"),
          ("ch04.scaled_dot_product_attention", "ch04.layer_norm", "ch04.kernel_smoother",
           "ch04.self_score_variance"),
          ("ch04.multi_head_attention",)]


def test_groups_cover_every_exercise_and_dependency():
    assert sorted(i for g in GROUPS for i in g) == sorted(ex.id for ex in CH04.exercises)
    for ex in CH04.exercises:
        for dep in ex.standins:
            assert any(dep in g and ex.id not in g for g in GROUPS), (ex.id, dep)


@pytest.mark.slow
@pytest.mark.parametrize("wrong", GROUPS, ids=lambda g: "+".join(i.split(".")[1] for i in g))
def test_mistakes_cost_only_their_exercises(wrong, make_submission):
    mistakes = {ex_id: CH04.exercise(ex_id).mistakes[0] for ex_id in wrong}
    result = grade_notebook(str(make_submission({i: m.impl for i, m in mistakes.items()})), "ch04")
    for e in result.exercises:
        if e.id in mistakes:
            assert e.points == 0
            assert f"likely mistake: {mistakes[e.id].title}. {mistakes[e.id].hint}" in e.messages
        else:
            assert e.passed and e.points == e.max_points, (e.id, e.messages)
