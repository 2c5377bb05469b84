"""Chapter 6 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently. Every function and class here is also pasted, as source, into a notebook's answer cell
by the platform's tests, so each must be self-contained: it may use only ``math``, ``torch``,
``nn``, ``F``, the names of the chapter's given cells (``apply_rope``, ``softmax``,
``scaled_dot_product_attention``, ``split_heads``, ``merge_heads``, ``rms_norm``, ``layer_norm``,
``RMSNorm``, ``LayerNorm``), the names of earlier exercises (``gelu``, ``silu``, ``FeedForward``,
``SwiGLU``, ``TransformerBlock``) and private ``_helpers`` of this module (pasted along). Here
those names resolve to the reference; in a notebook, to the given cells and the student's code.

tests/ prove that each mistake loses its exercise's points (and only those) and is named in the
feedback, and that each alternative gets full marks.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from autograder.spec import Mistake
from reference.attention import merge_heads, scaled_dot_product_attention, softmax, split_heads  # noqa: F401
from reference.blocks import (  # noqa: F401 (names used by pasted code)
    FeedForward,
    LayerNorm,
    RMSNorm,
    SwiGLU,
    TransformerBlock,
    _rope,
    gelu,
    silu,
)
from reference.norms import layer_norm, rms_norm  # noqa: F401

apply_rope = _rope  # the given cell's name for the half-split RoPE


# =========================================================================== GELU
def gelu_modes_swapped(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_tanh_constant_inverted(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(math.pi / 2) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def gelu_erf_without_sqrt2(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x))


def gelu_missing_half(x, approximate="none"):
    if approximate == "tanh":
        return x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x * (1 + torch.erf(x / math.sqrt(2)))


def gelu_sigmoid_shortcut(x, approximate="none"):
    return x * torch.sigmoid(1.702 * x)


GELU_MISTAKES = (
    Mistake("modes_swapped", 'exact and tanh forms swapped',
            'approximate="none" is the exact x·Φ(x) with erf; approximate="tanh" is the tanh formula',
            gelu_modes_swapped),
    Mistake("tanh_constant_wrong", "√(π/2) instead of √(2/π) in the tanh approximation",
            "the tanh form is ½x(1 + tanh(√(2/π)(x + 0.044715x³)))", gelu_tanh_constant_inverted),
    Mistake("erf_without_sqrt2", "erf(x) instead of erf(x/√2)",
            "the standard normal CDF is Φ(x) = ½(1 + erf(x/√2))", gelu_erf_without_sqrt2),
    Mistake("missing_half", "the factor ½ is missing",
            "Φ(x) = ½(1 + erf(x/√2)) lies in [0, 1]; GELU(x) = x·Φ(x)", gelu_missing_half),
    Mistake("sigmoid_shortcut", "x·sigmoid(1.702x) used for GELU",
            "that is a third, cruder approximation; implement the two forms the docstring gives",
            gelu_sigmoid_shortcut),
)


def gelu_via_ndtr_and_sigmoid(x, approximate="none"):
    if approximate == "tanh":
        # ½(1 + tanh z) = sigmoid(2z)
        return x * torch.sigmoid(2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x))
    return x * torch.special.ndtr(x)


def gelu_in_float64(x, approximate="none"):
    z = x.double()
    if approximate == "none":
        cdf = 0.5 * torch.erfc(-z / math.sqrt(2))
    else:
        cdf = 0.5 * (1 + torch.tanh(math.sqrt(2 / math.pi) * z * (1 + 0.044715 * z * z)))
    return (z * cdf).to(x.dtype)


GELU_ALTERNATIVES = (gelu_via_ndtr_and_sigmoid, gelu_in_float64)


# =========================================================================== SiLU
def silu_with_tanh(x):
    return x * torch.tanh(x)


def silu_without_x(x):
    return torch.sigmoid(x)


def silu_sign_error(x):
    return x / (1 + torch.exp(x))


SILU_MISTAKES = (
    Mistake("tanh_instead_of_sigmoid", "x·tanh(x) instead of x·sigmoid(x)",
            "SiLU(x) = x·σ(x) with σ(x) = 1/(1 + e^(−x)); tanh goes from −1 to 1, σ from 0 to 1",
            silu_with_tanh),
    Mistake("missing_x", "sigmoid(x) without the factor x",
            "SiLU gates x by σ(x): multiply by x", silu_without_x),
    Mistake("sign_error", "x/(1 + e^x): the sign of the exponent flipped",
            "σ(x) = 1/(1 + e^(−x)); with e^(+x) you get σ(−x)", silu_sign_error),
)


def silu_exp_form(x):
    return x / (1 + torch.exp(-x))


def silu_tanh_half(x):
    return 0.5 * x * (1 + torch.tanh(0.5 * x))


SILU_ALTERNATIVES = (silu_exp_form, silu_tanh_half)


# =========================================================================== FeedForward
class _FFN(nn.Module):
    """Shared skeleton of the FeedForward mistakes; each subclass sets one flag."""

    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        self.activation = activation
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)
        self.flaw = ""

    def act(self, h):
        if self.flaw == "no_activation":
            return h
        if self.flaw == "always_relu" or self.activation == "relu":
            return torch.relu(h)
        if self.activation == "silu":
            return silu(h)
        if self.activation == "gelu_tanh" and self.flaw != "tanh_as_exact":
            return gelu(h, approximate="tanh")
        return gelu(h)

    def forward(self, x):
        y = self.fc2(self.act(self.fc1(x)))
        return self.act(y) if self.flaw == "activation_after_fc2" else y


class FFNActivationAfterFc2(_FFN):
    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        _FFN.__init__(self, d_model, d_ff, activation, bias)
        self.flaw = "activation_after_fc2"


class FFNNoActivation(_FFN):
    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        _FFN.__init__(self, d_model, d_ff, activation, bias)
        self.flaw = "no_activation"


class FFNAlwaysRelu(_FFN):
    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        _FFN.__init__(self, d_model, d_ff, activation, bias)
        self.flaw = "always_relu"


class FFNTanhAsExact(_FFN):
    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        _FFN.__init__(self, d_model, d_ff, activation, bias)
        self.flaw = "tanh_as_exact"


FFN_MISTAKES = (
    Mistake("activation_after_fc2", "the activation applied after fc2 as well",
            "the FFN is fc2(act(fc1(x))): its output is linear in the hidden activations",
            FFNActivationAfterFc2),
    Mistake("no_activation", "no nonlinearity between fc1 and fc2",
            "without the activation the FFN collapses to one linear map", FFNNoActivation),
    Mistake("always_relu", "ReLU used whatever `activation` says",
            'dispatch on activation: "relu", "gelu", "gelu_tanh" or "silu"', FFNAlwaysRelu),
    Mistake("gelu_tanh_as_exact", '"gelu_tanh" treated as the exact GELU',
            'pass approximate="tanh" for "gelu_tanh"', FFNTanhAsExact),
)


class FFNFunctional(nn.Module):
    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)
        self.act = {"relu": torch.relu, "gelu": gelu, "silu": silu,
                    "gelu_tanh": lambda h: gelu(h, approximate="tanh")}[activation]

    def forward(self, x):
        h = x @ self.fc1.weight.T
        if self.fc1.bias is not None:
            h = h + self.fc1.bias
        y = self.act(h) @ self.fc2.weight.T
        return y if self.fc2.bias is None else y + self.fc2.bias


class FFNEinsum(nn.Module):
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
            h = silu(h)
        else:
            h = gelu(h, "tanh" if self.kind == "gelu_tanh" else "none")
        y = torch.einsum("...f,df->...d", h, self.fc2.weight)
        return y + self.fc2.bias if self.fc2.bias is not None else y


FFN_ALTERNATIVES = (FFNFunctional, FFNEinsum)


# =========================================================================== SwiGLU
class _GLU(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff, bias=False)
        self.w3 = nn.Linear(d_model, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d_model, bias=False)
        self.flaw = ""

    def forward(self, x):
        gate, up = self.w1(x), self.w3(x)
        if self.flaw == "swapped":
            return self.w2(silu(up) * gate)
        if self.flaw == "sigmoid":
            return self.w2(torch.sigmoid(gate) * up)
        if self.flaw == "silu_of_product":
            return self.w2(silu(gate * up))
        if self.flaw == "added":
            return self.w2(silu(gate) + up)
        return self.w2(silu(gate) * up)


class SwiGLUSwapped(_GLU):
    def __init__(self, d_model, d_ff):
        _GLU.__init__(self, d_model, d_ff)
        self.flaw = "swapped"


class SwiGLUSigmoidGate(_GLU):
    def __init__(self, d_model, d_ff):
        _GLU.__init__(self, d_model, d_ff)
        self.flaw = "sigmoid"


class SwiGLUSiluOfProduct(_GLU):
    def __init__(self, d_model, d_ff):
        _GLU.__init__(self, d_model, d_ff)
        self.flaw = "silu_of_product"


class SwiGLUAdded(_GLU):
    def __init__(self, d_model, d_ff):
        _GLU.__init__(self, d_model, d_ff)
        self.flaw = "added"


SWIGLU_MISTAKES = (
    Mistake("gate_up_swapped", "gate and up projections swapped (silu(w3 x)·w1 x)",
            "w1 is the gate: w2(silu(w1 x) * w3 x)", SwiGLUSwapped),
    Mistake("sigmoid_gate", "sigmoid gate instead of SiLU (that is GLU, not SwiGLU)",
            "the gate is silu(w1 x) = w1 x · σ(w1 x)", SwiGLUSigmoidGate),
    Mistake("silu_of_product", "SiLU applied to the product of the two projections",
            "only the gate goes through SiLU, then it multiplies w3 x", SwiGLUSiluOfProduct),
    Mistake("added_not_multiplied", "gate and up added instead of multiplied",
            "gating is elementwise multiplication: silu(w1 x) * w3 x", SwiGLUAdded),
)


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


# =========================================================================== TransformerBlock
class _Attn(nn.Module):
    """Causal RoPE self-attention in Chapter 4's layout, with switches for the block mistakes."""

    def __init__(self, d_model, n_heads, rope, rope_base, flaw):
        super().__init__()
        self.n_heads, self.rope, self.rope_base, self.flaw = n_heads, rope, rope_base, flaw
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        if self.rope:
            q = apply_rope(q, base=self.rope_base)
            if self.flaw != "rope_q_only":
                k = apply_rope(k, base=self.rope_base)
            if self.flaw == "rope_on_v":
                v = apply_rope(v, base=self.rope_base)
        y = scaled_dot_product_attention(q, k, v, is_causal=self.flaw != "not_causal")
        return self.out_proj(merge_heads(y))


