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
# # Chapter 5 — Positional encodings and sequence structure
#
# Attention, as built in Chapter 4, compares every query with every key, and nothing in that
# comparison says *where* the key is. This chapter adds order to the picture; it follows
# Sections 5.1–5.5 of the book. We first show that
# attention on its own cannot tell a sentence from any shuffle of it. Then we study the main ways of
# giving it a sense of position: absolute sinusoidal encodings added to the tokens, learned
# relative biases (T5's buckets and ALiBi's linear penalty), and rotary embeddings (RoPE), which
# rotate queries and keys so that their dot product sees only the distance between them. We end
# with a Fourier view that explains what a sinusoidal encoding is made of.
#
# ## How to work through it
#
# - Each exercise has an **answer cell** holding a function with its signature and a docstring
#   that says exactly what to compute. Replace `raise NotImplementedError()` with your code.
# - Right below each answer cell is a **check cell** with one line, `self_check(...)`. Run it to
#   test your function on a few quick cases and to read what went wrong, if anything. Do not edit
#   or delete check cells: they are restored at grading time and the hidden tests run from them.
# - Cells titled **Try it** call your functions, often to draw a figure. Until you have
#   implemented the function they print a reminder instead of failing.
# - One answer is a **formula** you derive on paper (the cell titled *Derivation*): a function of
#   the named symbols that returns your formula, written with `+ - * / **` and `cos`, `sin`, `exp`,
#   `log`, `sqrt` (local names for parts of it are fine). The grader reads the formula, does not
#   run it, and compares it with the reference formula at many random points, so any correct form
#   passes.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** A helper function must live in the same answer
#   cell as the function that uses it. Your answer may call the functions of *earlier* exercises of
#   this notebook; while a later exercise is graded, a PyTorch version stands in for them, so a
#   mistake is charged to one exercise only.
# - Hidden tests compare your functions with a reference implementation on more sizes, in
#   `float32`, `float64` and `bfloat16`, with given positions far from 0,
#   through the backward pass, and check properties such as "RoPE keeps norms" and
#   "M_k is orthogonal".
# - Tolerances depend on the dtype: in `float64` a formula that is only approximately right fails;
#   in `bfloat16` you must be about as accurate as a straightforward computation in `bfloat16`.
# - Functions that build a table from sizes alone (`sinusoidal_positional_encoding`,
#   `sinusoidal_shift_matrix`, `alibi_slopes`, `alibi_bias`, `rope_cache`) take keyword arguments
#   `dtype=torch.float32` and `device=None`: return the table **in that dtype, on that device**. The
#   tests call them with `dtype=torch.float64` and `dtype=torch.bfloat16` too, and judge the values
#   as usual: computing in `dtype` is the natural way, and computing in a wider dtype and casting at
#   the end is just as good (never less accurate).
# - Where a built-in would do the exercise for you (the FFT, in the last part), the exercise says
#   so; calling it costs the exercise. Everything else in PyTorch is allowed.
#
# ## Conventions
#
# - Positions count from $0$. A sequence of length $T$ has positions $0, 1, \dots, T-1$.
# - Dimension letters, as in the whole course ([the notation page](../../docs/NOTATION.md)): `P`
#   the number of positions of a table, `D` the model width `d_model` (the width of a sinusoidal
#   table), `E` the head size (the size of the vectors RoPE rotates), `H` the number of heads,
#   `T` the sequence length, `L` and `S` the numbers of queries and keys, `...` any number of
#   leading batch dimensions. Other counts are lower case and defined where they are used.
# - Symbols: $\theta_i$ is the angular frequency of pair $i$ and $\Theta$ the base of the
#   frequencies (the argument `base`, $10\,000$ unless stated): $\theta_i = \Theta^{-2i/D}$ in a
#   sinusoidal table, $\Theta^{-2i/E}$ in RoPE. (The notation page writes $\theta_k$; in this
#   chapter $k$ already names a shift, a key vector and a Fourier bin, so pairs are counted by $i$.)
#   $W_Q, W_K$ act on the right, $q = x W_Q$.
# - Vectors are rows in code; in formulas we write $\mathrm{PE}(p)$ as a column vector when a
#   matrix acts on it from the left.

# %% llmcourse={"role": "setup"}
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

from autograder.kernel import self_check

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## 5.1 Why position matters: attention alone sees a set of tokens
#
# Write one attention layer as a function of the token matrix $X \in \mathbb{R}^{T \times D}$:
#
# $$
# A(X) = \operatorname{softmax}\!\Big(\tfrac{1}{\sqrt{E}}\, X W_Q (X W_K)^\top\Big)\, X W_V .
# $$
#
# Let $\Pi$ be a permutation matrix, so $\Pi X$ is the same tokens in another order. Then
# $\Pi X W_Q (\Pi X W_K)^\top = \Pi\, (X W_Q W_K^\top X^\top)\, \Pi^\top$: the score matrix is the
# old one with its rows *and* its columns permuted the same way. A row-wise softmax commutes with
# permuting the entries inside each row, and with reordering the rows, so
#
# $$
# A(\Pi X) = \Pi\, \operatorname{softmax}(\cdot)\, \Pi^\top \Pi X W_V = \Pi\, A(X),
# $$
#
# using $\Pi^\top \Pi = I$. Shuffling the input shuffles the output in the same way and changes
# nothing else: attention is **permutation-equivariant**. Every token of "dog bites man" gets
# exactly the same output vector as in "man bites dog". Position-wise layers (the MLP, the norms)
# are permutation-equivariant too, so a whole transformer stack without positional information
# sees a *set* of tokens, not a sequence.
#
# A causal mask breaks the symmetry, though not in one step. In **one** causal layer, the output
# of token $t$ depends on the tokens before it only as an unordered collection: shuffle them and
# that output does not move. Yet the collection grows with $t$, so the outputs already vary with
# the position (a head that attends evenly gives the first token weight $1/(t+1)$). A second
# causal layer reads those outputs, each of which summarises its own prefix, and from **two
# layers on** the order of the earlier tokens can be recovered. Decoder-only models trained with
# no positional encoding at all ("NoPE") do learn positions this way (Haviv et al., 2022;
# Kazemnejad et al., 2023). Bidirectional attention has no such way out: however many layers are
# stacked, the model stays permutation-equivariant. Explicit positions remain the norm because
# they give every layer, from the first, a direct and controllable view of order.
#
# The fix is to make the vectors, or the scores, depend on position. There are two families:
#
# - **absolute** encodings give every position $p$ a vector $\mathrm{PE}(p)$ that is added to the
#   token embedding (sinusoidal or learned tables);
# - **relative** encodings change the scores as a function of the offset between query and key:
#   a learned bias per bucket of offsets (T5), a fixed linear penalty (ALiBi), or a rotation of
#   queries and keys (RoPE).

