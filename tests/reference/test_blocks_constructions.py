"""The constructive exercises of reference.blocks: a ReLU network that reproduces a piecewise-linear
interpolant (checked against torch's own linear interpolation, np.interp-style) and an attention
head that copies the previous token."""

import pytest
import torch

from reference.blocks import attention_head, previous_token_head, relu_network_for_piecewise_linear


def interp(x, xs, ys):
    """Linear interpolation by bucketing, independent of the ReLU construction."""
    k = (torch.searchsorted(xs, x, right=True) - 1).clamp(0, len(xs) - 2)
    w = (x - xs[k]) / (xs[k + 1] - xs[k])
    return ys[k] + w * (ys[k + 1] - ys[k])


@pytest.mark.parametrize("n", [2, 3, 8, 30])
def test_relu_network_reproduces_interpolant(n, gen):
    xs = torch.sort(torch.rand(n, generator=gen, dtype=torch.float64) * 10).values
    ys = torch.randn(n, generator=gen, dtype=torch.float64)
    W1, b1, W2, b2 = relu_network_for_piecewise_linear(xs, ys)
    assert W1.shape == (n - 1, 1) and b1.shape == (n - 1,) and W2.shape == (1, n - 1) and b2.shape == (1,)
    x = torch.cat([xs, torch.linspace(float(xs[0]), float(xs[-1]), 200, dtype=torch.float64)])
    f = (torch.relu(x[:, None] @ W1.T + b1) @ W2.T + b2)[:, 0]
    torch.testing.assert_close(f, interp(x, xs, ys), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(f[:n], ys, rtol=1e-10, atol=1e-10)  # passes through every point


def test_relu_network_keeps_dtype(dtype):
    xs = torch.tensor([0.0, 1.0, 3.0], dtype=dtype)
    ys = torch.tensor([1.0, -1.0, 2.0], dtype=dtype)
    assert all(t.dtype == dtype for t in relu_network_for_piecewise_linear(xs, ys))


@pytest.mark.parametrize("T,C", [(2, 1), (5, 3), (8, 4)])
def test_previous_token_head_copies_previous_content(T, C, gen):
    W_q, W_k, W_v = (w.double() for w in previous_token_head(T, T + C))
    content = torch.randn(3, T, C, generator=gen, dtype=torch.float64)
    x = torch.cat([torch.eye(T, dtype=torch.float64).expand(3, T, T), content], dim=-1)
    y = attention_head(x, W_q, W_k, W_v)
    expected = torch.cat([torch.zeros(3, T, T, dtype=torch.float64),
                          torch.cat([content[:, :1], content[:, :-1]], dim=1)], dim=-1)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-15)


def test_previous_token_head_needs_room_for_content():
    with pytest.raises(ValueError):
        previous_token_head(4, 4)
