"""Appendix A — LLM math cheat sheet: the graded drills and the cases they are graded on.

The projection is graded on broadcast batches, the zero vector (projection 0, no NaN), parallel
and orthogonal vectors and lines given by very long or very short vectors.

Gram–Schmidt returns a variable number of rows, so every case is built so that the rows kept do
not depend on the precision: the float64 truth runs on the inputs rounded to the case's dtype, with
the default tolerance of float64 (sqrt(eps) is chosen by the dtype *of the inputs*), and must
agree with a naive run in that dtype on which rows are dependent. Hence:

* rows meant to be dependent are dependent **exactly** in every dtype: quarter-integers (a few
  significant bits) combined with small integer coefficients, exact in bfloat16 too, or any row
  beyond the D-th when n > D rows. Their residual is 0 in exact arithmetic, about 1e-16 in the truth
  and a few eps of the case's dtype in the naive run: below both tolerances;
* rows meant to be kept are either well conditioned (every residual at least 0.35 of its row's
  norm, drawn by rejection) or **nearly dependent by construction**: combinations of the rows of
  a randomly signed and permuted Hadamard matrix (entries ±1/4, exact binary fractions) with
  power-of-two coefficients, on which the whole process is exact in every dtype, so that the
  residual's size is the one the case states, 20 to 30 times the default tolerance (about 2
  times in 16 bits);
* a residual below the default tolerance, which the float64 truth would keep, appears only with
  an explicit ``tol`` (passed to the truth as well): one case where the given tol drops a row the
  default would keep, one where it keeps a row the default would drop.

The low-rank error follows Chapter 7's rule for 16-bit inputs (the SVD in float32, the result
rounded back; no float16, whose range the squared singular values leave); its cases include an
exactly low-rank integer matrix and a nearly low-rank one, on which subtracting the kept energy
from ‖A‖_F² loses the error's digits.
"""

from __future__ import annotations

import torch

from autograder.chapters import appA_catalog as catalog
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Kind
from autograder.symbolic import PROBABILITY, REAL, Derivation, Domain
from reference import formulas
from reference.linalg import gram_schmidt, low_rank_error, project

F64, F32, BF16, F16 = torch.float64, torch.float32, torch.bfloat16, torch.float16


# =========================================================================== projection
def project_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("u, v (5,)", c.randn(5), c.randn(5), public=True)
        c("a batch of pairs: u, v (4, 6)", c.randn(4, 6), c.randn(4, 6), tags=("batched",),
          public=True)
        c("one v for a batch: u (3, 8), v (8,)", c.randn(3, 8), c.randn(8),
          tags=("broadcast",), public=True)
        c("v = 0: the projection is 0", c.randn(5), torch.zeros(5, dtype=c.dtype),
          tags=("v = 0",), public=True)
        v = c.randn(6, 4)
        v[2] = 0.0
        c("broadcast u (2, 1, 4) against v (6, 4), v[2] = 0", c.randn(2, 1, 4), v,
          tags=("broadcast", "v = 0"))
        v = b.randn(7)
        c("u parallel to v: the projection is u", (-2.5 * v).to(c.dtype), v.to(c.dtype),
          tags=("parallel",))
        c("u orthogonal to v: the projection is 0",
          torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=c.dtype),
          torch.tensor([1.0, 2.0, 4.0, 0.0], dtype=c.dtype), tags=("orthogonal",))
        if c.dtype != F16:  # |v|² leaves float16's range
            c("long v: v (3, 5) scaled by 1e3", c.randn(3, 5), c.randn(3, 5, scale=1e3),
              tags=("|v| ≠ 1",))
            c("short v: v (3, 5) scaled by 1e-3", c.randn(3, 5), c.randn(3, 5, scale=1e-3),
              tags=("|v| ≠ 1",))
    return b.grid(rows)


# =========================================================================== Gram–Schmidt
def _quarters(b: CaseBuilder, *shape, scale=2.0):
    """Random multiples of 1/4 of size ~ ``scale`` (float64): small integer combinations of them
    are exact in bfloat16, so dependent rows stay exactly dependent in every dtype."""
    return (b.randn(*shape) * scale * 4).round() / 4


