"""Chapter 7: FlashAttention's forward pass as one Triton kernel.

One program instance computes one block of ``BLOCK_M`` query rows of one (batch, head): it keeps
the running row maximum ``m``, the running normaliser ``l`` and the unnormalised output ``acc`` in
registers and streams the keys and values through in blocks of ``BLOCK_N`` (the online softmax
of ``reference/flash.py``, with the same recurrence). Scores and probabilities exist only as
``BLOCK_M × BLOCK_N`` tiles, never as an L × S matrix in memory. With ``is_causal`` (top-left
aligned, key j visible from query i iff j ≤ i) the loop stops at the last key block the query
block can see, so fully masked tiles cost nothing.

Accumulation is in float32 whatever the input dtype; on GPUs ``tl.dot`` of float32 inputs uses
TF32 tensor cores (as PyTorch's matmul does with ``allow_tf32``), which the grader's tolerance,
measured on this kernel, accounts for.

Triton is optional: without it (or without a CUDA device) the exercise is reported as ungraded.
With ``TRITON_INTERPRET=1`` set before import, the kernel runs on CPU tensors in Triton's
interpreter (slow, for the platform's own tests).
"""

from __future__ import annotations

import math

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the course runs without Triton; this exercise is then ungraded
    triton = tl = None

BLOCK_M = 64
BLOCK_N = 64
HEAD_DIMS = (16, 32, 64, 128, 256)  # tl.arange needs a power of two, tl.dot at least 16

if triton is not None:

    @triton.jit
    def _flash_forward_kernel(Q, K, V, O, sm_scale, L, S,
                              stride_qb, stride_ql, stride_kb, stride_ks, stride_vb, stride_vs,
                              stride_ob, stride_ol,
                              IS_CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr,
                              BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
        start_m = tl.program_id(0)  # which block of query rows
        bh = tl.program_id(1)  # which (batch, head)
        rows = start_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,)
        dims = tl.arange(0, HEAD_DIM)  # (HEAD_DIM,)
        q = tl.load(Q + bh * stride_qb + rows[:, None] * stride_ql + dims[None, :],
                    mask=rows[:, None] < L, other=0.0)  # (BLOCK_M, HEAD_DIM)
        m = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running row max
        l = tl.zeros([BLOCK_M], tl.float32)  # running sum of exp(s - m)
        acc = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)  # running sum of exp(s - m) v
        end = S
        if IS_CAUSAL:  # the last key any row of this block may see is (start_m + 1) BLOCK_M - 1
            end = tl.minimum(S, (start_m + 1) * BLOCK_M)
        for start_n in range(0, end, BLOCK_N):
            cols = start_n + tl.arange(0, BLOCK_N)  # (BLOCK_N,)
            k = tl.load(K + bh * stride_kb + cols[:, None] * stride_ks + dims[None, :],
                        mask=cols[:, None] < S, other=0.0)  # (BLOCK_N, HEAD_DIM)
            v = tl.load(V + bh * stride_vb + cols[:, None] * stride_vs + dims[None, :],
                        mask=cols[:, None] < S, other=0.0)
            s = tl.dot(q, tl.trans(k)).to(tl.float32) * sm_scale  # (BLOCK_M, BLOCK_N)
            visible = cols[None, :] < S  # padding keys past S take no part
            if IS_CAUSAL:
                visible = visible & (cols[None, :] <= rows[:, None])
            s = tl.where(visible, s, float("-inf"))
            m_new = tl.maximum(m, tl.max(s, 1))  # finite: key 0 is in the first block
            alpha = tl.exp(m - m_new)  # rescales what was summed under the old max
            p = tl.exp(s - m_new[:, None])
            l = l * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
            m = m_new
        out = acc / l[:, None]
        tl.store(O + bh * stride_ob + rows[:, None] * stride_ol + dims[None, :],
                 out.to(O.dtype.element_ty), mask=rows[:, None] < L)


def triton_flash_attention_forward(q, k, v, is_causal=False):
    """softmax(q kᵀ / √E [+ causal mask]) v with one Triton kernel launch.

    Shape:
        q: (..., L, E); k, v: (..., S, E), the same leading dims; E in HEAD_DIMS
        output: (..., L, E), q's dtype and device
    """
    if triton is None:
        raise RuntimeError("triton_flash_attention_forward needs Triton (pip install triton)")
    E = q.shape[-1]
    if E not in HEAD_DIMS or k.shape[-1] != E or v.shape[-1] != E:
        raise ValueError(f"head size must be one of {HEAD_DIMS}, the same for q, k and v")
    lead, L, S = q.shape[:-2], q.shape[-2], k.shape[-2]
    q3, k3, v3 = (t.reshape(-1, t.shape[-2], E).contiguous() for t in (q, k, v))  # (BH, ·, E)
    out = torch.empty_like(q3)
    grid = (triton.cdiv(L, BLOCK_M), q3.shape[0])
    _flash_forward_kernel[grid](
        q3, k3, v3, out, 1.0 / math.sqrt(E), L, S,
        q3.stride(0), q3.stride(1), k3.stride(0), k3.stride(1), v3.stride(0), v3.stride(1),
        out.stride(0), out.stride(1),
        IS_CAUSAL=bool(is_causal), BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, HEAD_DIM=E)
    return out.reshape(*lead, L, E)
