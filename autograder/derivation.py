"""Grading a symbolic answer (``Kind.SYMBOLIC``): a formula the student derived.

The answer is read from the answer cell's text by ``autograder.symbolic`` (parsed, never run) and
compared with the reference formula at random points of the stated domain in 50-digit arithmetic.
A wrong formula gets feedback that teaches: the first point where it differs, the student's formula
in LaTeX (``$...$``; rendered by the feedback HTML and by Jupyter), and the catalogued mistake it
equals, if any. The reference formula itself is never shown.

Where the answer's text is not at hand (a formula built in the student's kernel and passed as an
object, e.g. by otter's in-kernel tests), the object is used: a SymPy expression or number, or a
function called with the derivation's symbols. That path runs in the student's process and trusts
it, like every in-kernel check; ``llmcourse grade``/``check`` read the text.
"""

from __future__ import annotations

import inspect
import numbers
import textwrap

import sympy

from autograder.judge import ExerciseResult
from autograder.spec import Exercise, Kind
from autograder.symbolic import (Answer, AnswerError, NotAnswered, answer_expression,
                                 random_points)

N_POINTS = 40


def formula_of(ex: Exercise, target) -> sympy.Expr:
    """The student's formula: from an :class:`Answer`'s text, or from an object made in the
    student's kernel (see the module docstring). Raises AnswerError (or NotAnswered)."""
    symbols = ex.derivation.symbol_table()
    if isinstance(target, Answer):
        return answer_expression(target.source, ex.name, symbols)
    value = target
    if callable(target) and not isinstance(target, sympy.Basic):
        try:
            value = target(*symbols.values())
        except NotImplementedError:
            raise NotAnswered(f"{ex.name} still raises NotImplementedError") from None
        except Exception as e:  # noqa: BLE001 - the student's function, in the student's kernel
            raise AnswerError(f"calling {ex.name}({', '.join(symbols)}) with SymPy symbols "
                              f"raised {type(e).__name__}: {e}") from None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        value = sympy.Rational(repr(value)) if isinstance(value, float) else sympy.Integer(value)
    if not isinstance(value, sympy.Expr):
        raise AnswerError(f"{ex.name} must be a formula (a SymPy expression of "
                          f"{', '.join(symbols)}), got {type(value).__name__}")
    by_name = {s.name: s for s in symbols.values()}  # the kernel's own symbols -> the grader's
    return value.subs({s: by_name[s.name] for s in value.free_symbols if s.name in by_name})


def reference_formula(ex: Exercise) -> sympy.Expr:
    """The reference's formula (ours: built by calling it with the symbols; cached)."""
    cached = getattr(ex, "_reference_formula", None)
    if cached is None:
        cached = ex._reference_formula = sympy.sympify(
            ex.reference(*ex.derivation.symbol_table().values()))
    return cached


def _mistake_formulas(ex: Exercise):
    """(mistake, its formula), read from each patched solution like an answer (cached per
    exercise: the formulas do not change)."""
    cached = getattr(ex, "_mistake_formulas", None)
    if cached is None:
        symbols = ex.derivation.symbol_table()
        cached = [(m, answer_expression(m.source, ex.name, symbols)) for m in ex.mistakes]
        ex._mistake_formulas = cached
    return cached


def grade_answer(ex: Exercise, target, *, seed: int = 0, notes=()) -> ExerciseResult:
    """The verdict on one symbolic answer (``target``: an Answer, an expression or a function;
    None when the answer is missing)."""
    assert ex.kind is Kind.SYMBOLIC, ex.id

    def result(passed: bool, messages: list[str], formulas=None) -> ExerciseResult:
        return ExerciseResult(ex.id, ex.name, ex.points if passed else 0.0, ex.points, passed,
                              messages + list(notes), formulas=formulas or {})

    if target is None:
        return result(False, [f"'{ex.name}' is not defined: define it in its answer cell (only "
                              "answer cells are graded)"])
    try:
        got = formula_of(ex, target)
    except NotAnswered:
        return result(False, ["not implemented (the answer cell still raises "
                              "NotImplementedError)"])
    except AnswerError as e:
        return result(False, [f"could not read your formula: {e}"])
    symbols, domains = ex.derivation.symbol_table(), ex.derivation.domains
    agreement = random_points(got, reference_formula(ex), symbols, domains, N_POINTS, seed)
    if agreement.ok:
        return result(True, [f"equal to the reference formula at {agreement.checked} random "
                             f"points ({ex.derivation.describe_domains()})"])
    latex = sympy.latex(got)
    messages = [f"wrong: {agreement.describe()}", f"your formula: ${latex}$"]
    for mistake, formula in _mistake_formulas(ex):
        if random_points(got, formula, symbols, domains, N_POINTS, seed).ok:
            messages.append(f"likely mistake: {mistake.title}. {mistake.hint}")
            break
    return result(False, messages, {f"${latex}$": sympy.mathml(got, printer="presentation")})


def answer_text(sources: list[str]) -> Answer | None:
    """The answer of an exercise's answer cells (joined in order: the last definition wins, as
    when the cells run); None when there is no answer cell."""
    return Answer("submission", "\n\n".join(sources)) if sources else None


def function_source(obj) -> str | None:
    """The text of a function defined in a notebook cell (IPython keeps cells in linecache);
    None when it is not available."""
    try:
        return textwrap.dedent(inspect.getsource(obj)) if inspect.isfunction(obj) else None
    except (OSError, TypeError):
        return None
