"""Verdicts: compare what the student's code returned with the trusted reference, and explain.

Inputs are plain data (reports from the worker or the in-process runner, and
:class:`~autograder.cases.Prepared` cases); output is an :class:`ExerciseResult` whose messages say
what differs in the student's terms: which cases fail and what they have in common, the largest
error and where, and — when the output matches a catalogued mistake — the mistake's name.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import torch

from autograder import tolerance
from autograder.cases import Prepared, run_reference
from autograder.spec import Exercise, missing_requirements
from autograder.worker import with_standins

MAX_LISTED = 3
MAX_MATCH_CASES = 6
MAX_TEXT = 2000
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text, limit: int = MAX_TEXT) -> str:
    """Text that came from the student's process, made safe to show: terminal escape sequences
    removed, other control characters (NUL included) shown as \\xNN, length capped. (HTML is
    escaped where HTML is written: nbconvert escapes stream and error outputs.)"""
    text = _ANSI.sub("", str(text))
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= limit else text[:limit] + " … (truncated)"


@dataclass
class CaseVerdict:
    prepared: Prepared
    ok: bool
    status: str  # ok|wrong|error|not_implemented|missing|forbidden|timeout|crash|output|bad_output|protocol
    message: str = ""
    outputs: list = field(default_factory=list)  # student's outputs (CPU), for mistake matching
    forbidden: list = field(default_factory=list)
    grads_only: bool = False  # forward right, gradients wrong
    seconds: float = 0.0


@dataclass
class ExerciseResult:
    id: str
    name: str
    points: float
    max_points: float
    passed: bool
    messages: list[str]
    ungraded: bool = False  # this machine lacks what the exercise needs (Exercise.requires)
    # the static review's findings on its answer cells (autograder.review), described; graded
    # as usual, but the points count only once an instructor has read them
    review: list[str] = field(default_factory=list)
    # a symbolic answer's formulas shown in ``messages`` as $LaTeX$ -> the same as MathML, which
    # the feedback HTML shows rendered (browsers draw MathML natively: no script, no network)
    formulas: dict[str, str] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        """Held for review by an instructor (see ``review``)."""
        return bool(self.review)

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "points": self.points,
                "max_points": self.max_points, "passed": self.passed, "messages": self.messages,
                "ungraded": self.ungraded, "held_for_review": self.held, "review": self.review,
                **({"formulas": self.formulas} if self.formulas else {})}

    @classmethod
    def from_json(cls, data: dict) -> "ExerciseResult":
        """The inverse of :meth:`as_json` (derived keys such as held_for_review are recomputed;
        results stored before a field existed get its default)."""
        fields = ("id", "name", "points", "max_points", "passed", "messages", "ungraded", "review",
                  "formulas")
        return cls(**{k: data[k] for k in fields if k in data})


def first_violation(case, outputs) -> tuple[int, str] | None:
    """The first of the case's property checks that ``outputs`` violate: (its index, what is
    violated), or None."""
    for i, check in enumerate(case.checks):
        try:
            violated = check(outputs, case)
        except Exception as e:  # noqa: BLE001 - a malformed output can break a property check
            violated = f"could not be checked ({type(e).__name__}: {e})"
        if violated:
            return i, violated
    return None


def _explained(prep: Prepared, cmp) -> str:
    """", for <what the case says the wrong element stands for>" (``Case.explain``), or ""."""
    if prep.case.explain is None or not cmp.where:
        return ""
    try:
        return f", for {prep.case.explain(cmp.where, prep.case)}"
    except Exception:  # noqa: BLE001 - an explanation must never cost the verdict
        return ""


def _output_label(case, i: int, n_out: int) -> str:
    """How a message names output ``i``: by the case's ``output_names`` where it has them."""
    if i >= n_out:
        return "gradient"
    if i < len(case.output_names):
        return f"output {i} ({case.output_names[i]})"
    return "output" if n_out == 1 else f"output {i}"


