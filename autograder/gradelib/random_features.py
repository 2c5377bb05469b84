"""Random-feature attention (Chapter 7's Performer): the driver that seeds the student's draws,
and the stand-in for the positive features while the attention that uses them is graded."""

from __future__ import annotations

import torch

from .registry import driver, standin


@standin("ch07.performer_features")
def performer_features(x, omega):
    """Positive random features exp(x Ω − |x|²/2) / √F."""
    return torch.exp(x @ omega - (x * x).sum(-1, keepdim=True) / 2) / omega.shape[-1] ** 0.5


@driver
def drive_performer(fn, q, k, v, n_features, seed, repeats=0):
    """Call the student's function with a freshly seeded CPU generator. With ``repeats``,
    ``n_features`` is a list: returns the outputs for each feature count and each of the seeds
    seed, seed + 1, ..., stacked to shape (len(n_features), repeats, *out.shape)."""
    if not repeats:
        return fn(q, k, v, n_features, torch.Generator().manual_seed(seed))
    return torch.stack([torch.stack([fn(q, k, v, m, torch.Generator().manual_seed(seed + r))
                                     for r in range(repeats)]) for m in n_features])
