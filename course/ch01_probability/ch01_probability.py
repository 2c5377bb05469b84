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
# # Chapter 1 — Probability and language models
#
# A language model assigns a probability to every piece of text. This chapter builds the oldest
# working kind, the n-gram model, from nothing but counting, and uses it to meet every idea the
# rest of the course relies on: the chain rule that turns the probability of a text into a product
# of next-token predictions, maximum likelihood (for n-grams it is just normalised counts),
# smoothing for what was never seen, the log-probability and perplexity that score a model on new
# text, and sampling, which turns a model into a generator. It ends with the step that started
# neural language modelling (Bengio et al., 2003): a table of logits trained by gradient descent
# lands exactly on the count estimate, and from there a network can generalise where counts
# cannot.
#
# The book gives no section titles for Part I, so the sections here are numbered by this course
# (1.1 to 1.6).
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
# - Hidden tests compare your functions with a reference implementation on many streams and
#   tables (unigrams to 4-grams, contexts never seen, probabilities that are exactly 0), with
#   floating inputs in `float64`, `float32` and `bfloat16`. The sampler is checked twice: exactly,
#   against the recipe its docstring states, and in distribution by a chi-square test. The neural
#   bigram is trained by your code and judged by how close it gets to the counts.
# - Tolerances follow the dtype: in `bfloat16` you must be about as accurate as a straightforward
#   `bfloat16` implementation; in `float64` a formula that is only approximately right fails.
#
# ## Conventions
#
# These hold for every docstring in the notebook.
#
# - Letters follow the course's [notation](../../docs/NOTATION.md): $V$ is the vocabulary size
#   and $T$ the length of a token stream. Any other count is written in lower case and defined
#   where it is used (here $n$, the length of an n-gram).
# - A **token stream** is a 1-D `int64` tensor of $T$ ids in $[0, V)$. An **n-gram** is a window
#   of $n$ consecutive tokens; a stream of $T$ tokens has $T - n + 1$ of them (none if $T < n$).
# - An n-gram **table** is indexed by its tokens in order: `counts[a, b, c]` counts the trigram
#   $(a, b, c)$. A **model** has the same shape and `model[a, b, :]` is the distribution of the next
#   token after the context $(a, b)$: probabilities lie along the **last axis**.
# - Logarithms are natural (nats).
# - Functions that take only integers (token streams, integer counts) return the default floating
#   dtype, `torch.get_default_dtype()` (float32); functions that take floating tensors return
#   their dtype.

# %% llmcourse={"role": "setup"}
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from autograder.kernel import self_check
from reference.data import markov_chain, sample_markov

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## 1.1 The probability of a text
#
# Write a text as a sequence of tokens $x_1, x_2, \dots, x_T$ (words, characters or pieces of
# words: Chapter 9 builds a tokenizer). A language model is a probability distribution over such
# sequences. There are far too many sequences to list their probabilities one by one, but the
# **chain rule of probability** factorises any joint distribution into conditionals, one token at
# a time:
#
# $$P(x_1, \dots, x_T) = P(x_1)\, P(x_2 \mid x_1)\, P(x_3 \mid x_1, x_2) \cdots
#   = \prod_{t=1}^{T} P(x_t \mid x_{<t}).$$
#
# This is an identity, not an assumption: it follows from the definition
# $P(A \cap B) = P(A)\, P(B \mid A)$ applied $T - 1$ times. It turns the problem of modelling
# text into the problem of **predicting the next token** from the ones before it, which is what
# every model in this course does, from the counts of this chapter to the transformers of Part II.
#
# The conditionals still depend on an unbounded history. The **n-gram** assumption truncates it:
# the next token depends only on the previous $n - 1$,
#
# $$P(x_t \mid x_{<t}) \approx P(x_t \mid x_{t-n+1}, \dots, x_{t-1}).$$
#
# For $n = 1$ (unigrams) tokens are independent; for $n = 2$ (bigrams) the text is a Markov chain
# over tokens, the object of Chapter 2's entropy rate. A bigger $n$ sees more context but, as we
# will measure, needs far more data.

