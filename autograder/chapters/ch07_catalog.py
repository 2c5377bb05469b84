"""Chapter 7 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently. Every function and class here is pasted, as source, into a notebook's answer cell by
the platform's tests, so each must be self-contained: it may use only ``math``, ``torch``, ``nn``,
``F``, the names of the chapter's given cells (``softmax``, ``scaled_dot_product_attention``) and
private ``_helpers`` of this module (pasted along).

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
def aflops_macs(batch, n_heads, q_len, k_len, head_dim, causal=False):
    pairs = sum(min(i + 1, k_len) for i in range(q_len)) if causal else q_len * k_len
    return 2 * batch * n_heads * pairs * head_dim


def aflops_half_for_causal(batch, n_heads, q_len, k_len, head_dim, causal=False):
    full = 4 * batch * n_heads * q_len * k_len * head_dim
    return full // 2 if causal else full


def aflops_causal_ignored(batch, n_heads, q_len, k_len, head_dim, causal=False):
    return 4 * batch * n_heads * q_len * k_len * head_dim


def aflops_bottom_right(batch, n_heads, q_len, k_len, head_dim, causal=False):
    off = k_len - q_len  # bottom-right aligned: query i sees keys j <= i + (S - L)
    pairs = sum(max(0, min(i + 1 + off, k_len)) for i in range(q_len)) if causal else q_len * k_len
    return 4 * batch * n_heads * pairs * head_dim


ATTN_FLOPS_MISTAKES = (
    Mistake("counts_macs", "multiply-adds counted once (or only one of the two matmuls)",
            "a (m, k) @ (k, n) product costs 2·m·k·n FLOPs, and attention has two: q kᵀ and p v",
            aflops_macs),
    Mistake("causal_half", "causal cost taken as exactly half of the full cost",
            "count the (query, key) pairs the mask keeps: query i sees min(i + 1, S) keys, so the "
            "diagonal is included", aflops_half_for_causal),
    Mistake("causal_ignored", "causal=True ignored", "only unmasked pairs are computed",
            aflops_causal_ignored),
    Mistake("bottom_right", "causal mask aligned bottom-right",
            "the mask is top-left aligned, as torch's is_causal: query i sees keys j ≤ i",
            aflops_bottom_right),
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
def tflops_no_attention(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    return n_layers * 2 * (4 * d_model ** 2 + 3 * d_model * d_ff) + 2 * d_model * vocab_size


def tflops_two_matrix_ffn(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    per = 2 * (4 * d_model ** 2 + 2 * d_model * d_ff) + 4 * context_length * d_model
    return n_layers * per + 2 * d_model * vocab_size


def tflops_no_head(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    return n_layers * (2 * (4 * d_model ** 2 + 3 * d_model * d_ff) + 4 * context_length * d_model)


def tflops_attention_per_head_dim(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    per = 2 * (4 * d_model ** 2 + 3 * d_model * d_ff) + 4 * context_length * (d_model // n_heads)
    return n_layers * per + 2 * d_model * vocab_size


TF_FLOPS_MISTAKES = (
    Mistake("no_attention", "attention scores left out (the 2N rule of thumb)",
            "q kᵀ and p v add 4·T·D FLOPs per token and layer, which dominate at long context",
            tflops_no_attention),
    Mistake("two_matrix_ffn", "FFN counted with two matrices",
            "this model's SwiGLU FFN has three D × Dff matrices (w1, w3, w2)", tflops_two_matrix_ffn),
    Mistake("no_head", "output head left out", "the last layer multiplies by a D × V matrix: 2·D·V",
            tflops_no_head),
    Mistake("one_head", "attention counted for one head only",
            "all H heads together have width D, so attention costs 4·T·D, not 4·T·D/H",
            tflops_attention_per_head_dim),
)


def tflops_from_weights(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    weights = n_layers * (4 * d_model * d_model + 3 * d_model * d_ff) + vocab_size * d_model
    return 2 * weights + n_layers * 2 * 2 * context_length * d_model


TF_FLOPS_ALTERNATIVES = (tflops_from_weights,)


# =========================================================================== bytes
def pbytes_bits(n_params, dtype):
    return n_params * torch.finfo(dtype).bits


def pbytes_always_four(n_params, dtype):
    return 4 * n_params


def pbytes_mib(n_params, dtype):
    return n_params * (torch.finfo(dtype).bits // 8) / 2**20


PARAM_BYTES_MISTAKES = (
    Mistake("bits", "bits instead of bytes", "divide the dtype's bits by 8", pbytes_bits),
    Mistake("always_float32", "4 bytes whatever the dtype",
            "the size depends on the dtype: 8 for float64, 2 for bfloat16/float16", pbytes_always_four),
    Mistake("mebibytes", "result in MiB instead of bytes",
            "return the number of bytes; convert units only when you print", pbytes_mib),
)


def pbytes_element_size(n_params, dtype):
    return n_params * torch.empty((), dtype=dtype).element_size()


def pbytes_itemsize(n_params, dtype):
    return dtype.itemsize * n_params


PARAM_BYTES_ALTERNATIVES = (pbytes_element_size, pbytes_itemsize)


def _nbytes(dtype):
    return torch.empty((), dtype=dtype).element_size()


def tmem_no_master_copy(n_params, param_dtype, grad_dtype, optimizer="adamw", master_weights=False):
    states = {"adamw": 2, "sgd_momentum": 1, "sgd": 0}[optimizer]
    state_bytes = 4 if master_weights else _nbytes(param_dtype)
    return n_params * (_nbytes(param_dtype) + _nbytes(grad_dtype) + states * state_bytes)


def tmem_states_in_param_dtype(n_params, param_dtype, grad_dtype, optimizer="adamw",
                               master_weights=False):
    states = {"adamw": 2, "sgd_momentum": 1, "sgd": 0}[optimizer]
    extra = 4 if master_weights else 0
    return n_params * (_nbytes(param_dtype) + _nbytes(grad_dtype) + states * _nbytes(param_dtype)
                       + extra)


def tmem_grads_like_params(n_params, param_dtype, grad_dtype, optimizer="adamw",
                           master_weights=False):
    states = {"adamw": 2, "sgd_momentum": 1, "sgd": 0}[optimizer]
    state_bytes = 4 if master_weights else _nbytes(param_dtype)
    extra = 4 if master_weights else 0
    return n_params * (2 * _nbytes(param_dtype) + states * state_bytes + extra)


def tmem_adam_one_state(n_params, param_dtype, grad_dtype, optimizer="adamw", master_weights=False):
    states = {"adamw": 1, "sgd_momentum": 1, "sgd": 0}[optimizer]
    state_bytes = 4 if master_weights else _nbytes(param_dtype)
    extra = 4 if master_weights else 0
    return n_params * (_nbytes(param_dtype) + _nbytes(grad_dtype) + states * state_bytes + extra)


TRAIN_MEM_MISTAKES = (
    Mistake("no_master_copy", "float32 master copy of the weights forgotten",
            "with master_weights the optimizer updates a float32 copy: 4 more bytes per parameter",
            tmem_no_master_copy),
    Mistake("states_in_param_dtype", "optimizer state kept in the parameters' dtype under mixed "
            "precision", "with master weights, m and v are float32 (4 bytes each)",
            tmem_states_in_param_dtype),
    Mistake("grads_like_params", "gradients sized like the parameters",
            "use grad_dtype for the gradients", tmem_grads_like_params),
    Mistake("adam_one_state", "AdamW counted with one state tensor",
            "AdamW keeps two moments per parameter, m and v", tmem_adam_one_state),
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


def kvb_keys_only(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    return n_layers * n_kv_heads * head_dim * seq_len * batch * (torch.finfo(dtype).bits // 8)


def kvb_one_layer(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    return 2 * n_kv_heads * head_dim * seq_len * batch * (torch.finfo(dtype).bits // 8)


def kvb_bits(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch * torch.finfo(dtype).bits


KV_BYTES_MISTAKES = (
    Mistake("keys_only", "only the keys counted", "the cache holds keys and values: factor 2",
            kvb_keys_only),
    Mistake("one_layer", "one layer only", "every layer has its own cache: multiply by n_layers",
            kvb_one_layer),
    Mistake("bits", "bits instead of bytes", "divide the dtype's bits by 8", kvb_bits),
)


def kvb_by_tensor(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    one = torch.empty(0, dtype=dtype).element_size() * batch * n_kv_heads * seq_len * head_dim
    return one * 2 * n_layers


KV_BYTES_ALTERNATIVES = (kvb_by_tensor,)


# =========================================================================== flash forward
def _flash_variant(q, k, v, is_causal, scale, block_q, block_k, rescale=True, lse_mode="full",
                   strict=False, scale_mode="ok"):
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    if scale is None:
        scale = 1.0 if scale_mode == "none" else 1.0 / math.sqrt(E)
    outs, lses = [], []
    for i0 in range(0, L, block_q):
        i1 = min(i0 + block_q, L)
        qi = q[..., i0:i1, :]
        m = torch.full(qi.shape[:-1], float("-inf"), dtype=q.dtype, device=q.device)
        l = torch.zeros_like(m)
        acc = torch.zeros(*qi.shape[:-1], v.size(-1), dtype=q.dtype, device=q.device)
        for j0 in range(0, S, block_k):
            if is_causal and j0 > i1 - 1:
                break
            j1 = min(j0 + block_k, S)
            s = (qi @ k[..., j0:j1, :].transpose(-2, -1)) * scale
            if is_causal:
                rows = torch.arange(i0, i1, device=q.device).unsqueeze(-1)
                cols = torch.arange(j0, j1, device=q.device)
                hidden = cols >= rows if strict else cols > rows
                s = s.masked_fill(hidden, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1))
            m_safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
            p = torch.exp(s - m_safe.unsqueeze(-1))
            alpha = torch.exp(m - m_safe)
            if rescale:
                l = alpha * l + p.sum(dim=-1)
                acc = alpha.unsqueeze(-1) * acc + p @ v[..., j0:j1, :]
            else:
                l = l + p.sum(dim=-1)
                acc = acc + p @ v[..., j0:j1, :]
            m = m_new
        outs.append(acc / l.clamp_min(torch.finfo(l.dtype).tiny).unsqueeze(-1))
        lses.append(torch.log(l) if lse_mode == "no_max" else m + torch.log(l))
    return torch.cat(outs, dim=-2), torch.cat(lses, dim=-1)


def flash_no_rescale(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    return _flash_variant(q, k, v, is_causal, scale, block_q, block_k, rescale=False)


def flash_lse_without_max(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    return _flash_variant(q, k, v, is_causal, scale, block_q, block_k, lse_mode="no_max")


def flash_strict_causal(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    return _flash_variant(q, k, v, is_causal, scale, block_q, block_k, strict=True)


def flash_no_default_scale(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    return _flash_variant(q, k, v, is_causal, scale, block_q, block_k, scale_mode="none")


FLASH_MISTAKES = (
    Mistake("no_rescale", "running sums not rescaled when the running max grows",
            "when m increases to m_new, multiply l and acc by exp(m − m_new) before adding the new "
            "tile", flash_no_rescale),
    Mistake("lse_without_max", "lse returned as log(l), without the running max",
            "the exponentials were taken relative to m, so the log-sum-exp is m + log(l)",
            flash_lse_without_max),
    Mistake("strict_causal", "causal mask also hides the diagonal",
            "query i may attend to key i itself: hide only keys j > i", flash_strict_causal),
    Mistake("no_scale", "default scale 1/√E not applied",
            "when scale is None, multiply the scores by 1/√E", flash_no_default_scale),
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
def _bwd_variant(q, k, v, out, lse, grad_out, is_causal, scale, block_q, block_k, local_d=False,
                 grad_scale=True, tile_softmax=False):
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    gs = scale if grad_scale else 1.0
    D = (grad_out * out).sum(-1)
    dq = [torch.zeros_like(q[..., i0:i0 + block_q, :]) for i0 in range(0, L, block_q)]
    dks, dvs = [], []
    for j0 in range(0, S, block_k):
        j1 = min(j0 + block_k, S)
        kj, vj = k[..., j0:j1, :], v[..., j0:j1, :]
        dk, dv = torch.zeros_like(kj), torch.zeros_like(vj)
        for n, i0 in enumerate(range(0, L, block_q)):
            i1 = min(i0 + block_q, L)
            if is_causal and j0 > i1 - 1:
                continue
            qi, doi = q[..., i0:i1, :], grad_out[..., i0:i1, :]
            s = (qi @ kj.transpose(-2, -1)) * scale
            if is_causal:
                hidden = torch.arange(j0, j1, device=q.device) > torch.arange(
                    i0, i1, device=q.device)[:, None]
                s = s.masked_fill(hidden, float("-inf"))
            if tile_softmax:
                p = softmax(s, dim=-1)
            else:
                p = torch.exp(s - lse[..., i0:i1, None])
            dv = dv + p.transpose(-2, -1) @ doi
            dp = doi @ vj.transpose(-2, -1)
            d_i = (p * dp).sum(-1, keepdim=True) if local_d else D[..., i0:i1, None]
            ds = p * (dp - d_i)
            dq[n] = dq[n] + (ds @ kj) * gs
            dk = dk + (ds.transpose(-2, -1) @ qi) * gs
        dks.append(dk)
        dvs.append(dv)
    return torch.cat(dq, -2), torch.cat(dks, -2), torch.cat(dvs, -2)


def bwd_local_d(q, k, v, out, lse, grad_out, is_causal=False, scale=None, block_q=64, block_k=64):
    return _bwd_variant(q, k, v, out, lse, grad_out, is_causal, scale, block_q, block_k,
                        local_d=True)


def bwd_no_scale(q, k, v, out, lse, grad_out, is_causal=False, scale=None, block_q=64, block_k=64):
    return _bwd_variant(q, k, v, out, lse, grad_out, is_causal, scale, block_q, block_k,
                        grad_scale=False)


def bwd_tile_softmax(q, k, v, out, lse, grad_out, is_causal=False, scale=None, block_q=64,
                     block_k=64):
    return _bwd_variant(q, k, v, out, lse, grad_out, is_causal, scale, block_q, block_k,
                        tile_softmax=True)


FLASH_BWD_MISTAKES = (
    Mistake("local_d", "D_i = rowsum(P ∘ dP) taken over one tile only",
            "D_i sums over the whole row; compute it once as rowsum(dO ∘ O)", bwd_local_d),
    Mistake("no_scale", "scale left out of dQ and dK",
            "S = scale · Q Kᵀ, so dQ = scale · dS K and dK = scale · dSᵀ Q", bwd_no_scale),
    Mistake("tile_softmax", "P recomputed with a softmax over one tile",
            "rebuild the probabilities of the whole row: P = exp(S − lse)", bwd_tile_softmax),
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
class FlashFnCausalDropped(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        out, lse = flash_attention_forward(q, k, v, is_causal, scale, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.opts = (scale, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        scale, bq, bk = ctx.opts
        dq, dk, dv = flash_attention_backward(q, k, v, out, lse, grad_out, False, scale, bq, bk)
        return dq, dk, dv, None, None, None, None


class FlashFnDkDvSwapped(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        out, lse = flash_attention_forward(q, k, v, is_causal, scale, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.opts = (is_causal, scale, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = flash_attention_backward(q, k, v, out, lse, grad_out, *ctx.opts)
        return dq, dv, dk, None, None, None, None


class FlashFnScaleDropped(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        out, lse = flash_attention_forward(q, k, v, is_causal, scale, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.opts = (is_causal, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        c, bq, bk = ctx.opts
        dq, dk, dv = flash_attention_backward(q, k, v, out, lse, grad_out, c, None, bq, bk)
        return dq, dk, dv, None, None, None, None


FLASH_FN_MISTAKES = (
    Mistake("causal_dropped", "is_causal not passed to the backward",
            "the backward must recompute the same masked probabilities as the forward",
            FlashFnCausalDropped),
    Mistake("dk_dv_swapped", "gradients returned in the wrong order",
            "backward returns the gradients in the order of forward's inputs: dq, dk, dv, then "
            "None for is_causal, scale, block_q, block_k", FlashFnDkDvSwapped),
    Mistake("scale_dropped", "scale not passed to the backward",
            "save scale in ctx and pass it on", FlashFnScaleDropped),
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
def gqa_tiled_heads(q, k, v, attn_mask=None, is_causal=False):
    g = q.size(1) // k.size(1)
    return scaled_dot_product_attention(q, k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1),
                                        attn_mask=attn_mask, is_causal=is_causal)


def gqa_first_kv_head(q, k, v, attn_mask=None, is_causal=False):
    return scaled_dot_product_attention(q, k[:, :1], v[:, :1], attn_mask=attn_mask,
                                        is_causal=is_causal)


def gqa_ignores_mask(q, k, v, attn_mask=None, is_causal=False):
    g = q.size(1) // k.size(1)
    return scaled_dot_product_attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1))


GQA_MISTAKES = (
    Mistake("tiled_heads", "key/value heads tiled (repeat) instead of grouped (repeat_interleave)",
            "query heads g·j … g·j + g − 1 share KV head j: head h uses KV head h // (Hq / Hkv)",
            gqa_tiled_heads),
    Mistake("first_kv_head", "every query head uses the first key/value head",
            "that is multi-query attention; with Hkv > 1 each group has its own KV head",
            gqa_first_kv_head),
    Mistake("ignores_mask", "attn_mask / is_causal not passed on",
            "forward attn_mask and is_causal to the attention", gqa_ignores_mask),
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
class KVCacheNoOffset:
    def __init__(self, batch, n_kv_heads, max_seq_len, head_dim, dtype, device):
        self.k = torch.zeros(batch, n_kv_heads, max_seq_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.pos = 0

    def update(self, k, v):
        t = k.size(-2)
        self.k[:, :, :t] = k
        self.v[:, :, :t] = v
        self.pos += t
        return self.k[:, :, :self.pos], self.v[:, :, :self.pos]


class KVCacheKeysInBoth:
    def __init__(self, batch, n_kv_heads, max_seq_len, head_dim, dtype, device):
        self.k = torch.zeros(batch, n_kv_heads, max_seq_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.pos = 0

    def update(self, k, v):
        t = k.size(-2)
        self.k[:, :, self.pos:self.pos + t] = k
        self.v[:, :, self.pos:self.pos + t] = k
        self.pos += t
        return self.k[:, :, :self.pos], self.v[:, :, :self.pos]


class KVCacheNewestFirst:
    def __init__(self, batch, n_kv_heads, max_seq_len, head_dim, dtype, device):
        self.k = None
        self.v = None

    def update(self, k, v):
        self.k = k if self.k is None else torch.cat([k, self.k], dim=-2)
        self.v = v if self.v is None else torch.cat([v, self.v], dim=-2)
        return self.k, self.v


KV_CACHE_MISTAKES = (
    Mistake("no_offset", "new entries written at position 0 every time",
            "write the new keys and values at positions pos … pos + t − 1, after those stored",
            KVCacheNoOffset),
    Mistake("keys_in_both", "keys stored in the value buffer too",
            "the value cache must receive v, not k", KVCacheKeysInBoth),
    Mistake("newest_first", "new positions put before the old ones",
            "keep positions in order: append the new entries at the end", KVCacheNewestFirst),
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
def glu_swapped(x, dim=-1):
    a, b = x.chunk(2, dim=dim)
    return b * torch.sigmoid(a)


def glu_last_dim(x, dim=-1):
    a, b = x.chunk(2, dim=-1)
    return a * torch.sigmoid(b)


def glu_tanh(x, dim=-1):
    a, b = x.chunk(2, dim=dim)
    return a * torch.tanh(b)


GLU_MISTAKES = (
    Mistake("halves_swapped", "gate and value halves swapped",
            "the first half is the value, the second half goes through the sigmoid", glu_swapped),
    Mistake("always_last_dim", "split along the last dimension whatever dim says",
            "split along dim", glu_last_dim),
    Mistake("tanh_gate", "tanh instead of sigmoid", "GLU gates with σ(b) ∈ (0, 1)", glu_tanh),
)


def glu_narrow(x, dim=-1):
    n = x.size(dim) // 2
    return x.narrow(dim, 0, n) / (1 + torch.exp(-x.narrow(dim, n, n)))


GLU_ALTERNATIVES = (glu_narrow,)


def gate_tanh(attn_out, gate_logits):
    return attn_out * torch.tanh(gate_logits)


def gate_plus(attn_out, gate_logits):
    return attn_out + torch.sigmoid(gate_logits)


def gate_silu(attn_out, gate_logits):
    return attn_out * gate_logits * torch.sigmoid(gate_logits)


GATE_MISTAKES = (
    Mistake("tanh_gate", "tanh instead of sigmoid", "the gate is σ(g) ∈ (0, 1)", gate_tanh),
    Mistake("added", "gate added instead of multiplied", "multiply the output by σ(g)", gate_plus),
    Mistake("silu_gate", "SiLU g·σ(g) instead of σ(g)", "use the sigmoid alone as the gate",
            gate_silu),
)


def gate_via_exp(attn_out, gate_logits):
    return attn_out / (1 + torch.exp(-gate_logits))


def gate_via_tanh(attn_out, gate_logits):
    return attn_out * (0.5 * (1 + torch.tanh(gate_logits / 2)))


GATE_ALTERNATIVES = (gate_via_exp, gate_via_tanh)


# =========================================================================== low rank
def _svd(a):
    work = a if a.dtype in (torch.float32, torch.float64) else a.float()
    return torch.linalg.svd(work, full_matrices=False)


def lowrank_smallest(a, rank):
    U, s, Vh = _svd(a)
    return ((U[..., -rank:] * s[..., None, -rank:]) @ Vh[..., -rank:, :]).to(a.dtype)


def lowrank_off_by_one(a, rank):
    U, s, Vh = _svd(a)
    r = rank + 1
    return ((U[..., :r] * s[..., None, :r]) @ Vh[..., :r, :]).to(a.dtype)


def lowrank_no_sigma(a, rank):
    U, s, Vh = _svd(a)
    return (U[..., :rank] @ Vh[..., :rank, :]).to(a.dtype)


LOW_RANK_MISTAKES = (
    Mistake("smallest", "the smallest singular values kept",
            "torch.linalg.svd sorts singular values in decreasing order: keep the first rank",
            lowrank_smallest),
    Mistake("off_by_one", "rank + 1 terms kept", "keep exactly rank terms: [..., :rank]",
            lowrank_off_by_one),
    Mistake("no_sigma", "singular values left out", "a_r = U_r diag(σ_r) V_rᵀ", lowrank_no_sigma),
)


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
def linformer_values_with_e(q, k, v, e_proj, f_proj):
    return scaled_dot_product_attention(q, e_proj @ k, e_proj @ v)


def linformer_scale_by_p(q, k, v, e_proj, f_proj):
    return scaled_dot_product_attention(q, e_proj @ k, f_proj @ v,
                                        scale=1 / math.sqrt(e_proj.size(0)))


def linformer_softmax_wrong_dim(q, k, v, e_proj, f_proj):
    s = q @ (e_proj @ k).transpose(-2, -1) / math.sqrt(q.size(-1))
    return softmax(s, dim=-2) @ (f_proj @ v)


LINFORMER_MISTAKES = (
    Mistake("values_with_e", "values projected with E instead of F",
            "keys use e_proj, values use f_proj", linformer_values_with_e),
    Mistake("scale_by_p", "scores scaled by 1/√P", "the scale is 1/√E, the feature size of q and k",
            linformer_scale_by_p),
    Mistake("softmax_wrong_dim", "softmax over the queries",
            "normalise each query's row: softmax over the last (projected key) dimension",
            linformer_softmax_wrong_dim),
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
def pfeat_no_norm_term(x, omega):
    return torch.exp(x @ omega) / math.sqrt(omega.size(-1))


def pfeat_no_sqrt_m(x, omega):
    return torch.exp(x @ omega - (x * x).sum(-1, keepdim=True) / 2)


def pfeat_divide_by_m(x, omega):
    return torch.exp(x @ omega - (x * x).sum(-1, keepdim=True) / 2) / omega.size(-1)


PERF_FEATURES_MISTAKES = (
    Mistake("no_norm_term", "the −|x|²/2 term left out",
            "E[e^(ωᵀq) e^(ωᵀk)] = e^(|q+k|²/2); subtracting |q|²/2 and |k|²/2 leaves e^(qᵀk)",
            pfeat_no_norm_term),
    Mistake("no_sqrt_m", "features not divided by √F",
            "φ(q)·φ(k) is a mean over F samples: each feature carries 1/√F", pfeat_no_sqrt_m),
    Mistake("divide_by_m", "features divided by F instead of √F",
            "the 1/F of the mean is split between φ(q) and φ(k): 1/√F each", pfeat_divide_by_m),
)


def pfeat_two_exps(x, omega):
    return torch.exp(x @ omega) * torch.exp(-0.5 * x.pow(2).sum(-1, keepdim=True)) \
        * omega.size(-1) ** -0.5


def pfeat_log_space(x, omega):
    m = omega.size(-1)
    return torch.exp(torch.einsum("...ne,ef->...nf", x, omega)
                     - 0.5 * (x * x).sum(-1, keepdim=True) - 0.5 * math.log(m))


PERF_FEATURES_ALTERNATIVES = (pfeat_two_exps, pfeat_log_space)


def _phi(x, omega):
    return torch.exp(x @ omega - (x * x).sum(-1, keepdim=True) / 2) / math.sqrt(omega.size(-1))


def pattn_no_input_scaling(q, k, v, n_features, generator):
    omega = torch.randn(q.size(-1), n_features, generator=generator).to(q)
    pq, pk = _phi(q, omega), _phi(k, omega)
    return (pq @ (pk.transpose(-2, -1) @ v)) / (pq @ pk.sum(-2).unsqueeze(-1))


def pattn_no_normaliser(q, k, v, n_features, generator):
    omega = torch.randn(q.size(-1), n_features, generator=generator).to(q)
    c = q.size(-1) ** -0.25
    pq, pk = _phi(q * c, omega), _phi(k * c, omega)
    return pq @ (pk.transpose(-2, -1) @ v)


def pattn_two_omegas(q, k, v, n_features, generator):
    c = q.size(-1) ** -0.25
    pq = _phi(q * c, torch.randn(q.size(-1), n_features, generator=generator).to(q))
    pk = _phi(k * c, torch.randn(q.size(-1), n_features, generator=generator).to(q))
    return (pq @ (pk.transpose(-2, -1) @ v)) / (pq @ pk.sum(-2).unsqueeze(-1))


PERF_ATTN_MISTAKES = (
    Mistake("no_input_scaling", "q and k not scaled by E^(-1/4)",
            "softmax attention uses exp(q·k/√E): scale q and k by E^(-1/4) before the features",
            pattn_no_input_scaling),
    Mistake("no_normaliser", "output not divided by φ(q)·Σ_j φ(k_j)",
            "attention weights sum to 1: divide by the estimated softmax denominator",
            pattn_no_normaliser),
    Mistake("two_omegas", "different random projections for queries and keys",
            "draw ω once and use it for both: the estimate is unbiased only with shared ω",
            pattn_two_omegas),
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
