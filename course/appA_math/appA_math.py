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
# # Appendix A — LLM math cheat sheet
#
# The book closes with the formulas a reader of LLM papers meets again and again. This appendix
# gathers them on one page, each with a pointer to the chapter and the exercise of this course where
# you built it, so the page doubles as an index of what you have implemented. It then practises the
# pieces that no chapter made an exercise of: three drills in linear algebra (projection onto a
# line, Gram–Schmidt, and the error of the best low-rank approximation), and four short derivations
# that hold the rest together: why the gradient of the cross-entropy is "prediction minus target",
# where the $6\,N D_{\text{tok}}$ of training compute comes from, why minimising cross-entropy
# minimises a KL divergence, and why maximum likelihood for a categorical distribution is counting.
#
# ## How to work through it
#
# - Each code drill has an **answer cell** with a function, its signature and a docstring that
#   says exactly what to compute. Replace `raise NotImplementedError()` with your implementation.
# - Below each answer cell a **check cell** runs `self_check(...)` on a few quick cases and says
#   what went wrong, if anything. Do not edit or delete check cells.
# - Cells titled **Try it** call your functions; until you implement them they print a reminder.
# - The derivation sections explain the mathematics and leave the last steps to you. Work them on
#   paper first: the answers are short **formulas**. Each is a function of the named symbols that
#   returns your formula, written with `+ - * / **` and `exp`, `log`, `sqrt` (local names for
#   parts of it are fine). The grader reads the formula, does not run it, and compares it with the
#   reference formula at many random points, so any correct form passes.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** Define helpers in the same answer cell.
# - Hidden tests compare your functions with a reference implementation in `float64`, `float32`
#   and `bfloat16`: batches that broadcast, the zero vector, rows that are exactly dependent,
#   nearly dependent or at very different scales, more vectors than dimensions, matrices that are
#   exactly or nearly of low rank.
# - Tolerances follow the dtype: in `bfloat16` you must be about as accurate as a straightforward
#   `bfloat16` implementation; in `float64` a formula that is only approximately right fails.
# - Nothing is forbidden in this appendix: `torch.linalg` is yours to use. The drills are about
#   the statements (which line, which basis, which error), not about avoiding a library.
#
# ## Conventions
#
# - Vectors lie along the **last** axis of a tensor; leading axes are batch axes that broadcast,
#   as in the rest of the course. A matrix of vectors holds them as **rows**.
# - $u \cdot v = \sum_i u_i v_i$ and $\|v\| = \sqrt{v \cdot v}$; $\|A\|_F$ is the Frobenius norm,
#   the square root of the sum of the squared entries.
# - Singular values are sorted $\sigma_1 \ge \sigma_2 \ge \dots \ge 0$, as `torch.linalg.svdvals`
#   returns them.
# - Logarithms are natural (nats), as everywhere in the course.
# - Letters follow the course's [notation](../../docs/NOTATION.md): $D$ the model width (and the
#   length of a vector), $V$ the vocabulary, $T$ a sequence length, $N$ parameters,
#   $D_{\text{tok}}$ training tokens, $C$ compute, $\mathcal{L}$ a loss. Any other count is
#   written in lower case and defined where it is used ($n$ vectors, $k$ a rank). In a singular
#   value decomposition $A = U \Sigma Q^\top$ the right factor is $Q$, since $V$ is taken.

# %% llmcourse={"role": "setup"}
import math

import matplotlib.pyplot as plt
import torch

