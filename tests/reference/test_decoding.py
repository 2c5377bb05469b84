"""reference.decoding (and reference.blocks.GPT's key/value cache) against implementations written
differently in this file, and against the identities the module docstring states.

The independent implementations:

* top-k: a per-row Python loop over the sorted list of values (keep every value ≥ the k-th).
* top-p: (1) the form the usual libraries use: sort ascending, cumulative probability, remove the
  tokens whose cumulative mass is ≤ 1 − p, always keep the most probable; (2) a Python loop over
  the probabilities in descending order (computed with ``math.exp``) that stops at the first
  token whose running sum reaches p and keeps every logit ≥ that token's.
* sampling: counts of 50 000 draws judged by Pearson's chi-square test; the distribution itself
  against the two filters above composed by hand, and the greedy choice against ``list.index``.
* GPT cache: the full sequence fed at once (no cache) is the truth for prompt + one token at a
  time and for chunks of 3.
* generate: hand-written loops (argmax of ``model(seq)[:, -1]``; ``sample_next_token`` with the
  same generator) over the whole sequence at every step.
* beam search: a recursive enumeration of every sequence (Python floats), a hand-written greedy
  decoder, log p(y) recomputed from the table, and two hand-built tables (a beam trap and a
  length-penalty trade-off).
* speculative decoding: Σ_x q(x) min(1, p(x)/q(x)) summed in Python, the product formula for the
  accepted length, and chi-square tests of the emitted tokens against the target distributions.

Statistical tests use fixed seeds and thresholds from ``chi_square_threshold`` at a total
false-fail rate of 1e-6 per test (divided among the tests that share a function).
"""

import math

import pytest
import torch

from autograder import tolerance
from autograder.properties import chi_square_threshold
from reference.blocks import GPT
from reference.decoding import (
    acceptance_rates,
    accepted_length_distribution,
    beam_search,
    exhaustive_search,
    generate,
    length_penalty_factor,
    next_token_probs,
    sample_next_token,
    speculative_accept,
    top_k_filter,
    top_p_filter,
)

NEG_INF = float("-inf")
FALSE_FAIL = 1e-6


