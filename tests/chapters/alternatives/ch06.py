"""Chapter 6 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted into a notebook's answer cell by the platform's tests, so it may
use only ``math``, ``torch``, ``nn``, ``F``, the chapter's given cells (``apply_rope``,
``softmax``, ``split_heads``, ``merge_heads``, ``RMSNorm``, ``LayerNorm``...), the earlier
exercises (``FeedForward``, ``gelu``, ``silu``, ``SwiGLU``, ``TransformerBlock``, in the notebook's
order: ``FeedForward`` comes first and uses PyTorch's activations) and this module's private
``_helpers`` (pasted along): the reference here, the student's code there.
"""

from __future__ import annotations

import math
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.symbolic import Answer
from reference.attention import merge_heads, softmax, split_heads
from reference.blocks import (FeedForward, LayerNorm, RMSNorm, SwiGLU,  # noqa: F401
                              TransformerBlock, gelu, silu)
from reference.positional import apply_rope


def gelu_via_ndtr_and_sigmoid(x, approximate="none"):
    forms = {
        "none": torch.special.ndtr,
        # ½(1 + tanh z) = sigmoid(2z)
        "tanh": lambda t: torch.sigmoid(2 * math.sqrt(2 / math.pi) * (t + 0.044715 * t * t * t)),
    }
    if approximate not in forms:
        raise ValueError(f"no GELU form named {approximate!r}")
    return x * forms[approximate](x)


def gelu_in_float64(x, approximate="none"):
    z = x.double()
    if approximate == "none":
        cdf = 0.5 * torch.erfc(-z / math.sqrt(2))
    elif approximate == "tanh":
        cdf = 0.5 * (1 + torch.tanh(math.sqrt(2 / math.pi) * z * (1 + 0.044715 * z * z)))
    else:
        raise ValueError(approximate)
    return (z * cdf).to(x.dtype)


GELU_ALTERNATIVES = (gelu_via_ndtr_and_sigmoid, gelu_in_float64)


def silu_exp_form(x):
    return x / (1 + torch.exp(-x))


def silu_tanh_half(x):
    return 0.5 * x * (1 + torch.tanh(0.5 * x))


SILU_ALTERNATIVES = (silu_exp_form, silu_tanh_half)


class FFNFunctional(nn.Module):
    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)
        self.act = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu,
                    "gelu_tanh": lambda h: F.gelu(h, approximate="tanh")}[activation]

    def forward(self, x):
        h = x @ self.fc1.weight.T
        if self.fc1.bias is not None:
            h = h + self.fc1.bias
        y = self.act(h) @ self.fc2.weight.T
        return y if self.fc2.bias is None else y + self.fc2.bias


class FFNEinsum(nn.Module):
    """The activations written out by hand (allowed, though PyTorch's would do)."""

    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        self.kind = activation
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x):
        h = self.fc1(x)
        if self.kind == "relu":
            h = h.clamp(min=0)
        elif self.kind == "silu":
            h = h / (1 + torch.exp(-h))
        elif self.kind == "gelu":
            h = h * torch.special.ndtr(h)
        else:
            h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
        y = torch.einsum("...f,df->...d", h, self.fc2.weight)
        return y + self.fc2.bias if self.fc2.bias is not None else y


FFN_ALTERNATIVES = (FFNFunctional, FFNEinsum)


class SwiGLUMatmul(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d_model, bias=False)
        self.w3 = nn.Linear(d_model, d_ff, bias=False)

    def forward(self, x):
        g = x @ self.w1.weight.mT
        return (g * torch.sigmoid(g) * (x @ self.w3.weight.mT)) @ self.w2.weight.mT


