"""In-notebook checks: the public self-check and nbgrader's hidden test."""

from __future__ import annotations

import pytest

from autograder.chapters import find_exercise
from autograder.kernel import hidden_check, self_check
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
