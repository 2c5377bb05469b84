"""Chapter 8, How models learn: the implicit bias of gradient descent and random-features
regression (the double-descent experiment).

Counts here are written in lower case (``reference/notation.py``): n training examples of d
inputs each (neither is a model dimension), m random features (the glossary's m) and n_test test
points.
"""

import math

import torch


def gd_least_squares(x, y, lr, steps):
    """Plain gradient descent on the least-squares loss (1 / 2n) ||x w - y||^2, from w = 0.

    Each step: w <- w - lr * x^T (x w - y) / n. From zero, every iterate stays in the row space of
    x (each gradient is x^T times something), so on an underdetermined problem (n < d) GD converges
    to the interpolating solution of minimum norm, pinv(x) @ y (when lr < 2 n / sigma_max(x)^2).

    Shape:
        x: (n, d)
        y: (n,)
        output: (d,), the weights after ``steps`` steps
    """
    n = x.shape[0]
    w = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)  # (d,)
    for _ in range(steps):
        residual = x @ w - y  # (n,)
        w = w - lr * (x.T @ residual) / n
    return w


def random_features(x, w):
    """ReLU random features relu(x @ w / sqrt(d)).

    Shape:
        x: (n, d)
        w: (d, m)
        output: (n, m)
    """
    return torch.relu(x @ w / math.sqrt(x.shape[-1]))


def random_features_regression(x_train, y_train, x_test, n_features, generator):
    """Least-squares regression on ``n_features`` random ReLU features; returns test predictions.

    The feature weights are drawn first, as ``torch.randn(d, m, generator=generator,
    dtype=torch.float64)`` on the CPU (m = n_features), then moved to the inputs' device and dtype.
    The coefficients are the minimum-norm least-squares solution pinv(phi_train) @ y_train, for
    any rank of phi_train: the best fit when m < n, the smallest-norm interpolant when m >= n (the
    solution GD from zero would find). Sweeping m across n traces the double-descent curve: the
    test error peaks at m = n.

    Why pinv: it is an SVD with small singular values cut off, so it is the minimum-norm solution
    on every device and whatever the rank (repeated training points make phi_train rank-deficient).
    ``torch.linalg.lstsq`` is only as good as its driver: on CUDA its one driver, "gels", assumes
    full rank; on the CPU "gelsd" (an SVD as well) is safe, while "gelsy", the default, estimates
    the rank from a pivoted QR and can miss it.

    Linear algebra has no bfloat16/float16 kernels, so for those dtypes the solve runs in float32
    and the predictions are returned in the input dtype.

    Shape:
        x_train: (n, d), y_train: (n,), x_test: (n_test, d)
        output: (n_test,)
    """
    d = x_train.shape[1]
    w = torch.randn(d, n_features, generator=generator, dtype=torch.float64)  # (d, m)
    w = w.to(device=x_train.device, dtype=x_train.dtype)
    phi_train = random_features(x_train, w)  # (n, m)
    phi_test = random_features(x_test, w)  # (n_test, m)
    solve_dtype = torch.float32 if x_train.dtype in (torch.bfloat16, torch.float16) else x_train.dtype
    coef = torch.linalg.pinv(phi_train.to(solve_dtype)) @ y_train.to(solve_dtype)  # (m,)
    return (phi_test.to(solve_dtype) @ coef).to(x_train.dtype)  # (n_test,)
