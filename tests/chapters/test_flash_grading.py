"""The complexity rules of Chapter 7's flash_attention_forward, as the grader applies them: a naive
attention loses the exercise with a message naming the L × S tensor it created, and a tiled one
that computes (then masks) the tiles a causal mask hides loses it with the FLOP counts."""

import math

import pytest
import torch

from reference.flash import flash_attention_forward


@pytest.fixture
def graded(grade_inprocess):
    return lambda impl: grade_inprocess("ch07.flash_attention_forward", impl)


def naive_flash(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    s = q @ k.transpose(-2, -1) * scale
    if is_causal:
        s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    return torch.exp(s - lse[..., None]) @ v, lse


def no_skip_flash(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    # every tile computed, the causal mask applied inside it: right values, twice the work
    L = q.size(-2)
    if not is_causal:
        return flash_attention_forward(q, k, v, False, scale, block_q, block_k)
    outs, lses = [], []
    for i0 in range(0, L, block_q):
        qi = q[..., i0:i0 + block_q, :]
        o, lse = flash_attention_forward(qi, k, v, False, scale, block_q, block_k)
        # recompute with the mask (the unmasked pass above is wasted work, as a no-skip kernel does)
        keep = torch.arange(k.size(-2)) <= torch.arange(i0, i0 + qi.size(-2))[:, None]
        s = qi @ k.transpose(-2, -1) * (scale or 1 / math.sqrt(q.size(-1)))
        s = s.masked_fill(~keep, float("-inf"))
        lse = torch.logsumexp(s, dim=-1)
        outs.append(torch.exp(s - lse[..., None]) @ v)
        lses.append(lse)
    return torch.cat(outs, -2), torch.cat(lses, -1)


def test_naive_attention_loses_the_memory_points_naming_the_tensor(graded):
    result = graded(naive_flash)
    assert not result.passed and result.points == 0
    text = "\n".join(result.messages)
    assert "MemoryError" in text and "(4, 40, 40)" in text and "L × S" in text, text


def test_computing_masked_tiles_loses_the_points_with_flop_counts(graded):
    result = graded(no_skip_flash)
    assert not result.passed
    text = "\n".join(result.messages)
    assert "matmul FLOPs" in text and "hides completely" in text, text
    assert "MemoryError" not in text  # it is tiled: only the causal cases fail


def test_reference_passes(graded):
    assert graded(flash_attention_forward).passed
