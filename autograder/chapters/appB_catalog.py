"""Appendix B catalog: plausible wrong implementations (common mistakes), as patches on the
solution's answer cell (``{old: new}``, see ``spec.Mistake``) or, where the mistake is a different
procedure, as a function. tests/ prove that each mistake loses its exercise's points and is named
in the feedback. The alternative correct implementations are test fixtures:
``tests/chapters/alternatives/appB.py``.
"""

from __future__ import annotations

import torch

from autograder.spec import Mistake

# =========================================================================== Beta–Binomial
_EXACT_INTERVAL = ("lower = float(beta_distribution.ppf(tail, a_post, b_post))\n"
                   "    upper = float(beta_distribution.ppf(1 - tail, a_post, b_post))")

BETA_MISTAKES = (
    Mistake(key="swapped", title="successes added to β and failures to α",
            hint="α counts successes: the posterior is Beta(α + successes, β + failures)",
            patch={"a_post = alpha + successes": "a_post = alpha + failures",
                   "b_post = beta + failures": "b_post = beta + successes"}),
    Mistake(key="prior_interval", title="the credible interval of the prior, not the posterior",
            hint="the quantiles are those of the posterior Beta(α + s, β + f)",
            patch={"ppf(tail, a_post, b_post)": "ppf(tail, alpha, beta)",
                   "ppf(1 - tail, a_post, b_post)": "ppf(1 - tail, alpha, beta)"}),
    Mistake(key="normal_approximation", title="a normal approximation mean ± z·sd",
            hint="the posterior is a Beta, skewed near 0 and 1: take its quantiles "
                 "(scipy.stats.beta.ppf) at (1 − level)/2 and (1 + level)/2",
            patch={_EXACT_INTERVAL:
                   "sd = math.sqrt(mean * (1 - mean) / (a_post + b_post + 1))\n"
                   "    z = float(torch.special.ndtri(torch.tensor(1 - tail, dtype=torch.float64)))\n"
                   "    lower, upper = mean - z * sd, mean + z * sd"}),
    Mistake(key="mle_mean", title="the mean is the observed frequency s / (s + f)",
            hint="the posterior mean (α + s) / (α + β + s + f) includes the prior's pseudo-counts",
            patch={"mean = a_post / (a_post + b_post)": "mean = successes / (successes + failures)"}),
)


# =========================================================================== Dirichlet
DIRICHLET_MISTAKES = (
    Mistake(key="alpha_once", title="α added to the denominator once, not once per category",
            hint="the row must sum to 1: Σ_k (c_k + α_k) = n + Σ_k α_k (n + α·V when symmetric)",
            patch={"+ a.sum())": "+ a.mean())"}),
    Mistake(key="wrong_axis", title="normalised over the first axis instead of the last",
            hint="the categories lie along the last axis: sum the counts over dim=-1",
            patch={"c.sum(dim=-1, keepdim=True)": "c.sum(dim=0, keepdim=True)"}),
    Mistake(key="numerator_without_alpha", title="α added to the denominator only",
            hint="each category gets its pseudo-count: (c_k + α_k) / (n + Σ α)",
            patch={"(c + a) /": "c /"}),
    Mistake(key="no_prior", title="the observed frequencies c / n (the prior left out)",
            hint="the posterior mean adds the prior's pseudo-counts: (c_k + α_k) / (n + Σ α)",
            patch={"return (c + a) / (c.sum(dim=-1, keepdim=True) + a.sum())":
                   "return c / c.sum(dim=-1, keepdim=True)"}),
)


# =========================================================================== sequential Bayes
_LOG_SPACE = ("log_posterior = torch.log(prior) + torch.cumsum(torch.log(likelihoods), dim=0)"
              "  # (T, nh)\n    return torch.softmax(log_posterior, dim=-1)")