def _independent(b: CaseBuilder, m: int, d: int, quarters: bool = False):
    """m ≤ d rows in R^d whose Gram–Schmidt residuals are each at least 0.35 of their row's norm
    (by rejection with the case's generator: deterministic)."""
    while True:
        a = _quarters(b, m, d) if quarters else b.randn(m, d)
        residuals = torch.linalg.qr(a.T).R.diagonal().abs()
        if (residuals >= 0.35 * torch.linalg.vector_norm(a, dim=-1)).all():
            return a


def _hadamard_rows(b: CaseBuilder, d: int = 16):
    """d orthonormal rows with entries ±1/sqrt(d) (exact binary fractions for d = 4, 16): a
    Hadamard matrix with rows and columns permuted and rows' signs flipped at random."""
    H = torch.ones(1, 1, dtype=F64)
    while H.shape[0] < d:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)])
    rows, cols = torch.randperm(d, generator=b.gen), torch.randperm(d, generator=b.gen)
    signs = torch.where(b.rand(d) < 0.5, -1.0, 1.0).to(F64)
    return H[rows][:, cols] * signs[:, None] / d ** 0.5


def _nearly_dependent(b: CaseBuilder, delta: float):
    """Four rows in R^16; the third is in the first two's span but for delta along a new
    direction, so that its residual is exactly delta (relative: delta / sqrt(5 + delta²)); the
    fourth is random, with a residual of at least 0.7 of its norm."""
    h = _hadamard_rows(b)
    while True:
        last = _quarters(b, 16, scale=0.5)
        if torch.linalg.vector_norm(last @ h[3:].T) >= 0.7 * torch.linalg.vector_norm(last):
            break
    return torch.stack([2 * h[0], 3 * h[0] - 4 * h[1], h[0] + 2 * h[1] + delta * h[2], last])


# Per dtype: the residual δ = 2^-n of a nearly dependent row kept by the default tol, then
# (tol, δ) of a row an explicit tol drops though the default keeps it, and of a row an explicit
# tol keeps though the default drops it. Every δ is exact in its dtype (see _nearly_dependent).
_TOLERANCE_ROWS = {
    F64: (2.0 ** -20, (2.0 ** -10, 2.0 ** -14), (2.0 ** -40, 2.0 ** -30)),
    F32: (2.0 ** -6, (2.0 ** -4, 2.0 ** -6), (2.0 ** -20, 2.0 ** -14)),
    BF16: (2.0 ** -1, (0.5, 2.0 ** -1), (2.0 ** -6, 2.0 ** -3)),
    F16: (2.0 ** -3, (0.25, 2.0 ** -2), (2.0 ** -8, 2.0 ** -5)),
}


def gram_schmidt_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, vectors, **kw):
            c(name, vectors.to(c.dtype), **kw)

        case("3 independent rows in R^6", _independent(b, 3, 6), public=True)
        a = _independent(b, 3, 6, quarters=True)
        case("5 rows of rank 3: a0, a1, a0 − 2·a1, a2, a0 + a2",
             torch.stack([a[0], a[1], a[0] - 2 * a[1], a[2], a[0] + a[2]]),
             tags=("dependent rows",), public=True)
        a = _independent(b, 2, 5)
        case("a zero row first, then a row repeated",
             torch.stack([torch.zeros(5, dtype=F64), a[0], a[1], a[0]]),
             tags=("zero row", "dependent rows"), public=True)
        a = _independent(b, 4, 4)
        case("7 rows in R^4 (n > D): rank 4", torch.cat([a, b.randn(3, 4)]), tags=("n > D",),
             public=True)
        near, (drop_tol, drop_delta), (keep_tol, keep_delta) = _TOLERANCE_ROWS[c.dtype]
        case(f"nearly dependent: a residual of {near:g} on a row of norm √5, kept",
             _nearly_dependent(b, near), tags=("nearly dependent",), public=True)
        case(f"tol={drop_tol:g} drops a residual of {drop_delta:g} that the default keeps",
             _nearly_dependent(b, drop_delta), tags=("explicit tol",), tol=drop_tol)
        case(f"tol={keep_tol:g} keeps a residual of {keep_delta:g} that the default drops",
             _nearly_dependent(b, keep_delta), tags=("explicit tol",), tol=keep_tol)
        case("rank 1: every row a multiple of the first",
             _quarters(b, 1, 6) * torch.tensor([[1.0], [-2.0], [0.5], [3.0]], dtype=F64),
             tags=("dependent rows",))
        a = _independent(b, 10, 16, quarters=True)
        case("12 rows in R^16 of rank 10", torch.cat([a, (a[1] - a[7])[None], (2 * a[4])[None]]),
             tags=("dependent rows",))
        if c.dtype != F16:  # beyond float16's range
            a = _independent(b, 3, 5, quarters=True)
            rows_ = torch.stack([a[0], a[1], a[0] + a[1], a[2]])
            case("rows of length ~1e12, one dependent", rows_ * 2.0 ** 40,
                 tags=("scale", "dependent rows"))
            case("rows of length ~1e-12, one dependent", rows_ * 2.0 ** -40, tags=("scale",))
    return b.grid(rows)


