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
# # Chapter 8 — How models learn: generalization, implicit bias, scaling laws
#
# This notebook follows Sections 8.1–8.4 of the book (Part III, Chapter 8): why a network with more
# parameters than training examples can still do well on data it has not seen (8.1), the *implicit
# bias* of training — which of the many solutions that fit the data the algorithm picks (8.2), how
# the loss falls with model size and data, and how to spend a compute budget (8.3), and what is
# still open (8.4).
#
# Two blocks of material go beyond the book's sections; they are marked **Beyond the book** and
# sit where they serve the book's argument. In 8.1, the loss itself: why the cross-entropy is the
# right number to make small (maximum likelihood), and how to compute it and its gradient without
# overflow. In 8.2, the optimizers that make it small (SGD, momentum, AdamW, warmup and cosine
# decay, gradient clipping): an update rule is a choice among equally good solutions, so what an
# optimizer prefers is its implicit bias.
#
# ## How to work through it
#
# - Each exercise has an **answer cell** holding a function or class with its signature and a
#   docstring that says exactly what to compute. Replace `raise NotImplementedError()` with your
#   implementation.
# - Below each answer cell a **check cell** runs `self_check(...)` on a few quick cases and says
#   what went wrong, if anything. Do not edit or delete check cells.
# - Cells titled **Try it** call your functions; until you implement them they print a reminder.
# - Two answers are **formulas** you derive on paper (the cells titled *Derivation*): a function
#   of the named symbols that returns your formula, written with `+ - * / **` and `exp`, `log`,
#   `sqrt` (local names for parts of it are fine). The grader reads the formula, does not run it,
#   and compares it with the reference formula at many random points, so any correct form passes.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** Define helpers in the same answer cell.
# - Hidden tests compare your code with a reference implementation on many inputs, in `float64`,
#   `float32` and `bfloat16`, with stress values (logits multiplied by 1000), edge cases (a row that
#   is entirely $-\infty$, every target ignored, repeated training points), non-contiguous inputs,
#   and gradients. Optimizers are run for 120 steps on given gradients and their whole trajectory
#   is compared. The statistical fits are also checked against the parameters the synthetic data
#   was generated from.
# - Tolerances follow the dtype: in `bfloat16` you must be about as accurate as a straightforward
#   `bfloat16` implementation; in `float64` a formula that is only approximately right fails.
# - Each exercise lists the **built-ins you may not call** (those that would do the exercise for
#   you). Everything else in PyTorch is fine.
#
# ## Conventions
#
# The notation is the course's, one meaning per letter: [docs/NOTATION.md](../../docs/NOTATION.md).
# In this chapter:
#
# - Losses: `V` is the number of classes (the vocabulary size for next-token prediction), `B` the
#   batch size and `T` the sequence length; `...` stands for any leading dimensions (possibly none).
#   Logits are unnormalised log-probabilities along the last dimension; a flat batch of `n`
#   predictions (lower case: a count defined here) has logits `(n, V)`.
# - Regression (8.1, 8.2): `n` training examples with `d` inputs each and `n_test` test points
#   (lower case: none of them is a model dimension), and $m$ random features.
# - Scaling laws (8.3): $N$ parameters, $D_{\text{tok}}$ training tokens, $C$ compute in FLOPs,
#   $\mathcal{L}$ the loss in nats per token, $\mathcal{L}_\infty$ the fitted floor and
#   $a_N, a_D, \alpha, \beta$ the other constants of a Chinchilla fit; `k` runs.
# - Optimizers: $\eta$ the learning rate, $\lambda$ weight decay, $\beta_1, \beta_2$ Adam's decay
#   rates.

# %% llmcourse={"role": "setup"}
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.kernel import self_check

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## 8.1 Generalization in overparameterized models
#
# A model *generalises* when its **expected loss on fresh data** from the distribution it was
# trained on — estimated by the loss on held-out data — is small, not only its loss on the training
# set. Classical statistics expects a model with more parameters than training examples to fail
# here: it can fit the noise. Modern networks have that many parameters, fit their training data
# almost perfectly, and still generalise. This section first fixes *which* loss (beyond the book:
# the cross-entropy and how to compute it), then runs the experiment that shows the classical
# picture breaking: double descent.
#
# ### Beyond the book: the loss is maximum likelihood
#
# A language model with parameters $\theta$ assigns a probability to every next token:
# $p_\theta(x_t \mid x_{<t}) = \operatorname{softmax}(z_t)_{x_t}$, where $z_t \in \mathbb{R}^V$ are
# the logits it outputs at position $t$. The probability of a whole training corpus
# $x_1, \dots, x_T$ factorises by the chain rule,
# $$p_\theta(x_1, \dots, x_T) = \prod_{t=1}^{T} p_\theta(x_t \mid x_{<t}).$$
# **Maximum likelihood** picks the $\theta$ that makes the observed corpus most probable. A
# product of $T$ numbers below one underflows long before $T$ reaches a million, and the logarithm
# is increasing, so we maximise the log instead, and divide by $T$ to get a number that does not
# grow with the corpus. Negating turns it into a loss:
# $$\mathcal{L}(\theta) = -\frac{1}{T} \sum_{t=1}^{T} \log p_\theta(x_t \mid x_{<t}).$$
# This is the **next-token cross-entropy**: the cross-entropy between the one-hot "distribution" of
# the observed token and the model's prediction, averaged over positions.
#
# **Cross-entropy = entropy + KL.** For a true distribution $q$ and a model $p$ over $V$ classes,
# $$H(q, p) = -\sum_c q_c \log p_c = \underbrace{-\sum_c q_c \log q_c}_{H(q)} +
#   \underbrace{\sum_c q_c \log \frac{q_c}{p_c}}_{\mathrm{KL}(q \,\|\, p) \,\ge\, 0}.$$
# The entropy $H(q)$ does not depend on the model, so minimising the *expected* cross-entropy is
# the same as minimising the KL divergence from the data distribution to the model. The bound
# $H(q, p) \ge H(q)$ is a floor for the **expected held-out loss** — the average over fresh text
# drawn from $q$ — not for the training loss: on its own finite corpus a large enough model can
# push the training loss towards 0 by memorising it. Nor is it the floor that scaling laws report:
# the constant $\mathcal{L}_\infty$ of 8.3 ($E$ in the Chinchilla paper) is a constant of a fitted
# curve, where the fit levels off, and it depends on the tokenizer, the data and the form of the
# fit; it is not a measurement of the entropy of text.
#
# **The log-sum-exp trick.** $\log p_y = z_y - \log \sum_c e^{z_c}$. Computed as written,
# $e^{z_c}$ overflows for $z_c > 88$ in `float32` (and $e^{-1000}$ underflows to 0, whose log is
# $-\infty$). For any constant $z^\ast$,
# $$\log \sum_c e^{z_c} = z^\ast + \log \sum_c e^{z_c - z^\ast},$$
# and with $z^\ast = \max_c z_c$ every exponent is $\le 0$ (no overflow) while the largest term is
# exactly $e^0 = 1$ (the sum is at least 1, so its log is finite). This is `logsumexp`, and
# $\log \operatorname{softmax}(z) = z - \operatorname{logsumexp}(z)$.
#
# #### Exercise 1: `logsumexp` (1 point)
#
# Implement $\log \sum_i e^{x_i}$ along `dim` with the max trick; the reduced dimension is removed
# (like `torch.logsumexp(x, dim)`). A slice that is entirely $-\infty$ (every class masked out)
# must give $-\infty$, not NaN: there the max is $-\infty$ and $x - \max = -\infty - (-\infty)$ is
# NaN, so shift such slices by 0 instead (a hidden case has one). Detaching the max is fine: the
# result does not depend on it.
#
# **Not allowed:** `torch.logsumexp` (and `Tensor.logsumexp`, `torch.special.logsumexp`), and the
# built-in softmax and log-softmax functions.

