"""gradelib.decoding: decoding with a correct KV cache equals full causal attention; a cache whose
``update`` returns the wrong thing is told so."""

import pytest
import torch

from autograder.gradelib.decoding import drive_kv_cache
from reference.efficiency import KVCache, grouped_query_attention

F64 = torch.float64


def _qkv(Hq=4, Hkv=2, T=9):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, h, T, 4, generator=g, dtype=F64) for h in (Hq, Hkv, Hkv)]


@pytest.mark.parametrize("chunks,max_len", [([1] * 9, 9), ([5, 1, 1, 1, 1], 12), ([3, 2, 4], 16)])
def test_decoding_with_the_reference_cache_is_causal_attention(chunks, max_len):
    q, k, v = _qkv()
    out, keys, values = drive_kv_cache(KVCache, q, k, v, max_len, chunks)
    assert torch.allclose(out, grouped_query_attention(q, k, v, is_causal=True))
    assert torch.equal(keys, k) and torch.equal(values, v)


class _ReturnsNewOnly(KVCache):
    def update(self, k, v):
        super().update(k, v)
        return k, v


class _ReturnsKeysOnly(KVCache):
    def update(self, k, v):
        return super().update(k, v)[0], None


def test_a_cache_returning_the_wrong_positions_or_values_raises():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="must return exactly the positions stored so far"):
        drive_kv_cache(_ReturnsNewOnly, q, k, v, 9, [1] * 9)
    with pytest.raises(TypeError, match="must return two tensors"):
        drive_kv_cache(_ReturnsKeysOnly, q, k, v, 9, [1] * 9)
