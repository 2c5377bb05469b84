"""Chapter 7 catalog for ``triton_flash_attention_forward``: one kernel family whose ``MODE``
switches in a common mistake or a correct variant written differently. Importable without Triton
(the catalog is then empty and the exercise ungraded).

MODE 0: exp2 with log2(e) folded into the scale (correct); 1: visits every key block and relies
on the mask alone (correct, slower); 2: the running sum and output not rescaled when the max
grows; 3: causal mask excludes the diagonal; 4: scores not scaled by 1/√E; 5: padding keys past
S not masked.

The mistakes stay functions, not patches of the solution: ``Mistake.impl`` compiles a patched cell
from a string, and ``@triton.jit`` refuses a kernel whose source is not in a file ("@jit functions
should be defined in a Python file").
"""

from __future__ import annotations

import math

import torch

from autograder.spec import Mistake

try:
    import triton
    import triton.language as tl
except ImportError:
    triton = tl = None

if triton is not None:

    @triton.jit
    def _variant_kernel(Q, K, V, O, scale, L, S, sqb, sql, skb, sks, svb, svs, sob, sol,
                        IS_CAUSAL: tl.constexpr, MODE: tl.constexpr, BM: tl.constexpr,
                        BN: tl.constexpr, D: tl.constexpr):
        pm, bh = tl.program_id(0), tl.program_id(1)
        rows = pm * BM + tl.arange(0, BM)
        dims = tl.arange(0, D)
        q = tl.load(Q + bh * sqb + rows[:, None] * sql + dims[None, :], mask=rows[:, None] < L,
                    other=0.0)
        m_run = tl.full([BM], float("-inf"), tl.float32)
        denom = tl.zeros([BM], tl.float32)
        acc = tl.zeros([BM, D], tl.float32)
        hi = S
        if IS_CAUSAL and MODE != 1:
            hi = tl.minimum(S, (pm + 1) * BM)
        for lo in range(0, hi, BN):
            cols = lo + tl.arange(0, BN)
            kt = tl.load(K + bh * skb + cols[:, None] * sks + dims[None, :],
                         mask=cols[:, None] < S, other=0.0)
            vt = tl.load(V + bh * svb + cols[:, None] * svs + dims[None, :],
                         mask=cols[:, None] < S, other=0.0)
            sc = tl.dot(q, tl.trans(kt)).to(tl.float32)
            if MODE != 4:
                sc = sc * scale
            keep = cols[None, :] < S
            if MODE == 5:
                keep = cols[None, :] >= 0
            if IS_CAUSAL:
                if MODE == 3:
                    keep = keep & (cols[None, :] < rows[:, None])
                else:
                    keep = keep & (cols[None, :] <= rows[:, None])
            sc = tl.where(keep, sc, float("-inf"))
            m_new = tl.maximum(m_run, tl.max(sc, 1))
            if MODE == 0:  # base 2: exp(x) = 2^(x log2 e); the scale already holds log2 e
                alpha = tl.exp2(m_run - m_new)
                p = tl.exp2(sc - m_new[:, None])
            else:
                alpha = tl.exp(m_run - m_new)
                p = tl.exp(sc - m_new[:, None])
            if MODE == 2:
                alpha = alpha * 0.0 + 1.0
            denom = denom * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(vt.dtype), vt).to(tl.float32)
            m_run = m_new
        tl.store(O + bh * sob + rows[:, None] * sol + dims[None, :],
                 (acc / denom[:, None]).to(O.dtype.element_ty), mask=rows[:, None] < L)


def _launch(q, k, v, is_causal, mode, block=32):
    E = q.shape[-1]
    lead, L, S = q.shape[:-2], q.shape[-2], k.shape[-2]
    q3, k3, v3 = (t.reshape(-1, t.shape[-2], E).contiguous() for t in (q, k, v))
    out = torch.empty_like(q3)
    scale = 1.0 / math.sqrt(E) * (1.4426950408889634 if mode == 0 else 1.0)
    _variant_kernel[(triton.cdiv(L, block), q3.shape[0])](
        q3, k3, v3, out, scale, L, S, q3.stride(0), q3.stride(1), k3.stride(0), k3.stride(1),
        v3.stride(0), v3.stride(1), out.stride(0), out.stride(1),
        IS_CAUSAL=bool(is_causal), MODE=mode, BM=block, BN=block, D=E)
    return out.reshape(*lead, L, E)


def triton_exp2(q, k, v, is_causal=False):
    return _launch(q, k, v, is_causal, 0)


def triton_every_block(q, k, v, is_causal=False):
    return _launch(q, k, v, is_causal, 1)


def triton_no_rescale(q, k, v, is_causal=False):
    return _launch(q, k, v, is_causal, 2)


def triton_strict_causal(q, k, v, is_causal=False):
    return _launch(q, k, v, is_causal, 3)


def triton_no_scale(q, k, v, is_causal=False):
    return _launch(q, k, v, is_causal, 4)


def triton_padding_keys(q, k, v, is_causal=False):
    return _launch(q, k, v, is_causal, 5)


if triton is not None:
    TRITON_MISTAKES = (
        Mistake(key="no_rescale",
                title="the running sum and output not rescaled when the max grows",
                hint="multiply l and acc by exp(m_old − m_new) before adding the new block",
                fn=triton_no_rescale),
        Mistake(key="strict_causal", title="the causal mask hides the diagonal",
                hint="query i may attend to key j when j <= i (offsets counted from 0)",
                fn=triton_strict_causal),
        Mistake(key="no_scale", title="scores not scaled by 1/√E",
                hint="multiply q kᵀ by 1/sqrt(head size)", fn=triton_no_scale),
        Mistake(key="padding_keys", title="keys past S (block padding) not masked",
                hint="loads past S return 0, which is a score of 0, not a missing key: set those "
                     "scores to -inf", fn=triton_padding_keys),
    )
    TRITON_ALTERNATIVES = (triton_exp2, triton_every_block)
else:
    TRITON_MISTAKES, TRITON_ALTERNATIVES = (), ()
