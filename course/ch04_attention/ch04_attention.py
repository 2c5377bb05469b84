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
# # Chapter 4 — Attention
#
# In this assignment you build the attention layer of a transformer out of its mathematical parts.
# The notebook follows Sections 4.1–4.4 of the book: self-attention (scaled dot-product
# attention, the factor $1/\sqrt{E}$ and masks), multi-head attention with the normalisations and
# residual connections that surround it, the softmax itself (computed safely, and its derivative),
# and finally a reading of attention as a classical kernel smoother. Each part first derives the
# formula, then shows what it does in a figure, and then asks you to implement it.
#
# ## How to work through it
#
# - Each exercise has an **answer cell**. It holds a function (or class) with its signature and a
#   docstring that says exactly what to compute. Replace the line `raise NotImplementedError()`
#   with your implementation.
# - Right below each answer cell is a **check cell** with one line, `self_check(...)`. Run it to
#   test your function on a few quick cases and to read what went wrong, if anything did. Do not
#   edit or delete check cells: they are restored at grading time, and the hidden tests are run
#   from them.
# - Cells titled **Try it** call your functions on small examples. Until you have implemented the
#   function, they print a reminder instead of failing.
# - A few answers are **formulas** you derive on paper (the cells titled *Derivation*): a function
#   of the named symbols that returns your formula, written with `+ - * / **` and `exp`, `log`,
#   `sqrt` (local names for parts of it are fine). The grader reads the formula, does not run it,
#   and compares it with the reference formula at many random points, so any correct form passes.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** If you write a helper function, define it in
#   the same answer cell as the function that uses it. Code in any other cell does not exist for
#   the grader.
# - Hidden tests compare your functions with a reference implementation on many shapes (extra
#   batch dimensions, length 1, non-contiguous inputs), in the dtypes `float32`, `float64` and
#   `bfloat16`, on extreme inputs (logits around $\pm 10^4$, rows partly masked with $-\infty$),
#   and through the backward pass (gradients are compared too).
# - Tolerances depend on the dtype. In `bfloat16` you are expected to be about as accurate as a
#   straightforward implementation that computes in `bfloat16`, and not more. In `float64` the
#   tolerance is tight, so a formula that is only approximately right will fail there.
# - Each exercise names the **built-in functions you may not call**: the ones that would do
#   the exercise for you. A solution that calls them, in any spelling, is rejected. Anything else in
#   PyTorch is fine (`torch.exp`, `amax`, `sum`, matrix products, `nn.Linear`, ...).
#
# ## Conventions
#
# These apply to every docstring in the notebook.
#
# - Dimension letters, as in the course's glossary
#   ([docs/NOTATION.md](../../docs/NOTATION.md), which also lists the symbols of the formulas):
#   `B` batch size, `T` sequence length, `L` number of queries, `S` number of keys (and of
#   values), `H` number of heads, `E` head size (features of one head's queries and keys;
#   $E = D/H$ in multi-head attention), `Ev` features of one head's values, `D` model width
#   (`d_model`). In self-attention $L = S = T$. `...` means any number of leading batch
#   dimensions, which may also be zero. Any other count is a lower-case letter defined where it
#   is used.
# - Vectors are rows. A token sequence is a matrix $X \in \mathbb{R}^{T \times D}$ whose row $t$
#   is token $t$. A linear map acts on the right, $x W$; `nn.Linear` stores $W^\top$ and computes
#   `x @ weight.T + bias`.
# - **Boolean masks: `True` means "this query may attend to this key".** This is the convention of
#   `torch.nn.functional.scaled_dot_product_attention`. Float masks are *added* to the scores.
# - Softmax normalises over the last dimension unless stated otherwise.
# - In formulas, $\tau$ is a softmax temperature (the letter $T$ is kept for the sequence length)
#   and $n_{\text{layer}}$ the number of layers of a stack.

# %% llmcourse={"role": "setup"}
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

from autograder.kernel import self_check

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## 4.1 Self-attention
#
# A layer of a language model takes a sequence of $T$ vectors $x_1, \dots, x_T \in \mathbb{R}^D$
# and returns a new sequence $y_1, \dots, y_T$ of the same length. A *position-wise* map, the
# same small network applied to each $x_t$ separately, cannot move information from one position
# to another. A fixed linear mixing over positions, such as a convolution, can move it, but its
# weights are the same whatever the tokens say. Attention is a mixing whose weights are
# computed *from the tokens themselves*: each output is a weighted average of vectors taken from
# the sequence, and the sequence decides the weights.
#
# ### Attention as a soft dictionary
#
# A Python `dict` answers a query by comparing it with every stored key and returning the value
# whose key *equals* the query. We can write this as a sum over the entries,
#
# $$
# \operatorname{lookup}(q) = \sum_{j=1}^{S} \mathbb{1}[q = k_j]\, v_j .
# $$
#
# With vectors, exact equality almost never holds, and the indicator has no useful derivative.
# So we replace it with a *similarity score* $s_j = s(q, k_j)$ and turn the scores into weights
# that are positive and sum to one:
#
# $$
# \operatorname{attend}(q) = \sum_{j=1}^{S} \alpha_j v_j, \qquad
# \alpha_j = \frac{\exp(s_j)}{\sum_{l=1}^{S} \exp(s_l)} .
# $$
#
# The map from scores to weights is the **softmax**. The result is a blend of all the values,
# dominated by the values whose keys match the query best. When one score is much larger than the
# others, the blend becomes the hard lookup again. Section 4.3 takes the softmax apart (how to
# compute it without overflow, and its derivative) and has you implement it; until then
# `torch.softmax` computes it for us.
#
# ### Queries, keys and values
#
# In self-attention all three come from the same sequence, through three learned linear maps:
# $q_t = x_t W_Q$, $k_t = x_t W_K$, $v_t = x_t W_V$, or, stacking the rows,
# $Q = X W_Q$, $K = X W_K$, $V = X W_V$. Because the maps are separate, what a token *asks for*
# (its query) can differ from what it *advertises* (its key) and from what it *hands over* when it
# is matched (its value). The score is a scaled dot product, which gives **scaled dot-product
# attention**:
#
# $$
# \operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{E}}\right) V,
# \qquad Q \in \mathbb{R}^{L \times E},\; K \in \mathbb{R}^{S \times E},\; V \in \mathbb{R}^{S \times E_v},
# $$
#
# where the softmax acts on each row. Entry $(i, j)$ of $QK^\top$ says how well key $j$ answers
# query $i$. Row $i$ of the softmax is a probability distribution over the $S$ keys, and row $i$ of
# the output is the average of the value rows under that distribution. In self-attention
# $L = S = T$. In cross-attention the queries come from one sequence and the keys and values from
# another. Computing all the scores costs $O(L S E)$ operations and an $L \times S$ matrix, which
# is quadratic in the sequence length.
#
# The rest of this section looks at the two choices made around the softmax in this formula: the
# factor $1/\sqrt{E}$, and masks, which hide some keys from some queries. Section 4.2 then runs
# several attentions side by side and wraps them in normalisations and residual connections,
# Section 4.3 opens up the softmax itself, and Section 4.4 reads the whole formula as a kernel
# smoother from statistics.

# %%
# A soft dictionary with four entries. The keys are unit vectors pointing at 0, 90, 180 and 270
# degrees; the values are the numbers 10, 20, 30, 40. The query points at 100 degrees, which is
# closest to the key at 90 degrees. Scaling the query makes the scores more spread out, and the
# lookup moves from a soft blend towards the hard answer 20.
angles = torch.tensor([0.0, 90.0, 180.0, 270.0]) * math.pi / 180
keys = torch.stack([angles.cos(), angles.sin()], dim=-1)  # (S=4, E=2)
values = torch.tensor([10.0, 20.0, 30.0, 40.0])  # (S,)
query = torch.tensor([math.cos(100 * math.pi / 180), math.sin(100 * math.pi / 180)])
for sharpness in [0.0, 1.0, 4.0, 16.0]:
    weights = torch.softmax(sharpness * (keys @ query), dim=0)
    print(f"query scaled by {sharpness:4.0f}: weights {weights.numpy().round(3)}"
          f" -> answer {(weights @ values).item():.2f}")