# %% llmcourse={"role": "answer", "exercise": "ch08.logsumexp"}
def logsumexp(x, dim=-1):
    """log(sum_i exp(x_i)) along ``dim``, without overflow.

    Args:
        x: floating-point tensor; entries may be -inf.
        dim: the dimension to reduce.

    Returns:
        A tensor of x's dtype with ``dim`` removed.

    Shape:
        x: (..., V, ...) with V at position ``dim``.
        Output: x's shape without ``dim``.
    """
    ### BEGIN SOLUTION
    m = x.detach().amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf slice: shift by 0
    return (m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))).squeeze(dim)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.logsumexp"}
self_check("ch08.logsumexp", logsumexp)

# %% [markdown]
# #### Exercise 2: `log_softmax` (1 point)
#
# $\log \operatorname{softmax}(x) = x - \operatorname{logsumexp}(x)$ along `dim`, using your
# `logsumexp` (unsqueeze it back at `dim`). Note why `torch.log(softmax(x))` is wrong: at
# $1000\times$ logits most probabilities are exactly 0 in floating point, and their log is
# $-\infty$, while $x - \operatorname{logsumexp}(x)$ is a finite, exact log-probability.
#
# **Not allowed:** the built-in `log_softmax` and `softmax` functions in every spelling.

# %% llmcourse={"role": "answer", "exercise": "ch08.log_softmax"}
def log_softmax(x, dim=-1):
    """Log-probabilities log softmax(x) along ``dim``.

    Args:
        x: floating-point tensor of logits.
        dim: the dimension to normalise over.

    Returns:
        A tensor of x's shape and dtype; exp of it sums to 1 along ``dim``.

    Shape:
        x: (..., V, ...) with V at position ``dim``.
        Output: same shape as x.
    """
    ### BEGIN SOLUTION
    return x - logsumexp(x, dim=dim).unsqueeze(dim)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.log_softmax"}
self_check("ch08.log_softmax", log_softmax)

# %%
# Try it: log(softmax) versus log_softmax at 1000x logits.
z = torch.tensor([[1.0, 2.0, 3.0]]) * 1000
print("log(softmax):", torch.log(torch.softmax(z, dim=-1)))
try:
    print("log_softmax :", log_softmax(z))
except NotImplementedError:
    print("Implement `log_softmax` above first, then re-run this cell.")

# %% [markdown]
# #### Label smoothing and ignored positions
#
# **Label smoothing** with strength $s$ trains against the mixture target
# $q = (1-s)\,\mathrm{onehot}(y) + s\,\mathrm{uniform}$: each class gets $s/V$, the true class
# $1 - s + s/V$. Since the cross-entropy is linear in $q$,
# $$H(q, p) = (1-s)\,(-\log p_y) + s \cdot \Big(-\frac{1}{V}\sum_c \log p_c\Big).$$
# The second term punishes very negative log-probabilities: the model is discouraged from driving
# any logit gap to infinity, which tempers over-confidence.
#
# **Ignored positions.** Batches of sequences are padded to a common length; padding tokens must
# not count. PyTorch marks them with a target equal to `ignore_index` (default $-100$): their loss
# is 0 and the mean divides by the number of positions that are *not* ignored.
#
# #### Exercise 3: `cross_entropy` (3 points)
#
# The per-prediction loss, `ignore_index`, `label_smoothing` and `reduction`
# (`"mean" | "sum" | "none"`) of `F.cross_entropy` with class-index targets, with one difference of
# layout: the classes are the **last** dimension, logits `(n, V)` or `(B, T, V)` with targets `(n,)`
# or `(B, T)` (`F.cross_entropy` wants the classes in dimension 1, `(B, V, T)`). When every target
# is ignored, the mean is $0/0$ = NaN, as in PyTorch (a hidden case checks it). Use your
# `log_softmax`; to read the target's log-probability use `gather` (replace ignored targets by any
# valid index first, then zero their loss).
#
# **Not allowed:** `F.cross_entropy`, `F.nll_loss`, `F.kl_div`, `nn.CrossEntropyLoss`, and the
# built-in log-softmax functions.