# %% [markdown]
# ## 1.2 Maximum likelihood is counting
#
# An n-gram model is a table: for each context $h = (x_{t-n+1}, \dots, x_{t-1})$, a distribution
# $\theta_{h,\cdot}$ over the next token. Which table explains a training stream best? The
# likelihood of the stream is a product over its n-grams, and grouping equal n-grams, its
# logarithm is
#
# $$\ell(\theta) = \sum_{t} \log \theta_{h_t, x_t} = \sum_{h} \sum_{w} c(h, w) \log \theta_{h,w},$$
#
# where $c(h, w)$ counts how often $w$ follows $h$. Each context's row can be maximised on its own,
# subject to $\sum_w \theta_{h,w} = 1$. With a Lagrange multiplier $\lambda_h$, setting the
# derivative of $\sum_w c(h, w) \log \theta_{h,w} - \lambda_h (\sum_w \theta_{h,w} - 1)$ to zero
# gives $\theta_{h,w} = c(h, w) / \lambda_h$, and the constraint fixes $\lambda_h = c(h) =
# \sum_w c(h, w)$:
#
# $$\hat\theta_{h,w} = \frac{c(h, w)}{c(h)} .$$
#
# **The maximum-likelihood estimate is the normalised count.** Two problems follow at once. A
# context that never occurred has $c(h) = 0$ and no estimate at all ($0 / 0$); we will give it
# the uniform distribution. And an n-gram that never occurred gets probability exactly 0, so any
# test text containing it has probability 0 and infinite loss. For $V = 10^4$ words there are
# $10^{12}$ possible trigrams, and most of them never appear in any corpus.
#
# **Add-α smoothing** pretends every n-gram was seen $\alpha$ extra times:
#
# $$\theta_{h,w} = \frac{c(h, w) + \alpha}{c(h) + \alpha V} .$$
#
# Each of the $V$ outcomes gets $\alpha$, so the denominator grows by $\alpha V$ and the row still
# sums to 1. With $\alpha = 1$ this is Laplace's rule of succession. It is also the posterior mean
# under a symmetric Dirichlet($\alpha$) prior on each row.

# %% [markdown]
# ### Exercise 1: `ngram_counts` (1 point)
#
# Count every n-gram of the stream into an `int64` table of shape `(V,) * n`. A Python loop over
# the windows is fine; `tokens.unfold(0, n, 1)` gives all windows at once if you prefer tensors.

# %% llmcourse={"role": "answer", "exercise": "ch01.ngram_counts"}
def ngram_counts(tokens, n, vocab_size):
    """How often each n-gram occurs in the stream.

    Args:
        tokens: a stream of token ids in [0, vocab_size).
        n: the n-gram length (n ≥ 1).
        vocab_size: V.

    Returns:
        An int64 tensor; counts[a, b, ...] is the number of windows equal to (a, b, ...). It sums
        to T − n + 1 (0 when T < n).

    Shape:
        tokens: (T,) int64
        Output: (V,) * n
    """
    ### BEGIN SOLUTION
    counts = torch.zeros((vocab_size,) * n, dtype=torch.int64)
    for start in range(tokens.numel() - n + 1):
        counts[tuple(tokens[start:start + n].tolist())] += 1
    return counts
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch01.ngram_counts"}
self_check("ch01.ngram_counts", ngram_counts)

# %% [markdown]
# ### Exercise 2: `ngram_model` (1.5 points)
#
# Turn a count table into conditional probabilities along the last axis with add-α smoothing,
# $(c(h, w) + \alpha) / (c(h) + \alpha V)$. With $\alpha = 0$ a context whose row of counts is all
# zero gets the uniform distribution $1 / V$ (not NaN). Integer counts give the default floating
# dtype; floating counts keep their dtype.

# %% llmcourse={"role": "answer", "exercise": "ch01.ngram_model"}
def ngram_model(counts, alpha=0.0):
    """Add-α conditional probabilities P(w | context) along the last axis.

    Args:
        counts: an n-gram count table (integer or floating).
        alpha: the pseudo-count added to every n-gram (α ≥ 0).

    Returns:
        A table of counts' shape whose last-axis rows sum to 1; uniform rows for contexts with
        no counts (when α = 0).

    Shape:
        counts: (V,) * n
        Output: (V,) * n
    """
    ### BEGIN SOLUTION
    c = counts if counts.is_floating_point() else counts.to(torch.get_default_dtype())
    V = c.shape[-1]
    denominator = c.sum(dim=-1, keepdim=True) + alpha * V
    probs = (c + alpha) / denominator
    uniform = torch.full_like(probs, 1.0 / V)
    return torch.where(denominator > 0, probs, uniform)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch01.ngram_model"}
