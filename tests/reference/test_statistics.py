"""reference.statistics against scipy and known identities: the Beta posterior against
scipy.stats.beta and against a posterior computed on a grid (conjugacy), the Dirichlet mean against
torch.distributions and Chapter 1's add-α smoothing, sequential Bayes against the batch formula,
the bootstrap against the closed form for a mean, the permutation test against scipy's exact
enumeration and its uniformity under the null, the delta-method interval against a bootstrap
interval, and the ECE of a calibrated set. Also the binomial bounds that Appendix B's statistical
checks rest on, against scipy.stats.binom."""

import math

import pytest
import torch
from scipy import special, stats

from autograder.chapters.appB_statistics import (
    BOOTSTRAP_COVERAGE,
    BOOTSTRAP_COVERAGE_SLACK,
    BOOTSTRAP_DESIGN,
    binomial_bounds,
)
from autograder.properties import FALSE_FAIL
from reference.probability import ngram_model
from reference.statistics import (
    beta_binomial_posterior,
    bootstrap_ci,
    dirichlet_posterior_mean,
    expected_calibration_error,
    paired_permutation_test,
    perplexity_with_ci,
    sequential_bayes_update,
)

F64 = torch.float64


# --------------------------------------------------------------------------- Beta–Binomial
@pytest.mark.parametrize("alpha, beta, s, f, level", [(1.0, 1.0, 7, 3, 0.95),
                                                      (0.5, 0.5, 12, 18, 0.9),
                                                      (20.0, 5.0, 2, 8, 0.5),
                                                      (2.0, 3.0, 0, 0, 0.99),
                                                      (1.0, 1.0, 480, 520, 0.95)])
def test_beta_posterior_matches_scipy(alpha, beta, s, f, level):
    a, b, mean, lower, upper = beta_binomial_posterior(alpha, beta, s, f, level)
    assert all(type(x) is float for x in (a, b, mean, lower, upper))
    assert (a, b) == (alpha + s, beta + f)
    posterior = stats.beta(alpha + s, beta + f)
    assert mean == pytest.approx(posterior.mean(), rel=1e-14)
    lo, hi = posterior.interval(level)
    assert (lower, upper) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    assert posterior.cdf(upper) - posterior.cdf(lower) == pytest.approx(level, abs=1e-12)


def test_beta_posterior_is_the_normalised_product_of_prior_and_likelihood():
    """Conjugacy: Bayes' rule evaluated on a grid of θ gives the Beta(α + s, β + f) density."""
    alpha, beta, s, f = 2.0, 5.0, 9, 4
    theta = torch.linspace(1e-6, 1 - 1e-6, 200_001, dtype=F64)
    step = float(theta[1] - theta[0])
    log_unnormalised = ((alpha - 1) * theta.log() + (beta - 1) * torch.log1p(-theta)
                        + s * theta.log() + f * torch.log1p(-theta))
    grid_posterior = torch.softmax(log_unnormalised, 0) / step  # a density on the grid
    a, b, mean, lower, upper = beta_binomial_posterior(alpha, beta, s, f)
    exact = torch.from_numpy(stats.beta(a, b).pdf(theta.numpy()))
    torch.testing.assert_close(grid_posterior, exact, atol=1e-6, rtol=1e-5)
    assert float((theta * grid_posterior).sum() * step) == pytest.approx(mean, abs=1e-8)
    cdf = grid_posterior.cumsum(0) * step
    assert float(theta[torch.searchsorted(cdf, torch.tensor(0.025, dtype=F64))]) == \
        pytest.approx(lower, abs=1e-4)


# --------------------------------------------------------------------------- Dirichlet
def test_dirichlet_mean_matches_torch_distributions_and_chapter_1():
    counts = torch.tensor([[3, 1, 0, 0], [0, 0, 0, 0], [5, 2, 2, 1]])
    alpha = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=F64)
    expected = torch.distributions.Dirichlet(counts.double() + alpha).mean
    torch.testing.assert_close(dirichlet_posterior_mean(counts.double(), alpha), expected)
    for a in (0.1, 1.0, 3.0):  # a symmetric prior: Chapter 1's add-α smoothing
        torch.testing.assert_close(dirichlet_posterior_mean(counts, a), ngram_model(counts, a))
    out = dirichlet_posterior_mean(counts, 1.0)
    assert out.dtype == torch.get_default_dtype()
    torch.testing.assert_close(out[1], torch.full((4,), 0.25))  # no counts: the prior mean
    torch.testing.assert_close(
        dirichlet_posterior_mean(counts.double(), alpha)[1], alpha / alpha.sum())


