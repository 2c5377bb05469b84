"""reference/fairness.py against Python loops (the WEAT effect size with math.sqrt, group rates
counted one example at a time), against its invariances and its bound, against an exhaustive
permutation test on tiny sets, against simulated data sets with and without a planted bias (the
permutation test's size and the uniformity of its p-values under the null), and against
hand-worked fairness gaps."""

import itertools
import math

import pytest
import torch

from reference.fairness import (demographic_parity_difference, equalized_odds_difference,
                                planted_bias_embeddings, weat_effect_size, weat_p_value)

F64 = torch.float64


def _sets(gen, sizes=(5, 7, 4, 6), dim=10):
    return tuple(torch.randn(n, dim, generator=gen, dtype=F64) for n in sizes)


# --------------------------------------------------------------------------- loop versions
def _cos(u, v):
    dot = sum(a * b for a, b in zip(u, v))
    return dot / (math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v)))


def _association(w, A, B):
    return (sum(_cos(w, a) for a in A) / len(A)) - (sum(_cos(w, b) for b in B) / len(B))


def _sample_std(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))  # Bessel


def _loop_effect(X, Y, A, B):
    X, Y, A, B = (t.double().tolist() for t in (X, Y, A, B))
    s_x = [_association(x, A, B) for x in X]
    s_y = [_association(y, A, B) for y in Y]
    return (sum(s_x) / len(s_x) - sum(s_y) / len(s_y)) / _sample_std(s_x + s_y)


def _exhaustive_p_value(X, Y, A, B):
    """#{splits of X ∪ Y into |X| and |Y| words with S >= S_obs} / #{splits}, the observed split
    included: the exact permutation p-value that random draws estimate."""
    words = torch.cat([X, Y]).tolist()
    A, B = A.tolist(), B.tolist()
    s = [_association(w, A, B) for w in words]
    n_x = X.shape[0]

    def stat(members):
        return sum(s[i] for i in members) - sum(s[i] for i in range(len(s)) if i not in members)

    observed = stat(set(range(n_x)))
    splits = [set(c) for c in itertools.combinations(range(len(s)), n_x)]
    others = [stat(c) for c in splits if c != set(range(n_x))]
    assert min(abs(o - observed) for o in others) > 1e-9, "a near-tie would make the count fragile"
    return (1 + sum(o >= observed for o in others)) / len(splits)


def _binomial_range(m, p, tail):
    """The central range [lo, hi] of Binomial(m, p) with P(below lo) <= tail / 2 and
    P(above hi) <= tail / 2."""
    pmf = [math.comb(m, k) * p ** k * (1 - p) ** (m - k) for k in range(m + 1)]
    lo, below = 0, 0.0
    while below + pmf[lo] <= tail / 2:
        below += pmf[lo]
        lo += 1
    hi, above = m, 0.0
    while above + pmf[hi] <= tail / 2:
        above += pmf[hi]
        hi -= 1
    return lo, hi


def _loop_rate(pred, keep):
    kept = [p for p, k in zip(pred, keep) if k]
    return sum(kept) / len(kept)


def _loop_gaps(pred, labels, groups):
    pred, labels, groups = (t.long().tolist() for t in (pred, labels, groups))
    ids = sorted(set(groups))

    def gap(cond):
        rates = [_loop_rate(pred, [gr == g and cond(y) for gr, y in zip(groups, labels)])
                 for g in ids]
        return max(rates) - min(rates)

    return gap(lambda y: True), max(gap(lambda y: y == 1), gap(lambda y: y == 0))


# --------------------------------------------------------------------------- effect size
def test_weat_effect_size_matches_a_loop(dtype, gen, assert_matches_truth):
    X, Y, A, B = (t.to(dtype) for t in _sets(gen))
    got = weat_effect_size(X, Y, A, B)
    assert got.shape == ()
    truth = _loop_effect(X, Y, A, B)
    # a rounding error e in each cosine moves the effect by about (1 + |effect|) e / std(s)
    s = [_association(w, A.tolist(), B.tolist()) for w in torch.cat([X, Y]).double().tolist()]
    magnitude = (1 + abs(truth)) / _sample_std(s)
    assert_matches_truth(got, torch.tensor(truth, dtype=F64), dtype, magnitude)


