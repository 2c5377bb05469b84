# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix B — A statistical perspective on LLMs
#
# A language model is a probability distribution, fitted to data, that we then query, sample and
# evaluate on more data. Every step of that is statistics. Training by next-token cross-entropy is
# maximum likelihood; a benchmark score is an estimate with a sampling error; "model A beats model
# B" is a hypothesis test whether or not anyone runs one; and a model that says "90% sure" makes
# a claim about frequencies that can be checked. This appendix collects the statistical tools the
# rest of the course uses, and turns each into code you can trust.
#
# The sections follow the book's appendix:
#
# - **B.1 Core concepts in statistics**: estimators, their bias and variance, standard errors, the
#   central limit theorem and maximum likelihood.
# - **B.2 Information theory and entropy**: a short bridge to Chapter 2 (cross-entropy, perplexity
#   and KL divergence as statistical quantities).
# - **B.3 Bayesian thinking: learning from new evidence**: conjugate updates (Beta–Binomial,
#   Dirichlet–Multinomial, the origin of add-α smoothing) and sequential updating over a discrete
#   set of hypotheses, computed stably in log space.
# - **B.4 Statistical inference and model evaluation**: the bootstrap, a paired permutation test
#   for comparing two models, a confidence interval for perplexity, and calibration (the expected
#   calibration error and the reliability diagram).
# - **B.5 Why LLMs are fundamentally statistical models**: what the pieces add up to.
#
# ## How to work through it
#
# - Each exercise has an **answer cell** with a function, its signature and a docstring that says
#   exactly what to compute. Replace `raise NotImplementedError()` with your implementation.
# - Below each answer cell a **check cell** runs `self_check(...)` on a few quick cases and says
#   what went wrong, if anything. Do not edit or delete check cells.
# - Cells titled **Try it** call your functions; until you implement them they print a reminder.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** Define helpers in the same answer cell.
# - Estimates that are numbers (posterior parameters, interval ends, p-values, the ECE) are
#   returned as Python numbers and compared with a reference implementation in `float64`: a
#   formula that is only approximately right fails. The Dirichlet posterior mean is graded in
#   `float64`, `float32` and `bfloat16`, the sequential update in `float64` and `float32`, with
#   tolerances that follow the dtype.
# - The two resampling procedures, the bootstrap and the permutation test, are graded twice.
#   **Exactly**: their docstrings state a recipe, and the hidden tests call your function with a
#   seeded generator and compare the result with a replay of the recipe on the same draws. **By
#   simulation**: your function is run on hundreds of synthetic data sets whose truth is known,
#   and the frequencies must be right (the bootstrap must cover the true mean as often as a
#   correct percentile bootstrap does; under the null hypothesis the permutation test must reject
#   at most 5% of the time at level 0.05, with p-values spread uniformly). A correct
#   implementation fails these checks with probability below $10^{-6}$.
#
# ## Conventions
#
# - Logarithms are natural (nats).
# - A central interval at level $1 - \alpha$ leaves $\alpha / 2$ in each tail.
# - Standard errors use the **sample** standard deviation (divisor $n - 1$, torch's default
#   `std`).
# - Resampling functions take a `torch.Generator` and draw their random numbers with it, in the
#   order the docstring states.
# - Letters follow the course's [notation](../../docs/NOTATION.md): $V$ counts the outcomes of a
#   categorical distribution (a vocabulary, or the classes of a classifier) and $T$ the
#   observations of a sequence. Any other count is written in lower case and defined where it is
#   used: $n$ values or examples, $n_h$ hypotheses, $n_{\text{boot}}$ bootstrap resamples,
#   $n_{\text{perm}}$ permutations, $k$ bins. The temperature is $\tau$.

# %% llmcourse={"role": "setup"}
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from autograder.kernel import self_check

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## B.1 Core concepts in statistics
#
# **Random variables and their moments.** A random variable $X$ takes values with some
# probability distribution; a language model's next token, the loss of a model on a randomly
# drawn test example, and the number of correct answers on a benchmark are all random
# variables. Two numbers summarise a distribution: the **expectation** $\mu = \mathbb{E}[X]$ (the
# average over the distribution) and the **variance** $\sigma^2 = \mathbb{E}[(X - \mu)^2]$ (the
# average squared distance from it).
#
# **Estimators.** We rarely know the distribution; we see a sample $x_1, \dots, x_n$ drawn from it
# independently and compute an **estimator**, a function of the sample meant to approximate an
# unknown quantity $\theta$. Its quality has two parts: the **bias** $\mathbb{E}[\hat\theta] -
# \theta$ (is it right on average?) and the **variance** $\mathrm{Var}(\hat\theta)$ (how much does
# it move from sample to sample?), which combine into the mean squared error
#
# $$\mathbb{E}\big[(\hat\theta - \theta)^2\big] = \mathrm{bias}^2 + \mathrm{Var}(\hat\theta).$$
#
# The sample mean $\bar x = \frac1n \sum_i x_i$ is unbiased for $\mu$, and since the $x_i$ are
# independent its variance is $\sigma^2 / n$. Its standard deviation $\sigma / \sqrt n$ is the
# **standard error**: to halve the error of an average you need four times the data.
#
# **Bessel's correction.** The natural variance estimate $\frac1n \sum_i (x_i - \bar x)^2$ is
# biased low, because $\bar x$ is fitted to the same data. Expanding around $\mu$,
# $\sum_i (x_i - \bar x)^2 = \sum_i (x_i - \mu)^2 - n(\bar x - \mu)^2$, whose expectation is
# $n\sigma^2 - n \cdot \sigma^2 / n = (n - 1)\sigma^2$. Dividing by $n - 1$ instead gives the
# unbiased **sample variance** $s^2$; the estimated standard error of a mean is $s / \sqrt n$.
#
# **Two limit theorems.** The *law of large numbers* says $\bar x \to \mu$ as $n \to \infty$. The
# *central limit theorem* says how fast and in what shape: whatever the distribution of $X$ (with
# finite variance), $\sqrt n (\bar x - \mu) / \sigma$ tends to a standard normal. So with
# probability close to $1 - \alpha$,
#
# $$\mu \in \Big[\bar x - z\, \frac{s}{\sqrt n},\ \bar x + z\, \frac{s}{\sqrt n}\Big], \qquad
#   z = \Phi^{-1}(1 - \alpha/2),$$
#
# with $\Phi$ the standard normal distribution function ($z = 1.96$ for a 95% interval). This is
# a **confidence interval**: a procedure that, over repeated samples, contains the true value a
# fraction $1 - \alpha$ of the time (its *coverage*).
#
# **Maximum likelihood.** For a model $p(x; \theta)$ the maximum-likelihood estimate maximises
# $\sum_i \log p(x_i; \theta)$. For a categorical distribution it is the normalised count
# (Chapter 1); for an LLM with parameters $\theta$ it is exactly what training does, since the
# loss is the average negative log-likelihood of the next token,
# $-\frac1T \sum_t \log p_\theta(x_t \mid x_{<t})$. Under regularity conditions the MLE is
# consistent and asymptotically normal with the smallest possible variance; but it has no
# notion of uncertainty, and with few observations it overfits (the zero-probability n-grams of
# Chapter 1). Both problems have a Bayesian answer, in B.3.