# %% llmcourse={"role": "answer", "exercise": "ch08.cross_entropy"}
def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy between softmax(logits) and class-index targets (classes last).

    Per prediction: (1 - s) * (-log p_y) + s * (-mean_c log p_c), s = label_smoothing; 0 where
    the target equals ``ignore_index``.

    Args:
        logits: class scores along the last dimension.
        targets: integer class indices in [0, V), or ``ignore_index``.
        ignore_index: target value whose predictions are left out.
        label_smoothing: s in [0, 1].
        reduction: "mean" (over the predictions not ignored; NaN if all are), "sum" or
            "none".

    Returns:
        A 0-dim tensor for "mean"/"sum"; the per-prediction losses for "none".

    Shape:
        logits: (n, V) or (B, T, V).
        targets: (n,) or (B, T).
        Output: () for "mean"/"sum"; (n,) or (B, T) for "none".
    """
    ### BEGIN SOLUTION
    logp = log_softmax(logits, dim=-1)  # (..., V)
    keep = targets != ignore_index  # (...,)
    safe = torch.where(keep, targets, torch.zeros_like(targets))
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (...,)
    if label_smoothing > 0:
        nll = (1 - label_smoothing) * nll - label_smoothing * logp.mean(dim=-1)
    loss = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum().to(loss.dtype)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.cross_entropy"}
self_check("ch08.cross_entropy", cross_entropy)

# %% [markdown]
# #### The gradient: softmax minus one-hot
#
# With $p = \operatorname{softmax}(z)$ and $\ell = -\log p_y = -z_y + \operatorname{logsumexp}(z)$,
# $$\frac{\partial \ell}{\partial z_c} = -[c = y] + \frac{e^{z_c}}{\sum_k e^{z_k}} = p_c - [c=y].$$
# The gradient is the difference between what the model predicts and what happened: it pushes
# the true logit up by $1 - p_y$ and every other logit down by its probability, and it vanishes
# only when the prediction is certain and right. Its entries sum to zero, and each is bounded by
# 1 in absolute value — the cross-entropy never produces exploding gradients by itself.
#
# #### Exercise 4: `cross_entropy_grad` (1.5 points)
#
# Return $\partial \mathcal{L} / \partial z$ for the **mean** loss over all predictions (divide by
# their number, $n$ or $B \cdot T$), in closed form. No label smoothing, no ignored targets.
#
# **Not allowed:** autograd (`backward`, `torch.autograd.grad`, `torch.func.grad`, ...) and the
# built-in cross-entropy functions.

# %% llmcourse={"role": "answer", "exercise": "ch08.cross_entropy_grad"}
def cross_entropy_grad(logits, targets):
    """Gradient of the mean cross-entropy with respect to the logits.

    Args:
        logits: class scores along the last dimension.
        targets: integer class indices in [0, V).

    Returns:
        (softmax(logits) - onehot(targets)) / (number of predictions), logits' dtype.

    Shape:
        logits: (n, V) or (B, T, V).
        targets: (n,) or (B, T).
        Output: same shape as logits.
    """
    ### BEGIN SOLUTION
    p = torch.exp(log_softmax(logits, dim=-1))  # (..., V)
    onehot = torch.zeros_like(p).scatter_(-1, targets.unsqueeze(-1), 1.0)
    return (p - onehot) / targets.numel()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.cross_entropy_grad"}
self_check("ch08.cross_entropy_grad", cross_entropy_grad)

# %%
# Try it: the closed form against autograd.
z = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
y = torch.randint(0, 6, (4,))
F.cross_entropy(z, y).backward()
try:
    print("max |closed form - autograd| =", (cross_entropy_grad(z.detach(), y) - z.grad).abs().max().item())
except NotImplementedError:
    print("Implement `cross_entropy_grad` above first, then re-run this cell.")

# %% [markdown]
# ### Interpolation and double descent
#
# Back to the question of the section. Fit $n$ noisy points with $m$ random ReLU features
# $\phi(x) = \mathrm{relu}(x W / \sqrt{d})$, $W \in \mathbb{R}^{d \times m}$ drawn once and then
# fixed, by least squares on the coefficients $c$ of $\Phi c \approx y$. When $m \le n$ there is
# (generically) one best fit, an exact one at $m = n$; when $m > n$ there are infinitely many
# exact fits, and we take the one of **minimum norm**, $c = \Phi^{+} y$ (the pseudo-inverse; 8.2
# shows that it is the one gradient descent from zero finds). As $m$ grows the test error first
# falls, then *rises* sharply as $m$ approaches $n$ — the model can just interpolate, and the only
# interpolant has a huge norm: it bends wildly to pass through the noise — and then falls *again*
# for $m \gg n$, where many interpolants exist and the minimum-norm one is smooth (Belkin et al.,
# 2019). More parameters than data, plus a preference for small norm, generalises.
#
# #### Exercise 5: `random_features_regression` (1.5 points)
#
# Draw the weights **exactly** as `torch.randn(d, n_features, generator=generator,
# dtype=torch.float64)` (on the CPU, then move them to the inputs' device and dtype), build the
# features of the training and test inputs, fit the minimum-norm least-squares coefficients and
# return the test predictions. Linear algebra has no `bfloat16` kernels: solve in `float32` for
# those inputs and return the input dtype.
#
# Which solver: `torch.linalg.pinv` gives the minimum-norm solution on every device and whatever
# the rank of $\Phi$. `torch.linalg.lstsq` does too with `driver="gelsd"`, but that driver exists
# only on the CPU (move the features there and back); on CUDA `lstsq` has a single driver,
# `"gels"`, which assumes $\Phi$ has full rank. It does not when training points repeat (two equal
# rows), and a hidden case has repeated points. For the same reason avoid the normal equations:
# $\Phi^\top \Phi$ is singular when $m > n$, and $\Phi \Phi^\top$ once points repeat.

# %% llmcourse={"role": "answer", "exercise": "ch08.random_features_regression"}
def random_features_regression(x_train, y_train, x_test, n_features, generator):
    """Minimum-norm least squares on random ReLU features; returns test predictions.

    Args:
        x_train, y_train: training inputs and targets. x_test: test inputs.
        n_features: m, the number of random features.
        generator: a torch.Generator (CPU) used for the one draw of the weights.

    Returns:
        Predictions at x_test, in x_train's dtype.

    Shape:
        x_train: (n, d). y_train: (n,). x_test: (n_test, d). Output: (n_test,).
    """
    ### BEGIN SOLUTION
    d = x_train.shape[1]
    w = torch.randn(d, n_features, generator=generator, dtype=torch.float64)
    w = w.to(device=x_train.device, dtype=x_train.dtype)
    phi = torch.relu(x_train @ w / math.sqrt(d))  # (n, m)
    phi_test = torch.relu(x_test @ w / math.sqrt(d))  # (n_test, m)
    dt = torch.float32 if x_train.dtype in (torch.bfloat16, torch.float16) else x_train.dtype
    coef = torch.linalg.pinv(phi.to(dt)) @ y_train.to(dt)
    return (phi_test.to(dt) @ coef).to(x_train.dtype)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.random_features_regression"}
self_check("ch08.random_features_regression", random_features_regression)

# %%
# Try it: the double-descent curve (n = 40 noisy points of a smooth function of d = 5 inputs).
gen = torch.Generator().manual_seed(0)
n_train, dim = 40, 5
w_star = torch.randn(dim, dtype=torch.float64, generator=gen)
def target(x):
    return torch.sin(x @ w_star / math.sqrt(dim) * 2)
x_tr = torch.randn(n_train, dim, dtype=torch.float64, generator=gen)
y_tr = target(x_tr) + 0.2 * torch.randn(n_train, dtype=torch.float64, generator=gen)
x_te = torch.randn(500, dim, dtype=torch.float64, generator=gen)
widths = [2, 5, 10, 20, 30, 35, 38, 40, 42, 45, 50, 60, 80, 120, 200, 400, 800]
try:
    errors = []
    for m in widths:
        trials = [((random_features_regression(x_tr, y_tr, x_te, m, torch.Generator().manual_seed(s))
                    - target(x_te)) ** 2).mean().item() for s in range(5)]
        errors.append(sum(trials) / len(trials))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.loglog(widths, errors, "o-")
    ax.axvline(n_train, color="grey", ls="--", label="m = n (interpolation threshold)")
    ax.set_xlabel("number of random features m"); ax.set_ylabel("test MSE"); ax.legend()
    ax.set_title("Double descent with minimum-norm random-features regression"); plt.show()
except NotImplementedError:
    print("Implement `random_features_regression` above first, then re-run this cell.")

# %% [markdown]
# ## 8.2 Implicit bias
#
# When many parameter vectors fit the training data equally well, the training loss cannot say
# which one we get: the **algorithm** decides — where it starts, which directions its steps can
# take, how it scales them. That preference, which nobody wrote into the loss, is the algorithm's
# *implicit bias*. Its cleanest instance is least squares.
#
# ### Gradient descent from zero finds the minimum-norm solution
#
# Take least squares $\min_w \frac{1}{2n}\|Xw - y\|^2$ with $X \in \mathbb{R}^{n \times d}$ and
# $n < d$: infinitely many $w$ fit the data exactly. Gradient descent from $w_0 = 0$ makes steps
# $-\eta X^\top (Xw - y)/n$, which all lie in the row space of $X$; so every iterate does, and the
# limit is the only interpolant in that space — the one of **minimum norm**, $w^\star = X^{+} y$.
# Nobody asked for a small norm: the algorithm chose it. Start from $w_0 \ne 0$ instead, and the
# part of $w_0$ outside the row space is never touched: GD still interpolates, but it ends at
# $X^{+} y$ plus that part. Among all the networks that fit the data, the optimizer's path decides
# which one we get.
#
# #### Exercise 6: `gd_least_squares` (1 point)
#
# Plain gradient descent from $w = 0$ for `steps` steps with the update
# $w \leftarrow w - \eta\, X^\top (Xw - y)/n$. The hidden tests also check that on underdetermined
# problems your result is $X^{+} y$.
#
# **Not allowed:** `torch.linalg.pinv`, `lstsq`, `solve`, `svd`, `torch.pinverse` (the point is
# where GD ends up by itself).

# %% llmcourse={"role": "answer", "exercise": "ch08.gd_least_squares"}
def gd_least_squares(x, y, lr, steps):
    """Gradient descent on (1 / 2n) ||x w - y||^2 from w = 0.

    Args:
        x: design matrix. y: targets. lr: step size. steps: number of steps (>= 0).

    Returns:
        The weights after ``steps`` steps, in x's dtype.

    Shape:
        x: (n, d). y: (n,). Output: (d,).
    """
    ### BEGIN SOLUTION
    w = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    for _ in range(steps):
        w = w - lr * (x.T @ (x @ w - y)) / x.shape[0]
    return w
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.gd_least_squares"}
self_check("ch08.gd_least_squares", gd_least_squares)

# %%
# Try it: GD from zero lands on the minimum-norm interpolant; from another start it lands on
# another interpolant. GD is linear in its start: from w0 it moves like GD from zero on the
# targets y - X w0, shifted by w0, so gd_least_squares (which starts at zero) serves both.
X = torch.randn(5, 12, dtype=torch.float64)
Y = torch.randn(5, dtype=torch.float64)
lr = 5 / torch.linalg.matrix_norm(X, ord=2).item() ** 2
w_min = torch.linalg.pinv(X) @ Y
try:
    w0 = torch.randn(12, dtype=torch.float64)
    for label, start in [("from zero", torch.zeros(12, dtype=torch.float64)), ("from w0  ", w0)]:
        w = start + gd_least_squares(X, Y - X @ start, lr, 2000)
        print(f"{label}: train residual {(X @ w - Y).norm().item():.1e}, "
              f"|w - pinv(X) y| = {(w - w_min).norm().item():.3f}, |w| = {w.norm().item():.3f}")
    print("minimum norm |pinv(X) y| =", round(w_min.norm().item(), 3))
except NotImplementedError:
    print("Implement `gd_least_squares` above first, then re-run this cell.")

# %% [markdown]
# ### Beyond the book: optimizers as update rules
#
# Least squares from zero is a clean case; a language model is trained by an *adaptive* optimizer
# on mini-batches, and each choice in the update rule is a choice among the solutions. Steepest
# descent in another geometry prefers other solutions: on separable classification, for example,
# gradient descent converges in direction to the maximum-margin separator in the Euclidean norm,
# and steepest descent with respect to another norm to the maximum-margin one in that norm (Soudry
# et al., 2018; Gunasekar et al., 2018). So the optimizers below are not only about speed.
#
# Training minimises $\mathcal{L}(\theta)$ with noisy gradients $g_t = \nabla \mathcal{L}_{B_t}
# (\theta_{t-1})$ computed on mini-batches $B_t$. Every optimizer below is a rule
# $\theta_t = \theta_{t-1} - (\text{step})$ applied to each parameter tensor separately.
#
# **SGD** steps against the gradient, $\theta_t = \theta_{t-1} - \eta\, g_t$. On an elongated
# valley (a quadratic with very different curvatures) it must use a small $\eta$ to stay stable in
# the steep direction, and then crawls along the flat one.
#
# **Momentum** keeps a running direction $b_t = \mu\, b_{t-1} + (1-\rho)\, g_t$ and steps along
# it: oscillations across the valley cancel in $b_t$, the consistent push along it accumulates (up
# to $1/(1-\mu)$ times). PyTorch starts the buffer at $b_1 = g_1$ (no dampening $\rho$ on the first
# step). **Nesterov** momentum steps along $g_t + \mu b_t$ — a look-ahead. PyTorch's SGD
# `weight_decay` $\lambda$ adds $\lambda\theta$ to the gradient first (an L2 penalty).
#
# **Adam** (Kingma & Ba, 2015) divides each coordinate's step by a running estimate of that
# coordinate's gradient scale:
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,$$
# $$\hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t}, \qquad
#   \theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.$$
# (Here $m_t$ is Adam's first moment, as in the paper; it is not the feature count $m$ of 8.1.)
# **Bias correction**: $m_0 = v_0 = 0$, so in the first steps the averages still carry the weight
# of their zero start and are pulled towards 0 (Derivation 1 below measures by how much); the
# divisions by $1-\beta_1^t$ and $1-\beta_2^t$ undo that pull (with $\beta_2 = 0.999$ it matters for
# about a thousand steps). $t$ counts the steps *this parameter* has taken, starting at 1.
# $\epsilon$ is added *outside* the square root. Dividing by $\sqrt{\hat v_t}$ makes every
# coordinate move at about the same rate whatever its gradient's scale — a different geometry from
# SGD's, and so a different implicit bias.
#
# **AdamW** (Loshchilov & Hutter, 2019). Adding $\lambda\theta$ to the gradient (L2) inside Adam
# lets the adaptive denominator rescale the decay: coordinates with large gradients are barely
# regularised. AdamW *decouples* it: $\theta \leftarrow \theta\,(1 - \eta\lambda)$ before the
# Adam step, a uniform shrinkage independent of the gradient statistics.
#
# #### Exercise 7: `SGDMomentum` (2 points) and Exercise 8: `AdamW` (3 points)
#
# Subclass `torch.optim.Optimizer`: pass the hyperparameters as `defaults` to its constructor,
# then in `step()` loop over `self.param_groups` (each a dict with `"params"` and its own
# hyperparameters) and their parameters, skip parameters whose `.grad` is `None`, and keep
# per-parameter state in `self.state[p]` (a dict). Update in place under `torch.no_grad()`.
# The grader builds your optimizer on two tensors (sometimes in two parameter groups, sometimes
# with one of them receiving no gradient for the first steps), feeds 120 given gradients and
# compares the whole trajectory with `torch.optim.SGD` / `torch.optim.AdamW`'s update rules.
#
# **Not allowed:** `torch.optim`'s own `SGD`, `Adam`, `AdamW` (subclassing them, calling their
# `step` or their functional kernels). Only `torch.optim.Optimizer` itself may be used.

# %% llmcourse={"role": "answer", "exercise": "ch08.sgd_momentum"}
class SGDMomentum(torch.optim.Optimizer):
    """SGD with momentum, dampening, Nesterov momentum and L2 weight decay (as torch.optim.SGD).

    Per parameter p with gradient g, at its step t = 1, 2, ...:
        g <- g + weight_decay * p
        b <- g (t = 1),  b <- momentum * b + (1 - dampening) * g (t > 1)   [only if momentum != 0]
        g <- g + momentum * b if nesterov else b                          [only if momentum != 0]
        p <- p - lr * g

    Args:
        params: an iterable of tensors, or of dicts (parameter groups).
        lr, momentum, dampening, nesterov, weight_decay: as in torch.optim.SGD.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        ### BEGIN SOLUTION
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)
        ### END SOLUTION

    @torch.no_grad()
    def step(self):
        """One update of every parameter that has a gradient."""
        ### BEGIN SOLUTION
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"] != 0:
                    g = g + group["weight_decay"] * p
                if mu != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()
                    else:
                        state["momentum_buffer"].mul_(mu).add_(g, alpha=1 - group["dampening"])
                    buf = state["momentum_buffer"]
                    g = g + mu * buf if group["nesterov"] else buf
                p.add_(g, alpha=-group["lr"])
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.sgd_momentum"}
self_check("ch08.sgd_momentum", SGDMomentum)

