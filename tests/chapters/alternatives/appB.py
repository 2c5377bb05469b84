"""Appendix B alternatives: correct implementations written differently from the solution. They
are test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F`` and what it imports inside its own body.
"""

from __future__ import annotations

import math

import torch


# =========================================================================== Beta–Binomial
def beta_posterior_betaincinv(alpha, beta, successes, failures, level=0.95):
    from scipy.special import betaincinv  # the inverse regularised incomplete beta function

    a, b = float(alpha + successes), float(beta + failures)
    lower = betaincinv(a, b, (1 - level) / 2)
    upper = betaincinv(a, b, 1 - (1 - level) / 2)
    return a, b, 1 / (1 + b / a), float(lower), float(upper)


def beta_posterior_frozen(alpha, beta, successes, failures, level=0.95):
    from scipy import stats

    posterior = stats.beta(alpha + successes, beta + failures)  # a frozen distribution
    tail = (1 - level) / 2
    lower, upper = posterior.ppf([tail, 1 - tail])
    return (float(alpha + successes), float(beta + failures), float(posterior.mean()),
            float(lower), float(upper))


BETA_ALTERNATIVES = (beta_posterior_betaincinv, beta_posterior_frozen)


# =========================================================================== Dirichlet
def dirichlet_normalise_row(counts, alpha):
    dtype = counts.dtype if counts.is_floating_point() else torch.get_default_dtype()
    pseudo = counts.to(dtype) + torch.as_tensor(alpha, dtype=dtype, device=counts.device)
    return pseudo / pseudo.sum(-1, keepdim=True)  # the posterior's parameters, normalised


def dirichlet_symmetric_or_vector(counts, alpha):
    c = counts.to(counts.dtype if counts.is_floating_point() else torch.get_default_dtype())
    if isinstance(alpha, torch.Tensor) and alpha.dim() > 0:
        total = alpha.to(c.dtype).sum()
        a = alpha.to(c.dtype)
    else:  # Chapter 1's add-α: n + α·V
        total = float(alpha) * c.shape[-1]
        a = float(alpha)
    return (c + a) / (c.sum(-1, keepdim=True) + total)


DIRICHLET_ALTERNATIVES = (dirichlet_normalise_row, dirichlet_symmetric_or_vector)


# =========================================================================== sequential Bayes
def bayes_renormalise_each_step(prior, likelihoods):
    # multiplying by one likelihood and renormalising never underflows (unlike the full product)
    posterior, rows = prior, []
    for likelihood in likelihoods:
        posterior = posterior * likelihood
        posterior = posterior / posterior.sum()
        rows.append(posterior)
    return torch.stack(rows)


def bayes_logsumexp(prior, likelihoods):
    log_joint = prior.log().unsqueeze(0) + likelihoods.log().cumsum(0)
    return (log_joint - torch.logsumexp(log_joint, dim=-1, keepdim=True)).exp()


BAYES_ALTERNATIVES = (bayes_renormalise_each_step, bayes_logsumexp)


# =========================================================================== bootstrap
def _linear_quantile(sorted_values, q):
    """The quantile q of sorted values, interpolating linearly between order statistics."""
    position = q * (sorted_values.numel() - 1)
    below = math.floor(position)
    above = min(below + 1, sorted_values.numel() - 1)
    weight = position - below
    return (sorted_values[below] + weight * (sorted_values[above] - sorted_values[below])).item()


def bootstrap_sorted(values, statistic, n_resamples, alpha=0.05, generator=None):
    n = len(values)
    resamples = values[torch.randint(0, n, (n_resamples, n), generator=generator)]
    stats = torch.stack(list(map(statistic, resamples))).sort().values
    return _linear_quantile(stats, alpha / 2), _linear_quantile(stats, 1 - alpha / 2)


BOOTSTRAP_ALTERNATIVES = (bootstrap_sorted,)


# =========================================================================== permutation test
def permutation_matmul(losses_a, losses_b, n_permutations, generator=None):
    d = losses_b.neg().add(losses_a)
    n = d.numel()
    flips = torch.randint(0, 2, (n_permutations, n), generator=generator)
    signs = torch.where(flips == 1, 1.0, -1.0).to(d.dtype)
    permuted = (signs @ d / n).abs()
    at_least = (permuted >= (d.sum() / n).abs()).sum().item()
    return (at_least + 1) / (n_permutations + 1)


PERMUTATION_ALTERNATIVES = (permutation_matmul,)


# =========================================================================== perplexity
def perplexity_normal_dist(token_nlls, alpha=0.05):
    from statistics import NormalDist

    n = token_nlls.numel()
    mean = token_nlls.sum().item() / n
    variance = ((token_nlls - mean) ** 2).sum().item() / (n - 1)
    half = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(variance / n)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


PERPLEXITY_ALTERNATIVES = (perplexity_normal_dist,)


# =========================================================================== calibration
def ece_bucketize(probs, labels, n_bins=15):
    confidence = probs.max(-1).values
    correct = (probs.argmax(-1) == labels).to(probs.dtype)
    edges = torch.arange(1, n_bins, dtype=probs.dtype, device=probs.device) / n_bins
    bins = torch.bucketize(confidence, edges)  # edges[i-1] < x <= edges[i]: right-closed bins
    total = 0.0
    for b in bins.unique():
        members = bins == b
        total += abs((correct[members] - confidence[members]).sum().item())
    return total / len(labels)


ECE_ALTERNATIVES = (ece_bucketize,)


ALTERNATIVES = {
    "appB.beta_binomial_posterior": BETA_ALTERNATIVES,
    "appB.dirichlet_posterior_mean": DIRICHLET_ALTERNATIVES,
    "appB.sequential_bayes_update": BAYES_ALTERNATIVES,
    "appB.bootstrap_ci": BOOTSTRAP_ALTERNATIVES,
    "appB.paired_permutation_test": PERMUTATION_ALTERNATIVES,
    "appB.perplexity_with_ci": PERPLEXITY_ALTERNATIVES,
    "appB.expected_calibration_error": ECE_ALTERNATIVES,
}