self_check("ch01.ngram_model", ngram_model)

# %% [markdown]
# ## 1.3 Scoring a model: log-probability and perplexity
#
# By the chain rule, the probability that an n-gram model gives a stream is the product of its
# next-token predictions. The first $n - 1$ tokens have no full context, so we treat them as given
# and score the $T - n + 1$ tokens from position $n - 1$ on (counting from 0):
#
# $$\log P(x_{n-1}, \dots, x_{T-1} \mid x_0, \dots, x_{n-2})
#   = \sum_{t=n-1}^{T-1} \log \theta_{x_{t-n+1} \dots x_{t-1},\, x_t} .$$
#
# We always work with the logarithm: a product of a thousand probabilities around 0.1 is
# $10^{-1000}$, far below the smallest `float64` ($\approx 10^{-308}$), while its log is a harmless
# $-2303$.
#
# The log-probability grows with the length of the text. Dividing by the number of predictions
# gives the average negative log-likelihood, the **cross-entropy** of Chapter 2, and its
# exponential is the **perplexity**
#
# $$\mathrm{PPL} = \exp\!\Big(-\frac{\log P}{T - n + 1}\Big)
#   = \Big(\prod_t \theta_t\Big)^{-1/(T - n + 1)},$$
#
# the inverse geometric mean of the probabilities the model gave the tokens that actually came. A
# model that spreads its bets evenly over $k$ tokens and always includes the right one has
# perplexity exactly $k$: perplexity is the number of equally likely choices the model is as
# uncertain as. The uniform model over $V$ tokens has perplexity $V$.

# %% [markdown]
# ### Exercise 3: `sequence_log_prob` (1 point)
#
# Return $\sum_t \log \theta_t$ over the $T - n + 1$ predicted tokens, for an n-gram model with
# $n$ = `model.dim()`. An n-gram of probability 0 makes the result $-\infty$.

# %% llmcourse={"role": "answer", "exercise": "ch01.sequence_log_prob"}
def sequence_log_prob(model, tokens):
    """log P of tokens[n−1:] given their contexts, in nats, for an n-gram model.

    Args:
        model: conditional probabilities, model[context..., next], n = model.dim().
        tokens: the stream to score (T ≥ n).

    Returns:
        A 0-dim tensor of model's dtype.

    Shape:
        model: (V,) * n
        tokens: (T,) int64
        Output: ()
    """
    ### BEGIN SOLUTION
    n = model.dim()
    windows = tokens.unfold(0, n, 1)  # (T − n + 1, n): every n-gram
    return torch.log(model[tuple(windows.T)]).sum()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch01.sequence_log_prob"}
self_check("ch01.sequence_log_prob", sequence_log_prob)

# %% [markdown]
# ### Exercise 4: `perplexity` (0.5 points)
#
# $\exp(-\log P / (T - n + 1))$, $T - n + 1$ the number of predicted tokens, using your
# `sequence_log_prob` (while this exercise is graded it is replaced by a built-in version, so a
# mistake there is not charged twice).

# %% llmcourse={"role": "answer", "exercise": "ch01.perplexity"}
def perplexity(model, tokens):
    """exp(−log P / (T − n + 1)), T − n + 1 the number of predicted tokens.

    Args:
        model: conditional probabilities, model[context..., next], n = model.dim().
        tokens: the stream to score (T ≥ n).

    Returns:
        A 0-dim tensor of model's dtype (inf if a scored n-gram has probability 0).

    Shape:
        model: (V,) * n
        tokens: (T,) int64
        Output: ()
    """
    ### BEGIN SOLUTION
    predicted = tokens.numel() - model.dim() + 1
    return torch.exp(-sequence_log_prob(model, tokens) / predicted)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch01.perplexity"}
self_check("ch01.perplexity", perplexity)

