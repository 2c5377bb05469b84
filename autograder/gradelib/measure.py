"""Measuring how a result is computed: the largest tensor a call creates and its matmul FLOPs.

Used where the point of an exercise is complexity (Chapter 7's FlashAttention must never hold an
L × S matrix, and must skip the tiles a causal mask hides; the Performer must stay linear): the
driver runs the student's call under :func:`measured` and returns the measurements with its
outputs, and a check of the case judges them against the budget (``gradelib/flash.py``).
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


class LargestTensor(TorchDispatchMode):
    """While active, records the largest tensor any operation creates: its number of elements,
    shape and the operation (e.g. ``aten.bmm.default``)."""

    def __init__(self):
        super().__init__()
        self.numel, self.shape, self.op = 0, (), ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.numel() > self.numel:
                self.numel, self.shape, self.op = t.numel(), tuple(t.shape), str(func)
        return out


def measured(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` -> (its result, the :class:`LargestTensor` record, matmul FLOPs)."""
    watch, counter = LargestTensor(), FlopCounterMode(display=False)
    with counter, watch:
        result = fn(*args, **kwargs)
    return result, watch, counter.get_total_flops()


def causal_tile_pairs(L: int, S: int, block_q: int, block_k: int) -> int:
    """(query, key) pairs in the tiles that a top-left causal mask does not hide completely (a
    tile is hidden when its first key comes after its last query): what a tiled kernel that skips
    the hidden tiles multiplies. Times 2·(E + Ev) FLOPs per pair for attention's forward."""
    pairs = 0
    for i0 in range(0, L, block_q):
        i1 = min(i0 + block_q, L)
        for j0 in range(0, min(S, i1), block_k):
            pairs += (i1 - i0) * (min(j0 + block_k, S) - j0)
    return pairs


def attention_sizes(q, k, v) -> tuple[int, int, int, int, int]:
    """(heads, L, S, E, Ev) of an attention case's inputs, the sizes its budgets are stated in;
    heads is the leading dimensions together (B · H).

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev)
    """
    L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    return q.numel() // (L * E), L, S, E, Ev


def largest_tensor(measurement) -> tuple[int, int, int]:
    """(elements, rows, cols) of the largest tensor, from the measurement a driver returns as an
    output (its last two dimensions)."""
    numel, rows, cols = (int(x) for x in measurement.tolist())
    return numel, rows, cols