from autograder.kernel import self_check
from sympy import exp, log  # the formulas of A.3–A.6 may use them (they are read, not run)

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## A.1 The formulas on one page
#
# Each line names where the course builds it: "Chapter 4, exercise `softmax`" is the exercise
# with id `ch04.softmax` in `assignments/ch04_attention`. Lines marked **here** are drills of this
# appendix.
#
# **Vectors and linear algebra**
#
# - Dot product, norm and cosine: $u \cdot v = \sum_i u_i v_i$, $\|u\| = \sqrt{u \cdot u}$,
#   $\cos(u, v) = \frac{u \cdot v}{\|u\|\,\|v\|}$ — Chapter 3, exercise `cosine_similarity_matrix`.
# - Projection onto the line of $v$: $\mathrm{proj}_v(u) = \frac{u \cdot v}{v \cdot v}\, v$, with a
#   residual $u - \mathrm{proj}_v(u) \perp v$ — **here**, exercise `project`.
# - Orthonormal basis of a span (Gram–Schmidt, the $Q$ of a QR factorisation) — **here**,
#   exercise `gram_schmidt`.
# - SVD $A = U \Sigma Q^\top$; principal components are the rows of $Q^\top$ of the centred data,
#   with variances $\sigma_j^2 / (n - 1)$ — Chapter 3, exercise `pca`.
# - Eckart–Young: the best rank-$k$ approximation keeps the $k$ largest singular values, and
#   $\min_{\mathrm{rank}\, B \le k} \|A - B\|_F = \sqrt{\sum_{i > k} \sigma_i^2}$ — Chapter 7,
#   exercise `low_rank_approximation`; **here**, exercise `low_rank_error`.
# - A product of $(m \times k)$ by $(k \times n)$ costs $2mkn$ FLOPs — Chapter 7, exercise
#   `attention_flops`.
#
# **Embeddings**
#
# - A one-hot code selects a row: $e_i^\top W = W_{i,:}$ — Chapter 3, exercise `one_hot`.
# - Nearest neighbours by cosine, analogies by 3CosAdd $\arg\max_w \cos(e_w, e_b - e_a + e_c)$ —
#   Chapter 3, exercises `nearest_neighbors` and `analogy`.
# - $\mathrm{PPMI}(u, v) = \max\big(\log \frac{c(u, v)\, c_{\text{tot}}}{c(u)\, c(v)}, 0\big)$ —
#   Chapter 3, exercise `ppmi_matrix`.
# - Skip-gram with negative sampling:
#   $\ell = -\log \sigma(u_o \cdot v_c) - \sum_{j} \log \sigma(-u_{n_j} \cdot v_c)$ — Chapter 3,
#   exercise `sgns_loss`.
# - Sinusoidal positions $\big(\sin(p\,\theta_i), \cos(p\,\theta_i)\big)$ with
#   $\theta_i = \Theta^{-2i/D}$ for the base $\Theta$; RoPE rotates pair $i$ of a query or key at
#   position $m$ by $m\theta_i$ (the head size $E$ in place of $D$), so scores depend on $m - n$
#   only — Chapter 5,
#   exercises `sinusoidal_positional_encoding` and `apply_rope`.
#
# **Attention**
#
# - $\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\big(QK^\top / \sqrt{E} + \mathcal{M}\big)\, V$,
#   with $\mathcal{M} = -\infty$ where a key is hidden — Chapter 4, exercise
#   `scaled_dot_product_attention`.
# - Multi-head: split the width $D$ into $H$ heads of $E = D/H$, attend per head, concatenate,
#   project — Chapter 4, exercise `multi_head_attention`.
# - $\mathrm{LayerNorm}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta$
#   and $\mathrm{RMSNorm}(x) = \gamma \odot \frac{x}{\sqrt{\overline{x^2} + \varepsilon}}$ — Chapter
#   4, exercises `layer_norm` and `rms_norm`. (Centring is a projection:
#   $x - \mu \mathbf{1} = x - \mathrm{proj}_{\mathbf{1}}(x)$.)
# - Cost per head $4LSE$ FLOPs, memory $O(LS)$ for the scores — Chapter 7, exercise
#   `attention_flops`; FlashAttention removes the memory term — Chapter 7, exercise
#   `flash_attention_forward`.
#
# **Softmax**
#
# - $\mathrm{softmax}_\tau(x)_i = e^{x_i/\tau} / \sum_j e^{x_j/\tau}$ at temperature $\tau$,
#   unchanged by $x \to x + c\mathbf{1}$,
#   computed with $c = -\max_j x_j$ — Chapter 4, exercise `softmax`.
# - Jacobian $\partial p / \partial x = \mathrm{diag}(p) - p p^\top$ (times $1/\tau$) — Chapter 4,
#   exercise `softmax_jacobian`.
# - $\mathrm{logsumexp}(x) = m + \log \sum_i e^{x_i - m}$ and
#   $\log \mathrm{softmax}(x) = x - \mathrm{logsumexp}(x)$ — Chapter 8, exercises `logsumexp` and
#   `log_softmax`.
#
# **Loss functions**
#
# - Next-token cross-entropy $\mathcal{L} = -\frac{1}{T}\sum_t \log p_\theta(x_t \mid x_{<t})$,
#   with label smoothing and ignored positions — Chapter 8, exercise `cross_entropy`.
# - Its gradient with respect to the logits is $p - y$ (per prediction) — Chapter 8, exercise
#   `cross_entropy_grad`; derived **here** in A.3.
# - Perplexity $\exp(\mathcal{L})$ — Chapter 1, exercise `perplexity`; bits per byte
#   $= \frac{\text{total NLL in nats}}{\ln 2 \cdot \text{bytes}}$ — Chapter 2, exercise
#   `bits_per_byte`.
#
# **Optimization and learning**
#
# - SGD with momentum $b_t = \mu b_{t-1} + (1 - d) g_t$, $\theta_t = \theta_{t-1} - \eta b_t$ —
#   Chapter 8, exercise `sgd_momentum`.
# - AdamW: $m_t, v_t$ moving averages of $g$ and $g^2$, bias-corrected, step
#   $\eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)$ after the decoupled decay
#   $\theta \leftarrow \theta(1 - \eta\lambda)$ — Chapter 8, exercise `adamw`.
# - Warmup and cosine decay $\eta_{\min} + (\eta_{\max} - \eta_{\min}) \frac{1 + \cos \pi r}{2}$;
#   clipping $g \leftarrow g \min(1, c / \|g\|)$ — Chapter 8, exercises `cosine_schedule` and
#   `clip_grad_norm`.
# - Gradient accumulation: the mean over micro-batches is the gradient of the whole batch —
#   Chapter 9, exercise `accumulate_gradients`.
# - Scaling laws $\mathcal{L}(N, D_{\text{tok}}) = \mathcal{L}_\infty + a_N N^{-\alpha}
#   + a_D D_{\text{tok}}^{-\beta}$, and the compute-optimal
#   $N_{\mathrm{opt}} \propto C^{\beta/(\alpha + \beta)}$ — Chapter 8, exercises `fit_chinchilla`
#   and `compute_optimal_allocation`.
#
# **Model computation estimate**
#
# - Parameters of a transformer: $N \approx 12\, n_{\text{layer}} D^2$ plus $V D$ for the embedding
#   — Chapter 6, exercise `count_parameters` (the exact count), Chapter 11, section 11.1.
# - Forward FLOPs per token $\approx 2N + 4\, n_{\text{layer}} T D$ (weights, then attention over
#   $T$ positions) — Chapter 7, exercise `transformer_flops_per_token`; Chapter 11, exercise
#   `inference_cost`.
# - Training compute $C \approx 6\, N D_{\text{tok}}$ for $D_{\text{tok}}$ training tokens — Chapter
#   8, exercise `compute_optimal_allocation`; derived **here** in A.4.
# - MFU $= \frac{\text{FLOPs per token} \times \text{tokens per second}}{\text{peak FLOP/s}}$ —
#   Chapter 9, exercise `estimate_mfu`. Memory: weights, gradients and Adam's two moments (16
#   bytes per parameter in mixed precision), and a KV cache of
#   $2 \cdot n_{\text{layer}} \cdot H_{kv} \cdot E \cdot T \cdot B$ numbers — Chapter 7,
#   exercises `training_memory_bytes` and `kv_cache_bytes`.
#
# **KL divergence and cross-entropy**
#
# - $H(p) = -\sum_i p_i \log p_i$, $H(p, q) = -\sum_i p_i \log q_i$,
#   $\mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i} \ge 0$ — Chapter 2, exercises
#   `entropy`, `cross_entropy_dist` and `kl_divergence`.
# - $H(p, q) = H(p) + \mathrm{KL}(p \,\|\, q)$: minimising cross-entropy over $q$ minimises the KL
#   divergence — derived **here** in A.5.
#
# **Maximum likelihood**
#
# - For a categorical distribution (one n-gram context), the maximum-likelihood estimate is the
#   normalised count $\hat\theta_w = c(w) / \sum_v c(v)$ — Chapter 1, exercise `ngram_model`;
#   derived **here** in A.6. Gradient descent on the cross-entropy of a table of logits reaches it
#   — Chapter 1, exercise `train_neural_bigram`.

