"""Chapter 6 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently. Mistakes are patches on the solution's answer cell (``{old: new}``, see
``spec.Mistake``). Alternatives are written out and also pasted into a notebook's answer cell by the
platform's tests, so each may use only ``math``, ``torch``, ``nn``, ``F``, the chapter's given cells
(``apply_rope``, ``softmax``, ``split_heads``, ``merge_heads``, ``RMSNorm``, ``LayerNorm``...), the
earlier exercises (``gelu``, ``silu``, ``FeedForward``, ``SwiGLU``, ``TransformerBlock``) and this
module's private ``_helpers`` (pasted along): the reference here, the student's code there.
tests/ prove that each mistake loses its exercise's points (and only those) and is named in the
feedback, and that each alternative gets full marks.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from autograder.spec import Mistake
# names used by pasted code (the given cells and earlier exercises)
from reference.attention import merge_heads, softmax, split_heads  # noqa: F401
from reference.blocks import (FeedForward, LayerNorm, RMSNorm, SwiGLU,  # noqa: F401
                              TransformerBlock, gelu, silu)
from reference.positional import apply_rope  # noqa: F401 (the given cell's half-split RoPE)


# =========================================================================== GELU
_EXACT = "return 0.5 * x * (1.0 + torch.erf("
_TANH = "return 0.5 * x * (1.0 + torch.tanh("

GELU_MISTAKES = (
    Mistake(key="modes_swapped", title="exact and tanh forms swapped",
            hint='approximate="none" is the exact x·Φ(x) with erf; approximate="tanh" is the tanh '
                 "formula",
            patch={f'"none":\n        {_EXACT}': f'"tanh":\n        {_EXACT}',
                   f'"tanh":\n        {_TANH}': f'"none":\n        {_TANH}'}),
    Mistake(key="tanh_constant_wrong", title="√(π/2) instead of √(2/π) in the tanh approximation",
            hint="the tanh form is ½x(1 + tanh(√(2/π)(x + 0.044715x³)))",
            patch={"math.sqrt(2.0 / math.pi)": "math.sqrt(math.pi / 2.0)"}),
    Mistake(key="erf_without_sqrt2", title="erf(x) instead of erf(x/√2)",
            hint="the standard normal CDF is Φ(x) = ½(1 + erf(x/√2))",
            patch={"torch.erf(x / math.sqrt(2.0))": "torch.erf(x)"}),
    Mistake(key="missing_half", title="the factor ½ is missing",
            hint="Φ(x) = ½(1 + erf(x/√2)) lies in [0, 1]; GELU(x) = x·Φ(x)",
            patch={old: old.replace("0.5 * ", "") for old in (_EXACT, _TANH)}),
    Mistake(key="sigmoid_shortcut", title="x·sigmoid(1.702x) used for GELU",
            hint="that is a third, cruder approximation; implement the two forms the docstring "
                 "gives",
            patch={'    if approximate == "none":': "    return x * torch.sigmoid(1.702 * x)\n"
                                                    '    if approximate == "none":'}),
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
SILU_MISTAKES = (
    Mistake(key="tanh_instead_of_sigmoid", title="x·tanh(x) instead of x·sigmoid(x)",
            hint="SiLU(x) = x·σ(x) with σ(x) = 1/(1 + e^(−x)); tanh goes from −1 to 1, σ from 0 "
                 "to 1",
            patch={"x * torch.sigmoid(x)": "x * torch.tanh(x)"}),
    Mistake(key="missing_x", title="sigmoid(x) without the factor x",
            hint="SiLU gates x by σ(x): multiply by x",
            patch={"x * torch.sigmoid(x)": "torch.sigmoid(x)"}),
    Mistake(key="sign_error", title="x/(1 + e^x): the sign of the exponent flipped",
            hint="σ(x) = 1/(1 + e^(−x)); with e^(+x) you get σ(−x)",
            patch={"x * torch.sigmoid(x)": "x / (1 + torch.exp(x))"}),
)


def silu_exp_form(x):
    return x / (1 + torch.exp(-x))


def silu_tanh_half(x):
    return 0.5 * x * (1 + torch.tanh(0.5 * x))


SILU_ALTERNATIVES = (silu_exp_form, silu_tanh_half)


# =========================================================================== FeedForward
_FC1 = "        h = self.fc1(x)  # (..., F)\n"

FFN_MISTAKES = (
    Mistake(key="activation_after_fc2", title="the activation applied after fc2 as well",
            hint="the FFN is fc2(act(fc1(x))): its output is linear in the hidden activations",
            patch={_FC1: _FC1 + "        return self.act(self.fc2(self.act(h)))\n\n"
                                "    def act(self, h):\n",
                   "return self.fc2(h)  # (..., D)": "return h"}),
    Mistake(key="no_activation", title="no nonlinearity between fc1 and fc2",
            hint="without the activation the FFN collapses to one linear map",
            patch={_FC1: "        return self.fc2(self.fc1(x))\n"}),
    Mistake(key="always_relu", title="ReLU used whatever `activation` says",
            hint='dispatch on activation: "relu", "gelu", "gelu_tanh" or "silu"',
            patch={'if self.activation == "relu":': "if True:"}),
    Mistake(key="gelu_tanh_as_exact", title='"gelu_tanh" treated as the exact GELU',
            hint='pass approximate="tanh" for "gelu_tanh"',
            patch={'h = gelu(h, approximate="tanh")': "h = gelu(h)"}),
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
_GATED = "silu(self.w1(x)) * self.w3(x)"

SWIGLU_MISTAKES = (
    Mistake(key="gate_up_swapped", title="gate and up projections swapped (silu(w3 x)·w1 x)",
            hint="w1 is the gate: w2(silu(w1 x) * w3 x)",
            patch={_GATED: "silu(self.w3(x)) * self.w1(x)"}),
    Mistake(key="sigmoid_gate", title="sigmoid gate instead of SiLU (that is GLU, not SwiGLU)",
            hint="the gate is silu(w1 x) = w1 x · σ(w1 x)",
            patch={_GATED: "torch.sigmoid(self.w1(x)) * self.w3(x)"}),
    Mistake(key="silu_of_product", title="SiLU applied to the product of the two projections",
            hint="only the gate goes through SiLU, then it multiplies w3 x",
            patch={_GATED: "silu(self.w1(x) * self.w3(x))"}),
    Mistake(key="added_not_multiplied", title="gate and up added instead of multiplied",
            hint="gating is elementwise multiplication: silu(w1 x) * w3 x",
            patch={_GATED: "silu(self.w1(x)) + self.w3(x)"}),
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
_ATTN = "h = x + self.attn(self.norm1(x))"
_FFN = "return h + self.ffn(self.norm2(h))"
_ROPE_K = "            k = apply_rope(k, base=self.rope_base)\n"

BLOCK_MISTAKES = (
    Mistake(key="post_norm", title="post-norm (norm(x + sublayer(x))) instead of pre-norm",
            hint="this block is pre-norm: h = x + attn(norm1(x)); y = h + ffn(norm2(h))",
            patch={_ATTN: "h = self.norm1(x + self.attn(x))",
                   _FFN: "return self.norm2(h + self.ffn(h))"}),
    Mistake(key="no_residual", title="the attention's residual connection is missing",
            hint="add the input back: h = x + attn(norm1(x))",
            patch={_ATTN: "h = self.attn(self.norm1(x))"}),
    Mistake(key="future_leak", title="attention is not causal: tokens see the future",
            hint="pass is_causal=True (query t may attend only to keys ≤ t)",
            patch={"is_causal=True)": "is_causal=False)"}),
    Mistake(key="rope_on_v", title="RoPE applied to the values as well",
            hint="rotate only q and k: RoPE changes the scores, the values stay as they are",
            patch={_ROPE_K: _ROPE_K + "            v = apply_rope(v, base=self.rope_base)\n"}),
    Mistake(key="rope_q_only", title="RoPE applied to the queries but not the keys",
            hint="rotate both q and k, so that the score depends on the offset m − n",
            patch={_ROPE_K: ""}),
    Mistake(key="parallel_sublayers", title="attention and FFN applied in parallel to x",
            hint="the FFN reads the updated stream: h = x + attn(norm1(x)), then "
                 "h + ffn(norm2(h))",
            patch={_ATTN: _ATTN + " + self.ffn(self.norm2(x))", _FFN: "return h"}),
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
GPT_MISTAKES = (
    Mistake(key="untied_embeddings", title="embeddings not tied although tie_embeddings=True",
            hint="share the Parameter itself: self.lm_head.weight = self.tok_emb.weight (copying "
                 "the values is not tying: the two would drift apart in training)",
            patch={"self.lm_head.weight = self.tok_emb.weight":
                   "self.lm_head.weight.data.copy_(self.tok_emb.weight.data)"}),
    Mistake(key="no_final_norm", title="the final norm_f is missing",
            hint="pre-norm blocks leave the residual stream unnormalised: apply norm_f before "
                 "lm_head",
            patch={"self.lm_head(self.norm_f(x))": "self.lm_head(x)"}),
    Mistake(key="scaled_embedding", title="embeddings multiplied by √d_model",
            hint="this GPT feeds tok_emb(idx) to the first block unscaled",
            patch={"x = self.tok_emb(idx)":
                   "x = self.tok_emb(idx) * math.sqrt(self.tok_emb.embedding_dim)"}),
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
COUNT_MISTAKES = (
    Mistake(key="forgets_norms", title="the norm weights are not counted",
            hint="each block has two RMSNorm weights (D each) and there is a final norm_f (D)",
            patch={"per_block = 2 * D + ": "per_block = ",
                   "per_block + D + head": "per_block + head"}),
    Mistake(key="forgets_biases", title="the attention biases are not counted",
            hint="q_proj, k_proj, v_proj and out_proj each have a bias of size D",
            patch={"4 * (D * D + D)": "4 * D * D"}),
    Mistake(key="head_counted_when_tied", title="the output head counted although it is tied",
            hint="a tied lm_head shares tok_emb's V·D parameters: count them once",
            patch={"head = 0 if tie_embeddings else V * D": "head = V * D"}),
    Mistake(key="position_table", title="a learned position table (context_length × D) counted",
            hint="this GPT uses RoPE, which has no parameters: context_length does not change the "
                 "count",
            patch={"+ D + head": "+ D + head + context_length * D"}),
    Mistake(key="two_ffn_matrices", title="the FFN counted with two matrices (2·D·d_ff)",
            hint="SwiGLU has three: w1, w3 (D → d_ff) and w2 (d_ff → D)",
            patch={"3 * D * F_": "2 * D * F_"}),
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
RELU_NET_MISTAKES = (
    Mistake(key="slopes_not_differenced", title="each unit weighted by its segment's slope",
            hint="unit k adds to the slopes of all later segments, so its weight is the change of "
                 "slope s_k − s_(k−1)",
            patch={"jumps[None, :]": "slopes[None, :]"}),
    Mistake(key="no_intercept", title="the output bias b2 = ys[0] is missing",
            hint="every unit is 0 at xs[0], so f(xs[0]) = b2 must be ys[0]",
            patch={"ys[:1].clone()": "torch.zeros_like(ys[:1])"}),
    Mistake(key="kinks_at_right_ends", title="units switch on at the right end of each segment",
            hint="unit k must switch on at xs[k]: b1[k] = −xs[k] for k = 0..N−2",
            patch={"-xs[:-1].clone()": "-xs[1:].clone()"}),
    Mistake(key="bias_sign", title="b1 = +xs instead of −xs",
            hint="relu(x − xs[k]) is zero left of xs[k]: the bias is −xs[k]",
            patch={"-xs[:-1].clone()": "xs[:-1].clone()"}),
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
_ASKS = "W_q[1:T, : T - 1] = gain * torch.eye(T - 1)"

HEAD_MISTAKES = (
    Mistake(key="attends_to_self", title="the head attends to the current token",
            hint="query t must match key t − 1: put the gain at W_q[t, t − 1]",
            patch={_ASKS: "W_q[:T, :T] = gain * torch.eye(T)"}),
    Mistake(key="copies_positions", title="W_v copies the position one-hot as well",
            hint="the output's position part must be 0: W_v keeps only the content block",
            patch={"W_v = torch.zeros(d_model, d_model)": "W_v = torch.eye(d_model)"}),
    Mistake(key="soft_scores", title="score gap too small: attention is a blur, not a copy",
            hint="scale W_q so that the previous token's score exceeds the others by ≳ 50 after "
                 "the 1/√d_k scaling; then its softmax weight is 1 to float64 precision",
            patch={"gain = 100.0 * math.sqrt(d_model)": "gain = 1.0 * math.sqrt(d_model)"}),
    Mistake(key="looks_ahead", title="query t matches key t + 1, which the causal mask hides",
            hint="the previous token is t − 1: W_q[t, t − 1], not W_q[t, t + 1]",
            patch={_ASKS: "W_q[: T - 1, 1:T] = gain * torch.eye(T - 1)"}),
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