class SwiGLUStacked(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff, bias=False)
        self.w3 = nn.Linear(d_model, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        both = torch.einsum("...d,kfd->...kf", x, torch.stack([self.w1.weight, self.w3.weight]))
        return self.w2(silu(both[..., 0, :]) * both[..., 1, :])


SWIGLU_ALTERNATIVES = (SwiGLUMatmul, SwiGLUStacked)


def _rotate_half(t):
    half = t.shape[-1] // 2
    return torch.cat([-t[..., half:], t[..., :half]], dim=-1)


class BlockRotateHalf(nn.Module):
    """Everything written out: einsum projections, RoPE as x·cos + rotate_half(x)·sin, explicit
    masked softmax, the two residual updates."""

    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        super().__init__()
        self.h, self.use_rope, self.base = n_heads, rope, rope_base
        self.norm1 = RMSNorm(d_model) if norm == "rms" else LayerNorm(d_model)
        self.norm2 = RMSNorm(d_model) if norm == "rms" else LayerNorm(d_model)
        self.attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.attn, name, nn.Linear(d_model, d_model))
        self.ffn = SwiGLU(d_model, d_ff) if ffn == "swiglu" else FeedForward(d_model, d_ff, ffn)

    def mix(self, x):
        B, T, D = x.shape
        dh = D // self.h
        q, k, v = (getattr(self.attn, n)(x).reshape(B, T, self.h, dh).permute(0, 2, 1, 3)
                   for n in ("q_proj", "k_proj", "v_proj"))
        if self.use_rope:
            inv = self.base ** (-torch.arange(0, dh, 2, dtype=x.dtype, device=x.device) / dh)
            ang = torch.arange(T, dtype=x.dtype, device=x.device)[:, None] * inv
            cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
        s = torch.einsum("bhtd,bhsd->bhts", q, k) / math.sqrt(dh)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        w = softmax(s.masked_fill(future, float("-inf")), dim=-1)
        y = torch.einsum("bhts,bhsd->bthd", w, v).reshape(B, T, D)
        return self.attn.out_proj(y)

    def forward(self, x):
        x = x + self.mix(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class BlockBuiltinAttention(nn.Module):
    """The given pieces, composed with a separate attention module and F.scaled_dot_product_attention."""

    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        super().__init__()
        self.norm1 = LayerNorm(d_model) if norm == "layer" else RMSNorm(d_model)
        self.attn = _RopeAttention(d_model, n_heads, rope, rope_base)
        self.norm2 = LayerNorm(d_model) if norm == "layer" else RMSNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, activation=ffn) if ffn != "swiglu" else SwiGLU(d_model, d_ff)

    def forward(self, x):
        h = self.attn(self.norm1(x)) + x
        return self.ffn(self.norm2(h)) + h


class _RopeAttention(nn.Module):
    def __init__(self, d_model, n_heads, rope, rope_base):
        super().__init__()
        self.n_heads, self.rope, self.rope_base = n_heads, rope, rope_base
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        q, k, v = (split_heads(p(x), self.n_heads) for p in (self.q_proj, self.k_proj, self.v_proj))
        if self.rope:
            q, k = apply_rope(q, base=self.rope_base), apply_rope(k, base=self.rope_base)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(merge_heads(y))


BLOCK_ALTERNATIVES = (BlockRotateHalf, BlockBuiltinAttention)


class GPTTiedTheOtherWay(nn.Module):
    """Ties by giving the embedding the head's Parameter, and runs the blocks with a reduce."""

    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff, tie_embeddings=True):
        super().__init__()
        self.context_length = context_length
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList()
        for _ in range(n_layers):
            self.blocks.append(TransformerBlock(d_model, n_heads, d_ff, norm="rms", ffn="swiglu"))
        self.norm_f = RMSNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.tok_emb.weight = self.lm_head.weight

    def forward(self, idx):
        if idx.size(-1) > self.context_length:
            raise ValueError("longer than the context")
        h = self.tok_emb.weight[idx]
        for blk in self.blocks:
            h = blk(h)
        return torch.nn.functional.linear(self.norm_f(h), self.lm_head.weight)


GPT_ALTERNATIVES = (GPTTiedTheOtherWay,)


def count_by_shapes(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                    tie_embeddings=True):
    D, V = d_model, vocab_size
    linear = lambda n_in, n_out, bias: n_in * n_out + (n_out if bias else 0)  # noqa: E731
    block = (D + D  # norm1, norm2
             + 4 * linear(D, D, True)  # q, k, v, out
             + 2 * linear(D, d_ff, False) + linear(d_ff, D, False))  # w1, w3, w2
    total = V * D + n_layers * block + D
    if not tie_embeddings:
        total += linear(D, V, False)
    return total