class _Block(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True,
                 rope_base=10000.0, flaw=""):
        super().__init__()
        self.flaw = flaw
        self.norm1 = RMSNorm(d_model) if norm == "rms" else LayerNorm(d_model)
        self.attn = _Attn(d_model, n_heads, rope, rope_base, flaw)
        self.norm2 = RMSNorm(d_model) if norm == "rms" else LayerNorm(d_model)
        self.ffn = SwiGLU(d_model, d_ff) if ffn == "swiglu" else FeedForward(d_model, d_ff, ffn)

    def forward(self, x):
        if self.flaw == "post_norm":
            h = self.norm1(x + self.attn(x))
            return self.norm2(h + self.ffn(h))
        if self.flaw == "parallel":
            return x + self.attn(self.norm1(x)) + self.ffn(self.norm2(x))
        a = self.attn(self.norm1(x))
        h = a if self.flaw == "no_residual" else x + a
        return h + self.ffn(self.norm2(h))


class BlockPostNorm(_Block):
    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        _Block.__init__(self, d_model, n_heads, d_ff, norm, ffn, rope, rope_base, "post_norm")


class BlockNoResidual(_Block):
    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        _Block.__init__(self, d_model, n_heads, d_ff, norm, ffn, rope, rope_base, "no_residual")