# %% [markdown]
# ### Why divide by $\sqrt{E}$?
#
# Suppose that at initialisation the entries of a query $q$ and a key $k$ in $\mathbb{R}^E$ are
# independent, with mean $0$ and variance $1$. Then $q \cdot k = \sum_{i=1}^{E} q_i k_i$ is a sum
# of $E$ terms, each with mean $\mathbb{E}[q_i]\,\mathbb{E}[k_i] = 0$ and variance
# $\mathbb{E}[q_i^2]\,\mathbb{E}[k_i^2] = 1$. The terms are uncorrelated, so the variances add:
#
# $$
# \operatorname{Var}(q \cdot k) = E, \qquad \operatorname{std}(q \cdot k) = \sqrt{E} .
# $$
#
# With $E = 64$ the raw scores have a standard deviation of $8$; with $E = 1024$ it is $32$. Logits
# that differ by tens put the softmax deep into its one-hot regime: nearly all the weight goes to
# the key with the largest score. A softmax in that regime passes almost no gradient back to its
# inputs (Section 4.3 shows why: every entry of its Jacobian carries a factor $p_i$ or
# $1 - p_i$). So the gradient that reaches the scores, and through them the queries and keys,
# almost vanishes, and the attention pattern stays frozen at whichever key happened to win at
# initialisation.
#
# Dividing the scores by $\sqrt{E}$ brings their variance back to $1$ whatever the width. The
# softmax then starts in its responsive range. The assumption of unit-variance entries is roughly
# what standard initialisation together with the normalisation layers of Section 4.2 provide.
#
# The figure checks this numerically. It shows the variance of $q \cdot k$ for random Gaussian
# vectors. It also shows two properties of a softmax over 16 such scores: how much of the
# probability goes to the winning key, and how large the gradient that flows back through the
# softmax is for a random upstream gradient.

# %%
# Figure: raw and scaled dot-product scores as the width E grows.
widths = [4, 16, 64, 256, 1024]
n_rows, n_keys = 500, 16
var_raw, var_scaled = [], []
top_raw, top_scaled, grad_raw, grad_scaled = [], [], [], []
for E in widths:
    q = torch.randn(n_rows, 1, E)
    k = torch.randn(n_rows, n_keys, E)
    raw = (q * k).sum(dim=-1)  # (n_rows, n_keys) raw scores q . k
    var_raw.append(raw.var().item())
    var_scaled.append((raw / math.sqrt(E)).var().item())
    for scores, top, grad in [(raw, top_raw, grad_raw), (raw / math.sqrt(E), top_scaled, grad_scaled)]:
        scores = scores.clone().requires_grad_()
        p = torch.softmax(scores, dim=-1)
        upstream = torch.randn_like(p)  # a random gradient arriving from above
        (p * upstream).sum().backward()
        top.append(p.amax(dim=-1).mean().item())
        grad.append(scores.grad.norm(dim=-1).mean().item())

fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
axes[0].loglog(widths, var_raw, "o-", label=r"raw $q\cdot k$")
axes[0].loglog(widths, var_scaled, "s-", label=r"scaled $q\cdot k/\sqrt{E}$")
axes[0].loglog(widths, widths, "k:", label="E (theory)")
axes[0].set_title("variance of the score")
axes[1].semilogx(widths, top_raw, "o-", label="raw")
axes[1].semilogx(widths, top_scaled, "s-", label="scaled")
axes[1].set_title(f"mean largest weight ({n_keys} keys)")
axes[1].set_ylim(0, 1.05)
axes[2].loglog(widths, grad_raw, "o-", label="raw")
axes[2].loglog(widths, grad_scaled, "s-", label="scaled")
axes[2].set_title("gradient norm reaching the scores")
for ax in axes:
    ax.set_xlabel("width E")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Derivation 1 — the variance of a score (symbolic answer, 0.5 points)
#
# The argument above assumed unit-variance entries. Redo it for queries whose entries have standard
# deviation $s_q$ and keys whose entries have standard deviation $s_k$ (still independent, mean 0,
# all $E$ coordinates independent of each other). What is $\operatorname{Var}(q \cdot k)$ as a
# function of $E$, $s_q$ and $s_k$? Which single factor should divide the scores to bring their
# variance back to 1?

# %% llmcourse={"role": "answer", "exercise": "ch04.dot_product_variance"}
def dot_product_variance(E, s_q, s_k):
    """Var(q · k) for independent q, k in R^E with independent, zero-mean entries of standard
    deviations s_q (query) and s_k (key). A formula, read by the grader (not run)."""
    ### BEGIN SOLUTION
    return E * s_q**2 * s_k**2
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.dot_product_variance"}
self_check("ch04.dot_product_variance", dot_product_variance)

# %% [markdown]
# ### Derivation 2 — a query against itself (symbolic answer, 0.5 points)
#
# In self-attention a token's query and key are often close, and the extreme case is $k = q$. Take
# $q \in \mathbb{R}^E$ with independent $\mathcal{N}(0, s^2)$ entries. The score $q \cdot q =
# \lVert q \rVert^2$ is now a sum of squares. Its mean is $E s^2$; what is its **variance**, as a
# function of $E$ and $s$? You need one fact about the Gaussian: $\mathbb{E}[x^4] = 3 s^4$ for
# $x \sim \mathcal{N}(0, s^2)$. The terms of the sum are independent, but they are no longer
# products of independent factors.

# %% llmcourse={"role": "answer", "exercise": "ch04.self_score_variance"}
def self_score_variance(E, s):
    """Var(q · q) for q in R^E with independent N(0, s^2) entries. A formula, read by the grader
    (not run)."""
    ### BEGIN SOLUTION
    return 2 * E * s**4
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.self_score_variance"}
self_check("ch04.self_score_variance", self_score_variance)

# %% [markdown]
# ### Scaled dot-product attention with masks
#
# With a mask, the full operation is
#
# $$
# \operatorname{Attention}(Q, K, V; \mathcal{M}) = \operatorname{softmax}\!\big(c\, Q K^\top + \mathcal{M}\big)\, V,
# \qquad c = \tfrac{1}{\sqrt{E}} \text{ by default},
# $$
#
# where the mask $\mathcal{M} \in (\mathbb{R} \cup \{-\infty\})^{L \times S}$ is added to the
# scores. Masks are needed
# for several reasons. In a causal language model, position $i$ predicts token $i+1$, so it must not
# see the tokens after it. In a batch of sequences padded to a common length, the padding positions
# are not real tokens and must be ignored. And several documents packed into one row must not see
# each other.
#
# #### The mask goes *before* the softmax
#
# Adding $-\infty$ to score $(i, j)$ makes $\exp(-\infty) = 0$. The weight of key $j$ is then
# exactly zero, and the softmax renormalises over the keys that remain. Row $i$ stays a proper
# distribution over the keys it may see, and it depends *only* on those keys.
#
# Masking *after* the softmax, by multiplying the weights by a 0/1 matrix, is wrong in two ways:
#
# - the rows no longer sum to one, so the output is shrunk by a factor that depends on the data;
# - worse, every weight that is kept,
#   $\alpha_{ij} = \exp(s_{ij}) / \sum_{l=1}^{S} \exp(s_{il})$, still has the forbidden keys in
#   its denominator. Information about future tokens **leaks** into position $i$ through the
#   normalising constant, even though their weights were set to zero.
#
# Renormalising after zeroing fixes both problems and is mathematically the same as masking
# before the softmax. Adding $-\infty$ to the scores does it in one pass, and it is what fused
# attention kernels do.
#
# #### Boolean and float masks
#
# - A **boolean** mask has `True` where the query **may attend** to the key. Scores where the mask
#   is `False` are set to $-\infty$. This is the convention of
#   `torch.nn.functional.scaled_dot_product_attention`, and the one used throughout this course.
# - A **float** mask is **added** to the scores. A boolean mask corresponds to the float mask
#   that is $0$ where it is `True` and $-\infty$ where it is `False`. A float mask can also carry
#   soft biases, for example a penalty that grows with the distance $|i - j|$.
# - A mask only needs to *broadcast* to the score shape `(..., L, S)`. An `(L, S)` mask is shared by
#   every batch entry and head, and a `(B, 1, 1, S)` mask hides padding keys per sequence.
#
# > **Watch the polarity.** `torch.nn.MultiheadAttention` (and `nn.Transformer`) interpret a
# > boolean `attn_mask` or `key_padding_mask` the **opposite** way: there, `True` means "may
# > **not** attend". A mask passed between the two APIs without `~` is silently inverted, and a
# > causal model then attends only to the future. Whenever a mask crosses an API boundary, check
# > its polarity.
#
# #### The causal mask
#
# Query $i$ may attend to key $j$ if and only if $j \le i$. The **diagonal is included**: a token
# sees itself. For $L = S$ this is the lower-triangular matrix of `True`s. When $L \neq S$,
# PyTorch's `is_causal=True` aligns the triangle to the **top left**, so the mask is
# $[\,j \le i\,]$ for $0 \le i < L$ and $0 \le j < S$ (this is `torch.ones(L, S).tril()`). Query $0$
# then sees key $0$ only, whatever $S$ is. This alignment is right when queries and keys start at the
# same position. When decoding with a cache of past keys, the $L$ new queries are the *last* $L$
# positions of a sequence of length $S$, and the right mask is aligned to the **bottom right**:
# $[\,j \le i + S - L\,]$. `is_causal` does not build that mask; pass it explicitly in that case.
#
# #### Queries with nothing to attend to
#
# If a query's row of the mask is entirely `False` (or $-\infty$), every weight of its softmax is
# $0/0$, and `torch.softmax` returns `NaN` for the whole row. PyTorch's
# `scaled_dot_product_attention` returns a **zero output row** for such a query, with zero
# gradients, instead of `NaN`. Your implementation must do the same. One way: before the softmax,
# replace the scores of such a row by harmless finite values (zeros, say), and afterwards set its
# weights to zero; `masked_fill` does both and also stops the gradient from reaching those rows.