@pytest.fixture(scope="module", autouse=True)
def _one_intra_op_thread():
    """This module's GPT tests run a tiny GPT hundreds of times on (3, <= 16) inputs, where a second
    OpenMP thread only adds synchronisation: with the other core of a 2-core machine busy, the
    default two threads made them 4x slower (21 s instead of 5 s for this file). Under xdist
    tests/conftest.py already sets one thread per core and worker. Restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _assert_follows(counts, probs, false_fail=FALSE_FAIL, what="the draws"):
    """Pearson's chi-square test of ``counts`` (C,) against ``probs`` (C,), at ``false_fail``.

    A category of probability 0 must never be drawn. The chi-square approximation needs about 5
    expected draws per category; the test data are chosen so, and this is checked rather than
    assumed."""
    counts, probs = counts.double(), probs.double() / probs.double().sum()
    n = counts.sum().item()
    impossible = (probs == 0) & (counts > 0)
    assert not impossible.any(), (f"{what}: value {impossible.nonzero()[0].item()} has "
                                  f"probability 0 but was drawn "
                                  f"{counts[impossible][0].item():.0f} times")
    live = probs > 0
    expected = n * probs[live]
    assert expected.min().item() >= 5, "test design: too few expected draws for chi-square"
    stat = ((counts[live] - expected) ** 2 / expected).sum().item()
    limit = chi_square_threshold(int(live.sum()) - 1, false_fail)
    worst = int((counts - n * probs).abs().argmax())
    assert stat <= limit, (f"{what}: the frequencies do not follow the probabilities: chi-square "
                           f"{stat:.1f} > {limit:.1f} (a correct sampler exceeds it with "
                           f"probability {false_fail:g}); value {worst} drawn "
                           f"{counts[worst].item():.0f} times in {n:.0f}, expected "
                           f"{n * probs[worst].item():.0f}")


# --------------------------------------------------------------------------- independent filters
def _top_k_loop(logits, k):
    """Row by row: the k-th largest value of the sorted list; keep the values ≥ it."""
    rows = logits.reshape(-1, logits.shape[-1]).tolist()
    out = []
    for row in rows:
        kth = sorted(row, reverse=True)[k - 1] if k <= len(row) else NEG_INF
        out.append([v if v >= kth else NEG_INF for v in row])
    return torch.tensor(out, dtype=logits.dtype).reshape(logits.shape)


def _top_p_ascending(logits, p):
    """The usual library form: sort ASCENDING, cumulative probability, remove the tokens whose
    cumulative mass is ≤ 1 − p, never remove the most probable.

    Why this is the reference's set when no two logits are equal: in ascending order the cumulative
    mass at token x is 1 − (mass of the tokens more probable than x). So x is removed iff the
    tokens more probable than x already hold mass ≥ p, i.e. iff the descending running sum reached
    p strictly before x. The reference keeps x iff the descending sum first reaches p at x or after
    it: exactly the complement. (With ties the reference also keeps the tokens tied with the
    crossing one, and the library form depends on how the sort orders them.)"""
    sorted_logits, order = torch.sort(logits, dim=-1)  # ascending
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    remove = cum <= 1 - p
    remove[..., -1] = False
    remove = remove.scatter(-1, order, remove)  # back to vocabulary order
    return logits.masked_fill(remove, NEG_INF)


def _top_p_loop(logits, p):
    """The definition: smallest set of most probable tokens with mass ≥ p, ties with the crossing
    token kept; probabilities from math.exp, accumulated in Python."""
    out = []
    for row in logits.reshape(-1, logits.shape[-1]).tolist():
        m = max(row)
        weights = [math.exp(v - m) for v in row]
        z = math.fsum(weights)
        cut, mass = NEG_INF, 0.0
        for j in sorted(range(len(row)), key=lambda i: -row[i]):
            mass += weights[j] / z
            if mass >= p:
                cut = row[j]
                break
        out.append([v if v >= cut else NEG_INF for v in row])
    return torch.tensor(out, dtype=logits.dtype).reshape(logits.shape)


# --------------------------------------------------------------------------- top-k
@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 9, 20], ids=lambda k: f"k{k}")
def test_top_k_matches_a_sorted_loop_with_ties(k, dtype):
    """Integer logits in [-3, 3] on 8 tokens: ties at the k-th value in most rows."""
    g = torch.Generator().manual_seed(k)
    logits = torch.randint(-3, 4, (4, 25, 8), generator=g).to(dtype)  # batch dims (4, 25)
    out = top_k_filter(logits, k)
    assert out.dtype == dtype and out.shape == logits.shape
    assert torch.equal(out, _top_k_loop(logits, k)), "kept values must be unchanged, the rest -inf"
    kept = torch.isfinite(out).sum(-1)
    assert (kept >= min(k, 8)).all(), "ties with the k-th value are kept, so never fewer than k"
    if k < 8:
        assert (kept > k).any(), "test design: some row should have a tie across the k-th value"


def test_top_k_on_random_logits_keeps_exactly_k(dtype):
    logits = torch.randn(3, 50, 11, generator=torch.Generator().manual_seed(1)).to(dtype)
    for k in (1, 4, 10, 11, 12):
        out = top_k_filter(logits, k)
        assert torch.equal(out, _top_k_loop(logits, k))
        if k < 11 and dtype != torch.bfloat16:  # bfloat16 rounding can create ties
            assert (torch.isfinite(out).sum(-1) == k).all()


def test_top_k_with_minus_infinity_inputs(dtype):
    logits = torch.tensor([[0.5, NEG_INF, 2.0, NEG_INF, 1.0],
                           [NEG_INF, NEG_INF, 3.0, NEG_INF, NEG_INF],
                           [1.0, 1.0, NEG_INF, 0.0, 1.0]], dtype=dtype)
    for k in range(1, 7):
        assert torch.equal(top_k_filter(logits, k), _top_k_loop(logits, k)), f"k={k}"
    # k beyond the finite values keeps everything finite; the -inf stay -inf
    assert torch.equal(top_k_filter(logits, 4)[1], logits[1])


def test_top_k_needs_k_at_least_one():
    with pytest.raises(ValueError):
        top_k_filter(torch.zeros(3), 0)


# --------------------------------------------------------------------------- top-p
@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 0.5, 0.8, 0.95, 0.999], ids=lambda p: f"p{p}")
def test_top_p_matches_the_library_form_and_a_loop_without_ties(p):
    logits = 2 * torch.randn(2, 500, 10, generator=torch.Generator().manual_seed(2),
                             dtype=torch.float64)
    out = top_p_filter(logits, p)
    assert out.dtype == torch.float64 and out.shape == logits.shape
    assert torch.equal(out, _top_p_ascending(logits, p))
    assert torch.equal(out, _top_p_loop(logits, p))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 0.99], ids=lambda p: f"p{p}")
def test_top_p_keeps_the_smallest_top_set_with_mass_p(p):
    """Mass ≥ p, dropping the least probable kept token falls below p, and every kept token is
    more probable than every dropped one, on 3000 random rows."""
    logits = 1.5 * torch.randn(3000, 12, generator=torch.Generator().manual_seed(3),
                               dtype=torch.float64)
    kept = torch.isfinite(top_p_filter(logits, p))
    probs = torch.softmax(logits, -1)
    mass = (probs * kept).sum(-1)
    least_kept = probs.masked_fill(~kept, math.inf).min(-1).values
    most_dropped = probs.masked_fill(kept, -math.inf).max(-1).values
    assert (mass >= p).all(), f"kept mass {mass.min().item():.6f} < p = {p}"
    assert (mass - least_kept < p).all(), "not minimal: a smaller top set already reaches p"
    assert (least_kept > most_dropped).all(), "the kept tokens must be the most probable ones"


def test_top_p_keeps_ties_with_the_crossing_token(dtype):
    # probabilities ≈ 0.301, 0.301, 0.301, 0.041, 0.041, 0.015
    logits = torch.tensor([[2.0, 0.0, 2.0, -1.0, 2.0, 0.0]] * 2, dtype=dtype)
    two_reach_half = top_p_filter(logits, 0.5)  # the 2nd "2" crosses 0.5: all three 2s stay
    assert torch.equal(two_reach_half, logits.masked_fill(logits < 2, NEG_INF))
    crossing_at_a_zero = top_p_filter(logits, 0.92)  # 0.903 + 0.041 ≥ 0.92: both 0s stay
    assert torch.equal(crossing_at_a_zero, logits.masked_fill(logits < 0, NEG_INF))
    for p in (0.5, 0.92):
        assert torch.equal(top_p_filter(logits, p), _top_p_loop(logits, p))


def test_top_p_stops_at_the_token_whose_mass_reaches_p_exactly():
    """Probabilities 0.75 and 0.25 (exact in float64): with p = 0.75 the first token alone has
    mass ≥ p, so the second is dropped (a filter testing cum ≤ p would keep it)."""
    logits = torch.tensor([math.log(3.0), 0.0, NEG_INF], dtype=torch.float64)
    assert torch.softmax(logits, -1).tolist() == [0.75, 0.25, 0.0], "test design: exact masses"
    assert torch.equal(top_p_filter(logits, 0.75), logits.masked_fill(logits < 1, NEG_INF))
    assert torch.equal(top_p_filter(logits, 0.7500001), logits)


def test_top_p_of_one_or_more_keeps_everything_and_zero_keeps_the_maximum(dtype):
    logits = torch.tensor([[0.3, NEG_INF, -2.0, 1.5], [4.0, 4.0, 1.0, 0.0]], dtype=dtype)
    for p in (1.0, 1.5):
        assert torch.equal(top_p_filter(logits, p), logits)
    only_the_maximum = [[NEG_INF, NEG_INF, NEG_INF, 1.5], [4.0, 4.0, NEG_INF, NEG_INF]]
    assert torch.equal(top_p_filter(logits, 0.0), torch.tensor(only_the_maximum, dtype=dtype))


def test_top_p_in_low_precision_matches_the_loop_and_keeps_the_dtype(dtype):
    logits = (2 * torch.randn(400, 9, generator=torch.Generator().manual_seed(4))).to(dtype)
    for p in (0.3, 0.7, 0.9):
        out = top_p_filter(logits, p)
        assert out.dtype == dtype
        assert torch.equal(out, _top_p_loop(logits, p)), f"p={p}"


# --------------------------------------------------------------------------- sampling
def test_temperature_zero_is_the_first_argmax(dtype):
    logits = torch.randint(0, 3, (200, 7), generator=torch.Generator().manual_seed(5)).to(dtype)
    draws = sample_next_token(logits, temperature=0.0, top_k=2, top_p=0.5)
    first = [row.index(max(row)) for row in logits.tolist()]
    assert draws.dtype == torch.int64 and draws.tolist() == first


def test_next_token_probs_is_the_tempered_softmax(assert_matches_truth):
    logits = 3 * torch.randn(6, 9, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    for t in (0.25, 1.0, 3.0):
        truth = []
        for row in logits.tolist():
            w = [math.exp((v - max(row)) / t) for v in row]
            truth.append([x / math.fsum(w) for x in w])
        truth = torch.tensor(truth, dtype=torch.float64)
        assert_matches_truth(next_token_probs(logits, t), truth, torch.float64,
                             magnitude=1 + logits.abs().max().item() / t)


@pytest.mark.parametrize("t,k,p", [(1.0, 3, 0.6), (0.5, 6, 0.8), (2.0, 4, 0.9), (1.0, 12, 0.3)],
                         ids=["t1-k3-p.6", "t.5-k6-p.8", "t2-k4-p.9", "t1-k12-p.3"])
def test_next_token_probs_is_temperature_then_top_k_then_top_p(t, k, p, assert_matches_truth):
    logits = 2 * torch.randn(300, 10, generator=torch.Generator().manual_seed(7),
                             dtype=torch.float64)
    truth = torch.softmax(_top_p_loop(_top_k_loop(logits / t, k), p), -1)
    assert_matches_truth(next_token_probs(logits, t, k, p), truth, torch.float64,
                         magnitude=1 + logits.abs().max().item() / t)


def test_the_order_of_the_filters_changes_the_support():
    """Two cases where another order would keep a different set of tokens."""
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    # top-p on the untempered logits keeps 3 tokens (0.644 + 0.237 < 0.9); after T = 0.5 the
    # probabilities are 0.867, 0.117, ... and 2 tokens reach 0.9
    assert torch.isfinite(top_p_filter(logits, 0.9)).sum().item() == 3
    support = next_token_probs(logits, temperature=0.5, top_p=0.9) > 0
    assert support.tolist() == [True, True, False, False], "the temperature comes before top-p"
    # top-p first on 10 tokens (max prob ≈ 0.26) keeps several, top-k = 2 then leaves 2; top-k
    # first leaves two of probabilities 0.525, 0.475, and top-p = 0.5 then keeps only one
    logits = torch.tensor([1.0, 0.9] + [0.0] * 8, dtype=torch.float64)
    assert torch.isfinite(top_k_filter(top_p_filter(logits, 0.5), 2)).sum().item() == 2
    support = next_token_probs(logits, top_k=2, top_p=0.5) > 0
    assert support.tolist() == [True] + [False] * 9, "top-k comes before top-p"


@pytest.mark.parametrize("logit_dtype,t,k,p", [
    (torch.float64, 1.0, None, None),
    (torch.float32, 0.7, None, None),
    (torch.float32, 1.5, 5, None),
    (torch.float64, 1.0, None, 0.8),
    (torch.float32, 0.8, 6, 0.9),
    (torch.bfloat16, 1.3, 7, 0.95),
], ids=["f64-t1", "f32-t.7", "f32-t1.5-k5", "f64-p.8", "f32-t.8-k6-p.9", "bf16-t1.3-k7-p.95"])
def test_sample_frequencies_pass_a_chi_square_test(logit_dtype, t, k, p):
    """50 000 draws of one distribution over 8 tokens against ``next_token_probs``; no draw may
    land outside the kept support. False-fail rate 1e-6."""
    logits = torch.randn(8, generator=torch.Generator().manual_seed(8)).to(logit_dtype)
    n = 50_000
    draws = sample_next_token(logits.expand(n, 8), t, k, p, torch.Generator().manual_seed(9))
    assert draws.dtype == torch.int64 and draws.shape == (n,)
    probs = next_token_probs(logits, t, k, p)
    assert probs.dtype == (torch.float32 if logit_dtype == torch.bfloat16 else logit_dtype)
    _assert_follows(torch.bincount(draws, minlength=8), probs)


def test_sampling_shapes_dtypes_and_seeds():
    logits = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(10))
    for dt in (torch.float32, torch.float64, torch.bfloat16):
        x = logits.to(dt)
        a = sample_next_token(x, 0.9, 4, 0.9, torch.Generator().manual_seed(11))
        b = sample_next_token(x, 0.9, 4, 0.9, torch.Generator().manual_seed(11))
        assert a.dtype == torch.int64 and a.shape == (2, 3)
        assert torch.equal(a, b), "the same seeded generator must give the same draws"
        assert sample_next_token(x, 0.0).shape == (2, 3)
    single = sample_next_token(logits[0, 0], generator=torch.Generator().manual_seed(0))
    assert single.dtype == torch.int64 and single.shape == ()


def test_draws_stay_in_the_kept_support():
    logits = torch.randn(1000, 12, generator=torch.Generator().manual_seed(12))
    for dt in (torch.float32, torch.bfloat16):
        for k, p in ((3, None), (None, 0.5), (5, 0.7)):
            x = logits.to(dt)
            draws = sample_next_token(x, 1.2, k, p, torch.Generator().manual_seed(13))
            kept = next_token_probs(x, 1.2, k, p) > 0
            assert kept.gather(-1, draws[:, None]).all(), f"drawn outside the support: {dt} {k} {p}"


# --------------------------------------------------------------------------- GPT key/value cache
@pytest.fixture(scope="module")
def gpt():
    """A float64 GPT with random weights large enough that its logits spread over several units."""
    model = GPT(vocab_size=20, context_length=16, d_model=16, n_layers=2, n_heads=4, d_ff=32)
    model = model.double().eval()
    g = torch.Generator().manual_seed(14)
    with torch.no_grad():
        for param in model.parameters():
            noise = torch.randn(param.shape, generator=g, dtype=torch.float64)
            param.copy_(1 + 0.2 * noise if param.dim() == 1 else 0.6 * noise)
    return model


def _tokens(shape, seed):
    return torch.randint(0, 20, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("chunk", [1, 3], ids=["one-at-a-time", "chunks-of-3"])
def test_cached_logits_equal_the_full_sequence(gpt, chunk):
    idx = _tokens((2, 16), 15)
    with torch.no_grad():
        full = gpt(idx)
        cache = gpt.make_cache(2, 16)
        pieces = [gpt(idx[:, :4], cache=cache)]
        for start in range(4, 16, chunk):
            pieces.append(gpt(idx[:, start:start + chunk], cache=cache))
    assert full.abs().max().item() > 1, "test design: the logits should not be tiny"
    assert all(c.pos == 16 for c in cache)
    result = tolerance.compare(torch.cat(pieces, dim=1), full, 1e-12)
    assert result.ok, f"cached logits differ from the full sequence's: {result.reason}"


def test_the_cache_and_the_context_are_bounded(gpt):
    cache = gpt.make_cache(1)
    assert cache[0].k.shape[-2] == 16 and cache[0].k.dtype == torch.float64
    with torch.no_grad():
        small = gpt.make_cache(1, 6)
        idx = _tokens((1, 6), 16)
        gpt(idx[:, :4], cache=small)
        with pytest.raises(ValueError):
            gpt(_tokens((1, 3), 17), cache=small)  # 7 positions in a cache of 6
        # the refused call wrote nothing: the cache goes on from position 4
        result = tolerance.compare(gpt(idx[:, 4:], cache=small), gpt(idx)[:, 4:], 1e-12)
        assert result.ok, f"after a refused call: {result.reason}"
        big = gpt.make_cache(1, 32)
        gpt(_tokens((1, 10), 18), cache=big)
        with pytest.raises(ValueError):
            gpt(_tokens((1, 7), 19), cache=big)  # 17 positions, context 16
        with pytest.raises(ValueError):
            gpt(_tokens((1, 17), 20))


# --------------------------------------------------------------------------- generate
SAMPLERS = {"greedy": dict(temperature=0.0), "t1": dict(temperature=1.0),
            "t.8-k10-p.9": dict(temperature=0.8, top_k=10, top_p=0.9)}


@pytest.mark.parametrize("sampler", list(SAMPLERS), ids=list(SAMPLERS))
def test_generate_with_and_without_cache_give_the_same_tokens(gpt, sampler):
    prompt = _tokens((3, 4), 21)
    for seed in range(3):
        with_cache = generate(gpt, prompt, 12, generator=torch.Generator().manual_seed(seed),
                              use_cache=True, **SAMPLERS[sampler])
        without = generate(gpt, prompt, 12, generator=torch.Generator().manual_seed(seed),
                           use_cache=False, **SAMPLERS[sampler])
        assert with_cache.dtype == torch.int64 and with_cache.shape == (3, 16)
        assert torch.equal(with_cache, without), f"seed {seed}"


def _greedy_loop(model, prompt, n):
    """n steps of argmax over the last position's logits, the whole sequence fed every step."""
    seq = prompt
    with torch.no_grad():
        for _ in range(n):
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return seq