def test_dirichlet_mean_in_low_precision(dtype, assert_matches_truth):
    counts = torch.randint(0, 50, (6, 7), generator=torch.Generator().manual_seed(0)).to(dtype)
    truth = dirichlet_posterior_mean(counts.double(), 0.5)
    assert_matches_truth(dirichlet_posterior_mean(counts, 0.5), truth, dtype, 1.0, k=4)


# --------------------------------------------------------------------------- sequential Bayes
def _markov_likelihoods(n_sources, vocab, n_tokens, seed=0):
    g = torch.Generator().manual_seed(seed)
    P = torch.softmax(1.5 * torch.randn(n_sources, vocab, vocab, generator=g, dtype=F64), -1)
    text = [0]
    for _ in range(n_tokens):
        text.append(int(torch.multinomial(P[0, text[-1]], 1, generator=g)))
    x = torch.tensor(text)
    return P[:, x[:-1], x[1:]].T  # (T, K)


def test_sequential_update_equals_the_batch_formula():
    likelihoods = _markov_likelihoods(4, 5, 40)
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    post = sequential_bayes_update(prior, likelihoods)
    for t in (0, 9, 39):  # Bayes' rule on the first t + 1 observations at once
        joint = prior * likelihoods[:t + 1].prod(0)
        torch.testing.assert_close(post[t], joint / joint.sum())
    # the final posterior does not depend on the order of the observations
    shuffled = likelihoods[torch.randperm(40, generator=torch.Generator().manual_seed(1))]
    torch.testing.assert_close(sequential_bayes_update(prior, shuffled)[-1], post[-1])


def test_sequential_update_survives_long_texts_and_zeros():
    likelihoods = _markov_likelihoods(3, 8, 3000)
    assert (likelihoods.prod(0) == 0).all()  # the naive product underflows
    prior = torch.tensor([0.0, 0.5, 0.5], dtype=F64)
    post = sequential_bayes_update(prior, likelihoods)
    assert torch.isfinite(post).all() and (post[:, 0] == 0).all()
    torch.testing.assert_close(post.sum(-1), torch.ones(3000, dtype=F64))
    expected = special.softmax(torch.log(prior).numpy() + likelihoods.log().sum(0).numpy())
    torch.testing.assert_close(post[-1], torch.from_numpy(expected))
    likelihoods[5, 1] = 0.0  # source 1 cannot produce token 5: ruled out from then on
    assert (sequential_bayes_update(prior, likelihoods)[5:, 1] == 0).all()


def test_sequential_update_on_a_grid_is_the_beta_posterior():
    """K hypotheses θ_k on a grid, Bernoulli tokens: the discrete posterior tends to the
    conjugate Beta posterior (the two halves of B.3 agree)."""
    theta = torch.linspace(0.0005, 0.9995, 1000, dtype=F64)
    tokens = (torch.rand(200, generator=torch.Generator().manual_seed(2), dtype=F64) < 0.3)
    likelihoods = torch.where(tokens.unsqueeze(-1), theta, 1 - theta)  # (T, K)
    prior = torch.full_like(theta, 1 / 1000)
    post = sequential_bayes_update(prior, likelihoods)[-1]
    s = int(tokens.sum())
    a, b, mean, *_ = beta_binomial_posterior(1.0, 1.0, s, 200 - s)
    assert float((post * theta).sum()) == pytest.approx(mean, abs=1e-6)


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_follows_its_recipe():
    values = torch.randn(30, generator=torch.Generator().manual_seed(3), dtype=F64)
    g = torch.Generator().manual_seed(4)
    idx = torch.randint(0, 30, (500, 30), generator=g)
    stats_ = torch.stack([values[row].median() for row in idx])
    expected = torch.quantile(stats_, torch.tensor([0.025, 0.975], dtype=F64))
    got = bootstrap_ci(values, torch.median, 500, generator=torch.Generator().manual_seed(4))
    assert got == (float(expected[0]), float(expected[1]))