# %% llmcourse={"role": "answer", "exercise": "ch08.adamw"}
class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (as torch.optim.AdamW).

    Per parameter p with gradient g; t counts this parameter's steps, from 1:
        p <- p * (1 - lr * weight_decay)
        m <- beta1 * m + (1 - beta1) * g;   v <- beta2 * v + (1 - beta2) * g^2   (m, v start at 0)
        m_hat = m / (1 - beta1^t);   v_hat = v / (1 - beta2^t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        params: an iterable of tensors, or of dicts (parameter groups).
        lr: learning rate. betas: (beta1, beta2). eps: added to sqrt(v_hat).
        weight_decay: the decoupled decay rate lambda.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        ### BEGIN SOLUTION
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        ### END SOLUTION

    @torch.no_grad()
    def step(self):
        """One update of every parameter that has a gradient."""
        ### BEGIN SOLUTION
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["m"], state["v"]
                p.mul_(1 - lr * group["weight_decay"])
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).add_(p.grad * p.grad, alpha=1 - beta2)
                denom = v.sqrt() / math.sqrt(1 - beta2 ** t) + eps
                p.add_(m / denom, alpha=-lr / (1 - beta1 ** t))
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.adamw"}
self_check("ch08.adamw", AdamW)

# %%
# Try it: optimizer paths on the Rosenbrock valley f(x, y) = (1 - x)^2 + 100 (y - x^2)^2.
def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def path(make_opt, steps=300, start=(-1.5, 2.0)):
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    points = [p.detach().clone()]
    for _ in range(steps):
        p.grad = None
        rosenbrock(p).backward()
        opt.step()
        points.append(p.detach().clone())
    return torch.stack(points)