def test_greedy_generate_is_a_loop_of_argmax(gpt):
    prompt = _tokens((3, 5), 22)
    seq = _greedy_loop(gpt, prompt, 11)
    for use_cache in (True, False):
        assert torch.equal(generate(gpt, prompt, 11, temperature=0.0, use_cache=use_cache), seq)


def test_sampling_generate_is_a_loop_of_sample_next_token(gpt):
    prompt = _tokens((3, 4), 23)
    for seed in (0, 1):
        g = torch.Generator().manual_seed(seed)
        seq = prompt
        with torch.no_grad():
            for _ in range(12):
                token = sample_next_token(gpt(seq)[:, -1], 1.1, 8, 0.95, generator=g)
                seq = torch.cat([seq, token[:, None]], dim=1)
        for use_cache in (True, False):
            out = generate(gpt, prompt, 12, temperature=1.1, top_k=8, top_p=0.95,
                           generator=torch.Generator().manual_seed(seed), use_cache=use_cache)
            assert torch.equal(out, seq), f"seed {seed}, use_cache={use_cache}"


def test_generate_respects_max_new_tokens(gpt):
    prompt = _tokens((3, 4), 24)
    for use_cache in (True, False):
        for n in (0, 1, 5, 12, 13):  # 13: 17 tokens, the last one never fed to the model
            out = generate(gpt, prompt, n, generator=torch.Generator().manual_seed(0),
                           use_cache=use_cache)
            assert out.shape == (3, 4 + n) and torch.equal(out[:, :4], prompt)
        with pytest.raises(ValueError):  # would feed 17 positions to a context of 16
            generate(gpt, prompt, 14, use_cache=use_cache)