class BlockNotCausal(_Block):
    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        _Block.__init__(self, d_model, n_heads, d_ff, norm, ffn, rope, rope_base, "not_causal")


class BlockRopeOnV(_Block):
    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        _Block.__init__(self, d_model, n_heads, d_ff, norm, ffn, rope, rope_base, "rope_on_v")


class BlockRopeQOnly(_Block):
    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        _Block.__init__(self, d_model, n_heads, d_ff, norm, ffn, rope, rope_base, "rope_q_only")


class BlockParallel(_Block):
    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, rope_base=10000.0):
        _Block.__init__(self, d_model, n_heads, d_ff, norm, ffn, rope, rope_base, "parallel")


BLOCK_MISTAKES = (
    Mistake("post_norm", "post-norm (norm(x + sublayer(x))) instead of pre-norm",
            "this block is pre-norm: h = x + attn(norm1(x)); y = h + ffn(norm2(h))", BlockPostNorm),
    Mistake("no_residual", "the attention's residual connection is missing",
            "add the input back: h = x + attn(norm1(x))", BlockNoResidual),
    Mistake("future_leak", "attention is not causal: tokens see the future",
            "pass is_causal=True (query t may attend only to keys ≤ t)", BlockNotCausal),
    Mistake("rope_on_v", "RoPE applied to the values as well",
            "rotate only q and k: RoPE changes the scores, the values stay as they are", BlockRopeOnV),
    Mistake("rope_q_only", "RoPE applied to the queries but not the keys",
            "rotate both q and k, so that the score depends on the offset m − n", BlockRopeQOnly),
    Mistake("parallel_sublayers", "attention and FFN applied in parallel to x",
            "the FFN reads the updated stream: h = x + attn(norm1(x)), then h + ffn(norm2(h))",
            BlockParallel),
)


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


