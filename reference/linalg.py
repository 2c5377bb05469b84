"""Appendix A, the linear algebra of the cheat sheet: the orthogonal projection onto a line,
Gram–Schmidt orthonormalisation with a stated tolerance for dependent vectors, and the error of the
best rank-k approximation (Eckart–Young).

Conventions, stated once:

* Vectors lie along the **last** axis; leading axes are batch axes that broadcast.
* ``gram_schmidt`` takes n vectors as the **rows** of an (n, D) matrix and returns orthonormal rows,
  in the input order, as the Gram–Schmidt process produces them: row j of the output is the
  normalised part of the j-th kept input row that is orthogonal to all earlier rows. In exact
  arithmetic this fixes every sign (each output row has a positive dot product with its input
  row), so the basis is unique; the classical and the modified process agree on it.
* An input row is **dependent** (and dropped) when what is left of it after removing the earlier
  directions has norm ≤ tol · (its own norm). A zero row is always dropped. The default tol is
  sqrt(eps) of the input's dtype: about 1.5e-8 in float64, 3.5e-4 in float32, 0.088 in bfloat16,
  well above the rounding noise of an exactly dependent row and well below any honest angle.
* torch.linalg has no 16-bit SVD: ``low_rank_error`` computes bfloat16/float16 inputs in float32
  and rounds the result back (the only place in this module that computes above the input dtype).
"""

from __future__ import annotations

import torch


def project(u, v):
    """The orthogonal projection of u onto the line spanned by v: (u·v / v·v) v. The projection
    onto the zero vector's "line" {0} is 0.

    Shape:
        u: (..., D); v: (..., D), broadcast against each other
        output: the broadcast shape (..., D)
    """
    uv = (u * v).sum(dim=-1, keepdim=True)  # (..., 1)
    vv = (v * v).sum(dim=-1, keepdim=True)  # (..., 1)
    # v = 0 makes u·v = 0 too: dividing by 1 there gives the projection 0 without a 0 / 0
    return uv / torch.where(vv > 0, vv, torch.ones_like(vv)) * v


def default_tol(dtype: torch.dtype) -> float:
    """sqrt(eps) of ``dtype``: the relative residual below which ``gram_schmidt`` drops a row."""
    return torch.finfo(dtype).eps ** 0.5


def gram_schmidt(vectors, tol=None):
    """Orthonormal rows spanning the rows of ``vectors``, by modified Gram–Schmidt in the input
    order; a row whose residual norm is ≤ tol · its own norm is dropped (tol=None:
    ``default_tol`` of the dtype).

    Shape:
        vectors: (n, D)
        output: (r, D), r ≤ min(n, D) the number of rows kept
    """
    tol = default_tol(vectors.dtype) if tol is None else tol
    basis: list[torch.Tensor] = []
    for a in vectors:  # (D,)
        r = a
        for q in basis:  # modified: each projection is taken from the current residual
            r = r - (q * r).sum() * q
        norm = torch.linalg.vector_norm(r)
        if norm > tol * torch.linalg.vector_norm(a):
            basis.append(r / norm)
    if not basis:
        return vectors.new_zeros(0, vectors.shape[-1])
    return torch.stack(basis)


def low_rank_error(A, k):
    """‖A − A_k‖_F for the best rank-k approximation A_k of each matrix, by Eckart–Young:
    sqrt(Σ_{i>k} σ_i²) over the singular values σ_1 ≥ σ_2 ≥ … (0 when k ≥ min(n1, n2)).

    Shape:
        A: (..., n1, n2), n1 × n2 matrices; k: an int ≥ 0
        output: (...)
    """
    work = A if A.dtype in (torch.float32, torch.float64) else A.float()
    sigma = torch.linalg.svdvals(work)  # (..., min(n1, n2)), largest first
    return torch.linalg.vector_norm(sigma[..., k:], dim=-1).to(A.dtype)
