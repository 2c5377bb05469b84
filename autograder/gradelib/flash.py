"""FlashAttention (Chapter 7): the drivers that grade how the student's passes compute, and the
stand-ins for those passes while their autograd Function is graded.

The forward and backward drivers run the student's pass once under :func:`measure.measured` and
raise, with a message that teaches, when it creates a tensor larger than one score tile per head
plus O(N·d) (an L × S score matrix, or a full L × S mask), or, with ``is_causal``, spends matmul
FLOPs on tiles that the mask hides completely. The rule is enforced here, by raising, because the
judge compares the outputs with the reference before it runs a case's checks, so a number only the
student's run has (the shape of *their* largest tensor) cannot reach a trusted-side check.
"""

from __future__ import annotations

import torch

from .measure import causal_tile_pairs, measured
from .registry import driver, standin


def _within_budget(run, q, k, v, is_causal, block_q, block_k, flops_per_pair, who, advice):
    """``run()``, raising MemoryError or RuntimeError when it breaks FlashAttention's budget:
    ``flops_per_pair(E, Ev)`` matmul FLOPs per (query, key) pair of the tiles it must compute."""
    L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    heads = q.numel() // (L * E)  # B * H
    limit = heads * (min(block_q, L) * min(block_k, S) + (L + S) * (E + Ev))
    result, watch, flops = measured(run)
    if watch.numel > limit:
        what = ("an L × S score/probability/mask matrix" if L * S <= watch.numel and
                (watch.shape[-2:] in ((L, S), (S, L)) or watch.numel % (L * S) == 0)
                else "a tensor larger than one score tile per head plus O(N·d)")
        raise MemoryError(
            f"{who} created a tensor of shape {watch.shape} ({watch.numel:,} elements, by "
            f"{watch.op}): {what}. FlashAttention never materialises it: with block_q={block_q}, "
            f"block_k={block_k} and {heads} head(s) of L={L}, S={S}, at most {limit:,} elements "
            "per tensor are allowed (one block_q × block_k tile per head, plus q/k/v/out-sized "
            f"tensors); {advice}")
    if is_causal:
        allowed = heads * flops_per_pair(E, Ev) * causal_tile_pairs(L, S, block_q, block_k)
        if flops > allowed:
            raise RuntimeError(
                f"with is_causal=True {who} spent {flops:,} matmul FLOPs, but only {allowed:,} "
                "are needed when the tiles that the causal mask hides completely (first key after "
                "the tile's last query) are skipped; do not compute them and then mask them")
    return result


@driver
def drive_flash_forward(fn, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """``fn(q, k, v, ...)`` once within FlashAttention's memory and (causal) FLOP budget: two
    products (q kᵀ and p v) per computed pair. Returns ``(out, lse)``."""
    return _within_budget(
        lambda: fn(q, k, v, is_causal=is_causal, scale=scale, block_q=block_q, block_k=block_k),
        q, k, v, is_causal, block_q, block_k, lambda E, Ev: 2 * (E + Ev), "your code",
        "loop over key blocks and keep only the running max, sum and output")


@driver
def drive_flash_backward(fn, q, k, v, out, lse, grad_out, is_causal=False, scale=None,
                         block_q=64, block_k=64):
    """The student's backward once within the same budget: five products per computed pair
    (S = q kᵀ, dV += Pᵀ dO, dP = dO vᵀ, dQ += dS k, dK += dSᵀ q). Returns ``(dq, dk, dv)``."""
    return _within_budget(
        lambda: fn(q, k, v, out, lse, grad_out, is_causal=is_causal, scale=scale,
                   block_q=block_q, block_k=block_k),
        q, k, v, is_causal, block_q, block_k, lambda E, Ev: 2 * (3 * E + 2 * Ev), "your backward",
        "recompute P one tile at a time from lse, never the whole L × S matrix")


@driver
def drive_flash_function(cls, q, k, v, grad_out, is_causal=False, scale=None, block_q=64,
                         block_k=64):
    """out = cls.apply(q, k, v, is_causal, scale, block_q, block_k), then autograd: returns out
    and the gradients of q, k, v for ``grad_out``."""
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise TypeError("FlashAttentionFunction must subclass torch.autograd.Function")
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    out = cls.apply(q, k, v, is_causal, scale, block_q, block_k)
    if not isinstance(out, torch.Tensor):
        raise TypeError("forward must return the output tensor only (keep lse in ctx)")
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), grad_out)
    return out.detach(), dq, dk, dv


# --------------------------------------------------------------------------- stand-ins
# Plain attention in at least float32 (top-left causal mask, as everywhere), the backward from
# torch.func.vjp: while FlashAttentionFunction is graded, one bug costs one exercise.
def _wide(*tensors):
    wide = torch.promote_types(tensors[0].dtype, torch.float32)
    return [t.to(wide) for t in tensors]


def _scores(q, k, is_causal, scale):
    s = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if is_causal:
        s = s + torch.full(s.shape[-2:], float("-inf"), device=q.device).triu(1)
    return s


@standin("ch07.flash_attention_forward")
def flash_attention_forward(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    a, b, c = _wide(q, k, v)
    s = _scores(a, b, is_causal, scale)
    return (torch.softmax(s, -1) @ c).to(q.dtype), torch.logsumexp(s, -1).to(q.dtype)


@standin("ch07.flash_attention_backward")
def flash_attention_backward(q, k, v, out, lse, grad_out, is_causal=False, scale=None,
                             block_q=64, block_k=64):
    def attention(a, b, c):
        return torch.softmax(_scores(a, b, is_causal, scale), -1) @ c

    _, vjp = torch.func.vjp(attention, *_wide(q, k, v))
    return tuple(g.to(q.dtype) for g in vjp(*_wide(grad_out)))
