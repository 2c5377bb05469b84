"""Appendix B — A statistical perspective on LLMs: the graded exercises and their cases.

Estimates that are numbers (posterior parameters, credible and confidence intervals, p-values, the
ECE) are compared in float64 (``Precision.FLOAT64``); the drivers of ``gradelib.statistics`` turn
each tuple of numbers into one float64 tensor whose elements the messages name. The Dirichlet posterior mean and the
sequential Bayes update are tables, graded in every dtype their computation allows (the running
sum of T = 2000 log-likelihoods has no meaning in a 16-bit float: float64 and float32 only).

The two resampling procedures are graded twice, like Chapter 1's sampler: exactly, against the
recipe their docstrings state, with the same seeded generator; and by simulation, on many data
sets in one case, by a property of their frequencies whose false-fail rate is at most FALSE_FAIL
by construction (exact binomial tails, Bonferroni over what one case tests):

- the bootstrap's coverage of the true mean, against the coverage the reference itself measured
  for the same design (the percentile bootstrap under-covers at n = 40: about 0.929, not 0.95);
- the permutation test's p-values under the null hypothesis: never 0, a rejection rate at 0.05
  of at most 0.05, and none of 20 equal bins of (0, 1] over- or under-filled.

Exact permutation p-values count permuted statistics ≥ the observed one; a permutation that ties
the observed statistic up to the order of summation needs all n = 30 or more signs equal (or all
flipped): probability 2^(1 − n) ≤ 1.9e-9 per draw, so no correct order of operations can count
differently on these cases. Where a case puts ECE confidences on bin edges, the edges are exact
binary fractions (1/2 and 3/4 of k = 8 bins), on which ceil(conf · k) and a comparison with b / k
agree; elsewhere confidences are continuous and never within rounding of an edge.
"""

from __future__ import annotations

import functools
import math

import torch

from autograder.chapters import appB_catalog as catalog
from autograder.properties import FALSE_FAIL
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Precision
from reference.statistics import (
    beta_binomial_posterior,
    bootstrap_ci,
    dirichlet_posterior_mean,
    expected_calibration_error,
    paired_permutation_test,
    perplexity_with_ci,
    sequential_bayes_update,
)

F32, F64 = torch.float32, torch.float64


def _named(*names):
    """``Case.explain`` for an output whose last index picks one of ``names``."""
    def explain(where, case):
        label = names[where[-1]]
        return label if len(where) == 1 else f"data set {where[0]}, {label}"
    return explain


# =========================================================================== binomial tails
def _log_pmf(m: int, k: int, p: float) -> float:
    return (math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)
            + k * math.log(p) + (m - k) * math.log1p(-p))


@functools.lru_cache(maxsize=None)
def binomial_bounds(m: int, p_low: float, p_high: float, tail: float) -> tuple[int, int]:
    """(lo, hi): the widest counts a Binomial(m, p) count falls outside with probability at most
    ``tail`` on each side, whatever p in [p_low, p_high]: P(X < lo) ≤ tail at p = p_low (the
    worst p for the lower side) and P(X > hi) ≤ tail at p = p_high. Exact sums of the binomial
    probabilities (lgamma), no normal approximation."""
    lo, below = 0, 0.0
    while lo < m and below + math.exp(_log_pmf(m, lo, p_low)) <= tail:
        below += math.exp(_log_pmf(m, lo, p_low))
        lo += 1
    hi, above = m, 0.0
    while hi > 0 and above + math.exp(_log_pmf(m, hi, p_high)) <= tail:
        above += math.exp(_log_pmf(m, hi, p_high))
        hi -= 1
    return lo, hi


# =========================================================================== Beta–Binomial
BETA_NAMES = ("alpha_post", "beta_post", "mean", "lower", "upper")


