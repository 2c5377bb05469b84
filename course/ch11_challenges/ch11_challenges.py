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
# # Chapter 11 — Challenges: cost, quantization, bias
#
# A model that works in a notebook still has to be paid for, and it still has to be fit to use.
# This chapter puts numbers on both.
#
# 1. **Size and cost.** How many parameters a transformer has, how many FLOPs a token costs to
#    generate or to train on, and how FLOPs turn into seconds and money. Generating text one
#    token at a time turns out to be limited by memory bandwidth, not by arithmetic, and the
#    roofline model says by how much.
# 2. **Quantization.** The most direct way to cut both memory and bandwidth is to store each
#    weight in 8 or 4 bits instead of 16. We write the quantizers (absmax, zero-point,
#    groupwise), an integer matrix product, and the outlier decomposition of LLM.int8, and we
#    measure what each costs in accuracy on a small GPT trained in this notebook.
# 3. **Bias as a statistic.** The Word Embedding Association Test measures associations in
#    embeddings, with a permutation test for significance. Demographic parity and equalized odds
#    measure the gaps between groups in a classifier's decisions. We also look at what these
#    numbers can and cannot show.
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
# - The cost formulas are compared with a reference implementation as Python floats, on many
#   model shapes and hardware numbers.
# - The quantizers are graded in `float64` and `float32`. Their **codes** (`q` and zero points)
#   are compared exactly, so the rounding rule, the integer range and the dtype must be the ones
#   the docstring states. Scales, dequantized values and matrix products are compared with
#   tolerances that follow the dtype: about as accurate as a straightforward implementation in
#   that dtype.
# - The quantizers and the outlier decomposition are not graded in `bfloat16`. Its 8-bit
#   significand resolves values in $[64, 128)$ only to 0.5, so the quotient $x / s$ is already
#   rounded before `torch.round` sees it, and two correct programs can land on different codes.
#   `dequantize` and `int8_matmul` start from given codes, and they are graded in `bfloat16` too.
# - While `quantize_groupwise` and `outlier_decomposed_matmul` are graded, built-in stand-ins
#   replace your `quantize_absmax` and `int8_matmul`, so one bug costs one exercise.
# - The WEAT effect size is compared with the dtype's tolerance. The p-value is compared
#   **exactly** with a replay of the recipe in its docstring, with the same seeded generator: the
#   same draws must give the same count.
# - The fairness gaps are differences of ratios of counts, compared with the tolerance of the
#   default dtype, `float32`: rates computed in `float32` or `float64` both pass.
#
# ## Conventions
#
# - FLOPs count a multiply and an add as two, and only matrix products count.
# - Quantization widths are $2 \le b \le 8$ bits. Rounding is **half to even**, as `torch.round`:
#   $2.5 \to 2$, $3.5 \to 4$, $-2.5 \to -2$.
# - A weight of a linear layer has shape `(out, in)`, as in `nn.Linear`; "per channel" means one
#   scale per output row (`dim=-1`). The matrix products of Exercises 7 and 8 compute `x @ w` with
#   activations `x` of shape `(n, D)` ($n$ tokens) and a weight `w` of shape `(D, F)`, as the
#   first matrix of a feed-forward layer.
# - A slice of a tensor whose values are all 0 gets scale 1 (nothing divides by 0).
# - The cosine with a zero vector is 0. Fairness predictions and labels are 0/1 (int or bool);
#   group ids are any integers.
# - Letters follow the course's [notation](../../docs/NOTATION.md): $N$ parameters, $D$ the model
#   width, $F$ the feed-forward width, $n_{\text{layer}}$ blocks, $T$ positions of context, $B$
#   the batch size, $V$ the vocabulary, $D_{\text{tok}}$ training tokens and $C$ compute in
#   FLOPs. Any other count is written in lower case and defined where it is used ($n$ rows or
#   examples, $g$ a group size).

# %% llmcourse={"role": "setup"}
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from autograder.kernel import self_check
from reference.blocks import GPT
from reference.data import get_batch, synthetic_corpus
from reference.fairness import planted_bias_embeddings

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# ## 11.1 Model size and computational cost
#
# ### Counting parameters
#
# A transformer block of width $D$ has two parts with weights (Chapter 6). Attention has four
# $D \times D$ projections, $W_Q, W_K, W_V, W_O$: that is $4D^2$ parameters. The feed-forward
# layer with the usual hidden width $F = 4D$ has two $D \times 4D$ matrices: $8D^2$. Norm
# gains and biases add $O(D)$, which is negligible. So $n_{\text{layer}}$ blocks hold
#
# $$N \approx 12\,n_{\text{layer}}\,D^2,$$
#
# plus $V D$ for the token embeddings (twice that if the output head is not tied to them). A SwiGLU
# feed-forward layer has three matrices instead of two, and it keeps the count by shrinking the
# hidden width to about $\frac{8}{3}D$. Two checks: GPT-3 has $n_{\text{layer}} = 96$ and
# $D = 12\,288$, and $12 \cdot 96 \cdot 12\,288^2 = 1.74 \cdot 10^{11}$, its 175 billion parameters
# (Brown et al., 2020). A model with the shape of Llama 2 7B (Touvron et al., 2023),
# $n_{\text{layer}} = 32$ and $D = 4096$, gives $6.4 \cdot 10^9$, plus
# $2 \cdot 32\,000 \cdot 4096 = 0.26 \cdot 10^9$ for its untied embedding and head:
# $6.7 \cdot 10^9$.
#
# Memory follows directly. In `bfloat16` each parameter takes 2 bytes, so a 7B model needs
# 13.5 GB for its weights alone. That is before the key/value cache of Chapter 7, and before the
# optimizer state that training adds.
#
# ### Counting FLOPs
#
# In a forward pass each weight meets each token's activation in exactly one multiply-add, so
# the weights cost $2N$ FLOPs per token. Attention adds work that has no weights: a token that
# attends to $T$ positions computes $T$ scores $q \cdot k$ of length $D$ (all heads together) and
# a weighted sum of $T$ value vectors of length $D$. That is $2TD + 2TD$ FLOPs per layer, so
#
# $$C_{\text{forward}} \approx 2N + 4\,n_{\text{layer}}\,T D \quad \text{FLOPs per token.}$$
#
# Kaplan et al. (2020, table 1) count $2N + 2\,n_{\text{layer}}\,T D$: they count the scores
# $QK^\top$ but not the product with the values. We count both. For a 7B model at $T = 1500$ the
# attention term is 5.5% of the total, so $2N$ is the rule of thumb.
#
# Training does a forward and a backward pass. The backward pass costs about twice the forward:
# for each weight it needs one multiply-add for the gradient with respect to the input and one
# for the gradient with respect to the weight. So training costs about $6N$ FLOPs per token, and
# on $D_{\text{tok}}$ tokens
#
# $$C_{\text{train}} \approx 6\,N D_{\text{tok}}$$
#
# (Kaplan et al., 2020; Hoffmann et al., 2022; they write $D$ for the tokens, which is the width
# here). Llama 2 7B was trained on $D_{\text{tok}} = 2 \cdot 10^{12}$ tokens, so
# $6\,N D_{\text{tok}} = 8.1 \cdot 10^{22}$ FLOPs.
#
# ### From FLOPs to seconds and money
#
# A GPU has a peak rate for each dtype. An NVIDIA H100 (SXM) does about $989 \cdot 10^{12}$
# dense `bfloat16` FLOP/s. No real program reaches the peak. The fraction it achieves is its
# **model FLOPs utilisation** (MFU, Chowdhery et al., 2022; Chapter 9), and good training runs
# reach 40 to 55%. Then
#
# $$\text{seconds} = \frac{\text{FLOPs}}{\text{peak} \cdot \text{MFU}}, \qquad
#   \text{cost} = \frac{\text{seconds}}{3600} \cdot \text{price per hour}.$$
#
# A check against a published number: Touvron et al. (2023) report 184 320 GPU-hours on A100s
# (peak $312 \cdot 10^{12}$ FLOP/s in `bfloat16`) for Llama 2 7B. That means
# $8.1 \cdot 10^{22} / (184\,320 \cdot 3600 \text{ s}) = 1.2 \cdot 10^{14}$ FLOP/s per GPU, an MFU
# of 39%.

# %% [markdown]
# ### Exercise 1: `inference_cost` (1 point)
#
# Return the FLOPs, seconds and cost of processing `n_tokens` tokens, each attending to `context`
# positions, as a dictionary of Python floats. The context is one number here. For generation,
# where it grows from the prompt's length to the final length, pass the average.