def _with_eos(tokens, eos, prompt_len):
    """The expected output: each row's continuation up to its first eos, then eos; cut after the
    step at which every row has emitted eos."""
    rows, firsts = [], []
    for row in tokens.tolist():
        gen = row[prompt_len:]
        first = gen.index(eos) if eos in gen else None
        firsts.append(first)
        if first is not None:
            gen = gen[:first] + [eos] * (len(gen) - first)
        rows.append(row[:prompt_len] + gen)
    out = torch.tensor(rows)
    if all(f is not None for f in firsts):
        out = out[:, :prompt_len + max(firsts) + 1]
    return out


def test_greedy_generate_with_eos(gpt):
    prompt = _tokens((3, 4), 25)
    greedy = _greedy_loop(gpt, prompt, 12)
    continuations = [set(row[4:]) for row in greedy.tolist()]
    everywhere = sorted(set.intersection(*continuations))
    somewhere = sorted(set.union(*continuations) - set(everywhere))
    assert everywhere and somewhere, "test design: need an eos in every row and one in some rows"
    for eos in everywhere[:2] + somewhere[:2]:
        expected = _with_eos(greedy, eos, 4)
        for use_cache in (True, False):
            out = generate(gpt, prompt, 12, temperature=0.0, eos_id=eos, use_cache=use_cache)
            assert torch.equal(out, expected), f"eos {eos}, use_cache={use_cache}"
    stops_early = [_with_eos(greedy, eos, 4).shape[1] < 16 for eos in everywhere[:2]]
    assert any(stops_early), "test design: some eos should stop every row before 12 tokens"


