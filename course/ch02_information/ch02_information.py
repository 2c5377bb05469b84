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
# # Chapter 2 — Information theory
#
# A language model is judged by one number, its cross-entropy on text it has not seen. This
# chapter explains what that number measures and what its lowest possible value is. We start from
# the surprise of a single outcome, average it into the entropy of a distribution, and compare two
# distributions with the cross-entropy and the Kullback–Leibler divergence. Mutual information
# measures how much one variable says about another. For a source that emits one symbol after
# another, the entropy rate is the floor that no model's loss can go below; Chapter 9 trains its
# models on Markov chains exactly because this floor can be computed for them. Finally, source
# coding turns all of this into bits on a disk: a model's log-loss *is* the length of a
# compressed file, which is why text models are compared in bits per byte.
#
# The book gives no section titles for Part I, so the sections here are numbered by this course
# (2.1 to 2.5).
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
# - Hidden tests compare your functions with a reference implementation on many inputs: batches,
#   distributions along other axes, probabilities that are exactly 0, in `float64`, `float32` and
#   `bfloat16`, and gradients. The Huffman code is judged by its properties (any optimal code is
#   accepted, whichever way you break ties).
# - Tolerances follow the dtype: in `bfloat16` you must be about as accurate as a straightforward
#   `bfloat16` implementation; in `float64` a formula that is only approximately right fails.
# - Each exercise lists the **built-ins you may not call**. Everything else in PyTorch is fine.
#
# ## Conventions
#
# These hold for every docstring in the notebook.
#
# - **Natural logarithms: every quantity is in nats**, except where a name says bits (the Huffman
#   code lengths and `bits_per_byte`). One bit is $\ln 2 \approx 0.693$ nats.
# - **$0 \cdot \log 0 = 0$.** An outcome of probability 0 contributes nothing to a sum
#   $\sum_i p_i \log(\cdot)$, whatever the other factor is there. (`torch.xlogy(x, y)` computes
#   $x \log y$ with exactly this rule: it is 0 wherever $x = 0$.)
# - An outcome with $p_i > 0$ but $q_i = 0$ makes the cross-entropy and the KL divergence
#   $+\infty$. Return `inf` there, not NaN.
# - A distribution lies along `dim` (default the last axis); the other axes are batch dimensions,
#   and the reduced axis is removed from the result.
# - A Markov chain is a row-stochastic matrix $P$: $P_{ij} = \Pr(\text{next state} = j \mid
#   \text{state} = i)$, each row sums to 1.
# - Letters follow the course's [notation](../../docs/NOTATION.md): $V$ counts the outcomes of a
#   distribution (a vocabulary of tokens), the states of a Markov chain and the symbols of a
#   code; $\mathcal{L}$ is a loss. Any other count is written in lower case and defined where it
#   is used.

# %% llmcourse={"role": "setup"}
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from autograder.kernel import self_check

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## 2.1 Surprise and entropy
#
# How surprised should we be when an event of probability $p$ happens? Three requirements pin the
# answer down. A certain event ($p = 1$) is no surprise at all. Rarer events are more surprising.
# And the surprise of two independent events together is the sum of their surprises: since their
# joint probability is the product $p_1 p_2$, the surprise must turn products into sums. The only
# functions with these properties are multiples of $-\log p$, the **surprisal**
#
# $$s(p) = -\log p = \log \frac{1}{p}.$$
#
# The base of the logarithm only chooses a unit: base 2 gives **bits** (a fair coin flip carries
# one bit), base $e$ gives **nats**. PyTorch's losses, and this notebook, use nats.
#
# The **entropy** of a distribution $p = (p_1, \dots, p_V)$ over $V$ outcomes (think of a
# vocabulary of $V$ tokens) is its expected surprisal:
#
# $$H(p) = \mathbb{E}_{i \sim p}[-\log p_i] = -\sum_{i=1}^{V} p_i \log p_i .$$
#
# It measures how unpredictable a draw is. Two facts bound it:
#
# - $H(p) \ge 0$, with equality exactly when one outcome has probability 1 (every term
#   $-p_i \log p_i$ is non-negative on $[0, 1]$, and zero only at $p_i \in \{0, 1\}$);
# - $H(p) \le \log V$, with equality exactly for the uniform distribution (this follows from
#   $\mathrm{KL}(p \,\|\, \text{uniform}) = \log V - H(p) \ge 0$, shown in 2.2).
#
# What happens at $p_i = 0$? The term $p_i \log p_i$ has the form $0 \cdot (-\infty)$, which a
# computer evaluates to NaN. But $\lim_{x \to 0^+} x \log x = 0$, and an outcome that never
# happens cannot add to the expected surprise. So we define $0 \log 0 = 0$ and must write code
# that honours it.
#
# The figure shows a coin that lands heads with probability $p$. Its entropy in bits is the
# binary entropy $h(p) = -p \log_2 p - (1 - p) \log_2 (1 - p)$: one full bit for a fair coin, and
# zero for a coin that always lands the same way. The right panel shows the surprisal of a single
# outcome, which is unbounded as $p \to 0$, although its contribution $p \cdot s(p)$ to the
# entropy vanishes there.

