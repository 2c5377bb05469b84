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
# # Chapter 6 — Transformer blocks and representation power
#
# Chapter 4 built attention and the two normalisations; Chapter 5 gave positions a meaning through
# RoPE. This assignment follows Sections 6.1–6.5 of the book. It starts with the second half of
# every block, the position-wise **feed-forward network** (FFN, Section 6.1), and the activation
# functions inside it (Section 6.2); it then puts the pieces together into the unit that a language
# model repeats dozens of times, the **transformer block**, and into a small **GPT** (Section 6.3);
# and it ends with the question behind all of it, *what can such a network represent?* — first for
# one token (Section 6.4), then for attention across tokens (Section 6.5).
#
# You will implement:
#
# 1. `FeedForward`, the plain position-wise FFN;
# 2. `gelu` (exact and tanh forms) and `silu`, and the derivative of SiLU in closed form (a
#    derivation);
# 3. `SwiGLU`, the gated FFN;
# 4. `TransformerBlock`, a pre-norm causal block with RoPE attention;
# 5. `GPT` and `count_parameters`, a whole decoder-only model and its size in closed form;
# 6. `relu_network_for_piecewise_linear` and `previous_token_head`: two networks whose weights you
#    *construct* by hand, to see what a single layer can express.
#
# ## How to work through it
#
# - Each exercise has an **answer cell** with a signature and a docstring that says exactly what to
#   compute. Replace `raise NotImplementedError()` with your implementation.
# - Right below each answer cell is a **check cell** with one line, `self_check(...)`. Run it to
#   test your code on a few quick cases. Do not edit or delete check cells: they are restored at
#   grading time, and the hidden tests are run from them.
# - Cells titled **Try it** call your code on small examples. Until you have implemented it, they
#   print a reminder instead of failing.
# - Cells marked **given** hold code from earlier chapters (RoPE, attention, norms). They are part
#   of the assignment as they are: use them, do not edit them. The grader runs its own copy.
# - One answer is a **formula** you derive on paper (the cell titled *Derivation*): a function of
#   the named symbols that returns your formula, written with `+ - * / **` and `exp`, `log`,
#   `sqrt` (local names for parts of it are fine). The grader reads the formula, does not run it,
#   and compares it with the reference formula at many random points, so any correct form passes.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** A helper that your answer needs (for example an
#   attention module used by your block) must be defined in the same answer cell.
# - Modules are graded by **loading the reference weights into yours by name**
#   (`state_dict` names such as `attn.q_proj.weight`, `ffn.w1.weight`), then comparing outputs and
#   gradients in `float64`, `float32` and `bfloat16`. So the submodule names in each docstring are
#   part of the specification, and a layer you create but do not use still has to be there.
# - Later exercises are graded with PyTorch built-ins standing in for your earlier ones (for
#   instance `F.silu` for your `silu` while `SwiGLU` is graded, a built-in block while `GPT` is
#   graded), so one bug costs one exercise only.
# - Tolerances depend on the dtype: in `bfloat16` you must be about as accurate as a straightforward
#   implementation computing in `bfloat16`; in `float64` the tolerance is a few units in the last
#   place, so a formula that is only approximately right fails there.
# - Each exercise names the **built-ins you may not call**. Anything else in PyTorch is fine.
#
# ## Conventions
#
# - Dimension letters, as in the course's glossary ([docs/NOTATION.md](../../docs/NOTATION.md)):
#   `B` batch, `T` sequence length, `D` model width (`d_model`), `H` heads, `E = D / H` head size,
#   `F` hidden width of the FFN (`d_ff`), `V` vocabulary size. Any other count is written in lower
#   case and defined where it is used. In formulas, $n_{\text{layer}}$ is the number of blocks,
#   $W_E \in \mathbb{R}^{V \times D}$ the token embedding and $W_U \in \mathbb{R}^{D \times V}$ the
#   unembedding.
# - Vectors are rows; `nn.Linear` computes `x @ weight.T + bias`.
# - RoPE uses the **half-split** pairing (GPT-NeoX / Llama): feature $i$ of a head is rotated
#   together with feature $i + E/2$ by the angle $t\,\theta_i$ at position $t$ (counted from 0),
#   with frequencies $\theta_i = \Theta^{-2i/E}$ and base $\Theta$ (`rope_base`, 10 000 by
#   default).
# - Causal attention: position $t$ may attend to positions $0, \dots, t$.

# %% llmcourse={"role": "setup"}
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

from autograder.kernel import self_check

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## 6.1 Feed-forward networks in transformers
#
# ### Two kinds of mixing
#
# A transformer layer receives a sequence $X \in \mathbb{R}^{T \times D}$ (one row per token) and
# returns one of the same shape. It does so in two steps that move information in two different
# directions:
#
# - **attention mixes across tokens.** Row $t$ of its output is a weighted average of (projected)
#   rows of $X$. It can move information from one position to another, but for fixed weights it is
#   *linear in the values*: all the nonlinearity sits in how the weights are chosen.
# - **the feed-forward network mixes within a token.** The same small network is applied to every
#   row on its own,
#
# $$
# \operatorname{FFN}(x) = \phi(x W_1 + b_1)\, W_2 + b_2, \qquad
# W_1 \in \mathbb{R}^{D \times F},\; W_2 \in \mathbb{R}^{F \times D},
# $$
#
# with a nonlinearity $\phi$ applied elementwise (Section 6.2) and usually $F = 4D$. It cannot move
# anything between positions (permuting the tokens permutes its outputs), but it is a universal
# function approximator on each token's vector, as Section 6.4 shows.
#
# One useful reading of the FFN: the $F$ columns of $W_1$ are *keys* that each hidden unit matches
# against the token, $\phi$ decides how strongly each key fires, and the rows of $W_2$ are the *values*
# that get added to the token in proportion. Attention is a lookup over the *context*; the FFN is a
# lookup over a memory *stored in the weights*. Stacking blocks alternates the two, so that what a
# token retrieves from its context can decide what it retrieves from memory, and vice versa.