@pytest.mark.parametrize("n_x,n_y", [(4, 4), (3, 5)], ids=["equal", "unequal"])
def test_effect_size_reaches_its_bound_with_the_sample_std(gen, n_x, n_y):
    """When every word of a set has the same association, |effect| = sqrt((n-1) n / (Nx Ny)),
    n = Nx + Ny: 2 sqrt(7/8) for 4 + 4 words. With the population std it would be exactly 2."""
    x, y = torch.randn(2, 6, generator=gen, dtype=F64)
    A, B = torch.randn(3, 6, generator=gen, dtype=F64), torch.randn(4, 6, generator=gen, dtype=F64)
    X, Y = x.expand(n_x, 6), y.expand(n_y, 6)
    n = n_x + n_y
    bound = math.sqrt((n - 1) * n / (n_x * n_y))
    assert abs(weat_effect_size(X, Y, A, B).item()) == pytest.approx(bound, rel=1e-12)
    # any other data stay within the bound (between-set spread is part of the total spread)
    for _ in range(20):
        X, Y, A, B = _sets(gen, (n_x, n_y, 3, 4), 6)
        assert abs(weat_effect_size(X, Y, A, B).item()) <= bound * (1 + 1e-12)


def test_effect_size_invariances(gen):
    X, Y, A, B = _sets(gen)
    effect = weat_effect_size(X, Y, A, B).item()

    def scaled(t):  # a positive factor per word changes no cosine
        return t * torch.rand(t.shape[0], 1, generator=gen, dtype=F64).mul(10).add(0.1)

    assert weat_effect_size(*map(scaled, (X, Y, A, B))).item() == pytest.approx(effect, rel=1e-12)
    assert weat_effect_size(Y, X, A, B).item() == pytest.approx(-effect, rel=1e-12)
    assert weat_effect_size(X, Y, B, A).item() == pytest.approx(-effect, rel=1e-12)


def test_planted_bias_gives_a_large_effect_and_none_gives_almost_none():
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        assert weat_effect_size(*planted_bias_embeddings(8, 50, 1.0, gen)).item() >= 1
    # Without bias, X and Y are exchangeable: the effect is about (mean_X - mean_Y) / std, whose
    # standard deviation is sqrt(1/Nx + 1/Ny) = 0.063 for 500 + 500 words; allow 5 of them.
    X, Y, A, B = planted_bias_embeddings(500, 20, 0.0, gen)
    assert abs(weat_effect_size(X, Y, A, B).item()) < 5 * math.sqrt(2 / 500)


def test_planted_bias_embeddings_follow_their_construction():
    gen = torch.Generator().manual_seed(3)
    X, Y, A, B = planted_bias_embeddings(4, 6, 2.5, gen, dtype=torch.float32)
    assert all(t.shape == (4, 6) and t.dtype == torch.float32 for t in (X, Y, A, B))
    again = torch.Generator().manual_seed(3)
    z = [torch.randn(4, 6, generator=again, dtype=F64) / math.sqrt(6) for _ in range(4)]
    e_a, e_b = torch.eye(6, dtype=F64)[:2]
    expected = (z[2] + 2.5 * e_a, z[3] + 2.5 * e_b, z[0] + e_a, z[1] + e_b)  # drawn A, B, X, Y
    for got, want in zip((X, Y, A, B), expected):
        assert torch.equal(got, want.float())
    with pytest.raises(ValueError):
        planted_bias_embeddings(4, 1, 1.0, gen)