def judge_case(prep: Prepared, report: dict, tensors: list) -> CaseVerdict:
    """One case: ``report`` is the worker's header for it, ``tensors`` its outputs then grads."""
    status = report.get("status")
    forbidden = [clean_text(f, 100) for f in report.get("forbidden", [])][:5]
    if status != "ok":
        return CaseVerdict(prep, False, status if status in {
            "error", "not_implemented", "missing", "bad_output"} else "error",
            clean_text(report.get("message", "")), forbidden=forbidden)
    n_out = prep.n_outputs
    if len(tensors) != len(prep.truth) or report.get("n_grads") != len(prep.truth) - n_out:
        return CaseVerdict(prep, False, "bad_output",
                           f"returned {len(tensors)} tensor(s), expected {len(prep.truth)}")
    outputs = tensors[:n_out]
    # tensors the runner refused unread (larger than the reference's) are meta placeholders: they
    # carry their dtype and shape into the messages but no values for mistake matching
    shown = [] if any(t.is_meta for t in tensors) else outputs
    devices = report.get("devices", [])
    for i, (got, exp_dtype, truth) in enumerate(zip(tensors, prep.expected_dtypes, prep.truth)):
        label = _output_label(prep.case, i, n_out)
        python_number = got.dim() == 0 and {got.dtype, exp_dtype} <= {torch.int64, torch.float64}
        if got.dtype != exp_dtype and not python_number:  # 3 and 3.0 are the same count
            source = ("the dtype of the inputs" if exp_dtype == prep.case.dtype
                      else "the reference's dtype for these inputs")
            return CaseVerdict(prep, False, "wrong", f"{label} has dtype {got.dtype}, expected "
                               f"{exp_dtype} ({source})", shown, forbidden)
        if i < len(devices) and devices[i].split(":")[0] != prep.case.device.split(":")[0]:
            return CaseVerdict(prep, False, "wrong", f"{label} is on {devices[i]}, expected "
                               f"{prep.case.device} (the device of the inputs)", shown, forbidden)
        if got.shape != truth.shape:  # before any comparison or property check (no broadcasting)
            return CaseVerdict(prep, False, "wrong", f"{label}: shape {tuple(got.shape)}, "
                               f"expected {tuple(truth.shape)}", shown, forbidden,
                               grads_only=i >= n_out)
    compared = prep.case.compared
    for i, (got, truth, allowed) in enumerate(zip(tensors, prep.truth, prep.allowed)):
        if compared is not None and i < n_out and i not in compared:
            continue  # a measurement: judged by the case's checks
        cmp = tolerance.compare(got, truth, allowed)
        if not cmp.ok:
            is_grad = i >= n_out
            label = _output_label(prep.case, i, n_out)
            return CaseVerdict(prep, False, "wrong", f"{label}: {cmp.reason}{_explained(prep, cmp)}",
                               outputs, forbidden, grads_only=is_grad)
    violation = first_violation(prep.case, outputs)
    if violation is not None:
        return CaseVerdict(prep, False, "wrong", f"property violated: {violation[1]}", outputs,
                           forbidden)
    if forbidden:
        return CaseVerdict(prep, False, "forbidden", "", outputs, forbidden)
    return CaseVerdict(prep, True, "ok", "", outputs, forbidden,
                       seconds=float(report.get("seconds", 0.0)))


def _common_tags(failing: list[CaseVerdict], passing: list[CaseVerdict]) -> list[str]:
    common = set(failing[0].prepared.tags)
    for v in failing[1:]:
        common &= set(v.prepared.tags)
    return [t for t in failing[0].prepared.tags
            if t in common and not any(t in v.prepared.tags for v in passing)]


def _agreement(mistake, ex: Exercise, v: CaseVerdict) -> int:
    """How well the mistake reproduces the student's output on this case: 2 when it gives the
    same outputs (within the tolerance), 0 when it does not. On measured cases (outputs not all
    compared with the reference, see ``Case.compared``) it must give the same compared outputs
    and break the same property (or none): 2 if the measured outputs agree too (the same program,
    e.g. the same draws from the same seed), else 1 (the same effect, measured differently)."""
    case = v.prepared.case
    measured = case.compared is not None
    # In float64 (the mistake's exact effect) and in the case's dtype (mistakes that are
    # numerical, such as a cancelling one-pass variance, only show in low precision).
    exact = case.dtype == torch.float64 and case.device == "cpu"  # the case's own run is that one
    # An exercise that needs CUDA (a Triton kernel) has no float64 CPU run: only the case's own.
    needs_cuda = "cuda" in ex.requires
    runs = (((None, None),) if measured or exact or needs_cuda
            else ((torch.float64, "cpu"), (None, None)))
    best = 0
    for cast, device in runs:
        key = (mistake.key, str(cast))
        if key not in v.prepared.mistake_outputs:  # once per plan, whoever is graded with it
            try:  # with the same stand-ins for earlier exercises as the student had
                impl = with_standins(mistake.impl, ex.standin_objects())
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out, _ = run_reference(impl, ex, v.prepared.case, cast=cast, device=device)
            except Exception:  # noqa: BLE001 - a mistake may legitimately fail on some inputs
                out = None
            v.prepared.mistake_outputs[key] = out
        out = v.prepared.mistake_outputs[key]
        if out is None:
            continue
        agree = [g.shape == m.shape and tolerance.compare(g, m.cpu(), a).ok
                 for g, m, a in zip(v.outputs, out, v.prepared.allowed)]
        if not measured:
            if all(agree):
                return 2
            continue
        if not all(agree[i] for i in case.compared):
            continue
        theirs, mine = first_violation(case, v.outputs), first_violation(case, out)
        if (theirs is None) != (mine is None) or (theirs is not None and theirs[0] != mine[0]):
            continue
        if theirs is None and not case.compared:
            continue  # nothing failed that the mistake could explain
        best = max(best, 2 if all(agree) else 1)
    return best


