"""The complexity rules of Chapter 7's flash_attention_forward, as the grader applies them: a naive
attention loses the exercise with a message naming the L × S tensor it created, and a tiled one
that computes (then masks) the tiles a causal mask hides loses it with the FLOP counts. The cases
that carry the memory rule are large enough for the budget to refuse a row block of width S (and
the Performer's memory case an L × S matrix)."""

import math

import pytest
import torch

from autograder.cases import build_cases
from autograder.chapters import get_chapter
from autograder.gradelib.flash import tensor_budget
from autograder.gradelib.random_features import memory_budget
from reference.flash import flash_attention_forward

CH07 = get_chapter("ch07")


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
    assert "6,400 elements" in text and "40 × 40" in text and "an L × S" in text, text
    assert "likely mistake: the whole L × S score matrix at once" in text, text


def test_computing_masked_tiles_loses_the_points_with_flop_counts(graded):
    result = graded(no_skip_flash)
    assert not result.passed
    text = "\n".join(result.messages)
    assert "matmul FLOPs" in text and "hides completely" in text, text
    assert "created a tensor" not in text  # it is tiled: only the causal cases fail


def test_reference_passes(graded):
    assert graded(flash_attention_forward).passed


def _sizes(case):
    q, k, v = case.args[:3]
    L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    return L, S, E, Ev, q.numel() // (L * E)


@pytest.mark.parametrize("name", ["flash_attention_forward", "flash_attention_backward"])
def test_the_memory_rule_refuses_a_row_block_or_a_column_block(name):
    """At the graded sizes a block_q × S row of scores (all keys at once) or an L × block_k column
    (all queries at once) is over the budget, so the rule is more than "no L × S matrix"."""
    cases = [c for c in build_cases(CH07.exercise(name)) if "memory rule" in c.tags]
    assert cases
    for case in cases:
        L, S, E, Ev, heads = _sizes(case)
        bq, bk = case.kwargs["block_q"], case.kwargs["block_k"]
        limit = tensor_budget(L, S, E, Ev, heads, bq, bk)
        assert heads * bq * bk <= limit < heads * min(bq * S, L * bk), (case.name, limit)


def test_the_performer_memory_case_refuses_an_l_by_s_matrix():
    cases = [c for c in build_cases(CH07.exercise("performer_attention"))
             if "linear memory" in c.tags]
    assert cases
    for case in cases:
        L, S, E, Ev, heads = _sizes(case)
        m = case.args[3]
        assert heads * L * max(m, E, Ev) <= memory_budget(L, S, E, Ev, m, heads) < heads * L * S
