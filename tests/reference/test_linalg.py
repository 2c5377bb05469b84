"""reference.linalg against torch.linalg and the identities it states: a projection is idempotent
and leaves a residual orthogonal to the line; Gram–Schmidt equals torch.linalg.qr up to the signs
QR leaves free, keeps the rank of its input and drops what its tolerance says; the low-rank error is
the norm of the tail singular values, reached by the truncated SVD and by no other rank-k matrix
tried (Eckart–Young)."""

import pytest
import torch

from reference.linalg import default_tol, gram_schmidt, low_rank_error, project

F64 = torch.float64


# --------------------------------------------------------------------------- projection
def test_projection_is_idempotent_with_an_orthogonal_residual(gen):
    u, v = torch.randn(5, 7, generator=gen, dtype=F64), torch.randn(5, 7, generator=gen, dtype=F64)
    p = project(u, v)
    torch.testing.assert_close(project(p, v), p)  # P² = P
    residual_dot = ((u - p) * v).sum(-1)
    torch.testing.assert_close(residual_dot, torch.zeros(5, dtype=F64), atol=1e-12, rtol=0)
    # the same as the projection matrix v vᵀ / vᵀv applied to u
    P = torch.einsum("bi,bj->bij", v, v) / (v * v).sum(-1)[:, None, None]
    torch.testing.assert_close(p, torch.einsum("bij,bj->bi", P, u))
    # the line, not the vector: any nonzero multiple of v gives the same projection
    torch.testing.assert_close(project(u, -3.5 * v), p)


def test_projection_onto_zero_is_zero_and_shapes_broadcast(gen):
    u = torch.randn(2, 1, 4, generator=gen, dtype=F64)
    v = torch.randn(3, 4, generator=gen, dtype=F64)
    v[1] = 0.0
    p = project(u, v)
    assert p.shape == (2, 3, 4)
    assert torch.equal(p[:, 1], torch.zeros(2, 4, dtype=F64))
    torch.testing.assert_close(p[1, 2], (u[1, 0] @ v[2]) / (v[2] @ v[2]) * v[2])


def test_projection_in_each_dtype_matches_float64(gen, dtype, assert_matches_truth):
    u = torch.randn(6, 16, generator=gen, dtype=F64).to(dtype)
    v = torch.randn(6, 16, generator=gen, dtype=F64).to(dtype)
    truth = project(u.double(), v.double())
    # |u·v| / |v|² · |v| ≤ |u|; each of the two dot products rounds D terms
    magnitude = torch.linalg.vector_norm(u.double(), dim=-1).max() * 16
    assert_matches_truth(project(u, v), truth, dtype, magnitude)


# --------------------------------------------------------------------------- Gram–Schmidt
def _qr_rows(vectors):
    """torch.linalg.qr of the rows, signs fixed so that R has a positive diagonal."""
    Q, R = torch.linalg.qr(vectors.T)  # (D, M), (M, M)
    return (Q * torch.sign(torch.diagonal(R))).T


@pytest.mark.parametrize("shape", [(3, 5), (6, 6), (1, 4)], ids=["M<D", "M=D", "one row"])
def test_gram_schmidt_is_qr_up_to_signs(gen, shape):
    vectors = torch.randn(*shape, generator=gen, dtype=F64)
    basis = gram_schmidt(vectors)
    torch.testing.assert_close(basis, _qr_rows(vectors))
    torch.testing.assert_close(basis @ basis.T, torch.eye(shape[0], dtype=F64))
    assert ((basis * vectors).sum(-1) > 0).all()  # the stated sign: along its own input row


def test_gram_schmidt_drops_dependent_rows_and_keeps_the_span(gen):
    a = torch.randn(3, 6, generator=gen, dtype=F64)
    vectors = torch.stack([a[0], 2 * a[0], a[1], torch.zeros(6, dtype=F64), a[0] - a[1], a[2]])
    basis = gram_schmidt(vectors)
    assert basis.shape == (3, 6) == (int(torch.linalg.matrix_rank(vectors)), 6)
    torch.testing.assert_close(basis, _qr_rows(a))  # the kept rows are a[0], a[1], a[2]
    # every input row lies in the span: projecting onto the basis reconstructs it
    torch.testing.assert_close(vectors @ basis.T @ basis, vectors)