# %% llmcourse={"role": "answer", "exercise": "ch11.inference_cost"}
def inference_cost(n_params, n_layers, d_model, context, n_tokens, peak_flops, mfu,
                   price_per_hour):
    """FLOPs, wall-clock seconds and money to process (or generate) n_tokens tokens.

    Per token the forward pass costs 2·N + 4·n_layer·T·D FLOPs: 2 N for the weights,
    2 n_layer T D for the scores q·kᵀ and 2 n_layer T D for the weighted sum of the values. Then
        flops = n_tokens · (2 N + 4 n_layer T D)
        seconds = flops / (peak_flops · mfu)
        cost = seconds / 3600 · price_per_hour

    Args:
        n_params: N, the number of parameters that multiply an activation.
        n_layers: n_layer, the number of transformer blocks.
        d_model: D, the model width.
        context: T, the number of positions each token attends to.
        n_tokens: how many tokens are processed.
        peak_flops: the hardware's peak rate in FLOP/s for the dtype used.
        mfu: the fraction of the peak the run achieves, in (0, 1].
        price_per_hour: what the hardware costs per hour.

    Returns:
        {"flops": ..., "seconds": ..., "cost": ...}, Python floats; cost in the price's currency.
    """
    ### BEGIN SOLUTION
    flops = float(n_tokens * (2 * n_params + 4 * n_layers * context * d_model))
    seconds = flops / (peak_flops * mfu)
    cost = seconds / 3600 * price_per_hour
    return {"flops": flops, "seconds": seconds, "cost": cost}
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.inference_cost"}
self_check("ch11.inference_cost", inference_cost)

# %% [markdown]
# ### Decoding is memory-bound: the roofline
#
# Chapter 7 introduced **arithmetic intensity**, the FLOPs an operation does per byte it moves
# between the GPU's memory and its cores. The **roofline model** (Williams, Waterman & Patterson,
# 2009) turns it into a time. If computing and moving data overlap perfectly, the slower of the
# two decides:
#
# $$t \ge \max\left(\frac{\text{FLOPs}}{\text{peak}}, \frac{\text{bytes}}{\text{bandwidth}}\right).$$
#
# The two terms are equal when the intensity FLOPs / bytes equals the **ridge point**
# $\text{peak} / \text{bandwidth}$. Below it a kernel is **memory-bound**: its speed is set by the
# bandwidth, and the cores wait. Above it the kernel is **compute-bound**. The H100 moves about
# $3.35 \cdot 10^{12}$ bytes/s from its memory (HBM), so its ridge point is
# $989 / 3.35 \approx 295$ FLOPs per byte.
#
# Now look at one step of generation with a batch of $B$ sequences. Every weight has to be read
# from memory once, which is $N \cdot \beta$ bytes for $\beta$ bytes per parameter. Each weight
# then does one multiply-add per sequence, $2NB$ FLOPs in all. So the intensity is
#
# $$I = \frac{2NB}{N\beta} = \frac{2B}{\beta} \quad \text{FLOPs per byte,}$$
#
# whatever the model's size. At $B = 1$ in `bfloat16` ($\beta = 2$) that is 1 FLOP per byte, far
# below the ridge at 295. A single stream of text uses about 0.3% of the GPU's arithmetic, and the
# time per token is simply the time to read the weights: $13.5 \text{ GB} / 3.35 \text{ TB/s}
# \approx 4$ ms for a 7B model. Two things help.
#
# - **Batching.** Serving $B$ users at once reads the weights once for all of them. Up to the
#   ridge ($B \approx 295$ here) the step takes the same 4 ms, so throughput grows $B$-fold and the
#   cost per token falls by the same factor.
# - **Fewer bytes per weight.** At small batches the time is proportional to $\beta$: 8-bit
#   weights decode about twice as fast as 16-bit ones, and 4-bit weights about four times as
#   fast. This is the main reason to quantize a model for inference (11.2).
#
# The estimate leaves out the key/value cache. Each sequence reads its own cache at every step,
# which adds bytes that grow with $B$ and with the context. So the real intensity is lower, and at
# long contexts batching stops helping long before the ridge.

# %% [markdown]
# ### Exercise 2: `decode_arithmetic_intensity` (0.5 points)
#
# Compute the FLOPs of one decoding step, the bytes of weights it reads, and return their ratio.

# %% llmcourse={"role": "answer", "exercise": "ch11.decode_arithmetic_intensity"}
def decode_arithmetic_intensity(n_params, batch_size, bytes_per_param):
    """FLOPs per byte of weights read in one decoding step of batch_size sequences.

    The step does 2·N·B FLOPs (each weight meets one activation per sequence) and reads every
    weight once, N · bytes_per_param bytes. The key/value cache and the activations are ignored.

    Args:
        n_params: N, the number of parameters.
        batch_size: B, the number of sequences decoded together.
        bytes_per_param: bytes per stored weight (2 for bfloat16, 1 for int8, 0.5 for 4 bits).

    Returns:
        A Python float, the arithmetic intensity in FLOPs per byte.
    """
    ### BEGIN SOLUTION
    flops = 2 * n_params * batch_size
    bytes_read = n_params * bytes_per_param
    return flops / bytes_read
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.decode_arithmetic_intensity"}
self_check("ch11.decode_arithmetic_intensity", decode_arithmetic_intensity)

# %%
# Try it: 1000 tokens from a 7B model on one H100, by the FLOP count and by the roofline.
# Example numbers: the H100's dense bfloat16 peak and HBM bandwidth, and a rental price.
N_7B, L_7B, D_7B = 6.74e9, 32, 4096
PEAK, BANDWIDTH, PRICE = 989e12, 3.35e12, 2.50  # FLOP/s, bytes/s, dollars per hour
try:
    naive = inference_cost(N_7B, L_7B, D_7B, 1500, 1000, PEAK, 0.5, PRICE)
    print(f"FLOP count at 50% MFU: {naive['flops']:.3g} FLOPs, {naive['seconds'] * 1e3:.0f} ms, "
          f"${naive['cost']:.6f}")
    ridge = PEAK / BANDWIDTH
    for batch in (1, 64, 256):
        intensity = decode_arithmetic_intensity(N_7B, batch, 2)
        achieved = min(PEAK, intensity * BANDWIDTH)  # the roofline: FLOP/s one can reach
        mfu = achieved / PEAK
        run = inference_cost(N_7B, L_7B, D_7B, 1500, 1000 * batch, PEAK, mfu, PRICE)
        print(f"roofline, batch {batch:3d}: intensity {intensity:5.0f} FLOPs/byte, MFU {mfu:6.2%}, "
              f"{run['seconds']:.1f} s for 1000 tokens each, ${run['cost'] / batch:.6f} per "
              f"sequence")

    batches = torch.logspace(0, math.log10(4096), 200)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    intensities = torch.logspace(-1, 4, 200)
    ax1.loglog(intensities, torch.clamp(intensities * BANDWIDTH, max=PEAK), "k-")
    ax1.axvline(ridge, color="gray", ls=":", label=f"ridge point {ridge:.0f} FLOPs/byte")
    for batch in (1, 16, 256):
        i = decode_arithmetic_intensity(N_7B, batch, 2)
        ax1.plot(i, min(PEAK, i * BANDWIDTH), "o", label=f"decode, batch {batch}, bf16")
    ax1.set(xlabel="arithmetic intensity (FLOPs / byte)", ylabel="attainable FLOP/s",
            title="the roofline of an H100")
    ax1.legend(fontsize=8)
    for beta, name in ((2, "bfloat16 weights"), (1, "int8 weights")):
        rate = [min(PEAK, decode_arithmetic_intensity(N_7B, float(b), beta) * BANDWIDTH)
                / (2 * N_7B) for b in batches]  # tokens/s = attainable FLOP/s / (2N per token)
        line, = ax2.loglog(batches, rate, label=name)
        ax2.axvline(ridge * beta / 2, color=line.get_color(), ls=":")
    ax2.set(xlabel="batch size B", ylabel="tokens / s (all sequences)",
            title="7B decoding (dotted: the batch at the ridge)")
    ax2.legend(fontsize=8)
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement Exercises 1 and 2 first, then re-run this cell.")