def beta_cases(b: CaseBuilder):
    def rows(c: Cell):
        def row(name, *args, tags=(), public=False, **kw):
            c(name, *args, tags=tags, public=public, width=5, names=", ".join(BETA_NAMES),
              explain=_named(*BETA_NAMES), **kw)

        row("uniform prior Beta(1, 1), 7 successes, 3 failures", 1.0, 1.0, 7, 3, public=True)
        row("Jeffreys prior Beta(0.5, 0.5), 12 of 30, level 0.9", 0.5, 0.5, 12, 18, public=True,
            tags=("level ≠ 0.95",), level=0.9)
        row("strong prior Beta(20, 5), 2 successes, 8 failures", 20.0, 5.0, 2, 8,
            tags=("strong prior",), public=True)
        row("no data: the posterior is the prior Beta(2, 3)", 2.0, 3.0, 0, 0, tags=("no data",))
        row("1000 tokens: 480 successes, 520 failures", 1.0, 1.0, 480, 520,
            tags=("large counts",))
        row("all 10 successes (a skewed posterior)", 1.0, 1.0, 10, 0, tags=("skewed",))
        a, bb = (round(float(x), 3) for x in b.rand(2, low=0.5, high=5.0))
        s, f = (int(x) for x in b.randint(0, 40, (2,)))
        row(f"prior Beta({a}, {bb}), {s} successes, {f} failures, level 0.5", a, bb, s, f,
            tags=("level ≠ 0.95",), level=0.5)
    return b.float64_grid(rows)


# =========================================================================== Dirichlet
def dirichlet_cases(b: CaseBuilder):
    def rows(c: Cell):
        def counts(*shape, zero_rows=0, high=12):
            table = b.randint(0, high, shape)
            table.reshape(-1, shape[-1])[:zero_rows] = 0  # contexts never seen
            return table.to(c.dtype)

        c("counts (6,), alpha=1 (Laplace)", counts(6), public=True, alpha=1.0)
        c("4 rows of 5 categories, alpha=0.5", counts(4, 5), public=True, alpha=0.5)
        prior = (b.rand(5, low=0.2, high=3.0)).to(c.dtype)
        c("a vector prior alpha (5,), 3 rows", counts(3, 5), tags=("vector α",), public=True,
          alpha=prior)
        c("(3, 4, 4) table, 2 rows of zeros, alpha=0.1", counts(3, 4, 4, zero_rows=2),
          tags=("3-D", "no counts"), alpha=0.1)
        c("a row of zeros gives the prior mean, vector alpha", counts(2, 4, zero_rows=1),
          tags=("no counts", "vector α"), alpha=b.rand(4, low=0.5, high=2.0).to(c.dtype))
        c("alpha=0: the maximum-likelihood estimate", counts(5, 3, high=9) + 1,
          tags=("α = 0",), alpha=0.0)
        c("large counts, alpha=2", counts(4, 6, high=200), tags=("large counts",), alpha=2.0)
        if c.dtype == F32:  # the output's dtype (the default), whatever the cell
            c("integer counts (int64 in, default dtype out)", b.randint(0, 9, (4, 4)),
              tags=("int64 counts",), alpha=1.0)
    return b.grid(rows)


# =========================================================================== bootstrap
BOOTSTRAP_DESIGN = dict(n=40, n_resamples=200, alpha=0.05, data_sets=300)
# Coverage of the true mean by the reference's percentile interval for this design (normal data,
# statistic torch.mean), measured on 200 000 data sets: 0.92904 (standard error 0.00057). The
# band below allows p in [0.926, 0.932], five standard errors of that measurement either side.
BOOTSTRAP_COVERAGE = 0.929
BOOTSTRAP_COVERAGE_SLACK = 0.003


def _coverage_check(true_mean: float):
    """The check of a coverage case: how many of the m intervals contain ``true_mean``, within
    the binomial band of a correct percentile bootstrap (FALSE_FAIL/2 on each side)."""
    def covers_the_true_mean(outputs, case):
        intervals = outputs[0]  # (m, 2) float64, from the driver
        m = intervals.shape[0]
        lower, upper = intervals[:, 0], intervals[:, 1]
        if not bool((lower <= upper).all()):
            i = int((lower > upper).nonzero()[0])
            return (f"data set {i}: lower {float(lower[i]):.4g} > upper {float(upper[i]):.4g}; "
                    "return (lower, upper) in that order")
        covered = int(((lower <= true_mean) & (true_mean <= upper)).sum())
        lo, hi = binomial_bounds(m, BOOTSTRAP_COVERAGE - BOOTSTRAP_COVERAGE_SLACK,
                                 BOOTSTRAP_COVERAGE + BOOTSTRAP_COVERAGE_SLACK, FALSE_FAIL / 2)
        if lo <= covered <= hi:
            return None
        width = float((upper - lower).median())
        return (f"the intervals contain the true mean {true_mean:g} in {covered} of {m} data "
                f"sets ({covered / m:.1%}); a correct percentile bootstrap at level 95% covers "
                f"it about {BOOTSTRAP_COVERAGE:.1%} of the time here (it under-covers at n = "
                f"{case.args[0].shape[1]}), so between {lo} and {hi} of {m} (outside that with "
                f"probability below {FALSE_FAIL:g}). Median width of your intervals: {width:.3g}"
                + ("; an interval of width ~0 comes from resamples that are all the same "
                   "data: draw with replacement" if width < 1e-6 else ""))
    return covers_the_true_mean


