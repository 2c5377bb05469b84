"""Chapter 7 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F``, the names of the chapter's given cells
(``softmax``, ``scaled_dot_product_attention``), those of earlier exercises and private
``_helpers`` of this module (pasted along).
"""

from __future__ import annotations

import math
import torch

from autograder.chapters import ch07_triton_catalog as triton_catalog
from autograder.symbolic import Answer
from reference.attention import scaled_dot_product_attention, softmax
from reference.efficiency import performer_features
from reference.flash import flash_attention_backward, flash_attention_forward


def aflops_closed_form(batch, n_heads, q_len, k_len, head_dim, causal=False):
    if not causal:
        pairs = q_len * k_len
    elif q_len <= k_len:
        pairs = q_len * (q_len + 1) // 2
    else:
        pairs = k_len * (k_len + 1) // 2 + (q_len - k_len) * k_len
    return 2 * 2 * pairs * head_dim * batch * n_heads


def aflops_mask_count(batch, n_heads, q_len, k_len, head_dim, causal=False):
    keep = torch.ones(q_len, k_len, dtype=torch.bool)
    if causal:
        keep = keep.tril()
    return int(keep.sum()) * 4 * head_dim * batch * n_heads


ATTN_FLOPS_ALTERNATIVES = (aflops_closed_form, aflops_mask_count)


