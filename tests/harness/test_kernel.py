"""In-notebook checks: the public self-check and nbgrader's hidden test."""

from __future__ import annotations

import pytest
import sympy

from autograder.chapters import find_exercise
from autograder.kernel import CheckFailed, hidden_check, self_check
from reference import layer_norm

layer_norm_unbiased = find_exercise("ch04.layer_norm")[1].mistake("unbiased_variance").impl


def test_self_check_passes_on_a_correct_function(capsys):
    self_check("ch04.layer_norm", layer_norm)
    assert "public checks passed" in capsys.readouterr().out


def test_self_check_names_the_mistake():
    with pytest.raises(AssertionError, match="unbiased variance"):
        self_check("ch04.layer_norm", layer_norm_unbiased)


def test_hidden_check_reads_the_name_from_the_namespace(capsys):
    hidden_check("ch04.layer_norm", {"layer_norm": layer_norm})
    assert "all hidden tests passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not defined"):
        hidden_check("ch04.layer_norm", {})


def test_unimplemented_function_is_reported_as_such():
    def softmax(x, dim=-1, temperature=1.0):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not implemented"):
        self_check("ch04.softmax", softmax)


def test_a_failed_check_shows_its_message_not_a_traceback_into_the_grader():
    """IPython renders an exception with ``_render_traceback_`` by calling it: the student sees
    the verdict and the teaching lines, nbgrader still sees an AssertionError."""
    with pytest.raises(CheckFailed) as caught:
        self_check("ch04.layer_norm", layer_norm_unbiased)
    assert isinstance(caught.value, AssertionError)
    lines = caught.value._render_traceback_()
    assert lines[0] == "\x1b[1;31m✗ layer_norm: public check failed\x1b[0m"
    assert any("likely mistake: " in line for line in lines[1:])
    assert not any("kernel.py" in line or "Traceback" in line for line in lines)


def test_a_symbolic_answer_is_checked_from_its_source_in_the_kernel(capsys):
    def dot_product_variance(E, s_q, s_k):
        return E * s_q**2 * s_k**2

    self_check("ch04.dot_product_variance", dot_product_variance)  # inspect.getsource: the text
    assert "public checks passed" in capsys.readouterr().out

    def self_score_variance(E, s):
        return sympy.diff(E * s**2, s)  # would run in the kernel; read as text, it is refused

    with pytest.raises(CheckFailed, match="computes the answer for you"):
        self_check("ch04.self_score_variance", self_score_variance)


def test_a_check_cell_whose_answer_cell_failed_says_so_not_name_error(capfd):
    """In the kernel, an answer cell with a SyntaxError defines nothing, and its check cell then
    fails on the name: the student reads which cell to fix, not a NameError traceback; any other
    NameError keeps IPython's usual traceback."""
    from IPython.core.interactiveshell import InteractiveShell

    from autograder import kernel

    shell = InteractiveShell.instance()
    try:
        kernel._install_hints()
        shell.run_cell("from autograder.kernel import self_check", store_history=True)
        broken = shell.run_cell("def softmax(x, dim=-1:\n    return x\n", store_history=True)
        assert isinstance(broken.error_in_exec or broken.error_before_exec, SyntaxError)
        capfd.readouterr()
        check = shell.run_cell('self_check("ch04.softmax", softmax)', store_history=True)
        shown = capfd.readouterr().out
        assert isinstance(check.error_in_exec, NameError)  # still a failure for nbgrader
        assert "softmax is not defined yet" in shown and "SyntaxError" in shown
        assert "Traceback" not in shown and "NameError" not in shown
        other = shell.run_cell("undefined_thing + 1", store_history=True)
        assert isinstance(other.error_in_exec, NameError)
        assert "NameError" in capfd.readouterr().out
    finally:
        InteractiveShell.clear_instance()
