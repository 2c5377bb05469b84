"""Chapter 8, How models learn: the implicit bias of gradient descent and random-features
regression (the double-descent experiment).

Here N is the number of training examples, D the input size, F the number of random features and
M the number of test points.
"""

import math

import torch


def gd_least_squares(x, y, lr, steps):
    """Plain gradient descent on the least-squares loss (1 / 2N) ||x w - y||^2, from w = 0.

    Each step: w <- w - lr * x^T (x w - y) / N. From zero, every iterate stays in the row space of
    x (each gradient is x^T times something), so on an underdetermined problem (N < D) GD converges
    to the interpolating solution of minimum norm, pinv(x) @ y (when lr < 2 N / sigma_max(x)^2).

    Shape:
        x: (N, D)
        y: (N,)
        output: (D,), the weights after ``steps`` steps
    """
    n = x.shape[0]
    w = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)  # (D,)
    for _ in range(steps):
        residual = x @ w - y  # (N,)
        w = w - lr * (x.T @ residual) / n
    return w


def random_features(x, w):
    """ReLU random features relu(x @ w / sqrt(D)).

    Shape:
        x: (N, D)
        w: (D, F)
        output: (N, F)
    """
    return torch.relu(x @ w / math.sqrt(x.shape[-1]))


def random_features_regression(x_train, y_train, x_test, n_features, generator):
    """Least-squares regression on ``n_features`` random ReLU features; returns test predictions.

    The feature weights are drawn first, as ``torch.randn(D, F, generator=generator,
    dtype=torch.float64)`` on the CPU, then moved to the inputs' device and dtype. The coefficients
    are the minimum-norm least-squares solution pinv(phi_train) @ y_train: the best fit when
    F < N, the smallest-norm interpolant when F >= N (the solution GD from zero would find).
    Sweeping F across N traces the double-descent curve: the test error peaks at F = N.

    Linear algebra has no bfloat16/float16 kernels, so for those dtypes the solve runs in float32
    and the predictions are returned in the input dtype.

    Shape:
        x_train: (N, D), y_train: (N,), x_test: (M, D)
        output: (M,)
    """
    d = x_train.shape[1]
    w = torch.randn(d, n_features, generator=generator, dtype=torch.float64)  # (D, F)
    w = w.to(device=x_train.device, dtype=x_train.dtype)
    phi_train = random_features(x_train, w)  # (N, F)
    phi_test = random_features(x_test, w)  # (M, F)
    solve_dtype = torch.float32 if x_train.dtype in (torch.bfloat16, torch.float16) else x_train.dtype
    coef = torch.linalg.pinv(phi_train.to(solve_dtype)) @ y_train.to(solve_dtype)  # (F,)
    return (phi_test.to(solve_dtype) @ coef).to(x_train.dtype)  # (M,)