# =========================================================================== GPT
class _GPT(nn.Module):
    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                 tie_embeddings=True, flaw=""):
        super().__init__()
        self.flaw, self.d_model = flaw, d_model
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList([TransformerBlock(d_model, n_heads, d_ff) for _ in range(n_layers)])
        self.norm_f = RMSNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings and flaw != "untied":
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx):
        x = self.tok_emb(idx)
        if self.flaw == "scaled_embedding":
            x = x * math.sqrt(self.d_model)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(x if self.flaw == "no_final_norm" else self.norm_f(x))


class GPTUntied(_GPT):
    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff, tie_embeddings=True):
        _GPT.__init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                      tie_embeddings, "untied")


class GPTNoFinalNorm(_GPT):
    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff, tie_embeddings=True):
        _GPT.__init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                      tie_embeddings, "no_final_norm")


class GPTScaledEmbedding(_GPT):
    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff, tie_embeddings=True):
        _GPT.__init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                      tie_embeddings, "scaled_embedding")


GPT_MISTAKES = (
    Mistake("untied_embeddings", "embeddings not tied although tie_embeddings=True",
            "share the Parameter itself: self.lm_head.weight = self.tok_emb.weight (copying the "
            "values is not tying: the two would drift apart in training)", GPTUntied),
    Mistake("no_final_norm", "the final norm_f is missing",
            "pre-norm blocks leave the residual stream unnormalised: apply norm_f before lm_head",
            GPTNoFinalNorm),
    Mistake("scaled_embedding", "embeddings multiplied by √d_model",
            "this GPT feeds tok_emb(idx) to the first block unscaled", GPTScaledEmbedding),
)


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
        assert idx.shape[1] <= self.context_length
        h = self.tok_emb.weight[idx]
        for blk in self.blocks:
            h = blk(h)
        return torch.nn.functional.linear(self.norm_f(h), self.lm_head.weight)


GPT_ALTERNATIVES = (GPTTiedTheOtherWay,)


# =========================================================================== count_parameters
def _count(V, D, L, F, tied, norms=True, biases=True, head_when_tied=False, positions=0,
           ffn_mats=3):
    block = 4 * D * D + (4 * D if biases else 0) + (2 * D if norms else 0) + ffn_mats * D * F
    head = V * D if (not tied or head_when_tied) else 0
    return V * D + L * block + (D if norms else 0) + head + positions * D


def count_forgets_norms(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                        tie_embeddings=True):
    return _count(vocab_size, d_model, n_layers, d_ff, tie_embeddings, norms=False)


def count_forgets_biases(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                         tie_embeddings=True):
    return _count(vocab_size, d_model, n_layers, d_ff, tie_embeddings, biases=False)


def count_head_twice(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                     tie_embeddings=True):
    return _count(vocab_size, d_model, n_layers, d_ff, tie_embeddings, head_when_tied=True)


def count_position_table(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                         tie_embeddings=True):
    return _count(vocab_size, d_model, n_layers, d_ff, tie_embeddings, positions=context_length)


def count_two_ffn_matrices(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                           tie_embeddings=True):
    return _count(vocab_size, d_model, n_layers, d_ff, tie_embeddings, ffn_mats=2)


COUNT_MISTAKES = (
    Mistake("forgets_norms", "the norm weights are not counted",
            "each block has two RMSNorm weights (D each) and there is a final norm_f (D)",
            count_forgets_norms),
    Mistake("forgets_biases", "the attention biases are not counted",
            "q_proj, k_proj, v_proj and out_proj each have a bias of size D", count_forgets_biases),
    Mistake("head_counted_when_tied", "the output head counted although it is tied",
            "a tied lm_head shares tok_emb's V·D parameters: count them once", count_head_twice),
    Mistake("position_table", "a learned position table (context_length × D) counted",
            "this GPT uses RoPE, which has no parameters: context_length does not change the count",
            count_position_table),
    Mistake("two_ffn_matrices", "the FFN counted with two matrices (2·D·d_ff)",
            "SwiGLU has three: w1, w3 (D → d_ff) and w2 (d_ff → D)", count_two_ffn_matrices),
)


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


# =========================================================================== ReLU network
def _slopes(xs, ys):
    return (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])


def relu_net_slopes_not_differenced(xs, ys):
    s = _slopes(xs, ys)
    return torch.ones(len(s), 1, dtype=xs.dtype), -xs[:-1], s[None, :], ys[:1]