# %% [markdown]
# ## A.2 Vectors and linear algebra
#
# ### Projection onto a line
#
# The line spanned by a vector $v \ne 0$ is the set of its multiples $t v$. Which of them is
# closest to a given $u$? The squared distance is a parabola in $t$,
#
# $$\|u - t v\|^2 = \|u\|^2 - 2t\, (u \cdot v) + t^2\, \|v\|^2 ,$$
#
# whose minimum is where its derivative $-2\, u \cdot v + 2t\, \|v\|^2$ vanishes:
# $t^\ast = \frac{u \cdot v}{v \cdot v}$. The closest point is the **orthogonal projection**
#
# $$\mathrm{proj}_v(u) = \frac{u \cdot v}{v \cdot v}\, v ,$$
#
# and what is left, $u - \mathrm{proj}_v(u)$, is orthogonal to $v$ (take its dot product with $v$:
# $u \cdot v - t^\ast\, v \cdot v = 0$). So $u$ splits into a part along $v$ and a part across it,
# and by Pythagoras $\|u\|^2 = \|\mathrm{proj}_v(u)\|^2 + \|u - \mathrm{proj}_v(u)\|^2$.
#
# Three remarks. The projection depends on the **line**, not on $v$: replacing $v$ by $cv$ for
# any $c \neq 0$ changes nothing, because $c$ appears twice above and twice below. Only for a unit
# vector does the formula shrink to $(u \cdot v)\, v$. As a matrix, the projection is
# $P = v v^\top / (v^\top v)$: symmetric, of rank one, and $P^2 = P$ (projecting twice is
# projecting once). And when $v = 0$ the "line" is the single point $0$, so the projection is $0$;
# the formula would give $0/0$ there, which code must avoid.
#
# You have met projections without the name: LayerNorm's centring $x - \mu\mathbf{1}$ removes the
# projection of $x$ on the all-ones direction, and the softmax Jacobian sends that same direction
# to zero.

# %%
# Figure: the projection of u on the line of v, and the distance to the points t·v of the line.
u_fig = torch.tensor([1.0, 2.2], dtype=torch.float64)
v_fig = torch.tensor([3.0, 1.0], dtype=torch.float64)
t_star = (u_fig @ v_fig) / (v_fig @ v_fig)
p_fig = t_star * v_fig
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
ax = axes[0]
line = torch.linspace(-0.3, 1.4, 2, dtype=torch.float64)
ax.plot(line * v_fig[0], line * v_fig[1], color="0.75", lw=1, label="the line {t v}")
for vec, name, color in ((u_fig, "u", "C0"), (v_fig, "v", "C1"), (p_fig, "proj_v(u)", "C2")):
    ax.annotate("", xy=vec.tolist(), xytext=(0, 0),
                arrowprops=dict(arrowstyle="->", color=color, lw=2))
    ax.text(*(vec * 1.04).tolist(), name, color=color, fontsize=11)