def test_bootstrap_of_a_mean_matches_the_closed_form():
    """The bootstrap distribution of a mean has standard deviation s_n / √n (s_n with divisor
    n); with many resamples the percentile interval is close to mean ± 1.96 s_n / √n."""
    values = torch.randn(100, generator=torch.Generator().manual_seed(5), dtype=F64) * 2 + 1
    lower, upper = bootstrap_ci(values, torch.mean, 20_000,
                                generator=torch.Generator().manual_seed(6))
    half = 1.959964 * values.std(correction=0).item() / 10
    assert lower == pytest.approx(values.mean().item() - half, abs=0.02 * half + 0.01)
    assert upper == pytest.approx(values.mean().item() + half, abs=0.02 * half + 0.01)


def test_bootstrap_coverage_is_the_calibrated_one():
    """The coverage Appendix B's coverage check is calibrated on: the reference's intervals on
    fresh normal data sets of the graded design fall inside the check's binomial band."""
    d, g = BOOTSTRAP_DESIGN, torch.Generator().manual_seed(7)
    m = 400
    samples = torch.randn(m, d["n"], generator=g, dtype=F64)
    covered = 0
    for row in samples:
        lower, upper = bootstrap_ci(row, torch.mean, d["n_resamples"], d["alpha"], generator=g)
        covered += lower <= 0.0 <= upper
    lo, hi = binomial_bounds(m, BOOTSTRAP_COVERAGE - BOOTSTRAP_COVERAGE_SLACK,
                             BOOTSTRAP_COVERAGE + BOOTSTRAP_COVERAGE_SLACK, FALSE_FAIL / 2)
    assert lo <= covered <= hi
    se = math.sqrt(BOOTSTRAP_COVERAGE * (1 - BOOTSTRAP_COVERAGE) / m)
    assert abs(covered / m - BOOTSTRAP_COVERAGE) < 4 * se  # and near the measured value


# --------------------------------------------------------------------------- permutation test
def test_permutation_p_value_matches_scipys_exact_enumeration():
    g = torch.Generator().manual_seed(8)
    a = torch.rand(10, generator=g, dtype=F64) * 3
    b = a + 0.3 * torch.randn(10, generator=g, dtype=F64) + 0.25
    exact = stats.permutation_test(
        (a.numpy(), b.numpy()), lambda x, y: abs((x - y).mean()), permutation_type="samples",
        alternative="greater", n_resamples=math.inf).pvalue  # all 2^10 sign flips
    r = 40_000
    p = paired_permutation_test(a, b, r, generator=g)
    assert p == pytest.approx(exact, abs=5 * math.sqrt(exact * (1 - exact) / r) + 1 / r)


