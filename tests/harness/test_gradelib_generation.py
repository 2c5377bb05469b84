"""gradelib.generation and gradelib.metrics: Chapter 10's stand-ins agree with the reference draw for
draw; the grader's cached model gives the same logits with and without its cache; the drivers
report what the chapter's checks read (counts, reproducibility, call summaries) and refuse
malformed answers with messages a student can act on."""

import pytest
import torch

from autograder import gradelib
from autograder.gradelib import generation as gen
from autograder.gradelib.metrics import drive_pairs
from reference import decoding as ref
from reference.metrics import rouge_n, token_f1


def _logits(*shape, seed=0, dtype=torch.float64):
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64) * 2).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_stand_ins_are_the_reference_draw_for_draw(dtype):
    x = _logits(4, 9, dtype=dtype)
    assert torch.equal(gen.top_k_filter(x, 3), ref.top_k_filter(x, 3))
    assert torch.equal(gen.top_p_filter(x, 0.8), ref.top_p_filter(x, 0.8))
    for kw in ({}, {"temperature": 0.7, "top_k": 5, "top_p": 0.9}, {"temperature": 0.0}):
        a = gen.sample_next_token(x, **kw, generator=torch.Generator().manual_seed(1))
        b = ref.sample_next_token(x, **kw, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a, b)
    assert gradelib.STANDINS["ch10.sample_next_token"] is gen.sample_next_token


def test_the_cached_model_matches_itself_without_the_cache_and_bounds_its_cache():
    model = gen.cached_lm(torch.zeros((), dtype=torch.float64), 3, 12, 16)
    idx = torch.randint(0, 12, (2, 10), generator=torch.Generator().manual_seed(0))
    full = model(idx)
    cache = model.make_cache(2, 10)
    parts = [model(idx[:, :4], cache=cache)] + [model(idx[:, t:t + 1], cache=cache)
                                                for t in range(4, 10)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=0, atol=1e-12)
    assert model.calls[0] == (10, False) and model.calls[1] == (4, True)
    with pytest.raises(ValueError, match="cache holds 10 positions"):
        model(idx[:, :1], cache=cache)
    with pytest.raises(TypeError, match="int64"):
        model(idx.float())


def test_draws_are_counted_and_reproducibility_is_reported():
    x = _logits(2, 6)
    counts, same = gen.drive_draws(ref.sample_next_token, x, 500, 7, temperature=0.5)
    assert counts.shape == (2, 6) and counts.sum(-1).tolist() == [500, 500] and int(same) == 1

    def unseeded(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
        return ref.sample_next_token(logits, temperature, top_k, top_p)  # ignores its generator

    assert int(gen.drive_draws(unseeded, x, 500, 7)[1]) == 0
    with pytest.raises(TypeError, match="int64 tensor of token ids"):
        gen.drive_draws(lambda logits, **kw: logits.argmax(-1).float(), x, 10, 0)


def test_generation_runs_both_modes_and_summarises_the_calls():
    probe = torch.zeros((), dtype=torch.float64)
    prompt = torch.randint(0, 12, (2, 3), generator=torch.Generator().manual_seed(1))
    cached, uncached, s_cached, s_uncached = gen.drive_generate(
        ref.generate, probe, prompt, 5, 12, 24, 6, seed=3, temperature=0.8)
    assert torch.equal(cached, uncached) and cached.shape == (2, 9)
    assert s_cached.tolist() == [6, 1, 0]  # prefill + 5 single tokens through the cache
    assert s_uncached.tolist() == [0, 0, 6]  # six whole-sequence calls
    with pytest.raises(TypeError, match="prompt and the new tokens"):
        gen.drive_generate(lambda model, prompt, n, **kw: prompt.tolist(), probe, prompt, 5, 12,
                           24, 6, seed=0)


def test_beam_driver_serves_a_table_and_checks_the_prefixes():
    table = torch.log_softmax(_logits(3, 4, 4), -1)
    seq, score = gen.drive_beam(ref.beam_search, table, 0, 3, 2, 3, length_penalty=1.0)
    assert seq.dtype == torch.int64 and seq[0] == 0 and score.dtype == torch.float64
    with pytest.raises(ValueError, match="must start with bos_id=0"):
        gen.drive_beam(lambda step, *a, **k: step(torch.tensor([[1]])), table, 0, 3, 2, 3)
    with pytest.raises(TypeError, match=r"\(N, t\) int64"):
        gen.drive_beam(lambda step, *a, **k: step([[0]]), table, 0, 3, 2, 3)


def test_speculative_driver_counts_and_refuses_a_non_prefix():
    target = torch.softmax(_logits(3, 5, seed=1), -1)
    draft = torch.softmax(_logits(2, 5, seed=2), -1)
    n_acc, first, second = gen.drive_speculative(ref.speculative_accept, target, draft, 300, 0)
    assert n_acc.sum() == 300 and first.sum() == 300 and second.sum() == 300 - n_acc[0]

    def reorders(target_probs, draft_probs, draft_tokens, generator=None):
        return draft_tokens.flip(0), torch.tensor(0)

    with pytest.raises(ValueError, match="first n draft tokens"):
        gen.drive_speculative(reorders, target, draft, 50, 0)


def test_pairs_driver_scores_each_pair_and_takes_any_number_type():
    pairs = [("the cat", "a cat"), ("dog", "cat")]
    scores = drive_pairs(token_f1, pairs)
    assert scores.dtype == torch.float64 and scores.tolist() == [1.0, 0.0]
    assert drive_pairs(lambda a, b: a == b, pairs).tolist() == [0.0, 0.0]  # a bool is a number
    triples = drive_pairs(rouge_n, [("a b".split(), "a c".split())], width=3, n=1)
    assert triples.shape == (1, 3) and triples[0, 2] == 0.5
    with pytest.raises(TypeError, match="tuple of 3 numbers"):
        drive_pairs(lambda a, b: 1.0, pairs, width=3)
