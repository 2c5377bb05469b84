"""reference.scaled_dot_product_attention against torch's F.scaled_dot_product_attention."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import scaled_dot_product_attention

NEG_INF = float("-inf")

# id: (q shape, k shape, v shape, mask kind, mask shape, is_causal, scale)
CASES = {
    "no-batch": ((5, 8), (7, 8), (7, 8), None, None, False, None),
    "batch1": ((1, 5, 8), (1, 7, 8), (1, 7, 6), None, None, False, None),
    "batch2": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6), None, None, False, None),
    "broadcast-batch": ((2, 1, 5, 8), (1, 3, 7, 8), (1, 3, 7, 6), None, None, False, None),
    "L1": ((2, 1, 8), (2, 7, 8), (2, 7, 8), None, None, False, None),
    "S1": ((2, 4, 8), (2, 1, 8), (2, 1, 8), None, None, False, None),
    "odd-E": ((2, 4, 5), (2, 6, 5), (2, 6, 3), None, None, False, None),
    "Ev-ne-E": ((2, 4, 8), (2, 6, 8), (2, 6, 16), None, None, False, None),
    "bool-mask-LS": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), "bool", (5, 7), False, None),
    "bool-mask-full": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), "bool", (2, 3, 5, 7), False, None),
    "bool-mask-pad": ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), "bool", (2, 1, 1, 7), False, None),
    "float-mask": ((2, 5, 8), (2, 7, 8), (2, 7, 4), "float", (5, 7), False, None),
    "float-mask-partly-inf": ((2, 5, 8), (2, 7, 8), (2, 7, 4), "float-inf", (2, 5, 7), False, None),
    "causal-square": ((2, 3, 6, 8), (2, 3, 6, 8), (2, 3, 6, 8), None, None, True, None),
    "causal-L<S": ((2, 4, 8), (2, 7, 8), (2, 7, 8), None, None, True, None),
    "causal-L>S": ((2, 7, 8), (2, 4, 8), (2, 4, 8), None, None, True, None),
    "causal-L1": ((2, 1, 8), (2, 5, 8), (2, 5, 8), None, None, True, None),
    "custom-scale": ((2, 5, 8), (2, 7, 8), (2, 7, 8), None, None, False, 0.3),
    "scale-and-mask": ((2, 5, 8), (2, 7, 8), (2, 7, 8), "bool", (5, 7), False, 1.7),
    "scale-and-causal": ((2, 5, 8), (2, 5, 8), (2, 5, 8), None, None, True, 0.5),
}


def make_mask(kind, shape, gen):
    """A random mask that leaves every query row at least one key (fully masked rows: own test)."""
    if kind is None:
        return None
    keep = torch.rand(shape, generator=gen) < 0.6
    keep[..., torch.randint(shape[-1], (), generator=gen)] = True
    if kind == "bool":
        return keep
    bias = torch.randn(shape, generator=gen, dtype=torch.float64)
    if kind == "float-inf":
        bias = bias.masked_fill(~keep, NEG_INF)
    return bias


def widen(mask):
    """A float mask in float64 for the float64 truth; bool masks and None pass through."""
    return mask.double() if mask is not None and mask.is_floating_point() else mask


def score_magnitude(q, k, mask, scale):
    """max |scores| over the entries that take part in the softmax, in float64."""
    scores = (q.double() @ k.double().transpose(-2, -1)) * scale
    if mask is not None and mask.is_floating_point():
        scores = scores + widen(mask)
    return scores[scores.isfinite()].abs().max().item()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_torch_sdpa(case, dtype, gen, assert_matches_truth):
    q_shape, k_shape, v_shape, mask_kind, mask_shape, is_causal, scale = case
    q, k, v = (torch.randn(s, generator=gen).to(dtype) for s in (q_shape, k_shape, v_shape))
    mask = make_mask(mask_kind, mask_shape, gen)
    if mask is not None and mask.is_floating_point():
        mask = mask.to(dtype)  # the truth sees the same rounded mask
    truth = F.scaled_dot_product_attention(
        q.double(), k.double(), v.double(), attn_mask=widen(mask), is_causal=is_causal, scale=scale
    )
    out = scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale)
    assert out.shape == truth.shape
    s = score_magnitude(q, k, mask, scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    # The output is a convex combination of value rows, each weight off by a relative ~u * |s|.
    assert_matches_truth(out, truth, dtype, v.double().abs().max().item() * (1 + s))


@pytest.mark.parametrize("mask_kind", ["bool", "float"], ids=["bool", "float"])
def test_fully_masked_row_gives_zeros_like_torch(mask_kind, gen):
    """A query that may attend to nothing returns zeros (torch 2.13, CPU), with zero gradients."""
    q = torch.randn(2, 4, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 6, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    keep = torch.ones(4, 6, dtype=torch.bool)
    keep[1] = False
    keep[2, 1:] = False
    if mask_kind == "bool":
        mask = keep
    else:
        mask = torch.zeros(4, 6, dtype=torch.float64).masked_fill(~keep, NEG_INF)
    out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert (out[:, 1] == 0).all(), "a fully masked query row must give zeros, not NaN"
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    grad_out = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    ours = torch.autograd.grad(out, (q, k, v), grad_out)
    torch_out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    theirs = torch.autograd.grad(torch_out, (q, k, v), grad_out)
    for g_ours, g_theirs in zip(ours, theirs):
        torch.testing.assert_close(g_ours, g_theirs)
    assert (ours[0][:, 1] == 0).all()


def test_no_keys_gives_zeros_like_torch():
    q, k, v = torch.randn(3, 4), torch.randn(0, 4), torch.randn(0, 5)
    out = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert (out == 0).all()


def test_gradients_match_finite_differences(gen):
    q = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = make_mask("bool", (3, 5), gen)
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v)
    )


def test_mask_and_is_causal_together_raise():
    q, keep = torch.randn(3, 4), torch.ones(3, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="is_causal"):
        scaled_dot_product_attention(q, q, q, attn_mask=keep, is_causal=True)


def test_integer_mask_is_rejected():
    q = torch.randn(3, 4)
    with pytest.raises(TypeError, match="bool"):
        scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(3, 3, dtype=torch.long))


@pytest.mark.parametrize("L, S", [(4, 4), (3, 6), (6, 3)], ids=["square", "L<S", "L>S"])
def test_is_causal_equals_top_left_tril_mask(L, S, gen):
    """Causal masks are top-left aligned: query i sees keys j <= i, also when L != S."""
    q = torch.randn(2, L, 8, generator=gen, dtype=torch.float64)
    k = torch.randn(2, S, 8, generator=gen, dtype=torch.float64)
    v = torch.randn(2, S, 5, generator=gen, dtype=torch.float64)
    tril = torch.ones(L, S, dtype=torch.bool).tril()
    causal = scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(causal, scaled_dot_product_attention(q, k, v, attn_mask=tril))
    float_tril = torch.zeros(L, S, dtype=torch.float64).masked_fill(~tril, NEG_INF)
    torch.testing.assert_close(causal, scaled_dot_product_attention(q, k, v, attn_mask=float_tril))


def test_bool_mask_equals_float_mask_of_zeros_and_minus_inf(gen):
    q = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64)
    keep = make_mask("bool", (5, 5), gen)
    additive = torch.zeros(5, 5, dtype=torch.float64).masked_fill(~keep, NEG_INF)
    torch.testing.assert_close(
        scaled_dot_product_attention(q, q, q, attn_mask=keep),
        scaled_dot_product_attention(q, q, q, attn_mask=additive),
    )


def test_float_mask_does_not_upcast_low_precision(gen):
    """A float32 mask with bfloat16 inputs still computes (and returns) bfloat16, as torch does."""
    q = torch.randn(2, 5, 8, generator=gen).to(torch.bfloat16)
    out = scaled_dot_product_attention(q, q, q, attn_mask=torch.zeros(5, 5))
    assert out.dtype == torch.bfloat16


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(2, 9), t0=st.integers(0, 7))
def test_causal_has_no_future_leakage(seed, T, t0):
    """Changing keys and values after position t0 leaves the causal outputs up to t0 unchanged."""
    t0 = min(t0, T - 2)
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, T, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    k2, v2 = k.clone(), v.clone()
    k2[:, t0 + 1 :] = torch.randn(2, T - t0 - 1, 4, generator=gen, dtype=torch.float64)
    v2[:, t0 + 1 :] = 100.0
    before = scaled_dot_product_attention(q, k, v, is_causal=True)
    after = scaled_dot_product_attention(q, k2, v2, is_causal=True)
    assert torch.equal(before[:, : t0 + 1], after[:, : t0 + 1])
    assert not torch.equal(before[:, t0 + 1 :], after[:, t0 + 1 :])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype_", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_cuda_matches_fused_kernels(dtype_, is_causal, assert_matches_truth):
    """On CUDA torch dispatches to flash / memory-efficient kernels; both must match float64."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    shape = (2, 4, 128, 64)
    q, k, v = (torch.randn(shape, generator=gen, device="cuda").to(dtype_) for _ in range(3))
    truth = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=is_causal)
    magnitude = v.double().abs().max().item() * (1 + score_magnitude(q, k, None, 1 / 8))
    out = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    assert out.device == q.device
    assert_matches_truth(out, truth, dtype_, magnitude)
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    assert_matches_truth(fused, truth, dtype_, magnitude)
