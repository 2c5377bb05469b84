"""Drivers of Chapter 8's statistical fits: random-features regression and the Chinchilla fit."""

from __future__ import annotations

import math

import torch

from .registry import driver


@driver
def drive_random_features(fn, x_train, y_train, x_test, n_features, seed):
    """Call the student's function with a freshly seeded CPU generator."""
    return fn(x_train, y_train, x_test, n_features, torch.Generator().manual_seed(seed))


@driver
def drive_fit_chinchilla(fn, n, d, loss):
    """(E, log A, log B, alpha, beta) of the fit, as a float64 tensor (A and B on the log scale,
    where a fit's uncertainty is of the same size as that of the exponents). The names are the
    paper's and the tuple's: E = L_inf, A = a_N, B = a_D in ``reference/notation.py``."""
    E, A, B, alpha, beta = (float(v) for v in fn(n, d, loss))
    return torch.tensor([E, math.log(A) if A > 0 else float("nan"),
                         math.log(B) if B > 0 else float("nan"), alpha, beta], dtype=torch.float64)