# %%
# The FFN is position-wise: permuting tokens permutes its outputs. Attention is not position-wise.
T, D, d_ff = 5, 8, 32
X = torch.randn(T, D)
W1, W2 = torch.randn(D, d_ff) / D**0.5, torch.randn(d_ff, D) / d_ff**0.5
ffn = lambda x: torch.relu(x @ W1) @ W2  # noqa: E731
perm = torch.randperm(T)
print("FFN(X)[perm] == FFN(X[perm]):", torch.allclose(ffn(X)[perm], ffn(X[perm]), atol=1e-6))
print("row 0 of FFN(X) depends on row 1 of X?",
      not torch.allclose(ffn(X)[0], ffn(torch.cat([X[:1], torch.randn(T - 1, D)]))[0]))

# %% [markdown]
# ### The feed-forward network as a module
#
# In code the FFN is two `nn.Linear` layers around the activation: `fc1` widens the token from $D$
# to $F$ features, `fc2` brings it back to $D$. Which $\phi$ to use is the subject of Section 6.2;
# here the module only has to dispatch on its name, using PyTorch's own activations.
#
# ### Exercise 1 — `FeedForward`
#
# Implement `FeedForward(d_model, d_ff, activation="gelu", bias=True)`:
#
# - `__init__` creates `self.fc1 = nn.Linear(d_model, d_ff, bias=bias)` and
#   `self.fc2 = nn.Linear(d_ff, d_model, bias=bias)` (these names are how the weights are loaded);
# - `forward(x)` returns `fc2(φ(fc1(x)))`, where `activation` selects φ: `"relu"` (`torch.relu`),
#   `"gelu"` (`F.gelu`, the exact form), `"gelu_tanh"` (`F.gelu(·, approximate="tanh")`) or
#   `"silu"` (`F.silu`). Section 6.2 opens these up, and you write your own there.
#
# PyTorch's activations are allowed here (and expected); nothing else is forbidden.

# %% llmcourse={"role": "answer", "exercise": "ch06.feed_forward"}
class FeedForward(nn.Module):
    """Position-wise feed-forward network fc2(φ(fc1(x))).

    Args:
        d_model: D, the width of the input and output.
        d_ff: F, the hidden width.
        activation: "relu", "gelu", "gelu_tanh" or "silu".
        bias: whether fc1 and fc2 have biases.

    Attributes:
        fc1: nn.Linear(D, F).
        fc2: nn.Linear(F, D).

    Shape:
        x: (..., D).
        Output: (..., D).
    """

    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        ### BEGIN SOLUTION
        if activation not in ("relu", "gelu", "gelu_tanh", "silu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.activation = activation
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        h = self.fc1(x)  # (..., F)
        if self.activation == "relu":
            h = torch.relu(h)
        elif self.activation == "gelu":
            h = F.gelu(h)
        elif self.activation == "gelu_tanh":
            h = F.gelu(h, approximate="tanh")
        else:
            h = F.silu(h)
        return self.fc2(h)  # (..., D)
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.feed_forward"}
self_check("ch06.feed_forward", FeedForward)

# %% [markdown]
# ## 6.2 Activation functions and nonlinearity
#
# Without $\phi$ the FFN would be the linear map $x W_1 W_2$ of rank at most $D$: the hidden width
# would buy nothing. The choice of $\phi$ matters less than its presence, but it does matter for
# optimisation.
#
# **ReLU**, $\max(0, x)$, is cheap and its gradient is exactly $0$ or $1$. A unit whose input is
# negative for every example gets no gradient at all ("dead" unit), and the kink at $0$ makes the
# network piecewise linear.
#
# **GELU** weights the input by the probability that a standard normal variable is below it:
#
# $$
# \operatorname{GELU}(x) = x\,\Phi(x) = \frac{x}{2}\left(1 + \operatorname{erf}\!\frac{x}{\sqrt 2}\right).
# $$
#
# For large positive $x$, $\Phi(x) \to 1$ and GELU is the identity; for large negative $x$ it tends
# to $0$, but smoothly, and it dips slightly below zero (minimum $\approx -0.17$ near $x \approx -0.75$),
# so negative inputs still pass a small gradient. Its derivative is
# $\Phi(x) + x\,\varphi(x)$ with $\varphi$ the normal density. Before `erf` was fast on
# accelerators, GPT-2 used the approximation
#
# $$
# \Phi(x) \approx \tfrac12\left(1 + \tanh\!\big(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)\right),
# $$
#
# a $\tanh$ of a cubic whose coefficient was fitted so that it follows the normal CDF closely. It
# is off by at most about $5 \cdot 10^{-4}$, which is invisible in a plot but large compared with
# float32 rounding: a checkpoint trained with one form should be run with the
# same form. PyTorch exposes both as `F.gelu(x, approximate="none" | "tanh")`, the calls your
# `FeedForward` made in Exercise 1.
#
# **SiLU** (also called swish) gates the input by a sigmoid instead of the normal CDF:
#
# $$
# \operatorname{SiLU}(x) = x\,\sigma(x) = \frac{x}{1 + e^{-x}}.
# $$
#
# Its derivative is the subject of Derivation 1 below.
#
# Since $\Phi(x) \approx \sigma(1.702\,x)$, GELU and SiLU are close relatives: both are smooth,
# non-monotonic near zero, and linear for large inputs.

# %%
# Activations and their derivatives (computed by autograd on the built-ins).
xs_plot = torch.linspace(-4, 4, 401, requires_grad=True)
curves = {
    "ReLU": torch.relu,
    "GELU": F.gelu,
    "GELU (tanh)": lambda t: F.gelu(t, approximate="tanh"),
    "SiLU": F.silu,
}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.4))
for label, fn in curves.items():
    y = fn(xs_plot)
    (dy,) = torch.autograd.grad(y.sum(), xs_plot)
    ax0.plot(xs_plot.detach(), y.detach(), label=label)
    ax1.plot(xs_plot.detach(), dy, label=label)
ax0.set_title("φ(x)")
ax1.set_title("φ'(x)")
for ax in (ax0, ax1):
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
gap = (F.gelu(xs_plot, approximate="tanh") - F.gelu(xs_plot)).abs().max().item()
print(f"max |GELU_tanh − GELU| on [−4, 4]: {gap:.2e}")