# =========================================================================== Eckart–Young
def low_rank_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("A (6, 4), k=2", c.randn(6, 4), 2, public=True)
        c("batched A (3, 5, 7), k=1", c.randn(3, 5, 7), 1, tags=("batched",), public=True)
        c("k=0: the whole ‖A‖_F", c.randn(4, 4), 0, tags=("k = 0",), public=True)
        c("k=3 = min(n1, n2): error 0", c.randn(3, 6), 3, tags=("k ≥ min(n1, n2)",))
        c("k=6 > min(n1, n2)", c.randn(2, 5, 4), 6, tags=("k ≥ min(n1, n2)",))
        c("k = min(n1, n2) − 1: one value dropped", c.randn(7, 5), 4)
        exact = (b.randint(-3, 4, (2, 6, 2)) @ b.randint(-3, 4, (2, 2, 5))).to(F64)
        c("integer matrices of rank ≤ 2, k=2: error 0", exact.to(c.dtype), 2,
          tags=("low rank",))
        near = b.randn(8, 3) @ b.randn(3, 6) + 1e-4 * b.randn(8, 6)
        c("rank 3 plus noise 1e-4 (before rounding), k=3", near.to(c.dtype), 3,
          tags=("nearly low rank",), public=True)
        c("non-contiguous A (6, 6), k=2", c.randn(6, 6), 2, noncontig=(0,))
    return b.grid(rows, exclude=(F16,))


CHAPTER = Chapter(
    id="appA",
    title="LLM math cheat sheet",
    notebook="appA_math/appA_math.py",
    exercises=[
        Exercise(id="appA.project", name="project", points=1.0, reference=project,
                 cases=project_cases, mistakes=catalog.PROJECT_MISTAKES),
        Exercise(id="appA.gram_schmidt", name="gram_schmidt", points=1.5,
                 reference=gram_schmidt, cases=gram_schmidt_cases,
                 mistakes=catalog.GRAM_SCHMIDT_MISTAKES),
        Exercise(id="appA.low_rank_error", name="low_rank_error", points=1.0,
                 reference=low_rank_error, cases=low_rank_cases,
                 mistakes=catalog.LOW_RANK_MISTAKES),
        # the four derivations of A.3–A.6: formulas, read from the answer cell's text
        Exercise(id="appA.cross_entropy_grad_first", name="cross_entropy_grad_first",
                 points=0.5, reference=formulas.cross_entropy_grad_first, kind=Kind.SYMBOLIC,
                 derivation=Derivation(symbols=("z1", "z2", "z3"),
                                       domains={"z1": REAL, "z2": REAL, "z3": REAL}),
                 mistakes=catalog.CE_GRAD_MISTAKES),
        Exercise(id="appA.training_compute", name="training_compute", points=0.5,
                 reference=formulas.training_compute, kind=Kind.SYMBOLIC,
                 derivation=Derivation(symbols=("N", "D"),
                                       domains={"N": Domain(1e6, 1e12, integer=True),
                                                "D": Domain(1e6, 1e13, integer=True)}),
                 mistakes=catalog.COMPUTE_MISTAKES),
        Exercise(id="appA.kl_bernoulli", name="kl_bernoulli", points=0.5,
                 reference=formulas.kl_bernoulli, kind=Kind.SYMBOLIC,
                 derivation=Derivation(symbols=("p", "q"),
                                       domains={"p": PROBABILITY, "q": PROBABILITY}),
                 mistakes=catalog.KL_MISTAKES),
        Exercise(id="appA.categorical_mle", name="categorical_mle", points=0.5,
                 reference=formulas.categorical_mle, kind=Kind.SYMBOLIC,
                 derivation=Derivation(symbols=("c1", "c2", "c3"),
                                       domains={c: Domain(1, 1000, integer=True)
                                                for c in ("c1", "c2", "c3")}),
                 mistakes=catalog.MLE_MISTAKES),
    ],
)
