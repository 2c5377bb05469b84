"""Harness features later chapters rely on, exercised on small synthetic exercises: drivers
(a program around the student's class), Python-number outputs, exact integer outputs, complex
outputs and property checks. Each is run in process and through the worker."""

from __future__ import annotations

import math

import torch

from autograder.cases import prepare
from autograder.inprocess import grade_object
from autograder.runner import run_in_worker
from autograder.spec import Case, CaseBuilder, Chapter, Exercise
from autograder.judge import judge_case, summarize


# ---------------------------------------------------------------- a driver around a class
class Counter:
    def __init__(self, start):
        self.value = start

    def step(self, x):
        self.value = self.value + x
        return self.value


def drive_counter(cls, start, xs):
    c = cls(start)
    return torch.stack([c.step(x) for x in xs])


def _counter_cases(b):
    return [Case("float64 run", [b.randn(3, dtype=torch.float64), b.randn(5, 3, dtype=torch.float64)],
                 {}, torch.float64, public=True)]


COUNTER = Exercise("toy.counter", "Counter", 1.0, Counter, _counter_cases, driver=drive_counter)


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


FLOPS = Exercise("toy.flops", "flops", 1.0, flops,
                 lambda b: [Case("m=3, n=4, k=5", [3, 4, 5], {}, torch.float64, public=True)])
BUCKET = Exercise("toy.bucket", "bucket", 1.0, bucket,
                  lambda b: [Case("x (6,)", [torch.tensor([0.1, 0.2, 0.4, 1.0, 1.3, 2.0],
                                                          dtype=torch.float64)], {}, torch.float64,
                                  public=True)])
ROTATE = Exercise("toy.rotate", "rotate", 1.0, rotate,
                  lambda b: [Case("complex64", [torch.randn(4, dtype=torch.complex64), 0.3], {},
                                  torch.float32, public=True)])
NORMALISE = Exercise("toy.normalise", "normalise", 1.0, normalise,
                     lambda b: [Case("x (3, 4)", [b.randn(3, 4)], {}, torch.float32, public=True,
                                     checks=(_unit_norm,))])


def _grade(ex, impl):
    prepared = [prepare(ex, c, i) for i, c in enumerate(ex.cases(CaseBuilder(ex.id)))]
    return grade_object(impl, ex, prepared)


def test_driver_runs_the_students_class():
    assert _grade(COUNTER, Counter).passed

    class OffByOne(Counter):
        def step(self, x):
            self.value = self.value + x + 1
            return self.value

    assert not _grade(COUNTER, OffByOne).passed


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
    doubling = Exercise("toy.prop", "normalise", 1.0, lambda x: x * 2,
                        lambda b: [Case("x (3, 4)", [b.randn(3, 4)], {}, torch.float32,
                                        public=True, checks=(_unit_norm,))])
    result = _grade(doubling, lambda x: x * 2)
    assert not result.passed
    assert "property violated: rows do not have unit norm" in " ".join(result.messages)


def test_driver_and_numbers_through_the_worker():
    chapter = Chapter("toy", "Toy", "toy/toy.py", [COUNTER, FLOPS])
    plan = [(ex, [prepare(ex, c, i) for i, c in enumerate(ex.cases(CaseBuilder(ex.id)))])
            for ex in chapter.exercises]
    cells = [{"id": "a", "source": "class Counter:\n    def __init__(self, start):\n"
                                  "        self.value = start\n    def step(self, x):\n"
                                  "        self.value = self.value + x\n        return self.value\n"},
             {"id": "b", "source": "def flops(m, n, k):\n    return 2.0 * m * n * k\n"}]
    report = run_in_worker(chapter, cells, plan)
    for ex, prepared in plan:
        verdicts = [judge_case(p, *report.cases[ex.id][p.index]) for p in prepared]
        assert summarize(ex, verdicts).passed, (ex.id, [v.message for v in verdicts])