ax.plot([u_fig[0], p_fig[0]], [u_fig[1], p_fig[1]], "k--", lw=1, label="residual u − proj_v(u)")
corner = 0.15 * torch.stack([v_fig / v_fig.norm(), (u_fig - p_fig) / (u_fig - p_fig).norm()])
square = torch.stack([p_fig, p_fig - corner[0], p_fig - corner[0] + corner[1], p_fig + corner[1]])
ax.plot(square[1:, 0], square[1:, 1], "k-", lw=0.8)
ax.set_aspect("equal")
ax.set_xlim(-0.5, 3.5)
ax.set_ylim(-0.3, 2.6)
ax.legend(loc="upper right", fontsize=8)
ax.set_title("the residual meets the line at a right angle")
ts = torch.linspace(-0.3, 1.2, 200, dtype=torch.float64)
axes[1].plot(ts, ((u_fig[None] - ts[:, None] * v_fig[None]) ** 2).sum(-1), color="C0")
axes[1].axvline(t_star, color="C2", ls="--", label=f"t* = u·v / v·v = {t_star:.3f}")
axes[1].set_xlabel("t")
axes[1].set_ylabel("‖u − t v‖²")
axes[1].set_title("a parabola in t, smallest at t*")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 1: `project` (1 point)
#
# Return $\frac{u \cdot v}{v \cdot v} v$ for vectors along the last axis, where `u` and `v`
# broadcast against each other (one `v` for a batch of `u`, or a batch of both). Where $v = 0$
# return $0$, with no NaN. Keep the inputs' dtype.

# %% llmcourse={"role": "answer", "exercise": "appA.project"}
def project(u, v):
    """The orthogonal projection of u onto the line spanned by v.

    Args:
        u: the vectors to project, along the last axis.
        v: the vectors that span the lines, along the last axis; broadcast against u.

    Returns:
        (u·v / v·v) v in the inputs' dtype, and 0 where v = 0 (the line is then the point 0).

    Shape:
        u: (..., D), v: (..., D), broadcast against each other
        Output: the broadcast shape (..., D)
    """
    ### BEGIN SOLUTION
    uv = (u * v).sum(dim=-1, keepdim=True)  # (..., 1)
    vv = (v * v).sum(dim=-1, keepdim=True)  # (..., 1)
    safe = torch.where(vv > 0, vv, torch.ones_like(vv))  # v = 0: u·v = 0 as well, and 0 / 1 = 0
    return uv / safe * v
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appA.project"}
self_check("appA.project", project)

# %%
# Try it: projecting twice is projecting once, the residual is orthogonal, and the length of v
# does not matter.
try:
    u = torch.randn(4, 6, dtype=torch.float64)
    v = torch.randn(6, dtype=torch.float64)
    p = project(u, v)
    print("max |P(Pu) − Pu|        :", (project(p, v) - p).abs().max().item())
    print("max |(u − Pu) · v|      :", ((u - p) @ v).abs().max().item())
    print("max |P_{−7v} u − P_v u| :", (project(u, -7 * v) - p).abs().max().item())
    print("projection on v = 0     :", project(u[0], torch.zeros(6, dtype=torch.float64)).tolist())
except NotImplementedError:
    print("Implement `project` first, then re-run this cell.")

# %% [markdown]
# ### Gram–Schmidt: an orthonormal basis, one vector at a time
#
# Given $n$ vectors $a_1, \dots, a_n$ of length $D$, we want orthonormal vectors $q_1, q_2, \dots$
# that span the same space. Take the vectors in order. From $a_j$ remove its projections on every
# $q$ found so far; what is left, the **residual**
#
# $$r_j = a_j - \sum_{i < j} (q_i \cdot a_j)\, q_i ,$$
#
# is orthogonal to all of them (each term removes one direction, and the $q_i$ are orthogonal to
# each other, so removing one does not bring another back). If $r_j \ne 0$, normalise it:
# $q_j = r_j / \|r_j\|$. If $r_j = 0$, then $a_j$ was a combination of the earlier vectors: it adds
# no new direction and is **dropped**. The number of vectors kept is the rank of $a_1, \dots, a_n$;
# with more vectors than dimensions ($n > D$) at most $D$ survive.
#
# This basis is unique. Each $q_j$ is the unit vector in the span of $a_1, \dots, a_j$ that is
# orthogonal to the earlier ones **and** has a positive dot product with $a_j$ (that dot product
# is $\|r_j\| > 0$). It is the $Q$ of the QR factorisation of the matrix with columns $a_j$, with
# the signs chosen so that $R$ has a positive diagonal; `torch.linalg.qr` may flip signs, and it
# does not drop dependent vectors.
#
# **Classical or modified.** The formula above computes every coefficient $q_i \cdot a_j$ from
# the original $a_j$ (*classical* Gram–Schmidt). The *modified* variant removes one direction at a
# time and takes each next coefficient from what is left, $r \leftarrow r - (q_i \cdot r)\, q_i$.
# In exact arithmetic the two agree. In floating point the modified one keeps the $q$'s much
# closer to orthogonal when the vectors are nearly dependent; either is accepted here (the hidden
# tests use inputs on which both are accurate).
#
# **When is a residual zero?** In floating point, almost never exactly: a vector that is an exact
# combination of the earlier ones leaves a residual of rounding noise, a few $\epsilon$ times its
# length ($\epsilon$ = `torch.finfo(dtype).eps`, $2^{-7} \approx 0.008$ in `bfloat16`). So the
# test needs a tolerance, and it must be **relative**, because the noise scales with the vector:
# drop $a_j$ when
#
# $$\|r_j\| \le \mathrm{tol} \cdot \|a_j\| .$$
#
# We use $\mathrm{tol} = \sqrt{\epsilon}$ of the dtype unless told otherwise: $1.5 \cdot 10^{-8}$
# in `float64`, $3.5 \cdot 10^{-4}$ in `float32`, $0.088$ in `bfloat16`. That is far above the
# noise of a dependent vector and far below the residual of any vector that is meant to be new. A
# zero vector is always dropped ($0 \le 0$).

