"""Appendix A alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn`` and ``F``.
"""

from __future__ import annotations

import torch

from autograder.symbolic import Answer


# =========================================================================== projection
def project_through_unit_vector(u, v):
    # the line's unit direction first, then (u·e) e; a zero v has no direction: e = 0
    length = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    e = v / torch.where(length > 0, length, torch.ones_like(length))
    return (u * e).sum(-1, keepdim=True) * e


def project_with_the_matrix(u, v):
    # P = v vᵀ / vᵀv applied to u, with the batch axes broadcast first
    u, v = torch.broadcast_tensors(u, v)
    vv = torch.linalg.vecdot(v, v)[..., None, None]
    P = v[..., :, None] * v[..., None, :] / torch.where(vv == 0, torch.ones_like(vv), vv)
    return (P @ u[..., :, None])[..., 0]


PROJECT_ALTERNATIVES = (project_through_unit_vector, project_with_the_matrix)


# =========================================================================== Gram–Schmidt
def gram_schmidt_classical(vectors, tol=None):
    # classical: all the coefficients of a row from the row itself, r = a − Qᵀ(Q a)
    tol = torch.finfo(vectors.dtype).eps ** 0.5 if tol is None else tol
    Q = vectors.new_zeros(0, vectors.shape[1])
    for a in vectors:
        r = a - (Q @ a) @ Q
        if r.norm() > tol * a.norm():
            Q = torch.cat([Q, (r / r.norm())[None]])
    return Q


def gram_schmidt_twice(vectors, tol=None):
    # "twice is enough": a second classical pass removes what rounding left of the first
    if tol is None:
        tol = torch.finfo(vectors.dtype).eps ** 0.5
    kept = []
    for a in vectors:
        r = a
        for _ in range(2):  # the same classical pass, twice
            coefficients = [torch.dot(q, r) for q in kept]
            for c, q in zip(coefficients, kept):
                r = r - c * q
        if torch.linalg.vector_norm(r) > tol * torch.linalg.vector_norm(a):
            kept.append(r / torch.linalg.vector_norm(r))
    return torch.stack(kept) if kept else vectors[:0]


GRAM_SCHMIDT_ALTERNATIVES = (gram_schmidt_classical, gram_schmidt_twice)


# =========================================================================== Eckart–Young
def low_rank_error_by_reconstruction(A, k):
    # the definition: build A_k from the truncated SVD and measure what it misses (for
    # k ≥ min(n1, n2), A_k is A itself: the error is exactly 0, not the rounding of A − U S Qᵀ)
    if k >= min(A.shape[-2:]):
        return A.new_zeros(A.shape[:-2])
    work = A.float() if A.dtype in (torch.bfloat16, torch.float16) else A
    U, S, Vh = torch.linalg.svd(work, full_matrices=False)
    A_k = (U[..., :k] * S[..., None, :k]) @ Vh[..., :k, :]
    return torch.linalg.matrix_norm(work - A_k).to(A.dtype)


def low_rank_error_for_every_k(A, k):
    # tail energies for every k at once, summed from the smallest singular value up
    work = A.to(torch.promote_types(A.dtype, torch.float32))
    energy = torch.linalg.svdvals(work).square()
    tails = energy.flip(-1).cumsum(-1).flip(-1)  # tails[..., j] = Σ_{i ≥ j} σ_i²
    if k >= tails.shape[-1]:
        return torch.zeros(tails.shape[:-1], dtype=A.dtype, device=A.device)
    return tails[..., k].sqrt().to(A.dtype)


LOW_RANK_ALTERNATIVES = (low_rank_error_by_reconstruction, low_rank_error_for_every_k)


# =========================================================================== derivations
# Formulas are graded as text (read, never run): the alternatives are answer-cell texts.
CE_GRAD_ALTERNATIVES = (
    Answer("shifted_logsumexp", "def cross_entropy_grad_first(z1, z2, z3):\n"
                                "    others = exp(z2 - z1) + exp(z3 - z1)\n"
                                "    return 1 / (1 + others) - 1\n"),
    Answer("minus_rest", "def cross_entropy_grad_first(z1, z2, z3):\n"
                         "    total = exp(z1) + exp(z2) + exp(z3)\n"
                         "    return -(exp(z2) + exp(z3)) / total\n"),
)
COMPUTE_ALTERNATIVES = (
    Answer("per_token_times_tokens", "def training_compute(N, D):\n"
                                     "    forward, backward = 2 * N, 4 * N\n"
                                     "    return (forward + backward) * D\n"),
)
KL_ALTERNATIVES = (
    Answer("log_ratios", "def kl_bernoulli(p, q):\n"
                         "    return p * log(p / q) + (1 - p) * log((1 - p) / (1 - q))\n"),
    Answer("sympy_prefixed", "def kl_bernoulli(p, q):\n"
                             "    return p * (sympy.log(p) - sympy.log(q)) + (1 - p) * "
                             "(sympy.log(1 - p) - sympy.log(1 - q))\n"),
)
MLE_ALTERNATIVES = (
    Answer("lagrange_multiplier", "def categorical_mle(c1, c2, c3):\n"
                                  "    lam = c1 + c2 + c3  # the constraint fixes λ = n\n"
                                  "    return c1 / lam\n"),
)

ALTERNATIVES = {
    "appA.project": PROJECT_ALTERNATIVES,
    "appA.gram_schmidt": GRAM_SCHMIDT_ALTERNATIVES,
    "appA.low_rank_error": LOW_RANK_ALTERNATIVES,
    "appA.cross_entropy_grad_first": CE_GRAD_ALTERNATIVES,
    "appA.training_compute": COMPUTE_ALTERNATIVES,
    "appA.kl_bernoulli": KL_ALTERNATIVES,
    "appA.categorical_mle": MLE_ALTERNATIVES,
}