def test_sampling_generate_with_eos_finishes_rows(gpt):
    """Token 4 turns up in every row's sampled continuation (it stops early), token 3 in few."""
    prompt = _tokens((3, 4), 26)
    stopped_early = ran_full = 0
    for eos in (4, 3):
        for seed in range(4):
            out = generate(gpt, prompt, 12, temperature=1.5, eos_id=eos,
                           generator=torch.Generator().manual_seed(seed))
            assert torch.equal(out[:, :4], prompt)
            firsts = []
            for row in out[:, 4:].tolist():
                first = row.index(eos) if eos in row else None
                firsts.append(first)
                if first is not None:
                    assert all(t == eos for t in row[first:]), f"seed {seed}: finished row went on"
            if out.shape[1] < 16:
                stopped_early += 1
                assert None not in firsts, f"seed {seed}: stopped before every row emitted eos"
                assert max(firsts) == out.shape[1] - 5, f"seed {seed}: did not stop at once"
            else:
                ran_full += 1
            # the same draws as without eos, up to each row's first eos
            free = generate(gpt, prompt, 12, temperature=1.5,
                            generator=torch.Generator().manual_seed(seed))
            assert torch.equal(out, _with_eos(free, eos, 4)), f"eos {eos}, seed {seed}"
    assert stopped_early and ran_full, "test design: some runs should stop early, some not"