# --------------------------------------------------------------------------- permutation test
def test_weat_p_value_follows_its_recipe(gen):
    X, Y, A, B = _sets(gen, (4, 3, 5, 2), 8)
    s = [_association(w, A.tolist(), B.tolist()) for w in torch.cat([X, Y]).tolist()]
    observed = sum(s[:4]) - sum(s[4:])
    replay = torch.Generator().manual_seed(11)
    exceed = 0
    for _ in range(60):
        perm = torch.randperm(7, generator=replay).tolist()
        # (a draw that repeats the observed split in another order sums to S_obs up to rounding)
        exceed += sum(s[i] for i in perm[:4]) - sum(s[i] for i in perm[4:]) >= observed - 1e-12
    assert 0 < exceed < 60, "the case should separate counting from not counting"
    got = weat_p_value(X, Y, A, B, 60, torch.Generator().manual_seed(11))
    assert type(got) is float
    assert got == (1 + exceed) / 61


@pytest.mark.parametrize("bias,seed,exact", [(0.0, 4, 0.65), (0.0, 2, 0.45), (0.3, 1, 0.1),
                                             (1.0, 0, 0.05)],
                         ids=["p0.65", "p0.45", "p0.10", "p0.05-most-extreme"])
def test_weat_p_value_estimates_the_exhaustive_p_value(bias, seed, exact):
    """3 + 3 words have C(6, 3) = 20 splits. A random draw hits each with probability 1/20, so
    the count of draws at or above S_obs is Binomial(P, p_exact) and the add-one p-value is
    (1 + count) / (1 + P): within 5 binomial standard deviations plus 1 / (1 + P) of p_exact.
    The cases span p_exact from its smallest value, 1/20 (the observed split is the most
    extreme one: a draw counts only when it repeats it exactly), upwards."""
    X, Y, A, B = planted_bias_embeddings(3, 4, bias, torch.Generator().manual_seed(seed))
    assert _exhaustive_p_value(X, Y, A, B) == pytest.approx(exact, rel=1e-12)
    n_perm = 20_000
    got = weat_p_value(X, Y, A, B, n_perm, torch.Generator().manual_seed(6))
    allowed = 5 * math.sqrt(exact * (1 - exact) / n_perm) + 1 / (1 + n_perm)
    assert abs(got - exact) <= allowed, f"exact {exact}, estimated {got}"


def test_weat_p_value_is_small_with_a_planted_bias():
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        X, Y, A, B = planted_bias_embeddings(8, 50, 1.0, gen)
        assert weat_p_value(X, Y, A, B, 999, gen) < 0.01


def test_weat_p_value_under_the_null_has_size_alpha_and_is_uniform():
    """1000 data sets without bias, 199 draws each. With the add-one rule the p-value takes the
    values k / 200 and, under the null, each with probability 1/200 (ties, a draw repeating the
    observed split, make it slightly conservative: by at most 199 / C(20, 10) ≈ 0.1% of the
    data sets). So

    * the number of rejections at alpha = 0.05 (p <= 0.05: k <= 10) is Binomial(1000, 0.05);
      the range below is where it falls with probability 1 - 1e-6, computed for a rate of
      0.0499 (the low end) and 0.05 (the high end);
    * the p-values fall into the five bins k in 1..40, 41..80, ... with probability 1/5 each;
      Pearson's statistic has 4 degrees of freedom, P(chi2_4 > x) = exp(-x/2) (1 + x/2), which
      is 1e-6 at x = 33.4."""
    gen = torch.Generator().manual_seed(2024)
    n_sets, n_perm = 1000, 199
    p = [weat_p_value(*planted_bias_embeddings(10, 8, 0.0, gen), n_perm, gen)
         for _ in range(n_sets)]
    rejections = sum(v <= 0.05 for v in p)
    lo, hi = _binomial_range(n_sets, 0.0499, 1e-6)[0], _binomial_range(n_sets, 0.05, 1e-6)[1]
    assert lo <= rejections <= hi, f"{rejections} rejections of {n_sets}, expected {lo}..{hi}"
    k = [round(v * (n_perm + 1)) for v in p]
    counts = [sum((b * 40 < kk <= (b + 1) * 40) for kk in k) for b in range(5)]
    chi2 = sum((c - n_sets / 5) ** 2 / (n_sets / 5) for c in counts)
    assert chi2 < 33.4, f"p-value bins {counts}"