# %% [markdown]
# ### Exercise 2: `gram_schmidt` (1.5 points)
#
# Take the rows of `vectors` in order and return the Gram–Schmidt basis as the rows of an `(r, D)`
# tensor of the $r$ rows kept, dropping every row whose residual has norm $\le$ `tol` times its own
# norm (`tol=None`: $\sqrt{\epsilon}$ of the input's dtype). Classical or modified, as you like.
# With nothing kept, return an empty `(0, D)` tensor. A Python loop over the rows is fine.

# %% llmcourse={"role": "answer", "exercise": "appA.gram_schmidt"}
def gram_schmidt(vectors, tol=None):
    """Orthonormal rows spanning the rows of ``vectors``, by Gram–Schmidt in the input order.

    Args:
        vectors: the vectors to orthonormalise, as rows.
        tol: a row whose residual (what is left after removing the earlier directions) has norm
            ≤ tol · (the row's norm) is dropped. None: sqrt(torch.finfo(vectors.dtype).eps).

    Returns:
        The orthonormal rows in the order of the rows they come from, in the input's dtype; each
        has a positive dot product with its input row. Empty (0, D) when no row is kept.

    Shape:
        vectors: (n, D)
        Output: (r, D), r ≤ min(n, D) the number of rows kept
    """
    ### BEGIN SOLUTION
    if tol is None:
        tol = torch.finfo(vectors.dtype).eps ** 0.5
    basis = []
    for a in vectors:
        r = a
        for q in basis:
            r = r - (q * r).sum() * q  # remove r's component along q (modified Gram–Schmidt)
        norm = torch.linalg.vector_norm(r)
        if norm > tol * torch.linalg.vector_norm(a):
            basis.append(r / norm)
    if not basis:
        return vectors.new_zeros(0, vectors.shape[-1])
    return torch.stack(basis)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appA.gram_schmidt"}
self_check("appA.gram_schmidt", gram_schmidt)

# %%
# Try it: against torch.linalg.qr (up to signs), a dependent row, and the tolerance in float32.
try:
    a = torch.randn(4, 6, dtype=torch.float64)
    Q, R = torch.linalg.qr(a.T)
    qr_rows = (Q * torch.sign(torch.diagonal(R))).T  # signs fixed: R with a positive diagonal
    print("max |gram_schmidt − QR rows|:", (gram_schmidt(a) - qr_rows).abs().max().item())
    with_dependent = torch.cat([a, (a[0] - 2 * a[3])[None]]).float()
    basis = gram_schmidt(with_dependent)
    off = (basis @ basis.T - torch.eye(basis.shape[0])).abs().max().item()
    print(f"5 rows of rank 4 in float32 -> {basis.shape[0]} rows; max |Q Qᵀ − I| = {off:.1e}")
    print("the same with tol=1e-12 (below float32's rounding noise):",
          gram_schmidt(with_dependent, tol=1e-12).shape[0], "rows")
except NotImplementedError:
    print("Implement `gram_schmidt` first, then re-run this cell.")

# %% [markdown]
# ### Low rank: how much does the best rank-$k$ matrix miss?
#
# Every matrix $A \in \mathbb{R}^{n_1 \times n_2}$ is a sum of rank-one layers, its **singular value
# decomposition**
#
# $$A = \sum_{i=1}^{\min(n_1, n_2)} \sigma_i\, u_i q_i^\top, \qquad
#   \sigma_1 \ge \sigma_2 \ge \dots \ge 0,$$
#
# with orthonormal $u_i$ (the columns of $U$) and orthonormal $q_i$ (the columns of $Q$). Since the
# layers are orthogonal to each other (in the inner product
# $\langle X, Y \rangle = \sum_{ij} X_{ij} Y_{ij}$), their squared sizes add up:
# $\|A\|_F^2 = \sum_i \sigma_i^2$. The singular values say how the "energy" of $A$ is spread over
# directions.
#
# **Eckart–Young.** Among all matrices of rank at most $k$, the closest to $A$ in the Frobenius
# norm is the one that keeps the first $k$ layers, $A_k = \sum_{i \le k} \sigma_i u_i q_i^\top$,
# and its error is what was thrown away:
#
# $$\min_{\mathrm{rank}\, B \le k} \|A - B\|_F = \|A - A_k\|_F = \sqrt{\sum_{i > k} \sigma_i^2} .$$
#
# Why the largest: multiplying by orthogonal matrices changes no Frobenius norm, so comparing $A$
# with $B$ is the same as comparing the diagonal $\Sigma$ with $U^\top B Q$, and a rank-$k$ matrix
# can cancel at most $k$ of the diagonal entries — best the $k$ largest. (The full proof bounds
# the singular values of $A - B$ one by one, using that $B$ has a null space of dimension
# $n_2 - k$.)
#
# Two norms, two answers. In the **spectral** norm (the largest stretch,
# $\|X\|_2 = \sigma_{\max}(X)$) the same $A_k$ is optimal, and the error is $\sigma_{k+1}$ alone.
# In the Frobenius norm, every dropped singular value counts. The two agree only when one singular
# value is dropped.
#
# Where this matters in LLMs: LoRA trains updates of low rank, Linformer bets that the attention
# matrix is nearly of low rank (Chapter 7), and PCA (Chapter 3) is the same SVD applied to centred
# data. The spectrum says in advance how much any rank-$k$ method can keep.