# --------------------------------------------------------------------------- beam search
BOS, EOS = 0, 1


def _toy_lm(seed, vocab_size, max_len, scale=1.5):
    """A table (max_len, V, V) of next-token log-probabilities per position and last token; bos
    is never generated."""
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(max_len, vocab_size, vocab_size, generator=g, dtype=torch.float64)
    logits[..., BOS] = NEG_INF
    return torch.log_softmax(logits, dim=-1)


def _step(table):
    return lambda pre: table[pre.shape[1] - 1][pre[:, -1]]


def _log_prob(table, seq):
    seq = seq.tolist() if torch.is_tensor(seq) else seq
    return sum(table[t, seq[t], seq[t + 1]].item() for t in range(len(seq) - 1))


def _exhaustive_by_recursion(table, alpha):
    """Every sequence bos y_1 .. y_L (L ≤ max_len, ending at the first eos), scored in Python."""
    max_len, vocab_size = table.shape[0], table.shape[-1]
    rows = table.tolist()
    best = (None, -math.inf)

    def visit(seq, logp):
        nonlocal best
        L = len(seq) - 1
        if L == max_len or (L > 0 and seq[-1] == EOS):
            score = logp / ((5 + L) / 6) ** alpha
            if score > best[1]:
                best = (seq, score)
            return
        for token in range(vocab_size):
            visit(seq + [token], logp + rows[L][seq[-1]][token])

    visit([BOS], 0.0)
    return best


def _greedy(table):
    seq = [BOS]
    while len(seq) - 1 < table.shape[0] and (len(seq) == 1 or seq[-1] != EOS):
        seq.append(int(table[len(seq) - 1, seq[-1]].argmax()))
    return seq


def test_length_penalty_factor_is_gnmt():
    assert length_penalty_factor(7, 0.0) == 1.0
    assert length_penalty_factor(1, 1.0) == 1.0
    assert length_penalty_factor(7, 0.6) == pytest.approx(2.0 ** 0.6)
    assert length_penalty_factor(13, 2.0) == pytest.approx(9.0)


ALPHAS = [0.0, 0.6, 1.0, 2.0]


@pytest.mark.parametrize("alpha", ALPHAS, ids=lambda a: f"alpha{a}")
def test_a_wide_beam_and_both_exhaustive_searches_agree(alpha):
    for seed, (V, max_len) in enumerate([(4, 4), (5, 3), (3, 5), (4, 4)]):
        table = _toy_lm(seed, V, max_len)
        step = _step(table)
        truth_seq, truth_score = _exhaustive_by_recursion(table, alpha)
        seq, score = exhaustive_search(step, BOS, EOS, V, max_len, alpha)
        assert seq.dtype == torch.int64 and seq.tolist() == truth_seq, f"seed {seed}"
        assert score == pytest.approx(truth_score, rel=1e-12)
        beam_seq, beam_score = beam_search(step, BOS, EOS, V ** max_len, max_len, alpha)
        assert beam_seq.tolist() == truth_seq, f"seed {seed}: a beam of V^max_len is exhaustive"
        assert beam_score == pytest.approx(truth_score, rel=1e-12)


def test_a_beam_of_one_without_penalty_is_greedy():
    for seed in range(10):
        table = _toy_lm(100 + seed, 5, 5)
        seq, score = beam_search(_step(table), BOS, EOS, 1, 5, length_penalty=0.0)
        expected = _greedy(table)
        assert seq.tolist() == expected, f"seed {seed}"
        assert score == pytest.approx(_log_prob(table, expected), rel=1e-12)


@pytest.mark.parametrize("alpha", ALPHAS, ids=lambda a: f"alpha{a}")
def test_beam_outputs_are_well_formed_and_scored(alpha):
    """The returned score is log p(y) / lp(L) recomputed from the table, never above the exact
    optimum; the sequence starts with bos, holds no other bos, no eos before its end, and ends
    with eos when shorter than max_len."""
    V, max_len = 5, 4
    suboptimal = 0
    for seed in range(12):
        table = _toy_lm(200 + seed, V, max_len)
        _, optimum = _exhaustive_by_recursion(table, alpha)
        for width in (1, 2, 3, 7):
            seq, score = beam_search(_step(table), BOS, EOS, width, max_len, alpha)
            y = seq.tolist()
            L = len(y) - 1
            assert seq.dtype == torch.int64 and 1 <= L <= max_len and y[0] == BOS
            assert BOS not in y[1:] and EOS not in y[1:-1]
            assert L == max_len or y[-1] == EOS, f"ended early without eos: {y}"
            assert score == pytest.approx(_log_prob(table, y) / ((5 + L) / 6) ** alpha, rel=1e-12)
            assert score <= optimum + 1e-12
            suboptimal += score < optimum - 1e-9
    assert suboptimal, "test design: some narrow beam on these tables should miss the optimum"


