"""Dtype-relative tolerances: a correct computation in a low precision passes, a small real error
fails, and the bound follows the dtype (no fixed atol)."""

from __future__ import annotations

import pytest
import torch

from autograder import tolerance

DTYPES = [torch.float64, torch.float32, torch.bfloat16]


def _softmax(x):
    return torch.exp(x - x.amax(-1, keepdim=True)) / torch.exp(x - x.amax(-1, keepdim=True)).sum(-1, keepdim=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_differently_ordered_correct_computation_passes(dtype):
    x = torch.randn(16, 64, dtype=torch.float64).to(dtype)
    truth = _softmax(x.double())
    naive = _softmax(x)
    other = torch.exp(x - torch.logsumexp(x, -1, keepdim=True))  # same maths, other rounding
    allowed = tolerance.allowed_error(truth, naive, dtype, tolerance.input_scale([x]))
    assert tolerance.compare(other, truth, allowed).ok


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_a_one_percent_error_fails(dtype):
    x = torch.randn(16, 64, dtype=torch.float64).to(dtype)
    truth = _softmax(x.double())
    allowed = tolerance.allowed_error(truth, _softmax(x), dtype, tolerance.input_scale([x]))
    cmp = tolerance.compare(_softmax(x) * 1.01, truth, allowed)
    assert not cmp.ok and "max abs error" in cmp.reason


def test_allowed_error_grows_with_the_dtype_eps():
    x = torch.randn(8, 32, dtype=torch.float64)
    truth = _softmax(x)
    bounds = [tolerance.allowed_error(truth, _softmax(x.to(d)), d, 1.0) for d in DTYPES]
    assert bounds[0] < bounds[1] < bounds[2]
    assert bounds[0] < 1e-12 and bounds[2] > 1e-3


def test_shape_and_nan_are_reported_in_words():
    truth = torch.zeros(2, 3, dtype=torch.float64)
    assert "shape (3, 2), expected (2, 3)" in tolerance.compare(torch.zeros(3, 2), truth, 1.0).reason
    got = torch.zeros(2, 3)
    got[1, 2] = float("nan")
    reason = tolerance.compare(got, truth, 1.0).reason
    assert "NaN at index (1, 2)" in reason


def test_nan_matches_nan_for_recognising_mistakes():
    t = torch.tensor([float("nan"), 1.0], dtype=torch.float64)
    assert tolerance.compare(torch.tensor([float("nan"), 1.0]), t, 1e-6).ok
    assert not tolerance.compare(torch.tensor([0.5, 1.0]), t, 1e-6).ok


def test_an_exact_number_is_reported_as_got_and_expected():
    """A 0-dim output compared exactly (a count, a yes/no flag): no error or index to quote."""
    cmp = tolerance.compare(torch.tensor(0), torch.tensor(1), 0.0)
    assert not cmp.ok and cmp.reason == "got 0, expected 1"