# %% [markdown]
# ## B.2 Information theory and entropy
#
# Chapter 2 builds these quantities in full; here is what they mean statistically. For a true
# distribution $p$ and a model $q$:
#
# - the **entropy** $H(p) = -\sum_x p(x) \log p(x)$ is the average surprise of outcomes drawn
#   from $p$ itself, a floor no model can beat;
# - the **cross-entropy** $H(p, q) = -\mathbb{E}_{x \sim p}[\log q(x)]$ is the average surprise of
#   the model on data from $p$, and $H(p, q) = H(p) + \mathrm{KL}(p \,\|\, q) \ge H(p)$, with
#   equality only when $q = p$;
# - the **perplexity** $\exp H(p, q)$ is the cross-entropy on a multiplicative scale: the number
#   of equally likely choices the model is as uncertain as.
#
# None of these can be computed exactly, because $p$ is unknown. What we compute is the average
# negative log-likelihood of $n$ held-out tokens, $\frac1n \sum_i -\log q(x_i)$: a **sample mean**,
# hence an unbiased estimate of the cross-entropy, with a standard error $s / \sqrt n$ like any
# other (Exercise 6 builds a confidence interval for perplexity from it). And minimising the
# average NLL of the training data is minimising the cross-entropy between the *empirical*
# distribution and the model, that is $\mathrm{KL}(\hat p_{\text{data}} \,\|\, q)$: maximum
# likelihood and information theory describe the same training objective.

# %% [markdown]
# ## B.3 Bayesian thinking: learning from new evidence
#
# The Bayesian view treats the unknown parameter itself as uncertain, with a **prior**
# distribution $p(\theta)$ that says what we believe before the data. Observing data
# $\mathcal{D}$ updates
# it by Bayes' rule:
#
# $$p(\theta \mid \mathcal{D}) = \frac{p(\mathcal{D} \mid \theta)\, p(\theta)}{p(\mathcal{D})},
#   \qquad p(\mathcal{D}) = \int p(\mathcal{D} \mid \theta)\, p(\theta)\, d\theta .$$
#
# The **posterior** is proportional to likelihood times prior; the **evidence** $p(\mathcal{D})$
# only makes it integrate to 1. The posterior is a whole distribution, so it carries its own
# uncertainty: its spread says how much the data have pinned $\theta$ down.
#
# ### Beta–Binomial: a probability learned from counts
#
# Let $\theta$ be the probability of a "success": that a model answers a benchmark question
# correctly, or that a given token appears at a position. After $s$ successes and $f$ failures
# the likelihood is $\theta^s (1 - \theta)^f$. Take as prior a **Beta distribution**,
#
# $$p(\theta) = \frac{\theta^{\alpha - 1} (1 - \theta)^{\beta - 1}}{\mathrm{B}(\alpha, \beta)},
#   \qquad \theta \in [0, 1],\ \alpha, \beta > 0 .$$
#
# Multiplying, the posterior is proportional to $\theta^{\alpha + s - 1} (1 - \theta)^{\beta + f -
# 1}$, which is again a Beta density:
#
# $$\theta \mid \mathcal{D} \sim \mathrm{Beta}(\alpha + s,\ \beta + f).$$
#
# A prior whose posterior stays in the same family is called **conjugate**. Here the update is
# just addition, so $\alpha$ and $\beta$ act as **pseudo-counts**: the prior is worth
# $\alpha + \beta$ imaginary observations, $\alpha$ of them successes. The posterior mean
#
# $$\mathbb{E}[\theta \mid \mathcal{D}] = \frac{\alpha + s}{\alpha + \beta + n}
#   = w\, \frac{\alpha}{\alpha + \beta} + (1 - w)\, \frac{s}{n}, \qquad
#   w = \frac{\alpha + \beta}{\alpha + \beta + n},$$
#
# with $n = s + f$, is a weighted average of the prior mean and the observed frequency, and the
# weight of the prior fades as data arrive. The posterior variance
# $\frac{a b}{(a + b)^2 (a + b + 1)}$ (with $a, b$ the posterior's parameters) shrinks like
# $1/n$: the posterior **concentrates** around the truth.
#
# A **central credible interval** at level $1 - \alpha$ runs between the posterior's quantiles
# $\alpha/2$ and $1 - \alpha/2$: given the data and the prior, $\theta$ lies in it with
# probability $1 - \alpha$. (A confidence interval makes a different promise, about the
# procedure over repeated samples; with a flat prior and many observations the two nearly
# coincide.) The Beta quantile function has no closed form; `scipy.stats.beta.ppf(q, a, b)`
# computes it.

# %% [markdown]
# ### Exercise 1: `beta_binomial_posterior` (1.5 points)
#
# Update a $\mathrm{Beta}(\alpha, \beta)$ prior with `successes` and `failures` and return the
# posterior's parameters, its mean and the central credible interval at `level` (0.95: the 2.5%
# and 97.5% quantiles). Use `scipy.stats.beta.ppf` (imported for you as `beta_distribution`,
# because the parameter `beta` takes the name) or `scipy.special.betaincinv`, the same function.
# Return Python floats: wrap scipy's NumPy numbers in `float(...)`.

# %% llmcourse={"role": "answer", "exercise": "appB.beta_binomial_posterior"}
from scipy.stats import beta as beta_distribution


def beta_binomial_posterior(alpha, beta, successes, failures, level=0.95):
    """The Beta(alpha, beta) prior updated with binomial data.

    Args:
        alpha, beta: the prior's parameters (> 0).
        successes, failures: the observed counts (≥ 0).
        level: the probability of the central credible interval.

    Returns:
        A tuple of five Python floats (alpha_post, beta_post, mean, lower, upper): the
        posterior Beta(alpha_post, beta_post), its mean, and its quantiles (1 − level)/2 (lower)
        and (1 + level)/2 (upper).
    """
    ### BEGIN SOLUTION
    a_post = alpha + successes
    b_post = beta + failures
    mean = a_post / (a_post + b_post)
    tail = (1 - level) / 2
    lower = float(beta_distribution.ppf(tail, a_post, b_post))
    upper = float(beta_distribution.ppf(1 - tail, a_post, b_post))
    return float(a_post), float(b_post), float(mean), lower, upper
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appB.beta_binomial_posterior"}
self_check("appB.beta_binomial_posterior", beta_binomial_posterior)