# %%
# Figure: the binary entropy in bits, and the surprisal of one outcome.
p = torch.linspace(0, 1, 401, dtype=torch.float64)
bits = (torch.special.entr(p) + torch.special.entr(1 - p)) / math.log(2)  # entr(x) = −x ln x
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].plot(p, bits)
axes[0].set_xlabel("p = Pr(heads)")
axes[0].set_ylabel("h(p) in bits")
axes[0].set_title("entropy of a coin")
q = p[1:]
axes[1].plot(q, -torch.log2(q), label="surprisal −log₂ p")
axes[1].plot(q, -q * torch.log2(q), label="its share of the entropy, −p log₂ p")
axes[1].set_ylim(0, 6)
axes[1].set_xlabel("p")
axes[1].set_ylabel("bits")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 1: `entropy` (1 point)
#
# Implement $H(p) = -\sum_i p_i \log p_i$ in nats along `dim`, with $0 \log 0 = 0$. The input is
# a tensor of probabilities (non-negative, summing to 1 along `dim`); entries may be exactly 0,
# and then the result must be finite, not NaN. The gradient is checked where all $p_i > 0$.
#
# **Not allowed:** `torch.special.entr` (it computes $-x \log x$ with the convention built in).
# `torch.xlogy` is fine, and so is `torch.where`; mind that `torch.where` still evaluates
# $0 \cdot \log 0$ in the branch it discards: harmless in the forward pass, but the gradient at
# an entry that is exactly 0 becomes NaN.

# %% llmcourse={"role": "answer", "exercise": "ch02.entropy"}
def entropy(p, dim=-1):
    """Entropy −Σ_i p_i log p_i in nats, along ``dim``, with 0 · log 0 = 0.

    Args:
        p: probabilities (entries ≥ 0 summing to 1 along ``dim``); some may be exactly 0.
        dim: the axis that holds each distribution.

    Returns:
        A tensor of p's dtype with ``dim`` removed.

    Shape:
        p: (..., V, ...) with the V outcomes at position ``dim``.
        Output: p's shape without ``dim``.
    """
    ### BEGIN SOLUTION
    return -torch.xlogy(p, p).sum(dim=dim)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.entropy"}
self_check("ch02.entropy", entropy)

# %%
# Try it: the bounds 0 ≤ H ≤ log V, and a distribution with zeros.
try:
    V = 6
    uniform = torch.full((V,), 1 / V, dtype=torch.float64)
    certain = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    peaked = torch.softmax(3 * torch.randn(V, dtype=torch.float64), dim=-1)
    for name, dist in [("uniform", uniform), ("certain", certain), ("peaked", peaked)]:
        print(f"{name:8s} H = {entropy(dist).item() + 0.0:.4f} nats   (log V = {math.log(V):.4f})")  # + 0.0: no "-0"
except NotImplementedError:
    print("Implement `entropy` above first, then re-run this cell.")

