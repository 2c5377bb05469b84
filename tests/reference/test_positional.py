"""reference.positional, sinusoids, T5 buckets and ALiBi, against closed forms written out with
``math`` scalar by scalar (not the vectorised code under test) and the identities they must satisfy."""

import math

import pytest
import torch

from reference.positional import (
    alibi_bias,
    alibi_slopes,
    sinusoidal_positional_encoding,
    sinusoidal_shift_matrix,
    t5_relative_position_bucket,
)

GEN_DTYPES = {"f32": torch.float32, "f64": torch.float64}


def pe_closed_form(n_positions, d_model, base=10000.0):
    """PE[p, 2i] = sin(p / base^(2i/D)), PE[p, 2i+1] = cos(...), one scalar at a time in float64."""
    pe = torch.empty(n_positions, d_model, dtype=torch.float64)
    for p in range(n_positions):
        for c in range(d_model):
            w = base ** (-(c - c % 2) / d_model)
            pe[p, c] = math.sin(p * w) if c % 2 == 0 else math.cos(p * w)
    return pe


@pytest.mark.parametrize("dtype", GEN_DTYPES.values(), ids=GEN_DTYPES.keys())
@pytest.mark.parametrize("n,d,base", [(50, 16, 10000.0), (7, 5, 10000.0), (33, 6, 100.0), (1, 2, 10.0)],
                         ids=["50x16", "odd-d", "base100", "one-position"])
def test_sinusoidal_matches_closed_form(n, d, base, dtype, assert_matches_truth):
    pe = sinusoidal_positional_encoding(n, d, base, dtype=dtype)
    # Rounding the angle p * w costs u * p * w; sin and cos have slope <= 1.
    assert_matches_truth(pe, pe_closed_form(n, d, base), dtype, 1 + n, k=2.0)


def test_sinusoidal_defaults_to_float32_and_even_columns_are_sines():
    pe = sinusoidal_positional_encoding(4, 6)
    assert pe.dtype == torch.float32 and pe.shape == (4, 6)
    assert torch.all(pe[0, 0::2] == 0) and torch.all(pe[0, 1::2] == 1)


@pytest.mark.parametrize("k", [0, 1, 5, -3, 2.5], ids=["k0", "k1", "k5", "k-3", "k2.5"])
def test_shift_matrix_moves_the_encoding_and_is_orthogonal(k):
    d, base = 12, 100.0
    M = sinusoidal_shift_matrix(k, d, base, dtype=torch.float64)
    p = torch.arange(20, dtype=torch.float64)
    w = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    def pe_at(pos):  # (N, D) at arbitrary real positions
        a = pos[:, None] * w
        return torch.stack([a.sin(), a.cos()], -1).flatten(-2)
    torch.testing.assert_close(pe_at(p) @ M.T, pe_at(p + k), rtol=0, atol=1e-13)
    torch.testing.assert_close(M @ M.T, torch.eye(d, dtype=torch.float64), rtol=0, atol=1e-14)