# %%
# Permutation equivariance, numerically: one attention layer with random weights.
T, D = 6, 8
X = torch.randn(T, D, dtype=torch.float64)
W_q, W_k, W_v = (torch.randn(D, D, dtype=torch.float64) / math.sqrt(D) for _ in range(3))


def attention_layer(X):
    scores = (X @ W_q) @ (X @ W_k).T / math.sqrt(D)
    return torch.softmax(scores, dim=-1) @ (X @ W_v)


perm = torch.randperm(T)
print("permutation:", perm.tolist())
print("max |A(ΠX) − ΠA(X)|            =", (attention_layer(X[perm]) - attention_layer(X)[perm]).abs().max().item())

# Add a position-dependent vector to each row (here a random table) and the symmetry is gone.
table = torch.randn(T, D, dtype=torch.float64)
moved = attention_layer(X[perm] + table) - attention_layer(X + table)[perm]
print("with positions, max difference =", moved.abs().max().item())


# A causal mask: shuffle every token but the last. One causal layer leaves the last output where
# it was; after two layers it has moved, because the earlier outputs now depend on their prefixes.
def causal_layer(X):
    scores = (X @ W_q) @ (X @ W_k).T / math.sqrt(D)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)  # key after query: hidden
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ (X @ W_v)


prefix = torch.cat([torch.randperm(T - 1), torch.tensor([T - 1])])
one = causal_layer(X[prefix])[-1] - causal_layer(X)[-1]
two = causal_layer(causal_layer(X[prefix]))[-1] - causal_layer(causal_layer(X))[-1]
print("causal, last token's output moved by: one layer", one.abs().max().item(),
      " two layers", two.abs().max().item())

# %% [markdown]
# ## 5.2 Sinusoidal encodings: position told by many clocks
#
# The original transformer adds to the token at position $p$ the vector
#
# $$
# \mathrm{PE}(p)_{2i} = \sin(p\,\theta_i), \qquad \mathrm{PE}(p)_{2i+1} = \cos(p\,\theta_i),
# \qquad \theta_i = \Theta^{-2i/D}, \quad i = 0, \dots, \tfrac{D}{2} - 1,
# $$
#
# with base $\Theta = 10\,000$. Column pair $(2i, 2i+1)$ is a point going round the unit circle
# at angular speed $\theta_i$ radians per position, so it repeats every
# $2\pi / \theta_i = 2\pi\, \Theta^{2i/D}$ positions (its wavelength): the frequencies form a
# **geometric sequence**, from one radian per position (a wavelength of $2\pi \approx 6.3$
# positions) down to about $1/\Theta$ (a wavelength of about $63\,000$ positions). The fast pairs
# tell neighbouring positions apart, like the seconds hand of a clock; the slow pairs tell far-apart
# positions apart, like the hour hand. Together they give every position a distinct code, and the
# code of every position has the same norm, $\|\mathrm{PE}(p)\|^2 = D/2$ (each pair is a unit
# vector), so no position is louder than another.
#
# A note on layout: here a pair sits in adjacent columns (sin in even columns, cos in odd ones).
# Some code bases put all the sines in the first half and all the cosines in the second half. The
# two tables hold the same numbers with the columns permuted, and the model does not care, but a
# test, or a checkpoint, does.

# %% [markdown]
# ### Exercise 1 — the sinusoidal table
#
# Implement `sinusoidal_positional_encoding(n_positions, d_model, base=10000.0, *, dtype, device)`.
# For an odd `d_model`, the last pair keeps its sine column only. Return the table in `dtype`
# (default `float32`) on `device`. No built-in is forbidden here.

# %% llmcourse={"role": "answer", "exercise": "ch05.sinusoidal_positional_encoding"}
def sinusoidal_positional_encoding(n_positions, d_model, base=10000.0, *, dtype=torch.float32,
                                   device=None):
    """The sinusoidal position table.

    PE[p, 2i] = sin(p * theta_i) and PE[p, 2i + 1] = cos(p * theta_i), with
    theta_i = base ** (-2i / d_model), for positions p = 0 .. n_positions - 1. If d_model is odd,
    the last column is a sine.

    Args:
        n_positions: number of positions P.
        d_model: width D of the encoding.
        base: the base of the geometric sequence of frequencies.
        dtype, device: dtype and device of the result.

    Shape:
        Output: (P, D).
    """
    ### BEGIN SOLUTION
    pos = torch.arange(n_positions, dtype=dtype, device=device)  # (P,)
    two_i = torch.arange(0, d_model, 2, dtype=dtype, device=device)  # (ceil(D/2),)
    angle = pos[:, None] * base ** (-two_i / d_model)  # (P, ceil(D/2))
    # Interleave: (sin, cos) of one frequency side by side, then drop a trailing cos if D is odd.
    pe = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)  # (P, 2 * ceil(D/2))
    return pe[:, :d_model]
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.sinusoidal_positional_encoding"}
self_check("ch05.sinusoidal_positional_encoding", sinusoidal_positional_encoding)

# %%
# Try it (Figure 1): the sinusoidal matrix. Each column oscillates with its own wavelength; the
# wavelengths grow geometrically from left to right.
try:
    pe = sinusoidal_positional_encoding(100, 64)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [1.4, 1]})
    im = axes[0].imshow(pe.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, origin="lower")
    axes[0].set_xlabel("position p")
    axes[0].set_ylabel("column (2i: sin, 2i+1: cos)")
    axes[0].set_title("PE(p), 100 positions, d_model = 64")
    fig.colorbar(im, ax=axes[0])
    for c in (0, 1, 10, 30):
        axes[1].plot(pe[:, c], label=f"column {c}")
    axes[1].set_xlabel("position p")
    axes[1].set_title("a few columns")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    plt.show()
    print("norm of every row² =", pe.pow(2).sum(-1)[:5].tolist(), "... (D/2 = 32)")
except NotImplementedError:
    print("Implement `sinusoidal_positional_encoding` above first, then re-run this cell.")

