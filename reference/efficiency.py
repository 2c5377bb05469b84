"""Chapter 7, Efficiency and variants of Transformers: FLOP and memory arithmetic, grouped-query
attention and the KV cache, gated outputs, and low-rank views of attention (truncated SVD,
Linformer, Performer). FlashAttention itself is in ``reference/flash.py``.

Counting conventions, stated once:

* A matrix product of an (a, b) by a (b, c) matrix costs 2 a b c FLOPs (one multiply and one add
  per term). Only matrix products are counted (as ``torch.utils.flop_counter.FlopCounterMode``
  does): softmax, norms and elementwise operations cost a few FLOPs per element and are left out.
* Bytes per element come from the dtype (``torch.finfo(dtype).bits // 8``): 8 for float64, 4 for
  float32, 2 for bfloat16/float16.
"""

import math

import torch
from torch import nn

from reference.attention import scaled_dot_product_attention, softmax


# --------------------------------------------------------------------------- FLOPs
def attention_flops(batch, n_heads, q_len, k_len, head_dim, causal=False):
    """Matmul FLOPs of attention: q k^T and p v, each 2 * L * S * E per head.

    With ``causal=True`` only the (query, key) pairs that the top-left aligned causal mask keeps are
    counted: query i sees min(i + 1, S) keys. That is what an implementation that skips masked
    work down to single entries costs (a tiled one computes whole tiles on the diagonal).
    """
    if causal:
        pairs = sum(min(i + 1, k_len) for i in range(q_len))
    else:
        pairs = q_len * k_len
    return 4 * batch * n_heads * pairs * head_dim


def transformer_flops_per_token(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    """Forward-pass matmul FLOPs per token of ``reference.blocks.GPT`` (SwiGLU FFN, four attention
    projections) run on a full context of ``context_length`` tokens, attention computed densely
    (the whole T x T score matrix, as the naive reference does).

    Per layer and token: 2 * (4 D^2 + 3 D F) for the projections and the FFN (F = d_ff), plus
    4 T D for the attention scores and their weighted sum (2 T E per head for each, H heads of
    size E = D / H). Plus the head, 2 D V. The embedding lookup is not a matmul. ``n_heads`` does
    not change the count. With F = 8 D / 3, attention's share of a layer is T / (T + 6 D).
    """
    D, T = d_model, context_length
    per_layer = 2 * (4 * D * D + 3 * D * d_ff) + 4 * T * D
    return n_layers * per_layer + 2 * D * vocab_size


# --------------------------------------------------------------------------- memory
def dtype_bytes(dtype):
    """Bytes per element of a floating dtype."""
    return torch.finfo(dtype).bits // 8


def parameter_bytes(n_params, dtype):
    """Bytes to hold ``n_params`` numbers of ``dtype``."""
    return n_params * dtype_bytes(dtype)


OPTIMIZER_STATES = {"adamw": 2, "sgd_momentum": 1, "sgd": 0}  # tensors of state per parameter


def training_memory_bytes(n_params, param_dtype, grad_dtype, optimizer="adamw",
                          master_weights=False):
    """Bytes of model state during training (activations excluded): parameters, gradients and the
    optimizer's state.

    With ``master_weights`` (mixed precision) a float32 copy of the parameters is kept and the
    optimizer state is float32; without, the state has the parameters' dtype. AdamW keeps two
    tensors per parameter (m and v), SGD with momentum one, plain SGD none. bfloat16 parameters and
    gradients with float32 master weights and AdamW give the classic 2 + 2 + 4 + 4 + 4 = 16 bytes.
    """
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZER_STATES)}, got {optimizer!r}")
    state_dtype = torch.float32 if master_weights else param_dtype
    per_param = dtype_bytes(param_dtype) + dtype_bytes(grad_dtype)
    per_param += OPTIMIZER_STATES[optimizer] * dtype_bytes(state_dtype)
    if master_weights:
        per_param += dtype_bytes(torch.float32)
    return n_params * per_param


def kv_cache_bytes(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    """Bytes of a KV cache: keys and values (2), per layer, KV head, position and sequence."""
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch * dtype_bytes(dtype)


# --------------------------------------------------------------------------- GQA and the KV cache
def grouped_query_attention(q, k, v, attn_mask=None, is_causal=False):
    """Attention where groups of H / Hkv query heads share one key/value head.

    Query head h uses key/value head h // (H / Hkv) (the layout of torch's ``enable_gqa=True``).
    Hkv = H is multi-head attention, Hkv = 1 multi-query attention.

    Shape:
        q: (B, H, L, E)
        k: (B, Hkv, S, E)
        v: (B, Hkv, S, Ev)
        attn_mask: broadcastable to (B, H, L, S)
        output: (B, H, L, Ev)
    """
    H, Hkv = q.size(-3), k.size(-3)
    if H % Hkv != 0:
        raise ValueError(f"the number of query heads {H} must be a multiple of the KV heads {Hkv}")
    group = H // Hkv
    k = k.repeat_interleave(group, dim=-3)  # (B, H, S, E)
    v = v.repeat_interleave(group, dim=-3)  # (B, H, S, Ev)
    return scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)


