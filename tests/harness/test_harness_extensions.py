"""Harness features later chapters rely on, exercised on small synthetic exercises: a driver of
the grading library (a program around the student's code), Python-number outputs, exact integer outputs, complex
outputs and property checks. Each is run in process and through the worker."""

from __future__ import annotations

import math

import torch

from autograder.cases import prepare
from autograder.inprocess import grade_object
from autograder.runner import run_in_worker
from autograder.spec import Case, CaseBuilder, Chapter, Exercise
from autograder.judge import judge_case, summarize


# ---------------------------------------------------------------- a driver from the grading library
def count_pairs(n, k):
    """Ordered pairs drawn from n items, k at a time, repeated: a count, so an exact int."""
    return n * (n - 1) * k


def _count_cases(b):
    like = torch.zeros((), dtype=torch.float64)
    return [Case(name="n=5, k=3", args=[like, 5, 3], dtype=torch.float64, public=True),
            Case(name="n=2, k=7", args=[like, 2, 7], dtype=torch.float64)]


COUNT = Exercise(id="toy.count", name="count_pairs", points=1.0, reference=count_pairs,
                 cases=_count_cases, driver="drive_count")


# ---------------------------------------------------------------- numbers, ints, complex, properties
def flops(m, n, k):
    return 2 * m * n * k


def bucket(x):
    return (x.abs() * 3).long()


def rotate(x, theta):
    return x * complex(math.cos(theta), math.sin(theta))


def normalise(x):
    return x / x.norm(dim=-1, keepdim=True)


def _unit_norm(outputs, case):
    err = float((outputs[0].double().norm(dim=-1) - 1).abs().max())
    return None if err < 1e-4 else f"rows do not have unit norm (max deviation {err:.2g})"


def _toy(ex_id, fn, *cases):
    return Exercise(id=ex_id, name=fn.__name__, points=1.0, reference=fn,
                    cases=lambda b: [case(b) for case in cases])


FLOPS = _toy("toy.flops", flops, lambda b: Case(name="m=3, n=4, k=5", args=[3, 4, 5],
                                                dtype=torch.float64, public=True))
BUCKET = _toy("toy.bucket", bucket, lambda b: Case(
    name="x (6,)", args=[torch.tensor([0.1, 0.2, 0.4, 1.0, 1.3, 2.0], dtype=torch.float64)],
    dtype=torch.float64, public=True))
ROTATE = _toy("toy.rotate", rotate, lambda b: Case(
    name="complex64", args=[torch.randn(4, dtype=torch.complex64), 0.3], public=True))
NORMALISE = _toy("toy.normalise", normalise, lambda b: Case(
    name="x (3, 4)", args=[b.randn(3, 4)], public=True, checks=(_unit_norm,)))


def _grade(ex, impl):
    prepared = [prepare(ex, c, i) for i, c in enumerate(ex.cases(CaseBuilder(ex.id)))]
    return grade_object(impl, ex, prepared)


def test_a_registered_driver_runs_the_students_function():
    assert _grade(COUNT, count_pairs).passed
    assert not _grade(COUNT, lambda n, k: n * n * k).passed
    result = _grade(COUNT, lambda n, k: n * (n - 1) * k / 1)  # a float: not a count
    assert not result.passed and "must return a Python int" in " ".join(result.messages)


def test_python_numbers_compare_as_counts():
    assert _grade(FLOPS, flops).passed
    assert _grade(FLOPS, lambda m, n, k: float(2 * m * n * k)).passed  # 120.0 == 120
    result = _grade(FLOPS, lambda m, n, k: m * n * k)
    assert not result.passed and "expected 120" in " ".join(result.messages)


def test_integer_outputs_must_be_exact():
    assert _grade(BUCKET, bucket).passed
    result = _grade(BUCKET, lambda x: (x.abs() * 3).round().long())  # rounds 0.6 up, 3.9 up
    assert not result.passed and "got 1, expected 0" in " ".join(result.messages)


def test_complex_outputs():
    assert _grade(ROTATE, rotate).passed
    result = _grade(ROTATE, lambda x, theta: x * complex(math.cos(theta), -math.sin(theta)))
    assert not result.passed
    assert not _grade(ROTATE, lambda x, theta: (x * complex(math.cos(theta), math.sin(theta))).real).passed


def test_property_checks_run_on_the_students_outputs():
    assert _grade(NORMALISE, normalise).passed
    # An exercise whose (deliberately odd) reference violates the property: the student matches
    # the reference exactly, so only the property check can fail it.
    doubling = Exercise(id="toy.prop", name="normalise", points=1.0, reference=lambda x: x * 2,
                        cases=lambda b: [Case(name="x (3, 4)", args=[b.randn(3, 4)], public=True,
                                              checks=(_unit_norm,))])
    result = _grade(doubling, lambda x: x * 2)
    assert not result.passed
    assert "property violated: rows do not have unit norm" in " ".join(result.messages)


def test_a_wrong_element_is_explained_by_the_case():
    """``Case.explain`` names what stands behind the worst element (here: the input row)."""
    rows = ["alpha", "beta", "gamma"]
    ex = Exercise(id="toy.explain", name="lengths", points=1.0,
                  reference=lambda words: torch.tensor([float(len(w)) for w in words]),
                  cases=lambda b: [Case(name="3 words", args=[rows], dtype=torch.float64,
                                        explain=lambda where, case: f"word {case.args[0][where[0]]!r}")])
    result = _grade(ex, lambda words: torch.tensor([5.0, 4.0, 6.0]))
    assert not result.passed
    assert "for word 'gamma'" in " ".join(result.messages)


def test_driver_and_numbers_through_the_worker():
    chapter = Chapter(id="toy", title="Toy", notebook="toy/toy.py", exercises=[COUNT, FLOPS])
    plan = [(ex, [prepare(ex, c, i) for i, c in enumerate(ex.cases(CaseBuilder(ex.id)))])
            for ex in chapter.exercises]
    cells = [{"id": "a", "source": "def count_pairs(n, k):\n    return n * (n - 1) * k\n"},
             {"id": "b", "source": "def flops(m, n, k):\n    return 2.0 * m * n * k\n"}]
    report = run_in_worker(chapter, cells, plan)
    for ex, prepared in plan:
        verdicts = [judge_case(p, *report.cases[ex.id][p.index]) for p in prepared]
        assert summarize(ex, verdicts).passed, (ex.id, [v.message for v in verdicts])