# %% [markdown]
# ### Periodicity: a shift is a linear map
#
# Vaswani et al. chose sinusoids partly because *moving by $k$ positions is a linear map that does
# not depend on where you start*. For pair $i$, with $s = \sin(p\theta_i)$ and
# $c = \cos(p\theta_i)$, the angle-addition formulas give
#
# $$
# \begin{pmatrix} \sin((p+k)\theta_i) \\ \cos((p+k)\theta_i) \end{pmatrix}
# = \begin{pmatrix} \cos k\theta_i & \sin k\theta_i \\ -\sin k\theta_i & \cos k\theta_i \end{pmatrix}
# \begin{pmatrix} s \\ c \end{pmatrix}.
# $$
#
# The $2\times 2$ matrix depends on $k$ and $\theta_i$ but not on $p$. Stacking one block per
# frequency gives a block-diagonal matrix $M_k$ with
#
# $$
# \mathrm{PE}(p + k) = M_k\, \mathrm{PE}(p) \qquad \text{for every } p .
# $$
#
# Each block is a rotation (by $-k\theta_i$ in the $(\sin, \cos)$ plane), so $M_k$ is
# **orthogonal**, $M_k M_k^\top = I$, and the maps compose like the shifts they represent:
# $M_j M_k = M_{j+k}$, $M_{-k} = M_k^{-1} = M_k^\top$. A consequence: the dot product of two
# encodings, $\mathrm{PE}(p)^\top \mathrm{PE}(q) = \sum_i \cos((p - q)\theta_i)$, depends only on
# $p - q$. A linear layer can therefore, in principle, learn to attend "$k$ tokens back" with the
# same weights at every position. (In a real model the encodings are added to token
# embeddings, and the projections mix both, so this relative structure is only partly available;
# RoPE below makes it exact.)

# %% [markdown]
# ### Exercise 2 — the shift matrix $M_k$
#
# Implement `sinusoidal_shift_matrix(k, d_model, base=10000.0, *, dtype, device)`, the
# $D \times D$ matrix above for the layout of Exercise 1. `k` may be negative or fractional;
# `d_model` is even. No built-in is forbidden.

# %% llmcourse={"role": "answer", "exercise": "ch05.sinusoidal_shift_matrix"}
def sinusoidal_shift_matrix(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    """The matrix M_k with PE(p + k) = M_k @ PE(p) for every position p.

    Block diagonal with one 2x2 block per frequency theta_i = base ** (-2i / d_model), acting on
    the columns (2i, 2i + 1) = (sin, cos):
        [[ cos(k theta_i), sin(k theta_i)],
         [-sin(k theta_i), cos(k theta_i)]]

    Args:
        k: the shift, any real number.
        d_model: even width D.
        base: as in sinusoidal_positional_encoding.
        dtype, device: dtype and device of the result.

    Shape:
        Output: (D, D).
    """
    ### BEGIN SOLUTION
    theta = base ** (-torch.arange(0, d_model, 2, dtype=dtype, device=device) / d_model)  # (D/2,)
    c, s = torch.cos(k * theta), torch.sin(k * theta)
    M = torch.zeros(d_model, d_model, dtype=dtype, device=device)
    even = torch.arange(0, d_model, 2, device=device)
    M[even, even] = c  # sin row: cos(k theta) * sin + sin(k theta) * cos
    M[even, even + 1] = s
    M[even + 1, even] = -s  # cos row: -sin(k theta) * sin + cos(k theta) * cos
    M[even + 1, even + 1] = c
    return M
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.sinusoidal_shift_matrix"}
self_check("ch05.sinusoidal_shift_matrix", sinusoidal_shift_matrix)

# %%
# Try it: one matrix moves every position by k, and the dot product of encodings depends on p − q.
try:
    pe = sinusoidal_positional_encoding(40, 16, dtype=torch.float64)
    M = sinusoidal_shift_matrix(5, 16, dtype=torch.float64)
    print("max |M_5 PE(p) − PE(p+5)| over p = 0..34:", (pe[:-5] @ M.T - pe[5:]).abs().max().item())
    print("max |M_5 M_5ᵀ − I|:", (M @ M.T - torch.eye(16, dtype=torch.float64)).abs().max().item())
    gram = pe @ pe.T
    print("PE(3)·PE(10) =", gram[3, 10].item(), "  PE(20)·PE(27) =", gram[20, 27].item())
except NotImplementedError:
    print("Implement Exercises 1 and 2 first, then re-run this cell.")

# %% [markdown]
# ## 5.3 Relative position biases
#
# Absolute encodings ask the model to *derive* offsets from two absolute codes. Relative schemes
# hand the offset to the attention scores directly: the score of query $i$ and key $j$ becomes
#
# $$
# s_{ij} = \frac{q_i^\top k_j}{\sqrt{E}} + b(j - i),
# $$
#
# a learned or fixed function of the offset alone, so the model is the same at every position and
# can be run on sequences longer than those it was trained on.
#
# ### T5: learned biases over logarithmic buckets
#
# T5 learns one scalar per head for each *bucket* of offsets. Nearby offsets matter most and each
# gets a bucket of its own; far offsets share buckets whose width grows geometrically, and all
# offsets beyond `max_distance` share the last one. With $n$ the distance in one direction,
# $n_{\text{dir}}$ buckets for that direction and $n_{\text{exact}} = n_{\text{dir}}/2$ exact
# buckets (two counts, not dimensions, hence the lower case),
#
# $$
# \operatorname{bucket}(n) =
# \begin{cases}
#   n & n < n_{\text{exact}}, \\
#   \min\!\Big(n_{\text{dir}} - 1,\; n_{\text{exact}} + \Big\lfloor \dfrac{\log(n / n_{\text{exact}})}{\log(\text{max\_distance} / n_{\text{exact}})}\,(n_{\text{dir}} - n_{\text{exact}}) \Big\rfloor\Big) & n \ge n_{\text{exact}} .
# \end{cases}
# $$
#
# The fraction is $0$ at $n = n_{\text{exact}}$ and $1$ at $n = $ `max_distance`, so the
# $n_{\text{dir}} - n_{\text{exact}}$ logarithmic buckets cover
# $[n_{\text{exact}}, \text{max\_distance})$ with edges in geometric progression.
#
# The relative position is $r = j - i$ (**key minus query**: positive when the key is to the
# right). It comes as an integer tensor, or as a float tensor of whole numbers, which you convert.
# An encoder attends both ways (`bidirectional=True`): the buckets are split in two halves
# of $n_{\text{dir}} = \texttt{num\_buckets}/2$, keys on the left or at the same place ($r \le 0$)
# use the lower half with $n = |r|$, keys on the right ($r > 0$) use the upper half, offset by
# $n_{\text{dir}}$. A decoder (`bidirectional=False`) only looks left:
# $n_{\text{dir}} = \texttt{num\_buckets}$, $n = \max(-r, 0)$, and every
# key on the right counts as distance $0$ (the causal mask hides it anyway).

# %% [markdown]
# ### Exercise 3 — T5 relative position buckets
#
# Implement `t5_relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
# max_distance=128)`. It returns an `int64` tensor of bucket ids of the same shape. The original
# code takes the logarithm in `float32`; `float64` gives the same buckets on every graded input.
# (`.long()` of a non-negative float rounds down.) No built-in is forbidden.

# %% llmcourse={"role": "answer", "exercise": "ch05.t5_relative_position_bucket"}
def t5_relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                                max_distance=128):
    """T5's bucket ids for relative positions r = key_position - query_position.

    bidirectional=True: n_dir = num_buckets // 2 buckets per direction; r > 0 (key to the right)
    adds n_dir to the id; n = |r|. bidirectional=False: n_dir = num_buckets; n = max(-r, 0).
    Then with n_exact = n_dir // 2: n < n_exact -> n; otherwise
    n_exact + floor(log(n / n_exact) / log(max_distance / n_exact) * (n_dir - n_exact)), capped at
    n_dir - 1.

    Args:
        relative_position: relative positions (integers, possibly stored in a float tensor).
        bidirectional, num_buckets, max_distance: as described above.

    Shape:
        relative_position: (*), any shape.
        Output: (*), int64, values in [0, num_buckets).
    """
    ### BEGIN SOLUTION
    r = relative_position.long()
    bucket = torch.zeros_like(r)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (r > 0).long() * num_buckets  # keys to the right: upper half
        n = r.abs()
    else:
        n = torch.clamp(-r, min=0)
    max_exact = num_buckets // 2
    # clamp(min=1) keeps the log finite; those entries take the exact branch anyway.
    frac = torch.log(n.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + (frac * (num_buckets - max_exact)).long()).clamp(max=num_buckets - 1)
    return bucket + torch.where(n < max_exact, n, large)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.t5_relative_position_bucket"}