# %%
# Figure: attention weights for 8 random tokens, without and with the causal mask.
# A trick to read the weights out of the built-in attention: with V = identity, the output
# softmax(QK^T/sqrt(E)) @ I is the weight matrix itself.
T, E = 8, 16
q, k = torch.randn(T, E), torch.randn(T, E)
identity = torch.eye(T)
w_full = F.scaled_dot_product_attention(q, k, identity)  # (T, T) weights
w_causal = F.scaled_dot_product_attention(q, k, identity, is_causal=True)  # (T, T) weights
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, w, title in [(axes[0], w_full, "no mask"), (axes[1], w_causal, "causal mask (j ≤ i)")]:
    im = ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"attention weights, {title}")
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
plt.show()
print("row sums with the causal mask:", w_causal.sum(dim=-1).numpy().round(6))

# %%
# The two alignments of a causal mask when there are fewer queries (L=3) than keys (S=7).
L, S = 3, 7
i, j = torch.arange(L)[:, None], torch.arange(S)[None, :]
top_left = j <= i  # what is_causal=True builds
bottom_right = j <= i + (S - L)  # queries are the last L positions (decoding with a cache)
fig, axes = plt.subplots(1, 2, figsize=(10, 2.4))
for ax, m, title in [(axes[0], top_left, "top-left (is_causal=True)"),
                     (axes[1], bottom_right, "bottom-right (explicit mask)")]:
    ax.imshow(m, cmap="Greys_r", vmin=0, vmax=1)
    ax.set_title(f"{title}: white = may attend")
    ax.set_xlabel("key position j")
    ax.set_ylabel("query i")
    ax.set_yticks(range(L))
plt.show()

# %%
# Masking after the softmax leaks: change only the key of the LAST token, and look at
# the weights that query 0 (which may only see key 0) gives to key 0.
T, E = 5, 8
q, k = torch.randn(T, E), torch.randn(T, E)
k_changed = k.clone()
k_changed[-1] += 3.0
may_attend = torch.ones(T, T, dtype=torch.bool).tril()

def weights_masked_after(q, k):
    return torch.softmax(q @ k.T / math.sqrt(E), dim=-1) * may_attend

def weights_masked_before(q, k):
    return F.scaled_dot_product_attention(q, k, torch.eye(T), attn_mask=may_attend)

for name, fn in [("after softmax ", weights_masked_after), ("before softmax", weights_masked_before)]:
    w, w2 = fn(q, k), fn(q, k_changed)
    print(f"mask {name}: row sums {w.sum(-1).numpy().round(3)}, "
          f"query 0 -> key 0: {w[0, 0]:.3f} vs {w2[0, 0]:.3f} after changing the last key")


# %% [markdown]
# ### Exercise 1 — scaled dot-product attention
#
# Implement `scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None)`
# with the same semantics as `torch.nn.functional.scaled_dot_product_attention`, without dropout:
#
# - scores $c\, q k^\top$ with $c$ = `scale`, or $1/\sqrt{E}$ when `scale` is `None`;
# - a boolean `attn_mask` (`True` = may attend) or a float `attn_mask` that is added to the scores,
#   broadcastable to `(..., L, S)`;
# - `is_causal=True` applies the top-left aligned causal mask described above. You may assume that
#   `attn_mask` and `is_causal=True` are not given together (PyTorch refuses that combination);
# - a query that may attend to no key at all gets an output row of zeros and no `NaN` gradients;
# - for the softmax, use `torch.softmax` (you build your own in Section 4.3; if you call yours
#   here instead, PyTorch's stands in for it while this exercise is graded, so a bug in it is
#   charged to the softmax exercise only).
#
# **Not allowed:** `torch.nn.functional.scaled_dot_product_attention` (under any name).

# %% llmcourse={"role": "answer", "exercise": "ch04.scaled_dot_product_attention"}
def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """Scaled dot-product attention: softmax(scale * q k^T + mask) v.

    Args:
        q: queries.
        k: keys.
        v: values.
        attn_mask: None, a boolean tensor (True = the query may attend to the key),
            or a float tensor that is added to the scores. Must broadcast to the
            score shape (..., L, S).
        is_causal: if True, query i may attend to key j only when j <= i (the
            diagonal is included), with the triangle aligned to the top left when
            L != S. Not combined with ``attn_mask``.
        scale: factor applied to q k^T; None means 1 / sqrt(E).

    Returns:
        The attention output. A query that may attend to no key gets a row of zeros.

    Shape:
        q: (..., L, E).
        k: (..., S, E).
        v: (..., S, Ev).
        attn_mask: broadcastable to (..., L, S).
        Output: (..., L, Ev).
    """
    ### BEGIN SOLUTION
    L, S = q.size(-2), k.size(-2)
    if scale is None:
        scale = 1.0 / math.sqrt(q.size(-1))
    if is_causal:
        if attn_mask is not None:
            raise ValueError("give either attn_mask or is_causal=True, not both")
        # Top-left aligned: query i sees keys 0..i, the diagonal included.
        attn_mask = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()  # (L, S)
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., L, S)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask.to(scores.dtype)
    # A query with no visible key gets a zero output (PyTorch's convention) instead of
    # 0/0 = NaN: give its row harmless scores for the softmax, then zero its weights.
    # masked_fill also stops the gradient from reaching those rows.
    visible = (scores > float("-inf")).any(dim=-1, keepdim=True)  # (..., L, 1)
    weights = torch.softmax(scores.masked_fill(~visible, 0.0), dim=-1)  # (..., L, S)
    weights = weights.masked_fill(~visible, 0.0)
    return weights @ v  # (..., L, Ev)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.scaled_dot_product_attention"}
self_check("ch04.scaled_dot_product_attention", scaled_dot_product_attention)

# %%
# Try it: compare with PyTorch, and test that a causal model cannot see the future.
try:
    B, H, L, S, E = 2, 3, 4, 6, 8
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, 5)
    bool_mask = torch.rand(L, S) > 0.3
    float_mask = torch.randn(B, 1, L, S)
    for name, kwargs in [("no mask", {}), ("causal", {"is_causal": True}),
                         ("bool mask", {"attn_mask": bool_mask}), ("float mask", {"attn_mask": float_mask}),
                         ("scale=0.5", {"scale": 0.5})]:
        err = (scaled_dot_product_attention(q, k, v, **kwargs)
               - F.scaled_dot_product_attention(q, k, v, **kwargs)).abs().max().item()
        print(f"{name:10s}: max difference from PyTorch {err:.1e}")

    # No future leakage: changing token 4 onwards must not change outputs 0..3.
    T = 7
    x = torch.randn(T, E)
    x_changed = x.clone()
    x_changed[4:] = torch.randn(T - 4, E)
    out = scaled_dot_product_attention(x, x, x, is_causal=True)
    out_changed = scaled_dot_product_attention(x_changed, x_changed, x_changed, is_causal=True)
    print("outputs 0..3 unchanged:", torch.equal(out[:4], out_changed[:4]))
except NotImplementedError:
    print("Implement `scaled_dot_product_attention` first, then re-run this cell.")


