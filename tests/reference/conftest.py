"""Shared fixtures for the reference tests: the dtype-derived tolerance and the CUDA skip.

How the tests compare in low precision: inputs are first rounded to the dtype under test, the
truth is the PyTorch built-in run in float64 on those same rounded inputs, and the reference runs
in the dtype under test. The difference is then only the reference's own rounding error.

Why the tolerance is k * eps * magnitude: a naive algorithm rounds each intermediate result with a
relative error of at most u = eps / 2. To first order these errors add up, each scaled by how
strongly the output depends on that intermediate (its condition number). Each test states the
``magnitude`` of its output together with that amplification, e.g. for attention
max|v| * (1 + max|scores|): a relative error u in a score s shifts its softmax weight by a relative
u * |s|, and the output is a convex combination of the value rows. With k = 2 (i.e. 4 u) the bound
leaves headroom for the handful of roundings on each path and for accumulation in matmuls; tests
with about twice as many roundings on a path pass k = 4. Across this suite the largest measured
error is 0.4 of its tolerance; a logic error (wrong scale, mask polarity, head layout) is off by
O(1), far outside it in float32 and float64.

How this relates to the grader's tolerance (autograder/tolerance.py): the comparison is the
grader's own, ``tolerance.compare`` (shape, real/complex, non-finite values exactly where the truth
has them, max abs error) with the grader's ``tolerance.eps``; only the allowed error differs, for
two reasons. The grader allows ERROR_FACTOR times the error of a *naive run in the same dtype* (the
reference) plus a floor of 64 ulps of the output and 16 of the inputs. Here the reference is the
thing under test, so it cannot be its own naive run (every reference would pass against itself).
And where a PyTorch built-in could serve as the naive run instead (softmax, logsumexp, SDPA,
layer_norm, rms_norm, gelu: 88 comparisons per dtype), the grader's bound measured 3 to 31 times
looser than k * eps * magnitude on 82 of them and tighter only on the 6 whose error is exactly 0:
using it would weaken these tests, not unify them.
"""

from pathlib import Path

import pytest
import torch

from autograder import tolerance

_HERE = Path(__file__).parent
_CPU_DTYPES = {"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16}


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` below this folder report as skipped when no CUDA device is present."""
    skip = pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device: ungraded on this machine"
    )
    for item in items:
        if item.get_closest_marker("cuda") and _HERE in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(params=list(_CPU_DTYPES.values()), ids=list(_CPU_DTYPES))
def dtype(request):
    """Every CPU dtype the reference must compute in. float16 runs only in the CUDA tests."""
    return request.param


def _rounding_atol(dtype, magnitude, k=2.0):
    """Absolute tolerance for a naive computation in ``dtype``: k * eps(dtype) * magnitude.

    ``magnitude`` is the output's size times the amplification of rounding errors (see the module
    docstring); a tensor is reduced to its largest absolute value.
    """
    if isinstance(magnitude, torch.Tensor):
        magnitude = magnitude.detach().abs().max().item()
    return k * tolerance.eps(dtype) * magnitude


def _assert_matches_truth(actual, truth, dtype, magnitude, k=2.0):
    """Check ``actual``, computed in ``dtype``, against a float64 ``truth`` with the grader's
    comparison: max abs error at most k * eps(dtype) * magnitude, no NaN anywhere."""
    assert actual.dtype == dtype, f"computed in {actual.dtype}, expected the input dtype {dtype}"
    assert not torch.isnan(actual).any(), "NaN in the output"
    allowed = _rounding_atol(dtype, magnitude, k)
    result = tolerance.compare(actual.detach().cpu(), truth.detach().double().cpu(), allowed)
    assert result.ok, f"{result.reason}\n(allowed: {k} * eps({dtype}) * magnitude = {allowed:.3g})"


@pytest.fixture(scope="session")
def assert_matches_truth():
    """The comparison helper, as a fixture so test modules need not import this conftest."""
    return _assert_matches_truth


@pytest.fixture
def gen():
    """A seeded CPU generator, so every test draws the same numbers whatever ran before it."""
    return torch.Generator().manual_seed(0)
