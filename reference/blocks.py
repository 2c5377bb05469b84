"""Chapter 6, Transformer blocks and representation power: activations, the position-wise
feed-forward network (plain and SwiGLU), the pre-norm causal transformer block, a small GPT, its
parameter count, and two constructions that show what the pieces can express (a ReLU network that
reproduces any piecewise-linear interpolant, and an attention head that copies the previous token).

Dimension letters and symbols are those of the course's glossary, ``reference/notation.py`` (here
D model width, E = D / H head size, F hidden width of the feed-forward network ``d_ff``, V
vocabulary size); n knots and u hidden units of the ReLU-network construction are local counts.

Conventions, stated once:

* RoPE uses the half-split (GPT-NeoX / Llama) pairing: feature k of a head is rotated together with
  feature k + E/2, by the angle t * theta_k at position t (t counts from 0), with frequencies
  theta_k = Theta^(-2k/E) and base Theta = ``rope_base`` (10 000 by default). The rotation is
  (a, b) -> (a cos - b sin, b cos + a sin), i.e. multiplication by exp(+i angle): Chapter 5's
  ``reference.positional.apply_rope`` (its default layout), computed in x's dtype.
* Norm eps: 1e-5 for LayerNorm, 1e-6 for RMSNorm (as in ``reference.norms``).
* ``TransformerBlock`` is pre-norm and causal: x + attn(norm1(x)), then h + ffn(norm2(h)).
* ``GPT``'s defaults (RMSNorm, SwiGLU, RoPE, no learned position embedding: ``context_length``
  bounds the input length but costs no parameters) are the course's model. Its options build the
  GPT-2 family instead (Chapter 12): ``norm="layer"``, ``ffn="gelu_tanh"`` and
  ``positions="learned"`` (a ``pos_emb`` table of ``context_length`` rows added to the token
  embeddings, and no RoPE).
"""

import math

import torch
from torch import nn

from reference.attention import MultiHeadAttention, merge_heads, scaled_dot_product_attention, split_heads
from reference.efficiency import KVCache
from reference.norms import layer_norm, rms_norm
from reference.positional import apply_rope

GELU_TANH_COEFF = 0.044715  # cubic coefficient of the tanh approximation (Hendrycks & Gimpel, 2016)


# --------------------------------------------------------------------------- activations
def gelu(x, approximate="none"):
    """Gaussian error linear unit, GELU(x) = x * Phi(x), with Phi the standard normal CDF.

    approximate="none": Phi(x) = (1 + erf(x / sqrt(2))) / 2, exactly.
    approximate="tanh": Phi(x) ~ (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2, the
    approximation of the original GPT-2 code; it differs from the exact form by at most ~5e-4.
    The two are the semantics of ``F.gelu(x, approximate=...)``.

    Shape:
        x: (...)
        output: same shape and dtype as x
    """
    if approximate == "none":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + GELU_TANH_COEFF * x**3)
        return 0.5 * x * (1.0 + torch.tanh(inner))
    raise ValueError(f'approximate must be "none" or "tanh", got {approximate!r}')


def silu(x):
    """Sigmoid linear unit (also "swish" with beta = 1): SiLU(x) = x * sigmoid(x).

    Shape:
        x: (...)
        output: same shape and dtype as x
    """
    return x * torch.sigmoid(x)


ACTIVATIONS = {
    "relu": torch.relu,
    "gelu": gelu,
    "gelu_tanh": lambda x: gelu(x, approximate="tanh"),
    "silu": silu,
}


# --------------------------------------------------------------------------- feed-forward networks
class FeedForward(nn.Module):
    """The position-wise two-layer network of a transformer: fc2(act(fc1(x))), applied to every
    token on its own (nothing moves between positions).

    Args:
        activation: "relu", "gelu" (exact), "gelu_tanh" or "silu".
        bias: whether fc1 and fc2 have biases.

    Shape:
        x: (..., D)
        output: (..., D); the hidden activations are (..., F)
    """

    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x):
        return self.fc2(ACTIVATIONS[self.activation](self.fc1(x)))  # (..., F) -> (..., D)