xs, ys = torch.meshgrid(torch.linspace(-2, 2, 200), torch.linspace(-1, 3, 200), indexing="xy")
fig, ax = plt.subplots(figsize=(6, 4.5))
ax.contour(xs, ys, torch.log1p(rosenbrock(torch.stack([xs, ys]))), levels=25, cmap="Greys")
try:
    runs = {"SGD lr=1e-3": lambda ps: SGDMomentum(ps, lr=1e-3),
            "momentum 0.9": lambda ps: SGDMomentum(ps, lr=1e-3, momentum=0.9),
            "AdamW lr=0.05": lambda ps: AdamW(ps, lr=0.05, weight_decay=0.0)}
    for label, make in runs.items():
        pts = path(make)
        ax.plot(pts[:, 0], pts[:, 1], ".-", ms=2, lw=1, label=f"{label} (f={rosenbrock(pts[-1]):.2g})")
    ax.legend(fontsize=8)
except NotImplementedError:
    print("Implement `SGDMomentum` and `AdamW` above to see their paths.")
ax.plot([1], [1], "k*", ms=12)
ax.set_title("300 steps on the Rosenbrock function (minimum at ★)")
plt.show()

# %% [markdown]
# #### Derivation 1: the pull of Adam's zero start (symbolic answer, 0.5 points)
#
# Run Adam's first-moment recursion $m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t$ from $m_0 = 0$ on a
# gradient that never changes, $g_t = g$ at every step. What is $m_t$ after $t$ steps
# ($t = 1, 2, \dots$), **before** bias correction, as a closed formula in $\beta_1$, $t$ and $g$
# (no sum, no loop)? An average without the zero start would be $g$ itself: compare your $m_t$
# with it, and with the correction in the update rule.

# %% llmcourse={"role": "answer", "exercise": "ch08.adam_first_moment"}
def adam_first_moment(beta1, t, g):
    """Adam's first moment m_t (no bias correction) after t = 1, 2, ... steps that all see the
    same gradient g, from m_0 = 0. A formula, read by the grader (not run)."""
    ### BEGIN SOLUTION
    geometric_sum = (1 - beta1**t) / (1 - beta1)  # 1 + beta1 + ... + beta1^(t-1)
    return (1 - beta1) * geometric_sum * g
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.adam_first_moment"}
self_check("ch08.adam_first_moment", adam_first_moment)

