"""Chapter 6's stand-ins (activations, feed-forward networks, the Transformer block) built from
PyTorch's own layers, and the drivers of its module exercises.

The stand-in classes have the parameter names of the exercises they replace (``fc1``/``fc2``,
``w1``/``w3``/``w2``, ``norm1``/``attn.q_proj``/...), so that a case's state loads into them.
The GPT stand-in has the reference GPT's options too (LayerNorm, GELU, learned positions: the
GPT-2 family), for Chapter 12's checkpoint loader, which builds one, and its key/value cache
(``make_cache``, ``forward(idx, cache=...)``), for Chapter 12's capstone, which generates with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .generation import KVCache
from .registry import driver, standin
from .rope import apply_rope


# --------------------------------------------------------------------------- stand-ins
@standin("ch06.gelu")
def gelu(x, approximate="none"):
    return F.gelu(x, approximate=approximate)


@standin("ch06.silu")
def silu(x):
    return F.silu(x)


ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu,
               "gelu_tanh": lambda h: F.gelu(h, approximate="tanh")}


@standin("ch06.feed_forward")
class FeedForward(nn.Module):
    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


@standin("ch06.swiglu")
class SwiGLU(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w1, self.w3 = (nn.Linear(d_model, d_ff, bias=False) for _ in range(2))  # gate, up
        self.w2 = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention, RoPE (computed in the input's dtype, as the course's
    given ``apply_rope``) on queries and keys. With ``cache`` (a :class:`.generation.KVCache`)
    x holds the positions after the ``cache.pos`` already fed: they rotate from there, their
    keys and values are appended, and each query sees the cached keys up to its own position."""

    def __init__(self, d_model, n_heads, rope=True, rope_base=10000.0):
        super().__init__()
        self.n_heads, self.rope, self.rope_base = n_heads, rope, rope_base
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, x, cache=None):
        B, T, D = x.shape
        start = 0 if cache is None else cache.pos
        q, k, v = (p(x).view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))  # (B, H, T, E) each
        if self.rope:
            q, k = apply_rope(q, self.rope_base, start), apply_rope(k, self.rope_base, start)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k, v = cache.update(k, v)  # (B, H, S, E), S = start + T
            positions = torch.arange(start, start + T, device=x.device)  # (T,)
            visible = torch.arange(start + T, device=x.device) <= positions[:, None]  # (T, S)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, D))


def make_norm(kind, d_model, eps=None):
    """PyTorch's RMSNorm (eps 1e-6 by default) or LayerNorm (1e-5), as the course's norms."""
    if kind == "rms":
        return nn.RMSNorm(d_model, eps=1e-6 if eps is None else eps)
    return {"layer": nn.LayerNorm}[kind](d_model, eps=1e-5 if eps is None else eps)


@standin("ch06.transformer_block")
class TransformerBlock(nn.Module):
    """Pre-norm causal block: h = x + attn(norm1(x)); y = h + ffn(norm2(h))."""

    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True,
                 rope_base=10000.0, norm_eps=None):
        super().__init__()
        self.norm1 = make_norm(norm, d_model, norm_eps)
        self.attn = CausalSelfAttention(d_model, n_heads, rope, rope_base)
        self.norm2 = make_norm(norm, d_model, norm_eps)
        self.ffn = SwiGLU(d_model, d_ff) if ffn == "swiglu" else FeedForward(d_model, d_ff, ffn)

    def forward(self, x, cache=None):
        h = x + self.attn(self.norm1(x), cache=cache)
        return h + self.ffn(self.norm2(h))


@standin("ch06.gpt")
class GPT(nn.Module):
    """Token embedding (+ learned positions, or RoPE in the blocks), pre-norm blocks, final norm,
    bias-free head, tied to the embedding by default.

    ``make_cache(batch_size, max_seq_len)`` and ``forward(idx, cache=...)`` are the reference
    GPT's decoding interface (Chapter 10's ``generate``, Chapter 12's capstone): with a cache,
    idx holds the positions after the ``cache[0].pos`` already fed, and positions (RoPE angles or
    ``pos_emb`` rows) count from there."""

    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                 tie_embeddings=True, norm="rms", ffn="swiglu", positions="rope", norm_eps=None):
        super().__init__()
        self.context_length = context_length
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(context_length, d_model) if positions == "learned" else None
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, norm, ffn, rope=positions == "rope",
                             norm_eps=norm_eps) for _ in range(n_layers))
        self.norm_f = make_norm(norm, d_model, norm_eps)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx, cache=None):
        start = 0 if cache is None else cache[0].pos
        T = idx.shape[-1]
        if start + T > self.context_length:
            raise ValueError(f"sequence of length {start + T} exceeds "
                             f"context_length={self.context_length}")
        x = self.tok_emb(idx)  # (B, T, D)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + T, device=idx.device))
        for i, block in enumerate(self.blocks):
            x = block(x) if cache is None else block(x, cache=cache[i])
        return self.lm_head(self.norm_f(x))  # (B, T, V)

    def make_cache(self, batch_size, max_seq_len=None):
        """One empty cache per block for ``batch_size`` sequences of at most ``max_seq_len``
        positions (default ``context_length``), in the model's dtype and on its device."""
        attn, weight = self.blocks[0].attn, self.tok_emb.weight
        head_dim = weight.shape[1] // attn.n_heads
        return [KVCache(batch_size, attn.n_heads, max_seq_len or self.context_length, head_dim,
                        weight.dtype, weight.device) for _ in self.blocks]


# --------------------------------------------------------------------------- drivers
@driver
def drive_twice(module, x, x_edited):
    """Run the block on a sequence and on the same sequence with its tail replaced (a chapter's
    check compares the untouched positions: causality)."""
    return module(x), module(x_edited)


@driver
def drive_gpt(model, idx, idx_edited=None, tied=True, refuse=False):
    """Logits of a sequence and of the same sequence with its tail replaced, and whether the head
    shares the embedding's Parameter. An untied head (when tying was asked for) holds a random
    initialisation; it gets the embedding's values so that the logits are reproducible — the
    missing tie itself is reported by the third output (and by the embedding's gradient).

    With ``refuse``, idx is longer than the model's context_length, which the statement says must
    raise ValueError: returns 1 if the model raised it, 0 if it returned logits (any other
    exception goes to the student as it is)."""
    if refuse:
        try:
            model(idx)
        except ValueError:
            return torch.tensor(1, device=idx.device)
        return torch.tensor(0, device=idx.device)
    head, emb = model.lm_head.weight, model.tok_emb.weight
    is_tied = head is emb
    if tied and not is_tied and head.shape == emb.shape:
        with torch.no_grad():
            head.copy_(emb)
    return model(idx), model(idx_edited), torch.tensor(int(is_tied), device=idx.device)