class KVCache(nn.Module):
    """Preallocated keys and values of past positions, for decoding one token (or chunk) at a time.

    ``update(k, v)`` writes the new positions after the ones already stored and returns every key
    and value stored so far (views of the buffers, not copies).

    Shape:
        update: k (B, Hkv, t, E), v (B, Hkv, t, E) -> (B, Hkv, S, E) twice, S = positions so far
    """

    def __init__(self, batch, n_kv_heads, max_seq_len, head_dim, dtype, device):
        super().__init__()
        shape = (batch, n_kv_heads, max_seq_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.pos = 0

    def update(self, k, v):
        t = k.size(-2)
        if self.pos + t > self.k.size(-2):
            raise ValueError(f"the cache holds {self.k.size(-2)} positions; cannot add {t} more "
                             f"after {self.pos}")
        self.k[:, :, self.pos:self.pos + t] = k
        self.v[:, :, self.pos:self.pos + t] = v
        self.pos += t
        return self.k[:, :, :self.pos], self.v[:, :, :self.pos]  # (B, Hkv, S, E)


# --------------------------------------------------------------------------- gates
def glu(x, dim=-1):
    """Gated linear unit: split x in halves a, b along ``dim``; return a * sigmoid(b).

    Shape:
        x: (..., 2n, ...) with 2n features at ``dim``
        output: (..., n, ...)
    """
    a, b = x.chunk(2, dim=dim)
    return a * torch.sigmoid(b)


def gated_attention_output(attn_out, gate_logits):
    """Gated attention: the attention output times an elementwise sigmoid gate computed from the
    layer's input (one gate per feature, or per head when ``gate_logits`` has a trailing 1).

    Shape:
        attn_out: (..., L, Ev)
        gate_logits: broadcastable to attn_out, e.g. (..., L, Ev) or (..., L, 1)
        output: (..., L, Ev)
    """
    return attn_out * torch.sigmoid(gate_logits)


# --------------------------------------------------------------------------- low rank
def low_rank_approximation(a, rank):
    """The best rank-``rank`` approximation of each matrix in ``a`` (Eckart–Young): keep the
    ``rank`` largest singular values of the SVD. Its Frobenius error is sqrt(sum of the dropped
    squared singular values), the smallest any rank-``rank`` matrix can reach.

    torch.linalg has no bfloat16/float16 kernels: for those dtypes (only) the SVD runs in float32 and
    the result is rounded back, the one place in this module that computes above the input dtype.

    Shape:
        a: (..., n_rows, n_cols)
        output: (..., n_rows, n_cols)
    """
    work = a if a.dtype in (torch.float32, torch.float64) else a.float()
    # U (..., n_rows, r), sigma (..., r), Vh (..., r, n_cols), r = min(n_rows, n_cols)
    U, sigma, Vh = torch.linalg.svd(work, full_matrices=False)
    return ((U[..., :rank] * sigma[..., None, :rank]) @ Vh[..., :rank, :]).to(a.dtype)


def linformer_attention(q, k, v, e_proj, f_proj):
    """Linformer attention: project keys with P_K = ``e_proj`` and values with P_V = ``f_proj``
    (the paper's E and F) along the sequence, from S to p positions, then attend:
    softmax(q (P_K k)^T / sqrt(E)) (P_V v). Cost O(L p) instead of O(L S).

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev)
        e_proj, f_proj: (p, S), p projected positions
        output: (..., L, Ev)
    """
    k_proj = e_proj @ k  # (..., p, E)
    v_proj = f_proj @ v  # (..., p, Ev)
    scores = (q @ k_proj.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (..., L, p)
    return softmax(scores, dim=-1) @ v_proj  # (..., L, Ev)


def performer_features(x, omega):
    """Positive random features of the softmax kernel (Choromanski et al. 2021):
    phi(x) = exp(omega^T x - |x|^2 / 2) / sqrt(m), m features. For omega with i.i.d. N(0, 1)
    entries, E[phi(q) . phi(k)] = exp(q . k) exactly. (FAVOR+ also makes the m columns of omega
    orthogonal, in blocks of E, which lowers the variance; here they are independent.)

    Shape:
        x: (..., n, E), n rows
        omega: (E, m)
        output: (..., n, m)
    """
    sq = (x * x).sum(dim=-1, keepdim=True) / 2  # (..., n, 1)
    return torch.exp(x @ omega - sq) / math.sqrt(omega.size(-1))  # (..., n, m)


def performer_attention(q, k, v, n_features, generator):
    """Attention with the softmax kernel exp(q . k / sqrt(E)) replaced by its random-feature
    estimate: out = phi(q') (phi(k')^T v) / (phi(q') . sum_j phi(k'_j)), q' = q / E^(1/4),
    k' = k / E^(1/4). Linear in the sequence length: no tensor holds L x S numbers. Numerator and
    denominator are unbiased; their ratio is biased at O(1/m), below its O(1/sqrt(m)) noise.

    omega is drawn as ``torch.randn(E, n_features, generator=generator)`` (float32, on the CPU),
    then cast to q's dtype and device.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev)
        output: (..., L, Ev)
    """
    E = q.size(-1)
    omega = torch.randn(E, n_features, generator=generator).to(dtype=q.dtype, device=q.device)
    c = E ** -0.25
    phi_q = performer_features(q * c, omega)  # (..., L, m)
    phi_k = performer_features(k * c, omega)  # (..., S, m)
    kv = phi_k.transpose(-2, -1) @ v  # (..., m, Ev)
    norm = phi_q @ phi_k.sum(dim=-2).unsqueeze(-1)  # (..., L, 1)
    return (phi_q @ kv) / norm  # (..., L, Ev)