# %% [markdown]
# ### Exercise 2 — GELU and SiLU
#
# Implement `gelu(x, approximate="none")` with both forms above, and `silu(x)`. Return a tensor of
# the dtype of `x` (computing in that dtype is accurate enough: no `.double()` needed). Both must
# work for any shape and give correct gradients, and `gelu` must raise a `ValueError` for any other
# value of `approximate` (as `F.gelu` does): a typo such as `"tahn"` must not silently pick a form.
#
# **Not allowed:** `F.gelu`, `F.silu` (and so `nn.GELU`, `nn.SiLU`, which call them).
# `torch.erf`, `torch.tanh`, `torch.sigmoid` and `torch.exp` are fine.

# %% llmcourse={"role": "answer", "exercise": "ch06.gelu"}
def gelu(x, approximate="none"):
    """GELU(x) = x Φ(x).

    Args:
        x: input tensor.
        approximate: "none" for the exact form x/2 (1 + erf(x/√2)); "tanh" for
            x/2 (1 + tanh(√(2/π) (x + 0.044715 x³))). Anything else: ValueError.

    Shape:
        x: (...).
        Output: same shape and dtype as x.
    """
    ### BEGIN SOLUTION
    if approximate == "none":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    raise ValueError(f'approximate must be "none" or "tanh", got {approximate!r}')
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.gelu"}
self_check("ch06.gelu", gelu)

# %% llmcourse={"role": "answer", "exercise": "ch06.silu"}
def silu(x):
    """SiLU(x) = x σ(x), with σ the logistic sigmoid.

    Shape:
        x: (...).
        Output: same shape and dtype as x.
    """
    ### BEGIN SOLUTION
    return x * torch.sigmoid(x)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.silu"}
self_check("ch06.silu", silu)

# %% [markdown]
# ### Derivation 1 — the slope of SiLU (symbolic answer, 0.5 points)
#
# The backward pass through an FFN multiplies the incoming gradient by $\phi'(x)$ at every hidden
# unit, so the derivative of the activation is worth knowing in closed form. For GELU it is quoted
# above. Derive it for SiLU: differentiate $\operatorname{SiLU}(x) = x\,\sigma(x)$, with
# $\sigma(x) = 1/(1 + e^{-x})$, and write $\operatorname{SiLU}'(x)$ as a formula in $x$. You may
# express $\sigma'$ through $\sigma$ itself or leave everything in exponentials: both are graded the
# same, and `sigmoid(x)` (or `torch.sigmoid(x)`) is read as $1/(1 + e^{-x})$. The right panel of
# the figure above, drawn by autograd, shows the curve your formula must reproduce.

# %% llmcourse={"role": "answer", "exercise": "ch06.silu_derivative"}
def silu_derivative(x):
    """d/dx SiLU(x), where SiLU(x) = x * sigma(x) and sigma(x) = 1 / (1 + exp(-x)). A formula
    in x, read by the grader (not run)."""
    ### BEGIN SOLUTION
    sigma = 1 / (1 + exp(-x))
    return sigma + x * sigma * (1 - sigma)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.silu_derivative"}
self_check("ch06.silu_derivative", silu_derivative)

# %% [markdown]
# ### Gated activations: GLU and SwiGLU
#
# An activation need not act on one number at a time. A *gated linear unit* (GLU) computes two
# projections of the token and multiplies them elementwise, one of them passed through a
# nonlinearity, so that the activation of a hidden unit is a *gate* times a *value*:
#
# $$
# \operatorname{SwiGLU}(x) = \big(\operatorname{SiLU}(x W_1) \odot x W_3\big)\, W_2,
# \qquad W_1, W_3 \in \mathbb{R}^{D \times F},\; W_2 \in \mathbb{R}^{F \times D}.
# $$
#
# $W_1$ is the **gate**, $W_3$ the **up** (value) projection and $W_2$ the **down** projection (the
# names used in Llama's code; there are no biases). Why does the product help?
#
# - **Multiplicative interactions.** Each hidden unit computes $g(a^\top x)\,(b^\top x)$, a product of
#   two linear functions of the token: near $0$, where $\operatorname{SiLU}(z) \approx z/2$, it is the
#   *quadratic* form $\tfrac12 (a^\top x)(b^\top x)$. A ReLU unit is piecewise linear; products of
#   features ("this token is a verb *and* it is plural") come directly with a gate, instead of
#   having to be approximated by many linear pieces.
# - **A gate decides, a value carries.** The value $x W_3$ enters the product linearly, so no
#   derivative of the nonlinearity appears in the gradient with respect to $W_3$: it is
#   $x^\top\big(\delta \odot \operatorname{SiLU}(x W_1)\big)$, with $\delta$ the gradient
#   arriving at the product, i.e. the incoming gradient *scaled by the gate* (and zero where the
#   gate is shut). Only the gate's own weights $W_1$ see the factor $\operatorname{SiLU}'(x W_1)$.
# - **Empirically** (Shazeer, 2020), GLU variants give lower perplexity at equal compute. To keep the
#   parameter count of a $4D$-wide plain FFN ($8D^2$), gated FFNs use $F = \tfrac{2}{3} \cdot 4D$,
#   so that $3 D F = 8 D^2$.
#
# ### Exercise 3 — `SwiGLU`
#
# Implement `SwiGLU(d_model, d_ff)` with `self.w1`, `self.w3` (both `nn.Linear(d_model, d_ff,
# bias=False)`) and `self.w2` (`nn.Linear(d_ff, d_model, bias=False)`), and
# `forward(x) = w2(silu(w1(x)) * w3(x))`.
#
# **Not allowed:** `F.silu`, `nn.SiLU`: call your own `silu`.