# %% [markdown]
# ### The posterior concentrates as tokens arrive
#
# The figure watches a single token probability being learned. The true rate is
# $\theta = 0.3$ (say, how often a model's continuation starts with a given word); tokens arrive
# one by one, and after each batch the posterior is updated from the flat prior $\mathrm{Beta}(1,
# 1)$. Early on the posterior is wide and the prior matters; after a few hundred tokens it is a
# narrow bump around the truth whose width shrinks like $1 / \sqrt n$ (right panel: the width of
# the 95% credible interval against $n$, on log axes, next to $4 \sqrt{\theta(1-\theta)/n}$,
# the width of a normal-theory interval).

# %%
# Figure: Beta posteriors of a token's probability after n tokens, and the interval width.
g_fig = torch.Generator().manual_seed(1)
theta_true = 0.3
tokens_fig = (torch.rand(2000, generator=g_fig, dtype=torch.float64) < theta_true).double()
grid = torch.linspace(0.0005, 0.9995, 2000, dtype=torch.float64)


def beta_log_density(x, a, b):
    return ((a - 1) * torch.log(x) + (b - 1) * torch.log1p(-x)
            - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)))


fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for n in (0, 5, 20, 100, 500, 2000):
    s = tokens_fig[:n].sum().item()
    axes[0].plot(grid, beta_log_density(grid, 1 + s, 1 + n - s).exp(), label=f"n = {n}")
axes[0].axvline(theta_true, color="k", linestyle=":", label="true θ")
axes[0].set_xlabel("θ")
axes[0].set_ylabel("posterior density")
axes[0].set_title("Beta(1 + s, 1 + f) after n tokens")
axes[0].legend(fontsize=8)
ns = torch.unique(torch.logspace(0, math.log10(2000), 40).round().long())
widths = []
for n in ns.tolist():
    s = tokens_fig[:n].sum().item()
    cdf = beta_log_density(grid, 1 + s, 1 + n - s).exp().cumsum(0)
    cdf = cdf / cdf[-1]  # the posterior CDF on the grid: quantiles by search
    lo, hi = grid[torch.searchsorted(cdf, 0.025)], grid[torch.searchsorted(cdf, 0.975)]
    widths.append((hi - lo).item())
axes[1].loglog(ns, widths, "o-", markersize=3, label="95% credible interval")
axes[1].loglog(ns, 4 * math.sqrt(theta_true * (1 - theta_true)) / ns.double().sqrt(), "k--",
               label="4·sqrt(θ(1−θ)/n)")
axes[1].set_xlabel("tokens observed n")
axes[1].set_ylabel("interval width")
axes[1].set_title("the width shrinks like 1/√n")
axes[1].legend()
fig.tight_layout()
plt.show()

# %%
# Try it: the same observed frequency 0.7 from 10 and from 1000 answers, and a strong prior.
try:
    for s, f in ((7, 3), (700, 300)):
        a, b, mean, lo, hi = beta_binomial_posterior(1.0, 1.0, s, f)
        print(f"{s:4d}/{s + f:<5d} flat prior:   mean {mean:.3f}, 95% interval [{lo:.3f}, {hi:.3f}]")
    a, b, mean, lo, hi = beta_binomial_posterior(30.0, 30.0, 7, 3)
    print(f"   7/10    prior Beta(30, 30): mean {mean:.3f}, 95% interval [{lo:.3f}, {hi:.3f}]"
          "  (the prior is worth 60 observations)")
except NotImplementedError:
    print("Implement `beta_binomial_posterior` first, then re-run this cell.")

# %% [markdown]
# ### Dirichlet–Multinomial: add-α smoothing is a posterior mean
#
# With $V$ outcomes (a vocabulary) the unknown is a probability vector
# $\theta = (\theta_1, \dots, \theta_V)$ and the data are counts $c_1, \dots, c_V$ with
# likelihood $\prod_k \theta_k^{c_k}$. The conjugate prior is the **Dirichlet** distribution,
# $p(\theta) \propto \prod_k \theta_k^{\alpha_k - 1}$ on the simplex, the Beta's
# multi-dimensional version. The same multiplication gives the posterior
#
# $$\theta \mid c \sim \mathrm{Dirichlet}(\alpha_1 + c_1, \dots, \alpha_V + c_V),$$
#
# and the mean of a $\mathrm{Dirichlet}(a)$ is $a_k / \sum_j a_j$, so
#
# $$\mathbb{E}[\theta_k \mid c] = \frac{c_k + \alpha_k}{n + \sum_j \alpha_j}, \qquad n = \sum_j c_j.$$
#
# For a **symmetric** prior, $\alpha_k = \alpha$ for every $k$, this is
# $\frac{c_k + \alpha}{n + \alpha V}$: exactly **Chapter 1's add-α smoothing** of each context's
# row of n-gram counts, and $\alpha = 1$ is Laplace's rule of succession. So smoothing is not a
# hack: it is the Bayes estimate of the next-token distribution (the posterior mean minimises
# the expected squared error) under a prior that believes every token was seen $\alpha$ times
# before the data came. The maximum-likelihood estimate $c_k / n$ is the limit
# $\alpha \to 0$; it is also the posterior *mode* under the flat prior $\alpha = 1$, which is why
# the most probable single value, unlike the mean, can put probability exactly 0 on unseen
# tokens. A context with no counts at all gets the prior mean $\alpha_k / \sum_j \alpha_j$.

# %% [markdown]
# ### Exercise 2: `dirichlet_posterior_mean` (1 point)
#
# Return $(c_k + \alpha_k) / (n + \sum_j \alpha_j)$ along the last axis, for `alpha` a number
# (symmetric prior) or a tensor of shape $(V,)$. Integer counts give the default floating dtype
# (`torch.get_default_dtype()`); floating counts keep their dtype.

