"""Grading a submission end to end, out of the student's process:

    notebook --(submission.extract)--> answer cells
    chapter  --(cases.build_cases, cases.prepare)--> cases with trusted reference results
    runner.run_in_worker: student code runs in a worker, reports plain tensors
    judge.judge_case / judge.summarize: verdicts and teaching messages, per exercise
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from autograder import baked
from autograder import cases as case_mod
from autograder.chapters import all_chapters, get_chapter
from autograder.derivation import answer_text, grade_answer
from autograder.judge import CaseVerdict, ExerciseResult, clean_text, judge_case, summarize
from autograder.review import review_submission
from autograder.runner import RunReport, default_budget, run_in_worker
from autograder.sandbox import Sandbox, detect
from autograder.spec import Chapter, Exercise, Kind
from autograder.submission import (Submission, defined_names, detect_chapter, extract,
                                   read_notebook)

UNGRADED_CUDA = "CUDA cases: ungraded on this machine (no CUDA device); graded on CPU only"


@dataclass
class NotebookResult:
    notebook: str
    chapter: str
    exercises: list[ExerciseResult]

    @property
    def total(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_total(self) -> float:
        """Points that were graded here (ungraded exercises are listed in ``ungraded_points``)."""
        return sum(e.max_points for e in self.exercises if not e.ungraded)

    @property
    def ungraded_points(self) -> float:
        return sum(e.max_points for e in self.exercises if e.ungraded)

    def as_json(self) -> dict:
        return {"notebook": self.notebook, "total": self.total, "max_total": self.max_total,
                "ungraded_points": self.ungraded_points,
                "exercises": [e.as_json() for e in self.exercises]}

    @classmethod
    def from_json(cls, data: dict, chapter: str) -> "NotebookResult":
        return cls(data["notebook"], chapter,
                   [ExerciseResult.from_json(e) for e in data["exercises"]])


def plan_for(chapter: Chapter, exercises: list[Exercise] | None = None, *, seed: int = 0,
             devices: tuple[str, ...] | None = None, public_only: bool = False):
    devices = devices or case_mod.cuda_devices()
    plan = []
    for ex in exercises or chapter.exercises:
        built = case_mod.build_cases(ex, seed, devices)
        if public_only:
            built = [c for c in built if c.public]
        plan.append((ex, [case_mod.prepare(ex, c, i) for i, c in enumerate(built)]))
    return plan


def _cell_notes(sub: Submission, ex: Exercise, report) -> list[str]:
    notes = []
    for i in sub.exercise_cells.get(ex.id, []):
        if i in report.cell_errors:
            notes.append(f"its answer cell was skipped: {report.cell_errors[i]}")
        elif i in report.cell_exceptions:
            notes.append(f"its answer cell raised when run: {clean_text(report.cell_exceptions[i])}")
    return notes


def grade_submission(sub: Submission, *, seed: int = 0, devices=None, sandbox: Sandbox | None = None,
                     slot: int = 0, plan=None, budget_s: float | None = None) -> list[ExerciseResult]:
    """``plan`` (from :func:`plan_for`, same seed and devices) may be shared by many submissions;
    ``budget_s`` caps the wall time of this submission's grading."""
    devices = devices or case_mod.cuda_devices()
    sandbox = sandbox or detect("auto")
    plan = plan or plan_for(sub.chapter, seed=seed, devices=devices)
    devices = tuple(sorted({p.case.device for _, prepared in plan for p in prepared}))
    # symbolic answers are read from their cells' text here; the rest runs in the worker
    run = [(ex, prepared) for ex, prepared in plan if ex.kind is not Kind.SYMBOLIC]
    report = _run_code(sub, run, sandbox, slot, budget_s) if run else RunReport()
    notes = [] if any(d.startswith("cuda") for d in devices) else [UNGRADED_CUDA]
    if sandbox.note:
        notes.append(sandbox.note)
    results = []
    for ex, prepared in plan:
        if ex.kind is Kind.SYMBOLIC:
            results.append(_symbolic_result(sub, ex, seed))
            continue
        verdicts: list[CaseVerdict] = []
        failure = report.failures.get(ex.id)
        for p in prepared:
            got = report.cases[ex.id].get(p.index)
            if got is not None:
                verdicts.append(judge_case(p, *got))
            elif failure is not None:
                verdicts.append(CaseVerdict(p, False, failure[0], failure[1]))
                failure = None
                break  # the remaining cases never ran
            else:  # the runner guarantees a report or a failure; never count a silent case
                verdicts.append(CaseVerdict(p, False, "protocol", "case not reported"))
        if failure is not None and prepared:  # every case ran, yet the exercise broke a rule
            verdicts.append(CaseVerdict(prepared[-1], False, failure[0], failure[1]))
        cell_notes = _cell_notes(sub, ex, report)
        if ex.id in report.lock_errors:
            cell_notes.append("its code ran without the lock against new threads and processes "
                              f"({report.lock_errors[ex.id]}): observed in the calling thread only")
        if not sub.exercise_cells.get(ex.id):
            cell_notes.append("no answer cell for this exercise was found in the notebook")
        result = summarize(ex, verdicts, cell_notes + notes)
        if cell_notes and not result.passed:  # the cause first (a SyntaxError), then its effect
            result.messages = cell_notes + [m for m in result.messages if m not in cell_notes]
        result.messages.extend(_other_cell_notes(sub, ex, result.messages))
        results.append(result)
    return apply_review(sub, results)