# %% [markdown]
# ### How much context, how much smoothing?
#
# The figure fits n-gram models to 3 000 tokens of a synthetic language, a Markov chain of order
# 2 over 8 symbols (so its true model is a trigram), and scores them on 5 000 held-out tokens.
# With more context the model can be sharper, but it must estimate $V^{n-1}$ rows from the same
# data: the 4-gram has 512 contexts for 3 000 tokens, and without enough smoothing its held-out
# perplexity is worse than the trigram's. Too much smoothing flattens every row towards uniform
# (perplexity 8). The best $\alpha$ is smaller when the counts per row are large.

# %%
# Figure: held-out perplexity of n-gram models against n and α.
chain = markov_chain(vocab_size=8, order=2, seed=4, concentration=0.3)
gen = torch.Generator().manual_seed(0)
train_text, test_text = sample_markov(chain, 3_000, gen), sample_markov(chain, 5_000, gen)
alphas = [1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0]
fig, ax = plt.subplots(figsize=(8, 3.8))
for n in (1, 2, 3, 4):
    c = torch.zeros((8,) * n, dtype=torch.float64)  # counts, with the reference's conventions
    windows = train_text.unfold(0, n, 1)
    c.index_put_(tuple(windows.T), torch.ones(len(windows), dtype=torch.float64), accumulate=True)
    ppl = []
    for a in alphas:
        table = (c + a) / (c.sum(-1, keepdim=True) + a * 8)
        test_windows = test_text.unfold(0, n, 1)
        ppl.append(torch.exp(-torch.log(table[tuple(test_windows.T)]).mean()).item())
    ax.semilogx(alphas, ppl, "o-", label=f"n = {n}")
ax.set_xlabel("smoothing α")
ax.set_ylabel("held-out perplexity")
ax.set_title("n-gram models of an order-2 Markov language (V = 8), 3 000 training tokens")
ax.legend()
plt.show()

# %% [markdown]
# ## 1.4 Better smoothing: Kneser–Ney
#
# Add-α gives every unseen n-gram the same small probability. But some unseen continuations are
# far more plausible than others, and lower-order statistics can tell which. **Interpolated
# Kneser–Ney** (Kneser and Ney, 1995; the form below is Chen and Goodman's) does two things for
# bigrams.
#
# **Absolute discounting.** Take a fixed discount $d \in [0, 1]$ from every seen bigram count,
# $\max(c(v, w) - d, 0)$, and give the collected mass to a lower-order distribution. Row $v$ loses
# $d$ for each distinct word seen after it, $N_{1+}(v\,\bullet)$ words in all, so the weight of
# the lower order in row $v$ is
#
# $$\lambda(v) = \frac{d \cdot N_{1+}(v\,\bullet)}{c(v)}, \qquad
#   P_{\mathrm{KN}}(w \mid v) = \frac{\max(c(v, w) - d, 0)}{c(v)} + \lambda(v)\, P_{\mathrm{cont}}(w).$$
#
# **Continuation counts.** The lower-order model is not the unigram frequency of $w$. It is used
# when the bigram count says little, so it should measure how likely $w$ is to appear *after a
# context it has not been seen with*. A word that occurs often but only after one word ("Francisco"
# after "San") is a poor guess elsewhere. So $P_{\mathrm{cont}}(w)$ counts the **distinct words
# that precede** $w$:
#
# $$P_{\mathrm{cont}}(w) = \frac{N_{1+}(\bullet\, w)}{N_{1+}(\bullet\,\bullet)},$$
#
# with $N_{1+}(\bullet\,\bullet)$ the number of distinct bigram types. Each row sums to one: the
# discounted counts leave exactly $\lambda(v)$ of the mass, and $P_{\mathrm{cont}}$ sums to 1. A
# context never seen ($c(v) = 0$) gets $P_{\mathrm{cont}}$ itself.
#
# ### Exercise 5: `kneser_ney_bigram` (2 points)
#
# Return the $(V, V)$ table $P_{\mathrm{KN}}(w \mid v)$ in the default floating dtype, for
# $0 \le d \le 1$. Use your `ngram_counts` for $c(v, w)$ (while this exercise is graded it is
# replaced by a built-in version).