# %% llmcourse={"role": "answer", "exercise": "appB.dirichlet_posterior_mean"}
def dirichlet_posterior_mean(counts, alpha):
    """Posterior mean of category probabilities under a Dirichlet(alpha) prior.

    Args:
        counts: observed counts, categories along the last axis (integer or floating).
        alpha: the prior's concentration: a number α ≥ 0 (every α_k = α) or a tensor (V,).

    Returns:
        (c_k + α_k) / (Σ_j c_j + Σ_j α_j) along the last axis; rows sum to 1.

    Shape:
        counts: (..., V), V categories
        Output: (..., V)
    """
    ### BEGIN SOLUTION
    c = counts if counts.is_floating_point() else counts.to(torch.get_default_dtype())
    a = torch.as_tensor(alpha, dtype=c.dtype, device=c.device).expand(c.shape[-1])  # (V,)
    return (c + a) / (c.sum(dim=-1, keepdim=True) + a.sum())
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appB.dirichlet_posterior_mean"}
self_check("appB.dirichlet_posterior_mean", dirichlet_posterior_mean)

# %%
# Try it: a bigram count table smoothed as Chapter 1 did, and a vector prior that prefers token 0.
try:
    counts = torch.tensor([[3, 1, 0, 0], [0, 0, 0, 0], [5, 2, 2, 1]])
    print("symmetric α = 1 (Laplace):\n", dirichlet_posterior_mean(counts, 1.0))
    by_hand = (counts + 1.0) / (counts.sum(-1, keepdim=True) + 1.0 * 4)
    print("Chapter 1's (c + α) / (n + αV) agrees:",
          torch.allclose(dirichlet_posterior_mean(counts, 1.0), by_hand))
    print("vector prior (2, 0.5, 0.5, 0.5):\n",
          dirichlet_posterior_mean(counts, torch.tensor([2.0, 0.5, 0.5, 0.5])))
except NotImplementedError:
    print("Implement `dirichlet_posterior_mean` first, then re-run this cell.")

# %% [markdown]
# ### Sequential updating over a discrete set of hypotheses
#
# Bayes' rule needs no conjugacy when the hypotheses are few. Let $h_1, \dots, h_{n_h}$ be $n_h$
# candidate explanations of a text, for example $n_h$ Markov sources, one per author or language,
# each giving a probability $p(x_t \mid x_{t-1}, h_k)$ to every next token. With prior $p(h_k)$, the
# posterior after observing $x_1, \dots, x_t$ is
#
# $$p(h_k \mid x_{1..t}) = \frac{p(h_k) \prod_{s \le t} p(x_s \mid x_{<s}, h_k)}
#   {\sum_j p(h_j) \prod_{s \le t} p(x_s \mid x_{<s}, h_j)} .$$
#
# The update is **sequential**: the posterior after $t - 1$ tokens is the prior for token $t$,
# and multiplying by one more likelihood and renormalising gives the next posterior. The prior
# enters once; the likelihoods accumulate.
#
# **Compute it in log space.** Each factor is a probability below 1, and their product shrinks
# geometrically: 2 000 tokens at probability about 0.2 multiply to $10^{-1398}$, far below the
# smallest positive `float64` (about $10^{-308}$, or $10^{-324}$ with subnormals). The product
# becomes 0 for every hypothesis and the ratio $0/0$ is NaN. The logarithm turns the product into
# a running sum, $\ell_k(t) = \log p(h_k) + \sum_{s \le t} \log p(x_s \mid x_{<s}, h_k)$, and the
# normalisation becomes a softmax, $p(h_k \mid x_{1..t}) = \exp \ell_k(t) / \sum_j \exp \ell_j(t)$,
# which `torch.softmax` evaluates safely by subtracting the largest $\ell_j(t)$ first.
#
# **How fast does it learn?** The log posterior odds of the true source $h^\ast$ against $h_k$
# grow by $\log p(x_t \mid h^\ast) - \log p(x_t \mid h_k)$ per token, whose expectation is a KL
# divergence between the two sources' next-token distributions (B.2). The odds therefore grow
# exponentially, at a rate set by how distinguishable the sources are: close sources need long
# texts.

# %% [markdown]
# ### Exercise 3: `sequential_bayes_update` (1.5 points)
#
# Return the $(T, n_h)$ posteriors after each observation: row $t$ is $p(h \mid x_1, \dots, x_t)$.
# Work in log space; the hidden tests include texts of 2 000 tokens, a hypothesis with prior 0,
# and an observation with likelihood 0 under one hypothesis (that hypothesis then has posterior
# 0 for good). Keep the input's dtype.

# %% llmcourse={"role": "answer", "exercise": "appB.sequential_bayes_update"}
def sequential_bayes_update(prior, likelihoods):
    """Posteriors over nh hypotheses after each of T observations.

    Args:
        prior: p(h_k), non-negative, summing to 1.
        likelihoods: likelihoods[t, k] = p(x_t | x_<t, h_k) (probabilities, possibly 0; at least
            one hypothesis keeps a positive posterior).

    Returns:
        posteriors[t, k] = p(h_k | x_1, ..., x_t), each row summing to 1, in the input's dtype.

    Shape:
        prior: (nh,)
        likelihoods: (T, nh)
        Output: (T, nh)
    """
    ### BEGIN SOLUTION
    log_posterior = torch.log(prior) + torch.cumsum(torch.log(likelihoods), dim=0)  # (T, nh)
    return torch.softmax(log_posterior, dim=-1)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appB.sequential_bayes_update"}
self_check("appB.sequential_bayes_update", sequential_bayes_update)

# %% [markdown]
# ### Which of four Markov sources wrote this text?
#
# Four sources over an alphabet of 6 symbols, each a bigram (first-order Markov) model; they
# share a common style and differ by small random perturbations, like four authors writing the
# same language. Source 2 writes a text of 600 symbols. The figure shows the posterior of every
# source as the text is read, from a uniform prior: for a few dozen tokens the evidence is
# mixed, then the posterior of the true source climbs to 1. The right panel shows why log space
# is necessary: the log-likelihood of the text under each source falls linearly with its
# length, and below about $-708$ its exponential is no longer a normal `float64` (below $-745$
# it is exactly 0).

# %%
# Figure: the posterior over four Markov sources as a text is read (computed in log space).
g_src = torch.Generator().manual_seed(3)
n_src, V_src, T_src = 4, 6, 600
shared = torch.randn(V_src, V_src, generator=g_src, dtype=torch.float64)  # a common style
sources = torch.softmax(shared + 0.35 * torch.randn(n_src, V_src, V_src, generator=g_src,
                                                    dtype=torch.float64), dim=-1)  # (n_src, V, V)
text_src = [0]
for _ in range(T_src):
    text_src.append(int(torch.multinomial(sources[2, text_src[-1]], 1, generator=g_src)))
