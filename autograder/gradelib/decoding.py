"""Decoding with a key/value cache (Chapter 7's ``KVCache``), token by token or chunk by chunk."""

from __future__ import annotations

import math

import torch

from .registry import driver


@driver
def drive_kv_cache(cls, q, k, v, max_seq_len, chunks):
    """Decode with ``cls(B, Hkv, max_seq_len, E, dtype, device)``: for each chunk of positions,
    ``update`` the cache with the chunk's keys and values and attend from the chunk's queries to
    everything it returns (query at position p sees keys 0..p). Returns the concatenated outputs
    and the keys and values the last ``update`` returned."""
    B, Hq, T, E = q.shape
    Hkv = k.shape[1]
    cache = cls(B, Hkv, max_seq_len, E, k.dtype, k.device)
    outs, pos = [], 0
    for t in chunks:
        kc, vc = cache.update(k[:, :, pos:pos + t], v[:, :, pos:pos + t])
        if not (isinstance(kc, torch.Tensor) and isinstance(vc, torch.Tensor)):
            raise TypeError("update(k, v) must return two tensors: all keys and all values so far")
        if kc.shape[-2] != pos + t:
            raise ValueError(f"after {pos + t} positions update returned {kc.shape[-2]} keys; it "
                             "must return exactly the positions stored so far")
        kk = kc.repeat_interleave(Hq // Hkv, dim=1)  # (B, Hq, S, E)
        vv = vc.repeat_interleave(Hq // Hkv, dim=1)
        s = q[:, :, pos:pos + t] @ kk.transpose(-2, -1) / math.sqrt(E)  # (B, Hq, t, S)
        rows = torch.arange(pos, pos + t, device=q.device).unsqueeze(-1)
        s = s.masked_fill(torch.arange(pos + t, device=q.device) > rows, float("-inf"))
        w = torch.exp(s - s.amax(dim=-1, keepdim=True))
        outs.append((w / w.sum(dim=-1, keepdim=True)) @ vv)
        pos += t
    return torch.cat(outs, dim=-2), kc, vc
