"""Rotary position embedding, written once for the grading library.

Half-split (GPT-NeoX / Llama) pairing: feature i of a head rotates together with feature i + E/2,
by the angle m · base^(-2i/E) at position m, as (a, b) -> (a cos − b sin, b cos + a sin). Both
functions compute in the dtype they are given, as the course's own ``rope_cache`` and the given
``apply_rope`` do, so a stand-in built on them rounds like the student's code.

``rope_cache`` has the signature of Chapter 5's exercise of that name, so that it can be that
exercise's stand-in (registered beside Chapter 5's other stand-ins:
``standin("ch05.rope_cache")(rope_cache)``); ``apply_rope`` is what Chapter 6's block stand-in uses.
"""

from __future__ import annotations

import torch


def rope_cache(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None, start=0):
    """cos and sin of the angles m · base^(-2i/E), m = start .. start + T − 1 (a cached decode
    feeds positions after the ones already seen); each (T, E/2), T = seq_len."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=dtype, device=device) / head_dim)
    positions = torch.arange(start, start + seq_len, dtype=dtype, device=device)  # (T,)
    angle = positions[:, None] * inv_freq  # (T, E/2)
    return angle.cos(), angle.sin()


def apply_rope(x, base=10000.0, start=0):
    """x (..., T, E) rotated at positions start .. start + T − 1 (half-split pairing)."""
    T, E = x.shape[-2:]
    cos, sin = rope_cache(T, E, base, dtype=x.dtype, device=x.device, start=start)
    a, b = x[..., : E // 2], x[..., E // 2:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
