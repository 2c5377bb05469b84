"""Stand-ins for Chapter 2's exercises that later ones call, built from PyTorch's own kernels."""

from __future__ import annotations

import torch

from .registry import standin


@standin("ch02.entropy")
def entropy(p, dim=-1):
    return torch.special.entr(p).sum(dim)  # entr(x) = −x log x, 0 at x = 0


@standin("ch02.stationary_distribution")
def stationary_distribution(P):
    """The balance equations (Pᵀ − I) π = 0 with the first one replaced by Σ π = 1, solved in
    float64 (LAPACK has no 16-bit kernels; an eigenvector of Pᵀ was less accurate on slowly
    mixing chains)."""
    work = P.double()
    A = work.transpose(-2, -1) - torch.eye(work.shape[-1], dtype=work.dtype)
    A[..., 0, :] = 1.0
    b = torch.zeros(work.shape[:-1], dtype=work.dtype)
    b[..., 0] = 1.0
    return torch.linalg.solve(A, b).to(P.dtype)