BAYES_MISTAKES = (
    Mistake(key="underflow", title="a product of probabilities, which underflows to 0/0 = NaN",
            hint="a product of thousands of probabilities is below the smallest float: add "
                 "log-likelihoods (torch.cumsum of torch.log) and normalise with softmax",
            patch={_LOG_SPACE: "posterior = prior * torch.cumprod(likelihoods, dim=0)  # (T, nh)\n"
                               "    return posterior / posterior.sum(dim=-1, keepdim=True)"}),
    Mistake(key="not_normalised", title="the posterior not normalised",
            hint="divide by the evidence p(x_1..t) = Σ_k p(h_k) Π p(x_s | h_k): each row sums to 1",
            patch={"torch.softmax(log_posterior, dim=-1)": "torch.exp(log_posterior)"}),
    Mistake(key="prior_every_step", title="the prior multiplied in at every step",
            hint="yesterday's posterior is today's prior: the prior enters once, the likelihoods "
                 "accumulate",
            patch={"torch.log(prior) + torch.cumsum(torch.log(likelihoods), dim=0)":
                   "torch.cumsum(torch.log(prior) + torch.log(likelihoods), dim=0)"}),
    Mistake(key="last_observation_only", title="only the latest observation's likelihood used",
            hint="the posterior after t observations multiplies the likelihoods of all of them: "
                 "a running sum of log-likelihoods",
            patch={"torch.cumsum(torch.log(likelihoods), dim=0)": "torch.log(likelihoods)"}),
)


# =========================================================================== bootstrap
BOOTSTRAP_MISTAKES = (
    Mistake(key="without_replacement", title="resampled without replacement (a permutation)",
            hint="a permutation of the data has the same statistic: draw n indices WITH "
                 "replacement, torch.randint(0, n, (n_resamples, n), generator=generator)",
            patch={"torch.randint(0, n, (n_resamples, n), generator=generator)":
                   "torch.argsort(torch.rand(n_resamples, n, generator=generator), dim=1)"}),
    Mistake(key="nearest_rank", title="nearest-rank quantiles instead of linear interpolation",
            hint="the recipe interpolates between the two nearest order statistics: "
                 "torch.quantile(stats, q, interpolation=\"linear\")",
            patch={'interpolation="linear"': 'interpolation="nearest"'}),
    Mistake(key="alpha_per_tail", title="quantiles at α and 1 − α (a 1 − 2α interval)",
            hint="a central interval at level 1 − α leaves α/2 in each tail",
            patch={"[alpha / 2, 1 - alpha / 2]": "[alpha, 1 - alpha]"}),
    Mistake(key="data_quantiles", title="quantiles of the data instead of the resampled statistics",
            hint="the interval is between quantiles of the n_boot bootstrap statistics, which "
                 "estimate the statistic's sampling distribution",
            patch={"torch.quantile(stats, q,": "torch.quantile(values, q,"}),
)


# =========================================================================== permutation test
def unpaired_permutation_test(losses_a, losses_b, n_permutations, generator=None):
    """A two-sample test: the 2n losses pooled and re-split at random, ignoring which losses
    belong to the same example."""
    n = losses_a.shape[0]
    pooled = torch.cat([losses_a, losses_b])  # (2n,)
    splits = torch.argsort(torch.rand(n_permutations, 2 * n, generator=generator), dim=1)
    shuffled = pooled[splits]  # (n_perm, 2n): each row a random re-split
    permuted = (shuffled[:, :n].mean(dim=1) - shuffled[:, n:].mean(dim=1)).abs()
    observed = (losses_a.mean() - losses_b.mean()).abs()
    return (1 + int((permuted >= observed).sum())) / (n_permutations + 1)