def test_more_rows_than_dimensions_give_a_basis_of_the_space(gen):
    vectors = torch.randn(9, 4, generator=gen, dtype=F64)
    basis = gram_schmidt(vectors)
    torch.testing.assert_close(basis, _qr_rows(vectors[:4]))
    torch.testing.assert_close(basis.T @ basis, torch.eye(4, dtype=F64))


def test_the_tolerance_is_relative_and_follows_the_dtype(gen):
    assert default_tol(F64) == torch.finfo(F64).eps ** 0.5
    assert default_tol(torch.bfloat16) == pytest.approx(0.0884, rel=1e-3)
    a = torch.randn(2, 5, generator=gen, dtype=F64)
    w = a[1] - project(a[1], a[0])
    w = w / w.norm()
    for scale in (1e-6, 1.0, 1e6):  # relative: the scale of the rows does not matter
        near = scale * torch.stack([a[0], a[0] + 1e-6 * a[0].norm() * w])
        assert gram_schmidt(near).shape == (2, 5)  # residual 1e-6 > sqrt(eps): kept
        torch.testing.assert_close(gram_schmidt(near)[1], w, atol=1e-8, rtol=0)
        assert gram_schmidt(near, tol=1e-5).shape == (1, 5)  # below an explicit tol: dropped
    assert gram_schmidt(torch.zeros(3, 4, dtype=F64)).shape == (0, 4)


def test_gram_schmidt_in_low_precision_drops_exactly_dependent_rows(gen):
    # integer entries: the dependent rows are exact in bfloat16 too, and their rounding noise
    # (a few eps = a few 0.008) stays below the dtype's tolerance
    a = torch.randint(-4, 5, (3, 8), generator=gen).to(F64)
    a[0, 0], a[1, 1], a[2, 2] = 9.0, 9.0, 9.0  # well conditioned
    vectors = torch.cat([a, (a[0] - a[1])[None], (2 * a[2] + a[0])[None]]).to(torch.bfloat16)
    basis = gram_schmidt(vectors)
    assert basis.dtype == torch.bfloat16 and basis.shape == (3, 8)
    truth = gram_schmidt(vectors.double())
    assert (basis.double() - truth).abs().max() < 8 * torch.finfo(torch.bfloat16).eps


# --------------------------------------------------------------------------- Eckart–Young
@pytest.mark.parametrize("k", [0, 1, 3, 5, 7])
def test_low_rank_error_is_the_tail_norm_reached_by_the_truncated_svd(gen, k):
    A = torch.randn(2, 8, 5, generator=gen, dtype=F64)
    err = low_rank_error(A, k)
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    torch.testing.assert_close(err, torch.sqrt((S[:, k:] ** 2).sum(-1)))
    A_k = (U[..., :k] * S[:, None, :k]) @ Vh[:, :k]
    torch.testing.assert_close(torch.linalg.matrix_norm(A - A_k), err)
    if k == 0:
        torch.testing.assert_close(err, torch.linalg.matrix_norm(A))
    if k >= 5:
        assert torch.equal(err, torch.zeros(2, dtype=F64))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_no_other_rank_k_matrix_does_better(gen, k):
    A = torch.randn(7, 6, generator=gen, dtype=F64)
    best = low_rank_error(A, k)
    for _ in range(20):  # the best matrix with a random k-dimensional row space, and a random one
        Q = torch.linalg.qr(torch.randn(6, k, generator=gen, dtype=F64)).Q  # (6, k)
        assert torch.linalg.matrix_norm(A - A @ Q @ Q.T) >= best - 1e-12
        left = torch.randn(7, k, generator=gen, dtype=F64)
        B = left @ torch.randn(k, 6, generator=gen, dtype=F64)
        assert torch.linalg.matrix_norm(A - B) >= best - 1e-12


def test_low_rank_error_in_each_dtype(gen, dtype, assert_matches_truth):
    A = torch.randn(3, 6, 4, generator=gen, dtype=F64).to(dtype)
    err = low_rank_error(A, 2)
    # an SVD in float32 for bfloat16 (then rounded): its singular values are accurate to about
    # eps · σ_max each
    magnitude = torch.linalg.matrix_norm(A.double()).max() * 4
    assert_matches_truth(err, low_rank_error(A.double(), 2), dtype, magnitude)