# %% [markdown]
# ## 2.2 Cross-entropy and the Kullback–Leibler divergence
#
# A model does not know the true distribution $p$ of the data; it has its own guess $q$. If
# outcomes are drawn from $p$ but we measure their surprise under $q$, the expected surprisal is
# the **cross-entropy**
#
# $$H(p, q) = \mathbb{E}_{i \sim p}[-\log q_i] = -\sum_i p_i \log q_i .$$
#
# This is the loss of a language model: for next-token prediction $p$ is the one-hot distribution
# of the token that actually came, and $H(p, q) = -\log q_{\text{token}}$. Averaged over a corpus,
# it estimates the cross-entropy between the language and the model.
#
# How much worse is $q$ than the truth? The difference is the **Kullback–Leibler divergence**
#
# $$\mathrm{KL}(p \,\|\, q) = H(p, q) - H(p) = \sum_i p_i \log \frac{p_i}{q_i}.$$
#
# **Gibbs' inequality: $\mathrm{KL}(p \,\|\, q) \ge 0$, with equality only when $q = p$.** Since
# $\log$ is concave, Jensen's inequality gives, summing over the outcomes with $p_i > 0$,
#
# $$-\mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{q_i}{p_i} \le \log \sum_i p_i \frac{q_i}{p_i}
#   = \log \sum_{i: p_i > 0} q_i \le \log 1 = 0 .$$
#
# So $H(p, q) = H(p) + \mathrm{KL}(p \,\|\, q) \ge H(p)$: no model beats the entropy of the data,
# and training a model by minimising cross-entropy is the same as minimising its KL divergence from
# the data, because $H(p)$ does not depend on the model. With $q$ uniform over $V$ outcomes,
# $\mathrm{KL}(p \,\|\, q) = \log V - H(p)$, which proves the bound $H(p) \le \log V$ of 2.1.
#
# **The zeros.** If $q_i = 0$ for an outcome with $p_i > 0$, the model calls that outcome
# impossible, and when it happens the surprise is infinite: $H(p, q) = \mathrm{KL}(p \,\|\, q) =
# +\infty$. If instead $p_i = 0$, the outcome never happens and contributes nothing, even where
# $q_i = 0$ too. Language models keep every probability positive with a softmax for this reason.
#
# **KL is not symmetric.** $\mathrm{KL}(p \,\|\, q)$ averages over $p$, so it punishes $q$ for
# missing the places where $p$ has mass: minimising it over $q$ spreads $q$ over all of $p$
# (*mass-covering*). $\mathrm{KL}(q \,\|\, p)$ averages over $q$ and punishes $q$ for putting mass
# where $p$ has little: minimising it makes $q$ pick one mode of $p$ (*mode-seeking*). The figure
# fits one bump $q$ to a distribution $p$ with two bumps, both ways, by a search over the bump's
# centre and width.

# %%
# Figure: fitting one bump q to a two-bump p, by KL(p‖q) and by KL(q‖p).
grid = torch.arange(60, dtype=torch.float64)


def bump(centre, width):
    w = torch.exp(-0.5 * ((grid - centre) / width) ** 2)
    return w / w.sum()


target = 0.6 * bump(15, 3) + 0.4 * bump(42, 4)


def kl(a, b):  # Σ a log(a / b), with 0 log 0 = 0
    return (torch.xlogy(a, a) - torch.xlogy(a, b)).sum()


candidates = [(c, w) for c in range(60) for w in (1.5, 2, 3, 4, 6, 8, 11, 15, 20)]
forward = min(candidates, key=lambda cw: kl(target, bump(*cw)).item())
reverse = min(candidates, key=lambda cw: kl(bump(*cw), target).item())
fig, ax = plt.subplots(figsize=(9, 3.4))
ax.fill_between(grid, target, color="0.8", label="p (two bumps)")
ax.plot(grid, bump(*forward), label=f"argmin KL(p‖q): centre {forward[0]}, width {forward[1]}")
ax.plot(grid, bump(*reverse), label=f"argmin KL(q‖p): centre {reverse[0]}, width {reverse[1]}")
ax.set_xlabel("outcome")
ax.set_ylabel("probability")
ax.legend()
plt.show()

# %% [markdown]
# ### Exercise 2: `cross_entropy_dist` (1 point)
#
# Implement $H(p, q) = -\sum_i p_i \log q_i$ in nats along `dim`, for two probability tensors that
# broadcast against each other. An outcome with $p_i = 0$ contributes 0 (even where $q_i = 0$); an
# outcome with $p_i > 0 = q_i$ makes the result `inf`.
#
# **Not allowed:** `F.cross_entropy`, `F.nll_loss`, `F.kl_div`.

# %% llmcourse={"role": "answer", "exercise": "ch02.cross_entropy_dist"}
def cross_entropy_dist(p, q, dim=-1):
    """Cross-entropy H(p, q) = −Σ_i p_i log q_i in nats, along ``dim``.

    Args:
        p: the true distribution (entries ≥ 0 summing to 1 along ``dim``).
        q: the model's distribution, broadcastable against p.
        dim: the axis that holds each distribution.

    Returns:
        A tensor with the broadcast shape of p and q without ``dim``: 0 · log 0 = 0, and inf
        where some q_i = 0 < p_i.

    Shape:
        p, q: (..., V, ...) with the V outcomes at position ``dim``, broadcast against each other.
        Output: the broadcast shape without ``dim``.
    """
    ### BEGIN SOLUTION
    return -torch.xlogy(p, q).sum(dim=dim)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.cross_entropy_dist"}