# %%
# Figure: the spectrum of an attention matrix, and Eckart–Young against other rank-k matrices.
g_fig = torch.Generator().manual_seed(7)
T_fig, E_fig = 48, 8
positions = torch.arange(T_fig, dtype=torch.float64)[:, None]
features = torch.cat([torch.sin(positions / 6), torch.cos(positions / 6),
                      0.5 * torch.randn(T_fig, E_fig - 2, generator=g_fig, dtype=torch.float64)], 1)
W_q = torch.randn(E_fig, E_fig, generator=g_fig, dtype=torch.float64)
W_k = torch.randn(E_fig, E_fig, generator=g_fig, dtype=torch.float64)
attn = torch.softmax((features @ W_q) @ (features @ W_k).T / math.sqrt(E_fig), dim=-1)  # (T, T)
U_fig, S_fig, Vh_fig = torch.linalg.svd(attn)
ks = list(range(0, 25))
best = [torch.sqrt((S_fig[k:] ** 2).sum()).item() for k in ks]
rebuilt = [torch.linalg.matrix_norm(attn - (U_fig[:, :k] * S_fig[:k]) @ Vh_fig[:k]).item()
           for k in ks]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].semilogy(range(1, T_fig + 1), S_fig, "o", ms=3)
axes[0].set_xlabel("i")
axes[0].set_ylabel("σ_i")
axes[0].set_title(f"singular values of a {T_fig}×{T_fig} attention matrix")
for k in ks[1::3]:  # random rank-k competitors: the best matrix with a random k-dim row space
    for _ in range(6):
        basis_fig = torch.linalg.qr(torch.randn(T_fig, k, generator=g_fig, dtype=torch.float64)).Q
        err = torch.linalg.matrix_norm(attn - attn @ basis_fig @ basis_fig.T).item()
        axes[1].plot(k, err, ".", color="0.6")
axes[1].plot([], [], ".", color="0.6", label="random rank-k row spaces")
axes[1].plot(ks, best, "-", color="C0", label="sqrt(Σ_{i>k} σ_i²)")
axes[1].plot(ks, rebuilt, "x", color="C3", label="‖A − A_k‖_F, truncated SVD")
axes[1].plot(ks, S_fig[: len(ks)], ":", color="C2", label="σ_{k+1} (the spectral-norm error)")
axes[1].set_xlabel("rank k")
axes[1].set_ylabel("Frobenius error")
axes[1].set_title("Eckart–Young: nothing of rank k does better")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 3: `low_rank_error` (1 point)
#
# Return $\sqrt{\sum_{i > k} \sigma_i^2}$, the Frobenius error of the best rank-$k$ approximation,
# for each $n_1 \times n_2$ matrix of a batch. $k = 0$ gives $\|A\|_F$, and any
# $k \ge \min(n_1, n_2)$ gives 0. Use `torch.linalg.svdvals`, which has no 16-bit kernel: for
# `bfloat16` or `float16` input compute in `float32` and return the input's dtype.
#
# One numerical trap: $\|A\|_F^2 - \sum_{i \le k} \sigma_i^2$ is the same number in exact
# arithmetic, but when the error is small the two terms agree in almost all their digits, and
# their difference is rounding noise (or even negative). Sum the dropped values instead.

# %% llmcourse={"role": "answer", "exercise": "appA.low_rank_error"}
def low_rank_error(A, k):
    """Frobenius error of the best rank-k approximation of each matrix (Eckart–Young).

    Args:
        A: matrices in the last two axes.
        k: the rank kept, an int ≥ 0.

    Returns:
        sqrt(sum of σ_i² over i > k), σ_1 ≥ σ_2 ≥ … the singular values of each matrix, in A's
        dtype: ‖A‖_F for k = 0, and 0 for k ≥ min(n1, n2).

    Shape:
        A: (..., n1, n2)
        Output: (...)
    """
    ### BEGIN SOLUTION
    work = A if A.dtype in (torch.float32, torch.float64) else A.float()
    s = torch.linalg.svdvals(work)  # (..., min(n1, n2)), largest first
    tail = s[..., k:]  # what a rank-k matrix cannot keep
    return tail.square().sum(dim=-1).sqrt().to(A.dtype)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appA.low_rank_error"}
self_check("appA.low_rank_error", low_rank_error)