def test_shift_matrices_compose_and_invert():
    M = lambda k: sinusoidal_shift_matrix(k, 8, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(M(3) @ M(4), M(7), rtol=0, atol=1e-14)
    torch.testing.assert_close(M(-5), M(5).T, rtol=0, atol=1e-15)
    assert sinusoidal_shift_matrix(1, 8).dtype == torch.float32


def test_shift_matrix_rejects_odd_width():
    with pytest.raises(ValueError):
        sinusoidal_shift_matrix(1, 7)


# --------------------------------------------------------------------------- T5
def t5_bucket_scalar(rel, bidirectional, num_buckets, max_distance):
    """The T5 bucket of one relative position, in plain Python (float64 log)."""
    out = 0
    if bidirectional:
        num_buckets //= 2
        if rel > 0:
            out = num_buckets
        n = abs(rel)
    else:
        n = max(-rel, 0)
    exact = num_buckets // 2
    if n < exact:
        return out + n
    big = exact + int(math.log(n / exact) / math.log(max_distance / exact) * (num_buckets - exact))
    return out + min(big, num_buckets - 1)


T5_CONFIGS = [(32, 128), (16, 64), (8, 20), (64, 256), (10, 50), (12, 40)]


@pytest.mark.parametrize("bidirectional", [True, False], ids=["bidirectional", "causal"])
@pytest.mark.parametrize("num_buckets,max_distance", T5_CONFIGS, ids=[f"{b}-{m}" for b, m in T5_CONFIGS])
def test_t5_buckets_match_scalar_definition(bidirectional, num_buckets, max_distance):
    """Also proves that the float32 log of the reference gives the float64 buckets on these
    ranges, so a student who computes the log in float64 is graded the same."""
    rel = torch.arange(-1500, 1500)
    got = t5_relative_position_bucket(rel, bidirectional, num_buckets, max_distance)
    expected = torch.tensor([t5_bucket_scalar(r, bidirectional, num_buckets, max_distance)
                             for r in rel.tolist()])
    assert got.dtype == torch.int64
    assert torch.equal(got, expected)


def test_t5_known_values_and_shape():
    rel = torch.tensor([[0, 1, -1, 7, -8, 8, 16, 200], [-200, 15, -15, 127, -128, 3, -3, 0]])
    got = t5_relative_position_bucket(rel)
    # Bidirectional, 32 buckets: 16 per side, 8 exact; distance 16 = 8 * 16^(1/4) -> bucket 8 + 2;
    # distance 15: 8 + floor(8 log(15/8) / log 16) = 8 + floor(1.81) = 9.
    assert got.tolist() == [[0, 17, 1, 23, 8, 24, 26, 31], [15, 16 + 9, 9, 31, 15, 19, 3, 0]]
    assert t5_relative_position_bucket(torch.tensor([5, -5]), bidirectional=False).tolist() == [0, 5]


# --------------------------------------------------------------------------- ALiBi
def test_alibi_slopes_closed_forms():
    torch.testing.assert_close(alibi_slopes(8, dtype=torch.float64),
                               torch.tensor([2.0 ** -k for k in range(1, 9)], dtype=torch.float64))
    torch.testing.assert_close(alibi_slopes(1), torch.tensor([2.0 ** -8]))
    torch.testing.assert_close(alibi_slopes(4, dtype=torch.float64),
                               torch.tensor([2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8],
                                            dtype=torch.float64))
    # 12 heads: the 8 slopes of 8 heads, then the odd-numbered slopes of 16 heads, 2^(-8h/16), h odd.
    expected = [2.0 ** -k for k in range(1, 9)] + [2.0 ** (-h / 2) for h in (1, 3, 5, 7)]
    torch.testing.assert_close(alibi_slopes(12, dtype=torch.float64),
                               torch.tensor(expected, dtype=torch.float64))
    expected6 = [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8, 2.0 ** -1, 2.0 ** -3]
    torch.testing.assert_close(alibi_slopes(6, dtype=torch.float64),
                               torch.tensor(expected6, dtype=torch.float64))
    assert alibi_slopes(5).dtype == torch.float32


@pytest.mark.parametrize("H,L,S", [(4, 5, 5), (6, 3, 7), (3, 6, 2)], ids=["square", "L<S", "L>S"])
def test_alibi_bias_is_minus_slope_times_distance(H, L, S):
    bias = alibi_bias(H, L, S, dtype=torch.float64)
    slopes = alibi_slopes(H, dtype=torch.float64)
    assert bias.shape == (H, L, S)
    for h in range(H):
        for i in range(L):
            for j in range(S):
                assert bias[h, i, j].item() == pytest.approx(-slopes[h].item() * abs(i - j), abs=1e-15)


def test_alibi_bias_under_causal_mask_is_a_row_shift_of_m_times_j():
    """Softmax is shift-invariant per row: -m (i - j) and m j (BLOOM's form) give the same weights."""
    H, T = 4, 6
    bias = alibi_bias(H, T, T, dtype=torch.float64)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    scores = torch.randn(H, T, T, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    other = alibi_slopes(H, dtype=torch.float64)[:, None, None] * torch.arange(T, dtype=torch.float64)
    a = torch.softmax((scores + bias).masked_fill(~causal, float("-inf")), -1)
    b = torch.softmax((scores + other).masked_fill(~causal, float("-inf")), -1)
    torch.testing.assert_close(a, b)