self_check("ch02.cross_entropy_dist", cross_entropy_dist)

# %% [markdown]
# ### Exercise 3: `kl_divergence` (1.5 points)
#
# Implement $\mathrm{KL}(p \,\|\, q) = \sum_i p_i \log (p_i / q_i)$ in nats along `dim`. The order
# of the arguments matters: $p$ is the distribution the expectation is taken under. Careful with
# the zeros: computed as $p_i \log(p_i / q_i)$, an outcome with $p_i = q_i = 0$ gives
# $0 \cdot \log(0/0)$, which is NaN. Split the logarithm instead, into $p_i \log p_i - p_i \log
# q_i$, so that each term follows the $0 \log 0 = 0$ rule.
#
# **Not allowed:** `F.kl_div`, `F.cross_entropy`, `F.nll_loss`.

# %% llmcourse={"role": "answer", "exercise": "ch02.kl_divergence"}
def kl_divergence(p, q, dim=-1):
    """KL(p ‖ q) = Σ_i p_i log(p_i / q_i) in nats, along ``dim``.

    Args:
        p: the distribution the expectation is taken under (entries ≥ 0 summing to 1).
        q: the other distribution, broadcastable against p.
        dim: the axis that holds each distribution.

    Returns:
        A tensor with the broadcast shape of p and q without ``dim``, ≥ 0 up to rounding:
        terms with p_i = 0 give 0, and the result is inf where some q_i = 0 < p_i.

    Shape:
        p, q: (..., V, ...) with the V outcomes at position ``dim``, broadcast against each other.
        Output: the broadcast shape without ``dim``.
    """
    ### BEGIN SOLUTION
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=dim)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.kl_divergence"}
self_check("ch02.kl_divergence", kl_divergence)

