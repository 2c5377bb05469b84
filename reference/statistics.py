"""Appendix B, A statistical perspective on LLMs: conjugate Bayesian updates (Beta–Binomial,
Dirichlet–Multinomial, a discrete hypothesis space), resampling inference (the percentile
bootstrap, a paired sign-flip permutation test), a perplexity with its confidence interval, and the
expected calibration error.

Conventions, stated once:

* Estimates that are single numbers (posterior parameters, interval ends, p-values, the ECE) are
  returned as Python floats; tables of probabilities keep the input's dtype.
* A central credible (or confidence) interval at level 1 − α cuts α/2 from each tail.
* Resampling procedures take a ``torch.Generator`` and follow a stated recipe exactly, so that the
  same seed gives the same draws: the recipe is part of each docstring.
* Standard errors use the sample standard deviation (Bessel's n − 1, torch's default ``std``).
* Logarithms are natural (nats).

Letters (``reference/notation.py``): V the number of categories (classes, outcomes), T the number
of observations of a sequence; in lower case, nh the number of hypotheses, n the number of values
(predictions, examples), n_boot the bootstrap resamples, n_perm the permutations, k the bins.
"""

from __future__ import annotations

import math

import torch


def _float_dtype(t):
    return t.dtype if t.is_floating_point() else torch.get_default_dtype()


# --------------------------------------------------------------------------- Bayesian updates
def beta_binomial_posterior(alpha, beta, successes, failures, level=0.95):
    """The Beta(α, β) prior on a success probability θ updated with binomial data.

    The posterior is Beta(α + successes, β + failures); its mean is
    (α + successes) / (α + β + successes + failures); the central credible interval at ``level``
    runs between the posterior's quantiles (1 − level)/2 and (1 + level)/2, computed with
    ``scipy.special.betaincinv`` (the inverse regularised incomplete beta function, which is what
    ``scipy.stats.beta.ppf`` calls).

    Returns:
        a tuple of five Python floats (alpha_post, beta_post, mean, lower, upper).
    """
    # Imported here, not at the top: chapter listings import this module, and scipy.special
    # costs about 0.4 s that only this function needs.
    from scipy.special import betaincinv

    a, b = alpha + successes, beta + failures
    tail = (1.0 - level) / 2
    lower, upper = (float(betaincinv(a, b, q)) for q in (tail, 1.0 - tail))
    return float(a), float(b), a / (a + b), lower, upper


def dirichlet_posterior_mean(counts, alpha):
    """The posterior mean of category probabilities under a Dirichlet(α) prior after observing
    ``counts``: (c_k + α_k) / (Σ_j c_j + Σ_j α_j), along the last axis. For a symmetric prior
    (α a number) the denominator is n + α V: Chapter 1's add-α smoothing.

    Shape:
        counts: (..., V), integer or floating (integers give the default floating dtype)
        alpha: a non-negative number, or (V,) (one concentration per category)
        output: (..., V), each last-axis row sums to 1
    """
    c = counts.to(_float_dtype(counts))
    a = torch.as_tensor(alpha, dtype=c.dtype, device=c.device).expand(c.shape[-1])  # (V,)
    return (c + a) / (c.sum(-1, keepdim=True) + a.sum())


def sequential_bayes_update(prior, likelihoods):
    """Posteriors over nh hypotheses after each of T observations, by Bayes' rule,
    p(h_k | x_1..t) ∝ p(h_k) Π_{s ≤ t} p(x_s | h_k), computed in log space (a running sum of
    log-likelihoods) so that long sequences do not underflow. A hypothesis of prior 0, or that
    gives some observation probability 0, has posterior 0 from then on; at least one hypothesis
    must keep a positive probability.

    Shape:
        prior: (nh,), non-negative, summing to 1
        likelihoods: (T, nh), likelihoods[t, k] = p(x_t | h_k, x_<t)
        output: (T, nh), row t the posterior after observation t (each row sums to 1)
    """
    log_post = torch.log(prior) + torch.cumsum(torch.log(likelihoods), dim=0)  # (T, nh)
    return torch.softmax(log_post, dim=-1)


# --------------------------------------------------------------------------- resampling
def bootstrap_ci(values, statistic, n_resamples, alpha=0.05, generator=None):
    """Percentile bootstrap interval at level 1 − α for ``statistic`` of the sample, by this
    exact recipe (so that a seeded generator gives reproducible intervals):

        n = values.shape[0]
        idx = torch.randint(0, n, (n_resamples, n), generator=generator)  # with replacement
        stats = torch.stack([statistic(values[row]) for row in idx])      # one call per resample
        q = torch.tensor([alpha / 2, 1 - alpha / 2], dtype=stats.dtype)
        lower, upper = torch.quantile(stats, q, interpolation="linear")

    ``statistic`` maps a 1-D tensor to a 0-dim tensor (e.g. ``torch.mean``, ``torch.median``).

    Returns:
        a tuple of two Python floats (lower, upper).

    Shape:
        values: (n,), on the CPU (where the generator draws)
    """
    n = values.shape[0]
    idx = torch.randint(0, n, (n_resamples, n), generator=generator)  # (n_boot, n)
    stats = torch.stack([statistic(values[row]) for row in idx])  # (n_boot,)
    q = torch.tensor([alpha / 2, 1 - alpha / 2], dtype=stats.dtype)
    lower, upper = torch.quantile(stats, q, interpolation="linear")
    return float(lower), float(upper)