text_src = torch.tensor(text_src)
lik_src = sources[:, text_src[:-1], text_src[1:]].T  # (T, n_src): p(x_t | x_{t-1}, source k)
loglik_src = torch.cumsum(torch.log(lik_src), dim=0)  # (T, n_src)
post_src = torch.softmax(math.log(1 / n_src) + loglik_src, dim=-1)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for k in range(n_src):
    label = f"source {k}" + (" (true)" if k == 2 else "")
    axes[0].plot(range(1, T_src + 1), post_src[:, k], label=label)
axes[0].set_xscale("log")
axes[0].set_xlabel("tokens read t")
axes[0].set_ylabel("posterior p(source | text)")
axes[0].set_title("sequential Bayes over four sources")
axes[0].legend(fontsize=8)
for k in range(n_src):
    axes[1].plot(range(1, T_src + 1), loglik_src[:, k])
axes[1].axhline(math.log(torch.finfo(torch.float64).tiny), color="k", linestyle=":",
                label="log of the smallest normal float64")
axes[1].set_xlabel("tokens read t")
axes[1].set_ylabel("log p(text | source)")
axes[1].set_title("log-likelihoods (nats) fall linearly")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Try it: identify the source of a long text, and see the naive product fail.
try:
    long_text = [0]
    for _ in range(3000):
        long_text.append(int(torch.multinomial(sources[1, long_text[-1]], 1, generator=g_src)))
    long_text = torch.tensor(long_text)
    lik = sources[:, long_text[:-1], long_text[1:]].T  # (3000, n_src)
    post = sequential_bayes_update(torch.full((n_src,), 0.25, dtype=torch.float64), lik)
    for t in (1, 10, 30, 100, 300, 3000):
        print(f"after {t:4d} tokens: posterior {[round(p, 4) for p in post[t - 1].tolist()]}")
    naive = 0.25 * torch.cumprod(lik, dim=0)
    print("naive product after 3000 tokens:", (naive[-1] / naive[-1].sum()).tolist())
except NotImplementedError:
    print("Implement `sequential_bayes_update` first, then re-run this cell.")

# %% [markdown]
# ## B.4 Statistical inference and model evaluation
#
# Every number in an evaluation table is an estimate from a finite sample: a benchmark of 500
# questions, a validation set of a million tokens, 200 human ratings. Inference asks how far the
# estimate might be from the quantity it estimates, and whether a difference between two models
# is larger than the noise.
#
# ### The bootstrap
#
# A standard error is easy for a mean ($s / \sqrt n$) and hard for almost anything else: a
# median, a ratio, a perplexity, an F1 score, a BLEU score. The **bootstrap** (Efron, 1979)
# replaces the algebra by computation. The sampling distribution of a statistic is what we would
# see if we could draw many fresh samples from the population; we cannot, but the sample itself
# is our best estimate of the population (the *plug-in principle*). So we draw many samples of
# size $n$ from the data **with replacement**, recompute the statistic on each, and use the
# spread of those $n_{\text{boot}}$ values as a stand-in for the sampling distribution.
#
# Sampling *with* replacement is essential: a resample of size $n$ without replacement is a
# permutation of the data, and a mean or a median does not change when the data are reordered.
# With replacement some points appear twice and others not at all (each is left out with
# probability $(1 - 1/n)^n \approx e^{-1} \approx 0.37$), which is what mimics drawing a new
# sample.
#
# The **percentile interval** takes the $\alpha/2$ and $1 - \alpha/2$ quantiles of the bootstrap
# statistics. It needs no formula, but it is only approximately right: for a mean its width
# reflects the spread of the data computed with divisor $n$ rather than $n - 1$ and with normal
# rather than Student-t tails, so at small $n$ it is a little too narrow. The hidden tests
# measure this: for 40 normal values and 200 resamples, a 95% percentile interval covers the true
# mean about **92.9%** of the time (measured on 200 000 simulated data sets). More refined
# intervals (BCa, the bootstrap-t) correct most of this; the percentile interval is the one to
# understand first.

# %% [markdown]
# ### Exercise 4: `bootstrap_ci` (2 points)
#
# Implement the percentile bootstrap by this **exact recipe** (the hidden tests compare your
# interval with a replay of it on the same seeded generator):
#
# 1. `idx = torch.randint(0, n, (n_resamples, n), generator=generator)`, $n$ the number of
#    values: row $r$ holds the indices of resample $r$, drawn with replacement;
# 2. `stats`: `statistic(values[row])` for each row of `idx`, in order, stacked into a tensor
#    of shape `(n_resamples,)` (`statistic` maps a 1-D tensor to a 0-dim tensor, for example
#    `torch.mean` or `torch.median`; call it once per resample);
# 3. the quantiles of `stats` at $\alpha/2$ and $1 - \alpha/2$ with
#    `torch.quantile(stats, q, interpolation="linear")`, `q` a tensor of `stats`' dtype.
#
# Return `(lower, upper)` as Python floats. The hidden tests also run your function on 300
# simulated data sets of 40 normal values and count how often the interval contains the true
# mean.

# %% llmcourse={"role": "answer", "exercise": "appB.bootstrap_ci"}
def bootstrap_ci(values, statistic, n_resamples, alpha=0.05, generator=None):
    """Percentile bootstrap interval at level 1 − alpha, by the recipe above.

    Args:
        values: the sample (on the CPU).
        statistic: a function from a 1-D tensor to a 0-dim tensor (torch.mean, torch.median, ...).
        n_resamples: n_boot, the number of bootstrap resamples.
        alpha: 1 − the level of the interval.
        generator: a torch.Generator for the indices (None: the global one).

    Returns:
        A tuple of two Python floats (lower, upper).

    Shape:
        values: (n,)
    """
    ### BEGIN SOLUTION
    n = values.shape[0]
    idx = torch.randint(0, n, (n_resamples, n), generator=generator)  # with replacement
    stats = torch.stack([statistic(values[row]) for row in idx])  # (n_resamples,)
    q = torch.tensor([alpha / 2, 1 - alpha / 2], dtype=stats.dtype)
    lower, upper = torch.quantile(stats, q, interpolation="linear")
    return lower.item(), upper.item()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appB.bootstrap_ci"}
self_check("appB.bootstrap_ci", bootstrap_ci)

# %%
# Try it: intervals for the mean and the median loss of a model on 60 test examples, and the
# normal-theory interval for the mean, which the bootstrap's should resemble.
try:
    g = torch.Generator().manual_seed(7)
    losses = -torch.log(torch.rand(60, generator=g, dtype=torch.float64)) * 1.5  # skewed losses
    m, half = losses.mean().item(), 1.96 * losses.std().item() / 60 ** 0.5
    print(f"mean {m:.3f}: normal theory  [{m - half:.3f}, {m + half:.3f}]")
    lo, hi = bootstrap_ci(losses, torch.mean, 2000, generator=g)
    print(f"mean {m:.3f}: bootstrap      [{lo:.3f}, {hi:.3f}]")
    lo, hi = bootstrap_ci(losses, torch.median, 2000, generator=g)
    print(f"median {losses.median().item():.3f}: bootstrap [{lo:.3f}, {hi:.3f}]  (no formula needed)")
