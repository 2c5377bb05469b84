"""Random-feature attention (Chapter 7's Performer): the driver that seeds the student's draws (and,
when asked, measures the largest tensor they create), the check of that measurement, and the
stand-in for the positive features while the attention that uses them is graded."""

from __future__ import annotations

import torch

from .measure import attention_sizes, largest_tensor, measured
from .registry import driver, standin


@standin("ch07.performer_features")
def performer_features(x, omega):
    """Positive random features exp(x Ω − |x|²/2) / √m, m = the number of features."""
    return torch.exp(x @ omega - (x * x).sum(-1, keepdim=True) / 2) / omega.shape[-1] ** 0.5


@driver
def drive_performer(fn, q, k, v, n_features, seed, repeats=0, measure=False):
    """Call the student's function with a freshly seeded CPU generator. With ``repeats``,
    ``n_features`` is a list: returns the outputs for each feature count and each of the seeds
    seed, seed + 1, ..., stacked to shape (len(n_features), repeats, *out.shape). With
    ``measure``: returns the output and [elements, rows, columns] of the largest tensor the call
    created (int64, on q's device), for :func:`linear_memory_check`."""
    if measure:
        out, watch, _ = measured(fn, q, k, v, n_features, torch.Generator().manual_seed(seed))
        shape = (1, 1, *watch.shape)[-2:]
        return out, torch.tensor([watch.numel, *shape], dtype=torch.int64, device=q.device)
    if not repeats:
        return fn(q, k, v, n_features, torch.Generator().manual_seed(seed))
    return torch.stack([torch.stack([fn(q, k, v, m, torch.Generator().manual_seed(seed + r))
                                     for r in range(repeats)]) for m in n_features])


def memory_budget(L: int, S: int, E: int, Ev: int, m: int, heads: int) -> int:
    """The most elements one tensor of random-feature attention may hold: heads · (L + S) ·
    (m + E + Ev) (features, inputs and outputs of every head) plus E · m (the draws Ω)."""
    return heads * (L + S) * (m + E + Ev) + E * m


def linear_memory_check(outputs, case):
    """A case check: the largest tensor (the last output) within :func:`memory_budget`, which an
    L × S kernel matrix exceeds when L = S is much larger than m."""
    m = case.args[3]
    heads, L, S, E, Ev = attention_sizes(*case.args[:3])
    numel, rows, cols = largest_tensor(outputs[-1])
    limit = memory_budget(L, S, E, Ev, m, heads)
    if numel <= limit:
        return None
    what = ("the L × S matrix φ(q) φ(k)ᵀ" if {rows, cols} == {L, S}
            else "a tensor that grows faster than L + S")
    return (f"your code created a tensor of {numel:,} elements (its last two dimensions {rows} × "
            f"{cols}): {what}. Random-feature attention is linear in the sequence length: with "
            f"{heads} head(s) of L={L}, S={S}, E={E}, Ev={Ev} and m={m} features, a tensor may "
            f"hold at most heads · (L + S)(m + E + Ev) + E · m = {limit:,} elements; multiply right "
            "to left, φ(q) (φ(k)ᵀ v)")