def _table_from(rows, vocab_size, max_len):
    """A toy LM from {(position, last token): {token: prob}}; unnamed rows uniform without bos."""
    shape = (max_len, vocab_size, vocab_size)
    table = torch.full(shape, 1.0 / (vocab_size - 1), dtype=torch.float64)
    table[..., BOS] = 0.0
    for (t, last), probs in rows.items():
        table[t, last] = 0.0
        for token, prob in probs.items():
            table[t, last, token] = prob
    return table.log()


def test_narrow_beams_miss_the_optimum():
    """Tokens bos, eos, a, b, c. After bos: a 0.4, b 0.35, c 0.25; after c: eos 1; after a or b:
    uniform over eos, a, b, c. The best sequence is c eos (0.25); beams of 1 and 2 keep a and b,
    whose best completion is 0.4 * 0.25 = 0.1."""
    a, b, c = 2, 3, 4
    table = _table_from({(0, BOS): {a: 0.4, b: 0.35, c: 0.25}, (1, c): {EOS: 1.0}}, 5, 2)
    step = _step(table)
    best, best_score = exhaustive_search(step, BOS, EOS, 5, 2, 0.0)
    assert best.tolist() == [BOS, c, EOS] and best_score == pytest.approx(math.log(0.25))
    for width in (1, 2):
        seq, score = beam_search(step, BOS, EOS, width, 2, 0.0)
        assert seq.tolist()[1] == a and score == pytest.approx(math.log(0.1)), f"width {width}"
        assert score < best_score
    seq, score = beam_search(step, BOS, EOS, 3, 2, 0.0)
    assert seq.tolist() == [BOS, c, EOS]


def test_the_length_penalty_trades_probability_for_length():
    """After bos: eos 0.5, a 0.5; then after a: a 0.9, eos 0.1; then after a: eos 0.9, a 0.1.
    'eos' has log p = log 0.5 = -0.69; 'a a eos' has log p = log 0.405 = -0.90, but at α = 2 it is
    divided by lp(3) = (8/6)^2 = 1.78: -0.51 beats 'eos' (lp(1) = 1)."""
    a = 2
    table = _table_from({(0, BOS): {EOS: 0.5, a: 0.5}, (1, a): {a: 0.9, EOS: 0.1},
                         (2, a): {EOS: 0.9, a: 0.1}}, 3, 3)
    step = _step(table)
    for name, search in (("exhaustive", lambda al: exhaustive_search(step, BOS, EOS, 3, 3, al)),
                         ("beam", lambda al: beam_search(step, BOS, EOS, 27, 3, al))):
        short, short_score = search(0.0)
        long, long_score = search(2.0)
        assert short.tolist() == [BOS, EOS], name
        assert short_score == pytest.approx(math.log(0.5))
        assert long.tolist() == [BOS, a, a, EOS], name
        assert long_score == pytest.approx(math.log(0.5 * 0.9 * 0.9) / (8 / 6) ** 2)


@pytest.mark.parametrize("log_p_long,winner", [(-1.155, "long"), (-1.18, "short")],
                         ids=["long-wins", "short-wins"])
def test_the_length_counts_eos_but_not_bos(log_p_long, winner):
    """At α = 1, 'eos' (log p = -1, L = 1, lp = 1) against 'a eos' (L = 2, lp = 7/6): the long one
    wins iff log p > -7/6 = -1.1667. Counting bos too (L + 1) would make the short one win at
    -1.155; leaving eos out (L - 1) would make the long one win at -1.18."""
    a, b, c = 2, 3, 4
    p_a = 1 - math.exp(-1.0)
    p_eos_after_a = math.exp(log_p_long) / p_a
    rest = (1 - p_eos_after_a) / 3
    table = _table_from({(0, BOS): {EOS: math.exp(-1.0), a: p_a},
                         (1, a): {EOS: p_eos_after_a, a: rest, b: rest, c: rest}}, 5, 2)
    step = _step(table)
    expected = [BOS, a, EOS] if winner == "long" else [BOS, EOS]
    for name, (seq, _) in (("exhaustive", exhaustive_search(step, BOS, EOS, 5, 2, 1.0)),
                           ("beam", beam_search(step, BOS, EOS, 25, 2, 1.0))):
        assert seq.tolist() == expected, name
    assert _exhaustive_by_recursion(table, 1.0)[0] == expected