except NotImplementedError:
    print("Implement `bootstrap_ci` first, then re-run this cell.")

# %% [markdown]
# ### Comparing two models: a paired permutation test
#
# Model B has a lower average loss than model A on a benchmark. Is B better, or was it lucky on
# these examples? A **hypothesis test** answers by assuming the opposite, the **null
# hypothesis** $H_0$ ("A and B are equally good"), and asking how surprising the observed
# difference would be under it. The **p-value** is the probability, under $H_0$, of a difference
# at least as large as the one observed. Rejecting $H_0$ when $p \le 0.05$ makes a **type-I
# error** (declaring a difference that is not there) at most 5% of the time.
#
# Both models were run on the **same** examples, and examples differ wildly in difficulty: a hard
# question has a high loss under both models. That shared variation is noise for the comparison,
# and pairing removes it. Work with the differences $d_i = a_i - b_i$ of the two losses on example
# $i$ and the statistic $|\bar d|$. Under $H_0$, the two losses of an example are exchangeable
# (which model produced which is arbitrary), so $d_i$ is as likely as $-d_i$. Flipping the sign of
# each $d_i$ at random therefore draws from the null distribution of the statistic, *keeping each
# example's pair together*. The p-value of this **sign-flip permutation test** with
# $n_{\text{perm}}$ random flips is
#
# $$p = \frac{1 + \#\{r : |\bar d^{(r)}| \ge |\bar d|\}}{n_{\text{perm}} + 1}.$$
#
# The **add-one rule** counts the observed assignment as one of the draws. Without it, a Monte Carlo
# test can report $p = 0$, a claim no finite simulation supports; with it, under $H_0$ the observed
# statistic is exchangeable with the $n_{\text{perm}}$ permuted ones, its rank among the
# $n_{\text{perm}} + 1$ is uniform, and $P(p \le a) \le a$ exactly, for any $n_{\text{perm}}$. The
# test is **two-sided**: we ask whether the models differ, not which one we hoped would win.
#
# An **unpaired** test (pool all $2n$ losses and re-split them at random) ignores the pairing:
# the variation between examples then swamps the difference between models, its p-values come
# out far too large, and it needs much more data to detect the same effect.

# %% [markdown]
# ### Exercise 5: `paired_permutation_test` (1.5 points)
#
# Implement the two-sided paired sign-flip test by this **exact recipe** (compared with a replay
# on the same seeded generator):
#
# 1. `d = losses_a - losses_b`, shape $(n,)$;
# 2. `signs = torch.randint(0, 2, (n_permutations, n), generator=generator) * 2 - 1`: row $r$ is
#    a vector of $\pm 1$;
# 3. observed statistic $|\mathrm{mean}(d)|$; permuted statistics $|\mathrm{mean}(\text{signs}_r
#    \cdot d)|$ for each row $r$;
# 4. $p = (1 + \#\{r: \text{permuted}_r \ge \text{observed}\}) / (\text{n\_permutations} + 1)$.
#
# Return $p$ as a Python float. The hidden tests also run your test on 1 000 pairs of equally
# good models: it must reject at level 0.05 at most about 5% of the time, and its p-values must
# be spread uniformly over $(0, 1]$.

# %% llmcourse={"role": "answer", "exercise": "appB.paired_permutation_test"}
def paired_permutation_test(losses_a, losses_b, n_permutations, generator=None):
    """Two-sided p-value of the paired sign-flip permutation test, by the recipe above.

    Args:
        losses_a, losses_b: the losses of models A and B on the same n examples (on the CPU).
        n_permutations: n_perm, the number of random sign flips.
        generator: a torch.Generator for the signs (None: the global one).

    Returns:
        p = (1 + #{permuted statistics ≥ observed}) / (n_perm + 1), a Python float in (0, 1].

    Shape:
        losses_a, losses_b: (n,)
    """
    ### BEGIN SOLUTION
    d = losses_a - losses_b  # (n,) paired differences
    signs = torch.randint(0, 2, (n_permutations, d.shape[0]), generator=generator) * 2 - 1
    observed = d.mean().abs()
    permuted = (signs * d).mean(dim=1).abs()  # (n_permutations,)
    exceed = int((permuted >= observed).sum())
    return (1 + exceed) / (n_permutations + 1)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appB.paired_permutation_test"}
self_check("appB.paired_permutation_test", paired_permutation_test)

# %%
# Try it: model B is better by 0.05 nats per example on 200 examples whose difficulty varies a
# lot. The paired test sees it; the unpaired test (written out here) is lost in the difficulty.
try:
    g = torch.Generator().manual_seed(11)
    difficulty = 3.0 * torch.rand(200, generator=g, dtype=torch.float64)
    loss_a = difficulty + 0.2 * torch.randn(200, generator=g, dtype=torch.float64)
    loss_b = difficulty - 0.05 + 0.2 * torch.randn(200, generator=g, dtype=torch.float64)
    print(f"mean losses: A {loss_a.mean():.3f}, B {loss_b.mean():.3f}")
    print("paired p-value:  ", paired_permutation_test(loss_a, loss_b, 2000, generator=g))
    pooled, obs, exceed = torch.cat([loss_a, loss_b]), (loss_a.mean() - loss_b.mean()).abs(), 0
    for _ in range(2000):
        perm = torch.randperm(400, generator=g)
        exceed += int((pooled[perm[:200]].mean() - pooled[perm[200:]].mean()).abs() >= obs)
    print("unpaired p-value:", (1 + exceed) / 2001)
except NotImplementedError:
    print("Implement `paired_permutation_test` first, then re-run this cell.")