def relu_net_no_intercept(xs, ys):
    s = _slopes(xs, ys)
    jumps = torch.cat([s[:1], s[1:] - s[:-1]])
    return torch.ones(len(s), 1, dtype=xs.dtype), -xs[:-1], jumps[None, :], torch.zeros(1, dtype=xs.dtype)


def relu_net_kinks_at_right_ends(xs, ys):
    s = _slopes(xs, ys)
    jumps = torch.cat([s[:1], s[1:] - s[:-1]])
    return torch.ones(len(s), 1, dtype=xs.dtype), -xs[1:], jumps[None, :], ys[:1]


def relu_net_bias_sign(xs, ys):
    s = _slopes(xs, ys)
    jumps = torch.cat([s[:1], s[1:] - s[:-1]])
    return torch.ones(len(s), 1, dtype=xs.dtype), xs[:-1], jumps[None, :], ys[:1]


RELU_NET_MISTAKES = (
    Mistake("slopes_not_differenced", "each unit weighted by its segment's slope",
            "unit k adds to the slopes of all later segments, so its weight is the change of slope "
            "s_k − s_(k−1)", relu_net_slopes_not_differenced),
    Mistake("no_intercept", "the output bias b2 = ys[0] is missing",
            "every unit is 0 at xs[0], so f(xs[0]) = b2 must be ys[0]", relu_net_no_intercept),
    Mistake("kinks_at_right_ends", "units switch on at the right end of each segment",
            "unit k must switch on at xs[k]: b1[k] = −xs[k] for k = 0..N−2",
            relu_net_kinks_at_right_ends),
    Mistake("bias_sign", "b1 = +xs instead of −xs",
            "relu(x − xs[k]) is zero left of xs[k]: the bias is −xs[k]", relu_net_bias_sign),
)


def relu_net_from_the_right(xs, ys):
    """Mirror image: units relu(xs[k] − x) that switch on left of each knot, anchored at ys[-1]."""
    s = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
    coeff = torch.diff(torch.cat([s, torch.zeros(1, dtype=s.dtype)]))  # knots xs[1:]
    return -torch.ones(len(s), 1, dtype=xs.dtype), xs[1:].clone(), coeff[None, :], ys[-1:].clone()


def relu_net_loop(xs, ys):
    n = xs.shape[0]
    W1, b1, W2 = torch.zeros(n - 1, 1, dtype=xs.dtype), torch.zeros(n - 1, dtype=xs.dtype), \
        torch.zeros(1, n - 1, dtype=xs.dtype)
    previous = 0.0
    for k in range(n - 1):
        slope = (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k])
        W1[k, 0] = 1.0
        b1[k] = -xs[k]
        W2[0, k] = slope - previous
        previous = slope
    return W1, b1, W2, ys[0].reshape(1)


RELU_NET_ALTERNATIVES = (relu_net_from_the_right, relu_net_loop)


# =========================================================================== previous-token head
def _head(seq_len, d_model, *, shift=-1, gain=100.0, copy_positions=False):
    W_q = torch.zeros(d_model, d_model)
    for t in range(seq_len):
        if 0 <= t + shift < seq_len:
            W_q[t, t + shift] = gain * math.sqrt(d_model)
    W_k = torch.zeros(d_model, d_model)
    W_k[:seq_len, :seq_len] = torch.eye(seq_len)
    W_v = torch.eye(d_model)
    if not copy_positions:
        W_v[:seq_len, :seq_len] = 0
    return W_q, W_k, W_v


def head_attends_to_self(seq_len, d_model):
    return _head(seq_len, d_model, shift=0)


def head_copies_positions(seq_len, d_model):
    return _head(seq_len, d_model, copy_positions=True)


def head_soft_scores(seq_len, d_model):
    return _head(seq_len, d_model, gain=1.0)


def head_looks_ahead(seq_len, d_model):
    return _head(seq_len, d_model, shift=+1)


HEAD_MISTAKES = (
    Mistake("attends_to_self", "the head attends to the current token",
            "query t must match key t − 1: put the gain at W_q[t, t − 1]", head_attends_to_self),
    Mistake("copies_positions", "W_v copies the position one-hot as well",
            "the output's position part must be 0: W_v keeps only the content block",
            head_copies_positions),
    Mistake("soft_scores", "score gap too small: attention is a blur, not a copy",
            "scale W_q so that the previous token's score exceeds the others by ≳ 50 after the "
            "1/√d_k scaling; then its softmax weight is 1 to float64 precision", head_soft_scores),
    Mistake("looks_ahead", "query t matches key t + 1, which the causal mask hides",
            "the previous token is t − 1: W_q[t, t − 1], not W_q[t, t + 1]", head_looks_ahead),
)


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
