"""reference.MultiHeadAttention against nn.MultiheadAttention(batch_first=True), same weights."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from reference import MultiHeadAttention, merge_heads, split_heads

B, T, D, H = 2, 6, 16, 4


def torch_mha_like(mha, dtype=torch.float64):
    """nn.MultiheadAttention carrying the reference module's weights (in_proj = cat of q, k, v)."""
    bias = mha.q_proj.bias is not None
    ref = nn.MultiheadAttention(D, H, bias=bias, batch_first=True, dtype=dtype)
    projections = (mha.q_proj, mha.k_proj, mha.v_proj)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([p.weight for p in projections]))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        if bias:
            ref.in_proj_bias.copy_(torch.cat([p.bias for p in projections]))
            ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref


def wide(t):
    return None if t is None else t.double()


def rss_linear(lin, t):
    """sqrt(W^2 t^2 + b^2): the typical size of the terms whose rounding errors lin(t) sums.

    Rounding errors of a sum of n terms have random signs, so they grow like the root sum of
    squares of the terms (the usual sqrt(n) u rule), not like their absolute sum.
    """
    out = t**2 @ lin.weight.double().T ** 2
    return (out if lin.bias is None else out + lin.bias.double() ** 2).sqrt()


def mha_magnitude(mha, x):
    """Typical output error scale: the value path through the two linear layers (rss_linear),
    amplified by the softmax's 1 + max|scores| (see conftest)."""
    heads = lambda t: t.view(B, T, H, D // H).transpose(1, 2)  # (B, H, T, E)
    linear64 = lambda lin, t: F.linear(t, lin.weight.double(), wide(lin.bias))
    xd = x.double()
    q, k = heads(linear64(mha.q_proj, xd)), heads(linear64(mha.k_proj, xd))
    scores = (q @ k.transpose(-2, -1)).abs().amax() / math.sqrt(D // H)
    v = heads(rss_linear(mha.v_proj, xd))  # (B, H, T, E)
    attn = v.amax(dim=2).reshape(B, D) * (1 + scores)  # (B, H, E) -> (B, D)
    return rss_linear(mha.out_proj, attn).amax().item()


# id: (mask kind, is_causal)
MASKS = {
    "no-mask": (None, False),
    "is-causal": (None, True),
    "bool-TT": ("bool", False),
    "key-padding": ("keypad", False),
}


def make_masks(kind, gen):
    """(our mask, True = attend; kwargs for nn.MultiheadAttention, True = masked out)."""
    if kind is None:
        return None, {}
    if kind == "bool":
        keep = torch.rand(T, T, generator=gen) < 0.6
        keep[:, 0] = True
        return keep, {"attn_mask": ~keep}
    keep = torch.ones(B, T, dtype=torch.bool)
    keep[0, -2:] = False  # the first sequence is padded at its last two positions
    return keep[:, None, None, :], {"key_padding_mask": ~keep}  # (B, 1, 1, T)


@pytest.mark.parametrize("mask_kind, is_causal", MASKS.values(), ids=MASKS.keys())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_matches_nn_multihead_attention(
    mask_kind, is_causal, bias, dtype, gen, assert_matches_truth
):
    torch.manual_seed(0)
    mha = MultiHeadAttention(D, H, bias=bias).to(dtype)
    x = torch.randn(B, T, D, generator=gen).to(dtype)
    mask, torch_kwargs = make_masks(mask_kind, gen)
    if is_causal:  # nn.MultiheadAttention's is_causal is only a hint: it needs the mask as well
        torch_kwargs = {"attn_mask": ~torch.ones(T, T, dtype=torch.bool).tril(), "is_causal": True}
    xd = x.double()
    truth, _ = torch_mha_like(mha)(xd, xd, xd, need_weights=False, **torch_kwargs)
    out = mha(x, attn_mask=mask, is_causal=is_causal)
    # k = 4: attention's roundings plus those of two linear layers on the value path.
    assert_matches_truth(out, truth, dtype, mha_magnitude(mha, x), k=4.0)


def test_head_h_uses_columns_h_times_dh(gen):
    """The head split convention: head h attends with feature columns h*E:(h+1)*E."""
    mha = MultiHeadAttention(D, H).double()
    x = torch.randn(B, T, D, generator=gen, dtype=torch.float64)
    q, k, v = mha.q_proj(x), mha.k_proj(x), mha.v_proj(x)
    E = D // H  # the head size
    heads = [
        F.scaled_dot_product_attention(q[..., c], k[..., c], v[..., c], is_causal=True)
        for c in (slice(h * E, (h + 1) * E) for h in range(H))
    ]
    expected = mha.out_proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(mha(x, is_causal=True), expected)


def test_single_head_is_plain_attention_on_projections(gen):
    mha = MultiHeadAttention(D, 1).double()
    x = torch.randn(B, T, D, generator=gen, dtype=torch.float64)
    attn = F.scaled_dot_product_attention(mha.q_proj(x), mha.k_proj(x), mha.v_proj(x))
    torch.testing.assert_close(mha(x), mha.out_proj(attn))


def test_split_and_merge_heads_are_inverse(gen):
    x = torch.randn(B, T, D, generator=gen)
    heads = split_heads(x, H)
    assert heads.shape == (B, H, T, D // H)
    torch.testing.assert_close(heads[:, 2], x[..., 2 * (D // H) : 3 * (D // H)], rtol=0, atol=0)
    torch.testing.assert_close(merge_heads(heads), x, rtol=0, atol=0)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_parameters_and_names(bias):
    mha = MultiHeadAttention(D, H, bias=bias)
    names = {name: tuple(p.shape) for name, p in mha.named_parameters()}
    expected = {f"{proj}.weight": (D, D) for proj in ("q_proj", "k_proj", "v_proj", "out_proj")}
    if bias:
        expected |= {f"{proj}.bias": (D,) for proj in ("q_proj", "k_proj", "v_proj", "out_proj")}
    assert names == expected


def test_indivisible_width_raises():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 4)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), t0=st.integers(0, T - 2))
def test_causal_has_no_future_leakage(seed, t0):
    """Changing the input after position t0 leaves the causal outputs up to t0 unchanged."""
    torch.manual_seed(seed)
    mha = MultiHeadAttention(D, H).double()
    x = torch.randn(B, T, D, dtype=torch.float64)
    x2 = x.clone()
    x2[:, t0 + 1 :] += 1.0
    before, after = mha(x, is_causal=True), mha(x2, is_causal=True)
    assert torch.equal(before[:, : t0 + 1], after[:, : t0 + 1])
    assert not torch.equal(before[:, t0 + 1 :], after[:, t0 + 1 :])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype_", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_cuda_matches_nn_multihead_attention(dtype_, assert_matches_truth):
    torch.manual_seed(0)
    mha = MultiHeadAttention(D, H).to("cuda", dtype_)
    x = torch.randn(B, T, D, device="cuda").to(dtype_)
    causal = ~torch.ones(T, T, dtype=torch.bool, device="cuda").tril()
    magnitude = mha_magnitude(mha, x)
    xd = x.double()
    truth, _ = torch_mha_like(mha).to("cuda")(xd, xd, xd, attn_mask=causal, need_weights=False)
    out = mha(x, is_causal=True)
    assert out.device == x.device
    assert_matches_truth(out, truth, dtype_, magnitude, k=4.0)
    fused, _ = torch_mha_like(mha, dtype_).to("cuda")(x, x, x, attn_mask=causal, need_weights=False)
    assert_matches_truth(fused, truth, dtype_, magnitude, k=4.0)
