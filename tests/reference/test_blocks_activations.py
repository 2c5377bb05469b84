"""reference.blocks activations and feed-forward networks against PyTorch built-ins."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reference.blocks import FeedForward, SwiGLU, gelu, silu


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(dtype, gen, assert_matches_truth, approximate):
    x = (torch.randn(4, 33, generator=gen, dtype=torch.float64) * 3).to(dtype)
    truth = F.gelu(x.double(), approximate=approximate)
    # a handful of roundings on each path, amplified by at most |x| (the outer factor x)
    assert_matches_truth(gelu(x, approximate), truth, dtype, x.abs().max() + 1, k=4)


def test_gelu_tails_are_exact_limits():
    x = torch.tensor([-40.0, -12.0, 12.0, 40.0], dtype=torch.float64)
    for approximate in ("none", "tanh"):
        y = gelu(x, approximate)
        assert torch.equal(y[2:], x[2:]) and (y[:2].abs() < 1e-30).all()


def test_gelu_tanh_is_close_to_exact():
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    gap = (gelu(x, "tanh") - gelu(x)).abs().max().item()
    assert 1e-4 < gap < 1e-3  # the approximation is good but not exact


def test_gelu_rejects_unknown_mode():
    with pytest.raises(ValueError):
        gelu(torch.zeros(2), approximate="fast")


def test_silu_matches_torch(dtype, gen, assert_matches_truth):
    x = (torch.randn(5, 17, generator=gen, dtype=torch.float64) * 4).to(dtype)
    assert_matches_truth(silu(x), F.silu(x.double()), dtype, x.abs().max() + 1, k=4)


def test_silu_derivative_closed_form(gen):
    # d/dx x s(x) = s(x) (1 + x (1 - s(x)))
    x = torch.randn(50, generator=gen, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(silu(x).sum(), x)
    s = torch.sigmoid(x.detach())
    torch.testing.assert_close(g, s * (1 + x.detach() * (1 - s)), rtol=1e-12, atol=1e-14)


BUILTIN_ACT = {"relu": nn.ReLU(), "gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"),
               "silu": nn.SiLU()}


@pytest.mark.parametrize("activation", list(BUILTIN_ACT))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_feed_forward_matches_sequential(activation, bias, gen):
    torch.manual_seed(0)
    ffn = FeedForward(8, 20, activation, bias=bias).double()
    seq = nn.Sequential(ffn.fc1, BUILTIN_ACT[activation], ffn.fc2)
    x = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(ffn(x), seq(x), rtol=1e-12, atol=1e-13)
    assert sorted(n for n, _ in ffn.named_parameters()) == sorted(
        ["fc1.weight", "fc2.weight"] + (["fc1.bias", "fc2.bias"] if bias else []))


def test_feed_forward_is_position_wise(gen):
    torch.manual_seed(0)
    ffn = FeedForward(6, 12).double()
    x = torch.randn(1, 7, 6, generator=gen, dtype=torch.float64)
    perm = torch.randperm(7, generator=gen)
    torch.testing.assert_close(ffn(x)[:, perm], ffn(x[:, perm]), rtol=0, atol=1e-14)


def test_swiglu_matches_formula_and_has_no_biases(gen):
    torch.manual_seed(0)
    m = SwiGLU(8, 24).double()
    assert sorted(n for n, _ in m.named_parameters()) == ["w1.weight", "w2.weight", "w3.weight"]
    x = torch.randn(3, 8, generator=gen, dtype=torch.float64)
    a, b = x @ m.w1.weight.T, x @ m.w3.weight.T
    expected = (a * torch.sigmoid(a) * b) @ m.w2.weight.T
    torch.testing.assert_close(m(x), expected, rtol=1e-12, atol=1e-13)


def test_swiglu_low_precision(dtype, gen, assert_matches_truth):
    torch.manual_seed(0)
    m = SwiGLU(16, 32).double()
    x = torch.randn(4, 16, generator=gen, dtype=torch.float64).to(dtype)
    truth = m(x.double())
    out = m.to(dtype)(x)
    # error scale: sums of 16-32 terms of size ~1 each, then the down projection
    assert_matches_truth(out, truth, dtype, math.sqrt(32) * (truth.abs().max() + 1), k=4)