# %%
# Try it: a matrix of rank 3 plus a little noise. The error at k = 3 is the noise level; the
# subtraction ‖A‖² − Σ_{i≤k} σ_i² loses it in float32.
try:
    g = torch.Generator().manual_seed(1)
    A = torch.randn(40, 3, generator=g) @ torch.randn(3, 30, generator=g)
    A = A + 1e-4 * torch.randn(40, 30, generator=g)
    s = torch.linalg.svdvals(A)
    for k in (1, 2, 3, 4):
        by_subtraction = (A.square().sum() - s[:k].square().sum()).clamp_min(0).sqrt().item()
        print(f"k = {k}: low_rank_error {low_rank_error(A, k).item():.6f}   float64 "
              f"{low_rank_error(A.double(), k).item():.6f}   by subtraction {by_subtraction:.6f}")
except NotImplementedError:
    print("Implement `low_rank_error` first, then re-run this cell.")

# %% [markdown]
# ## A.3 The gradient of softmax cross-entropy is $p - y$
#
# A model outputs logits $z \in \mathbb{R}^V$ over $V$ classes; its prediction is
# $p = \mathrm{softmax}(z)$, and the loss for the observed class $y$ is $\ell(z) = -\log p_y$. Write
# $y$ also for the one-hot vector of the observed class ($y_c = 1$ if $c$ is the observed class,
# else 0). The claim of the cheat sheet is that
#
# $$\frac{\partial \ell}{\partial z_c} = p_c - y_c \qquad \text{for every class } c .$$
#
# **A sketch to complete.** Do not differentiate the softmax fraction directly; take the
# logarithm first. Since $\log p_y = z_y - \log \sum_k e^{z_k}$, the loss is a difference of two
# simple functions of $z$: one is linear in $z$, the other is the log-sum-exp. Differentiate each
# with respect to $z_c$ (the chain rule through the logarithm gives you a fraction you have seen
# before), and combine. Then check the consequences: the entries of the gradient sum to zero
# (moving all logits together changes nothing), each lies in $[-1, 1]$, and the gradient vanishes
# only when $p$ puts all its mass on $y$. For the mean loss over $n$ predictions, each row is
# divided by $n$ — Chapter 8, exercise `cross_entropy_grad`.

# %% [markdown]
# ### Exercise 4: `cross_entropy_grad_first` (0.5 points, a formula)
#
# Three classes, logits $z_1, z_2, z_3$, and the observed class is class 1. Write
# $\partial \ell / \partial z_1$ as a formula in $z_1, z_2, z_3$ (you may name
# $p_1$ as a local first).

# %% llmcourse={"role": "answer", "exercise": "appA.cross_entropy_grad_first"}
def cross_entropy_grad_first(z1, z2, z3):
    """d/dz1 of -log softmax(z1, z2, z3)[class 1]. A formula, read by the grader (not run)."""
    ### BEGIN SOLUTION
    p1 = exp(z1) / (exp(z1) + exp(z2) + exp(z3))
    return p1 - 1
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appA.cross_entropy_grad_first"}
self_check("appA.cross_entropy_grad_first", cross_entropy_grad_first)

# %% [markdown]
# ## A.4 Training compute: $C \approx 6\, N D_{\text{tok}}$
#
# How many floating-point operations does it take to train a model with $N$ parameters on
# $D_{\text{tok}}$ tokens? Count the matrix products, which dominate: a weight matrix of shape
# $(d_{\text{in}}, d_{\text{out}})$ holds $d_{\text{in}} d_{\text{out}}$ parameters, and applying it
# to one token's activation takes one multiply and one add per parameter.
#
# **A sketch to complete.** (1) The forward pass: every parameter takes part in one multiply-add per
# token. How many FLOPs per token is that, in terms of $N$? (2) The backward pass through a layer
# $y = xW$ computes two products of the same size as the forward one: the gradient for the input,
# $\partial \ell / \partial x = (\partial \ell / \partial y)\, W^\top$, which is passed to the layer
# below, and the gradient for the weights,
# $\partial \ell / \partial W = x^\top (\partial \ell / \partial y)$. How many FLOPs per token? (3)
# Add them and multiply by the number of tokens $D_{\text{tok}}$. What the estimate leaves out: the
# attention scores (about $4\, n_{\text{layer}} T D$ more per token in the forward pass, small
# unless the context $T$ is long compared with the width), the embedding lookup (not a product), and
# everything that is not a matrix product (softmax, normalisation, the optimizer: a few operations
# per parameter per step, not per token). Compare with Chapter 7, exercise
# `transformer_flops_per_token`, and Chapter 8, exercise `compute_optimal_allocation`, which uses
# the result to split a budget between $N$ and $D_{\text{tok}}$.

# %% [markdown]
# ### Exercise 5: `training_compute` (0.5 points, a formula)
#
# The total training FLOPs $C$ of a dense model with $N$ parameters trained on $D_{\text{tok}}$
# tokens, under the counting above (matrix products only, a multiply-add counted as 2 FLOPs). The
# function's arguments keep the papers' letters: `N` is $N$ and `D` is $D_{\text{tok}}$ (not the
# width).

# %% llmcourse={"role": "answer", "exercise": "appA.training_compute"}
def training_compute(N, D):
    """Training FLOPs of N parameters on D = D_tok training tokens. A formula, read by the grader
    (not run)."""
    ### BEGIN SOLUTION
    return 6 * N * D
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appA.training_compute"}
self_check("appA.training_compute", training_compute)