# %% [markdown]
# ### A confidence interval for perplexity: the delta method
#
# Perplexity is $\exp(m)$ where $m = \frac1n \sum_i \ell_i$ is the mean negative log-likelihood
# of $n$ evaluation tokens. By the central limit theorem $m$ is approximately normal with
# standard error $\mathrm{se} = s / \sqrt n$, so $m \pm z \cdot \mathrm{se}$ is an interval for the
# cross-entropy. What about its exponential?
#
# The **delta method** propagates a standard error through a smooth function $g$: to first order
# $g(m) \approx g(\mu) + g'(\mu)(m - \mu)$, so $g(m)$ is approximately normal with standard error
# $|g'(\mu)| \cdot \mathrm{se}$. For $g = \exp$ this gives $\mathrm{se}(\mathrm{PPL}) \approx
# \mathrm{PPL} \cdot \mathrm{se}$: the *relative* error of perplexity is the absolute error of the
# mean NLL. A symmetric interval $\mathrm{PPL} \pm z \cdot \mathrm{PPL} \cdot \mathrm{se}$ can
# however go below 1 and ignores the skew of the exponential. Since $\exp$ is increasing, the
# better interval maps the interval of $m$ through it:
#
# $$\big[\exp(m - z\,\mathrm{se}),\ \exp(m + z\,\mathrm{se})\big], \qquad
#   z = \Phi^{-1}(1 - \alpha/2),$$
#
# which agrees with the delta method to first order, is asymmetric like a ratio should be, and
# has exactly the coverage of the interval for $m$. One caveat: the formula treats tokens as
# independent. Neighbouring tokens of one document are not (a model that is lost in a document
# is lost for many tokens), so in practice one resamples whole documents, for instance with
# your bootstrap.

# %% [markdown]
# ### Exercise 6: `perplexity_with_ci` (1 point)
#
# Return $(\exp(m), \exp(m - z\,\mathrm{se}), \exp(m + z\,\mathrm{se}))$ as Python floats, with
# $\mathrm{se} = s / \sqrt n$ ($s$ the sample standard deviation, divisor $n - 1$) and
# $z = \Phi^{-1}(1 - \alpha/2)$: `torch.special.ndtri` or `statistics.NormalDist().inv_cdf`.

# %% llmcourse={"role": "answer", "exercise": "appB.perplexity_with_ci"}
def perplexity_with_ci(token_nlls, alpha=0.05):
    """Perplexity and its (1 − alpha) confidence interval on the log scale.

    Args:
        token_nlls: negative log-likelihoods of n ≥ 2 tokens, in nats.
        alpha: 1 − the level of the interval.

    Returns:
        A tuple of three Python floats (perplexity, lower, upper):
        exp(m), exp(m − z·se), exp(m + z·se), with m the mean NLL, se = s / √n (s with
        divisor n − 1) and z = Φ⁻¹(1 − alpha/2).

    Shape:
        token_nlls: (n,)
    """
    ### BEGIN SOLUTION
    n = token_nlls.shape[0]
    m = token_nlls.mean().item()
    se = token_nlls.std().item() / math.sqrt(n)  # sample std (n − 1), over √n
    z = float(torch.special.ndtri(torch.tensor(1 - alpha / 2, dtype=torch.float64)))
    return math.exp(m), math.exp(m - z * se), math.exp(m + z * se)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appB.perplexity_with_ci"}
self_check("appB.perplexity_with_ci", perplexity_with_ci)

# %%
# Try it: the delta-method interval against a bootstrap interval of exp(mean NLL), which needs
# no formula (your bootstrap_ci with the statistic exp(mean)).
try:
    g = torch.Generator().manual_seed(5)
    nlls = -torch.log(torch.rand(400, generator=g, dtype=torch.float64)) * 2.2  # skewed, mean 2.2
    ppl, lo, hi = perplexity_with_ci(nlls)
    print(f"perplexity {ppl:.2f}, delta method [{lo:.2f}, {hi:.2f}]")
    lo, hi = bootstrap_ci(nlls, lambda x: x.mean().exp(), 2000, generator=g)
    print(f"perplexity {ppl:.2f}, bootstrap    [{lo:.2f}, {hi:.2f}]")
except NotImplementedError:
    print("Implement `perplexity_with_ci` (and `bootstrap_ci`) first, then re-run this cell.")

# %% [markdown]
# ### Calibration: does 80% sure mean right 80% of the time?
#
# A classifier, or an LLM answering multiple-choice questions, reports a probability with each
# prediction. Its **confidence** is the probability of the class it predicts,
# $\hat p_i = \max_c p_{ic}$, and it is **calibrated** when, among all predictions made with
# confidence $c$, a fraction $c$ is correct: $P(\text{correct} \mid \hat p = c) = c$. Accuracy
# and calibration are different properties: a model can be accurate and overconfident at once,
# which is what large neural networks trained to low loss tend to be (Guo et al., 2017), and
# what fine-tuning from human feedback has been observed to do to LLMs that were well calibrated
# after pre-training.
#
# Confidences are continuous, so we group them into $k$ equal-width bins; bin $b$ holds the set
# $\mathcal{B}_b$ of predictions whose confidence lies in $(b/k, (b+1)/k]$. In each non-empty bin
# compare the accuracy $\mathrm{acc}(\mathcal{B}_b)$ (fraction correct) with the average confidence
# $\mathrm{conf}(\mathcal{B}_b)$. The **reliability diagram** plots one against the other (a
# calibrated model follows the diagonal), and the **expected calibration error** averages the gaps,
# weighted by how many predictions fall in each bin:
#
# $$\mathrm{ECE} = \sum_{b=0}^{k-1} \frac{|\mathcal{B}_b|}{n}
#   \,\big|\mathrm{acc}(\mathcal{B}_b) - \mathrm{conf}(\mathcal{B}_b)\big|$$
#
# over $n$ predictions.
#
# The ECE is itself an estimate with its own statistics. With few predictions per bin it is
# biased *upwards* (even a perfectly calibrated model shows gaps by chance), and it depends on
# the number of bins; report it with the number of bins and, ideally, a bootstrap interval. A
# simple fix for overconfidence is **temperature scaling**: divide the logits by a $\tau > 1$ fitted
# on held-out data, which softens every prediction without changing which class is predicted.

# %% [markdown]
# ### Exercise 7: `expected_calibration_error` (1.5 points)
#
# Return the ECE of the predictions as a Python float. The prediction of row $i$ is its argmax (the
# first index among equal maxima, as `torch.argmax`), its confidence the maximum. Bin $b$ holds the
# confidences in $(b/k, (b+1)/k]$, $k$ = `n_bins`: bin index $\lceil \hat p \cdot k \rceil - 1$. A
# confidence exactly on an edge $b/k$ belongs to the bin below it. Empty bins contribute nothing.