def bootstrap_cases(b: CaseBuilder):
    def rows(c: Cell):
        def row(name, values, statistic, n_resamples, *, seed, tags=(), public=False, **kw):
            c(name, values, statistic, n_resamples, seed=seed, tags=tags, public=public,
              explain=_named("lower", "upper"), **kw)

        row("exact: mean of 30 normal values, 200 resamples", c.randn(30, scale=2.0, shift=1.0),
            "mean", 200, seed=1, public=True)
        row("exact: median of 25 exponential-ish values, 300 resamples",
            c.rand(25).log().neg() * 3.0, "median", 300, seed=2, tags=("median",), public=True)
        row("exact: std of 40 values, alpha=0.1", c.randn(40), "std", 250, seed=3,
            tags=("std", "alpha ≠ 0.05"), alpha=0.1)
        values = c.randn(15)
        values[4] = 25.0  # one outlier: the resampled means are bimodal-ish
        row("exact: mean of 15 values with an outlier", values, "mean", 400, seed=4,
            tags=("outlier",))
        row("exact: 3 values, 100 resamples", c.randn(3), "mean", 100, seed=5, tags=("n = 3",))
        d = BOOTSTRAP_DESIGN
        true_mean = 1.5
        samples = c.randn(d["data_sets"], d["n"], scale=2.0, shift=true_mean)
        row(f"coverage: {d['data_sets']} normal data sets of {d['n']} values, true mean "
            f"{true_mean}, {d['n_resamples']} resamples", samples, "mean", d["n_resamples"],
            seed=6, alpha=d["alpha"], tags=("coverage",), public=True,
            checks=(_coverage_check(true_mean),), compared=())
    return b.float64_grid(rows)


# =========================================================================== permutation test
NULL_DESIGN = dict(data_sets=1000, n=30, n_permutations=99, level=0.05, bins=20)


def _paired_losses(b: CaseBuilder, shape, shift=0.0, noise=0.3):
    """Losses of two models on the same examples: a per-example difficulty both share, plus
    independent noise; model B is worse by ``shift`` on average. With shift 0 the two losses of
    an example are exchangeable: the null hypothesis holds exactly."""
    difficulty = b.rand(*shape, low=0.5, high=4.0)
    a = difficulty + noise * b.randn(*shape)
    return a, difficulty + noise * b.randn(*shape) + shift


def _null_p_values(outputs, case):
    """(M,) p-values, or why they cannot be p-values of the add-one rule."""
    p = outputs[0]
    if bool((p <= 0).any()):
        return ("a p-value of 0: the observed assignment is one of the equally likely ones, so "
                "p ≥ 1 / (n_permutations + 1); count it (the add-one rule)")
    if bool((p > 1).any()) or bool(p.isnan().any()):
        return f"p-values must lie in (0, 1], got {float(p.max()):.4g}"
    return p


def _p_values_are_positive(outputs, case):
    p = _null_p_values(outputs, case)
    return p if isinstance(p, str) else None


def _type_one_error(outputs, case):
    """Under the null hypothesis P(p ≤ 0.05) ≤ 0.05 (exactly 0.05 here: 5 of the 100 possible
    values); the rejection count is at most Binomial(m, 0.05)'s upper FALSE_FAIL/4 quantile."""
    p = _null_p_values(outputs, case)
    m, level = p.shape[0], NULL_DESIGN["level"]
    rejected = int((p <= level + 1e-12).sum())
    _, hi = binomial_bounds(m, level, level, FALSE_FAIL / 4)
    if rejected > hi:
        return (f"under the null hypothesis (both models equally good) your test rejects at level "
                f"{level} in {rejected} of {m} comparisons ({rejected / m:.1%}); a valid test "
                f"rejects at most {level:.0%} of the time (at most {hi} of {m} here, exceeded with "
                f"probability below {FALSE_FAIL:g}). Compare |mean| with |mean|: both the "
                "observed and the permuted statistics are absolute values")
    return None