# %% [markdown]
# ## 4.2 Multi-head attention, norms and residuals
#
# A transformer layer uses attention in a particular form: several attentions side by side
# (multi-head attention), with a normalisation in front and a residual connection around it. This
# section builds the three pieces.
#
# ### Multi-head attention
#
# One attention gives each query *one* distribution over the keys and returns *one* average. A
# token often needs several different things at once, for example the previous token, the subject
# of the sentence and the matching opening bracket. A single softmax can only compromise between
# them and return a blurred mix. **Multi-head attention** runs $H$ attentions in parallel, each in its
# own subspace of dimension $E = D/H$ (the head size):
#
# $$
# \operatorname{head}_h = \operatorname{Attention}\big(X W_Q^{(h)},\, X W_K^{(h)},\, X W_V^{(h)}\big),
# \qquad W_Q^{(h)}, W_K^{(h)}, W_V^{(h)} \in \mathbb{R}^{D \times E},
# $$
#
# $$
# \operatorname{MHA}(X) = \big[\operatorname{head}_1, \dots, \operatorname{head}_H\big]\, W_O,
# \qquad W_O \in \mathbb{R}^{D \times D} .
# $$
#
# Each head has its own queries and keys, and so its own attention pattern. The values it returns
# live in its own $E$-dimensional subspace, and the output projection $W_O$ mixes the heads back
# together. Narrowing each head to $E = D/H$ keeps the total cost the same as one head of full
# width. The projections cost $O(TD^2)$ whatever $H$ is, and the scores cost
# $H \cdot T^2 \cdot E = T^2 D$.
#
# #### Splitting into heads is a reshape
#
# Put the $H$ matrices $W_Q^{(h)}$ side by side and you get one $D \times D$ matrix
# $W_Q = [W_Q^{(1)} \cdots W_Q^{(H)}]$. So one `nn.Linear(D, D)` computes the queries of all heads
# at once, and feature block $h$ of its output (features $hE$ to $(h+1)E - 1$) belongs to head
# $h$. To give every head its own attention, reshape so that the heads become a
# batch dimension:
#
# $$
# (B, T, D) \xrightarrow{\;\texttt{view}\;} (B, T, H, E)
# \xrightarrow{\;\texttt{transpose(1, 2)}\;} (B, H, T, E), \qquad E = D/H.
# $$
#
# Scaled dot-product attention then treats the $B \cdot H$ pairs as independent problems. Afterwards,
# undo the reshape: `transpose(1, 2)` back to $(B, T, H, E)$, then merge the last two dimensions
# into $(B, T, D)$. This merge *is* the concatenation $[\operatorname{head}_1, \dots, \operatorname{head}_H]$.
# Two traps:
#
# - after `transpose` the tensor is no longer contiguous in memory, and `view` refuses to merge the
#   dimensions. Use `.contiguous().view(...)` or `.reshape(...)`;
# - `view(B, H, T, D // H)` directly on the $(B, T, D)$ tensor runs without error but mixes
#   positions and features. The split must be `view(B, T, H, D // H)` followed by the transpose.
#
# #### Parameter count
#
# There are four $D \times D$ weight matrices ($W_Q, W_K, W_V, W_O$) and, with biases, four bias
# vectors of length $D$:
#
# $$
# \#\text{params} = 4D^2 + 4D,
# $$
#
# which does not depend on $H$. For $D = 768$ (the width of GPT-2 small) that is
# $4 \cdot 589{,}824 + 3{,}072 = 2{,}362{,}368$ parameters per attention layer.

# %% [markdown]
# ### Exercise 2 — multi-head self-attention
#
# Implement `MultiHeadAttention(d_model, n_heads, bias=True)`:
#
# - `__init__` creates four layers, `self.q_proj`, `self.k_proj`, `self.v_proj`, `self.out_proj`,
#   each `nn.Linear(d_model, d_model, bias=bias)`: the tests load their weights by these names.
#   It raises a `ValueError` if `d_model` is not divisible by `n_heads` (one of the checks
#   builds such a module);
# - `forward(x, attn_mask=None, is_causal=False)` projects `x`, splits the heads with
#   `view(B, T, H, E).transpose(1, 2)` where $E = D/H$, runs **your**
#   `scaled_dot_product_attention` from Exercise 1 (passing the mask, boolean or float, and
#   `is_causal` through unchanged), merges the heads and applies `out_proj`.
#
# **Not allowed:** `torch.nn.MultiheadAttention`, `torch.nn.functional.multi_head_attention_forward`,
# `torch.nn.functional.scaled_dot_product_attention`.

# %% llmcourse={"role": "answer", "exercise": "ch04.multi_head_attention"}
class MultiHeadAttention(nn.Module):
    """Multi-head self-attention (Section 4.2).

    Args:
        d_model: model width D; must be divisible by ``n_heads`` (ValueError if not).
        n_heads: number of heads H; each head works in dimension E = D / H.
        bias: whether the four linear layers have a bias.

    Attributes:
        q_proj, k_proj, v_proj: nn.Linear(D, D) computing the queries, keys and
            values of all heads at once (head h owns output features
            h*E .. (h+1)*E - 1).
        out_proj: nn.Linear(D, D) applied to the concatenated heads.
    """

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        ### BEGIN SOLUTION
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        ### END SOLUTION

    def forward(self, x, attn_mask=None, is_causal=False):
        """Self-attention of the sequence ``x`` over itself.

        Args:
            x: input sequence.
            attn_mask: None, or a boolean (True = may attend) or float (additive)
                mask broadcastable to (B, H, T, T), for example (T, T) or (B, 1, 1, T).
            is_causal: apply the causal mask (query i sees keys j <= i).

        Returns:
            The output sequence, after the output projection.

        Shape:
            x: (B, T, D).
            Output: (B, T, D).
        """
        ### BEGIN SOLUTION
        B, T, D = x.shape
        H = self.n_heads
        E = D // H  # the head size
        q = self.q_proj(x).view(B, T, H, E).transpose(1, 2)  # (B, H, T, E)
        k = self.k_proj(x).view(B, T, H, E).transpose(1, 2)  # (B, H, T, E)
        v = self.v_proj(x).view(B, T, H, E).transpose(1, 2)  # (B, H, T, E)
        y = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)  # (B, H, T, E)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, H, E) -> (B, T, D): heads concatenated
        return self.out_proj(y)  # (B, T, D)
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.multi_head_attention"}
self_check("ch04.multi_head_attention", MultiHeadAttention)

# %%
# Try it: count parameters, and compare with nn.MultiheadAttention after copying the weights.
# Note the ~ on the mask: nn.MultiheadAttention wants True = "may NOT attend".
try:
    D, H, B, T = 32, 4, 2, 6
    mha = MultiHeadAttention(D, H)
    n_params = sum(p.numel() for p in mha.parameters())
    print(f"parameters: {n_params} (4D^2 + 4D = {4 * D * D + 4 * D})")

    torch_mha = nn.MultiheadAttention(D, H, bias=True, batch_first=True)
    with torch.no_grad():
        torch_mha.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        torch_mha.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        torch_mha.out_proj.weight.copy_(mha.out_proj.weight)
        torch_mha.out_proj.bias.copy_(mha.out_proj.bias)
    x = torch.randn(B, T, D)
    may_attend = torch.ones(T, T, dtype=torch.bool).tril()
    with torch.no_grad():
        ours = mha(x, attn_mask=may_attend)
        theirs, _ = torch_mha(x, x, x, attn_mask=~may_attend, need_weights=False)
        inverted, _ = torch_mha(x, x, x, attn_mask=may_attend, need_weights=False)
    print("max difference, polarity converted:", (ours - theirs).abs().max().item())
    print("max difference, mask passed as is :", (ours - inverted).abs().max().item())
except NotImplementedError:
    print("Implement Exercises 1 and 2 first, then re-run this cell.")


# %% [markdown]
# ### LayerNorm
#
# In a transformer, every attention (and every feed-forward network) comes with a normalisation
# of the token vectors: in front of it, or after the residual addition (where exactly is discussed
# at the end of this section). LayerNorm normalises each token's feature vector
# $x \in \mathbb{R}^D$ on its own:
#
# $$
# \mu = \frac{1}{D} \sum_{i=1}^{D} x_i, \qquad
# \sigma^2 = \frac{1}{D} \sum_{i=1}^{D} (x_i - \mu)^2, \qquad
# \operatorname{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta .
# $$
#
# - It works **per token, over the features**. It does not look at other tokens or at other
#   sequences in the batch, unlike batch normalisation. So it behaves the same in training and
#   in generation, and it cannot leak information between positions.
# - The variance is **biased**: divide by $D$, not $D - 1$. We are not estimating the variance of a
#   population, we are rescaling exactly these $D$ numbers. (`torch.var` is unbiased by default;
#   pass `correction=0`.)
# - $\varepsilon$ goes **inside** the square root. It keeps a constant vector ($\sigma = 0$) finite
#   and caps the gain $1/\sqrt{\sigma^2 + \varepsilon}$ at $1/\sqrt{\varepsilon}$. Adding it outside
#   the root gives a different function, and the tests will notice.
# - The learned scale $\gamma$ and shift $\beta$ (initialised to $1$ and $0$) let the network
#   undo the normalisation where that helps.
# - Up to $\varepsilon$, $\operatorname{LN}(a x + b\mathbf{1}) = \operatorname{LN}(x)$ for any $a > 0$
#   and any $b$: each token loses its mean and its scale.
#
# ### RMSNorm
#
# RMSNorm drops the centring and the shift:
#
# $$
# \operatorname{RMS}(x) = \sqrt{\frac{1}{D}\sum_{i=1}^{D} x_i^2 + \varepsilon}, \qquad
# \operatorname{RMSNorm}(x) = \gamma \odot \frac{x}{\operatorname{RMS}(x)} .
# $$
#
# It is invariant to scaling, $\operatorname{RMSNorm}(a x) = \operatorname{RMSNorm}(x)$ for $a > 0$,
# but not to shifts. It needs one reduction instead of two. In practice it trains as well as
# LayerNorm, which suggests that the rescaling is the part that matters. Many recent LLMs use it.
# When the features already have mean zero, RMSNorm equals LayerNorm without $\beta$.