# %% [markdown]
# The FLOP count says 1000 tokens take 29 ms. The roofline says about 4 s at batch 1, because
# 1000 sequential steps each read 13.5 GB. An MFU of 50% is a training number; decoding at batch 1
# reaches about 0.3%, and the money follows the time, 150 times more than the FLOP count
# suggests. Batching is nearly free up to the ridge: at batch 256 the same 4 s produce 256
# sequences, and each costs 256 times less. In the right panel, int8 weights double the throughput
# at every batch below the ridge, and they reach the compute roof at half the batch.

# %% [markdown]
# ## 11.2 Quantization
#
# ### Rounding with a scale
#
# To **quantize** a tensor $x$ to $b$ bits, pick a **scale** $s > 0$, store the integers
# $q = \mathrm{round}(x / s)$, and read back $\hat x = s\,q$. The integers use $b$ bits each, and
# the scale is one extra number for the whole tensor (or for a slice of it, below).
#
# **Absmax (symmetric) quantization** maps the largest magnitude to the largest code. With
# $q_{\max} = 2^{b-1} - 1$ (127 at 8 bits, 7 at 4 bits),
#
# $$s = \frac{\max_i |x_i|}{q_{\max}}, \qquad
#   q = \mathrm{clamp}\big(\mathrm{round}(x / s), -q_{\max}, q_{\max}\big).$$
#
# We use the symmetric range $[-127, 127]$ and never $-128$. Then negating a code is exact, and an
# int8 product is at most $127^2$ in size. In exact arithmetic $|x / s| \le q_{\max}$ already, so
# the clamp only catches a quotient that the rounding of $s$ pushed a hair beyond $q_{\max}$.
#
# **The error.** Rounding moves $x/s$ by at most $\frac12$, so every entry has
#
# $$|x - \hat x| \le \frac{s}{2}.$$
#
# On average we can say more. If the positions of the $x_i / s$ between two integers are spread
# evenly, the error $e = x - \hat x$ is uniform on $[-\frac s2, \frac s2]$, and
#
# $$\mathbb{E}[e^2] = \frac{1}{s}\int_{-s/2}^{s/2} e^2 \, de = \frac{s^2}{12}.$$
#
# Each extra bit halves $s$ and divides the mean squared error (MSE) by 4, a gain of 6 dB per bit
# in signal processing terms. The uniform model needs many levels across the data, though. When
# $s$ is larger than the typical $|x|$, most entries round to 0, and the MSE saturates at the
# mean of $x^2$.
#
# **Zero-point (asymmetric) quantization.** Absmax wastes codes on one-sided data. After a ReLU
# all values are $\ge 0$, and the codes $-127, \dots, -1$ are never used. A zero-point quantizer
# maps the range $[\mathit{lo}, \mathit{hi}]$ of the data onto the unsigned codes $0, \dots,
# 2^b - 1$:
#
# $$s = \frac{\mathit{hi} - \mathit{lo}}{2^b - 1}, \qquad z = \mathrm{round}(-\mathit{lo} / s),
#   \qquad q = \mathrm{clamp}\big(\mathrm{round}(x / s) + z, 0, 2^b - 1\big),
#   \qquad \hat x = (q - z)\,s.$$
#
# We widen the range to contain 0: $\mathit{lo} = \min(\min_i x_i, 0)$ and
# $\mathit{hi} = \max(\max_i x_i, 0)$. Then $x = 0$ gets the code $z$ and comes back as exactly
# 0, which zero padding and ReLU outputs need. The zero point $z$ is an integer, so the error
# bound $s/2$ still holds. On all-positive data, $s$ is half the absmax scale for the same
# width, and the MSE is a quarter.

# %% [markdown]
# ### Exercise 3: `quantize_absmax` (1.5 points)
#
# Compute the scale over the whole tensor (`dim=None`, a 0-dim scale) or along one axis (`dim=d`,
# with `keepdim=True`, so that the scale broadcasts against `x`). Replace a scale of 0, from an
# all-zero slice, by 1. Round with `torch.round`, clamp, and return the codes as `torch.int8`.
# The scale keeps `x`'s dtype, and `x / scale` is computed in it.

# %% llmcourse={"role": "answer", "exercise": "ch11.quantize_absmax"}
def quantize_absmax(x, bits=8, dim=None):
    """Symmetric quantization: q = clamp(round(x / scale), -qmax, qmax), qmax = 2^(bits-1) - 1.

    scale = max|x| / qmax, the maximum taken over the whole tensor (dim=None) or along dim; a
    slice whose max|x| is 0 gets scale 1. Rounding is half to even (torch.round).

    Args:
        x: a floating tensor.
        bits: the width, an integer from 2 to 8.
        dim: None (one scale for the whole tensor) or the axis to take max|x| along.

    Returns:
        (q, scale): q torch.int8; scale in x's dtype.

    Shape:
        x: (...)
        q: (...)
        scale: () for dim=None, else x's shape with size 1 at dim
    """
    ### BEGIN SOLUTION
    qmax = 2 ** (bits - 1) - 1
    if dim is None:
        amax = x.abs().max()
    else:
        amax = x.abs().amax(dim=dim, keepdim=True)
    scale = (amax / qmax).masked_fill(amax == 0, 1.0)
    q = torch.round(x / scale).clamp(-qmax, qmax).to(torch.int8)
    return q, scale
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.quantize_absmax"}
self_check("ch11.quantize_absmax", quantize_absmax)

# %% [markdown]
# ### Exercise 4: `quantize_zero_point` (1.5 points)
#
# Follow the formulas above, with the range widened to contain 0 and a range of 0 giving
# scale 1. Three details.
#
# - Round $x / s$ first and then add $z$ **as integers**: $\mathrm{round}(x/s) + z$, not
#   $\mathrm{round}(x/s + z)$. With an odd $z$ the two differ on exact ties, and a hidden case
#   has them.
# - Clamp $z$ to $[0, 2^b - 1]$ as well, as a safeguard. In exact arithmetic
#   $-\mathit{lo}/s \le 2^b - 1$; only a scale rounded down in 16-bit precision, where codes are
#   not graded, can push the quotient past it.
# - Return `q` as `torch.uint8` and `z` as `torch.int64`.

# %% llmcourse={"role": "answer", "exercise": "ch11.quantize_zero_point"}
def quantize_zero_point(x, bits=8, dim=None):
    """Asymmetric quantization onto the unsigned codes 0 .. 2^bits - 1 with a zero point.

    lo = min(min x, 0), hi = max(max x, 0) (over the tensor, or along dim); scale =
    (hi - lo) / (2^bits - 1), or 1 where hi == lo; zero_point = clamp(round(-lo / scale), 0,
    2^bits - 1); q = clamp(round(x / scale) + zero_point, 0, 2^bits - 1), with the zero point
    added after rounding, in integers. Rounding is half to even (torch.round).

    Args:
        x: a floating tensor.
        bits: the width, an integer from 2 to 8.
        dim: None (one scale for the whole tensor) or the axis to take the range along.

    Returns:
        (q, scale, zero_point): q torch.uint8; scale in x's dtype; zero_point torch.int64.

    Shape:
        x: (...)
        q: (...)
        scale, zero_point: () for dim=None, else x's shape with size 1 at dim
    """
    ### BEGIN SOLUTION
    top = 2**bits - 1
    if dim is None:
        lo, hi = x.min(), x.max()
    else:
        lo, hi = x.amin(dim=dim, keepdim=True), x.amax(dim=dim, keepdim=True)
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)
    scale = ((hi - lo) / top).masked_fill(hi == lo, 1.0)
    zero_point = torch.round(-lo / scale).clamp(0, top).to(torch.int64)
    q = (torch.round(x / scale).to(torch.int64) + zero_point).clamp(0, top).to(torch.uint8)
    return q, scale, zero_point
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.quantize_zero_point"}
self_check("ch11.quantize_zero_point", quantize_zero_point)

# %% [markdown]
# ### Exercise 5: `dequantize` (0.5 points)
#
# Return $(q - z)\,s$ in the scale's dtype, with $z = 0$ when `zero_point` is `None` (absmax).
# Convert the codes to a signed integer type before subtracting the zero point (in `uint8`,
# $3 - 5$ would wrap around to 254). Then convert to the scale's dtype and multiply.

# %% llmcourse={"role": "answer", "exercise": "ch11.dequantize"}
def dequantize(q, scale, zero_point=None):
    """(q - zero_point) * scale, computed in scale's dtype.

    Args:
        q: integer codes (torch.int8 or torch.uint8).
        scale: the scale(s) of the quantizer, a floating tensor.
        zero_point: None (means 0, as for absmax) or int64 zero point(s).

    Returns:
        The dequantized tensor, in scale's dtype.

    Shape:
        q: (...)
        scale, zero_point: broadcastable to q (the shapes the quantizers return)
        Output: (...)
    """
    ### BEGIN SOLUTION
    if zero_point is not None:
        q = q.to(torch.int64) - zero_point
    return q.to(scale.dtype) * scale
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.dequantize"}
self_check("ch11.dequantize", dequantize)