self_check("ch05.t5_relative_position_bucket", t5_relative_position_bucket)

# %%
# Try it: bucket id against the relative position, both ways and causal.
try:
    r = torch.arange(-160, 161)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.step(r, t5_relative_position_bucket(r), where="mid", label="bidirectional")
    ax.step(r, t5_relative_position_bucket(r, bidirectional=False), where="mid", label="causal")
    ax.axvline(128, color="gray", ls=":")
    ax.axvline(-128, color="gray", ls=":", label="± max_distance")
    ax.set_xlabel("relative position j − i")
    ax.set_ylabel("bucket id")
    ax.legend()
    ax.set_title("T5 buckets (32 buckets, max_distance 128): exact near 0, logarithmic further out")
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement `t5_relative_position_bucket` above first, then re-run this cell.")

# %% [markdown]
# ### ALiBi: a fixed linear penalty
#
# ALiBi (Attention with Linear Biases) learns nothing: head $h$ adds
#
# $$
# b_h(i, j) = -m_h\, |i - j|
# $$
#
# to its scores, a penalty proportional to the distance. With a causal mask ($j \le i$) this is
# $m_h (j - i)$, the form of the paper. After the softmax, a key at distance $n$ is down-weighted
# by the factor $e^{-m_h n}$, so head $h$ effectively looks back about $1/m_h$ tokens. Each head
# gets its own slope, a geometric sequence, so that some heads stay local and others see far:
#
# $$
# m_h = 2^{-8h/H}, \qquad h = 1, \dots, H \qquad (H \text{ a power of two}),
# $$
#
# i.e. $\tfrac12, \tfrac14, \dots, \tfrac1{256}$ for $8$ heads, largest first. For a head count
# that is not a power of two, the paper takes the largest power of two $p < H$, uses its $p$
# slopes, and fills the remaining $H - p$ heads with the slopes of $2p$ heads at odd
# $h = 1, 3, 5, \dots$ — those lie in between the first ones, because $2^{-8h/(2p)} = 2^{-4h/p}$.
# For $H = 6$: the four slopes $2^{-2}, 2^{-4}, 2^{-6}, 2^{-8}$ of $p = 4$, then $2^{-1}, 2^{-3}$.
# The heads take them **in that order** (the order of the authors' code): the $p$ slopes first,
# then the extra ones, each run decreasing. So the list is sorted only when $H$ is a power of two;
# for $H = 6$ head $0$ has $2^{-2}$ and the largest slope, $2^{-1}$, belongs to head $4$. A model
# trained from scratch would not mind another assignment, but a checkpoint does.
#
# Because the bias only depends on the distance and grows without bound, a model trained on short
# sequences still behaves sensibly on longer ones: far keys are simply faded out.
#
# Here query $i$ sits at position $i$ and key $j$ at position $j$, counted from $0$ (top-left
# aligned, like the causal mask of Chapter 4), also when the numbers of queries and keys differ.

# %% [markdown]
# ### Exercise 4 — ALiBi slopes
#
# Implement `alibi_slopes(n_heads, *, dtype, device)`: the slopes $m_h$ of heads $0, 1, \dots, H-1$
# in the order above, for any `n_heads` ≥ 1. With $p$ the largest power of two $\le H$: first
# $2^{-8/p}, 2^{-16/p}, \dots, 2^{-8}$, then the $H - p$ extra slopes $2^{-4/p}, 2^{-12/p},
# 2^{-20/p}, \dots$. Do not sort them: the hidden tests include head counts that are not powers of
# two. No built-in is forbidden.

# %% llmcourse={"role": "answer", "exercise": "ch05.alibi_slopes"}
def alibi_slopes(n_heads, *, dtype=torch.float32, device=None):
    """ALiBi's head slopes.

    n_heads a power of two: m_h = 2 ** (-8 h / n_heads), h = 1 .. n_heads.
    Otherwise, with p the largest power of two below n_heads: the p slopes for p heads, then the
    slopes for 2p heads at h = 1, 3, 5, ... until there are n_heads slopes, in that order (not
    sorted: for 6 heads, 2^-2, 2^-4, 2^-6, 2^-8, 2^-1, 2^-3).

    Args:
        n_heads: number of heads H >= 1.
        dtype, device: dtype and device of the result.

    Shape:
        Output: (H,).
    """
    ### BEGIN SOLUTION
    p = 2 ** int(math.floor(math.log2(n_heads)))  # largest power of two <= n_heads

    def geometric(count):  # the slopes of `count` heads (a power of two)
        h = torch.arange(1, count + 1, dtype=dtype, device=device)
        return 2.0 ** (-8.0 * h / count)

    return torch.cat([geometric(p), geometric(2 * p)[0::2][: n_heads - p]])
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.alibi_slopes"}
self_check("ch05.alibi_slopes", alibi_slopes)

# %% [markdown]
# ### Exercise 5 — the ALiBi bias
#
# Implement `alibi_bias(n_heads, q_len, k_len, *, dtype, device)`, the tensor
# `bias[h, i, j] = -m_h * |i - j|` to be added to the scores of head `h`. Use your
# `alibi_slopes`. No built-in is forbidden.