def paired_permutation_test(losses_a, losses_b, n_permutations, generator=None):
    """Two-sided p-value of a paired sign-flip permutation test of "models A and B have the
    same expected loss", from their losses on the same n examples, by this exact recipe:

        d = losses_a - losses_b                                              # (n,)
        signs = torch.randint(0, 2, (n_permutations, n), generator=generator) * 2 - 1
        rows = torch.cat([torch.ones(1, n), signs])      # row 0: the observed assignment
        stats = (rows.to(d.dtype) * d).mean(dim=1).abs()  # |mean| of each signed difference
        p = (1 + #{r ≥ 1: stats[r] ≥ stats[0]}) / (n_permutations + 1)

    Under the null hypothesis each difference is as likely to be −d_i as d_i (the two losses of
    an example are exchangeable), so flipping signs draws from the null distribution of the
    statistic while keeping each example's pair together. The add-one rule counts the observed
    assignment as one of the draws: p > 0 and P(p ≤ a) ≤ a under the null, for any number of
    draws.

    Returns:
        a Python float in (0, 1].

    Shape:
        losses_a, losses_b: (n,), on the CPU
    """
    d = losses_a - losses_b  # (n,)
    n = d.shape[0]
    signs = torch.randint(0, 2, (n_permutations, n), generator=generator) * 2 - 1  # (n_perm, n)
    rows = torch.cat([torch.ones(1, n, dtype=signs.dtype), signs])  # (1 + n_perm, n)
    stats = (rows.to(d.dtype) * d).mean(dim=1).abs()  # (1 + n_perm,)
    exceed = int((stats[1:] >= stats[0]).sum())
    return (1 + exceed) / (n_permutations + 1)


# --------------------------------------------------------------------------- model evaluation
def perplexity_with_ci(token_nlls, alpha=0.05):
    """Perplexity exp(m) of per-token negative log-likelihoods (nats), with the confidence
    interval at level 1 − α of the delta method on the log scale:

        m = mean(nll),  se = s / √n  (s the sample standard deviation, n − 1),
        z = Φ⁻¹(1 − α/2),  interval = (exp(m − z·se), exp(m + z·se)).

    The interval for the mean NLL is m ± z·se (the central limit theorem); exp is increasing, so
    its image is an interval for exp(m). To first order (the delta method) the standard error of
    exp(m) is exp(m)·se, and the interval is asymmetric around exp(m), as a ratio should be.
    Treats the tokens as independent, which neighbouring tokens of one text are not: the interval
    is too narrow for correlated NLLs.

    Returns:
        a tuple of three Python floats (perplexity, lower, upper).

    Shape:
        token_nlls: (n,), n ≥ 2
    """
    n = token_nlls.shape[0]
    m = token_nlls.mean()
    se = token_nlls.std() / math.sqrt(n)  # std: Bessel's n − 1
    z = torch.special.ndtri(torch.tensor(1.0 - alpha / 2, dtype=token_nlls.dtype))
    return float(torch.exp(m)), float(torch.exp(m - z * se)), float(torch.exp(m + z * se))


def expected_calibration_error(probs, labels, n_bins=15):
    """Expected calibration error with equal-width bins on the confidence:

        ECE = Σ_b (|B_b| / n) · |acc(B_b) − conf(B_b)|,   over n predictions,

    where the confidence of a prediction is its largest probability, the prediction its argmax
    (the first index among equal maxima, as ``torch.argmax``), acc(B_b) the fraction of correct
    predictions in bin b and conf(B_b) their mean confidence. Bin b = 0..k−1 (k = ``n_bins``)
    holds the confidences in (b/k, (b+1)/k]: bin index ceil(conf·k) − 1 (a confidence is at least
    1/V > 0).
    Empty bins have weight 0.

    Returns:
        a Python float in [0, 1].

    Shape:
        probs: (n, V), rows summing to 1 over V classes
        labels: (n,) int64 in [0, V)
    """
    conf, pred = probs.max(dim=-1)  # (n,), (n,)
    correct = (pred == labels).to(probs.dtype)
    bins = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)  # (n,) bin of each
    size = torch.bincount(bins, minlength=n_bins).to(probs.dtype)  # (k,)
    # Σ_b (|B_b|/n)·|acc_b − conf_b| = (1/n) Σ_b |Σ_{i∈B_b} (correct_i − conf_i)|
    gap = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(
        0, bins, correct - conf)  # (k,)
    return float(gap.abs().sum() / size.sum())