class SwiGLU(nn.Module):
    """Gated feed-forward network with a SiLU gate (Shazeer, 2020): w2(silu(w1 x) * w3 x).

    ``w1`` is the gate, ``w3`` the "up" (value) projection, ``w2`` the down projection, all without
    biases (the Llama naming).

    Shape:
        x: (..., D)
        output: (..., D); gate and up activations are (..., F)
    """

    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff, bias=False)
        self.w3 = nn.Linear(d_model, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.w2(silu(self.w1(x)) * self.w3(x))  # (..., F) -> (..., D)


# --------------------------------------------------------------------------- norms as modules
class RMSNorm(nn.Module):
    """``reference.norms.rms_norm`` with a learnable ``weight`` (initialised to ones)."""

    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class LayerNorm(nn.Module):
    """``reference.norms.layer_norm`` with a learnable ``weight`` (ones) and ``bias`` (zeros)."""

    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps)


def make_norm(kind, d_model, eps=None):
    """``kind`` "rms" or "layer"; ``eps`` None takes that norm's default (1e-6, 1e-5)."""
    if kind == "rms":
        return RMSNorm(d_model) if eps is None else RMSNorm(d_model, eps)
    if kind == "layer":
        return LayerNorm(d_model) if eps is None else LayerNorm(d_model, eps)
    raise ValueError(f'norm must be "rms" or "layer", got {kind!r}')


# --------------------------------------------------------------------------- attention + block
class CausalSelfAttention(MultiHeadAttention):
    """Chapter 4's multi-head attention (``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``, with
    biases), always causal, with RoPE on the queries and keys of every head (never on the values:
    RoPE encodes *where* a key is for the score, not *what* it hands over).

    Shape:
        x: (B, T, D)
        output: (B, T, D)
    """

    def __init__(self, d_model, n_heads, rope=True, rope_base=10000.0):
        super().__init__(d_model, n_heads, bias=True)
        self.rope = rope
        self.rope_base = rope_base

    def forward(self, x, cache=None):
        """``cache``: a :class:`reference.efficiency.KVCache` holding the keys and values of the
        ``cache.pos`` positions before x (Chapter 10's decoding); x's positions then count from
        ``cache.pos``, its keys and values are appended, and each query attends to every cached
        key up to its own position."""
        start = 0 if cache is None else cache.pos
        q = split_heads(self.q_proj(x), self.n_heads)  # (B, H, T, E)
        k = split_heads(self.k_proj(x), self.n_heads)  # (B, H, T, E)
        v = split_heads(self.v_proj(x), self.n_heads)  # (B, H, T, E)
        positions = torch.arange(start, start + x.shape[-2], device=x.device)  # (T,)
        if self.rope:
            q = apply_rope(q, positions, base=self.rope_base)
            k = apply_rope(k, positions, base=self.rope_base)
        if cache is None:
            y = scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, E)
        else:
            k, v = cache.update(k, v)  # (B, H, S, E), S = start + T
            visible = torch.arange(k.shape[-2], device=x.device) <= positions[:, None]  # (T, S)
            y = scaled_dot_product_attention(q, k, v, attn_mask=visible)  # (B, H, T, E)
        return self.out_proj(merge_heads(y))  # (B, T, D)


class TransformerBlock(nn.Module):
    """Pre-norm causal transformer block:

        h = x + attn(norm1(x))      (tokens exchange information)
        y = h + ffn(norm2(h))       (each token is transformed on its own)

    Args:
        norm: "rms" (RMSNorm, parameter ``weight``) or "layer" (LayerNorm, ``weight`` and ``bias``).
        ffn: "swiglu" (``SwiGLU(d_model, d_ff)``) or an activation name of ``FeedForward``
            ("relu", "gelu", "gelu_tanh", "silu"), giving ``FeedForward(d_model, d_ff, ffn)``.
        rope: apply RoPE (base ``rope_base``) to queries and keys.
        norm_eps: the norms' eps (None: the default of that norm).

    Shape:
        x: (B, T, D)
        output: (B, T, D); output t depends only on inputs 0..t
    """

    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True,
                 rope_base=10000.0, norm_eps=None):
        super().__init__()
        self.norm1 = make_norm(norm, d_model, norm_eps)
        self.attn = CausalSelfAttention(d_model, n_heads, rope=rope, rope_base=rope_base)
        self.norm2 = make_norm(norm, d_model, norm_eps)
        self.ffn = SwiGLU(d_model, d_ff) if ffn == "swiglu" else FeedForward(d_model, d_ff, ffn)

    def forward(self, x, cache=None):
        h = x + self.attn(self.norm1(x), cache=cache)  # (B, T, D)
        return h + self.ffn(self.norm2(h))  # (B, T, D)