# %%
# Try it: a worked example, the error bound, and absmax against zero-point on one-sided data.
try:
    q, s = quantize_absmax(torch.tensor([-1.0, 0.5, 0.25, 1.0]))
    print(f"absmax codes {q.tolist()} with scale 1/{1 / s.item():.0f} (63.5 rounds to even 64)")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, generator=g).abs()  # one-sided data: every value is ≥ 0
    for name, quantized in (("absmax", quantize_absmax(x)), ("zero point", quantize_zero_point(x))):
        q, s = quantized[0], quantized[1]
        err = x - dequantize(*quantized)
        print(f"{name:10}: {q.unique().numel():3d} codes used, max|error| = "
              f"{(err.abs().max() / s).item():.4f} s, MSE {err.square().mean().item():.3e} "
              f"(s²/12 = {(s**2 / 12).item():.3e})")
except NotImplementedError:
    print("Implement Exercises 3-5 first, then re-run this cell.")

# %% [markdown]
# ### Per tensor, per channel, per group
#
# One scale for a whole tensor is the cheapest choice, and also the most fragile. The MSE is
# about $s^2/12$ with $s = \max|x| / q_{\max}$, so **one large entry sets the error of every
# other**. An outlier ten times larger than the rest makes the scale ten times larger and the
# MSE of every entry a hundred times larger. At 4 bits, where $q_{\max} = 7$, the ordinary
# entries then fall below $s/2$ and all round to 0.
#
# The remedy is to use more scales, each for a smaller slice:
#
# - **Per channel**: one scale per output row of a weight matrix (`dim=-1` for an `(out, in)`
#   weight). An outlier spoils its own row only.
# - **Per group**: one scale per run of $g$ consecutive entries of the last axis, typically
#   $g = 64$ or $128$. An outlier spoils its own group only. GPTQ's 4-bit weights (Frantar et
#   al., 2023) and the blockwise quantization of bitsandbytes (Dettmers, Lewis, Shleifer &
#   Zettlemoyer, 2022) use groups.
#
# Scales are not free. A 16-bit scale per group of 64 four-bit weights adds $16/64 = 0.25$ bits
# per weight: 4.25 bits in all instead of 4.

# %% [markdown]
# ### Exercise 6: `quantize_groupwise` (1.5 points)
#
# View the last axis of length $n$ as $n/g$ groups of $g$ entries (a `reshape` to
# `(..., n // g, g)`), quantize with absmax along the new last axis, and reshape back. Call your
# `quantize_absmax`. The scales come back with shape `(..., n // g)`, without the size-1 axis.