# %%
# Try it: H(p, q) = H(p) + KL(p‖q), and KL is not symmetric.
try:
    p = torch.tensor([0.7, 0.2, 0.1, 0.0], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
    print("H(p, q)         =", cross_entropy_dist(p, q).item())
    print("H(p) + KL(p‖q)  =", (entropy(p) + kl_divergence(p, q)).item())
    print("KL(p‖q) =", kl_divergence(p, q).item(), "  KL(q‖p) =", kl_divergence(q, p).item())
except NotImplementedError:
    print("Implement `entropy`, `cross_entropy_dist` and `kl_divergence` first, then re-run.")

# %% [markdown]
# ## 2.3 Mutual information
#
# Two random variables $X$ and $Y$ with joint distribution $p(x, y)$ are independent when
# $p(x, y) = p(x)\, p(y)$, where $p(x) = \sum_y p(x, y)$ and $p(y) = \sum_x p(x, y)$ are the
# marginals. The **mutual information** measures how far they are from independent, as the KL
# divergence from the joint to the product of the marginals:
#
# $$I(X; Y) = \mathrm{KL}\big(p(x, y) \,\|\, p(x)\,p(y)\big)
#   = \sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)\, p(y)} .$$
#
# By Gibbs' inequality $I(X; Y) \ge 0$, with equality exactly when $X$ and $Y$ are independent.
# Expanding the logarithm gives the reading in terms of entropies,
#
# $$I(X; Y) = H(X) + H(Y) - H(X, Y) = H(Y) - H(Y \mid X),$$
#
# where $H(Y \mid X) = -\sum_{x,y} p(x, y) \log p(y \mid x)$ is the uncertainty left in $Y$ once
# $X$ is known: the mutual information is how much knowing $X$ reduces the uncertainty about $Y$
# (and, by symmetry, the other way round). If $Y = X$, nothing is left and $I = H(X)$.
#
# In language, $X$ can be the previous token and $Y$ the next one. Their mutual information is
# how much a bigram model gains over a unigram model: the unigram model's loss is $H(Y)$, the best
# bigram model's is $H(Y \mid X)$.
#
# ### Exercise 4: `mutual_information` (1.5 points)
#
# Implement $I(X; Y)$ in nats for a joint distribution over the last two axes: $X$ indexes rows
# (axis $-2$), $Y$ columns (axis $-1$), and leading axes are a batch. Entries of the joint may be
# 0; they contribute nothing. Keep the reduced axes of the marginals (`keepdim=True`) so that
# $p(x)\,p(y)$ broadcasts to the joint's shape.
#
# **Not allowed:** `F.kl_div`.

# %% llmcourse={"role": "answer", "exercise": "ch02.mutual_information"}
def mutual_information(joint):
    """I(X; Y) = Σ_{x,y} p(x, y) log[p(x, y) / (p(x) p(y))] in nats.

    Args:
        joint: a joint distribution over the last two axes (entries ≥ 0 summing to 1), X along
            axis −2 and Y along axis −1; entries may be 0.

    Returns:
        A tensor of joint's dtype with the last two axes removed.

    Shape:
        joint: (..., nx, ny), nx values of X (rows) and ny values of Y (columns)
        Output: (...)
    """
    ### BEGIN SOLUTION
    px = joint.sum(dim=-1, keepdim=True)  # (..., nx, 1)
    py = joint.sum(dim=-2, keepdim=True)  # (..., 1, ny)
    return (torch.xlogy(joint, joint) - torch.xlogy(joint, px * py)).sum(dim=(-2, -1))
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.mutual_information"}
self_check("ch02.mutual_information", mutual_information)

# %%
# Try it: a binary symmetric channel. X is a fair bit and Y is X flipped with probability ε; the
# information that gets through is 1 − h(ε) bits.
try:
    for eps in (0.0, 0.01, 0.1, 0.25, 0.5):
        joint = 0.5 * torch.tensor([[1 - eps, eps], [eps, 1 - eps]], dtype=torch.float64)
        h = (torch.special.entr(torch.tensor(eps)) + torch.special.entr(torch.tensor(1 - eps)))
        print(f"ε = {eps:<5} I = {mutual_information(joint).item() / math.log(2):.4f} bits   "
              f"1 − h(ε) = {1 - h.item() / math.log(2) + 0.0:.4f}")
except NotImplementedError:
    print("Implement `mutual_information` above first, then re-run this cell.")

# %% [markdown]
# ## 2.4 Markov chains and the entropy rate
#
# Text is not a sequence of independent draws: each token depends on the ones before it. The
# simplest source with memory is a **Markov chain**: the next state depends only on the current
# one, through a row-stochastic matrix $P$ with $P_{ij} = \Pr(X_{t+1} = j \mid X_t = i)$. If the
# state at time $t$ has distribution $\mu_t$ (a row vector), the next one has $\mu_{t+1} = \mu_t
# P$.
#
# **The stationary distribution.** A distribution $\pi$ with $\pi P = \pi$ does not change from
# step to step. If every state can reach every other (the chain is *irreducible*) and the chain
# does not cycle with a fixed period (*aperiodic*), then $\pi$ exists, is unique, has $\pi_i > 0$,
# and $\mu_t \to \pi$ from any start. Finding it is linear algebra: $\pi$ is a left eigenvector of
# $P$ for the eigenvalue 1, that is, a solution of $(P^\top - I)\,\pi^\top = 0$ normalised so that
# $\sum_i \pi_i = 1$. For a chain over $V$ states, the $V$ balance equations
# $(P^\top - I)\pi^\top = 0$ have rank $V - 1$ (their sum is $0 = 0$, because each row of $P$
# sums to 1), so one of them can be replaced by the normalisation, which leaves a square system
# with a unique solution.
#
# **The entropy rate.** How many nats of new information does each step of a long sequence carry?
# For $n$ steps the chain rule of probability gives $p(x_1, \dots, x_n) = p(x_1) \prod_{t=2}^n
# P_{x_{t-1} x_t}$, so the entropy of the sequence, divided by $n$, tends to the **entropy rate**
#
# $$\mathcal{H} = \lim_{n \to \infty} \frac{H(X_1, \dots, X_n)}{n}
#   = \sum_i \pi_i\, H(P_{i,:}) = -\sum_i \pi_i \sum_j P_{ij} \log P_{ij} ,$$
#
# the entropy of the next state given the current one, averaged over states visited in the
# long run, i.e. weighted by $\pi$ (not uniformly: rarely visited states matter little).
#
# **Why it matters for language models.** No predictor of $X_{t+1}$ from the past can have a lower
# expected log-loss than $\mathcal{H}$, because that would be a cross-entropy below the entropy. For
# natural text the floor is unknown (it is the irreducible term $\mathcal{L}_\infty$ of the scaling
# laws in Chapter 8). For a Markov chain it is exact, which is why Chapter 9 trains its models on
# text generated by a Markov chain and draws every loss curve against $\mathcal{H}$.
#
# The figure samples a chain, estimates a model of it from the first $n$ steps (transition counts
# with add-½ smoothing), and scores the model on a separate held-out sample. Its held-out
# cross-entropy falls towards the entropy rate as $n$ grows, and never below it.

# %%
# Figure: a model's held-out loss approaches the entropy rate of the chain.
gen = torch.Generator().manual_seed(2)
n_states = 12
P_demo = torch.softmax(2.5 * torch.randn(n_states, n_states, generator=gen,
                                         dtype=torch.float64), dim=-1)
values, vectors = torch.linalg.eig(P_demo.T)  # the left eigenvector for eigenvalue 1
pi_demo = vectors[:, (values - 1).abs().argmin()].real
pi_demo = pi_demo / pi_demo.sum()
rate = (pi_demo * torch.special.entr(P_demo).sum(-1)).sum().item()


def sample_chain(P, n, generator):
    states = torch.empty(n, dtype=torch.int64)
    states[0] = torch.multinomial(pi_demo, 1, generator=generator)
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    cdf = P.cumsum(-1)
    for t in range(1, n):
        states[t] = min(int(torch.searchsorted(cdf[states[t - 1]], u[t])), P.shape[0] - 1)
    return states


train, held_out = sample_chain(P_demo, 60_000, gen), sample_chain(P_demo, 20_000, gen)
sizes = [30, 100, 300, 1000, 3000, 10_000, 30_000, 60_000]
losses = []
for n in sizes:
    counts = torch.zeros(n_states, n_states, dtype=torch.float64)
    counts.index_put_((train[: n - 1], train[1:n]), torch.ones(n - 1, dtype=torch.float64),
                      accumulate=True)
    model = (counts + 0.5) / (counts + 0.5).sum(-1, keepdim=True)
    losses.append(-model[held_out[:-1], held_out[1:]].log().mean().item())
fig, ax = plt.subplots(figsize=(8, 3.6))
ax.semilogx(sizes, losses, "o-", label="held-out cross-entropy of the count model")
ax.axhline(rate, color="k", ls="--", label=f"entropy rate {rate:.3f} nats/step")
ax.axhline(math.log(n_states), color="0.6", ls=":", label=f"log V = {math.log(n_states):.3f}")
ax.set_xlabel("training steps n")
ax.set_ylabel("nats per step")
ax.legend()
plt.show()

# %% [markdown]
# ### Exercise 5: `stationary_distribution` (1.5 points)
#
# Return the stationary distribution $\pi$ of an irreducible, aperiodic chain: $\pi P = \pi$,
# $\sum_i \pi_i = 1$. Solve the square linear system described above with `torch.linalg.solve`
# (a least-squares solve of all $V$ balance equations plus the normalisation, or iterating
# $\mu \leftarrow \mu P$ until it stops changing, are also accurate enough). An eigenvector from
# `torch.linalg.eig` is mathematically right but, on slowly mixing chains, a few hundred `float64`
# roundings off, more than the `float64` tolerance allows. Leading axes of `P` are a batch of
# chains. PyTorch's linear algebra has no 16-bit kernels: for `bfloat16` or `float16` input,
# compute in `float32` and return the input's dtype.

# %% llmcourse={"role": "answer", "exercise": "ch02.stationary_distribution"}
def stationary_distribution(P):
    """The stationary distribution π of a Markov chain: π P = π and Σ_i π_i = 1.

    Args:
        P: row-stochastic transition matrices, P[..., i, j] = Pr(next = j | current = i), of
            irreducible, aperiodic chains (so π is unique).

    Returns:
        A tensor of P's dtype (16-bit inputs solved in float32).

    Shape:
        P: (..., V, V), V states
        Output: (..., V)
    """
    ### BEGIN SOLUTION
    dtype, n = P.dtype, P.shape[-1]
    if dtype in (torch.float16, torch.bfloat16):
        P = P.float()
    eye = torch.eye(n, dtype=P.dtype, device=P.device)
    A = P.transpose(-2, -1) - eye  # balance equations (Pᵀ − I) π = 0
    A = torch.cat([A[..., :-1, :], torch.ones_like(A[..., -1:, :])], dim=-2)  # last: Σ π = 1
    b = torch.zeros(P.shape[:-1], dtype=P.dtype, device=P.device)
    b[..., -1] = 1.0
    return torch.linalg.solve(A, b).to(dtype)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.stationary_distribution"}
self_check("ch02.stationary_distribution", stationary_distribution)

# %% [markdown]
# ### Exercise 6: `markov_entropy_rate` (1 point)
#
# Return the entropy rate $\sum_i \pi_i H(P_{i,:})$ in nats per step. Use your
# `stationary_distribution` and your `entropy` (while this exercise is graded, they are replaced by
# built-in versions, so a mistake there is not charged twice).

# %% llmcourse={"role": "answer", "exercise": "ch02.markov_entropy_rate"}
def markov_entropy_rate(P):
    """Entropy rate Σ_i π_i H(P[i, :]) of a stationary Markov chain, in nats per step.

    Args:
        P: row-stochastic transition matrices of irreducible, aperiodic chains.

    Returns:
        A tensor of P's dtype.

    Shape:
        P: (..., V, V), V states
        Output: (...)
    """
    ### BEGIN SOLUTION
    pi = stationary_distribution(P)  # (..., V)
    return (pi * entropy(P, dim=-1)).sum(dim=-1)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.markov_entropy_rate"}
self_check("ch02.markov_entropy_rate", markov_entropy_rate)

# %%
# Try it: your entropy rate against the figure's value, and against an i.i.d. source.
try:
    print("entropy rate of the figure's chain:", markov_entropy_rate(P_demo).item(), "vs", rate)
    row = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    print("i.i.d. rows [0.5, 0.25, 0.25]:", markov_entropy_rate(row.expand(3, 3)).item(),
          "= 1.5 bits =", 1.5 * math.log(2))
except NotImplementedError:
    print("Implement `stationary_distribution`, `entropy` and `markov_entropy_rate` first.")

# %% [markdown]
# ## 2.5 Source coding: log-loss is code length
#
# A **binary prefix code** gives each symbol $i$ a string of $l_i$ bits, such that no codeword is
# the beginning of another, so a stream of codewords can be decoded without separators. Codewords
# are the leaves of a binary tree (0 = left, 1 = right), and a leaf at depth $l$ uses up a
# fraction $2^{-l}$ of the tree. Hence the **Kraft inequality** $\sum_i 2^{-l_i} \le 1$, with
# equality exactly when the tree is full (every internal node has two children); conversely, any
# lengths that satisfy it belong to some prefix code.
#
# **Shannon's bound.** The expected length $\bar l = \sum_i p_i l_i$ of any prefix code satisfies
# $\bar l \ge H_2(p)$, the entropy in bits: with $q_i = 2^{-l_i} / \sum_j 2^{-l_j}$,
#
# $$\bar l - H_2(p) = \sum_i p_i \log_2 \frac{p_i}{2^{-l_i}}
#   = \mathrm{KL}_2(p \,\|\, q) - \log_2 \sum_j 2^{-l_j} \ge 0 .$$
#
# Conversely, the lengths $l_i = \lceil -\log_2 p_i \rceil$ satisfy Kraft and give
# $\bar l < H_2(p) + 1$. So a code's length per symbol is within one bit of the entropy, and equal
# to it when every $p_i$ is a power of $\tfrac12$. (Coding long blocks of symbols at once spreads
# that one bit over the block.)
#
# **Huffman's algorithm** finds a code of least expected length for $V$ symbols. Keep a list of
# groups of symbols, each with its total probability, starting with one group per symbol. Repeatedly
# take the **two least probable** groups and merge them: this puts them under a new internal node,
# so every symbol in both groups gets one more bit. After $V - 1$ merges one group is left, and the
# number of merges each symbol took part in is its code length. Merging the two least probable is
# optimal because in some optimal code the two least probable symbols are siblings at the deepest
# level. When probabilities tie, either choice leads to a code of the same, optimal, expected
# length.
#
# **Log-loss is code length.** An arithmetic coder driven by a model $q$ encodes a text
# $x_1, \dots, x_n$ in about $-\log_2 q(x_1, \dots, x_n) = -\sum_t \log_2 q(x_t \mid x_{<t})$ bits
# (plus two), that is, the model's total log-loss in bits. A better language model is, literally,
# a better compressor. To compare models with different tokenizers (a token may be one byte or
# five), divide the total by the number of bytes of the text: the result is the model's **bits per
# byte**. A model that knows nothing (uniform over the 256 byte values) needs 8 bits per byte.

# %% [markdown]
# ### Exercise 7: `huffman_code_lengths` (2 points)
#
# Return the codeword length of each symbol in a binary Huffman code for `probs`, as an `int64`
# tensor on the same device. The probabilities are positive and there are at least two; they need
# not sum to 1 (only their ratios matter). Break ties however you like: the grader checks that
# your lengths satisfy the Kraft equality $\sum_i 2^{-l_i} = 1$ exactly, that the expected
# length lies in $[H_2, H_2 + 1)$, and that it equals the optimum. A plain Python loop over a
# list (or `heapq`) is the natural way to write it.

# %% llmcourse={"role": "answer", "exercise": "ch02.huffman_code_lengths"}
def huffman_code_lengths(probs):
    """Codeword lengths (bits) of a binary Huffman code for ``probs``.

    Args:
        probs: positive weights of V ≥ 2 symbols (they need not sum to 1).

    Returns:
        An int64 tensor of lengths, on probs' device.

    Shape:
        probs: (V,)
        Output: (V,)
    """
    ### BEGIN SOLUTION
    lengths = [0] * probs.shape[0]
    groups = [(p, [i]) for i, p in enumerate(probs.detach().double().tolist())]
    while len(groups) > 1:
        groups.sort(key=lambda g: g[0])
        (p1, symbols1), (p2, symbols2) = groups[0], groups[1]
        for s in symbols1 + symbols2:  # one more bit for every symbol under the new node
            lengths[s] += 1
        groups = groups[2:] + [(p1 + p2, symbols1 + symbols2)]
    return torch.tensor(lengths, dtype=torch.int64, device=probs.device)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.huffman_code_lengths"}
self_check("ch02.huffman_code_lengths", huffman_code_lengths)

# %%
# Try it: Huffman's expected length against the entropy, for Zipf-like distributions p_i ∝ 1/i.
try:
    for n in (2, 4, 16, 64, 256):
        zipf = 1 / torch.arange(1, n + 1, dtype=torch.float64)
        zipf = zipf / zipf.sum()
        lengths = huffman_code_lengths(zipf)
        h2 = torch.special.entr(zipf).sum().item() / math.log(2)
        mean_length = (zipf * lengths).sum().item()
        print(f"V = {n:3d}: H = {h2:.3f} bits, Huffman mean length {mean_length:.3f}, "
              f"Kraft sum = {(2.0 ** -lengths.double()).sum().item()}")
except NotImplementedError:
    print("Implement `huffman_code_lengths` above first, then re-run this cell.")

# %% [markdown]
# ### Exercise 8: `bits_per_byte` (0.5 points)
#
# A model's total negative log-likelihood of a text, in nats, converted to bits per byte of that
# text: divide by $\ln 2$ to get bits, and by the number of bytes. `n_bytes` is a positive Python
# integer; the result has the dtype and shape of `nll_nats`.

# %% llmcourse={"role": "answer", "exercise": "ch02.bits_per_byte"}
def bits_per_byte(nll_nats, n_bytes):
    """Total negative log-likelihood in nats → bits per byte of the text.

    Args:
        nll_nats: total negative log-likelihood of the text in nats (any shape: one per model).
        n_bytes: the length of the text in bytes, a positive Python int.

    Returns:
        A tensor of nll_nats' dtype and shape.

    Shape:
        nll_nats: (...)
        Output: (...)
    """
    ### BEGIN SOLUTION
    return nll_nats / (n_bytes * math.log(2))
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch02.bits_per_byte"}
self_check("ch02.bits_per_byte", bits_per_byte)

# %%
# Try it: the bits per byte of the figure's count models in 2.4, if each step were one byte.
try:
    print("uniform over 256 byte values:", bits_per_byte(torch.tensor(37 * math.log(256)), 37).item())
    totals = torch.tensor(losses, dtype=torch.float64) * (len(held_out) - 1)
    print("count models of 2.4:", bits_per_byte(totals, len(held_out) - 1))
    print("entropy rate floor :", rate / math.log(2), "bits per step")
except NotImplementedError:
    print("Implement `bits_per_byte` above first, then re-run this cell.")

# %% [markdown]
# ## Summary
#
# - Entropy $H(p) = -\sum p \log p$ is the expected surprise of a draw; $0 \le H \le \log V$, and
#   $0 \log 0 = 0$.
# - Cross-entropy $H(p, q) = H(p) + \mathrm{KL}(p \,\|\, q) \ge H(p)$: a model's loss exceeds the
#   data's entropy by exactly its KL divergence from the data, which is not symmetric.
# - Mutual information is the KL divergence from a joint distribution to the product of its
#   marginals: how much one variable tells about the other.
# - A Markov chain's entropy rate $\sum_i \pi_i H(P_{i,:})$ is the floor of every next-token loss
#   on its output; Chapter 9 measures its models against it.
# - Code length and log-loss are the same thing: Huffman codes are within one bit of the entropy,
#   and a model's log-loss in bits per byte is the size of the text it would compress to.