def tflops_from_weights(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    weights = n_layers * (4 * d_model * d_model + 3 * d_model * d_ff) + vocab_size * d_model
    return 2 * weights + n_layers * 2 * 2 * context_length * d_model


TF_FLOPS_ALTERNATIVES = (tflops_from_weights,)


def pbytes_element_size(n_params, dtype):
    return n_params * torch.empty((), dtype=dtype).element_size()


def pbytes_itemsize(n_params, dtype):
    return dtype.itemsize * n_params


PARAM_BYTES_ALTERNATIVES = (pbytes_element_size, pbytes_itemsize)


def tmem_table(n_params, param_dtype, grad_dtype, optimizer="adamw", master_weights=False):
    size = {torch.float64: 8, torch.float32: 4, torch.bfloat16: 2, torch.float16: 2}
    n_states = {"adamw": 2, "sgd_momentum": 1, "sgd": 0}[optimizer]
    total = n_params * size[param_dtype] + n_params * size[grad_dtype]
    if master_weights:
        total += n_params * 4 * (1 + n_states)
    else:
        total += n_params * size[param_dtype] * n_states
    return total


TRAIN_MEM_ALTERNATIVES = (tmem_table,)


def kvb_by_tensor(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    one = torch.empty(0, dtype=dtype).element_size() * batch * n_kv_heads * seq_len * head_dim
    return one * 2 * n_layers


KV_BYTES_ALTERNATIVES = (kvb_by_tensor,)


def flash_exp2(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """Base-2 exponentials, as GPU kernels do: exp(x) = 2^(x · log2 e)."""
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    log2e = 1.0 / math.log(2.0)
    c = (1.0 / math.sqrt(E) if scale is None else scale) * log2e
    outs, lses = [], []
    for i0 in range(0, L, block_q):
        i1 = min(i0 + block_q, L)
        qi = q[..., i0:i1, :]
        m2 = torch.full(qi.shape[:-1], float("-inf"), dtype=q.dtype, device=q.device)
        l = torch.zeros_like(m2)
        acc = torch.zeros(*qi.shape[:-1], v.size(-1), dtype=q.dtype, device=q.device)
        for j0 in range(0, min(S, i1) if is_causal else S, block_k):
            j1 = min(j0 + block_k, S)
            s2 = (qi @ k[..., j0:j1, :].transpose(-2, -1)) * c
            if is_causal:
                rows = torch.arange(i0, i1, device=q.device)[:, None]
                s2 = torch.where(torch.arange(j0, j1, device=q.device) <= rows, s2,
                                 torch.full_like(s2, float("-inf")))
            new = torch.maximum(m2, s2.amax(-1))
            p = torch.exp2(s2 - new[..., None])
            corr = torch.exp2(m2 - new)
            l = corr * l + p.sum(-1)
            acc = corr[..., None] * acc + p @ v[..., j0:j1, :]
            m2 = new
        outs.append(acc / l[..., None])
        lses.append((m2 + torch.log2(l)) / log2e)
    return torch.cat(outs, -2), torch.cat(lses, -1)


def _tile_attention(qi, kj, vj, scale, hidden):
    s = (qi @ kj.transpose(-2, -1)) * scale
    if hidden is not None:
        s = s.masked_fill(hidden, float("-inf"))
    m = s.amax(-1, keepdim=True)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    p = torch.exp(s - m)
    l = p.sum(-1, keepdim=True)
    # a row that this tile hides completely: output 0 and lse -inf, so it gets weight 0 below
    return (p @ vj) / l.clamp_min(torch.finfo(l.dtype).tiny), (m + torch.log(l)).squeeze(-1)


def flash_merge_tiles(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """Each tile's own (output, lse), merged with log-add-exp weights."""
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    outs, lses = [], []
    for i0 in range(0, L, block_q):
        i1 = min(i0 + block_q, L)
        out, lse = None, None
        for j0 in range(0, S, block_k):
            if is_causal and j0 >= i1:
                continue
            j1 = min(j0 + block_k, S)
            hidden = None
            if is_causal:
                hidden = torch.arange(j0, j1)[None, :] > torch.arange(i0, i1)[:, None]
                hidden = hidden.to(q.device)
            o_t, lse_t = _tile_attention(q[..., i0:i1, :], k[..., j0:j1, :], v[..., j0:j1, :],
                                         scale, hidden)
            if out is None:
                out, lse = o_t, lse_t
                continue
            new = torch.logaddexp(lse, lse_t)
            out = torch.exp(lse - new)[..., None] * out + torch.exp(lse_t - new)[..., None] * o_t
            lse = new
        outs.append(out)
        lses.append(lse)
    return torch.cat(outs, -2), torch.cat(lses, -1)


FLASH_ALTERNATIVES = (flash_exp2, flash_merge_tiles)


def bwd_query_outer(q, k, v, out, lse, grad_out, is_causal=False, scale=None, block_q=64,
                    block_k=64):
    """Loop over query blocks outside; dK and dV accumulate in per-block lists."""
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    starts = list(range(0, S, block_k))
    dk = [torch.zeros_like(k[..., j0:j0 + block_k, :]) for j0 in starts]
    dv = [torch.zeros_like(v[..., j0:j0 + block_k, :]) for j0 in starts]
    dqs = []
    for i0 in range(0, L, block_q):
        i1 = min(i0 + block_q, L)
        qi, doi = q[..., i0:i1, :], grad_out[..., i0:i1, :]
        d_i = (doi * out[..., i0:i1, :]).sum(-1, keepdim=True)
        dq = torch.zeros_like(qi)
        for n, j0 in enumerate(starts):
            if is_causal and j0 >= i1:
                break
            j1 = min(j0 + block_k, S)
            s = torch.einsum("...ie,...je->...ij", qi, k[..., j0:j1, :]) * scale
            if is_causal:
                keep = torch.arange(j0, j1, device=q.device) <= torch.arange(
                    i0, i1, device=q.device)[:, None]
                s = torch.where(keep, s, torch.full_like(s, float("-inf")))
            p = torch.exp(s - lse[..., i0:i1, None])
            dv[n] = dv[n] + p.transpose(-2, -1) @ doi
            ds = p * (doi @ v[..., j0:j1, :].transpose(-2, -1) - d_i)
            dq = dq + scale * (ds @ k[..., j0:j1, :])
            dk[n] = dk[n] + scale * (ds.transpose(-2, -1) @ qi)
        dqs.append(dq)
    return torch.cat(dqs, -2), torch.cat(dk, -2), torch.cat(dv, -2)


FLASH_BWD_ALTERNATIVES = (bwd_query_outer,)


class FlashFnRecomputeAll(torch.autograd.Function):
    """Saves only q, k, v and reruns the forward in backward (more work, same gradients)."""

    @staticmethod
    def forward(ctx, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        ctx.save_for_backward(q, k, v)
        ctx.opts = dict(is_causal=is_causal, scale=scale, block_q=block_q, block_k=block_k)
        return flash_attention_forward(q, k, v, **ctx.opts)[0]

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v = ctx.saved_tensors
        out, lse = flash_attention_forward(q, k, v, **ctx.opts)
        grads = flash_attention_backward(q, k, v, out, lse, grad_out, **ctx.opts)
        return (*grads, None, None, None, None)


FLASH_FN_ALTERNATIVES = (FlashFnRecomputeAll,)


def gqa_grouped_view(q, k, v, attn_mask=None, is_causal=False):
    """Queries viewed as (B, Hkv, G, L, E) so each KV head broadcasts over its group."""
    B, Hq, L, E = q.shape
    Hkv = k.size(1)
    qg = q.reshape(B, Hkv, Hq // Hkv, L, E)
    mask = attn_mask
    if mask is not None:
        mask = mask.expand(*mask.shape[:-2], L, k.size(2)) if mask.dim() < 4 else mask
        if mask.dim() == 4:
            mask = mask.expand(B, Hq, L, k.size(2)).reshape(B, Hkv, Hq // Hkv, L, k.size(2))
    out = scaled_dot_product_attention(qg, k.unsqueeze(2), v.unsqueeze(2), attn_mask=mask,
                                       is_causal=is_causal)
    return out.reshape(B, Hq, L, v.size(-1))


def gqa_expand(q, k, v, attn_mask=None, is_causal=False):
    B, Hkv, S, E = k.shape
    g = q.size(1) // Hkv
    kk = k[:, :, None].expand(B, Hkv, g, S, E).reshape(B, Hkv * g, S, E)
    vv = v[:, :, None].expand(B, Hkv, g, S, v.size(-1)).reshape(B, Hkv * g, S, v.size(-1))
    return scaled_dot_product_attention(q, kk, vv, attn_mask=attn_mask, is_causal=is_causal)


GQA_ALTERNATIVES = (gqa_grouped_view, gqa_expand)


class KVCacheConcat:
    """Not preallocated: grows by concatenation (simpler, but reallocates every step)."""

    def __init__(self, batch, n_kv_heads, max_seq_len, head_dim, dtype, device):
        self.max_seq_len = max_seq_len
        self.k = torch.zeros(batch, n_kv_heads, 0, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)

    def update(self, k, v):
        if self.k.size(-2) + k.size(-2) > self.max_seq_len:
            raise ValueError("cache full")
        self.k = torch.cat([self.k, k], dim=-2)
        self.v = torch.cat([self.v, v], dim=-2)
        return self.k, self.v


class KVCacheIndexCopy:
    def __init__(self, batch, n_kv_heads, max_seq_len, head_dim, dtype, device):
        self.kv = torch.zeros(2, batch, n_kv_heads, max_seq_len, head_dim, dtype=dtype,
                              device=device)
        self.length = 0

    def update(self, k, v):
        idx = torch.arange(self.length, self.length + k.size(-2), device=k.device)
        self.kv[0].index_copy_(2, idx, k)
        self.kv[1].index_copy_(2, idx, v)
        self.length += k.size(-2)
        return self.kv[0, :, :, :self.length], self.kv[1, :, :, :self.length]


KV_CACHE_ALTERNATIVES = (KVCacheConcat, KVCacheIndexCopy)


def glu_narrow(x, dim=-1):
    n = x.size(dim) // 2
    return x.narrow(dim, 0, n) / (1 + torch.exp(-x.narrow(dim, n, n)))


GLU_ALTERNATIVES = (glu_narrow,)


def gate_via_exp(attn_out, gate_logits):
    return attn_out / (1 + torch.exp(-gate_logits))


def gate_via_tanh(attn_out, gate_logits):
    return attn_out * (0.5 * (1 + torch.tanh(gate_logits / 2)))


GATE_ALTERNATIVES = (gate_via_exp, gate_via_tanh)


def _svd(a):
    work = a if a.dtype in (torch.float32, torch.float64) else a.float()
    return torch.linalg.svd(work, full_matrices=False)


def lowrank_left_projection(a, rank):
    """Project the columns onto the top-rank left singular vectors: U_r U_rᵀ a."""
    U, s, Vh = _svd(a)
    Ur = U[..., :rank]
    return (Ur @ (Ur.transpose(-2, -1) @ (a if a.dtype == Ur.dtype else a.float()))).to(a.dtype)


def lowrank_sum_of_outer(a, rank):
    U, s, Vh = _svd(a)
    out = torch.zeros_like(U[..., :1] @ Vh[..., :1, :])
    for i in range(rank):
        out = out + s[..., i, None, None] * (U[..., :, i:i + 1] @ Vh[..., i:i + 1, :])
    return out.to(a.dtype)


LOW_RANK_ALTERNATIVES = (lowrank_left_projection, lowrank_sum_of_outer)


def linformer_einsum(q, k, v, e_proj, f_proj):
    kp = torch.einsum("ps,...se->...pe", e_proj, k)
    vp = torch.einsum("ps,...se->...pe", f_proj, v)
    w = softmax(torch.einsum("...le,...pe->...lp", q, kp) / math.sqrt(q.size(-1)), dim=-1)
    return torch.einsum("...lp,...pe->...le", w, vp)


def linformer_given(q, k, v, e_proj, f_proj):
    return scaled_dot_product_attention(q, e_proj @ k, f_proj @ v)


LINFORMER_ALTERNATIVES = (linformer_einsum, linformer_given)


def pfeat_two_exps(x, omega):
    return torch.exp(x @ omega) * torch.exp(-0.5 * x.pow(2).sum(-1, keepdim=True)) \
        * omega.size(-1) ** -0.5


def pfeat_log_space(x, omega):
    m = omega.size(-1)
    return torch.exp(torch.einsum("...ne,ef->...nf", x, omega)
                     - 0.5 * (x * x).sum(-1, keepdim=True) - 0.5 * math.log(m))


PERF_FEATURES_ALTERNATIVES = (pfeat_two_exps, pfeat_log_space)


def pattn_ones_column(q, k, v, n_features, generator):
    """Numerator and denominator in one product, by appending a column of ones to v."""
    omega = torch.randn(q.size(-1), n_features, generator=generator).to(q)
    c = q.size(-1) ** -0.25
    pq, pk = performer_features(q * c, omega), performer_features(k * c, omega)
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    out = pq @ (pk.transpose(-2, -1) @ v1)
    return out[..., :-1] / out[..., -1:]


def pattn_einsum(q, k, v, n_features, generator):
    omega = torch.randn(q.size(-1), n_features, generator=generator).to(q)
    c = q.size(-1) ** -0.25
    pq, pk = performer_features(q * c, omega), performer_features(k * c, omega)
    kv = torch.einsum("...sf,...se->...fe", pk, v)
    num = torch.einsum("...lf,...fe->...le", pq, kv)
    den = torch.einsum("...lf,...f->...l", pq, pk.sum(-2))
    return num / den.unsqueeze(-1)


PERF_ATTN_ALTERNATIVES = (pattn_ones_column, pattn_einsum)


# =========================================================================== derivations
# Formulas are graded as text (read, never run): the alternatives are answer-cell texts.
ONLINE_SOFTMAX_ALTERNATIVES = (
    Answer("max_without_Max", "def online_softmax_denominator(l_old, m_old, x):\n"
                              "    m_new = (m_old + x + abs(m_old - x)) / 2  # max(m_old, x)\n"
                              "    return l_old * exp(m_old - m_new) + exp(x - m_new)\n"),
    Answer("unshifted_then_shifted", "def online_softmax_denominator(l_old, m_old, x):\n"
                                     "    total = l_old * exp(m_old) + exp(x)  # sum of e^s\n"
                                     "    return total / exp(max(m_old, x))\n"),
)
CAUSAL_FRACTION_ALTERNATIVES = (
    Answer("half_plus", "def causal_fraction(T):\n    return 1 / 2 + 1 / (2 * T)\n"),
    Answer("one_line", "causal_fraction = (T + 1) / (2 * T)\n"),
)

ALTERNATIVES = {
    "ch07.attention_flops": ATTN_FLOPS_ALTERNATIVES,
    "ch07.transformer_flops_per_token": TF_FLOPS_ALTERNATIVES,
    "ch07.parameter_bytes": PARAM_BYTES_ALTERNATIVES,
    "ch07.training_memory_bytes": TRAIN_MEM_ALTERNATIVES,
    "ch07.kv_cache_bytes": KV_BYTES_ALTERNATIVES,
    "ch07.online_softmax_denominator": ONLINE_SOFTMAX_ALTERNATIVES,
    "ch07.causal_fraction": CAUSAL_FRACTION_ALTERNATIVES,
    "ch07.flash_attention_forward": FLASH_ALTERNATIVES,
    "ch07.flash_attention_backward": FLASH_BWD_ALTERNATIVES,
    "ch07.flash_attention_function": FLASH_FN_ALTERNATIVES,
    "ch07.triton_flash_attention_forward": triton_catalog.TRITON_ALTERNATIVES,
    "ch07.grouped_query_attention": GQA_ALTERNATIVES,
    "ch07.kv_cache": KV_CACHE_ALTERNATIVES,
    "ch07.glu": GLU_ALTERNATIVES,
    "ch07.gated_attention_output": GATE_ALTERNATIVES,
    "ch07.low_rank_approximation": LOW_RANK_ALTERNATIVES,
    "ch07.linformer_attention": LINFORMER_ALTERNATIVES,
    "ch07.performer_features": PERF_FEATURES_ALTERNATIVES,
    "ch07.performer_attention": PERF_ATTN_ALTERNATIVES,
}