# %% llmcourse={"role": "answer", "exercise": "ch11.quantize_groupwise"}
def quantize_groupwise(x, bits=4, group_size=64):
    """Absmax quantization with one scale per group_size consecutive entries of the last axis.

    Group j of a row holds the entries j·group_size .. (j + 1)·group_size - 1; its scale is
    max|group| / qmax (1 for an all-zero group), as in quantize_absmax.

    Args:
        x: a floating tensor whose last axis is divisible by group_size.
        bits: the width, an integer from 2 to 8.
        group_size: g, the number of entries that share a scale.

    Returns:
        (q, scales): q torch.int8; scales in x's dtype.

    Shape:
        x: (..., n), n divisible by group_size
        q: (..., n)
        scales: (..., n // group_size)
    """
    ### BEGIN SOLUTION
    groups = x.reshape(*x.shape[:-1], x.shape[-1] // group_size, group_size)  # (..., n/g, g)
    q, scales = quantize_absmax(groups, bits, dim=-1)  # scales (..., n/g, 1)
    return q.reshape(x.shape), scales.squeeze(-1)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.quantize_groupwise"}
self_check("ch11.quantize_groupwise", quantize_groupwise)

# %% [markdown]
# ### A small GPT to quantize
#
# To see what quantization does to a real model, we train the course's GPT for 200 steps on the
# bundled Markov language (Chapter 9), with 16 tokens and one token of memory. Its loss floor,
# the entropy rate of the language, is printed below. Training takes about 5 to 10 seconds on two
# CPU cores.

# %%
corpus = synthetic_corpus(vocab_size=16, order=1, n_train=50_000, n_val=10_000, seed=0)
_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run
small_gpt = GPT(vocab_size=16, context_length=32, d_model=64, n_layers=2, n_heads=4, d_ff=256)
with torch.no_grad():  # small embeddings: the tied head starts near uniform predictions
    small_gpt.tok_emb.weight.normal_(0.0, 0.02)
optimizer = torch.optim.AdamW(small_gpt.parameters(), lr=3e-3, weight_decay=0.0)
g = torch.Generator().manual_seed(0)
start = time.perf_counter()
for step in range(200):
    x, y = get_batch(corpus.train, 32, 32, generator=g)
    loss = F.cross_entropy(small_gpt(x).flatten(0, 1), y.flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

n_val = (corpus.val.numel() - 1) // 32 * 32
val_x, val_y = corpus.val[:n_val].view(-1, 32), corpus.val[1:n_val + 1].view(-1, 32)


def validation_loss(model):
    with torch.no_grad():
        return F.cross_entropy(model(val_x).flatten(0, 1), val_y.flatten()).item()


print(f"trained in {time.perf_counter() - start:.1f} s: validation loss "
      f"{validation_loss(small_gpt):.4f} nats, floor {corpus.entropy_rate:.4f}")

# %%
# Try it: quantization MSE against the width, for one trained weight (the second feed-forward
# matrix of block 0, shape (64, 256)), as it is and with one entry set to 10 × its max |w|.
def dequantize_groups(q, scales, group_size):
    """Undo quantize_groupwise with your dequantize: each entry times its group's scale."""
    groups = q.reshape(*q.shape[:-1], -1, group_size)  # (..., n / g, g)
    return dequantize(groups, scales.unsqueeze(-1)).reshape(q.shape)


def round_trip(w, bits, scheme):
    if scheme == "per tensor":
        return dequantize(*quantize_absmax(w, bits))
    if scheme == "per channel":
        return dequantize(*quantize_absmax(w, bits, dim=-1))
    return dequantize_groups(*quantize_groupwise(w, bits, 64), 64)


try:
    weight = small_gpt.blocks[0].ffn.w2.weight.detach().float()
    spiked = weight.clone()
    spiked[5, 7] = 10 * weight.abs().max()
    weights = {"trained weight": weight, "with one outlier": spiked}
    bits_range = list(range(2, 9))
    schemes = ("per tensor", "per channel", "groups of 64")
    panels = {title: {scheme: [(round_trip(w, b, scheme) - w).square().mean().item()
                               for b in bits_range] for scheme in schemes}
              for title, w in weights.items()}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
    for ax, (title, w) in zip(axes, weights.items()):
        for scheme in schemes:
            ax.semilogy(bits_range, panels[title][scheme], "o-", label=scheme)
        predicted = [(w.abs().max() / (2 ** (b - 1) - 1)) ** 2 / 12 for b in bits_range]
        ax.semilogy(bits_range, predicted, "k:", label="s²/12, per tensor")
        ax.axhline(w.square().mean().item(), color="gray", lw=0.8, label="mean w² (all → 0)")
        ax.set(xlabel="bits", title=title)
    axes[0].set_ylabel("mean squared error")
    axes[1].legend(fontsize=8)
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement Exercises 3-6 first, then re-run this cell.")

# %% [markdown]
# On the trained weight the three schemes are close: a short training run leaves the weights
# near their random initialization, without outliers. Per tensor follows $s^2/12$, and finer
# scales gain a factor of 2 to 3. With one outlier, the per-tensor error jumps a hundredfold at
# every width. At 2 to 4 bits it reaches the mean of $w^2$, the error of rounding everything to
# 0. Per-channel and groupwise scales hardly notice the outlier, because it spoils one row (1 of
# 64) or one group (1 of 256).
#
# Next we measure what the model loses. We **fake-quantize** every linear weight, replacing $W$
# by $\hat W$ = dequantize(quantize($W$)), and measure the validation loss again. This is what a
# quantized model computes if its matrix products dequantize the weights on the fly, which is how
# weight-only 4-bit inference works. The head is tied to the embedding, so that gets quantized
# too. Most of these matrices have rows of 64 entries, so groups of 64 would equal per-channel
# scales. The table uses groups of 32.

# %%
# Try it: the small GPT's validation loss with all its linear weights fake-quantized.
try:
    original = {name: t.clone() for name, t in small_gpt.state_dict().items()}
    print(f"unquantized: {validation_loss(small_gpt):.4f} nats "
          f"(floor {corpus.entropy_rate:.4f})")
    print("bits   per tensor   per channel   groups of 32")
    for bits in (8, 4, 3, 2):
        row = []
        for scheme in ("tensor", "channel", "group"):
            with torch.no_grad():
                for module in small_gpt.modules():
                    if isinstance(module, torch.nn.Linear):
                        w = module.weight
                        if scheme == "tensor":
                            w_hat = dequantize(*quantize_absmax(w, bits))
                        elif scheme == "channel":
                            w_hat = dequantize(*quantize_absmax(w, bits, dim=-1))
                        else:
                            w_hat = dequantize_groups(*quantize_groupwise(w, bits, 32), 32)
                        w.copy_(w_hat)
            row.append(validation_loss(small_gpt))
            small_gpt.load_state_dict(original)
        print(f"{bits:4d}   " + "   ".join(f"{v:11.4f}" for v in row))
except NotImplementedError:
    print("Implement Exercises 3-6 first, then re-run this cell.")

# %% [markdown]
# At 8 bits the loss moves by at most 0.0001 nats. At 4 bits per-tensor scales cost about
# 0.005 nats, and per-channel or groupwise scales less than half of that. Below 4 bits the schemes
# separate clearly. Large models show the same pattern: across many model families, Dettmers &
# Zettlemoyer (2023) found 4-bit weights with small groups to give the best accuracy for a given
# number of bits. But large models also have outliers in their activations, which this small one
# lacks, and those are the subject of the rest of this section.

# %% [markdown]
# ### Integer matrix products
#
# Quantized weights save memory even if every product dequantizes them first. To save
# **arithmetic** as well, the product itself must run on integers. GPUs multiply int8 matrices
# with int32 accumulators, at twice the `bfloat16` rate or more. Take activations $x$ of shape
# $(n, D)$, quantized with one scale $s_i$ per row (per token), and a weight $w$ of shape
# $(D, F)$, quantized with one scale $t_j$ per column (per output feature). Then
#
# $$(x w)_{ij} \approx \sum_k (s_i\, q_{ik}) (t_j\, r_{kj}) = s_i\, t_j \sum_k q_{ik}\, r_{kj}.$$
#
# The scales come out of the sum because neither depends on $k$. That is why the scales go per
# row of $x$ and per column of $w$: a scale per inner index $k$ could not be pulled out, and the
# sum would no longer be a plain integer product. What is left is an integer matrix product,
# followed by one multiplication per output entry.
#
# **The accumulator.** With $|q|, |r| \le 127$, each product is at most $127^2 = 16\,129$ in size,
# and a sum of $D$ of them at most $16\,129\,D$. An int32 accumulator holds up to
# $2^{31} - 1 = 2\,147\,483\,647$, so the sum is exact as long as
#
# $$D \le \left\lfloor \frac{2^{31} - 1}{127^2} \right\rfloor = 133\,144.$$
#
# (This is one more benefit of the symmetric range: with $-128$ allowed, $(-128)^2 = 16\,384$
# would lower the limit to 131 071.) Real models stay far below it: even a feed-forward width of
# $4 \cdot 12\,288$ is under 50 000.

# %% [markdown]
# ### Exercise 7: `int8_matmul` (1.5 points)
#
# Compute the integer product exactly, then convert it to the scale's dtype and multiply by
# `a_scale` and then by `b_scale`, in that order. PyTorch has no int8 matrix product that runs
# everywhere (its `matmul` does not accept integer tensors on CUDA), so accumulate in `float64`.
# Every product and partial sum is an integer below $2^{31}$, and `float64` holds every integer
# up to $2^{53}$ exactly, so the sum is exact in any order, as an int32 accumulator would compute
# it. Raise `ValueError` when the inner dimension exceeds 133 144.

# %% llmcourse={"role": "answer", "exercise": "ch11.int8_matmul"}
def int8_matmul(a_q, a_scale, b_q, b_scale):
    """(a_q @ b_q) · a_scale · b_scale, with the integer product accumulated exactly.

    The accumulation must be exact, as an int32 accumulator's is while it cannot overflow
    (inner dimension D ≤ 133 144, since 133 144 · 127² ≤ 2^31 - 1). The exact integer result is
    converted to a_scale's dtype, multiplied by a_scale and then by b_scale.

    Args:
        a_q: torch.int8 codes of the activations, one row per token.
        a_scale: a_q's per-row scales.
        b_q: torch.int8 codes of the weight.
        b_scale: b_q's per-column scales, in a_scale's dtype.

    Returns:
        The product, in a_scale's dtype.

    Raises:
        ValueError: if D > 133 144.

    Shape:
        a_q: (n, D); a_scale: (n, 1)
        b_q: (D, F); b_scale: (1, F)
        Output: (n, F)
    """
    ### BEGIN SOLUTION
    if a_q.shape[-1] > (2**31 - 1) // 127**2:
        raise ValueError("inner dimension too large: an int32 accumulator could overflow")
    exact = a_q.double() @ b_q.double()  # (n, F), integers below 2^31: exact in float64
    return exact.to(a_scale.dtype) * a_scale * b_scale
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.int8_matmul"}
self_check("ch11.int8_matmul", int8_matmul)

# %% [markdown]
# ### Outlier features and LLM.int8
#
# Dettmers et al. (2022) found that large transformers develop **outlier features**. From about
# 6.7B parameters on, a handful of hidden dimensions carry activations up to 20 times larger than
# the rest, in most tokens and most layers. Quantizing such activations per row fails for the
# reason we saw with the planted outlier in a weight: the outlier sets the row's scale, and
# every other entry of the row is rounded to a few levels. Their fix, **LLM.int8**, splits the
# product by feature. Let $O$ be the set of columns of $x$ where some $|x_{ik}| \ge \tau$ (they
# use $\tau = 6$), and $R$ the others:
#
# $$x w = x_{:,O}\, w_{O,:} + x_{:,R}\, w_{R,:}.$$
#
# The first term is a thin product (few columns) computed in 16-bit floating point. The second
# term holds more than 99.9% of the features, and it runs in int8, with row scales for
# $x_{:,R}$ and column scales for $w_{R,:}$. Those row scales are now set by the ordinary
# features.
#
# **The error bound.** The outlier term is computed exactly, up to floating-point rounding, and
# so is the integer sum. The only error comes from rounding the factors of the int8 term. Write
# them as $x_{ik} + e_{ik}$ and $w_{kj} + f_{kj}$, with $|e_{ik}| \le s_i / 2$ and
# $|f_{kj}| \le t_j / 2$, where $s_i$ and $t_j$ are the scales over $R$. Then
#
# $$\Delta_{ij} = \sum_{k \in R} \big[(x_{ik} + e_{ik})(w_{kj} + f_{kj}) - x_{ik} w_{kj}\big]
#   = \sum_{k \in R} \big(e_{ik} w_{kj} + x_{ik} f_{kj} + e_{ik} f_{kj}\big),$$
#
# $$|\Delta_{ij}| \le \frac{s_i}{2} \sum_{k \in R} |w_{kj}| + \frac{t_j}{2} \sum_{k \in R} |x_{ik}|
#   + |R|\, \frac{s_i\, t_j}{4}.$$
#
# The bound is linear in $s_i$, and $s_i = \max_{k \in R} |x_{ik}| / 127$ no longer contains the
# outliers. Removing them shrinks the first and last terms by the ratio of the outlier to the
# ordinary magnitude.

# %% [markdown]
# ### Exercise 8: `outlier_decomposed_matmul` (2 points)
#
# Find the outlier columns of `x` (any entry with $|x| \ge \tau$: the threshold is inclusive).
# Multiply them with the matching rows of `w` in `x`'s floating dtype. Quantize the remaining
# columns of `x` per row and the matching rows of `w` per column, with **your**
# `quantize_absmax` at 8 bits, and multiply them with **your** `int8_matmul`. Return the sum of
# the two parts, in that order (outlier part + int8 part). If there are no outliers, the first
# part is a zero matrix, and `x[:, mask] @ w[mask]` with an all-False mask gives exactly that. If
# every column is an outlier, skip the int8 part.

# %% llmcourse={"role": "answer", "exercise": "ch11.outlier_decomposed_matmul"}
def outlier_decomposed_matmul(x, w, threshold=6.0):
    """LLM.int8's decomposition of x @ w: outlier features in floating point, the rest in int8.

    The outlier features are the columns k of x with some |x[i, k]| ≥ threshold. Their part,
    x[:, outliers] @ w[outliers], is computed in x's dtype. The other columns of x are quantized
    per row (quantize_absmax, 8 bits, dim=-1), the matching rows of w per column (8 bits,
    dim=0), and multiplied with int8_matmul. The result is outlier part + int8 part.

    Args:
        x: floating activations, one row per token.
        w: a floating weight, in x's dtype.
        threshold: τ, the magnitude from which a feature counts as an outlier.

    Returns:
        The approximate product x @ w, in x's dtype.

    Shape:
        x: (n, D); w: (D, F)
        Output: (n, F)
    """
    ### BEGIN SOLUTION
    outliers = (x.abs() >= threshold).any(dim=0)  # (D,)
    out = x[:, outliers] @ w[outliers]  # (n, F)
    rest = ~outliers
    if rest.any():
        x_q, x_scale = quantize_absmax(x[:, rest], 8, dim=-1)  # (n, r), (n, 1), r = |R|
        w_q, w_scale = quantize_absmax(w[rest], 8, dim=0)  # (r, F), (1, F)
        out = out + int8_matmul(x_q, x_scale, w_q, w_scale)
    return out
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.outlier_decomposed_matmul"}
self_check("ch11.outlier_decomposed_matmul", outlier_decomposed_matmul)

# %%
# Try it: activations of 64 tokens × 512 features, standard normal except 4 features of
# magnitude 20 to 60, times a weight of standard deviation 1/√512. Errors against x @ w in float64.
try:
    g = torch.Generator().manual_seed(0)
    n_tok, d_in, d_out, cols = 64, 512, 256, [3, 100, 257, 400]
    x = torch.randn(n_tok, d_in, generator=g, dtype=torch.float64)
    x_clean = x.clone()
    sizes = 20 + 40 * torch.rand(n_tok, len(cols), generator=g, dtype=torch.float64)
    x[:, cols] = sizes * torch.randn(n_tok, len(cols), generator=g, dtype=torch.float64).sign()
    w = torch.randn(d_in, d_out, generator=g, dtype=torch.float64) / d_in**0.5

    def plain_int8(a, b):
        a_q, a_s = quantize_absmax(a, 8, dim=-1)
        b_q, b_s = quantize_absmax(b, 8, dim=0)
        return int8_matmul(a_q, a_s, b_q, b_s)

    truth = x @ w
    rms = truth.square().mean().sqrt().item()
    cases = [("int8, no outliers in x", plain_int8(x_clean, w) - x_clean @ w),
             ("int8, with outliers", plain_int8(x, w) - truth),
             ("LLM.int8 decomposition", outlier_decomposed_matmul(x, w) - truth)]
    print(f"entries of x @ w have RMS {rms:.2f}")
    for name, err in cases:
        print(f"{name:24}: max |error| {err.abs().max().item():.4f}, "
              f"RMS error {err.square().mean().sqrt().item():.4f}")
except NotImplementedError:
    print("Implement Exercises 3, 7 and 8 first, then re-run this cell.")

# %% [markdown]
# Without outliers, int8 with row and column scales is accurate to a fraction of a percent of
# the output's size. Four outlier features make the row scales 10 to 20 times larger, and the
# error grows by about as much. Taking the four features out restores the accuracy of the clean
# case, at the price of a product with four columns in floating point.

# %% [markdown]
# ## 11.3 Bias measured as statistics
#
# A model learns whatever regularities its training text contains, including stereotypes. To
# discuss that with numbers we need statistics with a clear definition, an uncertainty, and a
# clear statement of what they do not measure. We look at two kinds: an association test on
# embeddings, and gaps between groups in a classifier's decisions.
#
# ### The Word Embedding Association Test (WEAT)
#
# Caliskan, Bryson & Narayanan (2017) carried the Implicit Association Test from psychology over
# to word embeddings. Take two sets of **target** words $X$ and $Y$ (say, flowers and insects)
# and two sets of **attribute** words $A$ and $B$ (pleasant and unpleasant words). The
# **association** of a word $w$ with $A$ rather than $B$ is
#
# $$s(w, A, B) = \frac{1}{|A|} \sum_{a \in A} \cos(w, a) - \frac{1}{|B|} \sum_{b \in B} \cos(w, b).$$
#
# The test statistic and the effect size compare the targets:
#
# $$S = \sum_{x \in X} s(x, A, B) - \sum_{y \in Y} s(y, A, B), \qquad
#   d = \frac{\operatorname{mean}_{x \in X} s(x) - \operatorname{mean}_{y \in Y} s(y)}
#            {\operatorname{std}_{w \in X \cup Y} s(w)}.$$
#
# $d$ is a standardized difference of means, like Cohen's $d$. It is positive when $X$ is closer
# to $A$ than $Y$ is. The paper writes only "std-dev", and we use the **sample** standard
# deviation (divisor $n - 1$, Bessel's correction, `torch.std`'s default) over the $n = |X| + |Y|$
# target words. Because the denominator is the spread of all targets together, which includes the
# difference between the two sets, $|d|$ is bounded. For equal sets it is at most
# $2\sqrt{(n-1)/n}$, a value reached when every word in a set has the same association.
#
# ### Is it more than chance? The permutation test
#
# With eight words per set, $d$ can be sizable by chance alone. The null hypothesis is that the
# labels "X" and "Y" do not matter: the two sets do not differ in their association. If so,
# every split of the $n$ target words into sets of sizes $|X|$ and $|Y|$ was equally likely to be
# the one we observed. The p-value is the fraction of splits whose statistic is at least the
# observed one:
#
# $$p = P_{\text{splits}}\big(S_{\text{split}} \ge S_{\text{obs}}\big).$$
#
# The test is one-sided, and large $S$ means $X$ is closer to $A$. With 16 words there are
# $\binom{16}{8} = 12\,870$ splits, but with 25 per set there are $10^{14}$, so we draw random
# splits instead. With $n_{\text{perm}}$ random draws the estimate is
#
# $$\hat p = \frac{1 + \#\{\text{draws with } S_{\text{perm}} \ge S_{\text{obs}}\}}
#   {1 + n_{\text{perm}}}.$$
#
# **Why add one.** Under the null hypothesis the observed split is just one more draw from the same
# distribution. So the $n_{\text{perm}} + 1$ statistics are exchangeable, and the rank of the
# observed one among them is uniform. Counting it gives $P(\hat p \le \alpha) \le \alpha$ for any
# $n_{\text{perm}}$: the test is valid however few draws we take. It also means that $\hat p$ is
# never 0. A p-value of 0 from a finite sample would claim a certainty that the sample cannot give
# (Phipson & Smyth, 2010).
#
# One more observation: the denominator of $d$ uses all $n$ words, so it is the same for every
# split. For fixed set sizes $d$ is therefore an increasing function of $S$, and permuting $d$
# gives the same test.

# %% [markdown]
# ### Exercise 9: `weat_effect_size` (1.5 points)
#
# Compute the cosines of every target with every attribute (normalize the rows, then one matrix
# product per attribute set). Clamp each norm at $10^{-12}$, so that a zero vector gets cosine 0.
# Then compute $d$ with `torch.std` (sample std). Write the association as a helper inside the
# answer cell: Exercise 10 needs it too, and each answer cell is graded on its own.

# %% llmcourse={"role": "answer", "exercise": "ch11.weat_effect_size"}
def weat_effect_size(X, Y, A, B):
    """WEAT effect size d = (mean_x s(x) - mean_y s(y)) / std_{w in X ∪ Y} s(w).

    s(w) = mean_a cos(w, a) - mean_b cos(w, b); the std is the sample std (divisor n - 1) over
    the n = nx + ny target words. Cosines divide by the norms clamped at 1e-12 (a zero vector has
    cosine 0). Positive when X is more associated with A (and Y with B).

    Args:
        X, Y: the target words' embeddings, one word per row.
        A, B: the attribute words' embeddings, one word per row.

    Returns:
        A 0-dim tensor in the inputs' dtype.

    Shape:
        X: (nx, D); Y: (ny, D); A: (na, D); B: (nb, D): nx, ny, na, nb words
        Output: ()
    """
    ### BEGIN SOLUTION
    def association(W):
        unit = F.normalize(W, dim=-1, eps=1e-12)
        to_a = unit @ F.normalize(A, dim=-1, eps=1e-12).T  # (n, na)
        to_b = unit @ F.normalize(B, dim=-1, eps=1e-12).T  # (n, nb)
        return to_a.mean(-1) - to_b.mean(-1)  # (n,)

    s_x, s_y = association(X), association(Y)
    return (s_x.mean() - s_y.mean()) / torch.cat([s_x, s_y]).std()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.weat_effect_size"}
self_check("ch11.weat_effect_size", weat_effect_size)

# %% [markdown]
# ### Exercise 10: `weat_p_value` (2 points)
#
# Follow the recipe in the docstring exactly. The grader replays it with the same seeded
# generator and expects the same count. Two points need care:
#
# - Call `torch.randperm(n, generator=generator)` once per draw, in order. Do not draw anything
#   else from the generator.
# - Compute **every** statistic, the observed one included, as one sum over the $n$ words in
#   their order in `cat([X, Y])`, with $+s(w)$ for the words in the new $X$ and $-s(w)$ for the
#   others. A draw that repeats the observed split then gives exactly $S_{\text{obs}}$, bit for
#   bit. With 3 + 3 words, 1 draw in 20 does so. If you summed in the permuted order instead,
#   rounding could put such a draw a hair below $S_{\text{obs}}$, and it would not be counted.
#
# A vectorized way: build a `(1 + n_perm, n)` matrix of signs, all $-1$ to start with (row 0 for the
# observed split), set the entries `perm[:nx]` of each row to $+1$, and sum `signs * s` along
# the last axis.

# %% llmcourse={"role": "answer", "exercise": "ch11.weat_p_value"}
def weat_p_value(X, Y, A, B, n_permutations, generator=None):
    """One-sided permutation p-value of the WEAT statistic S = Σ_{x∈X} s(x) - Σ_{y∈Y} s(y).

    The recipe:
      1. s = s(w, A, B) for each row w of W = torch.cat([X, Y]), n = nx + ny rows, with the
         cosines of weat_effect_size.
      2. For each of the n_permutations draws, in order:
         perm = torch.randperm(n, generator=generator); the rows perm[:nx] of W form the new X,
         the other rows the new Y.
      3. Each statistic (the observed split's and every draw's) is the sum, over the n rows of W
         in their order, of +s(w) for the rows in X and -s(w) for the rows in Y.
      4. p = (1 + #{draws with S_perm ≥ S_obs}) / (1 + n_permutations).

    Args:
        X, Y: the target words' embeddings, one word per row.
        A, B: the attribute words' embeddings, one word per row.
        n_permutations: n_perm ≥ 1, the number of random splits.
        generator: the torch.Generator for torch.randperm (None: the global one).

    Returns:
        A Python float in (0, 1].

    Shape:
        X: (nx, D); Y: (ny, D); A: (na, D); B: (nb, D): nx, ny, na, nb words
    """
    ### BEGIN SOLUTION
    def association(W):
        unit = F.normalize(W, dim=-1, eps=1e-12)
        to_a = unit @ F.normalize(A, dim=-1, eps=1e-12).T  # (n, na)
        to_b = unit @ F.normalize(B, dim=-1, eps=1e-12).T  # (n, nb)
        return to_a.mean(-1) - to_b.mean(-1)  # (n,)

    s = association(torch.cat([X, Y]))  # (n,)
    n, n_x = s.shape[0], X.shape[0]
    signs = -torch.ones(n_permutations + 1, n, dtype=s.dtype, device=s.device)
    signs[0, :n_x] = 1  # row 0: the observed split
    for row in range(1, n_permutations + 1):
        perm = torch.randperm(n, generator=generator)
        signs[row, perm[:n_x]] = 1
    stats = (signs * s).sum(dim=-1)  # (1 + n_perm,)
    exceed = int((stats[1:] >= stats[0]).sum())
    return (1 + exceed) / (1 + n_permutations)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.weat_p_value"}
self_check("ch11.weat_p_value", weat_p_value)

# %% [markdown]
# ### Try it: WEAT on embeddings with a planted bias
#
# `planted_bias_embeddings(n_per_set, dim, bias, generator)` (from `reference.fairness`) draws
# four sets of random vectors with a bias of known size. Every word is fresh noise $z$ of length
# about 1. The attribute words are $a = e_A + z$ and $b = e_B + z$, for two orthogonal unit
# directions $e_A$ and $e_B$. The targets are $x = z + \text{bias}\, e_A$ and
# $y = z + \text{bias}\, e_B$. With bias 0 the null hypothesis holds exactly. Below: 8 words per
# set in 8 dimensions, three independent draws for each bias, and 999 permutations per p-value.

# %%
try:
    g = torch.Generator().manual_seed(0)
    print("bias    " + "   ".join(f"draw {i}: d,    p   " for i in (1, 2, 3)))
    for bias in (0.0, 0.25, 0.5, 1.0):
        cells = []
        for _ in range(3):
            X, Y, A, B = planted_bias_embeddings(8, 8, bias, g)
            d = weat_effect_size(X, Y, A, B).item()
            p = weat_p_value(X, Y, A, B, 999, g)
            cells.append(f"{d:+.2f}, {p:.3f}")
        print(f"{bias:4.2f}    " + "    ".join(f"{c:>17}" for c in cells))
except NotImplementedError:
    print("Implement `weat_effect_size` and `weat_p_value` first, then re-run this cell.")

# %%
# Try it: the permutation distribution of d (2000 random splits) and the observed d.
try:
    g = torch.Generator().manual_seed(1)
    runs = []
    for bias in (0.0, 0.5):
        X, Y, A, B = planted_bias_embeddings(8, 8, bias, g)
        words = torch.cat([X, Y])
        permuted = []
        for _ in range(2000):
            perm = torch.randperm(16, generator=g)
            permuted.append(weat_effect_size(words[perm[:8]], words[perm[8:]], A, B).item())
        observed = weat_effect_size(X, Y, A, B).item()
        runs.append((bias, permuted, observed, weat_p_value(X, Y, A, B, 1999, g)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
    for ax, (bias, permuted, observed, p) in zip(axes, runs):
        ax.hist(permuted, bins=40, color="C0", alpha=0.8, label="random splits")
        ax.axvline(observed, color="C3", lw=2, label=f"observed d = {observed:.2f}, p = {p:.3f}")
        ax.set(xlabel="effect size d", title=f"bias {bias}")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("count")
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement `weat_effect_size` and `weat_p_value` first, then re-run this cell.")

# %% [markdown]
# With 8 words per set, chance alone produces effect sizes of $\pm 0.5$ or more, so an effect
# size without its p-value says little. The same bias also gives quite different results from one
# draw of words to the next. As the bias grows, $d$ approaches its bound of about 2, and the
# p-value reaches its floor of $1/1000$: no random split beats the observed one. That floor is
# $1/(1 + n_{\text{perm}})$, so a smaller p-value needs more permutations, not a larger effect.

# %% [markdown]
# ### Gaps between groups: demographic parity and equalized odds
#
# The second kind of measurement looks at decisions. A binary classifier predicts
# $\hat y \in \{0, 1\}$ (approve a loan, flag a message) for people who belong to groups $g$.
# The true outcome is $y \in \{0, 1\}$.
#
# - **Demographic parity** asks that the rate of positive decisions be the same in every group,
#   $P(\hat y = 1 \mid g)$. We report the gap
#   $\max_g P(\hat y = 1 \mid g) - \min_g P(\hat y = 1 \mid g)$.
# - **Equalized odds** (Hardt, Price & Srebro, 2016) asks for equal rates **given the true
#   outcome**: the same true-positive rate $\mathrm{TPR}_g = P(\hat y = 1 \mid y = 1, g)$ and the
#   same false-positive rate $\mathrm{FPR}_g = P(\hat y = 1 \mid y = 0, g)$ in every group. We
#   report the larger of the two gaps,
#   $\max\big(\max_g \mathrm{TPR}_g - \min_g \mathrm{TPR}_g,\; \max_g \mathrm{FPR}_g - \min_g
#   \mathrm{FPR}_g\big)$. Requiring only equal TPRs is called *equal opportunity*.
#
# The two criteria disagree whenever the groups' **base rates** $P(y = 1 \mid g)$ differ. A
# perfect classifier, $\hat y = y$, has TPR 1 and FPR 0 in every group, so its equalized-odds gap
# is 0. Its parity gap, however, equals the difference of the base rates. A third criterion,
# **calibration**, asks that a score $r$ mean the same in every group: $P(y = 1 \mid r, g) = r$.
# Kleinberg, Mullainathan & Raghavan (2016) proved that a score cannot be calibrated within
# groups and also give the same average score, in every group, to the people with $y = 1$ and to
# the people with $y = 0$, unless the base rates are equal or the prediction is perfect.
# Chouldechova (2017) showed the same for thresholded decisions: with different base rates, a
# classifier whose positive predictions are equally reliable in every group cannot also have
# equal false-positive and false-negative rates. So some gap must remain, and choosing which one
# to close is a decision about values that the statistics cannot make.

# %% [markdown]
# ### Exercise 11: `demographic_parity_difference` (0.5 points)
#
# Compute each group's rate as (number of positive predictions) / (number of examples) over the
# examples that count, in `float64`. Taking `.double().mean()` of the selected predictions does
# this exactly. Use the groups present in `groups` (`torch.unique`), and return a Python float.
# The same holds for Exercise 12.

# %% llmcourse={"role": "answer", "exercise": "ch11.demographic_parity_difference"}
def demographic_parity_difference(predictions, groups):
    """max_g P(ŷ = 1 | g) - min_g P(ŷ = 1 | g) over the groups present (0.0 for a single group).

    Each rate is (positive predictions in g) / (examples in g), computed in float64.

    Args:
        predictions: 0/1 predictions (int or bool).
        groups: integer group ids.

    Returns:
        A Python float in [0, 1].

    Shape:
        predictions: (n,); groups: (n,), n examples
    """
    ### BEGIN SOLUTION
    rates = [predictions[groups == g].double().mean().item() for g in torch.unique(groups)]
    return max(rates) - min(rates)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.demographic_parity_difference"}
self_check("ch11.demographic_parity_difference", demographic_parity_difference)

# %% [markdown]
# ### Exercise 12: `equalized_odds_difference` (1.5 points)
#
# Compute the TPR gap over the examples with $y = 1$ and the FPR gap over those with $y = 0$, each
# as in Exercise 11, and return the larger. The grader's cases give every group at least one
# example of each label.

# %% llmcourse={"role": "answer", "exercise": "ch11.equalized_odds_difference"}
def equalized_odds_difference(predictions, labels, groups):
    """The larger of the true-positive-rate gap and the false-positive-rate gap across groups.

    TPR_g = P(ŷ = 1 | y = 1, g) and FPR_g = P(ŷ = 1 | y = 0, g), each computed in float64 as a
    count over a count; the result is max(max_g TPR_g - min_g TPR_g, max_g FPR_g - min_g FPR_g).
    Every group has at least one example with y = 1 and one with y = 0.

    Args:
        predictions: 0/1 predictions (int or bool).
        labels: 0/1 true outcomes (int or bool).
        groups: integer group ids.

    Returns:
        A Python float in [0, 1].

    Shape:
        predictions: (n,); labels: (n,); groups: (n,), n examples
    """
    ### BEGIN SOLUTION
    def gap(condition):
        rates = [predictions[(groups == g) & condition].double().mean().item()
                 for g in torch.unique(groups)]
        return max(rates) - min(rates)

    return max(gap(labels == 1), gap(labels == 0))
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch11.equalized_odds_difference"}
self_check("ch11.equalized_odds_difference", equalized_odds_difference)

# %%
# Try it: a calibrated score in two groups with different base rates. Each person has a true
# probability r of the outcome (higher on average in group 1), the outcome is drawn with that
# probability, and the classifier predicts 1 when r ≥ 0.5. The score r is calibrated by
# construction: among people with score r, a fraction r have y = 1, in both groups.
try:
    g = torch.Generator().manual_seed(0)
    n = 50_000
    groups = (torch.rand(n, generator=g) < 0.5).long()
    risk = torch.sigmoid(torch.randn(n, generator=g) * 1.5 + torch.where(groups == 1, 0.6, -0.9))
    labels = (torch.rand(n, generator=g) < risk).long()
    for grp in (0, 1):
        band = (groups == grp) & (risk > 0.6) & (risk < 0.7)
        print(f"group {grp}: base rate {labels[groups == grp].double().mean():.3f}; among scores "
              f"in (0.6, 0.7), P(y = 1) = {labels[band].double().mean():.3f}")

    # group thresholds that give both groups the positive rate of the single threshold 0.5
    target = (risk >= 0.5).float().mean()
    cut = torch.stack([torch.quantile(risk[groups == grp], 1 - target) for grp in (0, 1)])
    classifiers = {"calibrated score, threshold 0.5": (risk >= 0.5).long(),
                   "perfect: ŷ = y": labels,
                   "one threshold per group, for parity": (risk >= cut[groups]).long()}
    print(f"\n{'classifier':38} parity gap   equalized-odds gap   accuracy")
    for name, pred in classifiers.items():
        print(f"{name:38} {demographic_parity_difference(pred, groups):10.3f}   "
              f"{equalized_odds_difference(pred, labels, groups):18.3f}   "
              f"{(pred == labels).double().mean():8.3f}")
except NotImplementedError:
    print("Implement Exercises 11 and 12 first, then re-run this cell.")

# %% [markdown]
# The calibrated classifier treats every person by their own risk, with one threshold for all.
# It still has a large parity gap, because group 1 really does have the outcome more often, and
# its positive rate follows its base rate. Its error rates differ as well: more of group 1 lies
# above 0.5, so both its TPR and its FPR are higher (0.84 and 0.38, against 0.55 and 0.13 in
# group 0). The perfect classifier has no equalized-odds gap, and its parity gap is the
# difference of the base rates, $0.600 - 0.347$. Separate thresholds per group (here about 0.32
# for group 0 and 0.67 for group 1) close the parity gap. But then a person in group 0 with risk
# 0.35 is predicted positive and a person in group 1 with risk 0.65 is not, the decisions no
# longer follow the calibrated score, and accuracy drops. Each number answers a different
# question, and no classifier here satisfies all of them.
#
# ### What these numbers can and cannot show
#
# - **An association is not a harm.** A WEAT effect measures the geometry of a representation.
#   Whether a system built on it treats anyone worse has to be measured on that system's
#   decisions, for the people it affects (Blodgett et al., 2020).
# - **The word lists are part of the result.** The p-value treats $X, Y, A, B$ as given. It
#   says how unusual this split of these words is, not how the concepts behind them are
#   associated. Other reasonable lists can give a different result; Antoniak & Mimno (2021)
#   show how much the choice of such "seed" words matters.
# - **Group gaps conflict.** Demographic parity, equalized odds and calibration cannot all hold
#   when base rates differ (Kleinberg et al., 2016; Chouldechova, 2017). A report should say
#   which criterion it uses and why.
# - **Small groups are noisy.** A rate computed over 20 people has a standard error of up to
#   0.11. Compare gaps with their uncertainty, as the permutation test does for the WEAT.

# %% [markdown]
# ## Summary
#
# - A transformer has about $12\,n_{\text{layer}} D^2$ parameters. A forward pass costs
#   $2N + 4\,n_{\text{layer}} T D$ FLOPs per token, and training about $6\,N D_{\text{tok}}$.
#   Time is FLOPs / (peak · MFU), and money is time × price.
# - Decoding reads every weight once per step and does $2B$ FLOPs per weight, an arithmetic
#   intensity of $2B/\beta$ FLOPs per byte. That is far below the ridge point of a GPU
#   (about 300), so small-batch decoding is memory-bound. Batching and fewer bytes per weight
#   both speed it up.
# - Quantization stores $\mathrm{round}(x/s)$ in $b$ bits. The error is at most $s/2$ per entry
#   and about $s^2/12$ in mean square. Absmax uses the symmetric range, and zero-point makes 0
#   exact and uses all codes on one-sided data. Per-channel and groupwise scales confine an
#   outlier's damage to its row or its group.
# - Integer matrix products need row scales for the activations and column scales for the
#   weight. An int32 accumulator is exact for inner dimensions up to 133 144. LLM.int8 keeps the
#   few outlier features in floating point and the rest in int8.
# - The WEAT effect size is a standardized difference of associations. Its permutation p-value,
#   with the add-one rule, is valid for any number of draws. Demographic parity and equalized
#   odds are gaps of rates between groups. They conflict with each other and with calibration
#   when base rates differ, and none of them is by itself a measurement of harm.