def test_weat_refuses_bad_inputs(gen):
    X, Y, A, B = _sets(gen)
    with pytest.raises(ValueError):
        weat_effect_size(X[:0], Y, A, B)
    with pytest.raises(ValueError):
        weat_effect_size(X, Y, A[:, :3], B)
    with pytest.raises(ValueError):
        weat_p_value(X, Y, A, B, 0)


# --------------------------------------------------------------------------- group fairness
def test_fairness_gaps_by_hand():
    pred = torch.tensor([1, 1, 0, 0, 1, 0, 0, 0])
    labels = torch.tensor([1, 0, 1, 0, 1, 1, 0, 0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    # P(ŷ=1): group 0 2/4, group 1 1/4
    assert demographic_parity_difference(pred, groups) == 0.25
    # group 0: TPR 1/2 (examples 0, 2), FPR 1/2 (1, 3); group 1: TPR 1/2 (4, 5), FPR 0 (6, 7)
    assert equalized_odds_difference(pred, labels, groups) == 0.5
    # three groups with arbitrary ids; the TPR gap (1 - 1/3) is the larger one
    pred = torch.tensor([1, 1, 1, 0, 0, 1, 0, 1, 0, 0], dtype=torch.bool)
    labels = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    groups = torch.tensor([7, -3, -3, -3, 5, 7, 7, -3, 5, 5])
    # TPR: 7 -> 1/1, -3 -> 2/3, 5 -> 0/1; FPR: 7 -> 1/2, -3 -> 1/1, 5 -> 0/2
    assert equalized_odds_difference(pred, labels, groups) == 1.0
    # P(ŷ=1): 7 -> 2/3, -3 -> 3/4, 5 -> 0/3
    assert demographic_parity_difference(pred, groups) == 0.75
    assert type(demographic_parity_difference(pred, groups)) is float


def test_fairness_gaps_match_a_loop(gen):
    for n_groups in (1, 2, 5):
        groups = torch.randint(0, n_groups, (300,), generator=gen) * 3 - 4
        labels = torch.randint(0, 2, (300,), generator=gen)
        pred = torch.rand(300, generator=gen) < 0.3 + 0.4 * labels  # bool, better than chance
        parity, odds = _loop_gaps(pred, labels, groups)
        # both divide exact integer counts once, so the floats agree exactly
        assert demographic_parity_difference(pred, groups) == parity
        assert equalized_odds_difference(pred.long(), labels, groups) == odds
        if n_groups == 1:
            assert parity == odds == 0.0


def test_a_perfect_classifier_has_no_equalized_odds_gap():
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    assert equalized_odds_difference(labels, labels, groups) == 0.0
    assert demographic_parity_difference(labels, groups) == 0.0  # each group half positive


def test_a_group_without_positives_or_negatives_is_named():
    pred = torch.tensor([1, 0, 1, 0])
    groups = torch.tensor([0, 0, 9, 9])
    with pytest.raises(ValueError, match=r"group 9 has no examples with label 1"):
        equalized_odds_difference(pred, torch.tensor([1, 0, 0, 0]), groups)
    with pytest.raises(ValueError, match=r"group 0 has no examples with label 0"):
        equalized_odds_difference(pred, torch.tensor([1, 1, 0, 1]), groups)


@pytest.mark.parametrize("pred,labels,groups", [
    ([2, 0, 1], [1, 0, 1], [0, 0, 1]),  # predictions not 0/1
    ([1, 0, 1], [1, 0, -1], [0, 0, 1]),  # labels not 0/1
    ([1, 0], [1, 0, 1], [0, 0, 1]),  # lengths differ
    ([], [], []),  # nothing to measure
], ids=["pred-not-binary", "labels-not-binary", "lengths", "empty"])
def test_fairness_gaps_refuse_bad_inputs(pred, labels, groups):
    pred, labels, groups = (torch.tensor(t, dtype=torch.long) for t in (pred, labels, groups))
    with pytest.raises(ValueError):
        equalized_odds_difference(pred, labels, groups)
    if pred.shape != groups.shape or pred.numel() == 0 or pred.max() > 1:
        with pytest.raises(ValueError):
            demographic_parity_difference(pred, groups)