# %% [markdown]
# ### Beyond the book: learning-rate schedules and gradient clipping
#
# **Warmup.** At initialisation Adam's second-moment estimate rests on a handful of gradients and
# the network is far from any sensible region: large early steps can blow the loss up. A linear
# warmup raises the learning rate from 0 to its peak over the first steps.
#
# **Cosine decay.** Afterwards the learning rate falls along half a cosine to a floor,
# $$\eta(t) = \eta_{\min} + (\eta_{\max} - \eta_{\min})\,\frac{1 + \cos(\pi r)}{2},\qquad
#   r = \frac{t - t_{\text{warmup}}}{t_{\text{total}} - t_{\text{warmup}}} \in [0, 1].$$
# Large steps early cover ground; small steps late average out the gradient noise, and the loss
# keeps falling as the learning rate anneals. (The schedule is part of the implicit bias too: how
# large the steps are, and for how long, decides which region of the loss landscape training
# settles in.)
#
# #### Exercise 9: `cosine_schedule` (1 point)
#
# Steps count from 0. For `step < warmup_steps` return `max_lr * step / warmup_steps` (0 at step
# 0, so `max_lr` is reached exactly at `step == warmup_steps`); then the cosine above up to
# `total_steps`, and `min_lr` for every step at or after `total_steps`. Return a number (a Python
# float, which is what `param_group["lr"]` should hold; the grader reads `float(...)` of it).

# %% llmcourse={"role": "answer", "exercise": "ch08.cosine_schedule"}
def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    """Learning rate at ``step``: linear warmup from 0, then cosine decay to ``min_lr``.

    Args:
        step: the step index, an int >= 0.
        max_lr, min_lr: peak and final learning rates.
        warmup_steps: length of the warmup (may be 0).
        total_steps: the step at which the decay reaches ``min_lr`` (> warmup_steps).

    Returns:
        The learning rate, a number (a Python float).
    """
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * r))
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.cosine_schedule"}
self_check("ch08.cosine_schedule", cosine_schedule)

# %%
# Try it: three schedules.
try:
    fig, ax = plt.subplots(figsize=(6, 3))
    for warm, total in [(0, 100), (10, 100), (30, 80)]:
        ax.plot([cosine_schedule(s, 3e-4, 3e-5, warm, total) for s in range(120)],
                label=f"warmup {warm}, total {total}")
    ax.set_xlabel("step"); ax.set_ylabel("learning rate"); ax.legend(); plt.show()
except NotImplementedError:
    print("Implement `cosine_schedule` above first, then re-run this cell.")

# %% [markdown]
# **Gradient clipping.** A rare batch can produce a gradient many times larger than usual (a loss
# spike); one such step can undo hours of training. Clipping by the *global* norm rescales all
# gradients together when $\|g\| = \sqrt{\sum_p \|g_p\|^2}$ exceeds a threshold $g_{\max}$
# (`max_norm`): $g \leftarrow g \cdot \min(1, g_{\max} / \|g\|)$. The direction of the update is
# unchanged; only its length is capped. (Clipping each tensor separately would change the
# direction.)
#
# #### Exercise 10: `clip_grad_norm` (1.5 points)
#
# Same effect as `torch.nn.utils.clip_grad_norm_`: compute the total norm over all parameters
# with a gradient (skip `grad is None`), multiply every gradient **in place** by
# `max_norm / (total + 1e-6)` when that is below 1, and return the total norm *before* clipping.
# In place means the tensors `p.grad` already holds are scaled (`g.mul_(...)`): the training loop,
# and the grader, keep references to them, so assigning new tensors to `p.grad` leaves the ones
# they hold unclipped.
#
# **Not allowed:** `torch.nn.utils.clip_grad_norm_` and its relatives
# (`clip_grad_norm`, `get_total_norm`, `clip_grads_with_norm_`).

# %% llmcourse={"role": "answer", "exercise": "ch08.clip_grad_norm"}
def clip_grad_norm(parameters, max_norm):
    """Clip the global L2 norm of the gradients of ``parameters`` to ``max_norm``, in place.

    Args:
        parameters: a list of tensors; those whose ``.grad`` is None are skipped. Their
            ``.grad`` tensors are scaled in place.
        max_norm: the largest allowed global norm.

    Returns:
        The total norm sqrt(sum_p ||p.grad||^2) before clipping (a 0-dim tensor or a float).
    """
    ### BEGIN SOLUTION
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g * g).sum() for g in grads))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.clip_grad_norm"}
self_check("ch08.clip_grad_norm", clip_grad_norm)

# %% [markdown]
# ## 8.3 Scaling laws
#
# ### Power laws
#
# Kaplan et al. (2020) trained many transformers and found that the test loss falls as a **power
# law** in each resource when the others are not limiting: $\mathcal{L}(N) \approx
# (N_c/N)^{\alpha_N}$ in the number of (non-embedding) parameters, and similarly in data and
# compute, over many orders of magnitude. A power law $y = a x^{-\alpha}$ is a straight line in
# log-log coordinates, $\log y = \log a - \alpha \log x$, so it can be fitted by ordinary least
# squares on the logs.
#
# #### Exercise 11: `fit_power_law` (1 point)
#
# Fit $\log y = \log a - \alpha \log x$ by least squares (natural logs, regress $\log y$ on
# $\log x$) and return `(a, alpha)` as Python floats. The hidden tests generate data from known
# $(a, \alpha)$ with noise and check that you recover them within 5 standard errors.

# %% llmcourse={"role": "answer", "exercise": "ch08.fit_power_law"}
def fit_power_law(x, y):
    """Least-squares fit of y = a * x^(-alpha) on log-log axes.

    Args:
        x, y: positive tensors of the same length.

    Returns:
        (a, alpha) as Python floats.

    Shape:
        x: (k,). y: (k,).
    """
    ### BEGIN SOLUTION
    lx, ly = torch.log(x), torch.log(y)
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()
    intercept = ly.mean() - slope * lx.mean()
    return math.exp(intercept.item()), -slope.item()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.fit_power_law"}
self_check("ch08.fit_power_law", fit_power_law)