class GPT(nn.Module):
    """A decoder-only language model: token embedding, ``n_layers`` pre-norm blocks, a final norm
    and a linear head without bias. The defaults are the course's model (RMSNorm, SwiGLU, RoPE);
    ``norm``, ``ffn``, ``positions`` and ``norm_eps`` select other members of the family, e.g.
    GPT-2: ``norm="layer", ffn="gelu_tanh", positions="learned"``.

    With ``tie_embeddings`` the head reuses the embedding matrix (``lm_head.weight`` *is*
    ``tok_emb.weight``), as in GPT-2: the logit of token v is the dot product of the final hidden
    state with v's own embedding.

    Args:
        norm: "rms" or "layer", for every block and the final norm (``norm_f``).
        ffn: "swiglu" or an activation of ``FeedForward`` ("relu", "gelu", "gelu_tanh", "silu").
        positions: "rope" (rotations of queries and keys in every block, no parameters) or
            "learned" (``pos_emb``, an ``nn.Embedding(context_length, d_model)`` whose row t is
            added to the embedding of the token at position t; no RoPE).
        norm_eps: eps of every norm (None: 1e-6 for RMSNorm, 1e-5 for LayerNorm).

    Shape:
        idx: (B, T) integer token ids, T <= context_length
        output: (B, T, V) logits
    """

    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                 tie_embeddings=True, norm="rms", ffn="swiglu", positions="rope", norm_eps=None):
        super().__init__()
        if positions not in ("rope", "learned"):
            raise ValueError(f'positions must be "rope" or "learned", got {positions!r}')
        self.context_length = context_length
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(context_length, d_model) if positions == "learned" else None
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, norm=norm, ffn=ffn,
                             rope=positions == "rope", norm_eps=norm_eps)
            for _ in range(n_layers))
        self.norm_f = make_norm(norm, d_model, norm_eps)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx, cache=None):
        """Logits of every position of idx. With ``cache`` (from :meth:`make_cache`), idx holds
        the positions after the ``cache[0].pos`` already fed, and their keys and values are kept
        for the next call: feeding a prompt, then one token at a time, gives the same logits as
        feeding the whole sequence at once (Chapter 10's generation)."""
        start = 0 if cache is None else cache[0].pos
        T = idx.shape[-1]
        if start + T > self.context_length:
            raise ValueError(f"sequence of length {start + T} exceeds "
                             f"context_length={self.context_length}")
        x = self.tok_emb(idx)  # (B, T, D)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + T, device=idx.device))  # (T, D) rows
        for i, block in enumerate(self.blocks):  # Chapter 6's blocks take x alone
            x = block(x) if cache is None else block(x, cache=cache[i])  # (B, T, D)
        return self.lm_head(self.norm_f(x))  # (B, T, V)

    def make_cache(self, batch_size, max_seq_len=None):
        """One empty :class:`reference.efficiency.KVCache` per block, for ``batch_size`` sequences
        of at most ``max_seq_len`` positions (default ``context_length``), in the dtype and on the
        device of the model."""
        attn = self.blocks[0].attn
        weight = self.tok_emb.weight
        return [KVCache(batch_size, attn.n_heads, max_seq_len or self.context_length,
                        attn.q_proj.in_features // attn.n_heads, weight.dtype, weight.device)
                for _ in self.blocks]


def count_parameters(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                     tie_embeddings=True):
    """Number of distinct parameters of ``GPT(...)`` with the same arguments, in closed form.

    Per block: two RMSNorm weights (2D), four attention projections with biases (4(D^2 + D)) and
    the three SwiGLU matrices (3 D F). Plus the embedding (V D), the final norm (D) and, unless
    tied, the head (V D). Neither ``context_length`` (RoPE has no parameters) nor ``n_heads``
    (heads split D, they do not add to it) changes the count.
    """
    D, F, V = d_model, d_ff, vocab_size
    per_block = 2 * D + 4 * (D * D + D) + 3 * D * F
    head = 0 if tie_embeddings else V * D
    return V * D + n_layers * per_block + D + head


# --------------------------------------------------------------------------- constructions
def relu_network_for_piecewise_linear(xs, ys):
    """A one-hidden-layer ReLU network f(x) = W2 relu(W1 x + b1) + b2 equal to the piecewise-linear
    interpolant of the points (xs[k], ys[k]) on [xs[0], xs[-1]].

    With slopes s_k = (ys[k+1] - ys[k]) / (xs[k+1] - xs[k]), the interpolant is
        f(x) = ys[0] + s_0 relu(x - xs[0]) + sum_{k>=1} (s_k - s_{k-1}) relu(x - xs[k]):
    each hidden unit switches on at a knot and changes the slope by the jump there.
    With n points it uses u = n - 1 hidden units, in the layout of nn.Linear(1, u) then
    nn.Linear(u, 1), in xs's dtype and on its device.

    Shape:
        xs: (n,), strictly increasing, n >= 2
        ys: (n,)
        output: W1 (u, 1), b1 (u,), W2 (1, u), b2 (1,)
    """
    slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])  # (n-1,)
    jumps = torch.cat([slopes[:1], slopes[1:] - slopes[:-1]])  # (n-1,)
    W1 = torch.ones(len(jumps), 1, dtype=xs.dtype, device=xs.device)  # (u, 1)
    b1 = -xs[:-1]  # (u,): unit k switches on at xs[k]
    return W1, b1.clone(), jumps[None, :], ys[:1].clone()