def match_mistake(ex: Exercise, failing: list[CaseVerdict]):
    """The catalogued mistake that best reproduces the student's failing cases (each scored by
    :func:`_agreement`), if it reproduces at least half of those that could be compared. Ties go
    to the earlier mistake."""
    best, best_score = None, 0
    # A sample of the failing cases is enough to recognise a mistake, and bounds the cost of
    # re-running every catalogued mistake (some, like L-BFGS fits, take a while).
    candidates = [v for v in failing if v.status == "wrong" and not v.grads_only
                  and v.outputs][:MAX_MATCH_CASES]
    for mistake in ex.mistakes:
        score = hits = 0
        for i, v in enumerate(candidates):
            if score + 2 * (len(candidates) - i) <= best_score:
                break  # cannot beat the best so far
            agreement = _agreement(mistake, ex, v)
            score, hits = score + agreement, hits + (agreement > 0)
        if score > best_score and 2 * hits >= len(candidates):
            best, best_score = mistake, score
        if best_score == 2 * len(candidates):
            break  # reproduces every failing case exactly: no later mistake can do better
    return best


def summarize(ex: Exercise, verdicts: list[CaseVerdict], notes: list[str] = ()) -> ExerciseResult:
    """All cases pass: full points. Otherwise 0 points and messages that teach."""
    failing = [v for v in verdicts if not v.ok]
    passing = [v for v in verdicts if v.ok]
    messages: list[str] = []
    missing = missing_requirements(ex.requires) if not verdicts else []
    if missing:
        return ExerciseResult(ex.id, ex.name, 0.0, ex.points, False, [
            f"ungraded on this machine: it needs {' and '.join(missing)}. Never counted as "
            "passed: grade it where they are (llmcourse grade/check on a machine that has them) or by "
            "hand",
            *notes], ungraded=True)
    if not verdicts:
        messages.append("not graded: no case ran")
    elif not failing:
        messages.append("its one case passed" if len(verdicts) == 1
                        else f"all {len(verdicts)} cases passed")
    else:
        messages.extend(_explain(ex, failing, passing, len(verdicts)))
    standins = list(ex.standin_names)
    if standins and any(v.status not in ("not_implemented", "missing") for v in failing):
        names = ", ".join(standins)
        messages.append(f"note, not a failure: PyTorch's own {names} stood in for yours while "
                        f"this was graded, so a bug in your {names} costs only its own exercise")
    messages.extend(notes)
    passed = bool(verdicts) and not failing
    return ExerciseResult(ex.id, ex.name, ex.points if passed else 0.0, ex.points, passed, messages)


def _explain(ex: Exercise, failing, passing, total) -> list[str]:
    statuses = {v.status for v in failing}
    first = failing[0]
    if "missing" in statuses:
        return [f"{first.message}: define it in its answer cell (only answer cells are graded)"]
    if statuses == {"not_implemented"}:
        return ["not implemented (the answer cell still raises NotImplementedError)"]
    seen = list(dict.fromkeys(f for v in failing for f in v.forbidden))
    # Name the Python-level call when there is one; the ATen op names are what the profiler saw
    # underneath (or all there is, when the call bypassed Python: torch.ops.aten, DisableTorchFunction).
    forbidden = [f for f in seen if not f.startswith("aten::")] or seen
    if forbidden:
        msg = (f"calls {', '.join(forbidden)}, which this exercise asks you to build yourself "
               f"— a forbidden call costs the exercise")
        if ex.forbidden_hint:
            msg += f"; {ex.forbidden_hint}"
        return [msg]
    if statuses & {"timeout", "crash", "output", "protocol"}:
        v = next(v for v in failing if v.status in ("timeout", "crash", "output", "protocol"))
        where = f" (case '{v.prepared.case.name}')" if v.status != "output" else ""
        return [f"{v.message}{where}"]
    out = [f"wrong on {len(failing)} of {total} cases"]
    tags = _common_tags(failing, passing)
    if passing and tags:
        out[0] += f"; fails only with: {', '.join(tags)}"
    elif not passing:
        out[0] += " (all of them)"
    errors = {v.message for v in failing if v.status == "error"}
    if len(errors) == 1 and all(v.status == "error" for v in failing):  # one error, said once
        out.append(f"every failing case raised (first: case '{first.prepared.case.name}'): "
                   f"{errors.pop()}")
    else:
        for v in failing[:MAX_LISTED]:
            what = {"error": "raised", "bad_output": "returned the wrong kind of value"}.get(
                v.status, "")
            out.append(f"case '{v.prepared.case.name}': {what + ': ' if what else ''}{v.message}")
        if len(failing) > MAX_LISTED:
            out.append(f"... and {len(failing) - MAX_LISTED} more failing case(s)")
    if all(v.grads_only for v in failing if v.status == "wrong") and any(
            v.status == "wrong" for v in failing):
        out.append("the outputs are right but the gradients differ: is part of the computation "
                   "detached (.detach(), .data, .item(), torch.no_grad) or done in-place?")
    mistake = match_mistake(ex, failing)
    if mistake is not None:
        out.append(f"likely mistake: {mistake.title}. {mistake.hint}")
    return out