# %% [markdown]
# ### Exercise 3 — LayerNorm
#
# Implement `layer_norm(x, weight, bias, eps=1e-5)` over the last dimension, exactly as in the
# formula: biased variance, $\varepsilon$ inside the square root, then the affine `weight` ($\gamma$)
# and `bias` ($\beta$). Either of them may be `None`: then leave out that step only (the hidden
# tests pass each of them as `None`, alone and together).
#
# **Not allowed:** `torch.nn.functional.layer_norm`, `torch.layer_norm`, `torch.nn.LayerNorm`
# (which calls it) and `torch.nn.functional.group_norm` (which computes it too).

# %% llmcourse={"role": "answer", "exercise": "ch04.layer_norm"}
def layer_norm(x, weight, bias, eps=1e-5):
    """Layer normalisation over the last dimension (Section 4.2).

    y = weight * (x - mean) / sqrt(var + eps) + bias, where mean and var are taken
    over the last dimension and var is the biased variance (divide by D).

    Args:
        x: input features.
        weight: the scale gamma, or None for no scaling.
        bias: the shift beta, or None for no shift.
        eps: added to the variance inside the square root.

    Returns:
        The normalised tensor, with the shape and dtype of ``x``.

    Shape:
        x: (..., D).
        weight, bias: (D,).
        Output: (..., D).
    """
    ### BEGIN SOLUTION
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased: divide by D
    y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.layer_norm"}
self_check("ch04.layer_norm", layer_norm)


# %% [markdown]
# ### Exercise 4 — RMSNorm
#
# Implement `rms_norm(x, weight, eps=1e-6)` over the last dimension:
# $x / \sqrt{\operatorname{mean}(x^2) + \varepsilon}$, then multiply by `weight`; if `weight` is
# `None`, skip that step and return the normalised $x$.
#
# **Not allowed:** `torch.nn.functional.rms_norm`, `torch.rms_norm`, `torch.nn.RMSNorm` (which
# calls it).

# %% llmcourse={"role": "answer", "exercise": "ch04.rms_norm"}
def rms_norm(x, weight, eps=1e-6):
    """RMS normalisation over the last dimension (Section 4.2).

    y = weight * x / sqrt(mean(x^2) + eps), with the mean taken over the last dimension.
    There is no centring and no bias.

    Args:
        x: input features.
        weight: the scale gamma, or None for no scaling.
        eps: added to the mean square inside the square root.

    Returns:
        The normalised tensor, with the shape and dtype of ``x``.

    Shape:
        x: (..., D).
        weight: (D,).
        Output: (..., D).
    """
    ### BEGIN SOLUTION
    y = x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps)  # (..., D)
    if weight is not None:
        y = y * weight
    return y
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.rms_norm"}
self_check("ch04.rms_norm", rms_norm)

# %%
# Try it: compare with PyTorch, and check the invariances claimed above.
try:
    D = 16
    x = torch.randn(3, 5, D)
    w, b = torch.randn(D), torch.randn(D)
    ln_err = (layer_norm(x, w, b) - F.layer_norm(x, (D,), w, b)).abs().max().item()
    rms_err = (rms_norm(x, w) - F.rms_norm(x, (D,), w, eps=1e-6)).abs().max().item()
    print("layer_norm vs F.layer_norm:", ln_err)
    print("rms_norm   vs F.rms_norm  :", rms_err)
    ln_x, rms_x = layer_norm(x, None, None), rms_norm(x, None)
    print("LN(3x + 5) == LN(x)       :", torch.allclose(layer_norm(3 * x + 5, None, None), ln_x, atol=1e-4))
    print("RMS(3x)    == RMS(x)      :", torch.allclose(rms_norm(3 * x, None), rms_x, atol=1e-4))
    print("RMS(x + 5) == RMS(x)      :", torch.allclose(rms_norm(x + 5, None), rms_x, atol=1e-4))
except NotImplementedError:
    print("Implement `layer_norm` and `rms_norm` first, then re-run this cell.")

# %% [markdown]
# ### Residual connections and gradient flow
#
# A transformer block does not replace its input; it adds an update to it:
#
# $$
# x_{l+1} = x_l + f_l(x_l),
# $$
#
# where $f_l$ is the block's own function (an attention, or a feed-forward network). The sequence
# $x_0, x_1, \dots, x_{n_{\text{layer}}}$ is called the **residual stream**: each of the
# $n_{\text{layer}}$ blocks reads it and writes an increment into it. The Jacobian of one block is
#
# $$
# \frac{\partial x_{l+1}}{\partial x_l} = I + \frac{\partial f_l}{\partial x_l},
# $$
#
# and backpropagation multiplies these matrices from the top down:
#
# $$
# \frac{\partial x_{n_{\text{layer}}}}{\partial x_l}
# = \prod_{k=l}^{n_{\text{layer}}-1} \Big(I + \frac{\partial f_k}{\partial x_k}\Big)
# = I + \sum_k \frac{\partial f_k}{\partial x_k}
#   + \sum_{k > j} \frac{\partial f_k}{\partial x_k}\frac{\partial f_j}{\partial x_j} + \cdots
# $$
#
# The leading $I$ is a direct path. The gradient at the output reaches every layer unchanged, however
# small the blocks' own Jacobians are. Without the skip connection only the product
# $\prod_k \partial f_k / \partial x_k$ remains, and its size typically shrinks or grows
# geometrically with depth. These are the vanishing and exploding gradients of deep plain networks.
#
# ### Where does the normalisation go?
#
# - **Post-norm** (the original Transformer): $x_{l+1} = \operatorname{LN}\big(x_l + f_l(x_l)\big)$.
#   The normalisation sits *on* the residual path, so the skip term reaches layer $l$ only after
#   passing through the Jacobian of every LayerNorm above it. Each of those Jacobians is a projection
#   scaled by $1/\sigma$, where $\sigma$ is the standard deviation of $x_l + f_l(x_l)$, typically
#   greater than 1. The clean identity path is lost. Whether deep layers get gradient then depends
#   on the blocks themselves, which makes deep post-norm stacks sensitive to initialisation and
#   learning rate; in practice they need a learning-rate warm-up.
# - **Pre-norm** (GPT-2 and most LLMs since): $x_{l+1} = x_l + f_l\big(\operatorname{LN}(x_l)\big)$,
#   with one final LayerNorm before the output layer. The residual stream itself is never
#   normalised, so the identity term survives exactly over any depth. The normalisation only
#   controls what each block *sees*. This is why pre-norm stacks of dozens of layers train stably with
#   ordinary learning rates. The price is that the stream's magnitude grows with depth, because
#   every block adds to it, so a late block's update is relatively small. The final
#   normalisation restores the scale of the output.
#
# The figure uses 48 random two-layer MLP blocks (no training), with three wirings. It shows the
# norm of the gradient that reaches the input of each layer. On the right, the blocks' inputs are
# detached, so that only the skip path carries gradient.

# %%
# Figure: gradient norm per layer for a deep stack of random blocks.
_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run
width, depth, n_tokens = 64, 48, 32
# Each block is a two-layer MLP with weights scaled so that a unit-variance input gives an O(1) output.
blocks = [(torch.randn(width, 4 * width) / math.sqrt(width),
           torch.randn(4 * width, width) / math.sqrt(4 * width)) for _ in range(depth)]

def mlp(h, W):
    return F.gelu(h @ W[0]) @ W[1]

def norm(h):
    return F.layer_norm(h, (width,))

def gradient_per_layer(wiring, skip_only=False):
    x = torch.randn(n_tokens, width, requires_grad=True)
    h, inputs = x, []
    for W in blocks:
        h.retain_grad()
        inputs.append(h)
        into_block = h.detach() if skip_only else h  # skip_only: no gradient through the block
        if wiring == "no residual":
            h = mlp(into_block, W)
        elif wiring == "post-norm":
            h = norm(h + mlp(into_block, W))
        else:  # pre-norm
            h = h + mlp(norm(into_block), W)
    if wiring == "pre-norm":
        h = norm(h)  # the final normalisation
    (h * torch.randn_like(h)).sum().backward()  # a random gradient arriving at the output
    return [t.grad.norm().item() if t.grad is not None else float("nan") for t in inputs]

fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), sharey=True)
for wiring in ["no residual", "post-norm", "pre-norm"]:
    axes[0].semilogy(gradient_per_layer(wiring), label=wiring)
for wiring, color in [("post-norm", "C1"), ("pre-norm", "C2")]:
    axes[1].semilogy(gradient_per_layer(wiring, skip_only=True), label=wiring, color=color)
axes[0].set_title("full gradient")
axes[1].set_title("gradient along the skip path only")
axes[0].set_ylabel("‖∂loss/∂x_l‖")
for ax in axes:
    ax.set_xlabel("layer l (0 = input)")
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Left: without residual connections the gradient dies out geometrically towards the input. Both
# residual wirings keep it alive. Right: along the skip path alone, pre-norm delivers the same
# gradient to every layer, while post-norm damps it at every LayerNorm. In the post-norm stack the
# lower layers get gradient only through the blocks' own Jacobians.

# %% [markdown]
# ## 4.3 Softmax
#
# Sections 4.1 and 4.2 used `torch.softmax` as a black box. This section opens it: what it does,
# how to compute it without overflow, and its derivative, which decides how much gradient
# attention passes back to its queries and keys.
#
# For a vector of *logits* $x \in \mathbb{R}^n$ (a row of $n$ scores) and a *temperature*
# $\tau > 0$,
#
# $$
# \operatorname{softmax}_\tau(x)_i = \frac{\exp(x_i / \tau)}{\sum_{j=1}^{n} \exp(x_j / \tau)} .
# $$
#
# The outputs are positive and sum to one, so they form a probability distribution over $n$ items.
# The map preserves order: a larger logit gets a larger probability. The name says what it is: a
# smooth version of the arg max, where the arg max is seen as the one-hot vector that picks the
# largest entry.
#
# **Shift invariance.** Adding the same constant $c$ to every logit changes nothing:
#
# $$
# \operatorname{softmax}_\tau(x + c\mathbf{1})_i
# = \frac{e^{c/\tau} \exp(x_i/\tau)}{e^{c/\tau} \sum_j \exp(x_j/\tau)}
# = \operatorname{softmax}_\tau(x)_i .
# $$
#
# Only the *differences* between logits matter. So the softmax has $n - 1$ degrees of freedom, and
# its Jacobian (below) must send the direction $\mathbf{1}$ to zero.
#
# **The stable algorithm.** In `float32`, $\exp(z)$ overflows to `inf` for $z \gtrsim 88.7$ and
# underflows to $0$ for $z \lesssim -103$. Evaluated as written, logits of $1000$ give
# $\infty / \infty$ and logits of $-1000$ give $0/0$, and both are `NaN`. Shift invariance lets us
# choose $c$ freely, so we choose $c = -\max_j x_j$ (divided by $\tau$):
#
# $$
# \operatorname{softmax}_\tau(x)_i = \frac{\exp(z_i)}{\sum_j \exp(z_j)}, \qquad
# z_i = \frac{x_i - \max_j x_j}{\tau} \le 0 .
# $$
#
# Now no exponent is positive, so nothing overflows. The denominator contains the term
# $\exp(0) = 1$, so it is at least $1$ and never $0$. Some of the other terms may still underflow to
# $0$, but that is harmless: they were negligible next to the $1$ anyway. `bfloat16` has the same
# exponent range as `float32` (with only 8 significant bits), so the same algorithm is safe there. In
# `float16`, $\exp$ overflows already above $11.1$, so the shift is essential.
#
# **Masked entries.** A logit of $-\infty$ gives $\exp(-\infty) = 0$, so that item gets probability
# exactly zero and the remaining items renormalise among themselves. The stable algorithm keeps
# this property as long as the row has at least one finite entry, because then the maximum is
# finite. If *every* entry is $-\infty$, we would be asking for a distribution over an empty set.
# The subtraction then computes $-\infty - (-\infty) = \text{NaN}$. That is the fully masked query
# of Section 4.1, which attention handles around the softmax (a zero output row), so your softmax
# need not handle it.
#
# **The two limits of the temperature.** Let $x_{\max} = \max_j x_j$ and let $\mathcal{A}$ be the
# set of positions where the maximum is attained. Then
#
# $$
# \operatorname{softmax}_\tau(x)_i
# = \frac{\exp((x_i - x_{\max})/\tau)}{\sum_j \exp((x_j - x_{\max})/\tau)}
# \xrightarrow[\tau \to 0]{} \frac{\mathbb{1}[i \in \mathcal{A}]}{|\mathcal{A}|},
# $$
#
# because every term with $x_j < x_{\max}$ goes to $0$ and every term with $x_j = x_{\max}$ equals
# $1$. As $\tau \to 0$ the softmax becomes the one-hot vector of the arg max (or the uniform
# distribution over the tied maxima). As $\tau \to \infty$, every $x_i / \tau \to 0$, so every
# exponential tends to $1$ and the softmax becomes uniform, $1/n$. The temperature moves
# continuously between "take the best" and "ignore the scores". In attention, the factor
# $1/\sqrt{E}$ of Section 4.1 plays the role of a temperature $\tau = \sqrt{E}$: without it the
# scores would be read at a temperature $\sqrt{E}$ times too low.

# %%
# Figure: one fixed logit vector pushed through the softmax at several temperatures tau.
logits = torch.tensor([3.0, 2.0, 1.5, 0.5, 0.0, -1.0])
temperatures = [0.1, 0.5, 1.0, 2.0, 10.0]
fig, axes = plt.subplots(1, len(temperatures), figsize=(15, 3), sharey=True)
for ax, tau in zip(axes, temperatures):
    p = torch.softmax(logits / tau, dim=0)
    ax.bar(range(len(logits)), p, color="tab:blue")
    ax.axhline(1 / len(logits), color="gray", linestyle=":", label="uniform 1/n")
    ax.set_xticks(range(len(logits)), [f"{v:g}" for v in logits.tolist()])
    ax.set_xlabel("logit")
    ax.set_title(f"τ = {tau:g}")
axes[0].set_ylabel("probability")
axes[0].legend(loc="upper right", fontsize=8)
fig.suptitle("Softmax of the same logits: τ → 0 approaches the one-hot arg max, "
             "τ → ∞ the uniform distribution")
fig.tight_layout()
plt.show()


# %% [markdown]
# ### Exercise 5 — a numerically stable softmax
#
# Implement `softmax(x, dim=-1, temperature=1.0)` along any dimension, following the stable
# algorithm above. Requirements:
#
# - no overflow and no `NaN` for logits as large as $\pm 10^4$, in every dtype;
# - entries equal to $-\infty$ get probability exactly $0$, provided that their slice contains at
#   least one finite entry;
# - the function must be differentiable with autograd: the kernel smoother of Section 4.4, and
#   any model built on it, backpropagate through it;
# - the output has the same shape and dtype as the input.
#
# **Not allowed:** `torch.softmax`, `torch.nn.functional.softmax`, `Tensor.softmax`,
# `torch.special.softmax`, and their `log_softmax` versions.

# %% llmcourse={"role": "answer", "exercise": "ch04.softmax"}
def softmax(x, dim=-1, temperature=1.0):
    """Numerically stable softmax of ``x / temperature`` along ``dim``.

    Computes p_i = exp(x_i / tau) / sum_j exp(x_j / tau) over the dimension ``dim``.
    Subtract the maximum of x / T along ``dim`` before exponentiating (shift
    invariance), so that no exponent is positive and the denominator is >= 1.

    Args:
        x: floating-point tensor of logits. Entries may be -inf (masked out); every
            slice along ``dim`` contains at least one finite entry.
        dim: the dimension to normalise over.
        temperature: a positive number tau. Larger tau gives a flatter distribution.

    Returns:
        A tensor with the shape and dtype of ``x``. Its slices along ``dim`` are
        non-negative and sum to 1, and it is exactly 0 where ``x`` is -inf.

    Shape:
        x: (*), any shape.
        Output: (*), the same shape as x.
    """
    ### BEGIN SOLUTION
    z = x / temperature
    # Shift invariance (Section 4.3): with c = max, every exponent is <= 0 and the
    # denominator contains exp(0) = 1. The shift does not change the output, so its
    # derivative contributes nothing and we need not backpropagate through the max.
    z = z - z.amax(dim=dim, keepdim=True).detach()
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.softmax"}
self_check("ch04.softmax", softmax)