def count_by_grouping(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                      tie_embeddings=True):
    embeddings = vocab_size * d_model * (1 if tie_embeddings else 2)
    return embeddings + d_model + n_layers * d_model * (4 * d_model + 6 + 3 * d_ff)


COUNT_ALTERNATIVES = (count_by_shapes, count_by_grouping)


def relu_net_from_the_right(xs, ys):
    """Mirror image: units relu(xs[k] − x) that switch on left of each knot, anchored at ys[-1]."""
    s = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
    coeff = torch.diff(torch.cat([s, s.new_zeros(1)]))  # knots xs[1:]
    return -xs.new_ones(len(s), 1), xs[1:].clone(), coeff[None, :], ys[-1:].clone()


def relu_net_loop(xs, ys):
    n = xs.shape[0]
    W1, b1, W2 = xs.new_zeros(n - 1, 1), xs.new_zeros(n - 1), xs.new_zeros(1, n - 1)
    previous = 0.0
    for k in range(n - 1):
        slope = (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k])
        W1[k, 0] = 1.0
        b1[k] = -xs[k]
        W2[0, k] = slope - previous
        previous = slope
    return W1, b1, W2, ys[0].reshape(1)


RELU_NET_ALTERNATIVES = (relu_net_from_the_right, relu_net_loop)


def head_rectangular(seq_len, d_model):
    """d_k = seq_len: queries and keys live in position space only."""
    shift = torch.diag(torch.ones(seq_len - 1), -1)  # (t, t-1) = 1
    W_q = torch.cat([shift * 80 * math.sqrt(seq_len), torch.zeros(d_model - seq_len, seq_len)])
    W_k = torch.cat([torch.eye(seq_len), torch.zeros(d_model - seq_len, seq_len)])
    W_v = torch.block_diag(torch.zeros(seq_len, seq_len), torch.eye(d_model - seq_len))
    return W_q, W_k, W_v


def head_roll(seq_len, d_model):
    eye = torch.eye(seq_len)
    W_q = torch.zeros(d_model, d_model)
    W_q[:seq_len, :seq_len] = torch.roll(eye, shifts=-1, dims=1) * 1e3  # row t -> column t-1
    W_q[0] = 0  # position 0 has no predecessor (the roll wrapped it to the last column)
    W_k = torch.zeros(d_model, d_model)
    W_k[:seq_len, :seq_len] = eye
    W_v = torch.diag(torch.cat([torch.zeros(seq_len), torch.ones(d_model - seq_len)]))
    return W_q, W_k, W_v


HEAD_ALTERNATIVES = (head_rectangular, head_roll)


# =========================================================================== derivations
# Formulas are graded as text (read, never run): the alternatives are answer-cell texts.
SILU_DERIVATIVE_ALTERNATIVES = (
    Answer("exponentials", "def silu_derivative(x):\n"
                           "    return (1 + exp(-x) + x * exp(-x)) / (1 + exp(-x))**2\n"),
    Answer("factored", "def silu_derivative(x):\n    s = 1 / (1 + math.exp(-x))\n"
                       "    return s * (1 + x * (1 - s))\n"),
    Answer("tanh_form", "def silu_derivative(x):\n"
                        "    sig = (1 + tanh(x / 2)) / 2  # the sigmoid through tanh\n"
                        "    slope = sig * (1 - sig)\n"
                        "    return sig + x * slope\n"),
)

ALTERNATIVES = {
    "ch06.gelu": GELU_ALTERNATIVES,
    "ch06.silu": SILU_ALTERNATIVES,
    "ch06.silu_derivative": SILU_DERIVATIVE_ALTERNATIVES,
    "ch06.feed_forward": FFN_ALTERNATIVES,
    "ch06.swiglu": SWIGLU_ALTERNATIVES,
    "ch06.transformer_block": BLOCK_ALTERNATIVES,
    "ch06.gpt": GPT_ALTERNATIVES,
    "ch06.count_parameters": COUNT_ALTERNATIVES,
    "ch06.relu_network": RELU_NET_ALTERNATIVES,
    "ch06.previous_token_head": HEAD_ALTERNATIVES,
}