# %% llmcourse={"role": "answer", "exercise": "ch06.swiglu"}
class SwiGLU(nn.Module):
    """Gated FFN w2(silu(w1 x) * w3 x), without biases.

    Attributes:
        w1: gate, nn.Linear(D, F, bias=False).
        w3: up, nn.Linear(D, F, bias=False).
        w2: down, nn.Linear(F, D, bias=False).

    Shape:
        x: (..., D).
        Output: (..., D).
    """

    def __init__(self, d_model, d_ff):
        super().__init__()
        ### BEGIN SOLUTION
        self.w1 = nn.Linear(d_model, d_ff, bias=False)
        self.w3 = nn.Linear(d_model, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d_model, bias=False)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.w2(silu(self.w1(x)) * self.w3(x))  # (..., F) -> (..., D)
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.swiglu"}
self_check("ch06.swiglu", SwiGLU)

# %%
# Try it: a SwiGLU unit near 0 is (almost) a product of two linear features.
try:
    torch.manual_seed(1)
    glu = SwiGLU(2, 1)
    x_small = torch.randn(1000, 2) * 1e-2
    a, b = x_small @ glu.w1.weight.T, x_small @ glu.w3.weight.T
    quad = 0.5 * a * b @ glu.w2.weight.T
    rel = ((glu(x_small) - quad).norm() / quad.norm()).item()
    print(f"relative distance to ½ (a·x)(b·x) w2 for |x| ~ 1e-2: {rel:.1e}")
except NotImplementedError:
    print("Implement `silu` and `SwiGLU` first, then re-run this cell.")

# %% [markdown]
# ## 6.3 The transformer block
#
# A block wraps each of the two sublayers in a **residual connection** with a **normalisation**
# in front (pre-norm, used since GPT-2):
#
# $$
# h = x + \operatorname{Attn}(\operatorname{Norm}_1(x)), \qquad
# y = h + \operatorname{FFN}(\operatorname{Norm}_2(h)).
# $$
#
# The rows of $x$ form the **residual stream**: every sublayer *reads* a normalised copy of it and
# *adds* its result back. Nothing ever normalises the stream itself, so the identity path from the
# first block to the last is never interrupted, and the gradient of the loss reaches early layers
# through it undamped (Chapter 4 showed the Jacobian $I + \partial f/\partial x$). The original
# Transformer was post-norm, $\operatorname{Norm}(x + f(x))$; that places a normalisation on the
# identity path of every layer and needs learning-rate warm-up to train deep stacks.
#
# Note also that the FFN reads $h$, the stream *after* attention has written to it: in one block,
# each token first gathers from its context and then processes what it gathered.
#
# **Causality.** A language model predicts token $t+1$ from tokens $0..t$, and trains on all
# positions of a sequence at once. That is only honest if output $t$ cannot see inputs after
# $t$. Attention is the only place where positions meet, so a causal mask there makes the whole
# block, and any stack of blocks, causal: changing token $t+1$ must leave outputs $0..t$
# *exactly* unchanged. The hidden tests check this property on your block and your GPT.
#
# **Positions.** Attention by itself is permutation-equivariant. With RoPE (Chapter 5), the queries
# and keys of each head are rotated by an angle proportional to their position, so the score
# $\langle R_m q, R_n k\rangle = \langle q, R_{n-m} k\rangle$ depends on the offset $n - m$.
# RoPE is applied to **q and k only**: the values carry content, not position.
#
# The cell below gives you, from earlier chapters, RoPE with the half-split layout, causal
# scaled-dot-product attention, the head split and merge of Chapter 4, and both norms (as
# functions and as modules with a learnable `weight`, and for LayerNorm a `bias`). Use them.

# %% llmcourse={"role": "given"}
# Given (from Chapters 4 and 5): do not edit. The grader runs its own copy of this cell.
def apply_rope(x, positions=None, base=10000.0):
    """Rotary position embedding, half-split pairing: feature i rotates with feature i + E/2 by
    the angle positions[t] * θ_i, where θ_i = base**(-2i/E) (base is Θ). Computes in x's dtype.

    Shape:
        x: (..., T, E), E even.
        positions: (T,), or None for 0, 1, ..., T-1.
        Output: same shape as x.
    """
    T, E = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(T, device=x.device, dtype=x.dtype)
    inv_freq = base ** (-torch.arange(0, E, 2, device=x.device, dtype=x.dtype) / E)  # (E/2,)
    angles = positions.to(x.dtype)[:, None] * inv_freq  # (T, E/2)
    cos, sin = angles.cos(), angles.sin()
    a, b = x[..., : E // 2], x[..., E // 2 :]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def softmax(x, dim=-1):
    """Numerically stable softmax along ``dim`` (an all -inf row gives zeros)."""
    m = x.detach().amax(dim=dim, keepdim=True)
    m = m.masked_fill(m == float("-inf"), 0.0)
    e = torch.exp(x - m)
    total = e.sum(dim=dim, keepdim=True)
    return e / total.masked_fill(total == 0, 1.0)


def scaled_dot_product_attention(q, k, v, is_causal=False, scale=None):
    """softmax(q kᵀ · scale) v, with the top-left causal mask when ``is_causal``.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev).
        Output: (..., L, Ev).
    """
    L, S = q.size(-2), k.size(-2)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., L, S)
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return softmax(scores, dim=-1) @ v


def split_heads(x, n_heads):
    """(B, T, D) -> (B, H, T, E) with E = D/H; head h owns feature columns h*E:(h+1)*E."""
    B, T, D = x.shape
    return x.view(B, T, n_heads, D // n_heads).transpose(1, 2)


def merge_heads(x):
    """(B, H, T, E) -> (B, T, H*E), the inverse of split_heads."""
    B, H, T, E = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, H * E)


def rms_norm(x, weight=None, eps=1e-6):
    y = x / torch.sqrt((x**2).mean(dim=-1, keepdim=True) + eps)
    return y if weight is None else y * weight


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


class RMSNorm(nn.Module):
    """RMSNorm with a learnable ``weight`` (eps = 1e-6)."""

    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class LayerNorm(nn.Module):
    """LayerNorm with a learnable ``weight`` and ``bias`` (eps = 1e-5)."""

    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps)


