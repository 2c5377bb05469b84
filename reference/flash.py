"""Chapter 7, FlashAttention in pure PyTorch: tiled attention with an online softmax (forward), the
backward pass by recomputation, and an autograd Function tying both together.

The forward never holds more than one (block_q, block_k) tile of scores per head: for each block of
queries it streams over blocks of keys, keeping a running maximum m, a running normaliser l and an
unnormalised output acc (Dao et al. 2022, Algorithm 1; the rescaling of FlashAttention-2). It
returns the log-sum-exp of every score row, lse = m + log l, which is all the backward pass needs to
rebuild the probabilities tile by tile: P = exp(Z - lse), Z = scale * q k^T the scores (the papers'
S; here S counts the keys).

Memory, both passes: no tensor above heads * (min(block_q, L) * min(block_k, S) + (L + S) * (E + Ev))
elements, heads the product of the leading dimensions (what ``autograder/gradelib/flash.py``
grades).

Causal masks are top-left aligned, as everywhere in ``reference`` (query i sees keys j <= i). A tile
whose every key lies in the future of every query in it is skipped, not computed and masked.
"""

import math

import torch


def _tile_is_masked(i1, j0):
    """True when the causal mask hides the whole tile of queries [.., i1) and keys [j0, ..): its
    first key j0 is after its last query i1 - 1."""
    return j0 > i1 - 1


def flash_attention_forward(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """Attention softmax(q k^T * scale) v computed tile by tile, plus the row log-sum-exp.

    For each query block the key blocks are visited in order; with s a tile of the scores Z,
        m_new = max(m, rowmax(s)),   p = exp(s - m_new),
        l = exp(m - m_new) l + rowsum(p),   acc = exp(m - m_new) acc + p v_j,
    and at the end out = acc / l, lse = m + log l (the log-sum-exp of the whole score row).

    Args:
        q, k, v: same leading dimensions (no broadcasting between them).
        is_causal: top-left aligned causal mask; fully masked tiles are skipped.
        scale: multiplies the scores; default 1 / sqrt(E).
        block_q, block_k: tile sizes; need not divide L or S.

    Shape:
        q: (..., L, E)
        k: (..., S, E)
        v: (..., S, Ev)
        output: out (..., L, Ev) and lse (..., L)
    """
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    if scale is None:
        scale = 1.0 / math.sqrt(E)
    outs, lses = [], []
    for i0 in range(0, L, block_q):
        i1 = min(i0 + block_q, L)
        qi = q[..., i0:i1, :]  # (..., bq, E)
        m = torch.full(qi.shape[:-1], float("-inf"), dtype=q.dtype, device=q.device)  # (..., bq)
        l = torch.zeros_like(m)  # (..., bq)
        acc = torch.zeros(*qi.shape[:-1], v.size(-1), dtype=q.dtype, device=q.device)  # (..., bq, Ev)
        for j0 in range(0, S, block_k):
            if is_causal and _tile_is_masked(i1, j0):
                break  # every later tile is masked too
            j1 = min(j0 + block_k, S)
            s = (qi @ k[..., j0:j1, :].transpose(-2, -1)) * scale  # (..., bq, bk)
            if is_causal and j1 - 1 > i0:  # the tile straddles the diagonal
                rows = torch.arange(i0, i1, device=q.device).unsqueeze(-1)  # (bq, 1)
                cols = torch.arange(j0, j1, device=q.device)  # (bk,)
                s = s.masked_fill(cols > rows, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1))  # (..., bq)
            # A row can only be fully masked in a tile after its first tile (key 0 is always
            # visible), so m_new is finite and exp(m - m_new) is 0 on the first visit, not NaN.
            p = torch.exp(s - m_new.unsqueeze(-1))  # (..., bq, bk)
            alpha = torch.exp(m - m_new)  # (..., bq)
            l = alpha * l + p.sum(dim=-1)
            acc = alpha.unsqueeze(-1) * acc + p @ v[..., j0:j1, :]  # (..., bq, Ev)
            m = m_new
        outs.append(acc / l.unsqueeze(-1))
        lses.append(m + torch.log(l))
    return torch.cat(outs, dim=-2), torch.cat(lses, dim=-1)  # (..., L, Ev), (..., L)


