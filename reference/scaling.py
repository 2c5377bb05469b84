"""Chapter 8, How models learn: fitting scaling laws and the compute-optimal allocation.

Kaplan et al. (2020) fit power laws L = a * x^(-alpha) in one variable at a time; Hoffmann et al.
(2022, "Chinchilla", approach 3) fit L(N, D_tok) = L_inf + a_N / N^alpha + a_D / D_tok^beta to all
runs at once, with N parameters and D_tok training tokens, and allocate a compute budget
C = 6 N D_tok optimally. The symbols are those of ``reference/notation.py``; the paper calls the
constants (L_inf, a_N, a_D) E, A and B, and the functions here keep its names and its order,
(E, A, B, alpha, beta), in their arguments and return values. L_inf is a constant of the fit (where
the fitted curve levels off), not a measured entropy. The fits take k runs (k, lower case).
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
        x, y: (k,), positive
    """
    lx, ly = torch.log(x), torch.log(y)  # (k,)
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
    beta) with a = log a_N (log A), b = log a_D (log B), e = log L_inf (log E), D_i the tokens of
    run i. The log-sum-exp is log(a_N / N^alpha + a_D / D_tok^beta + L_inf), computed stably."""
    a, b, e, alpha, beta = theta.unbind(-1)
    terms = torch.stack([a - alpha * log_n, b - beta * log_d, e.expand_as(log_n)], dim=-1)
    return huber(torch.logsumexp(terms, dim=-1) - log_loss, delta).sum()


def fit_chinchilla(n, d, loss):
    """Fit L(N, D_tok) = L_inf + a_N / N^alpha + a_D / D_tok^beta to k runs (N = n, D_tok = d);
    returns (E, A, B, alpha, beta) = (L_inf, a_N, a_D, alpha, beta) as Python floats.

    Minimises ``chinchilla_objective`` with L-BFGS (strong Wolfe line search) from each start of
    ``CHINCHILLA_GRID`` and keeps the best. The fit runs in float64 whatever the data's dtype:
    five parameters cost nothing, and L-BFGS needs the precision to converge.

    Shape:
        n, d, loss: (k,), one entry per training run
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
    """The N and D_tok minimising L_inf + a_N / N^alpha + a_D / D_tok^beta subject to
    6 N D_tok = C, for the law (E, A, B, alpha, beta) = (L_inf, a_N, a_D, alpha, beta) as
    ``fit_chinchilla`` returns it (L_inf does not move the optimum).

    Substituting D_tok = C / (6N) and setting dL/dN = 0 gives
    alpha a_N N^(-alpha) = beta a_D D_tok^(-beta), so
        N_opt = G * (C / 6)^(beta / (alpha + beta)),   D_opt = (C / 6)^(alpha / (alpha + beta)) / G,
        G = (alpha a_N / (beta a_D))^(1 / (alpha + beta)).
    ``compute`` may be a Python number (then the outputs are Python floats) or a tensor of budgets
    (computed in its dtype).

    Shape:
        compute: scalar or (k,)
        output: (N_opt, D_opt), each like ``compute``
    """
    g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    c6 = compute / 6
    n_opt = g * c6 ** (beta / (alpha + beta))
    d_opt = c6 ** (alpha / (alpha + beta)) / g
    return n_opt, d_opt
