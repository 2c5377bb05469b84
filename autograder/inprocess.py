"""Grading a Python object directly, in the current process.

Used where the student's code already lives in this process: the notebook self-check, nbgrader's
in-kernel hidden tests, and the platform's own tests of the catalogs. The verdicts are computed by
the same ``invoke``/``judge`` code as the out-of-process grader, so scores agree — but nothing here
resists tampering (see README, "Which path to trust").
"""

from __future__ import annotations

from autograder.cases import Prepared, exercise_job, to_wire
from autograder.derivation import grade_answer
from autograder.judge import CaseVerdict, ExerciseResult, judge_case, summarize
from autograder.protocol import add_forbidden_ops
from autograder.spec import Exercise, Kind
from autograder.worker import exercise_monitor, run_case, with_standins


def verdicts_for(target, ex: Exercise, prepared: list[Prepared]) -> list[CaseVerdict]:
    job = exercise_job(ex)
    reports = []
    driver = ex.driver_fn
    if target is not None:
        target = with_standins(target, ex.standin_objects())
    monitor = exercise_monitor(job)
    with monitor:
        for p in prepared:
            tensors: list = []
            spec = to_wire(p.case, p.index, tensors, grad_outputs=p.grad_outputs)
            if target is None:
                header, outs = {"status": "missing", "message": f"'{ex.name}' is not defined"}, []
            else:
                header, outs = run_case(target, job, spec, tensors, driver, monitor=monitor)
            reports.append((p, header, [o.detach().cpu() for o in outs]))
    return [judge_case(p, add_forbidden_ops(header, monitor.ops_by_case.get(p.index, [])), outs)
            for p, header, outs in reports]


def grade_object(target, ex: Exercise, prepared: list[Prepared], notes=()) -> ExerciseResult:
    """``target``: the student's function or class; for a symbolic answer, its formula (an
    ``Answer``'s text, an expression, or a function of the symbols) and ``prepared`` is empty."""
    if ex.kind is Kind.SYMBOLIC:
        return grade_answer(ex, target, notes=notes)
    return summarize(ex, verdicts_for(target, ex, prepared), list(notes))