# %% [markdown]
# ### The Chinchilla law
#
# Hoffmann et al. (2022, "Chinchilla") modelled the final loss of a model with $N$ parameters
# trained on $D_{\text{tok}}$ tokens as
# $$\mathcal{L}(N, D_{\text{tok}}) = \mathcal{L}_\infty + \frac{a_N}{N^{\alpha}} +
#   \frac{a_D}{D_{\text{tok}}^{\beta}}:$$
# the second term is the penalty for a finite model, the third for finite data, and
# $\mathcal{L}_\infty$ is where the fitted curve levels off when both grow without bound — a
# constant of the fit, not the entropy of text (8.1). The paper calls the three constants $E$, $A$
# and $B$; the functions below keep its names and its order, so `fit_chinchilla` returns the tuple
# `(E, A, B, alpha, beta)` $= (\mathcal{L}_\infty, a_N, a_D, \alpha, \beta)$: position 0 is the
# floor, 1 and 2 the coefficients of $N$ and $D_{\text{tok}}$, 3 and 4 their exponents.
#
# They fit the five constants to hundreds of runs by minimising a Huber loss of the residuals of
# $\log \mathcal{L}$, over the logs of the three positive constants, $u_N = \log a_N$,
# $u_D = \log a_D$, $u_\infty = \log \mathcal{L}_\infty$:
# $$\min_{u_N, u_D, u_\infty, \alpha, \beta} \sum_i \operatorname{Huber}_\delta\Big(
#   \operatorname{LSE}(u_N - \alpha \log N_i,\; u_D - \beta \log D_i,\; u_\infty) -
#   \log \mathcal{L}_i\Big), \qquad \delta = 10^{-3},$$
# with $D_i$ the tokens of run $i$, and L-BFGS from a grid of starting points (the objective has
# several local minima) — the log-sum-exp is
# $\log(a_N/N^\alpha + a_D/D_{\text{tok}}^\beta + \mathcal{L}_\infty)$ computed stably, and the
# Huber loss (quadratic below $\delta$, linear above) keeps a few outlying runs from dominating.
#
# #### Exercise 12: `fit_chinchilla` (1.5 points)
#
# Implement that fit in `float64` (whatever the input dtype) with `torch.optim.LBFGS`
# (`line_search_fn="strong_wolfe"`; run it to convergence: e.g. `max_iter=500`,
# `tolerance_grad=1e-12`, `tolerance_change=1e-15`), starting from a few points — e.g.
# $u_N = u_D = 5$, $u_\infty = 0.5$, $\alpha = \beta \in \{0.3, 0.6\}$ — and keep the best. Return
# `(E, A, B, alpha, beta)` $= (\mathcal{L}_\infty, a_N, a_D, \alpha, \beta)$ as numbers (the grader
# reads `float(...)` of each). `F.huber_loss` is allowed. The hidden tests check that your
# parameters reach the minimum of this objective and recover the generating $\alpha$, $\beta$ and
# $\mathcal{L}_\infty$ within 5 standard errors.