# %%
# Try it: the textbook formula against your stable softmax on extreme logits.
def naive_softmax(x):
    return torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)

extreme = torch.tensor([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -1e4], [3.0, float("-inf"), 1.0]])
print("naive :\n", naive_softmax(extreme))
try:
    print("stable:\n", softmax(extreme))
    print("rows sum to", softmax(extreme).sum(dim=-1))
    print("tau = 0.01:", softmax(torch.tensor([1.0, 2.0, 3.0]), temperature=0.01))
    print("tau = 100 :", softmax(torch.tensor([1.0, 2.0, 3.0]), temperature=100.0))
except NotImplementedError:
    print("Implement `softmax` above first, then re-run this cell.")


# %% [markdown]
# ### The Jacobian of the softmax
#
# Take $\tau = 1$ and write $p = \operatorname{softmax}(x)$, so $p_i = e^{x_i}/Z$ with
# $Z = \sum_k e^{x_k}$. The quickest route is through the logarithm: since
# $\log p_i = x_i - \log Z$ and $\partial \log Z / \partial x_j = e^{x_j}/Z = p_j$,
#
# $$
# \frac{\partial \log p_i}{\partial x_j} = \delta_{ij} - p_j
# \quad\Longrightarrow\quad
# \frac{\partial p_i}{\partial x_j} = p_i\,(\delta_{ij} - p_j),
# $$
#
# or, as a matrix,
#
# $$
# J = \frac{\partial p}{\partial x} = \operatorname{diag}(p) - p\,p^\top .
# $$
#
# With a temperature, the chain rule adds a factor:
# $J_\tau = \tfrac{1}{\tau}(\operatorname{diag}(p) - pp^\top)$.
# The formula tells us several things.
#
# 1. **It depends on $x$ only through $p$.** To differentiate a softmax you do not need its
#    input, only its output. This is why autograd saves the *output* of a softmax for the
#    backward pass, and why the exercise below takes `p`.
# 2. **It is symmetric**, $J = J^\top$.
# 3. **Its rows and columns sum to zero**: $J\mathbf{1} = p - p\,(p^\top \mathbf{1}) = p - p = 0$.
#    This is shift invariance in differential form: moving all logits together changes nothing.
# 4. **It is positive semi-definite.** For any $v$,
#    $v^\top J v = \sum_i p_i v_i^2 - \big(\sum_i p_i v_i\big)^2 = \operatorname{Var}_{i \sim p}[v_i] \ge 0$.
#    In fact $J$ *is* a covariance matrix: the covariance of the one-hot vector $e_I$ when the
#    index $I$ is drawn from $p$ (because $\mathbb{E}[e_I] = p$ and
#    $\mathbb{E}[e_I e_I^\top] = \operatorname{diag}(p)$). When all $p_i > 0$, its null space is
#    exactly the direction $\mathbf{1}$.
# 5. **Saturation kills the gradient.** Every entry of $J$ contains a factor $p_i$, and the
#    diagonal entries are $p_i(1 - p_i)$. If $p$ is nearly one-hot, say $p_k = 1 - \varepsilon$,
#    every entry is $O(\varepsilon)$. Its trace, $1 - \sum_i p_i^2$, is largest for the uniform
#    distribution and tends to $0$ at a one-hot vector. A saturated softmax passes almost no
#    gradient back to its logits, so whatever produced those logits (queries and keys, in
#    attention) stops learning. This is the failure that the factor $1/\sqrt{E}$ of Section 4.1
#    prevents at initialisation.
#
# In the backward pass nobody builds the $n \times n$ matrix. The vector-Jacobian product
# $g^\top J = p \odot \big(g - (g^\top p)\mathbf{1}\big)$ costs $O(n)$. Here we build $J$
# explicitly so that we can look at it.

# %% [markdown]
# ### Exercise 6 — the softmax Jacobian
#
# Implement `softmax_jacobian(p)`. It takes softmax probabilities along the last dimension and
# returns the Jacobian $\operatorname{diag}(p) - pp^\top$ for every batch entry. Useful functions:
# `torch.diag_embed`, `unsqueeze`, broadcasting.
#
# **Not allowed:** `torch.autograd.functional.jacobian`, `torch.func.jacrev`, `torch.func.jacfwd`
# and `torch.func.vmap`: write the formula itself.

# %% llmcourse={"role": "answer", "exercise": "ch04.softmax_jacobian"}
def softmax_jacobian(p):
    """Jacobian of the softmax, written in terms of its output.

    If p = softmax(x) along the last dimension, return J with
    J[..., i, j] = d p_i / d x_j = p_i * (delta_ij - p_j), that is
    J = diag(p) - p p^T, computed separately for every batch entry.

    Args:
        p: probabilities (non-negative, summing to 1 along the last dimension).

    Returns:
        The Jacobian, in the dtype of ``p``.

    Shape:
        p: (..., n).
        Output: (..., n, n).
    """
    ### BEGIN SOLUTION
    # diag_embed puts p on the diagonal of the last two dims; the outer product broadcasts.
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)  # (..., n, n)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.softmax_jacobian"}
self_check("ch04.softmax_jacobian", softmax_jacobian)

# %%
# Try it: your Jacobian against autograd, and the properties derived above.
try:
    x = torch.randn(5, dtype=torch.float64)
    p = softmax(x)
    J = softmax_jacobian(p)
    J_autograd = torch.autograd.functional.jacobian(softmax, x)
    print("max |J - J_autograd| :", (J - J_autograd).abs().max().item())
    print("symmetric            :", torch.allclose(J, J.T))
    print("row sums             :", J.sum(dim=-1).numpy().round(12))
    print("eigenvalues          :", torch.linalg.eigvalsh(J).numpy().round(4))
    for scale in [1.0, 10.0, 100.0]:
        trace = softmax_jacobian(softmax(scale * x)).diagonal().sum().item()
        print(f"logits x {scale:5.0f}: trace of J = {trace:.2e}")
except NotImplementedError:
    print("Implement `softmax` and `softmax_jacobian` above first, then re-run this cell.")

# %% [markdown]
# ## 4.4 Attention as a kernel method
#
# Attention has a much older relative in statistics. Given $S$ data points $(x_i, y_i)$,
# $i = 1, \dots, S$, with $x_i \in \mathbb{R}^E$ and $y_i \in \mathbb{R}^{E_v}$, **Nadaraya–Watson
# regression** predicts at a new point $x$ by averaging the $y_i$, weighting each by how close $x_i$
# is to $x$:
#
# $$
# \hat f(x) = \sum_{i=1}^{S} \frac{\kappa(x, x_i)}{\sum_{j=1}^{S} \kappa(x, x_j)}\, y_i,
# \qquad \kappa(x, x') = \exp\!\Big(-\frac{\lVert x - x' \rVert^2}{2h^2}\Big),
# $$
#
# with a Gaussian kernel of **bandwidth** $h$. (You get the same estimator if you estimate the joint
# density of $(x, y)$ with Gaussian bumps and compute the conditional mean
# $\mathbb{E}[y \mid x]$.)
#
# **It is softmax attention.** Call $x$ the query, the $x_i$ the $S$ keys and the $y_i$ the values
# (evaluating $\hat f$ at $L$ points gives $L$ queries). Since $\kappa = \exp(\text{score})$, the
# weights are
#
# $$
# w_i(x) = \frac{\exp(s_i)}{\sum_j \exp(s_j)} = \operatorname{softmax}(s)_i, \qquad
# s_i = -\frac{\lVert x - x_i \rVert^2}{2h^2} .
# $$
#
# So a Gaussian-kernel smoother is attention with the score "negative squared distance over
# $2h^2$". Expand the square to see how this relates to the dot product:
#
# $$
# -\lVert q - k \rVert^2 = 2\, q^\top k - \lVert q \rVert^2 - \lVert k \rVert^2 .
# $$
#
# The term $-\lVert q\rVert^2$ is the same for every key, so shift invariance removes it. What is
# left is $q^\top k / h^2 - \lVert k \rVert^2/(2h^2)$. If all keys have the same norm (for instance
# when a normalisation is applied to the keys themselves), the second term is constant too.
# Gaussian-kernel attention is then *exactly* dot-product attention with scale $1/h^2$, and the
# usual $1/\sqrt{E}$ corresponds to a bandwidth with $h^2 = \sqrt{E}$. From this point of view,
# attention is a non-parametric regression whose "training set" is the (key, value) pairs in the
# context, and the learned projections $W_Q, W_K$ choose the geometry in which "close" is measured.
#
# **The bandwidth trades bias for variance.**
#
# - $h \to \infty$: every score tends to $0$, the weights become uniform, and
#   $\hat f(x) = \frac{1}{S}\sum_i y_i$ is the global mean. This is the softmax at infinite
#   temperature: no variance from the choice of neighbours, but maximal bias, since the fit is
#   a constant.
# - $h \to 0$: the softmax temperature goes to zero, the weight concentrates on the nearest key, and
#   $\hat f(x)$ is the $y$ of the nearest $x_i$. This is **nearest-neighbour regression**: low bias,
#   but it reproduces every bit of noise.
# - In between, $\hat f(x)$ averages the points within a distance of about $h$. A good $h$ averages
#   enough points to cancel noise, but not so many that the shape of the function is smeared out.
#
# **Numerics.** For a small $h$ and a query far from every key, $\kappa(x, x_i)$ underflows to $0$ for
# *every* $i$, and the textbook formula returns $0/0$. In the log domain, as a softmax over
# scores, the nearest key always gets $\exp(0) = 1$ before normalisation, so nothing can vanish.