# %% llmcourse={"role": "answer", "exercise": "ch05.alibi_bias"}
def alibi_bias(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    """ALiBi's additive attention bias, bias[h, i, j] = -m_h * |i - j|.

    Query i is at position i and key j at position j (both from 0). m_h = alibi_slopes(n_heads)[h].

    Args:
        n_heads: number of heads H.
        q_len, k_len: numbers of queries L and keys S.
        dtype, device: dtype and device of the result.

    Shape:
        Output: (H, L, S).
    """
    ### BEGIN SOLUTION
    m = alibi_slopes(n_heads, dtype=dtype, device=device)  # (H,)
    i = torch.arange(q_len, dtype=dtype, device=device)[:, None]  # (L, 1)
    j = torch.arange(k_len, dtype=dtype, device=device)[None, :]  # (1, S)
    return -m[:, None, None] * (i - j).abs()  # (H, L, S)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.alibi_bias"}
self_check("ch05.alibi_bias", alibi_bias)

# %%
# Try it (Figure 2): the ALiBi bias of a few heads, and what it does to uniform scores under a
# causal mask: each head fades out the past at its own rate.
try:
    H, T = 8, 24
    bias = alibi_bias(H, T, T)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    weights = torch.softmax(bias.masked_fill(~causal, float("-inf")), dim=-1)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for ax, h in zip(axes[:3], (0, 3, 7)):
        im = ax.imshow(bias[h], cmap="viridis")
        ax.set_title(f"head {h}: slope {alibi_slopes(H)[h].item():.4g}")
        ax.set_xlabel("key j")
        ax.set_ylabel("query i")
        fig.colorbar(im, ax=ax)
    for h in (0, 3, 7):
        axes[3].plot(weights[h, -1].flip(0), label=f"head {h}")
    axes[3].set_xlabel("distance back from the last query")
    axes[3].set_title("attention weights of the last query")
    axes[3].legend()
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement `alibi_slopes` and `alibi_bias` first, then re-run this cell.")

# %% [markdown]
# ## 5.4 Rotary position embeddings (RoPE)
#
# RoPE puts position into the queries and keys themselves, by rotating them, and gets an exact
# relative scheme out of it.
#
# ### Rotations in the plane
#
# Split a query or key $x \in \mathbb{R}^{E}$ ($E$ the head size) into $E/2$ pairs
# $(x^{(1)}_i, x^{(2)}_i)$ and rotate pair $i$ of the token at position $m$ by the angle
# $m\theta_i$, with $\theta_i = \Theta^{-2i/E}$ (the frequencies of Section 5.2, with $E$ in place
# of $D$):
#
# $$
# \begin{pmatrix} x^{(1)}_i \\ x^{(2)}_i \end{pmatrix} \mapsto
# R(m\theta_i) \begin{pmatrix} x^{(1)}_i \\ x^{(2)}_i \end{pmatrix}, \qquad
# R(\alpha) = \begin{pmatrix} \cos\alpha & -\sin\alpha \\ \sin\alpha & \cos\alpha \end{pmatrix}.
# $$
#
# $R(\alpha)$ is the counter-clockwise rotation by $\alpha$, an element of the group $SO(2)$:
# $R(\alpha)^\top R(\alpha) = I$, $\det R(\alpha) = 1$, and $R(\alpha) R(\beta) = R(\alpha + \beta)$.
# The full map is a block-diagonal matrix $\mathcal{R}_m$ of such blocks. Rotations keep lengths,
# so $\|\mathcal{R}_m x\| = \|x\|$, and they compose: $\mathcal{R}_n \mathcal{R}_m = \mathcal{R}_{m+n}$.
#
# ### The same thing with complex numbers
#
# Read the pair as one complex number $z_i = x^{(1)}_i + \mathrm{i}\, x^{(2)}_i$. Multiplying by
# $e^{\mathrm{i}\alpha} = \cos\alpha + \mathrm{i}\sin\alpha$ gives
# $(x^{(1)}\cos\alpha - x^{(2)}\sin\alpha) + \mathrm{i}\,(x^{(1)}\sin\alpha + x^{(2)}\cos\alpha)$,
# which is exactly $R(\alpha)$ acting on the pair. So RoPE is $z_i \mapsto z_i\, e^{\mathrm{i} m \theta_i}$:
# one complex multiplication per pair.
#
# ### Why the scores see only $m - n$
#
# Rotate the query at position $m$ and the key at position $n$. Since the blocks are orthogonal,
#
# $$
# \langle \mathcal{R}_m q, \mathcal{R}_n k \rangle = q^\top \mathcal{R}_m^\top \mathcal{R}_n k
# = q^\top \mathcal{R}_{n - m}\, k ,
# $$
#
# because $\mathcal{R}_m^\top = \mathcal{R}_{-m}$ and $\mathcal{R}_{-m} \mathcal{R}_n = \mathcal{R}_{n-m}$.
# In complex form: $\operatorname{Re} \sum_i q_i\, e^{\mathrm{i} m\theta_i}\, \overline{k_i\, e^{\mathrm{i} n\theta_i}}
# = \operatorname{Re} \sum_i q_i \overline{k_i}\, e^{\mathrm{i}(m - n)\theta_i}$. The score depends on
# the two positions **only through $m - n$**, whatever $q$ and $k$ are. Unlike an added bias, the
# offset interacts with the content: each pair contributes $|q_i||k_i|\cos((m-n)\theta_i + \phi_i)$,
# so the model can choose, through $q$ and $k$, which frequencies and offsets matter. Values are not
# rotated; RoPE only shapes *where* a head looks.

# %% [markdown]
# ### Derivation 1 — one RoPE score, written out (symbolic answer, 0.5 points)
#
# Take the smallest case, $E = 2$: a single pair and a single frequency $\theta$. The query
# $q = (q_1, q_2)$ is at position $m$ and is rotated by $R(m\theta)$; the key $k = (k_1, k_2)$ is at
# position $n$ and is rotated by $R(n\theta)$, with $R(\alpha)$ the counter-clockwise rotation
# defined above. Write the score $\langle R(m\theta)\, q,\; R(n\theta)\, k \rangle$ as a formula
# in $q_1, q_2, k_1, k_2$ and the one angle $\delta = (n - m)\,\theta$ (key position minus query
# position, times $\theta$). By the argument above, nothing else of $m$ and $n$ may remain. Use
# `cos` and `sin`; mind the signs in $R(\alpha)$.

# %% llmcourse={"role": "answer", "exercise": "ch05.rope_score"}
def rope_score(q1, q2, k1, k2, delta):
    """<R(m theta) q, R(n theta) k> for q = (q1, q2), k = (k1, k2), delta = (n - m) theta and
    R(a) = [[cos a, -sin a], [sin a, cos a]]. A formula, read by the grader (not run)."""
    ### BEGIN SOLUTION
    aligned = q1 * k1 + q2 * k2  # q . k
    crossed = q2 * k1 - q1 * k2
    return aligned * cos(delta) + crossed * sin(delta)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.rope_score"}
self_check("ch05.rope_score", rope_score)

# %% [markdown]
# ### Long-range decay
#
# Take $q = k$ with all pairs equal to $(1, 0)$. The score is $\sum_i \cos((m-n)\theta_i)$: equal to
# $E/2$ at distance $0$, and, as the distance grows, a sum of cosines of many different
# frequencies that no longer add up in phase. Su et al. turn this into a bound for any $q$ and
# $k$. Write the score as $\operatorname{Re} \sum_{i=0}^{E/2-1} h_i\, e^{\mathrm{i}(m-n)\theta_i}$
# with $h_i = q_i \overline{k_i}$ (the pairs as complex numbers), call
# $S_j = \sum_{i=0}^{j-1} e^{\mathrm{i}(m-n)\theta_i}$ the partial sums of the **rotations** (not
# of the $\theta_i$), and sum by parts (Abel summation): with $h_{E/2} = 0$,
#
# $$
# \Big| \sum_i h_i\, e^{\mathrm{i}(m-n)\theta_i} \Big|
# = \Big| \sum_{j=1}^{E/2} (h_{j-1} - h_j)\, S_j \Big|
# \le \Big(\max_j |h_{j-1} - h_j|\Big) \sum_{j=1}^{E/2} |S_j| .
# $$
#
# The last sum depends on the distance $m - n$ alone, and it shrinks as the distance grows — as a
# trend, **not monotonically**: it oscillates, with bumps where several frequencies come back
# into phase. So RoPE has a mild built-in preference for nearby tokens, but a farther key is not
# always scored lower than a nearer one. Figure 3 below shows the ripples.
#
# ### Two layouts (and one sign convention)
#
# Which features form pair $i$ is a convention, and both are in wide use:
#
# - **`interleaved=False` — half-split (GPT-NeoX, Llama in Hugging Face):** pair $i$ is
#   $(x_i, x_{i + E/2})$, the first half against the second half. Written with "rotate half":
#   $x \cos + \operatorname{rotate\_half}(x) \sin$ with $\operatorname{rotate\_half}(x) = (-x_{\text{2nd half}}, x_{\text{1st half}})$.
# - **`interleaved=True` — adjacent pairs (RoFormer, Meta's original Llama code):** pair $i$ is
#   $(x_{2i}, x_{2i+1})$. This is the layout `torch.view_as_complex` produces.
#
# In both, pair $i$ turns by $+m\theta_i$: its first member becomes $x^{(1)}\cos - x^{(2)}\sin$
# and its second $x^{(1)}\sin + x^{(2)}\cos$. The layouts are the same rotation up to a
# permutation $\Pi$ of the features, $\operatorname{rope}_{\text{half}}(x) = \Pi^\top \operatorname{rope}_{\text{interleaved}}(\Pi x)$
# with $\Pi$ taking $(a_0, \dots, a_{E/2-1}, b_0, \dots, b_{E/2-1})$ to $(a_0, b_0, a_1, b_1, \dots)$.
# To convert a checkpoint from one layout to the other, apply the permutation to the query and key
# features of every head. With $q = x W_Q$ (the course's convention), those features are the
# **columns** of $W_Q$ and $W_K$ — which are the **rows** of `nn.Linear.weight`, since a linear
# layer stores $W^\top$ with shape (out_features, in_features). Forgetting the conversion is a
# classic silent bug: the model still runs, but its attention is scrambled.

# %% [markdown]
# ### Exercise 6 — the RoPE cache
#
# Implement `rope_cache(seq_len, head_dim, base=10000.0, *, dtype, device)`, returning the pair
# `(cos, sin)` of the angles $m\theta_i$ for $m = 0, \dots, T-1$ and $i = 0, \dots, E/2 - 1$:
# **one column per pair**, shape `(T, head_dim // 2)`, so the same cache serves both layouts.
# No built-in is forbidden.

# %% llmcourse={"role": "answer", "exercise": "ch05.rope_cache"}
def rope_cache(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    """cos and sin of the RoPE angles m * theta_i, theta_i = base ** (-2i / head_dim).

    Args:
        seq_len: number of positions T (m = 0 .. T - 1).
        head_dim: even size E of the rotated vectors.
        base: the base of the frequencies.
        dtype, device: dtype and device of the results.

    Returns:
        (cos, sin), in that order.

    Shape:
        cos, sin: (T, E // 2) each.
    """
    ### BEGIN SOLUTION
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=dtype, device=device) / head_dim)
    angle = torch.arange(seq_len, dtype=dtype, device=device)[:, None] * theta  # (T, E/2)
    return angle.cos(), angle.sin()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.rope_cache"}