# %% llmcourse={"role": "answer", "exercise": "ch08.fit_chinchilla"}
def fit_chinchilla(n, d, loss):
    """Fit L(N, D_tok) = L_inf + a_N / N^alpha + a_D / D_tok^beta by Huber regression on the
    residuals of the log-loss.

    Args:
        n: parameter counts N_i. d: training-token counts D_i. loss: final losses L_i. All
            positive.

    Returns:
        (E, A, B, alpha, beta) = (L_inf, a_N, a_D, alpha, beta), the paper's names and order,
        as numbers.

    Shape:
        n, d, loss: (k,), one entry per run.
    """
    ### BEGIN SOLUTION
    ln, ld, ll = (t.detach().double().log() for t in (n, d, loss))

    def objective(theta):
        a, b, e, alpha, beta = theta  # a = log a_N, b = log a_D, e = log L_inf
        pred = torch.logsumexp(torch.stack([a - alpha * ln, b - beta * ld, e.expand_as(ln)]), dim=0)
        return F.huber_loss(pred, ll, reduction="sum", delta=1e-3)

    best, best_value = None, math.inf
    for start in [(5.0, 5.0, 0.5, 0.3, 0.3), (5.0, 5.0, 0.5, 0.6, 0.6)]:
        theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([theta], max_iter=500, tolerance_grad=1e-12,
                                tolerance_change=1e-15, history_size=20,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            value = objective(theta)
            value.backward()
            return value

        opt.step(closure)
        value = objective(theta).item()
        if value < best_value:
            best, best_value = theta.detach().tolist(), value
    a, b, e, alpha, beta = best
    return math.exp(e), math.exp(a), math.exp(b), alpha, beta
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.fit_chinchilla"}
self_check("ch08.fit_chinchilla", fit_chinchilla)

# %% [markdown]
# ### Spending a compute budget
#
# Training a transformer costs about $C \approx 6 N D_{\text{tok}}$
# FLOPs (2 for the forward multiply-add per parameter and token, 4 for the backward). For a fixed
# budget, which $N$ and $D_{\text{tok}} = C/(6N)$ minimise $\mathcal{L}$? A larger model leaves
# fewer tokens: the two finite-size penalties pull in opposite directions.
#
# #### Derivation 2: how the optimal model grows with compute (symbolic answer, 0.5 points)
#
# Substitute $D_{\text{tok}} = C/(6N)$ into $\mathcal{L}(N, D_{\text{tok}}) = \mathcal{L}_\infty +
# a_N/N^{\alpha} + a_D/D_{\text{tok}}^{\beta}$ (with $a_N, a_D, \alpha, \beta > 0$) and minimise
# over $N$ at a fixed budget $C$. The minimiser is a power of the budget,
# $N_{\text{opt}} \propto C^{\gamma}$, with a constant factor that depends on
# $a_N, a_D, \alpha, \beta$ but not on $C$. Find the exponent $\gamma$ as a function of $\alpha$
# and $\beta$.

# %% llmcourse={"role": "answer", "exercise": "ch08.optimal_parameters_exponent"}
def optimal_parameters_exponent(alpha, beta):
    """The exponent gamma in N_opt ~ C^gamma, for the loss L_inf + a_N / N^alpha + a_D / D_tok^beta
    minimised over N at a fixed budget C = 6 N D_tok. A formula in alpha and beta, read by the
    grader (not run)."""
    ### BEGIN SOLUTION
    return beta / (alpha + beta)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.optimal_parameters_exponent"}
self_check("ch08.optimal_parameters_exponent", optimal_parameters_exponent)

# %% [markdown]
# **The closed form.** Substituting $D_{\text{tok}} = C/(6N)$ and setting
# $d\mathcal{L}/dN = 0$ gives $\alpha a_N N^{-\alpha} = \beta a_D D_{\text{tok}}^{-\beta}$: at the
# optimum the two finite-size penalties are in a fixed ratio. Solving,
# $$N_{\text{opt}} = G \Big(\frac{C}{6}\Big)^{\frac{\beta}{\alpha+\beta}},\qquad
#   D_{\text{tok,opt}} = G^{-1} \Big(\frac{C}{6}\Big)^{\frac{\alpha}{\alpha+\beta}},\qquad
#   G = \Big(\frac{\alpha a_N}{\beta a_D}\Big)^{\frac{1}{\alpha+\beta}}.$$
# With $\alpha \approx \beta$ both grow like $\sqrt{C}$: double the compute, multiply the model
# *and* the data by $\sqrt 2$ — the Chinchilla conclusion that earlier large models were
# under-trained (GPT-3: 300 billion tokens for 175 billion parameters, under 2 tokens per
# parameter).
#
# **How many tokens per parameter?** The ratio at the optimum,
# $$\frac{D_{\text{tok,opt}}}{N_{\text{opt}}} = G^{-2} \Big(\frac{C}{6}\Big)^{\frac{\alpha -
#   \beta}{\alpha + \beta}},$$
# is decided by all four constants, and it drifts with $C$ unless $\alpha = \beta$. The familiar
# "about 20 tokens per parameter" (Chinchilla itself: 70 billion parameters, 1.4 trillion tokens)
# comes from Hoffmann et al.'s Approaches 1 and 2, which locate the optimum directly (the minima of
# IsoFLOP curves, the envelope of training curves), and from Besiroglu et al.'s (2024) refit of the
# Approach-3 law, which found that the published Approach-3 fit had stopped before converging. The
# published Approach-3 constants themselves — the ones the cell below generates its synthetic runs
# from ($\alpha = 0.34 > \beta = 0.28$) — put the optimum near 50 tokens per parameter at
# $C = 10^{21}$ FLOPs, 80 at $10^{23}$ and 120 at $10^{25}$; the cell's fit to noisy runs of that
# law lands higher still (about 100 at $10^{23}$). A rule of thumb for the ratio is only as good as
# the fitted constants behind it.
#
# #### Exercise 13: `compute_optimal_allocation` (1 point)
#
# Return `(N_opt, D_opt)` from the closed form, for the law given as `(E, A, B, alpha, beta)`
# $= (\mathcal{L}_\infty, a_N, a_D, \alpha, \beta)$ in `fit_chinchilla`'s order. `compute` may be a
# Python number (return Python numbers: a hidden case passes one) or a tensor of budgets (return
# tensors of its dtype and shape).

# %% llmcourse={"role": "answer", "exercise": "ch08.compute_optimal_allocation"}
def compute_optimal_allocation(compute, E, A, B, alpha, beta):
    """The (N, D_tok) minimising L_inf + a_N / N^alpha + a_D / D_tok^beta subject to
    6 N D_tok = compute.

    Args:
        compute: the FLOP budget C, a number or a tensor.
        E, A, B, alpha, beta: the fitted law (L_inf, a_N, a_D, alpha, beta), Python floats in
            fit_chinchilla's order (E does not move the optimum).

    Returns:
        (N_opt, D_opt): Python floats for a number; for a tensor, tensors of its dtype and
        shape.

    Shape:
        compute: () or (k,). Outputs: same as compute.
    """
    ### BEGIN SOLUTION
    g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    c6 = compute / 6
    return g * c6 ** (beta / (alpha + beta)), c6 ** (alpha / (alpha + beta)) / g
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch08.compute_optimal_allocation"}
self_check("ch08.compute_optimal_allocation", compute_optimal_allocation)

# %%
# Try it: fit synthetic runs, plot the fitted curves and the compute-optimal frontier.
# The runs follow Hoffmann et al.'s published Approach-3 law (E = L_inf, A = a_N, B = a_D).
truth = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
gen = torch.Generator().manual_seed(1)
N = 10 ** (7 + 3 * torch.rand(60, generator=gen, dtype=torch.float64))
D_tok = 10 ** (9 + 3 * torch.rand(60, generator=gen, dtype=torch.float64))
L = (truth["E"] + truth["A"] / N ** truth["alpha"] + truth["B"] / D_tok ** truth["beta"])
L = L * torch.exp(0.01 * torch.randn(60, generator=gen, dtype=torch.float64))
try:
    E_, A_, B_, a_, b_ = fit_chinchilla(N, D_tok, L)
    print(f"fitted: E={E_:.3f} A={A_:.1f} B={B_:.1f} alpha={a_:.3f} beta={b_:.3f}  (truth {truth})")
    C = 10 ** torch.linspace(18, 25, 50, dtype=torch.float64)
    n_opt, d_opt = compute_optimal_allocation(C, E_, A_, B_, a_, b_)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for c in [1e19, 1e21, 1e23]:
        ns = 10 ** torch.linspace(7, 12, 100, dtype=torch.float64)
        ax1.semilogx(ns, E_ + A_ / ns ** a_ + B_ / (c / (6 * ns)) ** b_, label=f"C = {c:.0e}")
    ax1.semilogx(n_opt, E_ + A_ / n_opt ** a_ + B_ / d_opt ** b_, "k--", label="optimum")
    ax1.set_ylim(1.6, 4); ax1.set_xlabel("parameters N (D_tok = C / 6N)"); ax1.set_ylabel("loss")
    ax1.legend(fontsize=8); ax1.set_title("IsoFLOP curves of the fitted law")
    ax2.loglog(C, n_opt, label="N_opt"); ax2.loglog(C, d_opt, label="D_tok,opt")
    ax2.set_xlabel("compute C (FLOPs)"); ax2.legend(); ax2.set_title("compute-optimal frontier")
    plt.show()
    for budget in (1e21, 1e23, 1e25):
        n_b, d_b = compute_optimal_allocation(budget, E_, A_, B_, a_, b_)
        print(f"C = {budget:.0e}: N_opt = {n_b:.2e}, D_tok,opt = {d_b:.2e}, "
              f"{d_b / n_b:.0f} tokens per parameter")
except NotImplementedError:
    print("Implement `fit_chinchilla` and `compute_optimal_allocation` first, then re-run this cell.")

# %% [markdown]
# ## 8.4 Open questions
#
# - **What exactly is the implicit bias of GD and Adam in deep networks?** For linear least
#   squares from zero it is the minimum norm (8.2); for deep nonlinear networks trained with
#   adaptive methods and large learning rates ("edge of stability") there is no comparably clean
#   characterisation, and so no complete account of why the solutions they find generalise (8.1).
# - **Why does Adam work so well for transformers**, where SGD struggles? Heavy-tailed gradient
#   noise, very different curvature across parameter blocks (embeddings vs. layer norms), and
#   sign-like updates have all been proposed; none is a complete account.
# - **Scaling-law fits are fragile.** Fits of the same law to the same kind of data have given
#   different exponents (Kaplan's $N \propto C^{0.73}$ versus Chinchilla's $\approx C^{0.5}$),
#   owing to learning-rate schedules that were not re-tuned per run, the ranges of $N$ covered,
#   how embedding parameters are counted, and the fitting procedure itself (Besiroglu et al., 2024
#   re-fitted Chinchilla's data and found different constants, and with them a different
#   tokens-per-parameter ratio).
# - **Beyond compute-optimal.** Models that will serve many queries are trained far past the
#   Chinchilla point (more tokens per parameter) because inference cost scales with $N$; and when
#   unique data runs out, repeated epochs are worth less than fresh tokens. How the loss scales in
#   these regimes is an active question.
