"""Stand-ins for Chapter 2's exercises that later ones call, built from PyTorch's own kernels."""

from __future__ import annotations

import torch

from .registry import standin


@standin("ch02.entropy")
def entropy(p, dim=-1):
    return torch.special.entr(p).sum(dim)  # entr(x) = −x log x, 0 at x = 0


@standin("ch02.stationary_distribution")
def stationary_distribution(P):
    """The left eigenvector of P for the eigenvalue closest to 1, scaled to sum to 1 (computed in
    float64: LAPACK has no 16-bit kernels)."""
    values, vectors = torch.linalg.eig(P.double().transpose(-2, -1))
    k = (values - 1).abs().argmin(-1, keepdim=True)  # (..., 1)
    v = vectors.gather(-1, k.unsqueeze(-2).expand(*vectors.shape[:-1], 1)).squeeze(-1).real
    return (v / v.sum(-1, keepdim=True)).to(P.dtype)