# %% llmcourse={"role": "answer", "exercise": "ch01.kneser_ney_bigram"}
def kneser_ney_bigram(tokens, vocab_size, discount=0.75):
    """Interpolated Kneser–Ney bigram probabilities P(w | v) (rows v, columns w).

    Args:
        tokens: the training stream (T ≥ 2).
        vocab_size: V.
        discount: d in [0, 1], subtracted from every seen bigram count.

    Returns:
        A (V, V) table in the default floating dtype; every row sums to 1, and the row of a
        context never seen is the continuation distribution P_cont.

    Shape:
        tokens: (T,) int64
        Output: (V, V)
    """
    ### BEGIN SOLUTION
    c = ngram_counts(tokens, 2, vocab_size).to(torch.get_default_dtype())  # c(v, w)
    seen = (c > 0).to(c.dtype)  # 1 where the bigram (v, w) occurs
    p_cont = seen.sum(dim=0) / seen.sum()  # N1+(• w) / N1+(• •)
    c_v = c.sum(dim=-1, keepdim=True)  # c(v)
    safe = c_v.clamp_min(1.0)
    lam = discount * seen.sum(dim=-1, keepdim=True) / safe  # d · N1+(v •) / c(v)
    probs = (c - discount).clamp_min(0.0) / safe + lam * p_cont
    return torch.where(c_v > 0, probs, p_cont.expand_as(probs))
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch01.kneser_ney_bigram"}
self_check("ch01.kneser_ney_bigram", kneser_ney_bigram)

# %%
# Try it: Kneser–Ney against add-α, bigrams trained on the first 200 tokens of the figure's text.
# On an alphabet of 8 symbols a well-chosen α does about as well; Kneser–Ney's continuation counts
# pay off with large vocabularies, where most words follow only a few contexts. Note also that a
# word never seen after any context gets P_cont = 0: real systems interpolate once more, with
# the uniform distribution.
try:
    kn = kneser_ney_bigram(train_text[:200], 8).double()
    bigram_counts = ngram_counts(train_text[:200], 2, 8).double()
    for a in (0.01, 0.1, 1.0):
        print(f"add-{a:<5}   perplexity {perplexity(ngram_model(bigram_counts, a), test_text).item():.3f}")
    print(f"Kneser–Ney  perplexity {perplexity(kn, test_text).item():.3f}")
except NotImplementedError:
    print("Implement the exercises above first, then re-run this cell.")

# %% [markdown]
# ## 1.5 Sampling: from a model to a generator
#
# To generate text, draw the next token from the model's distribution, append it, and repeat. A
# draw from a categorical distribution $p = (p_0, \dots, p_{V-1})$ needs only one uniform number
# $u \in [0, 1)$ and the **cumulative distribution** $F_i = p_0 + \dots + p_i$: return the category
# $i$ with $F_{i-1} \le u < F_i$ (with $F_{-1} = 0$). The interval $[F_{i-1}, F_i)$ has length
# $p_i$, so category $i$ comes out with probability exactly $p_i$, and a category of probability 0
# owns an empty interval and never comes out. This is **inverse-CDF sampling**. Finding $i$ is a
# search in a sorted array: $i$ is the number of entries of $F$ that are $\le u$,
# `torch.searchsorted(F, u, right=True)`.
#
# The figure draws the CDF of a distribution over 6 categories as a staircase. Each uniform $u$ on
# the vertical axis is carried right until it meets a step, and the step it meets is the category
# drawn; tall steps (likely categories) catch many draws, and the flat step of category 3
# (probability 0) catches none. On the right, the frequencies of 20 000 draws against $p$.

# %%
# Figure: inverse-CDF sampling, one uniform at a time and 20 000 at once.
p_fig = torch.tensor([0.10, 0.25, 0.05, 0.0, 0.35, 0.25], dtype=torch.float64)
cdf_fig = p_fig.cumsum(0)
g_fig = torch.Generator().manual_seed(5)
u_fig = torch.rand(8, generator=g_fig, dtype=torch.float64)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].step(range(6), cdf_fig, where="post", color="k")
axes[0].hlines(torch.cat([torch.zeros(1, dtype=torch.float64), cdf_fig[:-1]]), range(6), range(1, 7),
               colors="0.7", linestyles=":")
for u in u_fig.tolist():
    i = int((cdf_fig <= u).sum())
    axes[0].annotate("", xy=(i, u), xytext=(-0.45, u), arrowprops=dict(arrowstyle="->", color="C0"))
