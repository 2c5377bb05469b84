"""Chapter 7 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently.

Mistakes are patches on the solution's answer cell (``{old: new}``, see ``spec.Mistake``).
Alternatives are written out; each is also pasted, as source, into a notebook's answer cell by the
platform's tests, so each must be self-contained: it may use only ``math``, ``torch``, ``nn``,
``F``, the names of the chapter's given cells (``softmax``, ``scaled_dot_product_attention``),
those of earlier exercises and private ``_helpers`` of this module (pasted along).

tests/ prove that each mistake loses its exercise's points and is named in the feedback, and that
each alternative gets full marks.
"""

from __future__ import annotations

import math

import torch

from autograder.spec import Mistake
from reference.attention import scaled_dot_product_attention, softmax  # noqa: F401
from reference.efficiency import performer_features  # noqa: F401 (an earlier exercise's name)
from reference.flash import flash_attention_backward, flash_attention_forward  # noqa: F401


# =========================================================================== attention_flops
ATTN_FLOPS_MISTAKES = (
    Mistake(key="counts_macs", title="multiply-adds counted once (or only one of the two matmuls)",
            hint="a (m, k) @ (k, n) product costs 2·m·k·n FLOPs, and attention has two: q kᵀ and "
                 "p v", patch={"return 4 *": "return 2 *"}),
    Mistake(key="causal_half", title="causal cost taken as exactly half of the full cost",
            hint="count the (query, key) pairs the mask keeps: query i sees min(i + 1, S) keys, so "
                 "the diagonal is included",
            patch={"n_heads * pairs * head_dim":
                   "n_heads * q_len * k_len * head_dim // (1 + causal)"}),
    Mistake(key="causal_ignored", title="causal=True ignored",
            hint="only unmasked pairs are computed", patch={"    if causal:\n": "    if False:\n"}),
    Mistake(key="bottom_right", title="causal mask aligned bottom-right",
            hint="the mask is top-left aligned, as torch's is_causal: query i sees keys j ≤ i",
            patch={"min(i + 1, k_len)": "max(0, min(i + 1 + k_len - q_len, k_len))"}),
)


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


# =========================================================================== transformer FLOPs
TF_FLOPS_MISTAKES = (
    Mistake(key="no_attention", title="attention scores left out (the 2N rule of thumb)",
            hint="q kᵀ and p v add 4·T·D FLOPs per token and layer, which dominate at long context",
            patch={" + 4 * T * D": ""}),
    Mistake(key="two_matrix_ffn", title="FFN counted with two matrices",
            hint="this model's SwiGLU FFN has three D × Dff matrices (w1, w3, w2)",
            patch={"3 * D * d_ff": "2 * D * d_ff"}),
    Mistake(key="no_head", title="output head left out",
            hint="the last layer multiplies by a D × V matrix: 2·D·V",
            patch={" + 2 * D * vocab_size": ""}),
    Mistake(key="one_head", title="attention counted for one head only",
            hint="all H heads together have width D, so attention costs 4·T·D, not 4·T·D/H",
            patch={"4 * T * D": "4 * T * (D // n_heads)"}),
)