# %%
# Figure: the Nadaraya–Watson smoother on noisy 1-D data, with the textbook (linear-domain) formula.
torch.manual_seed(1)
n_train = 60
x_train = torch.rand(n_train, 1)  # (S, 1): the keys

def true_function(x):
    return torch.sin(2 * math.pi * x)

y_train = true_function(x_train) + 0.3 * torch.randn(n_train, 1)  # (S, 1): the values
x_grid = torch.linspace(0, 1, 300)[:, None]  # (L, 1): the queries

def textbook_smoother(x_query, x_data, y_data, h):
    kernel = torch.exp(-((x_query - x_data.T) ** 2) / (2 * h**2))  # (L, S), 1-D inputs only
    return (kernel @ y_data) / kernel.sum(dim=1, keepdim=True)  # (L, 1)

bandwidths = [0.005, 0.03, 0.1, 0.5]
fig, axes = plt.subplots(1, len(bandwidths), figsize=(16, 3.4), sharey=True)
for ax, h in zip(axes, bandwidths):
    ax.scatter(x_train, y_train, s=10, color="gray", label="data")
    ax.plot(x_grid, true_function(x_grid), "k:", label="true function")
    ax.plot(x_grid, textbook_smoother(x_grid, x_train, y_train, h), color="C3", label="smoother")
    ax.set_title(f"bandwidth h = {h}")
    ax.set_xlabel("x")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()


# %% [markdown]
# ### Exercise 7 — the kernel smoother as attention
#
# Implement `kernel_smoother(queries, keys, values, bandwidth)`, the Nadaraya–Watson estimator with a
# Gaussian kernel for inputs of any dimension $E$ and any batch shape:
#
# - compute the squared distances from the differences, by broadcasting:
#   `((queries[..., :, None, :] - keys[..., None, :, :]) ** 2).sum(-1)`. The expansion
#   $\lVert q\rVert^2 - 2q^\top k + \lVert k\rVert^2$ is cheaper (one matrix product) but loses
#   precision by cancellation when $q$ and $k$ are close to each other and far from the origin, and
#   a hidden case puts them there (`torch.cdist` switches to that expansion above 25 points);
# - work **in the log domain**: apply a softmax to the scores $-\text{dist}^2 / (2h^2)$ and average
#   the values with the resulting weights. This must stay finite for tiny bandwidths and for queries
#   far from every key. Use your `softmax` from Section 4.3 (PyTorch's stands in for it while this
#   exercise is graded, so a bug in yours costs only Exercise 5) or `torch.softmax`.
#
# Nothing is forbidden here.

# %% llmcourse={"role": "answer", "exercise": "ch04.kernel_smoother"}
def kernel_smoother(queries, keys, values, bandwidth):
    """Nadaraya-Watson regression with a Gaussian kernel, computed as attention.

    f(q) = sum_i kappa(q, k_i) v_i / sum_j kappa(q, k_j) with the Gaussian kernel
    kappa(q, k) = exp(-|q - k|^2 / (2 h^2)), evaluated stably as
    softmax(-|q - k_i|^2 / (2 h^2)) over the keys.

    Args:
        queries: points where the regression is evaluated.
        keys: the data inputs x_i.
        values: the data outputs y_i.
        bandwidth: the kernel width h > 0 (a float).

    Returns:
        The smoothed values at the queries.

    Shape:
        queries: (..., L, E).
        keys: (..., S, E).
        values: (..., S, Ev).
        Output: (..., L, Ev).
    """
    ### BEGIN SOLUTION
    sq_dist = ((queries[..., :, None, :] - keys[..., None, :, :]) ** 2).sum(-1)  # (..., L, S)
    # log kappa = -dist^2 / (2 h^2): the kernel weights are a softmax over these scores.
    weights = softmax(-sq_dist / (2 * bandwidth**2), dim=-1)  # (..., L, S)
    return weights @ values  # (..., L, Ev)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch04.kernel_smoother"}
self_check("ch04.kernel_smoother", kernel_smoother)

# %%
# Try it: the two limits of the bandwidth, stability, the link to dot-product attention,
# and the bias-variance trade-off.
try:
    tiny = 1e-4
    print("textbook formula, h = 1e-4: NaN outputs =",
          torch.isnan(textbook_smoother(x_grid, x_train, y_train, tiny)).sum().item())
    fit_tiny = kernel_smoother(x_grid, x_train, y_train, tiny)
    nearest = (x_grid - x_train.T).abs().argmin(dim=1)  # index of the nearest data point
    # A query almost exactly halfway between two data points would split its weight between
    # them; with h = 1e-4 that takes a near-tie in distance, so it (almost) never happens here.
    same_as_nearest = ((fit_tiny - y_train[nearest]).abs() < 1e-4).float().mean().item()
    print("yours,            h = 1e-4: NaN outputs =", torch.isnan(fit_tiny).sum().item(),
          f"| equals the nearest neighbour's y at {same_as_nearest:.0%} of the points")
    fit_huge = kernel_smoother(x_grid, x_train, y_train, 1e3)
    is_mean = torch.allclose(fit_huge, y_train.mean().expand_as(fit_huge), atol=1e-5)
    print("yours,            h = 1e3 : equals the global mean:", is_mean)

    # With keys of equal norm, kernel attention is dot-product attention with scale 1 / h^2.
    q = torch.randn(4, 8)
    k = F.normalize(torch.randn(10, 8), dim=-1) * 3.0
    v = torch.randn(10, 2)
    h = 1.7
    diff = kernel_smoother(q, k, v, h) - scaled_dot_product_attention(q, k, v, scale=1 / h**2)
    print("kernel smoother vs dot-product attention (equal-norm keys):", diff.abs().max().item())

    # Error against the true function, on fresh points, as the bandwidth varies.
    x_test = torch.rand(500, 1)
    hs = torch.logspace(-3, 0.5, 30)
    errors = []
    for h in hs:
        fit = kernel_smoother(x_test, x_train, y_train, h.item())
        errors.append(((fit - true_function(x_test)) ** 2).mean().item())
    plt.figure(figsize=(6, 3.4))
    plt.loglog(hs, errors, "o-")
    plt.xlabel("bandwidth h")
    plt.ylabel("mean squared error vs true f")
    plt.title("small h: variance (nearest neighbour)   large h: bias (global mean)", fontsize=9)
    plt.show()
except NotImplementedError:
    print("Implement `softmax` and `kernel_smoother` (and Exercise 1) first, then re-run this cell.")

# %% [markdown]
# ## Summary
#
# - Attention is a differentiable dictionary lookup: scores from queries and keys, a softmax that
#   turns them into a distribution, and an average of the values.
# - The $1/\sqrt{E}$ keeps the score variance at $1$ whatever the width, so that the softmax starts
#   unsaturated and gradients can flow.
# - Masks go into the scores as $-\infty$ *before* the softmax. Boolean `True` means "may attend" here,
#   and the opposite in `nn.MultiheadAttention`. `is_causal` is aligned to the top left. A query
#   with no key to attend to gets a zero output row.
# - Multi-head attention splits the width into $H$ subspaces of size $E = D/H$ with a reshape, and
#   costs $4D^2 + 4D$ parameters whatever $H$ is.
# - LayerNorm centres and rescales each token, and RMSNorm only rescales. Residual connections put an
#   identity into every layer's Jacobian, and pre-norm keeps that identity path clean.
# - The softmax depends only on differences of logits. Subtracting the maximum makes it safe to
#   compute. Its Jacobian $\operatorname{diag}(p) - pp^\top$ is a covariance matrix that vanishes as
#   the softmax saturates.
# - A Gaussian-kernel smoother is softmax attention over negative squared distances. Its bandwidth is
#   a temperature that trades bias for variance.