# %% [markdown]
# ### Exercise 4 — `TransformerBlock`
#
# Implement `TransformerBlock(d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True,
# rope_base=10000.0)` with exactly these submodules (the tests load weights by these names):
#
# - `self.norm1`, `self.norm2`: `RMSNorm(d_model)` if `norm == "rms"`, `LayerNorm(d_model)` if
#   `norm == "layer"` (the given classes);
# - `self.attn`: causal self-attention in Chapter 4's layout, a module with four
#   `nn.Linear(d_model, d_model)` layers **with biases**, `q_proj`, `k_proj`, `v_proj`, `out_proj`.
#   Its forward projects, splits the heads, applies `apply_rope(·, base=rope_base)` to the queries
#   and keys when `rope` is true, runs `scaled_dot_product_attention(q, k, v, is_causal=True)`,
#   merges the heads and applies `out_proj`. Write its class in the same answer cell;
# - `self.ffn`: `SwiGLU(d_model, d_ff)` if `ffn == "swiglu"`, otherwise
#   `FeedForward(d_model, d_ff, activation=ffn)` (with biases).
#
# `forward(x)` computes $h = x + \operatorname{attn}(\operatorname{norm1}(x))$, then returns
# $h + \operatorname{ffn}(\operatorname{norm2}(h))$.
#
# **Not allowed:** `nn.MultiheadAttention`, `nn.TransformerEncoderLayer` and
# `nn.TransformerDecoderLayer` (their fused kernels), and `F.multi_head_attention_forward`.