axes[0].set_xlim(-0.5, 6)
axes[0].set_xlabel("category i (the step from F(i−1) up to F(i))")
axes[0].set_ylabel("u and F(i)")
axes[0].set_title("each uniform u lands on one step")
many = torch.rand(20_000, generator=g_fig, dtype=torch.float64)
draws_fig = torch.searchsorted(cdf_fig, many, right=True).clamp_max(5)
axes[1].bar(range(6), torch.bincount(draws_fig, minlength=6) / 20_000, color="C0", label="frequency")
axes[1].plot(range(6), p_fig, "k_", markersize=25, mew=2, label="p")
axes[1].set_xlabel("category")
axes[1].set_title("20 000 draws")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 6: `sample_categorical` (2 points)
#
# Draw `num_samples` categories from each distribution along the last axis, following exactly
# this recipe (the hidden tests call it with a seeded generator and compare the draws one by one):
#
# 1. `u = torch.rand(*probs.shape[:-1], num_samples, generator=generator, dtype=torch.float64,
#    device=probs.device)`;
# 2. the CDF in float64, divided by its last entry (the weights need not sum to 1);
# 3. the index of each $u$: the number of CDF entries $\le u$, clamped to $V - 1$ (rounding can
#    leave the last entry a hair below 1).
#
# The result is `int64` of shape `(*probs.shape[:-1], num_samples)`. The draws are also tested in
# distribution, by a chi-square test of 40 000 draws that a correct sampler fails with probability
# at most $10^{-6}$.
#
# **Not allowed:** `torch.multinomial` (that is the exercise).

# %% llmcourse={"role": "answer", "exercise": "ch01.sample_categorical"}
def sample_categorical(probs, num_samples, generator=None):
    """``num_samples`` inverse-CDF draws from each distribution along the last axis.

    Args:
        probs: non-negative weights along the last axis (each row with a positive sum).
        num_samples: the number of draws per distribution.
        generator: a torch.Generator for the uniforms (None: the global one).

    Returns:
        int64 category indices, following the recipe above exactly.

    Shape:
        probs: (..., V)
        Output: (..., num_samples)
    """
    ### BEGIN SOLUTION
    u = torch.rand(*probs.shape[:-1], num_samples, generator=generator, dtype=torch.float64,
                   device=probs.device)
    cdf = probs.double().cumsum(dim=-1)
    cdf = cdf / cdf[..., -1:]
    index = torch.searchsorted(cdf, u, right=True)
    return index.clamp_max(probs.shape[-1] - 1)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch01.sample_categorical"}
self_check("ch01.sample_categorical", sample_categorical)

# %%
# Try it: generate from the trigram model of the figure, and compare the frequencies with p.
try:
    letters = "abcdefgh"
    model = ngram_model(ngram_counts(train_text, 3, 8).double(), alpha=0.1)
    text = [0, 1]
    g = torch.Generator().manual_seed(3)
    for _ in range(60):
        text.append(int(sample_categorical(model[text[-2], text[-1]], 1, g)))
    print("generated:", "".join(letters[i] for i in text))
    p = torch.tensor([0.5, 0.3, 0.2, 0.0])
    draws = sample_categorical(p, 100_000, g)
    print("frequencies:", (torch.bincount(draws, minlength=4) / 100_000).tolist(), "vs", p.tolist())
except NotImplementedError:
    print("Implement `sample_categorical` (and the counting exercises) first, then re-run.")