self_check("ch05.rope_cache", rope_cache)

# %% [markdown]
# ### Exercise 7 — applying RoPE, in both layouts
#
# Implement `apply_rope(x, positions=None, base=10000.0, interleaved=False)` for `x` of shape
# `(..., T, E)`. With `positions=None` token $t$ is at position $t$; otherwise `positions` is an
# integer tensor broadcastable to `(..., T)` (for example `(T,)`, or `(B, T)` for a batch of
# sequences with their own offsets) and token $t$ is rotated by `positions[..., t]` $\cdot\,\theta_i$.
# Return the dtype of `x` (computing in it is the natural way; a wider dtype is fine too); the
# function must be differentiable. The hidden tests also check the identities of this section:
# norms kept, $\mathcal{R}_n \mathcal{R}_m = \mathcal{R}_{m+n}$, scores unchanged when all
# positions move by $1000$, and the two layouts agreeing after the permutation. No built-in is
# forbidden.

# %% llmcourse={"role": "answer", "exercise": "ch05.apply_rope"}
def apply_rope(x, positions=None, base=10000.0, interleaved=False):
    """Rotary position embedding: rotate feature pairs of x by the angle m * theta_i.

    theta_i = base ** (-2i / E). Pair i is (x[..., i], x[..., i + E/2]) when interleaved=False
    (GPT-NeoX/Llama) and (x[..., 2i], x[..., 2i + 1]) when interleaved=True (RoFormer). A pair
    (x1, x2) becomes (x1 cos - x2 sin, x1 sin + x2 cos): a counter-clockwise rotation.

    Args:
        x: queries or keys, E even.
        positions: None (positions 0 .. T - 1) or an integer tensor of positions.
        base: the base of the frequencies.
        interleaved: the pair layout, see above.

    Shape:
        x: (..., T, E).
        positions: broadcastable to (..., T).
        Output: (..., T, E), dtype of x.
    """
    ### BEGIN SOLUTION
    T, E = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    theta = base ** (-torch.arange(0, E, 2, dtype=x.dtype, device=x.device) / E)  # (E/2,)
    angle = positions.to(x.dtype)[..., None] * theta  # (..., T, E/2)
    cos, sin = angle.cos(), angle.sin()
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
    x1, x2 = x[..., : E // 2], x[..., E // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.apply_rope"}
self_check("ch05.apply_rope", apply_rope)

# %%
# Try it (Figure 3): RoPE scores against distance. Left: q = k = all pairs (1, 0), so the score is
# sum_i cos((m − n) θ_i); it decays with the distance. Right: the score of random q, k is the same
# function of m − n wherever the two tokens are.
try:
    E = 64
    q = torch.zeros(E, dtype=torch.float64)
    q[: E // 2] = 1.0  # the first member of every pair (half-split layout)
    dist = torch.arange(0, 1024)
    rotated = apply_rope(q.expand(len(dist), E), positions=dist)  # (T, E): q at positions 0..1023
    score = rotated @ q  # <R_m q, R_0 q> for m = distance
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
    axes[0].plot(dist, score)
    axes[0].set_xscale("symlog", linthresh=10)
    axes[0].set_xlabel("distance m − n")
    axes[0].set_ylabel("score")
    axes[0].set_title(f"⟨R_m q, R_n q⟩, q = all pairs (1, 0), E = {E}")
    g = torch.Generator().manual_seed(1)
    qr, kr = torch.randn(2, E, generator=g, dtype=torch.float64)
    for start in (0, 300, 5000):
        pos = torch.arange(start, start + 40)
        s = apply_rope(qr.expand(40, E), positions=pos)[-1] @ apply_rope(kr.expand(40, E), positions=pos).T
        axes[1].plot(torch.arange(39, -1, -1), s, label=f"query at {start + 39}", ls="-" if start == 0 else "--")
    axes[1].set_xlabel("distance m − n")
    axes[1].set_title("random q, k: the curve does not depend on where the pair sits")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    plt.show()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    perm = torch.cat([torch.arange(0, 8, 2), torch.arange(1, 8, 2)])  # interleaved -> half-split
    same = apply_rope(x[..., perm], interleaved=False)[..., torch.argsort(perm)]
    print("layouts agree after the permutation:", torch.allclose(same, apply_rope(x, interleaved=True)))
    print("and differ without it:", not torch.allclose(apply_rope(x), apply_rope(x, interleaved=True)))
except NotImplementedError:
    print("Implement `apply_rope` above first, then re-run this cell.")

# %% [markdown]
# ### Exercise 8 — RoPE with complex numbers
#
# Implement `rope_complex(x, positions=None, base=10000.0)` the complex way: view the adjacent
# pairs $(x_{2i}, x_{2i+1})$ as complex numbers, multiply by $e^{\mathrm{i} m\theta_i}$, and turn
# the result back into real features. It must equal `apply_rope(x, positions, base,
# interleaved=True)`. Useful: `torch.view_as_complex` (needs a last dimension of size 2 and a
# contiguous tensor), `torch.complex`, `torch.polar`, `torch.view_as_real`. The output is real,
# in the dtype of `x`. PyTorch has no `bfloat16` complex dtype (complex tensors are built from
# `float32` or `float64`), so for a `bfloat16` or `float16` input compute in `float32`/`complex64`
# and cast the result back. `float32` and `float64` inputs are computed in their own precision: a
# `float64` input that takes a detour through `complex64` loses digits, and the `float64` tests
# notice.

# %% llmcourse={"role": "answer", "exercise": "ch05.rope_complex"}
def rope_complex(x, positions=None, base=10000.0):
    """RoPE as complex multiplication (RoFormer layout): z_i = x[..., 2i] + 1j * x[..., 2i + 1]
    becomes z_i * exp(1j * m * theta_i), theta_i = base ** (-2i / E), and is returned as real pairs.

    Args:
        x: queries or keys, E even. bfloat16/float16 inputs are rotated in complex64.
        positions: None (positions 0 .. T - 1) or an integer tensor broadcastable to (..., T).
        base: the base of the frequencies.

    Shape:
        x: (..., T, E).
        Output: (..., T, E), real, dtype of x.
    """
    ### BEGIN SOLUTION
    T, E = x.shape[-2], x.shape[-1]
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()  # no bfloat16 complex
    if positions is None:
        positions = torch.arange(T, device=x.device)
    theta = base ** (-torch.arange(0, E, 2, dtype=work.dtype, device=x.device) / E)
    angle = positions.to(work.dtype)[..., None] * theta  # (..., T, E/2)
    z = torch.view_as_complex(work.unflatten(-1, (E // 2, 2)).contiguous())  # (..., T, E/2)
    rotated = z * torch.polar(torch.ones_like(angle), angle)  # times e^{i m theta}
    return torch.view_as_real(rotated).flatten(-2).to(x.dtype)  # (..., T, E)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.rope_complex"}
self_check("ch05.rope_complex", rope_complex)

# %% [markdown]
# ## 5.5 A Fourier view of the encodings
#
# Each column of the sinusoidal table is a pure tone along the positions: column $2i$ is
# $\sin(\theta_i p)$, a wave of **frequency** $f_i = \theta_i / 2\pi = 1/(2\pi\, \Theta^{2i/D})$
# cycles per position. The discrete Fourier transform (DFT) of a column $x_0, \dots, x_{P-1}$,
#
# $$
# X_k = \sum_{p=0}^{P-1} x_p\, e^{-2\pi \mathrm{i}\, k p / P}
#     = \sum_p x_p \cos\!\big(\tfrac{2\pi k p}{P}\big) - \mathrm{i} \sum_p x_p \sin\!\big(\tfrac{2\pi k p}{P}\big),
#     \qquad k = 0, \dots, P-1,
# $$
#
# measures how much of the frequency $k/P$ cycles per position the column contains. Three facts
# shape what we compute:
#
# - For a real signal $X_{P-k} = \overline{X_k}$, so the magnitudes of bins $0 .. \lfloor P/2 \rfloor$
#   say everything: the *one-sided* spectrum. Bin $\lfloor P/2\rfloor$ is the fastest wave the grid
#   can show (for even $P$, the Nyquist frequency $1/2$).
# - Bin $0$ is the sum of the column. The cosine columns of slow frequencies are nearly constant
#   (close to $1$), and that mean would dominate everything else; we subtract each column's mean
#   first, so bin $0$ becomes $0$ and the peak is the oscillation.
# - The frequency grid has spacing $1/P$, the **resolution**. A tone whose frequency falls between
#   two bins leaks into its neighbours, but its largest bin is within one bin of the true
#   frequency. Tones slower than $1/P$ (less than one cycle over the table) show up in bin $1$.
#
# So the *dominant frequency* of column pair $i$ estimates $1/(2\pi\,\Theta^{2i/D})$ to within
# $1/P$: the spectrum reads the geometric ladder of frequencies back out of the table. The figure
# after the exercises shows it; it also shows why only the first columns of a short table carry
# fine position information — the others oscillate too slowly to change much over $P$ positions.
#
# **Computing it.** In matrix form the one-sided DFT is $C x$ and $S x$ with
# $C_{kp} = \cos(2\pi kp/P)$ and $S_{kp} = \sin(2\pi kp/P)$ for $k = 0..\lfloor P/2\rfloor$, and
# $|X_k| = \sqrt{(Cx)_k^2 + (Sx)_k^2}$: $O(P^2)$ work, fine for tables of a few hundred positions
# (the FFT does the same in $O(P \log P)$). One numerical detail: with $k$ up to $P/2$ and $p$ up
# to $P - 1$, the angle $2\pi kp/P$ grows to about $\pi(P-1)$ radians, and a large angle is rounded
# before its cosine is taken — by up to $\pi(P-1)$ times the dtype's relative precision, which in
# `bfloat16` is a good fraction of a radian already for $P = 64$. Reducing $kp$ modulo $P$ in
# integers first (`(k * p) % P`) leaves an index below $P$ and an angle in $[0, 2\pi)$, so only
# the rounding of a number below $2\pi$ remains. (The index itself is exact in `float32`; in
# `bfloat16`, which holds whole numbers exactly only up to $256$, a longer table rounds it too, to
# about 3 significant digits — still far better than rounding hundreds of radians.) Computing the
# angles in `float64` and casting them also works.

# %% [markdown]
# ### Exercise 9 — the spectrum of an encoding
#
# Implement `encoding_spectrum(pe)`: remove the mean of each column, then return the magnitudes
# $|X_k|$ for $k = 0, \dots, \lfloor P/2 \rfloor$ of every column, no normalisation. Return the
# dtype of `pe` (real). The tests include pure tones over $128$ positions: with angles that are
# not reduced as described above, their energy leaks out of their bins, by far more than the
# rounding of a careful computation — in `bfloat16`, and in `float32` too.
#
# **Not allowed:** the FFT functions `torch.fft.*` (`fft`, `rfft`, ...) and `torch.stft`. Build
# the DFT as a matrix product.

# %% llmcourse={"role": "answer", "exercise": "ch05.encoding_spectrum"}
def encoding_spectrum(pe):
    """One-sided magnitude spectrum of each column of pe along the positions.

    X[k, d] = |sum_p (pe[p, d] - mean_p pe[:, d]) * exp(-2 pi i k p / P)| for k = 0 .. P // 2.

    Args:
        pe: an encoding table (or any signal).

    Shape:
        pe: (P, D).
        Output: (P // 2 + 1, D), real, dtype of pe.
    """
    ### BEGIN SOLUTION
    P = pe.shape[0]
    k = torch.arange(P // 2 + 1, device=pe.device)[:, None]  # (P // 2 + 1, 1): the bins
    p = torch.arange(P, device=pe.device)[None, :]  # (1, P)
    angle = (2 * math.pi / P) * ((k * p) % P).to(pe.dtype)  # (P // 2 + 1, P), index mod P
    centred = pe - pe.mean(dim=0, keepdim=True)  # (P, D)
    re, im = angle.cos() @ centred, angle.sin() @ centred  # (P // 2 + 1, D) each
    return (re * re + im * im).sqrt()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.encoding_spectrum"}
self_check("ch05.encoding_spectrum", encoding_spectrum)

# %% [markdown]
# ### Exercise 10 — dominant frequencies
#
# Implement `dominant_frequencies(pe)`: for each column, the frequency $k^\ast / P$ (cycles per
# position) of its largest bin among $k = 1, \dots, \lfloor P/2 \rfloor$ (skip bin $0$). Use your
# `encoding_spectrum`. Return the dtype of `pe`. **Not allowed:** `torch.fft.*`, `torch.stft`.

# %% llmcourse={"role": "answer", "exercise": "ch05.dominant_frequencies"}
def dominant_frequencies(pe):
    """For each column of pe, k* / P where k* >= 1 is the bin of the largest spectrum magnitude.

    Args:
        pe: an encoding table.

    Shape:
        pe: (P, D).
        Output: (D,), dtype of pe.
    """
    ### BEGIN SOLUTION
    spectrum = encoding_spectrum(pe)  # (P // 2 + 1, D)
    k = spectrum[1:].argmax(dim=0) + 1  # bin 0 skipped, so count from 1
    return k.to(pe.dtype) / pe.shape[0]
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch05.dominant_frequencies"}
self_check("ch05.dominant_frequencies", dominant_frequencies)

# %%
# Try it (Figure 4): the spectrum of a sinusoidal table, with the predicted frequencies
# θ_i / 2π = 1 / (2π base^(2i/D)) on top, and the dominant frequencies against the prediction.
try:
    P, Dm = 256, 32
    pe = sinusoidal_positional_encoding(P, Dm, dtype=torch.float64)
    spec = encoding_spectrum(pe)
    freqs = torch.arange(P // 2 + 1) / P
    predicted = torch.tensor([1 / (2 * math.pi * 10000 ** ((c - c % 2) / Dm)) for c in range(Dm)])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    im = axes[0].imshow(torch.log10(spec + 1e-3), aspect="auto", origin="lower", cmap="magma",
                        extent=(-0.5, Dm - 0.5, 0, 0.5))
    axes[0].plot(range(Dm), predicted, "c.", label="θ_i / 2π")
    axes[0].set_xlabel("column")
    axes[0].set_ylabel("frequency (cycles per position)")
    axes[0].set_title("log10 |X_k| of each column")
    axes[0].legend(loc="upper right")
    fig.colorbar(im, ax=axes[0])
    found = dominant_frequencies(pe)
    axes[1].semilogy(range(Dm), predicted, "o", label="1 / (2π base^(2i/D))")
    axes[1].semilogy(range(Dm), found, "x", label="dominant frequency")
    axes[1].axhline(1 / P, color="gray", ls=":", label="resolution 1/P")
    axes[1].set_xlabel("column")
    axes[1].set_title("reading the frequencies back from the table")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    plt.show()
    print("max |found − predicted| =", (found - predicted.double()).abs().max().item(), "≤ 1/P =", 1 / P)
except NotImplementedError:
    print("Implement Exercises 1, 9 and 10 first, then re-run this cell.")

# %% [markdown]
# ## Summary
#
# - Without positional information attention is permutation-equivariant: it sees a set. A causal
#   mask lets a stack of two or more layers recover order indirectly; explicit encodings give it
#   directly.
# - Sinusoidal encodings give each position a code made of tones with geometrically spaced
#   frequencies; a shift by $k$ is one orthogonal, block-diagonal matrix $M_k$ for all positions.
# - Relative schemes act on the scores: T5 learns a bias per logarithmic bucket of offsets, ALiBi
#   subtracts $m_h |i - j|$ with fixed geometric slopes (in the paper's order, which is sorted only
#   when $H$ is a power of two).
# - RoPE rotates pairs of query and key features by $m\theta_i$ (a complex multiplication); the
#   scores then depend only on $m - n$. Two layouts exist (half-split and interleaved); they agree
#   after a permutation of the features, and mixing them up silently breaks a model.
# - The Fourier spectrum of the sinusoidal table recovers its frequencies $\theta_i / 2\pi$ to
#   within the resolution $1/P$.
