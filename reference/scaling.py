"""Chapter 8, How models learn: fitting scaling laws and the compute-optimal allocation.

Kaplan et al. (2020) fit power laws L = a * x^(-alpha) in one variable at a time; Hoffmann et al.
(2022, "Chinchilla", approach 3) fit L(N, D) = E + A / N^alpha + B / D^beta to all runs at once, with
N parameters and D training tokens, and allocate a compute budget C = 6 N D optimally.
"""

import math

import torch

HUBER_DELTA = 1e-3  # Hoffmann et al. use delta = 10^-3 on log-loss residuals
# Starting points (a = log A, b = log B, e = log E, alpha, beta). Hoffmann et al. use a grid of
# thousands; two starts suffice for the small synthetic problems of the course (the objective has
# poor local minima, e.g. with B = 1e4, so a single unlucky start is not enough in general).
# L-BFGS runs from each, and the fit with the lowest objective wins.
CHINCHILLA_GRID = [(5.0, 5.0, 0.5, 0.3, 0.3), (5.0, 5.0, 0.5, 0.6, 0.6)]


def fit_power_law(x, y):
    """Least-squares fit of log y = log a - alpha * log x; returns (a, alpha) as Python floats.

    A power law is a straight line on log-log axes, so ordinary least squares on (log x, log y)
    gives the slope -alpha and the intercept log a in closed form. Computes in the inputs' dtype.

    Shape:
        x, y: (K,), positive
    """
    lx, ly = torch.log(x), torch.log(y)  # (K,)
    mx, my = lx.mean(), ly.mean()
    slope = ((lx - mx) * (ly - my)).sum() / ((lx - mx) ** 2).sum()
    intercept = my - slope * mx
    return math.exp(intercept.item()), -slope.item()


def huber(r, delta=HUBER_DELTA):
    """Huber loss: r^2 / 2 for |r| <= delta, delta * (|r| - delta / 2) beyond (robust to outliers)."""
    a = r.abs()
    return torch.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def chinchilla_objective(theta, log_n, log_d, log_loss, delta=HUBER_DELTA):
    """sum_i Huber(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i), theta = (a, b, e, alpha,
    beta). The log-sum-exp is log(A / N^alpha + B / D^beta + E), computed stably."""
    a, b, e, alpha, beta = theta.unbind(-1)
    terms = torch.stack([a - alpha * log_n, b - beta * log_d, e.expand_as(log_n)], dim=-1)
    return huber(torch.logsumexp(terms, dim=-1) - log_loss, delta).sum()


def fit_chinchilla(n, d, loss):
    """Fit L(N, D) = E + A / N^alpha + B / D^beta; returns (E, A, B, alpha, beta) as Python floats.

    Minimises ``chinchilla_objective`` with L-BFGS (strong Wolfe line search) from each start of
    ``CHINCHILLA_GRID`` and keeps the best. The fit runs in float64 whatever the data's dtype:
    five parameters cost nothing, and L-BFGS needs the precision to converge.

    Shape:
        n, d, loss: (K,), one entry per training run
    """
    log_n, log_d, log_loss = (t.detach().to(torch.float64).log() for t in (n, d, loss))
    best, best_value = None, math.inf
    for start in CHINCHILLA_GRID:
        theta = torch.tensor(start, dtype=torch.float64, device=log_n.device, requires_grad=True)
        opt = torch.optim.LBFGS([theta], lr=1.0, max_iter=500, tolerance_grad=1e-12,
                                tolerance_change=1e-15, history_size=20,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            value = chinchilla_objective(theta, log_n, log_d, log_loss)
            value.backward()
            return value

        opt.step(closure)
        with torch.no_grad():
            value = chinchilla_objective(theta, log_n, log_d, log_loss).item()
        if value < best_value:
            best, best_value = theta.detach().clone(), value
    a, b, e, alpha, beta = best.tolist()
    return math.exp(e), math.exp(a), math.exp(b), alpha, beta


def compute_optimal_allocation(compute, E, A, B, alpha, beta):
    """The N and D minimising L(N, D) = E + A / N^alpha + B / D^beta subject to 6 N D = C.

    Substituting D = C / (6N) and setting dL/dN = 0 gives alpha A N^(-alpha) = beta B D^(-beta), so
        N_opt = G * (C / 6)^(beta / (alpha + beta)),   D_opt = (C / 6)^(alpha / (alpha + beta)) / G,
        G = (alpha A / (beta B))^(1 / (alpha + beta)).
    ``compute`` may be a Python number or a tensor of budgets (computed in its dtype).

    Shape:
        compute: scalar or (K,)
        output: (N_opt, D_opt), each like ``compute``
    """
    g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    c6 = compute / 6
    n_opt = g * c6 ** (beta / (alpha + beta))
    d_opt = c6 ** (alpha / (alpha + beta)) / g
    return n_opt, d_opt