def test_the_optimal_length_never_decreases_with_alpha():
    """Maximising log p(y) / lp(L) (log p < 0) is minimising f - α g with f = log(-log p(y)) and
    g = log((5 + L) / 6). If y1 is optimal at α1 and y2 at α2 > α1, adding the two optimality
    inequalities gives (α2 - α1)(g1 - g2) ≤ 0: the optimal length cannot shrink as α grows."""
    longer = 0
    for seed in range(15):
        table = _toy_lm(300 + seed, 4, 4, scale=1.0)
        lengths = [len(_exhaustive_by_recursion(table, alpha)[0]) for alpha in ALPHAS]
        assert lengths == sorted(lengths), f"seed {seed}: lengths {lengths} for α {ALPHAS}"
        longer += lengths[-1] > lengths[0]
    assert longer, "test design: some table should prefer a longer output at α = 2"


# --------------------------------------------------------------------------- speculative decoding
def _distributions(seed, rows, vocab_size):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(rows, vocab_size, generator=g, dtype=torch.float64), -1)


def test_acceptance_rates_are_the_overlap():
    p, q = _distributions(27, 4, 7), _distributions(28, 3, 7)
    loop = [math.fsum(qx * min(1.0, px / qx) for px, qx in zip(p[i].tolist(), q[i].tolist()))
            for i in range(3)]
    for target in (p, p[:3]):
        beta = acceptance_rates(target, q)
        assert beta.shape == (3,) and beta.tolist() == pytest.approx(loop, rel=1e-12)
    assert acceptance_rates(p, p[:3]).tolist() == pytest.approx([1.0] * 3, rel=1e-12)


def test_accepted_length_distribution_is_the_product_formula():
    p, q = _distributions(29, 5, 6), _distributions(30, 4, 6)
    beta = [math.fsum(min(a, b) for a, b in zip(p[i].tolist(), q[i].tolist())) for i in range(4)]
    expected = [math.prod(beta[:i]) * (1 - beta[i]) for i in range(4)] + [math.prod(beta)]
    dist = accepted_length_distribution(p, q)
    assert dist.shape == (5,) and dist.tolist() == pytest.approx(expected, rel=1e-12)
    assert dist.sum().item() == pytest.approx(1.0, rel=1e-12)
    assert accepted_length_distribution(p, p[:4]).tolist() == pytest.approx([0, 0, 0, 0, 1])


def test_speculative_decoding_samples_from_the_target():
    """20 000 rounds with K = 3 draft tokens over 6 tokens. The draft never proposes token 5 at
    position 0 (only the residual can supply it) and the target gives token 0 probability 0 at
    position 1. Chi-square tests, at 1e-6 / (K + 2) each: the number accepted against
    ``accepted_length_distribution``, and the j-th emitted token (present when at least j drafts
    were accepted) against p_j for j = 0 .. K: the first is the first draft token if accepted,
    else the residual draw; the last exists only when all K are accepted and comes from p_K."""
    K, V, rounds = 3, 6, 20_000
    p, q = _distributions(31, K + 1, V), _distributions(32, K, V)
    q[0, 5] = 0.0
    p[1, 0] = 0.0
    p, q = p / p.sum(-1, keepdim=True), q / q.sum(-1, keepdim=True)
    drafts = torch.multinomial(q, rounds, replacement=True,
                               generator=torch.Generator().manual_seed(33)).T  # (rounds, K)
    g = torch.Generator().manual_seed(34)
    n_accepted = []
    emitted_at = [[] for _ in range(K + 1)]
    for r in range(rounds):
        accepted, nxt = speculative_accept(p, q, drafts[r], generator=g)
        assert accepted.dtype == torch.int64 and nxt.dtype == torch.int64 and nxt.shape == ()
        n = accepted.shape[0]
        assert torch.equal(accepted, drafts[r, :n]), "the accepted tokens are a draft prefix"
        n_accepted.append(n)
        for j, token in enumerate(accepted.tolist() + [int(nxt)]):
            emitted_at[j].append(token)
    false_fail = FALSE_FAIL / (K + 2)
    _assert_follows(torch.bincount(torch.tensor(n_accepted), minlength=K + 1),
                    accepted_length_distribution(p, q), false_fail, "accepted length")
    for j in range(K + 1):
        _assert_follows(torch.bincount(torch.tensor(emitted_at[j]), minlength=V), p[j],
                        false_fail, f"emitted token {j}")


def test_speculative_accept_edge_cases():
    p = _distributions(35, 4, 5)
    g = torch.Generator().manual_seed(36)
    drafts = torch.multinomial(p[:3], 200, replacement=True, generator=g).T
    for r in range(200):  # a draft equal to the target is always accepted
        accepted, nxt = speculative_accept(p, p[:3], drafts[r], generator=g)
        assert torch.equal(accepted, drafts[r]) and 0 <= int(nxt) < 5
    # a draft token the target gives probability 0 is always rejected, and the residual
    # max(0, p - q) (here p itself on tokens 1, 2) supplies the next token
    target = torch.tensor([[0.0, 0.5, 0.5, 0.0], [0.25] * 4], dtype=torch.float64)
    draft = torch.tensor([[0.5, 0.0, 0.0, 0.5]], dtype=torch.float64)
    for r in range(100):
        token = torch.tensor([0 if r % 2 else 3])
        accepted, nxt = speculative_accept(target, draft, token, generator=g)
        assert accepted.shape == (0,) and accepted.dtype == torch.int64
        assert int(nxt) in (1, 2)
