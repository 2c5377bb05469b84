"""Chapter 5's positional encodings: the stand-ins of its earlier exercises (``alibi_slopes``,
``rope_cache``, ``encoding_spectrum``) and the driver of ``apply_rope``'s multi-call identities."""

from __future__ import annotations

import torch

from .registry import driver, standin
from .rope import rope_cache

standin("ch05.rope_cache")(rope_cache)  # written once, in .rope (Chapter 6 uses it too)


@standin("ch05.alibi_slopes")
def alibi_slopes(n_heads, *, dtype=torch.float32, device=None):
    """2^(-8h/p) for h = 1 .. p (p the largest power of two ≤ n_heads), then 2^(-4h/p) for the
    odd h = 1, 3, 5, ... until there are n_heads slopes."""
    p = 1 << (n_heads.bit_length() - 1)
    first = 2.0 ** (-8.0 * torch.arange(1, p + 1, dtype=dtype, device=device) / p)
    odd = 2 * torch.arange(n_heads - p, dtype=dtype, device=device) + 1
    return torch.cat([first, 2.0 ** (-4.0 * odd / p)])


@standin("ch05.encoding_spectrum")
def encoding_spectrum(pe):
    """|rfft| of each mean-removed column along the positions (torch.fft has no bfloat16 on CPU:
    it works in float32 there and casts back)."""
    centred = pe - pe.mean(dim=0, keepdim=True)
    work = torch.promote_types(pe.dtype, torch.float32)
    return torch.fft.rfft(centred.to(work), dim=0).abs().to(pe.dtype)


@driver
def drive_rope(target, x, *args, prop=None, other=None, shift=None, **kwargs):
    """Call ``apply_rope`` once (``prop=None``) or check an identity that needs several calls:

    * ``"compose"``: rotating by positions m then by ``shift`` (= n) equals rotating once by m + n;
      returns (R_n R_m x, R_{m+n} x).
    * ``"relative"``: scores q_m . k_n for the positions m = n = ``positions`` and for the same
      positions moved by ``shift``; returns both score matrices (they must be equal).
    * ``"layouts"``: the interleaved rotation of x, and the half-split rotation of x with its
      features permuted (pair i = features (2i, 2i+1) moved to (i, i + E/2)) and permuted back.
    """
    if prop is None:
        return target(x, *args, **kwargs)
    positions = kwargs.pop("positions")
    if prop == "compose":
        twice = target(target(x, positions, **kwargs), shift, **kwargs)
        return twice, target(x, positions + shift, **kwargs)
    if prop == "relative":
        def scores(p):
            return target(x, p, **kwargs) @ target(other, p, **kwargs).transpose(-2, -1)
        return scores(positions), scores(positions + shift)
    if prop == "layouts":
        half = x.shape[-1] // 2
        split = torch.cat([x[..., 0::2], x[..., 1::2]], dim=-1)  # interleaved -> half-split
        rotated = target(split, positions, interleaved=False, **kwargs)
        back = torch.stack([rotated[..., :half], rotated[..., half:]], dim=-1).flatten(-2)
        return target(x, positions, interleaved=True, **kwargs), back
    raise ValueError(f"unknown property {prop!r}")