PREVIOUS_TOKEN_SCORE = 100.0  # score gap: exp(-100) is far below float64 rounding


def previous_token_head(seq_len, d_model):
    """Weights of one causal attention head that copies the previous token's content.

    Input row t is x_t = [e_t, c_t]: the one-hot position e_t (seq_len columns) followed by the
    content c_t (d_model - seq_len columns). The head computes
        softmax(causal((X W_q)(X W_k)^T / sqrt(E))) (X W_v)
    and its output row t is [0, c_{t-1}] for t >= 1 (row 0, which can only see itself, is
    [0, c_0]). W_k reads the position, W_q maps position t to position t - 1 with a large gain,
    so the only large score of query t is key t - 1; W_v keeps the content and drops the position.

    Shape:
        output: W_q (D, E), W_k (D, E), W_v (D, D), float32, with D = d_model and here E = D
    """
    if d_model <= seq_len:
        raise ValueError(f"d_model={d_model} must exceed seq_len={seq_len} (room for content)")
    gain = PREVIOUS_TOKEN_SCORE * math.sqrt(d_model)  # undo the 1/sqrt(E) of the scores
    W_q = torch.zeros(d_model, d_model)
    W_q[1:seq_len, : seq_len - 1] = gain * torch.eye(seq_len - 1)  # e_t -> gain * e_{t-1}
    W_k = torch.zeros(d_model, d_model)
    W_k[:seq_len, :seq_len] = torch.eye(seq_len)  # k_s = e_s
    W_v = torch.zeros(d_model, d_model)
    W_v[seq_len:, seq_len:] = torch.eye(d_model - seq_len)  # v_s = [0, c_s]
    return W_q, W_k, W_v


def attention_head(x, W_q, W_k, W_v):
    """One causal attention head with explicit weight matrices (used to test the construction).

    Shape:
        x: (..., T, D)
        W_q, W_k: (D, E); W_v: (D, Ev)
        output: (..., T, Ev)
    """
    return scaled_dot_product_attention(x @ W_q, x @ W_k, x @ W_v, is_causal=True)
