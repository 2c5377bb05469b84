"""The closed forms students derive (reference/formulas.py) against the PyTorch computations they
describe: a Monte Carlo variance, autograd, the course's RoPE, module parameter counts, a streaming
softmax, a causal mask, torch.optim.Adam, a numerical optimum, PyTorch's FLOP counter."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from reference import formulas
from reference.positional import apply_rope


def test_dot_product_variances_are_the_monte_carlo_variances():
    g = torch.Generator().manual_seed(0)
    E, s_q, s_k, n = 16, 0.7, 1.9, 400_000
    q = torch.randn(n, E, generator=g, dtype=torch.float64) * s_q
    k = torch.randn(n, E, generator=g, dtype=torch.float64) * s_k
    # the sample variance's relative standard error is about sqrt(2 / n) = 0.2% (sqrt(3.5 / n)
    # for the heavier-tailed q·q); 1.5% is more than 5 standard errors
    assert (q * k).sum(-1).var().item() == pytest.approx(
        float(formulas.dot_product_variance(E, s_q, s_k)), rel=0.015)
    assert (q * q).sum(-1).var().item() == pytest.approx(
        float(formulas.self_score_variance(E, s_q)), rel=0.015)


def test_rope_score_is_the_course_rope_and_depends_on_the_offset_only():
    g = torch.Generator().manual_seed(2)
    for m, n in ((0, 3), (5, 2), (7, 7), (11, 4)):
        q, k = torch.randn(2, 1, 2, generator=g, dtype=torch.float64)
        # head_dim 2: one pair, rotated by position × base^0 = position radians
        score = (apply_rope(q, torch.tensor([m])) * apply_rope(k, torch.tensor([n]))).sum()
        want = float(formulas.rope_score(*q[0].tolist(), *k[0].tolist(), n - m))
        assert score.item() == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_silu_derivative_is_autograd():
    x = torch.linspace(-8, 8, 33, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.silu(x).sum().backward()
    want = torch.tensor([float(formulas.silu_derivative(v)) for v in x.tolist()],
                        dtype=torch.float64)
    torch.testing.assert_close(x.grad, want, rtol=1e-12, atol=1e-15)


def test_online_softmax_denominator_streams_to_the_sum_of_exponentials():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(50, generator=g, dtype=torch.float64) * 4
    m, l = scores[0].item(), 1.0
    for x in scores[1:].tolist():
        l = float(formulas.online_softmax_denominator(l, m, x))
        m = max(m, x)
    assert m + math.log(l) == pytest.approx(torch.logsumexp(scores, 0).item(), rel=1e-12)


@pytest.mark.parametrize("T", [1, 2, 7, 64])
def test_causal_fraction_counts_the_mask(T):
    kept = torch.ones(T, T, dtype=torch.bool).tril().sum().item()
    assert kept / T**2 == pytest.approx(float(formulas.causal_fraction(T)), rel=1e-15)


def test_adam_first_moment_is_torch_adams_state():
    beta1, g = 0.85, 0.37
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=1e-3, betas=(beta1, 0.999))
    for t in range(1, 13):
        w.grad = torch.full_like(w, g)
        opt.step()
        m_t = opt.state[w]["exp_avg"].item()
        assert m_t == pytest.approx(float(formulas.adam_first_moment(beta1, t, g)), rel=1e-12)


def test_optimal_parameters_exponent_is_the_numerical_optimum():
    """N_opt(C) minimising E + A/N^α + B/D^β with D = C / (6N), found numerically for two budgets:
    the slope of log N_opt against log C is the formula."""
    E, A, B, alpha, beta = 1.7, 400.0, 410.0, 0.34, 0.28

    def n_opt(C):
        lo, hi = 0.0, math.log(C / 6)  # log N, with D ≥ 1
        for _ in range(200):  # ternary search on a convex function of log N
            a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
            loss = [E + A / math.exp(x) ** alpha + B / (C / (6 * math.exp(x))) ** beta
                    for x in (a, b)]
            lo, hi = (a, hi) if loss[0] > loss[1] else (lo, b)
        return (lo + hi) / 2

    slope = (n_opt(1e24) - n_opt(1e20)) / math.log(1e4)
    assert slope == pytest.approx(float(formulas.optimal_parameters_exponent(alpha, beta)),
                                  rel=1e-6)


@pytest.mark.parametrize("m,n", [(3, 5), (16, 8)])
def test_linear_training_flops_is_pytorchs_count(m, n):
    tokens = 7
    layer = torch.nn.Linear(n, m, bias=False)
    x = torch.randn(tokens, n, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        layer(x).sum().backward()
    assert counter.get_total_flops() / tokens == formulas.linear_training_flops(m, n)


def test_kl_bernoulli_is_torchs_kl():
    from torch.distributions import Bernoulli, kl_divergence

    for p, q in ((0.3, 0.6), (0.9, 0.05), (0.5, 0.5)):
        want = kl_divergence(Bernoulli(torch.tensor(p, dtype=torch.float64)),
                             Bernoulli(torch.tensor(q, dtype=torch.float64))).item()
        assert float(formulas.kl_bernoulli(p, q)) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_categorical_mle_maximises_the_likelihood():
    counts = torch.tensor([7.0, 2.0, 11.0], dtype=torch.float64)
    logits = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([logits], max_iter=200, tolerance_grad=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -(counts * torch.log_softmax(logits, 0)).sum()
        loss.backward()
        return loss
    opt.step(closure)
    theta = torch.softmax(logits, 0)[0].item()
    # to LBFGS's own convergence (about 1e-7 here), far below the nearest wrong formulas
    assert theta == pytest.approx(float(formulas.categorical_mle(*counts.tolist())), rel=1e-6)


def test_cross_entropy_grad_first_is_autograd():
    z = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.tensor([0])).backward()
    assert z.grad[0, 0].item() == pytest.approx(
        float(formulas.cross_entropy_grad_first(*z[0].tolist())), rel=1e-12)


def test_training_compute_is_pytorchs_count_for_a_dense_model():
    widths, tokens = (8, 16, 4), 5
    model = torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(16, 4, bias=False))
    x = torch.randn(tokens, widths[0], requires_grad=True)  # every layer's input gradient counted
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    N = sum(p.numel() for p in model.parameters())
    assert counter.get_total_flops() == formulas.training_compute(N, tokens)
