"""reference.positional RoPE (rope_cache, apply_rope in both layouts, rope_complex) against explicit
2x2 rotation matrices and complex multiplication by torch.polar, plus the identities RoPE exists for:
norms kept, R_m R_n = R_{m+n}, scores that depend only on m - n, the two layouts related by a
permutation. CUDA variants are marked ``cuda``."""

import pytest
import torch

from reference.positional import (
    apply_rope,
    rope_cache,
    rope_complex,
    to_half_split,
    to_interleaved,
)


def rotation_matrix(m, E, base, interleaved):
    """The (E, E) matrix R_m with rope(x)[t] = R_m x[t], built entry by entry in float64."""
    R = torch.zeros(E, E, dtype=torch.float64)
    for i in range(E // 2):
        a = m * base ** (-2 * i / E)
        c, s = torch.tensor(a, dtype=torch.float64).cos(), torch.tensor(a, dtype=torch.float64).sin()
        i1, i2 = (2 * i, 2 * i + 1) if interleaved else (i, i + E // 2)
        R[i1, i1], R[i1, i2], R[i2, i1], R[i2, i2] = c, -s, s, c
    return R


def truth_rope(x, positions, base, interleaved):
    x = x.double()
    out = torch.empty_like(x)
    for t, m in enumerate(positions.tolist()):
        out[..., t, :] = x[..., t, :] @ rotation_matrix(m, x.shape[-1], base, interleaved).T
    return out


LAYOUTS = {"half-split": False, "interleaved": True}


@pytest.mark.parametrize("interleaved", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("shape,base,positions", [
    ((6, 8), 10000.0, None), ((2, 3, 5, 16), 10000.0, None), ((4, 6), 100.0, [3, 0, 7, 100]),
    ((2, 4, 2), 10.0, [5, 5, 1, 2])], ids=["T6-E8", "B2-H3", "base100-positions", "E2"])
def test_apply_rope_matches_rotation_matrices(shape, base, positions, interleaved, dtype, gen,
                                              assert_matches_truth):
    x = torch.randn(shape, generator=gen).to(dtype)
    pos = torch.arange(shape[-2]) if positions is None else torch.tensor(positions)
    got = apply_rope(x, None if positions is None else pos, base, interleaved)
    # |x| times (1 + angle): rounding the angle m * theta costs u * m * theta, then cos/sin/products.
    magnitude = x.double().abs().max().item() * (2 + pos.max().item())
    assert_matches_truth(got, truth_rope(x, pos, base, interleaved), dtype, magnitude, k=2.0)


def test_rope_cache_is_cos_and_sin_of_m_theta():
    cos, sin = rope_cache(10, 8, base=100.0, dtype=torch.float64)
    m = torch.arange(10, dtype=torch.float64)[:, None]
    theta = torch.tensor([100.0 ** (-2 * i / 8) for i in range(4)], dtype=torch.float64)
    torch.testing.assert_close(cos, (m * theta).cos())
    torch.testing.assert_close(sin, (m * theta).sin())
    c32, s32 = rope_cache(3, 4)
    assert c32.dtype == s32.dtype == torch.float32 and c32.shape == (3, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("positions", [None, [2, 9, 0, 31, 4]], ids=["default", "given"])
def test_rope_complex_equals_polar_multiplication_and_interleaved_rope(dtype, gen, positions,
                                                                     assert_matches_truth):
    x = torch.randn(2, 5, 8, generator=gen).to(dtype)
    pos = None if positions is None else torch.tensor(positions)
    got = rope_complex(x, pos)
    p = torch.arange(5) if pos is None else pos
    angle = p.double()[:, None] * (10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8))
    z = torch.view_as_complex(x.double().reshape(2, 5, 4, 2).contiguous())
    truth = torch.view_as_real(z * torch.polar(torch.ones_like(angle), angle)).flatten(-2)
    assert got.dtype == dtype and got.shape == x.shape
    assert_matches_truth(got, truth, dtype, 40, k=4)
    assert_matches_truth(got, apply_rope(x, pos, interleaved=True), dtype, 40, k=4)


@pytest.mark.parametrize("interleaved", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_rope_properties(interleaved, gen):
    x = torch.randn(3, 7, 16, generator=gen, dtype=torch.float64)
    pos = torch.randint(0, 1000, (7,), generator=gen)
    rot = apply_rope(x, pos, interleaved=interleaved)
    # Norm of every pair, hence of every vector, is kept.
    torch.testing.assert_close(rot.norm(dim=-1), x.norm(dim=-1))
    # R_m R_n = R_{m+n}.
    n = torch.randint(0, 1000, (7,), generator=gen)
    torch.testing.assert_close(apply_rope(rot, n, interleaved=interleaved),
                               apply_rope(x, pos + n, interleaved=interleaved))
    # <R_m q, R_n k> depends only on m - n: shift every position by 12345.
    q, k = torch.randn(2, 7, 16, generator=gen, dtype=torch.float64)
    scores = lambda off: (apply_rope(q, pos + off, interleaved=interleaved)  # noqa: E731
                          @ apply_rope(k, pos + off, interleaved=interleaved).T)
    torch.testing.assert_close(scores(0), scores(12345), rtol=0, atol=1e-9)
    # Gradient of a rotation is the inverse rotation: R_{-m}.
    xg = x.clone().requires_grad_(True)
    g = torch.randn_like(x)
    (apply_rope(xg, pos, interleaved=interleaved) * g).sum().backward()
    torch.testing.assert_close(xg.grad, apply_rope(g, -pos, interleaved=interleaved))


def test_layouts_agree_after_permutation(gen):
    x = torch.randn(2, 6, 12, generator=gen, dtype=torch.float64)
    half = apply_rope(x, interleaved=False)
    inter = apply_rope(to_interleaved(x), interleaved=True)
    torch.testing.assert_close(half, to_half_split(inter))
    torch.testing.assert_close(to_half_split(to_interleaved(x)), x)
    # ... and differ without it (the layouts are not interchangeable).
    assert (half - apply_rope(x, interleaved=True)).abs().max() > 0.1


def test_odd_head_dim_is_rejected():
    with pytest.raises(ValueError):
        apply_rope(torch.randn(3, 5))


@pytest.mark.cuda
@pytest.mark.parametrize("interleaved", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("cuda_dtype", [torch.float32, torch.bfloat16, torch.float16],
                         ids=["f32", "bf16", "f16"])
def test_apply_rope_cuda(interleaved, cuda_dtype, gen, assert_matches_truth):
    x = torch.randn(2, 4, 9, 16, generator=gen).to(cuda_dtype)
    got = apply_rope(x.cuda(), interleaved=interleaved)
    assert got.is_cuda
    truth = truth_rope(x, torch.arange(9), 10000.0, interleaved)
    assert_matches_truth(got, truth, cuda_dtype, x.double().abs().max().item() * 11, k=2.0)
    c = rope_complex(x.float().cuda())
    torch.testing.assert_close(c.cpu().double(), truth_rope(x.float(), torch.arange(9), 10000.0, True),
                               rtol=0, atol=1e-4)