def flash_attention_backward(q, k, v, out, lse, grad_out, is_causal=False, scale=None, block_q=64,
                             block_k=64):
    """Gradients of flash attention by recomputation: each tile's probabilities are rebuilt from
    the saved lse as P = exp(Z - lse), never stored for the whole sequence.

    With dO the output gradient and delta = rowsum(dO * O) (one number per query),
        dV_j += P^T dO_i,   dP = dO_i V_j^T,   dZ = P * (dP - delta_i),
        dQ_i += scale * dZ K_j,   dK_j += scale * dZ^T Q_i.
    (delta_i equals rowsum(P * dP), the softmax Jacobian term, computed without P.)

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev)
        out, grad_out: (..., L, Ev); lse: (..., L)
        output: dq (..., L, E), dk (..., S, E), dv (..., S, Ev)
    """
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    if scale is None:
        scale = 1.0 / math.sqrt(E)
    delta = (grad_out * out).sum(dim=-1)  # (..., L)
    dq_tiles = [torch.zeros_like(q[..., i0:i0 + block_q, :]) for i0 in range(0, L, block_q)]
    dk_tiles, dv_tiles = [], []
    for j0 in range(0, S, block_k):
        j1 = min(j0 + block_k, S)
        kj, vj = k[..., j0:j1, :], v[..., j0:j1, :]  # (..., bk, E), (..., bk, Ev)
        dk = torch.zeros_like(kj)
        dv = torch.zeros_like(vj)
        for n, i0 in enumerate(range(0, L, block_q)):
            i1 = min(i0 + block_q, L)
            if is_causal and _tile_is_masked(i1, j0):
                continue
            qi, doi = q[..., i0:i1, :], grad_out[..., i0:i1, :]
            s = (qi @ kj.transpose(-2, -1)) * scale  # (..., bq, bk)
            if is_causal and j1 - 1 > i0:
                rows = torch.arange(i0, i1, device=q.device).unsqueeze(-1)
                cols = torch.arange(j0, j1, device=q.device)
                s = s.masked_fill(cols > rows, float("-inf"))
            p = torch.exp(s - lse[..., i0:i1].unsqueeze(-1))  # (..., bq, bk)
            dv = dv + p.transpose(-2, -1) @ doi  # (..., bk, Ev)
            dp = doi @ vj.transpose(-2, -1)  # (..., bq, bk)
            dz = p * (dp - delta[..., i0:i1].unsqueeze(-1))  # (..., bq, bk)
            dq_tiles[n] = dq_tiles[n] + (dz @ kj) * scale  # (..., bq, E)
            dk = dk + (dz.transpose(-2, -1) @ qi) * scale  # (..., bk, E)
        dk_tiles.append(dk)
        dv_tiles.append(dv)
    return torch.cat(dq_tiles, dim=-2), torch.cat(dk_tiles, dim=-2), torch.cat(dv_tiles, dim=-2)


class FlashAttentionFunction(torch.autograd.Function):
    """``FlashAttentionFunction.apply(q, k, v, is_causal=False, scale=None, block_q=64,
    block_k=64)`` -> out: the forward saves q, k, v, out and lse (no score matrix); the backward
    recomputes the tiles. Gradients flow to q, k and v.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev)
        output: (..., L, Ev)
    """

    @staticmethod
    def forward(ctx, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        out, lse = flash_attention_forward(q, k, v, is_causal, scale, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.options = (is_causal, scale, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = flash_attention_backward(q, k, v, out, lse, grad_out, *ctx.options)
        return dq, dk, dv, None, None, None, None