def _p_values_uniform(outputs, case):
    """Under the null hypothesis the rank of the observed statistic among the 1 + n_perm is uniform,
    so p = k / 100 with k uniform on 1..100 and each of 20 bins (j/20, (j+1)/20] holds 5 values:
    probability 1/20. Each bin's count is within Binomial(m, 1/20)'s two-sided quantiles at
    FALSE_FAIL / (4 · 20) per side (Bonferroni over the bins and both sides: FALSE_FAIL/2)."""
    p = _null_p_values(outputs, case)
    m, bins = p.shape[0], NULL_DESIGN["bins"]
    index = (torch.ceil(p * bins - 1e-9).long() - 1).clamp(0, bins - 1)
    counts = torch.bincount(index, minlength=bins)
    lo, hi = binomial_bounds(m, 1 / bins, 1 / bins, FALSE_FAIL / (4 * bins))
    for j in range(bins):
        if not lo <= int(counts[j]) <= hi:
            low, high = j / bins, (j + 1) / bins
            return (f"under the null hypothesis the p-values should be uniform on (0, 1], but "
                    f"{int(counts[j])} of {m} lie in ({low:g}, {high:g}], where {m // bins} are "
                    f"expected (allowed {lo} to {hi}); "
                    + ("too many large p-values: does the permutation keep each example's pair "
                       "together (flip the sign of each difference)?" if j == bins - 1 else
                       "is each permutation a random sign flip of the paired differences?"))
    return None


NULL_CHECKS = (_p_values_are_positive, _type_one_error, _p_values_uniform)


def permutation_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("exact: 40 examples, B worse by 0.1, 500 permutations", *_paired_losses(b, (40,), 0.1),
          500, seed=1, public=True)
        c("exact: 30 examples, equally good models, 400 permutations", *_paired_losses(b, (30,)),
          400, seed=2, tags=("null",), public=True)
        c("exact: 60 examples, A worse by 0.05, 300 permutations",
          *reversed(_paired_losses(b, (60,), 0.05)), 300, seed=3, tags=("A worse",))
        c("exact: B much worse: p = 1 / (1 + n_permutations)", *_paired_losses(b, (35,), 1.0),
          200, seed=4, tags=("strong effect",))
        a, bb = _paired_losses(b, (50,), 0.05, noise=1.5)
        c("exact: noisy losses (difficulty shared), 1000 permutations", a, bb, 1000, seed=5,
          tags=("noisy",))
        d = NULL_DESIGN
        c(f"simulation: {d['data_sets']} comparisons of equally good models, {d['n']} examples, "
          f"{d['n_permutations']} permutations", *_paired_losses(b, (d["data_sets"], d["n"])),
          d["n_permutations"], seed=6, tags=("type-I error",), public=True, checks=NULL_CHECKS,
          compared=())
    return b.float64_grid(rows)


# =========================================================================== perplexity
PPL_NAMES = ("perplexity", "lower", "upper")


def perplexity_cases(b: CaseBuilder):
    def rows(c: Cell):
        def row(name, nlls, *, tags=(), public=False, **kw):
            c(name, nlls, tags=tags, public=public, width=3, names=", ".join(PPL_NAMES),
              explain=_named(*PPL_NAMES), **kw)

        def nlls(n, scale=1.0, shift=2.0):  # positive, skewed like token losses
            return c.rand(n).log().neg() * scale + c.rand(n) * shift

        row("200 token NLLs", nlls(200), public=True)
        row("20 token NLLs, alpha=0.1", nlls(20), tags=("alpha ≠ 0.05",), public=True, alpha=0.1)
        row("1000 token NLLs, alpha=0.01", nlls(1000, scale=2.0), tags=("alpha ≠ 0.05",),
            alpha=0.01)
        row("8 tokens (few: Bessel's n − 1 matters)", nlls(8), tags=("small n",))
        row("2 tokens", nlls(2, shift=4.0), tags=("small n",))
        row("a confident model: NLLs near 0.05", nlls(300, scale=0.05, shift=0.0),
            tags=("perplexity near 1",))
    return b.float64_grid(rows)


