"""Symbolic answers graded as exercises (autograder.derivation), on Chapter 4's derivation of
Var(q · k): read from the cell's text in the grader (never run), from an object in the kernel, with
feedback that names the point, shows the formula (LaTeX, and MathML for the HTML) and the mistake;
out of process, no worker is started for them."""

from __future__ import annotations

import sympy

from autograder import derivation
from autograder.batch import with_math
from autograder.chapters import get_chapter
from autograder.grade import grade_submission, plan_for
from autograder.inprocess import grade_object
from autograder.sandbox import detect
from autograder.spec import Kind
from autograder.submission import Submission
from autograder.symbolic import Answer

CH04 = get_chapter("ch04")
EX = CH04.exercise("ch04.dot_product_variance")
RIGHT = "def dot_product_variance(E, s_q, s_k):\n    return E * s_q**2 * s_k**2\n"


def test_a_right_formula_passes_and_a_slip_is_taught():
    assert derivation.grade_answer(EX, Answer("a", RIGHT)).passed
    wrong = derivation.grade_answer(EX, Answer("b", RIGHT.replace("s_k**2", "s_k")))
    assert not wrong.passed and wrong.points == 0
    assert wrong.messages[0].startswith("wrong: at E = ") and ", s_q = " in wrong.messages[0]
    assert wrong.messages[1] == "your formula: $E s_{k} s_{q}^{2}$"
    assert not any(m.startswith("likely mistake") for m in wrong.messages)  # not catalogued
    mathml = wrong.formulas["$E s_{k} s_{q}^{2}$"]
    assert mathml.startswith("<mrow>") and "<msub><mi>s</mi><mi>q</mi></msub>" in mathml
    html = with_math("your formula: $E s_{k} s_{q}^{2}$", wrong.formulas)
    assert "<math display='inline'><mrow>" in html and "$" not in html


def test_the_reference_formula_is_never_shown():
    result = derivation.grade_answer(EX, Answer("b", RIGHT.replace("s_k**2", "s_k")))
    assert not any("s_{k}^{2}" in m and "s_{q}^{2}" in m for m in result.messages)


def test_missing_unanswered_and_unreadable_answers():
    assert derivation.grade_answer(EX, None).messages[0].startswith(
        "'dot_product_variance' is not defined")
    stub = "def dot_product_variance(E, s_q, s_k):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert derivation.grade_answer(EX, Answer("s", stub)).messages == [
        "not implemented (the answer cell still raises NotImplementedError)"]
    result = derivation.grade_answer(EX, Answer("x", "def dot_product_variance(E, s_q, s_k):\n"
                                                     "    return torch.var(E)\n"))
    assert result.messages[0].startswith("could not read your formula: torch.var(...) is not one")


def test_in_the_kernel_an_object_is_judged_with_the_kernels_own_symbols():
    E, s_q, s_k = sympy.symbols("E s_q s_k", positive=True)  # not the grader's symbols
    assert derivation.grade_answer(EX, E * s_q**2 * s_k**2).passed
    assert derivation.grade_answer(EX, lambda E, s_q, s_k: E * (s_q * s_k) ** 2).passed
    result = derivation.grade_answer(EX, lambda E, s_q, s_k: E * s_q * s_k)
    assert result.messages[-1].startswith("likely mistake: the standard deviations multiplied")
    result = derivation.grade_answer(EX, "E * s_q**2 * s_k**2")  # a string is not run
    assert result.messages == ["could not read your formula: dot_product_variance must be a "
                               "formula (a SymPy expression of E, s_q, s_k), got str"]


def test_grade_object_takes_the_symbolic_path():
    assert EX.kind is Kind.SYMBOLIC
    assert grade_object(Answer("a", RIGHT), EX, []).passed


def test_out_of_process_grading_reads_the_cells_without_a_worker(monkeypatch):
    def no_worker(*a, **k):
        raise AssertionError("a symbolic answer must not start a worker")
    monkeypatch.setattr("autograder.grade.run_in_worker", no_worker)
    cells = [{"id": "a", "source": RIGHT.replace("**2 * s_k**2", " * s_k")},
             {"id": "b", "source": RIGHT}]  # the last definition wins, as when the cells run
    sub = Submission(chapter=CH04, path="x.ipynb", cells=cells,
                     exercise_cells={EX.id: [0, 1]})
    [result] = grade_submission(sub, plan=plan_for(CH04, [EX]), sandbox=detect("plain"))
    assert result.passed, result.messages
    sub.exercise_cells[EX.id] = [0]
    [result] = grade_submission(sub, plan=plan_for(CH04, [EX]), sandbox=detect("plain"))
    assert not result.passed and result.messages[-1].startswith("likely mistake: the standard")
    sub.exercise_cells[EX.id] = []
    [result] = grade_submission(sub, plan=plan_for(CH04, [EX]), sandbox=detect("plain"))
    assert result.messages[-1] == "no answer cell for this exercise was found in the notebook"