# %% llmcourse={"role": "answer", "exercise": "appB.expected_calibration_error"}
def expected_calibration_error(probs, labels, n_bins=15):
    """Expected calibration error with n_bins equal-width bins on the confidence.

    Args:
        probs: predicted class probabilities, one row per prediction.
        labels: the true classes.
        n_bins: k, the number of bins; bin b holds confidences in (b/k, (b+1)/k].

    Returns:
        Σ_b (|B_b| / n) |acc(B_b) − conf(B_b)|, B_b the predictions of bin b, a Python float.

    Shape:
        probs: (n, V), n predictions over V classes
        labels: (n,) int64
    """
    ### BEGIN SOLUTION
    confidence, prediction = probs.max(dim=-1)  # (n,), (n,)
    correct = (prediction == labels).to(probs.dtype)  # (n,) 1.0 where right
    bins = (torch.ceil(confidence * n_bins).long() - 1).clamp(0, n_bins - 1)  # (n,)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gap = correct[in_bin].mean() - confidence[in_bin].mean()
            ece += in_bin.sum().item() / labels.numel() * abs(gap.item())
    return ece
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appB.expected_calibration_error"}
self_check("appB.expected_calibration_error", expected_calibration_error)

# %% [markdown]
# ### A reliability diagram, before and after temperature scaling
#
# A synthetic 5-class model: its logits are sharper than the truth (the labels are drawn from
# the softmax of the logits divided by 2.5), so it is overconfident. Left, its reliability
# diagram: the bars (accuracy per bin) fall below the diagonal, most in the confident bins. Right,
# the same predictions after temperature scaling, with the temperature chosen to minimise the
# negative log-likelihood of a separate calibration set: the bars return to the diagonal and the
# ECE falls, while the accuracy (the argmax) is unchanged.

# %%
# Figure: reliability diagrams of an overconfident model, before and after temperature scaling.
g_cal = torch.Generator().manual_seed(2)


def synthetic_predictions(n, classes=5, true_temperature=2.5):
    logits = 3.0 * torch.randn(n, classes, generator=g_cal, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(logits / true_temperature, -1), 1,
                               generator=g_cal).squeeze(-1)
    return logits, labels


def reliability(probs, labels, n_bins=10):
    """Per-bin accuracy, mean confidence and size, and the ECE (the figure's own computation)."""
    conf, pred = probs.max(-1)
    correct = (pred == labels).double()
    bins = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    size = torch.bincount(bins, minlength=n_bins).double()
    acc = torch.bincount(bins, weights=correct, minlength=n_bins) / size.clamp_min(1)
    mean_conf = torch.bincount(bins, weights=conf, minlength=n_bins) / size.clamp_min(1)
    ece = ((size / size.sum()) * (acc - mean_conf).abs()).sum().item()
    return acc, mean_conf, size, ece


calib_logits, calib_labels = synthetic_predictions(4000)
test_logits, test_labels = synthetic_predictions(4000)
temperatures = torch.linspace(0.5, 5.0, 91, dtype=torch.float64)
nll = [F.cross_entropy(calib_logits / t, calib_labels).item() for t in temperatures]
best_t = temperatures[int(torch.tensor(nll).argmin())].item()
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
for ax, t, title in ((axes[0], 1.0, "as trained"), (axes[1], best_t, f"temperature {best_t:.2f}")):
    acc, mean_conf, size, ece = reliability(torch.softmax(test_logits / t, -1), test_labels)
    centers = (torch.arange(10) + 0.5) / 10
    keep = size > 0
    ax.bar(centers[keep], acc[keep], width=0.1, edgecolor="k", alpha=0.7, label="accuracy")
    ax.plot(mean_conf[keep], acc[keep], "o", color="C3", markersize=4,
            label="(mean confidence, accuracy)")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_title(f"{title}: ECE {ece:.3f}")
    ax.legend(fontsize=8, loc="upper left")
axes[0].set_ylabel("accuracy in the bin")
fig.tight_layout()
plt.show()

# %%
# Try it: your ECE on the figure's test set, before and after temperature scaling, and on a
# perfectly calibrated set (labels drawn from the predicted probabilities themselves).
try:
    for t in (1.0, best_t):
        ece = expected_calibration_error(torch.softmax(test_logits / t, -1), test_labels, 10)
        print(f"temperature {t:.2f}: ECE {ece:.4f}")
    probs = torch.softmax(test_logits, -1)
    fair_labels = torch.multinomial(probs, 1, generator=g_cal).squeeze(-1)
    print(f"calibrated by construction: ECE {expected_calibration_error(probs, fair_labels, 10):.4f}"
          " (not 0: a finite sample)")
except NotImplementedError:
    print("Implement `expected_calibration_error` first, then re-run this cell.")

# %% [markdown]
# ## B.5 Why LLMs are fundamentally statistical models
#
# Put together, the pieces of this appendix describe an LLM end to end.
#
# - **What it is.** A conditional distribution $p_\theta(x_t \mid x_{<t})$ over a vocabulary,
#   chained by the chain rule into a distribution over texts (Chapter 1). It does not store
#   facts or rules; it stores probabilities, and everything it does is drawn from them.
# - **How it is trained.** By maximum likelihood: minimising the average next-token NLL is
#   minimising the cross-entropy, and the KL divergence, from the data distribution to the model
#   (B.1, B.2). Smoothing, priors, weight decay and the other regularisers are, in Bayesian
#   terms, beliefs held before the data (B.3): add-α smoothing is literally a posterior mean.
# - **How it is used.** Generation samples from the distribution (Chapter 10); in-context
#   learning can be read as the model updating a posterior over "which task, which source, which
#   style" as the prompt arrives, the way Exercise 3 identified a Markov source from a hundred
#   tokens or so.
# - **How it is evaluated.** Every score is an estimate from a finite sample and deserves an
#   interval: perplexity by the delta method, anything else by the bootstrap. A comparison of two
#   models on the same benchmark is a paired test; without one, a leaderboard difference of half a
#   point on a few hundred questions is usually noise.
# - **How far to trust it.** A model's stated probabilities are only useful if they are
#   calibrated, which is itself a statistical property, measured (with its own biases) by the ECE
#   and repaired, to a point, by temperature scaling.
#
# ## Summary
#
# - Estimators have bias and variance; a mean's standard error is $s / \sqrt n$ (with Bessel's
#   $n - 1$), and the central limit theorem turns it into a confidence interval.
# - Conjugate priors make Bayesian updates additions of counts: Beta–Binomial for one
#   probability, Dirichlet–Multinomial for a distribution, whose posterior mean is add-α
#   smoothing. Over a discrete set of hypotheses, update sequentially, in log space.
# - The bootstrap estimates a sampling distribution by resampling with replacement; the
#   percentile interval under-covers a little at small n.
# - A paired sign-flip permutation test compares two models on the same examples, and the add-one
#   rule keeps it exactly valid.
# - Perplexity's interval is the exponential of the mean NLL's interval (the delta method to
#   first order); calibration is measured by the ECE and shown by a reliability diagram.
