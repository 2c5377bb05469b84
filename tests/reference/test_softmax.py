"""reference.softmax and reference.softmax_jacobian against torch and against closed forms."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import softmax, softmax_jacobian

NEG_INF = float("-inf")

SHAPES = [((7,), -1), ((4, 9), -1), ((4, 9), 0), ((2, 3, 5), 1), ((1, 1, 1), -1)]
SHAPE_IDS = ["vector", "rows", "columns", "3d-middle", "single"]


@pytest.mark.parametrize("shape, dim", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0], ids=["T1", "T0.5", "T3"])
def test_matches_torch_softmax(shape, dim, temperature, dtype, gen, assert_matches_truth):
    x = (3 * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)
    truth = torch.softmax(x.double() / temperature, dim=dim)
    # A relative rounding u of the logit x_j / T moves p_j by a relative u * |x_j| / T.
    magnitude = 1 + x.double().abs().max().item() / temperature
    assert_matches_truth(softmax(x, dim=dim, temperature=temperature), truth, dtype, magnitude)


@pytest.mark.parametrize("offset", [1e4, -1e4, 100.0], ids=["plus-1e4", "minus-1e4", "plus-100"])
def test_large_logits_are_stable(offset, dtype, gen, assert_matches_truth):
    """softmax(x + c) = softmax(x): the max subtraction keeps exp from overflowing to inf / inf."""
    x = torch.randn(5, 11, generator=gen).to(dtype) + offset  # rounded to the spacing at |c|
    out = softmax(x)
    assert torch.isfinite(out).all()
    # x - max(x) is exact here (Sterbenz), so only the spread of the row amplifies rounding.
    spread = (x.amax(-1) - x.amin(-1)).max().item()
    assert_matches_truth(out, torch.softmax(x.double(), dim=-1), dtype, 1 + spread)


def test_partly_masked_rows_match_torch(dtype, gen, assert_matches_truth):
    x = torch.randn(6, 8, generator=gen).to(dtype)
    x[:, 3] = NEG_INF
    x[2, :7] = NEG_INF  # only one finite entry left in row 2
    out = softmax(x)
    magnitude = 1 + x[x.isfinite()].double().abs().max().item()
    assert_matches_truth(out, torch.softmax(x.double(), dim=-1), dtype, magnitude)
    assert (out[:, 3] == 0).all(), "-inf logits must get exactly zero weight"
    assert out[2, 7] == 1


def test_fully_masked_row_gives_zeros_and_zero_gradient(gen):
    x = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    x[1] = NEG_INF
    x.requires_grad_(True)
    out = softmax(x)
    assert not out.isnan().any(), "a fully -inf row gives zeros, not NaN (unlike torch.softmax)"
    assert (out[1] == 0).all()
    torch.testing.assert_close(out[[0, 2]], torch.softmax(x[[0, 2]], dim=-1))
    (out * torch.randn(out.shape, generator=gen, dtype=out.dtype)).sum().backward()
    assert (x.grad[1] == 0).all() and torch.isfinite(x.grad).all()


def test_empty_dimension_gives_empty_output():
    assert softmax(torch.randn(3, 0)).shape == (3, 0)


def test_gradient_matches_finite_differences_with_masked_entries(gen):
    x = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    x[0, 2] = NEG_INF
    x[3] = NEG_INF
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: softmax(t, temperature=0.7), (x,))


@pytest.mark.parametrize("temperature", [0.0, -1.0], ids=["zero", "negative"])
def test_nonpositive_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        softmax(torch.randn(3), temperature=temperature)


def test_low_temperature_tends_to_one_hot_argmax():
    x = torch.tensor([[0.3, 1.2, -0.5, 1.1], [2.0, -1.0, 0.0, 1.5]], dtype=torch.float64)
    # The gap between the two largest logits is 0.1, so exp(-0.1 / T) is ~1e-44 at T = 1e-3.
    out = softmax(x, temperature=1e-3)
    expected = torch.nn.functional.one_hot(x.argmax(-1), 4).to(torch.float64)
    torch.testing.assert_close(out, expected)


def test_high_temperature_tends_to_uniform(gen):
    x = torch.randn(3, 10, generator=gen, dtype=torch.float64)
    T = 1e6
    # exp(x_j / T) = 1 + O(|x| / T), so each weight is within 2 max|x| / T of 1 / N, relatively.
    bound = 0.1 * 2 * x.abs().max().item() / T
    out = softmax(x, temperature=T)
    torch.testing.assert_close(out, torch.full_like(out, 0.1), rtol=0, atol=bound)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 12),
    shift=st.floats(-1e3, 1e3),
    temperature=st.floats(0.1, 10.0),
)
def test_shift_invariance(seed, n, shift, temperature):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, n, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        softmax(x + shift, temperature=temperature), softmax(x, temperature=temperature)
    )


# Softmax Jacobian --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7], ids=["n1", "n2", "n7"])
def test_jacobian_matches_autograd(n, gen):
    x = torch.randn(n, generator=gen, dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=-1), x)
    torch.testing.assert_close(softmax_jacobian(softmax(x)), expected)


def test_jacobian_batched_shape_and_values(gen):
    x = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    jac = softmax_jacobian(softmax(x))
    assert jac.shape == (2, 3, 5, 5)
    expected = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=-1), x[1, 2])
    torch.testing.assert_close(jac[1, 2], expected)


def test_jacobian_is_symmetric_with_zero_row_sums(gen):
    x = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    jac = softmax_jacobian(softmax(x))
    torch.testing.assert_close(jac, jac.transpose(-2, -1))
    # Shifting every logit by the same amount does not change the output: J @ 1 = 0.
    torch.testing.assert_close(jac.sum(-1), torch.zeros(4, 6, dtype=torch.float64))