def test_permutation_p_values_are_uniform_under_the_null():
    """Under H0 the rank of the observed statistic among the 1 + R is uniform: p = k/100,
    k uniform on 1..100 (R = 99), so P(p ≤ 0.05) = 0.05 exactly."""
    g = torch.Generator().manual_seed(9)
    m = 2000
    difficulty = torch.rand(m, 30, generator=g, dtype=F64) * 3
    a = difficulty + 0.3 * torch.randn(m, 30, generator=g, dtype=F64)
    b = difficulty + 0.3 * torch.randn(m, 30, generator=g, dtype=F64)
    p = torch.tensor([paired_permutation_test(a[i], b[i], 99, generator=g) for i in range(m)])
    k = (p * 100).round()
    assert torch.equal(k / 100, p) and k.min() >= 1 and k.max() <= 100
    chi2 = stats.chisquare(torch.bincount(((k - 1) // 10).long(), minlength=10).numpy())
    assert chi2.pvalue > 1e-4
    assert stats.binomtest(int((p <= 0.05).sum()), m, 0.05).pvalue > 1e-4


def test_permutation_test_detects_a_clear_difference_and_counts_the_observed_draw():
    g = torch.Generator().manual_seed(10)
    a = torch.rand(40, generator=g, dtype=F64) * 3
    b = a + 1.0 + 0.1 * torch.randn(40, generator=g, dtype=F64)
    assert paired_permutation_test(a, b, 199, generator=g) == 1 / 200
    assert paired_permutation_test(a, a + 0.0, 199, generator=g) == 1.0  # every draw ties


# --------------------------------------------------------------------------- perplexity
def test_delta_method_interval_agrees_with_a_bootstrap_interval():
    g = torch.Generator().manual_seed(11)
    nlls = -torch.log(torch.rand(2000, generator=g, dtype=F64)) * 2.0
    ppl, lower, upper = perplexity_with_ci(nlls)
    m, se = nlls.mean().item(), nlls.std().item() / math.sqrt(2000)
    z = stats.norm.ppf(0.975)
    assert (ppl, lower, upper) == (pytest.approx(math.exp(m), rel=1e-14),
                                   pytest.approx(math.exp(m - z * se), rel=1e-13),
                                   pytest.approx(math.exp(m + z * se), rel=1e-13))
    boot = bootstrap_ci(nlls, lambda x: x.mean().exp(), 4000, generator=g)
    assert boot[0] == pytest.approx(lower, rel=0.01) and boot[1] == pytest.approx(upper, rel=0.01)


def test_perplexity_interval_covers_at_its_level():
    """Coverage of exp(m ± z·se) for exp(μ), over 4000 samples of 200 exponential NLLs (μ = 1.5)."""
    g = torch.Generator().manual_seed(12)
    nlls = -torch.log(torch.rand(4000, 200, generator=g, dtype=F64)) * 1.5
    covered = sum(lo <= math.exp(1.5) <= hi
                  for lo, hi in (perplexity_with_ci(row, alpha=0.1)[1:] for row in nlls))
    assert abs(covered / 4000 - 0.9) < 4 * math.sqrt(0.09 / 4000) + 0.01  # CLT at n = 200


# --------------------------------------------------------------------------- calibration
def _ece_loop(probs, labels, n_bins):
    conf, pred = probs.max(-1)
    total = 0.0
    for b in range(n_bins):
        in_bin = (conf > b / n_bins) & (conf <= (b + 1) / n_bins)
        if in_bin.any():
            acc = (pred[in_bin] == labels[in_bin]).double().mean()
            total += in_bin.double().mean() * (acc - conf[in_bin].mean()).abs()
    return float(total)


def test_ece_of_a_calibrated_set_is_near_zero_and_of_an_overconfident_one_is_not():
    g = torch.Generator().manual_seed(13)
    logits = 2.0 * torch.randn(50_000, 5, generator=g, dtype=F64)
    probs = torch.softmax(logits, -1)
    labels = torch.multinomial(probs, 1, generator=g).squeeze(-1)  # calibrated by construction
    assert expected_calibration_error(probs, labels) < 0.01
    hot = torch.softmax(3 * logits, -1)  # the same argmax, overconfident
    ece = expected_calibration_error(hot, labels)
    assert ece > 0.1
    assert ece == pytest.approx(_ece_loop(hot, labels, 15), abs=1e-12)


def test_ece_bins_are_right_closed():
    probs = torch.tensor([[0.5, 0.25, 0.25], [0.45, 0.3, 0.25], [0.55, 0.3, 0.15]], dtype=F64)
    labels = torch.tensor([0, 1, 1])  # 0.5 right; 0.45 and 0.55 wrong
    # 8 bins: (0.375, 0.5] holds 0.45 and 0.5; (0.5, 0.625] holds 0.55
    expected = (2 / 3) * abs(0.5 - 0.475) + (1 / 3) * 0.55
    assert expected_calibration_error(probs, labels, n_bins=8) == pytest.approx(expected)
    assert expected_calibration_error(torch.eye(3, dtype=F64), torch.tensor([0, 1, 0]), 4) == \
        pytest.approx(1 / 3)  # confidence 1 in the last bin


# --------------------------------------------------------------------------- the checks' bounds
@pytest.mark.parametrize("m, p_low, p_high, tail", [(300, 0.926, 0.932, FALSE_FAIL / 2),
                                                    (1000, 0.05, 0.05, FALSE_FAIL / 4),
                                                    (1000, 0.05, 0.05, FALSE_FAIL / 80)])
def test_binomial_bounds_are_exact_tails(m, p_low, p_high, tail):
    lo, hi = binomial_bounds(m, p_low, p_high, tail)
    assert stats.binom.cdf(lo - 1, m, p_low) <= tail < stats.binom.cdf(lo, m, p_low)
    assert stats.binom.sf(hi, m, p_high) <= tail < stats.binom.sf(hi - 1, m, p_high) or hi == m