PERMUTATION_MISTAKES = (
    Mistake(key="no_add_one", title="p = #{permuted ≥ observed} / n_permutations",
            hint="count the observed assignment as a draw: p = (1 + #) / (n_permutations + 1), "
                 "never 0",
            patch={"return (1 + exceed) / (n_permutations + 1)":
                   "return exceed / n_permutations"}),
    Mistake(key="one_sided", title="a one-sided test of the signed mean",
            hint="the question is whether the models differ, in either direction: compare "
                 "|mean| of the permuted differences with |mean| of the observed ones",
            patch={"observed = d.mean().abs()": "observed = d.mean()",
                   "permuted = (signs * d).mean(dim=1).abs()": "permuted = (signs * d).mean(dim=1)"}),
    Mistake(key="abs_observed_only", title="|observed| compared with signed permuted means",
            hint="take the absolute value of the permuted statistics too, or about half of the "
                 "extreme ones are missed and p is halved",
            patch={"permuted = (signs * d).mean(dim=1).abs()": "permuted = (signs * d).mean(dim=1)"}),
    Mistake(key="unpaired", title="an unpaired test: the losses pooled and re-split",
            hint="the examples are shared: flip the sign of each paired difference a_i − b_i, "
                 "which keeps the pair together and removes the variation between examples",
            fn=unpaired_permutation_test),
)


# =========================================================================== perplexity
_DELTA_RETURN = "return math.exp(m), math.exp(m - z * se), math.exp(m + z * se)"

PERPLEXITY_MISTAKES = (
    Mistake(key="population_std", title="the population standard deviation (divisor n)",
            hint="the standard error uses the sample standard deviation, Bessel's n − 1 "
                 "(torch's default std)",
            patch={"token_nlls.std().item()": "token_nlls.std(correction=0).item()"}),
    Mistake(key="not_exponentiated", title="the interval of the mean NLL, not of the perplexity",
            hint="perplexity = exp(mean NLL): exponentiate both ends, exp(m ± z·se)",
            patch={_DELTA_RETURN: "return math.exp(m), m - z * se, m + z * se"}),
    Mistake(key="one_sided_z", title="z = Φ⁻¹(1 − α) (a one-sided quantile)",
            hint="a central interval leaves α/2 in each tail: z = Φ⁻¹(1 − α/2), 1.96 for α = 0.05",
            patch={"1 - alpha / 2": "1 - alpha"}),
    Mistake(key="symmetric", title="a symmetric interval exp(m) ± z·exp(m)·se",
            hint="build the interval on the log scale, m ± z·se, and exponentiate its ends: "
                 "exp(m ± z·se), asymmetric and always positive",
            patch={_DELTA_RETURN: "return math.exp(m), math.exp(m) * (1 - z * se), "
                                  "math.exp(m) * (1 + z * se)"}),
    Mistake(key="no_sqrt_n", title="the standard deviation used as the standard error",
            hint="the mean of n values varies √n times less than one value: se = s / √n",
            patch={" / math.sqrt(n)": ""}),
)


# =========================================================================== calibration
ECE_MISTAKES = (
    Mistake(key="true_class_confidence", title="the probability of the true class as confidence",
            hint="calibration is about the model's own prediction: confidence = max_c p_c, "
                 "correct = (argmax == label)",
            patch={"confidence, prediction = probs.max(dim=-1)":
                   "prediction = probs.argmax(dim=-1)\n"
                   "    confidence = probs[torch.arange(labels.numel()), labels]"}),
    Mistake(key="unweighted", title="an unweighted mean over the non-empty bins",
            hint="each bin counts in proportion to its size, |B_b| / n",
            patch={"ece += in_bin.sum().item() / labels.numel() * abs(gap.item())":
                   "ece += abs(gap.item())",
                   "return ece": "return ece / len(set(bins.tolist()))"}),
    Mistake(key="signed_gap", title="signed gaps acc − conf, which cancel",
            hint="ECE averages |acc(B_b) − conf(B_b)|: over- and underconfidence must not cancel",
            patch={"abs(gap.item())": "gap.item()"}),
    Mistake(key="left_closed_bins", title="bins [b/k, (b+1)/k) instead of (b/k, (b+1)/k]",
            hint="a confidence exactly on an edge b/k belongs to the bin below it: bin index "
                 "ceil(conf·k) − 1, k = n_bins",
            patch={"(torch.ceil(confidence * n_bins).long() - 1)":
                   "torch.floor(confidence * n_bins).long()"}),
)