def tflops_from_weights(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    weights = n_layers * (4 * d_model * d_model + 3 * d_model * d_ff) + vocab_size * d_model
    return 2 * weights + n_layers * 2 * 2 * context_length * d_model


TF_FLOPS_ALTERNATIVES = (tflops_from_weights,)


# =========================================================================== bytes
_BYTES = "(torch.finfo(dtype).bits // 8)"

PARAM_BYTES_MISTAKES = (
    Mistake(key="bits", title="bits instead of bytes", hint="divide the dtype's bits by 8",
            patch={_BYTES: "torch.finfo(dtype).bits"}),
    Mistake(key="always_float32", title="4 bytes whatever the dtype",
            hint="the size depends on the dtype: 8 for float64, 2 for bfloat16/float16",
            patch={f"n_params * {_BYTES}": "4 * n_params"}),
    Mistake(key="mebibytes", title="result in MiB instead of bytes",
            hint="return the number of bytes; convert units only when you print",
            patch={_BYTES: f"{_BYTES} / 2**20"}),
)


def pbytes_element_size(n_params, dtype):
    return n_params * torch.empty((), dtype=dtype).element_size()


def pbytes_itemsize(n_params, dtype):
    return dtype.itemsize * n_params


PARAM_BYTES_ALTERNATIVES = (pbytes_element_size, pbytes_itemsize)

TRAIN_MEM_MISTAKES = (
    Mistake(key="no_master_copy", title="float32 master copy of the weights forgotten",
            hint="with master_weights the optimizer updates a float32 copy: 4 more bytes per "
                 "parameter", patch={"per_param += 4": "pass"}),
    Mistake(key="states_in_param_dtype",
            title="optimizer state kept in the parameters' dtype under mixed precision",
            hint="with master weights, m and v are float32 (4 bytes each)",
            patch={"torch.float32 if master_weights else param_dtype": "param_dtype"}),
    Mistake(key="grads_like_params", title="gradients sized like the parameters",
            hint="use grad_dtype for the gradients",
            patch={"nbytes(grad_dtype)": "nbytes(param_dtype)"}),
    Mistake(key="adam_one_state", title="AdamW counted with one state tensor",
            hint="AdamW keeps two moments per parameter, m and v",
            patch={'{"adamw": 2,': '{"adamw": 1,'}),
)


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

KV_BYTES_MISTAKES = (
    Mistake(key="keys_only", title="only the keys counted",
            hint="the cache holds keys and values: factor 2",
            patch={"return 2 * n_layers": "return n_layers"}),
    Mistake(key="one_layer", title="one layer only",
            hint="every layer has its own cache: multiply by n_layers",
            patch={"2 * n_layers * ": "2 * "}),
    Mistake(key="bits", title="bits instead of bytes", hint="divide the dtype's bits by 8",
            patch={_BYTES: "torch.finfo(dtype).bits"}),
)


def kvb_by_tensor(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    one = torch.empty(0, dtype=dtype).element_size() * batch * n_kv_heads * seq_len * head_dim
    return one * 2 * n_layers


KV_BYTES_ALTERNATIVES = (kvb_by_tensor,)


# =========================================================================== flash forward
FLASH_MISTAKES = (
    Mistake(key="no_rescale", title="running sums not rescaled when the running max grows",
            hint="when m increases to m_new, multiply l and acc by exp(m − m_new) before adding "
                 "the new tile",
            patch={"l = alpha * l +": "l = l +",
                   "acc = alpha.unsqueeze(-1) * acc +": "acc = acc +"}),
    Mistake(key="lse_without_max", title="lse returned as log(l), without the running max",
            hint="the exponentials were taken relative to m, so the log-sum-exp is m + log(l)",
            patch={"lses.append(m + torch.log(l))": "lses.append(torch.log(l))"}),
    Mistake(key="strict_causal", title="causal mask also hides the diagonal",
            hint="query i may attend to key i itself: hide only keys j > i",
            patch={"j1 - 1 > i0:": "j1 > i0:", "cols > rows": "cols >= rows"}),
    Mistake(key="no_scale", title="default scale 1/√E not applied",
            hint="when scale is None, multiply the scores by 1/√E",
            patch={"scale = 1.0 / math.sqrt(E)": "scale = 1.0"}),
)


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


# =========================================================================== flash backward
FLASH_BWD_MISTAKES = (
    Mistake(key="local_d", title="D_i = rowsum(P ∘ dP) taken over one tile only",
            hint="D_i sums over the whole row; compute it once as rowsum(dO ∘ O)",
            patch={"(dp - D[..., i0:i1].unsqueeze(-1))": "(dp - (p * dp).sum(-1, keepdim=True))"}),
    Mistake(key="no_scale", title="scale left out of dQ and dK",
            hint="S = scale · Q Kᵀ, so dQ = scale · dS K and dK = scale · dSᵀ Q",
            patch={"(ds @ kj) * scale": "(ds @ kj)", "@ qi) * scale": "@ qi)"}),
    Mistake(key="tile_softmax", title="P recomputed with a softmax over one tile",
            hint="rebuild the probabilities of the whole row: P = exp(S − lse)",
            patch={"torch.exp(s - lse[..., i0:i1].unsqueeze(-1))": "softmax(s, dim=-1)"}),
)


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


# =========================================================================== autograd Function
FLASH_FN_MISTAKES = (
    Mistake(key="causal_dropped", title="is_causal not passed to the backward",
            hint="the backward must recompute the same masked probabilities as the forward",
            patch={"ctx.options = (is_causal,": "ctx.options = (False,"}),
    Mistake(key="dk_dv_swapped", title="gradients returned in the wrong order",
            hint="backward returns the gradients in the order of forward's inputs: dq, dk, dv, "
                 "then None for is_causal, scale, block_q, block_k",
            patch={"return dq, dk, dv,": "return dq, dv, dk,"}),
    Mistake(key="scale_dropped", title="scale not passed to the backward",
            hint="save scale in ctx and pass it on",
            patch={"(is_causal, scale, block_q, block_k)": "(is_causal, None, block_q, block_k)"}),
)


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


# =========================================================================== GQA
GQA_MISTAKES = (
    Mistake(key="tiled_heads",
            title="key/value heads tiled (repeat) instead of grouped (repeat_interleave)",
            hint="query heads g·j … g·j + g − 1 share KV head j: head h uses KV head "
                 "h // (Hq / Hkv)",
            patch={f"{t} = {t}.repeat_interleave(group, dim=1)": f"{t} = {t}.repeat(1, group, 1, 1)"
                   for t in "kv"}),
    Mistake(key="first_kv_head", title="every query head uses the first key/value head",
            hint="that is multi-query attention; with Hkv > 1 each group has its own KV head",
            patch={"group = q.size(1) // k.size(1)":
                   "group, k, v = q.size(1), k[:, :1], v[:, :1]"}),
    Mistake(key="ignores_mask", title="attn_mask / is_causal not passed on",
            hint="forward attn_mask and is_causal to the attention",
            patch={"(q, k, v, attn_mask=attn_mask, is_causal=is_causal)": "(q, k, v)"}),
)


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


# =========================================================================== KV cache
def _per_buffer(new: str) -> dict[str, str]:
    """The same edit of the lines that store keys and values (``{0}``: "k" or "v")."""
    return {f"self.{t}[:, :, self.pos:self.pos + t] = {t}": new.format(t) for t in "kv"}


KV_CACHE_MISTAKES = (
    Mistake(key="no_offset", title="new entries written at position 0 every time",
            hint="write the new keys and values at positions pos … pos + t − 1, after those stored",
            patch=_per_buffer("self.{0}[:, :, :t] = {0}")),
    Mistake(key="keys_in_both", title="keys stored in the value buffer too",
            hint="the value cache must receive v, not k",
            patch={"self.pos + t] = v": "self.pos + t] = k"}),
    Mistake(key="newest_first", title="new positions put before the old ones",
            hint="keep positions in order: append the new entries at the end",
            patch=_per_buffer("self.{0}[:, :, t:self.pos + t] = self.{0}[:, :, :self.pos].clone()"
                              "\n        self.{0}[:, :, :t] = {0}")),
)


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


# =========================================================================== gates
GLU_MISTAKES = (
    Mistake(key="halves_swapped", title="gate and value halves swapped",
            hint="the first half is the value, the second half goes through the sigmoid",
            patch={"a * torch.sigmoid(b)": "b * torch.sigmoid(a)"}),
    Mistake(key="always_last_dim", title="split along the last dimension whatever dim says",
            hint="split along dim", patch={"chunk(2, dim=dim)": "chunk(2, dim=-1)"}),
    Mistake(key="tanh_gate", title="tanh instead of sigmoid", hint="GLU gates with σ(b) ∈ (0, 1)",
            patch={"torch.sigmoid(b)": "torch.tanh(b)"}),
)


def glu_narrow(x, dim=-1):
    n = x.size(dim) // 2
    return x.narrow(dim, 0, n) / (1 + torch.exp(-x.narrow(dim, n, n)))


GLU_ALTERNATIVES = (glu_narrow,)

GATE_MISTAKES = (
    Mistake(key="tanh_gate", title="tanh instead of sigmoid", hint="the gate is σ(g) ∈ (0, 1)",
            patch={"torch.sigmoid(gate_logits)": "torch.tanh(gate_logits)"}),
    Mistake(key="added", title="gate added instead of multiplied",
            hint="multiply the output by σ(g)", patch={"attn_out * torch": "attn_out + torch"}),
    Mistake(key="silu_gate", title="SiLU g·σ(g) instead of σ(g)",
            hint="use the sigmoid alone as the gate",
            patch={"* torch.sigmoid(": "* gate_logits * torch.sigmoid("}),
)


def gate_via_exp(attn_out, gate_logits):
    return attn_out / (1 + torch.exp(-gate_logits))


def gate_via_tanh(attn_out, gate_logits):
    return attn_out * (0.5 * (1 + torch.tanh(gate_logits / 2)))


GATE_ALTERNATIVES = (gate_via_exp, gate_via_tanh)


# =========================================================================== low rank
LOW_RANK_MISTAKES = (
    Mistake(key="smallest", title="the smallest singular values kept",
            hint="torch.linalg.svd sorts singular values in decreasing order: keep the first rank",
            patch={"full_matrices=False)": "full_matrices=False)\n"
                   "    U, sigma, Vh = U.flip(-1), sigma.flip(-1), Vh.flip(-2)"}),
    Mistake(key="off_by_one", title="rank + 1 terms kept",
            hint="keep exactly rank terms: [..., :rank]",
            patch={"full_matrices=False)": "full_matrices=False)\n    rank = rank + 1"}),
    Mistake(key="no_sigma", title="singular values left out", hint="a_r = U_r diag(σ_r) V_rᵀ",
            patch={"U[..., :rank] * sigma[..., None, :rank]": "U[..., :rank]"}),
)


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


# =========================================================================== Linformer
LINFORMER_MISTAKES = (
    Mistake(key="values_with_e", title="values projected with E instead of F",
            hint="keys use e_proj, values use f_proj", patch={"f_proj @ v": "e_proj @ v"}),
    Mistake(key="scale_by_p", title="scores scaled by 1/√P",
            hint="the scale is 1/√E, the feature size of q and k",
            patch={"math.sqrt(q.size(-1))": "math.sqrt(e_proj.size(0))"}),
    Mistake(key="softmax_wrong_dim", title="softmax over the queries",
            hint="normalise each query's row: softmax over the last (projected key) dimension",
            patch={"softmax(scores, dim=-1)": "softmax(scores, dim=-2)"}),
)


def linformer_einsum(q, k, v, e_proj, f_proj):
    kp = torch.einsum("ps,...se->...pe", e_proj, k)
    vp = torch.einsum("ps,...se->...pe", f_proj, v)
    w = softmax(torch.einsum("...le,...pe->...lp", q, kp) / math.sqrt(q.size(-1)), dim=-1)
    return torch.einsum("...lp,...pe->...le", w, vp)


def linformer_given(q, k, v, e_proj, f_proj):
    return scaled_dot_product_attention(q, e_proj @ k, f_proj @ v)


LINFORMER_ALTERNATIVES = (linformer_einsum, linformer_given)


# =========================================================================== Performer
PERF_FEATURES_MISTAKES = (
    Mistake(key="no_norm_term", title="the −|x|²/2 term left out",
            hint="E[e^(ωᵀq) e^(ωᵀk)] = e^(|q+k|²/2); subtracting |q|²/2 and |k|²/2 leaves e^(qᵀk)",
            patch={"x @ omega - sq": "x @ omega"}),
    Mistake(key="no_sqrt_m", title="features not divided by √F",
            hint="φ(q)·φ(k) is a mean over F samples: each feature carries 1/√F",
            patch={" / math.sqrt(omega.size(-1))": ""}),
    Mistake(key="divide_by_m", title="features divided by F instead of √F",
            hint="the 1/F of the mean is split between φ(q) and φ(k): 1/√F each",
            patch={"math.sqrt(omega.size(-1))": "omega.size(-1)"}),
)


def pfeat_two_exps(x, omega):
    return torch.exp(x @ omega) * torch.exp(-0.5 * x.pow(2).sum(-1, keepdim=True)) \
        * omega.size(-1) ** -0.5


def pfeat_log_space(x, omega):
    m = omega.size(-1)
    return torch.exp(torch.einsum("...ne,ef->...nf", x, omega)
                     - 0.5 * (x * x).sum(-1, keepdim=True) - 0.5 * math.log(m))


PERF_FEATURES_ALTERNATIVES = (pfeat_two_exps, pfeat_log_space)

PERF_ATTN_MISTAKES = (
    Mistake(key="no_input_scaling", title="q and k not scaled by E^(-1/4)",
            hint="softmax attention uses exp(q·k/√E): scale q and k by E^(-1/4) before the "
                 "features",
            patch={"c = E ** -0.25": "c = 1.0"}),
    Mistake(key="no_normaliser", title="output not divided by φ(q)·Σ_j φ(k_j)",
            hint="attention weights sum to 1: divide by the estimated softmax denominator",
            patch={"return (phi_q @ kv) / norm": "return phi_q @ kv"}),
    Mistake(key="two_omegas", title="different random projections for queries and keys",
            hint="draw ω once and use it for both: the estimate is unbiased only with shared ω",
            patch={"performer_features(k * c, omega)": "performer_features(k * c, torch.randn("
                   "E, n_features, generator=generator).to(q))"}),
)


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