# %% [markdown]
# ## 1.6 From counts to a neural language model
#
# Bengio, Ducharme, Vincent and Jauvin (2003) replaced the count table by a function with
# parameters: embed each context word as a vector, feed the vectors to a small network, and put a
# softmax on top. Trained by maximising the likelihood with gradient descent, such a model shares
# statistical strength between similar contexts, which a table cannot do, and its size no longer
# grows as $V^{n}$.
#
# The simplest such model already shows the connection with this chapter. Give each context token
# $v$ a free vector of logits $W_v \in \mathbb{R}^V$ (a "neural" bigram with no hidden layer), and
# predict $P(w \mid v) = \mathrm{softmax}(W_v)_w$. The training loss is the average negative
# log-likelihood of the stream's bigrams, the cross-entropy
#
# $$\mathcal{L}(W) = -\frac{1}{T - 1} \sum_{t=1}^{T-1} \log \mathrm{softmax}(W_{x_{t-1}})_{x_t}
#   = -\frac{1}{T-1} \sum_{v, w} c(v, w) \log \mathrm{softmax}(W_v)_w .$$
#
# Each row's softmax can be any distribution with positive entries, so by 1.2 the loss is minimised
# when $\mathrm{softmax}(W_v) = c(v, \cdot) / c(v)$: **gradient descent on the cross-entropy lands
# on the count estimate** for every context that occurs. (Zero counts are approached but never
# reached: their logits go to $-\infty$.) The gradient makes this visible:
# $\partial \mathcal{L} / \partial W_v = \frac{c(v)}{T-1}\big(\mathrm{softmax}(W_v) -
# c(v, \cdot)/c(v)\big)$ is zero exactly at the count estimate. Rows of contexts that never occur
# get no gradient at all and stay where they started. Everything after this chapter keeps the loss
# and replaces the table $W$ by a network.
#
# ### Exercise 7: `train_neural_bigram` (2 points)
#
# Train the logit table with **full-batch** gradient descent using `torch.optim.Adam([W], lr=lr)`
# for exactly `steps` steps on the mean cross-entropy of all the stream's bigrams (inputs
# `tokens[:-1]`, targets `tokens[1:]`), starting from `W = 0.01 * torch.randn(V, V,
# generator=generator)`. Return the logits (not their softmax), detached, in the default floating
# dtype. The hidden tests train with `steps=300, lr=0.1` and require the softmax of every row whose
# context occurs in the stream to be within 0.02 in total variation of the count estimate.

# %% llmcourse={"role": "answer", "exercise": "ch01.train_neural_bigram"}
def train_neural_bigram(tokens, vocab_size, steps, lr, generator=None):
    """A (V, V) table of bigram logits trained to the maximum-likelihood bigram model.

    Args:
        tokens: the training stream (T ≥ 2).
        vocab_size: V.
        steps: the number of full-batch Adam steps.
        lr: Adam's learning rate.
        generator: a torch.Generator for the initial W (None: the global one).

    Returns:
        The trained logits W (row v: logits of the token after v), detached.

    Shape:
        tokens: (T,) int64
        Output: (V, V)
    """
    ### BEGIN SOLUTION
    W = (0.01 * torch.randn(vocab_size, vocab_size, generator=generator)).requires_grad_()
    optimizer = torch.optim.Adam([W], lr=lr)
    x, y = tokens[:-1], tokens[1:]
    for _ in range(steps):
        loss = F.cross_entropy(W[x], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return W.detach()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch01.train_neural_bigram"}
self_check("ch01.train_neural_bigram", train_neural_bigram)

# %%
# Try it: the trained softmax against the counts, row by row, and the loss against its optimum.
try:
    W = train_neural_bigram(train_text, 8, steps=300, lr=0.1,
                            generator=torch.Generator().manual_seed(0))
    counts = ngram_counts(train_text, 2, 8)
    mle = ngram_model(counts)
    tv = 0.5 * (torch.softmax(W, -1) - mle).abs().sum(-1)
    print("total variation per context:", [round(x, 4) for x in tv.tolist()])
    loss = F.cross_entropy(W[train_text[:-1]], train_text[1:]).item()
    optimum = -(counts * mle.clamp_min(1e-30).log()).sum().item() / counts.sum().item()
    print(f"training loss {loss:.4f} nats vs the count model's {optimum:.4f}")
except NotImplementedError:
    print("Implement `train_neural_bigram` (and the counting exercises) first, then re-run.")

# %% [markdown]
# ## Summary
#
# - The chain rule writes the probability of a text as a product of next-token predictions; an
#   n-gram model keeps only the last $n - 1$ tokens of context.
# - Maximum likelihood for an n-gram table is the normalised count. Unseen n-grams get
#   probability 0, which add-α and Kneser–Ney smoothing repair (Kneser–Ney with continuation
#   counts: how many contexts a word follows, not how often it occurs).
# - Models are scored on held-out text by log-probability, cross-entropy and perplexity; more
#   context helps only as far as the data can estimate it.
# - Inverse-CDF sampling turns any next-token distribution into a generator.
# - A neural bigram trained on the cross-entropy converges to the count estimate: neural language
#   models keep the loss and replace the table by a function that generalises.