# %% [markdown]
# ## A.5 Cross-entropy is entropy plus KL divergence
#
# Let $p$ be the distribution the data comes from and $q$ a model of it, over the same outcomes.
# Three quantities from Chapter 2:
#
# $$H(p) = -\sum_i p_i \log p_i, \qquad H(p, q) = -\sum_i p_i \log q_i, \qquad
#   \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i} .$$
#
# **A sketch to complete.** Split the logarithm of the quotient inside the KL divergence into two
# logarithms, distribute $p_i$ over them, and recognise each of the two sums. You should find that
# $\mathrm{KL}(p \,\|\, q)$ is the difference between the cross-entropy and the entropy (with the
# convention $0 \log 0 = 0$, outcomes with $p_i = 0$ contribute nothing to any of the three).
#
# Then read the identity as a statement about training. The entropy $H(p)$ depends on the data
# alone, so whatever lowers the cross-entropy $H(p, q)$ — the loss a language model is trained on
# — lowers the KL divergence from the data to the model by exactly the same amount. Since
# $\mathrm{KL} \ge 0$ (Gibbs' inequality, proved in Chapter 2), the cross-entropy can never fall
# below $H(p)$: the irreducible term $\mathcal{L}_\infty$ of the scaling laws.

# %% [markdown]
# ### Exercise 6: `kl_bernoulli` (0.5 points, a formula)
#
# Two outcomes: $p = (p, 1 - p)$ and $q = (q, 1 - q)$ with $0 < p, q < 1$. Write
# $\mathrm{KL}(p \,\|\, q)$ in nats as a formula in $p$ and $q$ — for instance as the
# cross-entropy minus the entropy, each written out.

# %% llmcourse={"role": "answer", "exercise": "appA.kl_bernoulli"}
def kl_bernoulli(p, q):
    """KL(Bernoulli(p) || Bernoulli(q)) in nats. A formula, read by the grader (not run)."""
    ### BEGIN SOLUTION
    cross_entropy = -p * log(q) - (1 - p) * log(1 - q)
    entropy = -p * log(p) - (1 - p) * log(1 - p)
    return cross_entropy - entropy
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appA.kl_bernoulli"}
self_check("appA.kl_bernoulli", kl_bernoulli)

# %% [markdown]
# ## A.6 Maximum likelihood for a categorical distribution
#
# A categorical distribution over $V$ outcomes has parameters $\theta_1, \dots, \theta_V \ge 0$
# with $\sum_w \theta_w = 1$. We observe a sample in which outcome $w$ occurs $c_w$ times,
# $n = \sum_w c_w$ times in all. The draws are independent, so the likelihood is a product with
# one factor per draw, and grouping equal outcomes,
#
# $$\log P(\text{sample} \mid \theta) = \sum_w c_w \log \theta_w .$$
#
# **A sketch to complete.** Maximise this log-likelihood subject to $\sum_w \theta_w = 1$ with a
# Lagrange multiplier: set the derivative of
# $\sum_w c_w \log \theta_w - \lambda \big(\sum_w \theta_w - 1\big)$ with respect to each $\theta_w$
# to zero, solve for $\theta_w$ in terms of $\lambda$, then use the constraint to find $\lambda$.
# Check that you found a maximum: the log-likelihood is concave in $\theta$ (a sum of logarithms
# with non-negative weights), so a stationary point on the simplex is the global maximum. The answer
# is the rule every n-gram model of Chapter 1 applies to each context (exercise `ngram_model` with
# $\alpha = 0$), and the point that gradient descent reaches in Chapter 1's `train_neural_bigram`.
# Note what it says about an outcome never observed ($c_w = 0$), and why Chapter 1 needs smoothing.

# %% [markdown]
# ### Exercise 7: `categorical_mle` (0.5 points, a formula)
#
# Three outcomes observed $c_1, c_2, c_3 \ge 1$ times. Write the maximum-likelihood estimate of
# $\theta_1$ as a formula in $c_1, c_2, c_3$.

# %% llmcourse={"role": "answer", "exercise": "appA.categorical_mle"}
def categorical_mle(c1, c2, c3):
    """The maximum-likelihood theta_1 from the counts. A formula, read by the grader (not run)."""
    ### BEGIN SOLUTION
    return c1 / (c1 + c2 + c3)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "appA.categorical_mle"}
self_check("appA.categorical_mle", categorical_mle)

# %% [markdown]
# ## Summary
#
# - The projection of $u$ on the line of $v$ is $\frac{u \cdot v}{v \cdot v} v$: it depends on
#   the line only, leaves an orthogonal residual, and is 0 on the zero vector.
# - Gram–Schmidt removes from each vector its projections on the directions found before and
#   keeps what is left, normalised; a vector whose residual is below a relative tolerance is
#   dependent and dropped, so the number kept is the rank.
# - The best rank-$k$ approximation keeps the $k$ largest singular values; its Frobenius error is
#   the root of the sum of the squared dropped ones ($\sigma_{k+1}$ alone is the spectral-norm
#   error). Sum the dropped values: subtracting the kept ones from $\|A\|_F^2$ cancels.
# - The gradient of the cross-entropy with respect to the logits is prediction minus target;
#   training costs about $6\, N D_{\text{tok}}$ FLOPs; cross-entropy is entropy plus KL divergence;
#   maximum likelihood for a categorical distribution is counting.
