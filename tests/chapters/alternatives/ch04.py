"""Chapter 4 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F`` and the names of other exercises of the
chapter (``softmax``, ``scaled_dot_product_attention``), which resolve to the reference here and to
the student's own functions in a notebook (where a built-in stands in for them while the exercise
that calls them is graded: ``sdpa_einsum_finfo`` calls ``softmax``, which comes later in the
notebook, ``sdpa_float64_then_cast`` calls no softmax at all, the solution calls
``torch.softmax``).
"""

from __future__ import annotations

import math
import torch
import torch.nn as nn

from autograder.symbolic import Answer
from reference.attention import softmax


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


def jacobian_einsum(p):
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    return torch.einsum("...i,ij->...ij", p, eye) - torch.einsum("...i,...j->...ij", p, p)


def jacobian_matmul(p):
    col = p.unsqueeze(-1)
    return torch.diag_embed(p) - col @ col.transpose(-1, -2)


JACOBIAN_ALTERNATIVES = (jacobian_einsum, jacobian_matmul)


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
    # a query with no key: its row is all finfo.min (uniform weights) or all -inf (0/0); zero it
    seen = (scores > neg).any(dim=-1, keepdim=True)
    weights = softmax(torch.where(seen, scores, 0.0), dim=-1) * seen
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
    top = logits.amax(-1, keepdim=True)
    p = (logits - torch.where(torch.isinf(top), 0.0, top)).exp()  # an all -inf row: all zeros
    total = p.sum(-1, keepdim=True)
    p = p / torch.where(total > 0, total, 1.0)
    return (p @ v64).to(out_dtype)


SDPA_ALTERNATIVES = (sdpa_einsum_finfo, sdpa_float64_then_cast)


class MHAEinsum(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError("the heads must split d_model evenly")
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
        elif attn_mask is not None and attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        elif attn_mask is not None:
            scores = scores + attn_mask
        mixed = torch.einsum("bhqk,bkhe->bqhe", softmax(scores, dim=-1), v)
        return self.out_proj(mixed.reshape(b, t, d))


MHA_ALTERNATIVES = (MHAEinsum,)


def layer_norm_var_mean(x, weight, bias, eps=1e-5):
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    y = (x - mean) * torch.rsqrt(var + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def layer_norm_centered_first(x, weight, bias, eps=1e-5):
    centered = x - x.sum(dim=-1, keepdim=True) / x.shape[-1]
    std = centered.pow(2).mean(dim=-1, keepdim=True).add(eps).sqrt()
    one = torch.ones((), dtype=x.dtype, device=x.device)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return torch.addcmul(zero if bias is None else bias, centered / std,
                         one if weight is None else weight)


LAYER_NORM_ALTERNATIVES = (layer_norm_var_mean, layer_norm_centered_first)


def rms_norm_rsqrt(x, weight, eps=1e-6):
    y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    return y if weight is None else weight * y


def rms_norm_via_norm(x, weight, eps=1e-6):
    d = x.shape[-1]
    ms = torch.linalg.vector_norm(x, dim=-1, keepdim=True) ** 2 / d
    gain = torch.ones(d, dtype=x.dtype, device=x.device) if weight is None else weight
    return x / (ms + eps).sqrt() * gain


RMS_NORM_ALTERNATIVES = (rms_norm_rsqrt, rms_norm_via_norm)


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


# =========================================================================== derivations
# Formulas are graded as text (read, never run): the alternatives are answer-cell texts.
DOT_VARIANCE_ALTERNATIVES = (
    Answer("variance_per_term", "def dot_product_variance(E, s_q, s_k):\n"
                                "    per_term = (s_q * s_k) ** 2  # Var(q_m k_m)\n"
                                "    return per_term * E\n"),
    Answer("std_squared", "def dot_product_variance(E, s_q, s_k):\n"
                          "    std = sqrt(E) * s_q * s_k\n    return std**2\n"),
)
SELF_SCORE_ALTERNATIVES = (
    Answer("fourth_moment_minus_square",
           "def self_score_variance(E, s):\n    fourth, second = 3 * s**4, s**2\n"
           "    return E * (fourth - second**2)\n"),
)

ALTERNATIVES = {
    "ch04.softmax": SOFTMAX_ALTERNATIVES,
    "ch04.softmax_jacobian": JACOBIAN_ALTERNATIVES,
    "ch04.dot_product_variance": DOT_VARIANCE_ALTERNATIVES,
    "ch04.self_score_variance": SELF_SCORE_ALTERNATIVES,
    "ch04.scaled_dot_product_attention": SDPA_ALTERNATIVES,
    "ch04.multi_head_attention": MHA_ALTERNATIVES,
    "ch04.layer_norm": LAYER_NORM_ALTERNATIVES,
    "ch04.rms_norm": RMS_NORM_ALTERNATIVES,
    "ch04.kernel_smoother": SMOOTHER_ALTERNATIVES,
}