# %% llmcourse={"role": "answer", "exercise": "ch06.transformer_block"}
class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention with RoPE on queries and keys.

    Attributes:
        q_proj, k_proj, v_proj, out_proj: nn.Linear(D, D), with biases.

    Shape:
        x: (B, T, D).
        Output: (B, T, D).
    """

    def __init__(self, d_model, n_heads, rope=True, rope_base=10000.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.n_heads, self.rope, self.rope_base = n_heads, rope, rope_base
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        q = split_heads(self.q_proj(x), self.n_heads)  # (B, H, T, E)
        k = split_heads(self.k_proj(x), self.n_heads)  # (B, H, T, E)
        v = split_heads(self.v_proj(x), self.n_heads)  # (B, H, T, E)
        if self.rope:
            q = apply_rope(q, base=self.rope_base)
            k = apply_rope(k, base=self.rope_base)
        y = scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, E)
        return self.out_proj(merge_heads(y))  # (B, T, D)
        ### END SOLUTION


class TransformerBlock(nn.Module):
    """Pre-norm causal transformer block.

    Args:
        d_model: D; n_heads: H (D divisible by H, E = D/H even when rope); d_ff: F.
        norm: "rms" or "layer".
        ffn: "swiglu", or an activation name of FeedForward ("relu", "gelu", "gelu_tanh", "silu").
        rope, rope_base: RoPE on queries and keys, and its base Θ.

    Attributes:
        norm1, attn, norm2, ffn (see the exercise text).

    Shape:
        x: (B, T, D).
        Output: (B, T, D); output t depends on inputs 0..t only.
    """

    def __init__(self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True,
                 rope_base=10000.0):
        super().__init__()
        ### BEGIN SOLUTION
        make_norm = {"rms": RMSNorm, "layer": LayerNorm}[norm]
        self.norm1 = make_norm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, rope=rope, rope_base=rope_base)
        self.norm2 = make_norm(d_model)
        if ffn == "swiglu":
            self.ffn = SwiGLU(d_model, d_ff)
        else:
            self.ffn = FeedForward(d_model, d_ff, activation=ffn)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        h = x + self.attn(self.norm1(x))  # (B, T, D): tokens exchange information
        return h + self.ffn(self.norm2(h))  # (B, T, D): each token on its own
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.transformer_block"}
self_check("ch06.transformer_block", TransformerBlock)

# %%
# Try it: the block is causal. Editing token 4 leaves outputs 0..3 unchanged, bit for bit.
try:
    torch.manual_seed(2)
    block = TransformerBlock(16, 4, 32)
    x = torch.randn(1, 7, 16)
    x_edit = x.clone()
    x_edit[0, 4] += 1.0
    y, y_edit = block(x), block(x_edit)
    print("max change at positions 0..3:", (y[0, :4] - y_edit[0, :4]).abs().max().item())
    print("max change at positions 4..6:", (y[0, 4:] - y_edit[0, 4:]).abs().max().item())
except NotImplementedError:
    print("Implement `TransformerBlock` (and the FFN exercises) first, then re-run this cell.")

# %% [markdown]
# ### A GPT, and where its parameters are
#
# A decoder-only language model maps token ids to next-token logits:
#
# 1. **embed**: $x_t = W_E[\text{idx}_t]$, a row of the embedding matrix
#    $W_E \in \mathbb{R}^{V \times D}$;
# 2. apply $n_{\text{layer}}$ blocks to the residual stream;
# 3. a final norm (pre-norm blocks leave the stream unnormalised, and its scale grows with depth);
# 4. **unembed**: logits $= \operatorname{norm}_f(x)\, W_U$ with $W_U \in \mathbb{R}^{D \times V}$
#    (`lm_head.weight`, of shape `(V, D)`, stores $W_U^\top$).
#
# **Weight tying** sets $W_U = W_E^\top$: the logit of token $v$ is the dot product of the final
# state with $v$'s own embedding, so "predict $v$" and "read $v$" share one vector. It saves $VD$
# parameters (for GPT-2 small, $50257 \cdot 768 \approx 38.6$M of its 124M) and acts as a
# regulariser. In PyTorch, tying means sharing the **same `Parameter` object**
# (`self.lm_head.weight = self.tok_emb.weight`); copying values would let the two drift apart.
# `named_parameters()` then lists the shared tensor once, under the name of the module registered
# first, here `tok_emb.weight`.
#
# This GPT has no learned position table: positions enter only through RoPE in every block. So
# `context_length` only bounds the input length; it costs no parameters.
#
# #### Counting parameters
#
# Per block (pre-norm, RMSNorm, attention with biases, SwiGLU):
#
# $$
# \underbrace{2D}_{\text{norm1, norm2}} + \underbrace{4(D^2 + D)}_{\text{q, k, v, out}} +
# \underbrace{3DF}_{\text{w1, w3, w2}},
# $$
#
# and for the model $VD + n_{\text{layer}} \cdot (\text{block}) + D + [\text{not tied}]\,VD$. The
# number of heads does not appear: the heads *split* $D$, they do not multiply it. For large models
# the $D^2$ and $D F$ terms dominate, which is why "$12\, n_{\text{layer}} D^2$" (with $F = 4D$ and
# a plain FFN) is the usual rule of thumb.
#
# ### Exercise 5 — `GPT`
#
# Implement `GPT(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
# tie_embeddings=True)` with, **registered in this order**:
# `self.tok_emb = nn.Embedding(vocab_size, d_model)`,
# `self.blocks = nn.ModuleList` of `n_layers` default `TransformerBlock(d_model, n_heads, d_ff)`,
# `self.norm_f = RMSNorm(d_model)` and `self.lm_head = nn.Linear(d_model, vocab_size, bias=False)`,
# tied to the embedding when `tie_embeddings` is true. `forward(idx)` maps token ids of shape
# `(B, T)` to logits `(B, T, V)`; it must raise a `ValueError` if `T > context_length` (a model
# without a position table would otherwise run silently on contexts it was never trained for).
#
# **Not allowed:** the same fused attention modules as in Exercise 4.
#
# ### Exercise 6 — `count_parameters`
#
# Implement `count_parameters(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
# tie_embeddings=True)`: the number of distinct parameters of the `GPT` with the same arguments, as
# a Python `int`, **in closed form**. (The hidden tests include Llama-7B sizes: building the model to
# count it is not an option.)

# %% llmcourse={"role": "answer", "exercise": "ch06.gpt"}
class GPT(nn.Module):
    """Decoder-only language model: embedding, blocks, final RMSNorm, linear head.

    Attributes:
        tok_emb: nn.Embedding(V, D).
        blocks: nn.ModuleList of n_layers TransformerBlock(D, H, F).
        norm_f: RMSNorm(D).
        lm_head: nn.Linear(D, V, bias=False); its weight *is* tok_emb.weight when tied.

    Shape:
        idx: (B, T) integer token ids, T <= context_length.
        Output: (B, T, V) logits.
    """

    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                 tie_embeddings=True):
        super().__init__()
        ### BEGIN SOLUTION
        self.context_length = context_length
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(
            [TransformerBlock(d_model, n_heads, d_ff) for _ in range(n_layers)])
        self.norm_f = RMSNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight  # one Parameter, two uses
        ### END SOLUTION

    def forward(self, idx):
        ### BEGIN SOLUTION
        if idx.shape[1] > self.context_length:
            raise ValueError(f"sequence length {idx.shape[1]} > context_length {self.context_length}")
        x = self.tok_emb(idx)  # (B, T, D)
        for block in self.blocks:
            x = block(x)  # (B, T, D)
        return self.lm_head(self.norm_f(x))  # (B, T, V)
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.gpt"}
self_check("ch06.gpt", GPT)

# %% llmcourse={"role": "answer", "exercise": "ch06.count_parameters"}
def count_parameters(vocab_size, context_length, d_model, n_layers, n_heads, d_ff,
                     tie_embeddings=True):
    """Number of distinct parameters of GPT(...) with the same arguments (a Python int)."""
    ### BEGIN SOLUTION
    D, F_, V = d_model, d_ff, vocab_size
    per_block = 2 * D + 4 * (D * D + D) + 3 * D * F_
    head = 0 if tie_embeddings else V * D
    return V * D + n_layers * per_block + D + head
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.count_parameters"}
self_check("ch06.count_parameters", count_parameters)

# %%
# Try it: the closed form against the module, and where the parameters of a GPT-2-small-sized
# model go (computed from the formula, per group).
try:
    cfg = (50, 8, 16, 2, 4, 24)
    model = GPT(*cfg)
    print("module:", sum(p.numel() for p in model.parameters()), " formula:", count_parameters(*cfg))
    V, D, n_layer, F_ = 50257, 768, 12, 2048
    groups = {"embedding (tied)": V * D, "attention": n_layer * 4 * (D * D + D),
              "SwiGLU": n_layer * 3 * D * F_, "norms": (2 * n_layer + 1) * D}
    total = count_parameters(V, 1024, D, n_layer, 12, F_)
    assert total == sum(groups.values())
    plt.figure(figsize=(6, 2.6))
    plt.barh(list(groups), [n / 1e6 for n in groups.values()])
    plt.xlabel("millions of parameters")
    plt.title(f"V={V}, D={D}, n_layer={n_layer}, F={F_}: {total / 1e6:.1f}M in total", fontsize=9)
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement `GPT` and `count_parameters` first, then re-run this cell.")

# %% [markdown]
# ## 6.4 What can a network represent?
#
# **Universal approximation.** A network with one hidden layer of ReLU units can approximate any
# continuous function on a bounded interval as closely as we like (Cybenko 1989 and Hornik 1991
# proved it for sigmoid units; for ReLU there is a one-line proof by construction). In one dimension:
# a piecewise-linear function with $n$ knots $x_0 < x_1 < \dots < x_{n-1}$ and slopes
# $s_k = \frac{y_{k+1} - y_k}{x_{k+1} - x_k}$ on $[x_k, x_{k+1}]$ is exactly
#
# $$
# f(x) = y_0 + s_0 \operatorname{relu}(x - x_0) + \sum_{k=1}^{n-2} (s_k - s_{k-1})\,
# \operatorname{relu}(x - x_k), \qquad x \in [x_0, x_{n-1}].
# $$
#
# Each unit is zero to the left of its knot and a ramp to the right of it, so unit $k$ *changes the
# slope* by $s_k - s_{k-1}$ from $x_k$ on. That is a one-hidden-layer network with $n - 1$ units:
# $W_1 = \mathbf 1$, $b_1 = -x_k$, $W_2 = $ the slope changes, $b_2 = y_0$. Any continuous
# function on an interval is uniformly close to its piecewise-linear interpolant on a fine grid
# (for a smooth $g$ with $n$ equally spaced knots the error is at most $\frac{h^2}{8}\max|g''|$
# with $h$ the spacing), so the width needed for error $\varepsilon$ grows like
# $\varepsilon^{-1/2}$. In $d$ input dimensions a grid argument needs roughly
# $\varepsilon^{-d/2}$ units: the theorem promises existence, not efficiency.
#
# **Width versus depth.** Depth can be exponentially more efficient. The tent map
# $\tau(x) = 2\operatorname{relu}(x) - 4\operatorname{relu}(x - \tfrac12)$ on $[0, 1]$ needs two ReLU
# units. Composing it $\ell$ times, a network of depth $\ell$ and width $2$, gives a sawtooth with
# $2^{\ell}$ linear pieces; a one-hidden-layer ReLU network has at most (units + 1) pieces, so it
# needs about $2^{\ell}$ units to do the same (Telgarsky, 2016). Transformers exploit the same
# effect: each block composes with the previous ones.

# %%
# Figure: interpolating g(x) = sin(3x) with n knots, sup error vs number of hidden units (log-log),
# and the sawtooth made by composing the two-unit tent map.
def interp(x, xk, yk):
    k = (torch.searchsorted(xk, x, right=True) - 1).clamp(0, len(xk) - 2)
    w = (x - xk[k]) / (xk[k + 1] - xk[k])
    return yk[k] + w * (yk[k + 1] - yk[k])


g = lambda t: torch.sin(3 * t)  # noqa: E731
x_fine = torch.linspace(0, 3, 4001, dtype=torch.float64)
units, errors = [], []
for n_knots in [3, 5, 9, 17, 33, 65, 129]:
    xk = torch.linspace(0, 3, n_knots, dtype=torch.float64)
    units.append(n_knots - 1)
    errors.append((interp(x_fine, xk, g(xk)) - g(x_fine)).abs().max().item())

tent = lambda t: 2 * torch.relu(t) - 4 * torch.relu(t - 0.5)  # noqa: E731
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.4))
ax0.loglog(units, errors, "o-", label="max error")
ax0.loglog(units, [9 / 8 * (3 / u) ** 2 for u in units], "--", label="h²/8 · max|g''|")
ax0.set_xlabel("hidden units (n − 1)")
ax0.set_title("one hidden layer: error ∝ width⁻²", fontsize=9)
ax0.legend(fontsize=8)
x01 = torch.linspace(0, 1, 2001)
y_saw = x01
for depth in range(1, 5):
    y_saw = tent(y_saw)
    ax1.plot(x01, y_saw + 1.2 * (depth - 1), label=f"depth {depth}: {2 ** depth} pieces")
ax1.set_title("composing a 2-unit layer: pieces double with depth", fontsize=9)
ax1.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 7 — a ReLU network for a piecewise-linear function
#
# Implement `relu_network_for_piecewise_linear(xs, ys)`: given $n \ge 2$ knots `xs` (strictly
# increasing) and values `ys`, return `(W1, b1, W2, b2)` with shapes `(u, 1)`, `(u,)`, `(1, u)`,
# `(1,)`, the layouts of `nn.Linear(1, u)` and `nn.Linear(u, 1)` for any number $u$ of hidden units,
# such that `f(x) = relu(x W1ᵀ + b1) W2ᵀ + b2` equals the interpolant **exactly** on
# `[xs[0], xs[-1]]` (in exact arithmetic). Return the four tensors in exactly these shapes, in the
# dtype and on the device of `xs`: the tests check both, as loading them into the two layers would.
# They evaluate your network at the knots and on a grid between them, so any correct construction
# passes.
#
# **Not allowed:** fitting (`torch.linalg.lstsq`, `solve`, `pinv`): construct the weights.

# %% llmcourse={"role": "answer", "exercise": "ch06.relu_network"}
def relu_network_for_piecewise_linear(xs, ys):
    """Weights of f(x) = W2 relu(W1 x + b1) + b2 reproducing the piecewise-linear interpolant.

    Shape:
        xs, ys: (n,), xs strictly increasing, n >= 2.
        Output: W1 (u, 1), b1 (u,), W2 (1, u), b2 (1,), in xs's dtype and on its device, for
        u hidden units (your choice).
    """
    ### BEGIN SOLUTION
    slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])  # (n-1,)
    jumps = torch.cat([slopes[:1], slopes[1:] - slopes[:-1]])  # change of slope at each knot
    W1 = torch.ones(len(jumps), 1, dtype=xs.dtype, device=xs.device)
    return W1, -xs[:-1].clone(), jumps[None, :], ys[:1].clone()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.relu_network"}
self_check("ch06.relu_network", relu_network_for_piecewise_linear)

# %%
# Try it: the network through five points, on and beyond the interval (outside it, the network
# simply continues its first and last pieces).
try:
    xk = torch.tensor([0.0, 1.0, 1.5, 3.0, 4.0])
    yk = torch.tensor([0.0, 2.0, 1.0, 1.5, -1.0])
    W1_, b1_, W2_, b2_ = relu_network_for_piecewise_linear(xk, yk)
    x_line = torch.linspace(-0.5, 4.5, 400)
    f_line = (torch.relu(x_line[:, None] @ W1_.T + b1_) @ W2_.T + b2_)[:, 0]
    plt.figure(figsize=(5, 3))
    plt.plot(x_line, f_line, label=f"ReLU network, {W1_.shape[0]} units")
    plt.plot(xk, yk, "o", label="points")
    plt.legend(fontsize=8)
    plt.show()
except NotImplementedError:
    print("Implement `relu_network_for_piecewise_linear` first, then re-run this cell.")

# %% [markdown]
# ## 6.5 Attention by construction: a previous-token head
#
# Universal approximation is about one token. What can attention do across tokens? A useful way to
# find out is to *write the weights by hand*. The simplest circuit found in trained models is the
# **previous-token head**: position $t$ copies (part of) token $t-1$. Two of them, in consecutive
# layers, make an *induction head*, which lets a model continue a repeated pattern
# ("... A B ... A → B"), and the appearance of induction heads coincides with a jump in in-context
# learning during training (Olsson et al., 2022).
#
# Take inputs with a one-hot position and a content part,
# $x_t = [\,e_t \;|\; c_t\,] \in \mathbb{R}^{T + d_c}$ ($d_c$ content features), and one causal
# head whose queries and keys have $E$ features
#
# $$
# Y = \operatorname{softmax}\!\Big(\operatorname{causal}\big(\tfrac{1}{\sqrt{E}}\,
# (X W_Q)(X W_K)^\top\big)\Big)\, X W_V .
# $$
#
# - Let the keys **read the position**: $k_s = e_s$ (so $W_K$ is the identity on the position block).
# - Let the query of position $t$ **ask for position $t-1$**: $q_t = \gamma\, e_{t-1}$, i.e.
#   $W_Q[t, t-1] = \gamma$. Then the score of key $s$ is $\gamma/\sqrt{E}$ if $s = t - 1$ and $0$
#   otherwise.
# - The softmax puts weight $\big(1 + t\, e^{-\gamma/\sqrt{E}}\big)^{-1}$ on key $t - 1$: with a
#   score gap of $50$ the rest is $e^{-50} \approx 2\cdot 10^{-22}$, below float64 rounding. This is
#   the general lesson: attention is a *soft* lookup that becomes hard as the scores grow.
# - Let the values **keep the content and drop the position**:
#   $W_V = \operatorname{diag}(0_T, I_{d_c})$.
#
# Position $0$ has no previous token; its query is $0$, and as it may only attend to itself, it
# returns its own content.
#
# ### Exercise 8 — `previous_token_head`
#
# Implement `previous_token_head(seq_len, d_model)` returning `(W_q, W_k, W_v)` for the head above
# with $T = $ `seq_len` and $d_c = $ `d_model − seq_len`: `W_q` and `W_k` of shape `(d_model, E)`
# (your choice of the key width $E$), `W_v` of shape `(d_model, d_model)`, all three `float32`
# (PyTorch's default; the tests check it, then convert them to the dtype of each test). The output
# row $t$ must be $[\,0 \;|\; c_{t-1}\,]$ for $t \ge 1$ and $[\,0 \;|\; c_0\,]$ for $t = 0$,
# **to float64 precision**: make the score gap (after the $1/\sqrt{E}$) at least about $50$.

# %% llmcourse={"role": "answer", "exercise": "ch06.previous_token_head"}
def previous_token_head(seq_len, d_model):
    """(W_q, W_k, W_v) of a causal head that copies the previous token's content.

    Shape:
        Output: W_q (d_model, E), W_k (d_model, E), W_v (d_model, d_model), float32.
    """
    ### BEGIN SOLUTION
    T = seq_len
    gain = 100.0 * math.sqrt(d_model)  # score gap 100 after dividing by sqrt(E), E = d_model
    W_q = torch.zeros(d_model, d_model)
    W_q[1:T, : T - 1] = gain * torch.eye(T - 1)  # position t -> asks for position t - 1
    W_k = torch.zeros(d_model, d_model)
    W_k[:T, :T] = torch.eye(T)  # key = own position
    W_v = torch.zeros(d_model, d_model)
    W_v[T:, T:] = torch.eye(d_model - T)  # value = own content, position dropped
    return W_q, W_k, W_v
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch06.previous_token_head"}
self_check("ch06.previous_token_head", previous_token_head)

# %%
# Try it: the attention pattern of your head on a sequence of 6 tokens with 3 content features.
try:
    T_, d_c = 6, 3
    Wq, Wk, Wv = previous_token_head(T_, T_ + d_c)
    content = torch.randn(T_, d_c)
    X_ = torch.cat([torch.eye(T_), content], dim=-1)
    scores = (X_ @ Wq) @ (X_ @ Wk).T / math.sqrt(Wq.shape[1])
    pattern = torch.softmax(scores.masked_fill(torch.ones(T_, T_).triu(1).bool(), float("-inf")), -1)
    out = pattern @ (X_ @ Wv)
    print("output content == previous content:",
          torch.allclose(out[1:, T_:], content[:-1]), "| position part zero:",
          bool((out[:, :T_] == 0).all()))
    plt.figure(figsize=(3.2, 3))
    plt.imshow(pattern, cmap="Blues")
    plt.xlabel("key position")
    plt.ylabel("query position")
    plt.title("previous-token head", fontsize=9)
    plt.show()
except NotImplementedError:
    print("Implement `previous_token_head` first, then re-run this cell.")

# %% [markdown]
# ## Summary
#
# - A transformer block alternates two kinds of mixing: attention moves information **between**
#   tokens, the FFN transforms each token **on its own** (a key-value memory in its weights).
# - GELU is $x\,\Phi(x)$ (exact with erf, or GPT-2's tanh approximation, off by up to $5\cdot 10^{-4}$);
#   SiLU is $x\,\sigma(x)$. Both are smooth ReLUs that let small negative inputs through.
# - SwiGLU multiplies a SiLU gate with a linear "up" projection: products of features come for free.
#   Three matrices, so $F \approx \tfrac83 D$ to match a $4D$ plain FFN; the gradient of the up
#   projection is scaled by the gate but carries no derivative of the nonlinearity.
# - Pre-norm blocks add each sublayer's output to an un-normalised residual stream; causality comes
#   from the attention mask alone, and RoPE rotates queries and keys, never values.
# - A GPT is embedding → blocks → final norm → head; tying shares one Parameter, and the count is
#   $VD + n_{\text{layer}}(2D + 4D^2 + 4D + 3DF) + D\ (+VD)$, independent of the number of heads
#   and, with RoPE, of the context length.
# - One hidden ReLU layer can reproduce any piecewise-linear function exactly, hence approximate any
#   continuous one, but width grows fast with accuracy and dimension; depth composes, and can be
#   exponentially cheaper.
# - Attention weights can be written by hand: a previous-token head reads positions with its keys,
#   shifts them with its queries, and copies content with its values.