# =========================================================================== calibration
def _predictions(b: CaseBuilder, n, classes, sharpness=2.0, temperature=1.0):
    """(probs, labels) for n predictions: the model predicts softmax(sharpness · z), z standard
    normal, and the labels are drawn from softmax(sharpness · z / temperature). Temperature 1:
    calibrated; above 1 the truth is flatter than the prediction (an overconfident model); below
    1, an underconfident one."""
    logits = b.randn(n, classes) * sharpness
    probs = torch.softmax(logits, dim=-1)
    truth = torch.softmax(logits / temperature, dim=-1)
    labels = torch.multinomial(truth, 1, generator=b.gen).squeeze(-1)
    return probs, labels


def _on_bin_edges(b: CaseBuilder):
    """Three-class predictions built so that the edge rule matters (8 bins): confidences exactly
    on the edges 1/2 and 3/4 (exact in binary), all correct, beside wrong predictions just below
    and just above each edge. The ECE sums |Σ (correct − confidence)| per bin, so moving the
    edge predictions to the bin above changes which negative sums they offset, and the ECE."""
    confs, correct = [], []
    for edge, on_edge in ((0.5, 6), (0.75, 16)):
        confs += [edge] * on_edge + (edge - b.rand(4, low=0.01, high=0.08)).tolist() \
            + (edge + b.rand(4, low=0.01, high=0.08)).tolist()
        correct += [True] * on_edge + [False] * 8
    conf = torch.tensor(confs, dtype=F64)
    n = conf.numel()
    top = b.randint(0, 3, (n,))  # the predicted class
    probs = ((1 - conf) / 2).unsqueeze(-1).repeat(1, 3)
    probs[torch.arange(n), top] = conf
    wrong = (top + 1 + b.randint(0, 2, (n,))) % 3
    return probs, torch.where(torch.tensor(correct), top, wrong)


def ece_cases(b: CaseBuilder):
    def rows(c: Cell):
        def row(name, probs, labels, *, tags=(), public=False, **kw):
            c(name, probs, labels, tags=tags, public=public, **kw)

        row("500 predictions, 10 classes, 15 bins", *_predictions(b, 500, 10), public=True)
        row("overconfident model (truth at temperature 2), 800 predictions",
            *_predictions(b, 800, 5, sharpness=3.0, temperature=2.0), tags=("overconfident",),
            public=True)
        row("underconfident model (truth at temperature 0.5), 10 bins",
            *_predictions(b, 600, 4, temperature=0.5), tags=("underconfident",), n_bins=10)
        row("binary predictions, 400, 5 bins", *_predictions(b, 400, 2), tags=("C = 2",),
            n_bins=5)
        row("confidences on the bin edges 1/2 and 3/4, 8 bins", *_on_bin_edges(b),
            tags=("bin edges",), public=True, n_bins=8)
        probs = torch.eye(6, dtype=F64)[b.randint(0, 6, (50,))]
        row("one-hot predictions (confidence 1), half of them wrong", probs,
            torch.where(b.rand(50) < 0.5, probs.argmax(-1), (probs.argmax(-1) + 1) % 6),
            tags=("confidence 1",))
        row("20 predictions, 15 bins (most bins empty)", *_predictions(b, 20, 3),
            tags=("empty bins",))
    return b.float64_grid(rows)


# =========================================================================== sequential Bayes
def _sources_and_text(b: CaseBuilder, n_sources, vocab, n_tokens, sharp=1.5):
    """n_sources random Markov sources over V tokens, a text of T + 1 tokens from source 0, and
    the likelihood of each next token under each source: (T, n_sources) float64."""
    P = torch.softmax(b.randn(n_sources, vocab, vocab) * sharp, dim=-1)  # (n_sources, V, V)
    text = [int(b.randint(0, vocab, ()))]
    for _ in range(n_tokens):
        nxt = torch.multinomial(P[0, text[-1]], 1, generator=b.gen)
        text.append(int(nxt))
    x = torch.tensor(text)
    return P[:, x[:-1], x[1:]].T.contiguous()  # (T, n_sources): p(x_t | x_{t-1}, source k)


