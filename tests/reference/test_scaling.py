"""reference.scaling: the power-law fit against closed forms, the Chinchilla fit recovering known
parameters (a statistical test over seeds), and the compute-optimal allocation against a brute-force
search along the budget constraint."""

import math

import pytest
import torch

from reference.scaling import (chinchilla_objective, compute_optimal_allocation, fit_chinchilla,
                               fit_power_law, huber)

TRUE = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def test_power_law_exact_on_noiseless_data():
    x = torch.logspace(1, 6, 15, dtype=torch.float64)
    a, alpha = fit_power_law(x, 3.5 * x ** -0.42)
    assert a == pytest.approx(3.5, rel=1e-12) and alpha == pytest.approx(0.42, rel=1e-12)


def test_power_law_matches_lstsq(gen):
    x = torch.logspace(0, 4, 30, dtype=torch.float64)
    y = 8.0 * x ** -0.3 * torch.exp(0.1 * torch.randn(30, generator=gen, dtype=torch.float64))
    design = torch.stack([torch.ones(30, dtype=torch.float64), x.log()], -1)
    sol = torch.linalg.lstsq(design, y.log().unsqueeze(-1)).solution.squeeze(-1)
    a, alpha = fit_power_law(x, y)
    assert math.log(a) == pytest.approx(sol[0].item(), abs=1e-12)
    assert alpha == pytest.approx(-sol[1].item(), abs=1e-12)


def test_huber_is_quadratic_then_linear():
    r = torch.tensor([0.0, 5e-4, -1e-3, 0.5], dtype=torch.float64)
    torch.testing.assert_close(huber(r), torch.nn.functional.huber_loss(
        r, torch.zeros_like(r), reduction="none", delta=1e-3))


def _runs(seed, k=40, sigma=0.01):
    g = torch.Generator().manual_seed(seed)
    n = 10 ** (7 + 3 * torch.rand(k, generator=g, dtype=torch.float64))
    d = 10 ** (9 + 3 * torch.rand(k, generator=g, dtype=torch.float64))
    loss = (TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]) * torch.exp(
        sigma * torch.randn(k, generator=g, dtype=torch.float64))
    return n, d, loss


def test_chinchilla_recovers_noiseless_parameters():
    n, d, loss = _runs(0, sigma=0.0)
    E, A, B, alpha, beta = fit_chinchilla(n, d, loss)
    assert (E, alpha, beta) == pytest.approx((TRUE["E"], TRUE["alpha"], TRUE["beta"]), rel=1e-4)
    assert (A, B) == pytest.approx((TRUE["A"], TRUE["B"]), rel=1e-3)


def test_chinchilla_fit_is_a_stationary_point_and_unbiased_over_seeds():
    alphas = []
    for seed in range(6):
        n, d, loss = _runs(seed + 1)
        E, A, B, alpha, beta = fit_chinchilla(n, d, loss)
        theta = torch.tensor([math.log(A), math.log(B), math.log(E), alpha, beta],
                             dtype=torch.float64, requires_grad=True)
        chinchilla_objective(theta, n.log(), d.log(), loss.log()).backward()
        # Each run contributes at most delta * |d pred / d theta| ~ 1e-3 * 25 to the gradient; at
        # the fit the sum cancels to well below one run's share (L-BFGS stalls at the Huber kinks).
        assert theta.grad.abs().max() < 1e-4
        alphas.append(alpha)
    # Mean of 6 fits within 5 standard errors of the truth (spread measured from the fits).
    t = torch.tensor(alphas, dtype=torch.float64)
    assert abs(t.mean().item() - TRUE["alpha"]) <= 5 * t.std().item() / math.sqrt(len(alphas)) + 1e-3


def test_allocation_is_the_constrained_minimum():
    for c in [1e19, 1e22, 1e25]:
        n_opt, d_opt = compute_optimal_allocation(c, **TRUE)
        assert 6 * n_opt * d_opt == pytest.approx(c, rel=1e-12)
        ns = n_opt * torch.logspace(-1, 1, 2001, dtype=torch.float64)
        losses = TRUE["E"] + TRUE["A"] / ns ** TRUE["alpha"] + TRUE["B"] / (c / (6 * ns)) ** TRUE["beta"]
        best = ns[losses.argmin()].item()
        assert best == pytest.approx(n_opt, rel=3e-3)  # the grid spacing


def test_allocation_on_tensors_keeps_dtype(dtype):
    c = (10 ** torch.linspace(18, 24, 4, dtype=torch.float64)).to(dtype)
    n, d = compute_optimal_allocation(c, **TRUE)
    assert n.dtype == dtype and d.dtype == dtype