def _run_code(sub: Submission, plan, sandbox: Sandbox, slot: int, budget_s: float | None):
    """The worker's report on the exercises of ``plan``: each exercise's process loads the given
    cells and that exercise's own answer cells only."""
    given = [{"id": f"given_{i}", "source": src}
             for i, src in enumerate(baked.load(sub.chapter.id).given)]
    cells_for = {ex.id: [*range(len(given)), *(len(given) + i for i in sub.exercise_cells[ex.id])]
                 for ex, _ in plan}
    report = run_in_worker(sub.chapter, given + sub.cells, plan, cells_for=cells_for,
                           sandbox=sandbox, slot=slot, budget_s=budget_s or default_budget(plan))
    report.shift_cells(len(given))  # cell indices back to the submission's answer cells
    return report


def _symbolic_result(sub: Submission, ex: Exercise, seed: int) -> ExerciseResult:
    """A symbolic answer, judged from the text of its answer cells (nothing of it runs)."""
    sources = [sub.cells[i]["source"] for i in sub.exercise_cells.get(ex.id, [])]
    notes = [] if sources else ["no answer cell for this exercise was found in the notebook"]
    return grade_answer(ex, answer_text(sources), seed=seed, notes=notes)


_NAME_ERROR = re.compile(r"NameError: name '(\w+)' is not defined")


def _other_cell_notes(sub: Submission, ex: Exercise, messages: list[str]) -> list[str]:
    """A name the exercise's code could not find because another answer cell defines it."""
    missing = {m for text in messages for m in _NAME_ERROR.findall(text)}
    notes = []
    for other in sub.chapter.exercises:
        if other.id == ex.id:
            continue
        defined = set().union(*(defined_names(sub.cells[i]["source"])
                                for i in sub.exercise_cells.get(other.id, [])))
        for name in sorted(missing & defined):
            notes.append(f"'{name}' is defined in the answer cell of {other.name}: each exercise "
                         "is graded with its own answer cell only (earlier exercises it uses are "
                         "replaced by built-ins), so define helpers inside this answer cell")
    return notes


def apply_review(sub: Submission, results: list[ExerciseResult]) -> list[ExerciseResult]:
    """The results, each with the static review's findings on its answer cells: a flagged
    exercise keeps its verdict and points but is held for an instructor's review."""
    found = review_submission(sub)
    return [replace(r, review=[f.describe() for f in found.get(r.id, [])]) for r in results]


def grade_notebook(path: str, chapter: str | None = None, *, seed: int = 0, devices=None,
                   sandbox: Sandbox | None = None, slot: int = 0, plan=None,
                   make_plan=None) -> NotebookResult:
    """Grade one notebook file. Raises SubmissionError for a path that is not a notebook.
    ``plan``: as for :func:`grade_submission`; else ``make_plan(chapter)`` when given (e.g.
    ``plancache.cached_plan``); else built here."""
    nb = read_notebook(path)
    ch = get_chapter(chapter) if chapter else detect_chapter(nb, all_chapters(), str(path))
    sub = extract(nb, ch, str(path))
    if plan is None and make_plan is not None:
        plan = make_plan(ch)
    return NotebookResult(str(path), ch.id, grade_submission(sub, seed=seed, devices=devices,
                                                             sandbox=sandbox, slot=slot, plan=plan))
