"""Chapter 4 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently. Every function here is also pasted, as source, into a notebook's answer cell by the
platform's tests, so each must be self-contained: it may use only ``math``, ``torch``, ``nn``,
``F`` and the names of earlier exercises (``softmax``, ``scaled_dot_product_attention``), which
resolve to the reference here and to the student's own functions in a notebook.

tests/ prove that each mistake loses its exercise's points (and only those) and is named in the
feedback, and that each alternative gets full marks.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from autograder.spec import Mistake
from reference.attention import scaled_dot_product_attention, softmax  # noqa: F401 (used by pasted code)


# =========================================================================== softmax
def softmax_no_max(x, dim=-1, temperature=1.0):
    e = torch.exp(x / temperature)
    return e / e.sum(dim, keepdim=True)


def softmax_ignores_dim(x, dim=-1, temperature=1.0):
    z = x / temperature
    e = torch.exp(z - z.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def softmax_temperature_multiplied(x, dim=-1, temperature=1.0):
    z = x * temperature
    e = torch.exp(z - z.max(dim, keepdim=True).values)
    return e / e.sum(dim, keepdim=True)


def softmax_global_max(x, dim=-1, temperature=1.0):
    z = x / temperature
    e = torch.exp(z - z.max())
    return e / e.sum(dim, keepdim=True)


def softmax_global_sum(x, dim=-1, temperature=1.0):
    z = x / temperature
    e = torch.exp(z - z.max(dim, keepdim=True).values)
    return e / e.sum()


SOFTMAX_MISTAKES = (
    Mistake("no_max_subtraction", "exponentials taken without subtracting the max",
            "exp overflows for large logits (inf/inf = NaN); subtract the max along `dim` first — "
            "softmax is shift-invariant, so the result is unchanged", softmax_no_max),
    Mistake("ignores_dim", "softmax always over the last axis",
            "use the `dim` argument for the max and the sum", softmax_ignores_dim),
    Mistake("temperature_multiplied", "logits multiplied by the temperature instead of divided",
            "softmax(x / T): a large T must flatten the distribution", softmax_temperature_multiplied),
    Mistake("global_max", "the max of the whole tensor subtracted instead of the max of each row",
            "rows far below the global max underflow to 0/0; take the max along `dim` with keepdim=True",
            softmax_global_max),
    Mistake("global_sum", "normalised by the sum of the whole tensor",
            "each row must sum to 1: sum along `dim` with keepdim=True", softmax_global_sum),
)


def softmax_via_logsumexp(x, dim=-1, temperature=1.0):
    z = x / temperature
    z = z - z.amax(dim=dim, keepdim=True)  # exact shift; logsumexp of raw logits ~1e3 loses ulps
    return torch.exp(z - torch.logsumexp(z, dim=dim, keepdim=True))


def softmax_in_float64(x, dim=-1, temperature=1.0):
    z = x.double() / temperature
    e = (z - z.amax(dim=dim, keepdim=True)).exp()
    return (e / e.sum(dim=dim, keepdim=True)).to(x.dtype)


def softmax_moved_axis(x, dim=-1, temperature=1.0):
    def _last_axis_softmax(t):
        shifted = t - t.max(dim=-1, keepdim=True)[0]
        w = shifted.exp()
        return w / w.sum(dim=-1, keepdim=True)
    moved = torch.movedim(x / temperature, dim, -1)
    return torch.movedim(_last_axis_softmax(moved), -1, dim)


SOFTMAX_ALTERNATIVES = (softmax_via_logsumexp, softmax_in_float64, softmax_moved_axis)


# =========================================================================== softmax Jacobian
def jacobian_no_diag(p):
    return -p.unsqueeze(-1) * p.unsqueeze(-2)


def jacobian_inner_product(p):
    return torch.diag_embed(p) - (p * p).sum(-1)[..., None, None]


def jacobian_diag_only(p):
    return torch.diag_embed(p - p * p)


def jacobian_plus_outer(p):
    return torch.diag_embed(p) + p.unsqueeze(-1) * p.unsqueeze(-2)


JACOBIAN_MISTAKES = (
    Mistake("missing_diag", "the diag(p) term is missing",
            "∂p_i/∂x_j = p_i(δ_ij − p_j): the diagonal has p_i − p_i²", jacobian_no_diag),
    Mistake("inner_product", "p·p (a scalar) used instead of the outer product p pᵀ",
            "the second term is the n×n matrix p[..., :, None] * p[..., None, :]", jacobian_inner_product),
    Mistake("diag_only", "only the diagonal p − p² is filled in",
            "off-diagonal entries are −p_i p_j, not 0", jacobian_diag_only),
    Mistake("sign", "p pᵀ added instead of subtracted",
            "the Jacobian is diag(p) − p pᵀ; its rows sum to 0", jacobian_plus_outer),
)


def jacobian_einsum(p):
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    return torch.einsum("...i,ij->...ij", p, eye) - torch.einsum("...i,...j->...ij", p, p)


def jacobian_matmul(p):
    col = p.unsqueeze(-1)
    return torch.diag_embed(p) - col @ col.transpose(-1, -2)


JACOBIAN_ALTERNATIVES = (jacobian_einsum, jacobian_matmul)


# =========================================================================== SDPA
def _sdpa_with(q, k, v, attn_mask, is_causal, scale, *, scale_fn=None, softmax_dim=-1,
               after=False, polarity=True, causal_diag=0, bottom_right=False, use_ev=False):
    """Shared skeleton of the SDPA mistakes; each flag injects one error."""
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    d = v.shape[-1] if use_ev else E
    s = scale if scale is not None else (scale_fn(d) if scale_fn else 1 / math.sqrt(d))
    scores = (q @ k.transpose(-2, -1)) * s
    keep = None
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril(
            S - L if bottom_right else causal_diag)
    elif attn_mask is not None and attn_mask.dtype == torch.bool:
        keep = attn_mask if polarity else ~attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    if keep is not None and not after:
        scores = scores.masked_fill(~keep, float("-inf"))
    w = softmax(scores, dim=softmax_dim)
    if keep is not None and after:
        w = w * keep
    return w @ v


def sdpa_no_scale(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, scale_fn=lambda d: 1.0)


def sdpa_scale_by_d(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, scale_fn=lambda d: 1.0 / d)


def sdpa_softmax_wrong_axis(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, softmax_dim=-2)


def sdpa_mask_after_softmax(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, after=True)


def sdpa_mask_polarity(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, polarity=False)


def sdpa_causal_hides_diagonal(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, causal_diag=-1)


def sdpa_causal_bottom_right(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, bottom_right=True)


def sdpa_scale_from_value_dim(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return _sdpa_with(q, k, v, attn_mask, is_causal, scale, use_ev=True)


SDPA_MISTAKES = (
    Mistake("no_scale", "scores not divided by √E",
            "without 1/√E the score variance grows with E and the softmax saturates", sdpa_no_scale),
    Mistake("scale_by_d", "scores divided by E instead of √E",
            "q·k has variance E, so its standard deviation is √E", sdpa_scale_by_d),
    Mistake("softmax_wrong_axis", "softmax over the queries axis (dim=-2)",
            "each query's weights over the keys must sum to 1: softmax over the last axis",
            sdpa_softmax_wrong_axis),
    Mistake("mask_after_softmax", "mask applied after the softmax",
            "masked weights must be removed before normalising: add −inf to the scores, then softmax",
            sdpa_mask_after_softmax),
    Mistake("mask_polarity", "boolean mask polarity inverted",
            "True means 'may attend' (as in F.scaled_dot_product_attention); fill −inf where the mask is False",
            sdpa_mask_polarity),
    Mistake("causal_hides_diagonal", "the causal mask hides the diagonal",
            "query i may attend to keys j ≤ i, itself included: torch.ones(L, S).tril(diagonal=0)",
            sdpa_causal_hides_diagonal),
    Mistake("causal_bottom_right", "the causal mask aligned to the bottom-right corner",
            "is_causal is top-left aligned: query i sees keys 0..i even when L ≠ S", sdpa_causal_bottom_right),
    Mistake("scale_from_value_dim", "scale computed from v's feature size",
            "the scale is 1/√E with E the size of q and k, not of v", sdpa_scale_from_value_dim),
)


def sdpa_einsum_finfo(q, k, v, attn_mask=None, is_causal=False, scale=None):
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = torch.einsum("...le,...se->...ls", q, k) * scale
    neg = torch.finfo(scores.dtype).min
    if is_causal:
        L, S = scores.shape[-2:]
        allowed = torch.tril(torch.ones(L, S, dtype=torch.bool, device=q.device))
        scores = scores.masked_fill(~allowed, neg)
    elif attn_mask is not None and attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(attn_mask.logical_not(), neg)
    elif attn_mask is not None:
        scores = scores + attn_mask
    weights = softmax(scores, dim=-1)
    return torch.einsum("...ls,...sv->...lv", weights, v)


def sdpa_float64_then_cast(q, k, v, attn_mask=None, is_causal=False, scale=None):
    out_dtype = q.dtype
    q64, k64, v64 = q.double(), k.double(), v.double()
    bias = torch.zeros(q.shape[-2], k.shape[-2], dtype=torch.float64, device=q.device)
    if is_causal:
        bias = bias.masked_fill(~torch.ones_like(bias, dtype=torch.bool).tril(), -math.inf)
    elif attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = torch.where(attn_mask, 0.0, -math.inf).to(torch.float64)
        else:
            bias = bias + attn_mask.double()
    factor = scale if scale is not None else q.shape[-1] ** -0.5
    logits = q64 @ k64.mT * factor + bias
    logits = logits - logits.amax(-1, keepdim=True)
    p = logits.exp()
    p = p / p.sum(-1, keepdim=True)
    return (p @ v64).to(out_dtype)


SDPA_ALTERNATIVES = (sdpa_einsum_finfo, sdpa_float64_then_cast)


# =========================================================================== multi-head attention
class MHAHeadsWrongOrder(nn.Module):
    """Splits features as (Dh, H) instead of (H, Dh): heads take strided, not contiguous, columns."""

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, attn_mask=None, is_causal=False):
        B, T, D = x.shape
        H = self.n_heads

        def split(t):
            return t.view(B, T, D // H, H).permute(0, 3, 1, 2)

        out = scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)),
                                           split(self.v_proj(x)), attn_mask=attn_mask,
                                           is_causal=is_causal)
        return self.out_proj(out.permute(0, 2, 3, 1).reshape(B, T, D))


class MHAViewWithoutTranspose(nn.Module):
    """Reshapes (B, T, D) straight to (B, H, T, Dh), which mixes tokens into heads."""

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, attn_mask=None, is_causal=False):
        B, T, D = x.shape
        H = self.n_heads
        q = self.q_proj(x).reshape(B, H, T, D // H)
        k = self.k_proj(x).reshape(B, H, T, D // H)
        v = self.v_proj(x).reshape(B, H, T, D // H)
        out = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        return self.out_proj(out.reshape(B, T, D))


class MHAScaleByModelWidth(nn.Module):
    """Scales scores by 1/√d_model instead of 1/√(d_model / H)."""

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, attn_mask=None, is_causal=False):
        B, T, D = x.shape
        H = self.n_heads
        q = self.q_proj(x).view(B, T, H, D // H).transpose(1, 2)
        k = self.k_proj(x).view(B, T, H, D // H).transpose(1, 2)
        v = self.v_proj(x).view(B, T, H, D // H).transpose(1, 2)
        out = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                           scale=1.0 / math.sqrt(D))
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))


class MHANoOutProj(nn.Module):
    """Forgets the output projection."""

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, attn_mask=None, is_causal=False):
        B, T, D = x.shape
        H = self.n_heads
        q = self.q_proj(x).view(B, T, H, D // H).transpose(1, 2)
        k = self.k_proj(x).view(B, T, H, D // H).transpose(1, 2)
        v = self.v_proj(x).view(B, T, H, D // H).transpose(1, 2)
        out = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        return out.transpose(1, 2).reshape(B, T, D)


class MHAMergeWithoutTranspose(nn.Module):
    """Merges heads with a reshape of (B, H, T, Dh), without moving H back next to Dh."""

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, attn_mask=None, is_causal=False):
        B, T, D = x.shape
        H = self.n_heads
        q = self.q_proj(x).view(B, T, H, D // H).transpose(1, 2)
        k = self.k_proj(x).view(B, T, H, D // H).transpose(1, 2)
        v = self.v_proj(x).view(B, T, H, D // H).transpose(1, 2)
        out = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        return self.out_proj(out.reshape(B, T, D))


MHA_MISTAKES = (
    Mistake("heads_wrong_order", "heads split in the wrong order (D → (Dh, H))",
            "head h owns the contiguous columns h·Dh:(h+1)·Dh: view(B, T, H, Dh).transpose(1, 2)",
            MHAHeadsWrongOrder),
    Mistake("view_without_transpose", "(B, T, D) reshaped straight to (B, H, T, Dh)",
            "that mixes tokens across heads; view(B, T, H, Dh) first, then transpose(1, 2)",
            MHAViewWithoutTranspose),
    Mistake("scale_by_model_width", "scores scaled by 1/√d_model instead of 1/√(d_model/H)",
            "each head works in its own Dh = d_model/H dimensional subspace", MHAScaleByModelWidth),
    Mistake("no_out_proj", "the output projection is missing",
            "after merging the heads, apply out_proj", MHANoOutProj),
    Mistake("merge_without_transpose", "heads merged without transposing back",
            "(B, H, T, Dh) → transpose(1, 2) → (B, T, H, Dh) → reshape(B, T, D)", MHAMergeWithoutTranspose),
)


class MHAEinsum(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        assert d_model % n_heads == 0
        self.heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, attn_mask=None, is_causal=False):
        b, t, d = x.shape
        h = self.heads
        q, k, v = (proj(x).reshape(b, t, h, d // h) for proj in (self.q_proj, self.k_proj, self.v_proj))
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(d // h)
        if is_causal:
            scores = scores.masked_fill(~torch.ones(t, t, dtype=torch.bool, device=x.device).tril(),
                                        float("-inf"))
        elif attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        mixed = torch.einsum("bhqk,bkhe->bqhe", softmax(scores, dim=-1), v)
        return self.out_proj(mixed.reshape(b, t, d))


MHA_ALTERNATIVES = (MHAEinsum,)


# =========================================================================== LayerNorm
def layer_norm_unbiased(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True)  # unbiased: divides by D - 1
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def layer_norm_eps_outside(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / (torch.sqrt(var) + eps) * weight + bias


def layer_norm_no_sqrt(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / (var + eps) * weight + bias


def layer_norm_wrong_axis(x, weight, bias, eps=1e-5):
    mean = x.mean(0, keepdim=True)
    var = ((x - mean) ** 2).mean(0, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def layer_norm_no_affine(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def layer_norm_one_pass_variance(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = (x * x).mean(-1, keepdim=True) - mean * mean
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


LAYER_NORM_MISTAKES = (
    Mistake("unbiased_variance", "unbiased variance (divides by D − 1)",
            "LayerNorm uses the biased variance: mean((x − μ)²), i.e. var(unbiased=False)",
            layer_norm_unbiased),
    Mistake("eps_outside_sqrt", "eps added outside the square root",
            "normalise by sqrt(var + eps), not sqrt(var) + eps", layer_norm_eps_outside),
    Mistake("no_sqrt", "divided by the variance instead of the standard deviation",
            "normalise by sqrt(var + eps)", layer_norm_no_sqrt),
    Mistake("wrong_axis", "statistics over the first axis instead of the last",
            "mean and variance are over the features: dim=-1, keepdim=True", layer_norm_wrong_axis),
    Mistake("no_affine", "weight and bias not applied", "finish with · weight + bias",
            layer_norm_no_affine),
    Mistake("one_pass_variance", "variance computed as E[x²] − E[x]²",
            "that difference cancels catastrophically when the mean is large; use mean((x − μ)²)",
            layer_norm_one_pass_variance),
)


def layer_norm_var_mean(x, weight, bias, eps=1e-5):
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps) * weight + bias


def layer_norm_centered_first(x, weight, bias, eps=1e-5):
    centered = x - x.sum(dim=-1, keepdim=True) / x.shape[-1]
    std = centered.pow(2).mean(dim=-1, keepdim=True).add(eps).sqrt()
    return torch.addcmul(bias, centered / std, weight)


LAYER_NORM_ALTERNATIVES = (layer_norm_var_mean, layer_norm_centered_first)


# =========================================================================== RMSNorm
def rms_norm_centered(x, weight, eps=1e-6):
    c = x - x.mean(-1, keepdim=True)
    return c / torch.sqrt((c * c).mean(-1, keepdim=True) + eps) * weight


def rms_norm_eps_outside(x, weight, eps=1e-6):
    return x / (torch.sqrt((x * x).mean(-1, keepdim=True)) + eps) * weight


def rms_norm_l2_norm(x, weight, eps=1e-6):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + eps) * weight


def rms_norm_no_weight(x, weight, eps=1e-6):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


RMS_NORM_MISTAKES = (
    Mistake("centered", "the mean subtracted (that is LayerNorm without bias)",
            "RMSNorm does not centre: x / sqrt(mean(x²) + eps) · weight", rms_norm_centered),
    Mistake("eps_outside_sqrt", "eps added outside the square root",
            "normalise by sqrt(mean(x²) + eps)", rms_norm_eps_outside),
    Mistake("l2_norm", "divided by the L2 norm instead of the root mean square",
            "the RMS is sqrt(mean(x²)) = ‖x‖/√D", rms_norm_l2_norm),
    Mistake("no_weight", "weight not applied", "multiply by weight at the end", rms_norm_no_weight),
)


def rms_norm_rsqrt(x, weight, eps=1e-6):
    return weight * (x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps))


def rms_norm_via_norm(x, weight, eps=1e-6):
    d = x.shape[-1]
    ms = torch.linalg.vector_norm(x, dim=-1, keepdim=True) ** 2 / d
    return x / (ms + eps).sqrt() * weight


RMS_NORM_ALTERNATIVES = (rms_norm_rsqrt, rms_norm_via_norm)


# =========================================================================== kernel smoother
def _smoother(queries, keys, values, bandwidth, *, denom=2.0, square_h=True, square_d=True,
              stable=True, normalise=True, axis=-1):
    diff = queries[..., :, None, :] - keys[..., None, :, :]
    d2 = (diff ** 2).sum(-1)
    dist = d2 if square_d else d2.sqrt()
    h = bandwidth ** 2 if square_h else bandwidth
    logits = -dist / (denom * h)
    if not normalise:
        return torch.exp(logits) @ values
    if stable:
        w = softmax(logits, dim=axis)
    else:
        e = torch.exp(logits)
        w = e / e.sum(axis, keepdim=True)
    return w @ values


def smoother_missing_two(queries, keys, values, bandwidth):
    return _smoother(queries, keys, values, bandwidth, denom=1.0)


def smoother_h_not_squared(queries, keys, values, bandwidth):
    return _smoother(queries, keys, values, bandwidth, square_h=False)


def smoother_distance_not_squared(queries, keys, values, bandwidth):
    return _smoother(queries, keys, values, bandwidth, square_d=False)


def smoother_unstable(queries, keys, values, bandwidth):
    return _smoother(queries, keys, values, bandwidth, stable=False)


def smoother_unnormalised(queries, keys, values, bandwidth):
    return _smoother(queries, keys, values, bandwidth, normalise=False)


def smoother_normalised_over_queries(queries, keys, values, bandwidth):
    return _smoother(queries, keys, values, bandwidth, axis=-2)


SMOOTHER_MISTAKES = (
    Mistake("missing_two", "kernel exp(−‖q−k‖²/h²): the factor 2 is missing",
            "the Gaussian kernel is exp(−‖q−k‖² / (2h²))", smoother_missing_two),
    Mistake("h_not_squared", "divided by 2h instead of 2h²",
            "the bandwidth enters squared: exp(−‖q−k‖² / (2h²))", smoother_h_not_squared),
    Mistake("distance_not_squared", "distance not squared",
            "use the squared Euclidean distance ‖q−k‖²", smoother_distance_not_squared),
    Mistake("unstable", "weights computed as exp(·)/Σexp(·) without the log-domain shift",
            "far queries underflow to 0/0; use a stable softmax of −‖q−k‖²/(2h²)", smoother_unstable),
    Mistake("unnormalised", "kernel weights not normalised",
            "Nadaraya–Watson divides by Σ_j K(q, k_j): the weights of each query sum to 1",
            smoother_unnormalised),
    Mistake("normalised_over_queries", "weights normalised over the queries instead of the keys",
            "normalise each query's weights over the keys (the last axis of the score matrix)",
            smoother_normalised_over_queries),
)


def smoother_logsumexp(queries, keys, values, bandwidth):
    sq = (queries.unsqueeze(-2) - keys.unsqueeze(-3)).pow(2).sum(dim=-1)
    logw = -sq / (2 * bandwidth * bandwidth)
    logw = logw - torch.logsumexp(logw, dim=-1, keepdim=True)
    return torch.exp(logw) @ values


def smoother_as_attention(queries, keys, values, bandwidth):
    """Nadaraya–Watson is attention with scores −‖q−k‖²/(2h²)."""
    q = queries.unsqueeze(-2)
    k = keys.unsqueeze(-3)
    scores = -((q - k) ** 2).sum(-1) / (2.0 * bandwidth ** 2)
    return softmax(scores, dim=-1) @ values


SMOOTHER_ALTERNATIVES = (smoother_logsumexp, smoother_as_attention)