def _prior(b: CaseBuilder, k):
    return torch.softmax(b.randn(k), dim=-1)


def bayes_cases(b: CaseBuilder):
    # Sources differ by about a nat per token, so each posterior that is not yet 0 or 1 comes
    # within the first few dozen tokens: the running sums of log-likelihoods are then still
    # small, and a correct program that rounds them differently (a log-sum-exp, a renormalised
    # product) stays within the dtype's tolerance. Later the posteriors are exactly 0 or 1.
    def rows(c: Cell):
        def row(name, prior, likelihoods, *, tags=(), public=False):
            c(name, prior.to(c.dtype), likelihoods.to(c.dtype), tags=tags, public=public)

        row("3 sources, 20 tokens, uniform prior", torch.full((3,), 1 / 3, dtype=F64),
            _sources_and_text(b, 3, 5, 20), public=True)
        row("4 sources, 50 tokens, a non-uniform prior", _prior(b, 4),
            _sources_and_text(b, 4, 6, 50), tags=("non-uniform prior",), public=True)
        row("long text: 2000 tokens (a product of likelihoods underflows)", _prior(b, 3),
            _sources_and_text(b, 3, 8, 2000), tags=("long T",), public=True)
        prior = _prior(b, 4)
        prior[2] = 0.0  # a source ruled out a priori: its posterior stays 0 whatever it explains
        row("a hypothesis of prior 0", prior / prior.sum(), _sources_and_text(b, 4, 5, 30),
            tags=("zero prior", "non-uniform prior"))
        likelihoods = _sources_and_text(b, 3, 4, 25)
        likelihoods[7, 2] = 0.0  # source 2 could not have produced token 7
        row("a likelihood of 0 rules a source out", _prior(b, 3), likelihoods,
            tags=("zero likelihood", "non-uniform prior"))
        row("one observation", _prior(b, 5), _sources_and_text(b, 5, 6, 1), tags=("T = 1",))
        row("6 sources, 40 tokens", _prior(b, 6), _sources_and_text(b, 6, 4, 40),
            tags=("non-uniform prior",))
    return b.grid(rows, exclude=(torch.bfloat16, torch.float16))


CHAPTER = Chapter(
    id="appB",
    title="A statistical perspective on LLMs",
    notebook="appB_statistics/appB_statistics.py",
    exercises=[
        Exercise(id="appB.beta_binomial_posterior", name="beta_binomial_posterior", points=1.5,
                 reference=beta_binomial_posterior, cases=beta_cases, driver="drive_numbers",
                 mistakes=catalog.BETA_MISTAKES, precision=Precision.FLOAT64),
        Exercise(id="appB.dirichlet_posterior_mean", name="dirichlet_posterior_mean", points=1.0,
                 reference=dirichlet_posterior_mean, cases=dirichlet_cases,
                 mistakes=catalog.DIRICHLET_MISTAKES),
        Exercise(id="appB.sequential_bayes_update", name="sequential_bayes_update", points=1.5,
                 reference=sequential_bayes_update, cases=bayes_cases,
                 mistakes=catalog.BAYES_MISTAKES, precision=Precision.NO_16_BIT),
        Exercise(id="appB.bootstrap_ci", name="bootstrap_ci", points=2.0, reference=bootstrap_ci,
                 cases=bootstrap_cases, driver="drive_bootstrap",
                 mistakes=catalog.BOOTSTRAP_MISTAKES, precision=Precision.FLOAT64),
        Exercise(id="appB.paired_permutation_test", name="paired_permutation_test", points=1.5,
                 reference=paired_permutation_test, cases=permutation_cases,
                 driver="drive_permutation_test", mistakes=catalog.PERMUTATION_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="appB.perplexity_with_ci", name="perplexity_with_ci", points=1.0,
                 reference=perplexity_with_ci, cases=perplexity_cases, driver="drive_numbers",
                 mistakes=catalog.PERPLEXITY_MISTAKES, precision=Precision.FLOAT64),
        Exercise(id="appB.expected_calibration_error", name="expected_calibration_error",
                 points=1.5, reference=expected_calibration_error, cases=ece_cases,
                 driver="drive_numbers", mistakes=catalog.ECE_MISTAKES,
                 precision=Precision.FLOAT64),
    ],
)
