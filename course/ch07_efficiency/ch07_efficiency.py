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
# # Chapter 7 — Efficiency and variants of Transformers
#
# A transformer is a handful of matrix products. How *many* — and how much memory they need — decides
# what context length, batch size and model fits on a machine. The notebook follows Sections 7.1–7.5
# of the book: it does the arithmetic first (FLOPs, bytes), then builds the ideas that changed what is
# affordable:
#
# 1. (7.1) `attention_flops` and `transformer_flops_per_token`: the cost of a forward pass;
# 2. (7.2) `parameter_bytes`, `training_memory_bytes` and `kv_cache_bytes`: where the memory goes;
# 3. (7.3) two derivations (the online softmax's update, the share of a causal mask), then
#    `flash_attention_forward`, `flash_attention_backward` and `FlashAttentionFunction`: exact
#    attention, tile by tile, **without ever holding the $L \times S$ score matrix** — graded on its
#    memory and on the work it skips, not only on its values — and `triton_flash_attention_forward`,
#    the same forward pass as one GPU kernel (graded where a CUDA GPU is present);
# 4. (7.4) variants of attention: `grouped_query_attention` and `KVCache` share keys and values
#    between heads and reuse them between decoding steps; `glu` and `gated_attention_output` are
#    multiplicative gates;
# 5. (7.5) `low_rank_approximation`, `linformer_attention`, `performer_features` and
#    `performer_attention`: low-rank and random-feature views of attention, with linear cost.
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
# - The cell marked **given** holds attention from Chapter 4. Use it, do not edit it: the grader runs
#   its own copy.
# - Two answers are **formulas** you derive on paper (the cells titled *Derivation*): a function of
#   the named symbols that returns your formula, written with `+ - * / **` and `exp`, `log`, `sqrt`,
#   `Max` (local names for parts of it are fine). The grader reads the formula, does not run it,
#   and compares it with the reference formula at many random points, so any correct form passes.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** A helper your answer needs must be in the same cell.
# - Counts (FLOPs, bytes) are compared **exactly**: return Python `int`s (a float that equals the
#   count passes, one that has been rounded fails). Tensors are compared in `float64`, `float32` and
#   `bfloat16` with tolerances that follow the dtype: about as accurate as a straightforward
#   implementation in that dtype.
# - `flash_attention_forward` and `flash_attention_backward` are also graded on **how** they compute:
#   while they run, the grader records the largest tensor they create and counts their matrix-product
#   FLOPs. A tensor above the exact budget stated in Exercise 6 (an $L\times S$ matrix, or a row
#   block of scores, `block_q` × $S$), or FLOPs spent on tiles that the causal mask hides completely,
#   fail the case with a message that says which. `FlashAttentionFunction` is graded on what it
#   keeps between the passes, and `performer_attention` on its largest tensor (no $L \times S$
#   matrix in either).
# - Each exercise names the **built-ins you may not call**. Anything else in PyTorch is fine.
#
# ## Conventions
#
# - Dimension letters, as in the course's glossary
#   ([docs/NOTATION.md](../../docs/NOTATION.md), which also lists the symbols of the formulas):
#   `B` batch size, `T` sequence length, `L` number of queries, `S` number of keys (and of values),
#   `H` number of (query) heads, `Hkv` number of key/value heads, `E` head size (features of one
#   head's queries and keys; $E = D/H$ in multi-head attention), `Ev` features of one head's values,
#   `D` model width, `F` hidden width of the feed-forward network, `V` vocabulary size. In
#   self-attention $L = S = T$. `...` means any number of leading batch dimensions, which may also
#   be zero. Any other count is a lower-case letter defined where it is used.
# - Symbols: $N$ parameters, $n_{\text{layer}}$ layers, $M$ the on-chip memory (SRAM) of one
#   streaming multiprocessor in elements, $m$ the number of random features (in Section 7.3 $m$ is
#   also the running maximum of the online softmax, as in the FlashAttention papers).
# - Causal masks are **top-left aligned**, as `is_causal=True` in PyTorch: query $i$ may attend to key
#   $j$ iff $j \le i$ (both counted from 0), also when $L \ne S$. Boolean masks: True = may attend.

# %% llmcourse={"role": "setup"}
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from torch.utils.flop_counter import FlopCounterMode
from torch.utils._python_dispatch import TorchDispatchMode

from autograder.kernel import self_check

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run

# %% [markdown]
# The cell below gives you Chapter 4's attention (softmax, and scaled-dot-product attention with
# boolean or additive masks). Later exercises call it.

# %% llmcourse={"role": "given"}
# Given (from Chapter 4): do not edit. The grader runs its own copy of this cell.
def softmax(x, dim=-1):
    """Numerically stable softmax along ``dim`` (an all -inf row gives zeros)."""
    m = x.detach().amax(dim=dim, keepdim=True)
    m = m.masked_fill(m == float("-inf"), 0.0)
    e = torch.exp(x - m)
    total = e.sum(dim=dim, keepdim=True)
    return e / total.masked_fill(total == 0, 1.0)


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """softmax(q kᵀ · scale + mask) v. ``attn_mask``: bool (True = may attend) or float (added),
    broadcastable to (..., L, S); ``is_causal``: top-left causal mask.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev).
        Output: (..., L, Ev).
    """
    L, S = q.size(-2), k.size(-2)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., L, S)
    if is_causal:
        attn_mask = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return softmax(scores, dim=-1) @ v


# %% [markdown]
# ## 7.1 The computational cost of attention
#
# ### Counting FLOPs
#
# Multiplying an $a\times b$ matrix by a $b \times c$ matrix takes $a c$ dot products of length $b$:
# $b$ multiplications and $b$ additions each, so
#
# $$ \text{FLOPs}(a \times b \cdot b \times c) = 2\,a\,b\,c. $$
#
# Attention for one head does two such products: the scores $QK^\top$ ($L \times E$ by $E \times S$)
# and the weighted sum $PV$ ($L\times S$ by $S\times E_v$). With $E_v = E$ that is $4LSE$ per head,
# $4BHLSE$ in all. The softmax in between is $O(LS)$ exponentials and additions, a factor $E$ fewer,
# and is not counted (PyTorch's `FlopCounterMode` counts only matrix products, as we do).
#
# With a causal mask only the pairs $j\le i$ contribute. Query $i$ sees $\min(i+1, S)$ keys, so a
# kernel that skips masked work entry by entry does $4BHE\sum_{i<L}\min(i+1,S)$ FLOPs: for $L = S$
# this is $2BHE\,L(L+1)$, a little *more* than half, because the diagonal is kept.
#
# ### Time and memory are both $O(T^2)$
#
# For self-attention $L=S=T$: the FLOPs grow like $T^2$, and so does the size of the score matrix,
# $B H T^2$ numbers. For $T = 32\,768$, $H=32$ and one sequence in bfloat16 that is 64 GiB for one
# layer's scores — more than the model. Section 7.3 removes the memory term; the FLOPs stay.
#
# ### Arithmetic intensity
#
# A GPU does about $10^{15}$ FLOP/s but moves only about $3\cdot 10^{12}$ bytes/s from its main memory
# (HBM). An operation is *compute-bound* if it does more than roughly $300$ FLOPs per byte moved, and
# *memory-bound* otherwise. A matmul of two $n\times n$ matrices does $2n^3$ FLOPs on $3n^2$ numbers:
# intensity $\propto n$, compute-bound for large $n$. The softmax does a handful of FLOPs per number
# it reads and writes: intensity $O(1)$, memory-bound. Naive attention writes the $T\times T$ scores
# to HBM, reads them back for the softmax, writes the probabilities, reads them for $PV$: its time is
# spent moving a matrix that a fused kernel never has to store.
#
# ### Exercise 1 — `attention_flops`
#
# Return the matmul FLOPs of attention as an exact Python `int`, counting for `causal=True` only the
# (query, key) pairs the top-left causal mask keeps.

# %% llmcourse={"role": "answer", "exercise": "ch07.attention_flops"}
def attention_flops(batch, n_heads, q_len, k_len, head_dim, causal=False):
    """Matmul FLOPs of q kᵀ and p v for all heads: 2·L·S·E each per head (Ev = E).

    With ``causal``: only pairs (i, j) with j <= i are counted (query i sees min(i + 1, S) keys).
    Returns an int.
    """
    ### BEGIN SOLUTION
    if causal:
        pairs = sum(min(i + 1, k_len) for i in range(q_len))
    else:
        pairs = q_len * k_len
    return 4 * batch * n_heads * pairs * head_dim
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.attention_flops"}
self_check("ch07.attention_flops", attention_flops)

# %%
# Try it: PyTorch's FLOP counter agrees with the formula on attention written as two matmuls.
try:
    q, k, v = torch.randn(2, 3, 10, 8), torch.randn(2, 3, 14, 8), torch.randn(2, 3, 14, 8)
    with FlopCounterMode(display=False) as counter:
        scaled_dot_product_attention(q, k, v)
    print("FlopCounterMode:", counter.get_total_flops(), "| formula:", attention_flops(2, 3, 10, 14, 8))
except NotImplementedError:
    print("Implement `attention_flops` first, then re-run this cell.")

# %% [markdown]
# ### Exercise 2 — `transformer_flops_per_token`
#
# Chapter 6's `GPT` has, per layer, four $D\times D$ attention projections, a SwiGLU FFN with three
# $D \times F$ matrices ($F$ = `d_ff`), and the attention itself; after the last layer a $D \times V$
# head. One forward pass over a full context of $T$ tokens multiplies every token by every weight
# matrix once, $2\times$(weights) FLOPs per token, plus attention: $4TD$ per token and layer when the
# whole $T\times T$ score matrix is computed (as the naive implementation does; all heads together
# have width $D$). The embedding is a lookup, not a product.
#
# $$ C_\text{forward}/\text{token} = n_{\text{layer}}\,\big(2(4D^2 + 3 D F) + 4TD\big) + 2DV. $$
#
# Compared with the rule of thumb $2N$ ($N$ parameters), the attention term matters once $T$ is
# comparable to $D$. With SwiGLU's usual width $F = 8D/3$ the weights of a layer cost
# $2(4D^2 + 8D^2) = 24D^2$ FLOPs per token and attention $4TD$, so attention's share of a layer is
# exactly $4TD/(4TD + 24D^2) = T/(T + 6D)$: $1/7 \approx 14\%$ at $T = D$, one half at $T = 6D$, and
# $91\%$ at $T = 32\,768$ with $D = 512$. Training costs about three forward passes (the backward
# pass computes two products per forward one): the familiar $6N$ per token.
#
# **Not allowed:** `FlopCounterMode` (count on paper; the cell after it checks you with it).

# %% llmcourse={"role": "answer", "exercise": "ch07.transformer_flops_per_token"}
def transformer_flops_per_token(vocab_size, context_length, d_model, n_layers, n_heads, d_ff):
    """Forward matmul FLOPs per token of Chapter 6's GPT (SwiGLU FFN, 4 attention projections,
    untied or tied head alike) on a full context, with dense attention. Returns an int."""
    ### BEGIN SOLUTION
    D, T = d_model, context_length
    per_layer = 2 * (4 * D * D + 3 * D * d_ff) + 4 * T * D
    return n_layers * per_layer + 2 * D * vocab_size
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.transformer_flops_per_token"}
self_check("ch07.transformer_flops_per_token", transformer_flops_per_token)

# %%
# Try it: where the FLOPs go, per token, as the context grows (D = 768, 12 layers, V = 50257).
try:
    Ts = [2 ** p for p in range(8, 17)]
    D, n_layer, V, d_ff = 768, 12, 50257, 2048  # d_ff = 8D/3
    total = [transformer_flops_per_token(V, T, D, n_layer, 12, d_ff) for T in Ts]
    attn = [n_layer * 4 * T * D for T in Ts]
    plt.figure(figsize=(4.5, 3))
    plt.semilogx(Ts, [a / t for a, t in zip(attn, total)], "o-", base=2)
    plt.xlabel("context length T")
    plt.ylabel("share of FLOPs in attention")
    plt.title("attention takes over at long context", fontsize=9)
    plt.show()
except NotImplementedError:
    print("Implement `transformer_flops_per_token` first, then re-run this cell.")

# %% [markdown]
# ## 7.2 GPU memory: where the bytes go
#
# A number of dtype `float32` takes 4 bytes; `bfloat16` and `float16` take 2, `float64` 8
# (`torch.finfo(dtype).bits // 8`). Training holds, for every parameter:
#
# - the parameter itself and its gradient;
# - the optimizer's state: AdamW keeps two moments (running means of the gradient and of its
#   square), SGD with momentum one buffer, plain SGD nothing;
# - with **mixed precision**, a float32 *master copy* of the weights, which the optimizer updates,
#   and then the optimizer's state is float32 too. bfloat16 stores 7 mantissa bits (8 significant
#   bits with the implicit leading one; float16 stores 10, so 11 significant): neighbouring
#   bfloat16 numbers near a weight $w$ are $2^{-8}|w|$ to $2^{-7}|w|$ apart, so an update
#   $10^{-4}$ times smaller than the weight would round away.
#
# The classic count for bfloat16 training with AdamW is $2 + 2 + 4 + 4 + 4 = 16$ bytes per parameter:
# a 7B-parameter model needs 112 GB before a single activation is stored. Activations (what the
# backward pass needs from the forward pass) come on top and grow with batch × sequence length; they
# are not part of these exercises.
#
# At inference, the **KV cache** dominates: every layer keeps the keys and values of every past
# position, $2\cdot n_{\text{layer}}\cdot H_{kv} \cdot E \cdot T \cdot B$ numbers.
#
# ### Exercise 3 — `parameter_bytes`, Exercise 4 — `training_memory_bytes`, Exercise 5 — `kv_cache_bytes`
#
# All three return exact Python `int`s. `dtype`s are `torch.dtype` objects. `optimizer` is one of
# `"adamw"` (2 state tensors), `"sgd_momentum"` (1) or `"sgd"` (0). With `master_weights=True` add a
# float32 copy of the parameters and keep the optimizer state in float32; otherwise the state has
# the parameters' dtype.

# %% llmcourse={"role": "answer", "exercise": "ch07.parameter_bytes"}
def parameter_bytes(n_params, dtype):
    """Bytes to hold ``n_params`` numbers of ``dtype`` (a torch.dtype). Returns an int."""
    ### BEGIN SOLUTION
    return n_params * (torch.finfo(dtype).bits // 8)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.parameter_bytes"}
self_check("ch07.parameter_bytes", parameter_bytes)

# %% llmcourse={"role": "answer", "exercise": "ch07.training_memory_bytes"}
def training_memory_bytes(n_params, param_dtype, grad_dtype, optimizer="adamw",
                          master_weights=False):
    """Bytes of parameters + gradients + optimizer state (+ float32 master weights), no activations.

    optimizer: "adamw" (m and v), "sgd_momentum" (one buffer) or "sgd" (none). The state is float32
    when ``master_weights``, else in ``param_dtype``. Returns an int.
    """
    ### BEGIN SOLUTION
    nbytes = lambda dt: torch.finfo(dt).bits // 8  # noqa: E731
    n_states = {"adamw": 2, "sgd_momentum": 1, "sgd": 0}[optimizer]
    state_dtype = torch.float32 if master_weights else param_dtype
    per_param = nbytes(param_dtype) + nbytes(grad_dtype) + n_states * nbytes(state_dtype)
    if master_weights:
        per_param += 4
    return n_params * per_param
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.training_memory_bytes"}
self_check("ch07.training_memory_bytes", training_memory_bytes)

# %% llmcourse={"role": "answer", "exercise": "ch07.kv_cache_bytes"}
def kv_cache_bytes(n_layers, n_kv_heads, head_dim, seq_len, batch, dtype):
    """Bytes of the keys and values of ``seq_len`` positions, all layers and KV heads. Returns an
    int."""
    ### BEGIN SOLUTION
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch * (torch.finfo(dtype).bits // 8)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.kv_cache_bytes"}
self_check("ch07.kv_cache_bytes", kv_cache_bytes)

# %%
# Try it: the KV cache of a 32-layer model with 32 query heads of size 128, in bfloat16, batch 1,
# with 32 KV heads (MHA), 8 (GQA) and 1 (MQA). Section 7.4 explains the sharing.
try:
    ctx = [2 ** p for p in range(10, 18)]
    plt.figure(figsize=(4.5, 3))
    for name, hkv in (("MHA, 32 KV heads", 32), ("GQA, 8 KV heads", 8), ("MQA, 1 KV head", 1)):
        gib = [kv_cache_bytes(32, hkv, 128, T, 1, torch.bfloat16) / 2 ** 30 for T in ctx]
        plt.loglog(ctx, gib, "o-", base=2, label=name)
    plt.axhline(16 * 7e9 / 2 ** 30 / 8, color="gray", ls=":", label="7B weights (bf16)")
    plt.xlabel("context length")
    plt.ylabel("KV cache (GiB)")
    plt.legend(fontsize=7)
    plt.show()
    print("bf16 + AdamW + master weights, 7B:",
          training_memory_bytes(7_000_000_000, torch.bfloat16, torch.bfloat16, "adamw", True) / 1e9,
          "GB")
except NotImplementedError:
    print("Implement the byte counts first, then re-run this cell.")

# %% [markdown]
# ## 7.3 FlashAttention: exact attention without the $L\times S$ matrix
#
# ### The online softmax
#
# Take one query row with scores $s_1, \dots, s_S$. Its output is
# $o = \sum_j e^{s_j - m} v_j / \sum_j e^{s_j - m}$ for *any* constant $m$; we choose
# $m = \max_j s_j$ so that no exponent is positive. The trick is that both sums can be built from
# left to right, one block of keys at a time, *without knowing the final maximum in advance*.
# Keep three running quantities over the scores seen so far: their maximum $m$, the normaliser
# $\ell = \sum e^{s_j - m}$ and the unnormalised output $a = \sum e^{s_j - m} v_j$. When a new score
# exceeds $m$, what has been accumulated is measured against a maximum that is no longer the
# maximum, and has to be re-expressed; the individual old scores are gone by then.
#
# ### Derivation 1 — one more score (symbolic answer, 0.5 points)
#
# The scores seen so far have maximum $m_{\text{old}}$ and normaliser
# $\ell_{\text{old}} = \sum_{\text{seen}} e^{s_j - m_{\text{old}}} > 0$. One more score $x$ arrives;
# the running maximum becomes $m_{\text{new}} = \max(m_{\text{old}}, x)$. Write the new normaliser
# $\ell_{\text{new}} = \sum_{\text{seen and } x} e^{s_j - m_{\text{new}}}$ as a formula in
# $\ell_{\text{old}}$, $m_{\text{old}}$ and $x$ only: that is all the algorithm has kept. Write the
# maximum as `Max(m_old, x)` (or `max`), in a local name if you like. The formula must be right both
# when $x$ is below $m_{\text{old}}$ and when it is above.

# %% llmcourse={"role": "answer", "exercise": "ch07.online_softmax_denominator"}
def online_softmax_denominator(l_old, m_old, x):
    """The running softmax normaliser after one more score x: l_old is the sum of exp(s - m_old)
    over the scores seen so far, m_old their maximum; returns the sum of exp(s - m_new) over those
    scores and x, with m_new = max(m_old, x). A formula, read by the grader (not run)."""
    ### BEGIN SOLUTION
    m_new = Max(m_old, x)
    return l_old * exp(m_old - m_new) + exp(x - m_new)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.online_softmax_denominator"}
self_check("ch07.online_softmax_denominator", online_softmax_denominator)

# %% [markdown]
# ### A block of scores at a time
#
# The same update takes a whole block of new scores $s_{\text{blk}}$ at once, and it applies to the
# output's numerator $a$ exactly as to $\ell$:
#
# $$
# m' = \max(m, \max s_\text{blk}),\qquad
# \ell' = e^{m - m'}\,\ell + \sum_{j \in \text{blk}} e^{s_j - m'},\qquad
# a' = e^{m - m'}\,a + \sum_{j\in\text{blk}} e^{s_j - m'} v_j .
# $$
#
# The factor $e^{m - m'} \le 1$ re-expresses what was accumulated relative to the old maximum in
# terms of the new one. After the last block, $o = a / \ell$, exactly. Starting from $m = -\infty$,
# $\ell = 0$, $a = 0$, the first block's factor is $e^{-\infty} = 0$.
#
# ### Tiles, and what is saved for the backward pass
#
# FlashAttention (Dao et al., 2022) runs this for a block of `block_q` queries at a time against
# blocks of `block_k` keys: each step holds one `block_q × block_k` tile of scores, small enough to
# live in the GPU's on-chip SRAM. The $L\times S$ matrix is never written to memory: besides its
# inputs and outputs ($O(TE)$ numbers in self-attention) it keeps $O(T)$ numbers (the lse below)
# instead of $O(T^2)$. The traffic to and from HBM falls as well. Dao et al. (2022, Theorem 2)
# count $\Theta(TE + T^2)$ HBM accesses for standard attention and $\Theta(T^2E^2/M)$ for
# FlashAttention, where $M$ is the size of the SRAM in elements ($E \le M \le TE$): fewer by a
# factor of order $M/E^2$, a few times to about ten times for head sizes $E$ of 64 to 128 and
# roughly 100 KB of SRAM. That is why it is called **IO-aware**: it does the *same* FLOPs as naive
# attention (a few more, in fact) and is faster because it moves less.
#
# For the backward pass it keeps one number per query, the log-sum-exp
# $\text{lse}_i = m_i + \log \ell_i = \log \sum_j e^{s_{ij}}$. Then any tile of probabilities can be
# **recomputed** as $P_{ij} = e^{s_{ij} - \text{lse}_i}$ from $Q$ and $K$, instead of being stored:
# recomputing is cheaper than reading an $L \times S$ matrix back from memory.
#
# ### Causal masks skip tiles
#
# With a causal mask, a tile whose first key comes after its last query ($j_0 > i_1 - 1$) is entirely
# masked: skip it, do not compute it and then mask it. About half of the tiles go; tiles on the
# diagonal are computed and masked entry by entry.
#
# ### Derivation 2 — the share of a causal score matrix (symbolic answer, 0.5 points)
#
# "About half" is the rough count; make it exact. In causal self-attention over $T$ tokens the score
# matrix is $T \times T$, and with the top-left aligned mask of the conventions query $i$ may attend
# to key $j$ iff $j \le i$ (both counted from 0). What **fraction** of the $T^2$ entries is kept
# (not masked), as a function of the integer $T \ge 1$? It is the share of the score work that
# skipping every masked entry would leave; skipping whole tiles leaves a little more, since the
# diagonal tiles are computed in full.

# %% llmcourse={"role": "answer", "exercise": "ch07.causal_fraction"}
def causal_fraction(T):
    """The fraction of the T x T entries of a causal (top-left aligned) mask that are kept: query
    i may attend to keys 0..i. A formula in T, read by the grader (not run)."""
    ### BEGIN SOLUTION
    kept = T * (T + 1) / 2  # 1 + 2 + ... + T
    return kept / T**2
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.causal_fraction"}
self_check("ch07.causal_fraction", causal_fraction)

# %% [markdown]
# ### Exercise 6 — `flash_attention_forward`
#
# Implement the tiled forward pass in pure PyTorch: for each block of queries, loop over blocks of
# keys with the online softmax above. Return `(out, lse)`. `q`, `k`, `v` may have any number of
# leading dimensions (the same for all three), not only $(B, H)$. Block sizes need not divide $L$
# or $S$ (the last block is shorter). Compute in the dtype of the inputs, and return it.
#
# **Graded on values** (`out` against attention, `lse` against `torch.logsumexp` of the scores),
# **on memory** and **on work**. Memory: no tensor may hold more than
#
# $$ n_\text{heads}\,\big(b_q\, b_k + (L + S)(E + E_v)\big) \text{ elements}, $$
#
# with $n_\text{heads}$ the product of the leading dimensions ($B\cdot H$),
# $b_q = \min(\text{block\_q}, L)$ and $b_k = \min(\text{block\_k}, S)$: one score tile per head,
# plus tensors as large as `q`, `k`, `v` and `out` together. A full $L \times S$ score, probability
# or mask matrix fails, and so, in the graded cases, does a row block of scores `block_q` × $S$ (all
# keys at once). Work: with `is_causal=True`, matmul FLOPs beyond $2(E + E_v)$ per (query, key) pair
# of the tiles that are not entirely masked fail.
#
# **Not allowed:** `F.scaled_dot_product_attention` (and the other fused attention kernels).

# %% llmcourse={"role": "answer", "exercise": "ch07.flash_attention_forward"}
def flash_attention_forward(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """Tiled attention with an online softmax.

    Args:
        is_causal: top-left causal mask (query i sees keys j <= i); skip fully masked tiles.
        scale: multiplies the scores; default 1/sqrt(E).
        block_q, block_k: tile sizes (need not divide L, S).

    Memory: no tensor above heads * (min(block_q, L) * min(block_k, S) + (L + S) * (E + Ev))
    elements, heads = the product of the leading dimensions.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev) (same leading dimensions).
        Output: out (..., L, Ev) and lse (..., L), lse_i = log sum_j exp(score_ij).
    """
    ### BEGIN SOLUTION
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    if scale is None:
        scale = 1.0 / math.sqrt(E)
    outs, lses = [], []
    for i0 in range(0, L, block_q):
        i1 = min(i0 + block_q, L)
        qi = q[..., i0:i1, :]  # (..., bq, E)
        m = torch.full(qi.shape[:-1], float("-inf"), dtype=q.dtype, device=q.device)  # (..., bq)
        l = torch.zeros_like(m)
        acc = torch.zeros(*qi.shape[:-1], v.size(-1), dtype=q.dtype, device=q.device)
        for j0 in range(0, S, block_k):
            if is_causal and j0 > i1 - 1:
                break  # this tile and all later ones are fully masked
            j1 = min(j0 + block_k, S)
            s = (qi @ k[..., j0:j1, :].transpose(-2, -1)) * scale  # (..., bq, bk)
            if is_causal and j1 - 1 > i0:
                rows = torch.arange(i0, i1, device=q.device).unsqueeze(-1)
                cols = torch.arange(j0, j1, device=q.device)
                s = s.masked_fill(cols > rows, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1))
            p = torch.exp(s - m_new.unsqueeze(-1))
            alpha = torch.exp(m - m_new)
            l = alpha * l + p.sum(dim=-1)
            acc = alpha.unsqueeze(-1) * acc + p @ v[..., j0:j1, :]
            m = m_new
        outs.append(acc / l.unsqueeze(-1))
        lses.append(m + torch.log(l))
    return torch.cat(outs, dim=-2), torch.cat(lses, dim=-1)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.flash_attention_forward"}
self_check("ch07.flash_attention_forward", flash_attention_forward)

# %% [markdown]
# **Measuring it.** The cell below times naive attention (the given `scaled_dot_product_attention`)
# and your tiled version on the CPU, and measures the largest tensor each one creates with a
# `TorchDispatchMode` — a hook that sees every operation PyTorch runs. On a CPU the tiled loop in
# Python is slower than one big matmul (there is no SRAM to exploit, and each tile costs Python
# overhead); the point of the plot is the memory column, which is what the GPU version turns into
# speed. `bench/attention.py` compares both with PyTorch's fused kernel.

# %%
class LargestTensor(TorchDispatchMode):
    """Records the largest tensor (in bytes) that any operation creates while active."""

    def __init__(self):
        super().__init__()
        self.nbytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.nbytes = max(self.nbytes, t.numel() * t.element_size())
        return out


try:
    Ts, rows = [128, 256, 512, 1024], []
    for T in Ts:
        q, k, v = (torch.randn(1, 4, T, 32) for _ in range(3))
        row = []
        for fn in (lambda: scaled_dot_product_attention(q, k, v),
                   lambda: flash_attention_forward(q, k, v, block_q=128, block_k=128)):
            start = time.perf_counter()
            with LargestTensor() as watch:
                fn()
            row += [time.perf_counter() - start, watch.nbytes / 2 ** 20]
        rows.append(row)
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].loglog(Ts, [r[0] for r in rows], "o-", label="naive", base=2)
    ax[0].loglog(Ts, [r[2] for r in rows], "s-", label="tiled (yours)", base=2)
    ax[0].set_xlabel("T")
    ax[0].set_ylabel("seconds")
    ax[1].loglog(Ts, [r[1] for r in rows], "o-", label="naive", base=2)
    ax[1].loglog(Ts, [r[3] for r in rows], "s-", label="tiled (yours)", base=2)
    ax[1].set_xlabel("T")
    ax[1].set_ylabel("largest tensor (MiB)")
    ax[1].legend(fontsize=8)
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement `flash_attention_forward` first, then re-run this cell.")

# %% [markdown]
# ### The backward pass, by recomputation
#
# Write $Z = \text{scale}\cdot QK^\top$ for the matrix of scores $s_{ij}$ (the FlashAttention
# papers call it $S$; here $S$ counts the keys), $P = \operatorname{softmax}(Z)$ (rows), $O = PV$,
# and let $dO$ be the gradient of the loss with respect to $O$. The chain rule gives
#
# $$
# dV = P^\top dO, \qquad dP = dO\, V^\top, \qquad
# dZ_{ij} = P_{ij}\big(dP_{ij} - \delta_i\big),\quad \delta_i = \textstyle\sum_j P_{ij}\, dP_{ij},
# \qquad dQ = \text{scale}\cdot dZ\, K, \qquad dK = \text{scale}\cdot dZ^\top Q .
# $$
#
# ($dZ$ is the softmax Jacobian $\operatorname{diag}(p) - pp^\top$ applied to each row of $dP$.) Two
# observations make this tile-friendly. First,
# $\delta_i = \sum_j P_{ij} (dO_i \cdot V_j) = dO_i \cdot O_i$: one number per query, computed up
# front from $dO$ and $O$ without $P$. Second, any tile of $P$ is $e^{s_{ij} - \text{lse}_i}$:
# recomputed from $Q$, $K$ and the saved lse. So the backward pass loops over the same tiles as the
# forward, accumulating $dQ$, $dK$, $dV$ block by block, and never stores more than one tile of $P$
# or $dZ$. It does about 2.5× the forward's matmul FLOPs (five products per tile instead of two) —
# recomputing $Z$ is the price of not storing it.
#
# ### Exercise 6b — `flash_attention_backward`
#
# Graded against autograd through attention, with the same memory budget as the forward (no tensor
# above $n_\text{heads}(b_q b_k + (L + S)(E + E_v))$ elements: no $L\times S$ tensor, and in the
# graded cases no `block_q` × $S$ row block either) and the same causal rule (skip the tiles the mask
# hides completely: the grader allows five matmuls, $2(3E + 2E_v)$ FLOPs, per (query, key) pair of
# the remaining tiles). **Not allowed:** autograd (`torch.autograd.grad`, `.backward()`,
# `torch.func`), `F.scaled_dot_product_attention`.

# %% llmcourse={"role": "answer", "exercise": "ch07.flash_attention_backward"}
def flash_attention_backward(q, k, v, out, lse, grad_out, is_causal=False, scale=None,
                             block_q=64, block_k=64):
    """Gradients of attention with respect to q, k and v, recomputing P tile by tile from lse.

    Memory: the same budget as the forward pass.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev); out, grad_out: (..., L, Ev); lse: (..., L).
        Output: dq (..., L, E), dk (..., S, E), dv (..., S, Ev).
    """
    ### BEGIN SOLUTION
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    if scale is None:
        scale = 1.0 / math.sqrt(E)
    delta = (grad_out * out).sum(dim=-1)  # (..., L)
    dq_tiles = [torch.zeros_like(q[..., i0:i0 + block_q, :]) for i0 in range(0, L, block_q)]
    dk_tiles, dv_tiles = [], []
    for j0 in range(0, S, block_k):
        j1 = min(j0 + block_k, S)
        kj, vj = k[..., j0:j1, :], v[..., j0:j1, :]
        dk, dv = torch.zeros_like(kj), torch.zeros_like(vj)
        for n, i0 in enumerate(range(0, L, block_q)):
            i1 = min(i0 + block_q, L)
            if is_causal and j0 > i1 - 1:
                continue
            qi, doi = q[..., i0:i1, :], grad_out[..., i0:i1, :]
            z = (qi @ kj.transpose(-2, -1)) * scale  # (..., bq, bk): a tile of the scores Z
            if is_causal and j1 - 1 > i0:
                rows = torch.arange(i0, i1, device=q.device).unsqueeze(-1)
                z = z.masked_fill(torch.arange(j0, j1, device=q.device) > rows, float("-inf"))
            p = torch.exp(z - lse[..., i0:i1].unsqueeze(-1))
            dv = dv + p.transpose(-2, -1) @ doi
            dp = doi @ vj.transpose(-2, -1)
            dz = p * (dp - delta[..., i0:i1].unsqueeze(-1))
            dq_tiles[n] = dq_tiles[n] + (dz @ kj) * scale
            dk = dk + (dz.transpose(-2, -1) @ qi) * scale
        dk_tiles.append(dk)
        dv_tiles.append(dv)
    return torch.cat(dq_tiles, dim=-2), torch.cat(dk_tiles, dim=-2), torch.cat(dv_tiles, dim=-2)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.flash_attention_backward"}
self_check("ch07.flash_attention_backward", flash_attention_backward)

# %% [markdown]
# ### Exercise 6c — `FlashAttentionFunction`
#
# Tie both passes together as a `torch.autograd.Function`, so that
# `FlashAttentionFunction.apply(q, k, v, is_causal, scale, block_q, block_k)` returns `out` and
# `.backward()` works. `forward` computes `(out, lse)` with your forward pass and saves what the
# backward needs with `ctx.save_for_backward` (tensors) and attributes of `ctx` (the options) — but
# never a score or probability matrix: the grader measures what `ctx` keeps, and no tensor there
# may hold more than $n_\text{heads}(L + S)(E + E_v)$ elements. `backward(ctx, grad_out)` returns
# one gradient per input of `forward`, in order: `dq, dk, dv`, then `None` for each of the four
# options. While this exercise is graded, built-in stand-ins replace your `flash_attention_forward`
# and `flash_attention_backward`, so a bug in those is charged to them only.

# %% llmcourse={"role": "answer", "exercise": "ch07.flash_attention_function"}
class FlashAttentionFunction(torch.autograd.Function):
    """out = FlashAttentionFunction.apply(q, k, v, is_causal, scale, block_q, block_k)."""

    @staticmethod
    def forward(ctx, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        ### BEGIN SOLUTION
        out, lse = flash_attention_forward(q, k, v, is_causal, scale, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.options = (is_causal, scale, block_q, block_k)
        return out
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = flash_attention_backward(q, k, v, out, lse, grad_out, *ctx.options)
        return dq, dk, dv, None, None, None, None
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.flash_attention_function"}
self_check("ch07.flash_attention_function", FlashAttentionFunction)

# %%
# Try it: gradients through your Function against autograd through naive attention.
try:
    q, k, v = (torch.randn(1, 2, 40, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    g = torch.randn(1, 2, 40, 8, dtype=torch.float64)
    ref = torch.autograd.grad(scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v), g)
    got = torch.autograd.grad(FlashAttentionFunction.apply(q, k, v, True, None, 16, 16), (q, k, v), g)
    print("max gradient difference:", max((a - b).abs().max().item() for a, b in zip(got, ref)))
except NotImplementedError:
    print("Implement the forward and backward passes and the Function first, then re-run this cell.")

# %% [markdown]
# ### Exercise 6d — `triton_flash_attention_forward` (needs a CUDA GPU)
#
# The tiled forward pass above is exact but runs as many small PyTorch calls. On a GPU the whole
# recurrence fits in **one kernel**: each *program* (a thread block) owns `BLOCK_M` query rows of
# one (batch, head), keeps $m$, $\ell$ and the unnormalised output in registers, and streams the
# key and value blocks through on-chip memory. [Triton](https://triton-lang.org) writes such a
# kernel in Python over *blocks*: `tl.program_id(0)` says which block this program is,
# `tl.arange(0, BLOCK)` builds a vector of offsets, `tl.load(ptr + offsets, mask=...)` reads a block
# from memory (masked loads return `other` past the end), `tl.dot` multiplies two blocks on the
# tensor cores, and `tl.store` writes the result. A kernel is launched over a grid,
# `kernel[(n_query_blocks, batch * heads)](...)`; block sizes and flags are `tl.constexpr`
# arguments, compiled into the kernel.
#
# Two details do not exist in the PyTorch version. Loads past the end of a sequence return `0`,
# which is a **score of 0, not a missing key**: those columns must be set to $-\infty$ before the
# softmax. And `tl.arange` needs power-of-two lengths, so the head size $E$ is one of 16, 32, 64,
# 128, 256 (the same for q, k and v) while $L$ and $S$ are arbitrary.
#
# Write the kernel and a wrapper that flattens the leading dimensions to one, launches one program
# per (query block, batch·head) and returns `softmax(q kᵀ/√E [+ causal mask]) v` with the shape and
# dtype of `q`. Accumulate in float32. With `is_causal=True` the mask is top-left aligned, as
# everywhere in this chapter; stop the key loop at the last block the query block can see (half the
# work; the grader checks the values only, so a kernel that visits every block and masks passes).
#
# **Graded only where a CUDA GPU and Triton are present** (`pip install triton` comes with
# PyTorch's CUDA builds). Elsewhere the check says *ungraded on this machine*, and the points are
# neither given nor counted in your graded total. **Not allowed:** any PyTorch matmul or softmax in
# the wrapper; PyTorch only allocates and reshapes.

# %% llmcourse={"role": "answer", "exercise": "ch07.triton_flash_attention_forward"}
try:
    import triton
    import triton.language as tl
except ImportError:  # no Triton on this machine: the exercise is ungraded here
    triton = tl = None

if triton is not None:

    @triton.jit
    def flash_forward_kernel(Q, K, V, O, sm_scale, L, S, q_stride_bh, q_stride_l, k_stride_bh,
                             k_stride_s, v_stride_bh, v_stride_s, o_stride_bh, o_stride_l,
                             IS_CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr,
                             BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
        """One program: query rows [BLOCK_M·pid0, BLOCK_M·(pid0 + 1)) of batch·head pid1.
        Q, K, V, O point at (BH, L or S, HEAD_DIM) tensors with unit stride in the last dim."""
        ### BEGIN SOLUTION
        block = tl.program_id(0)
        head = tl.program_id(1)
        i = block * BLOCK_M + tl.arange(0, BLOCK_M)  # query positions of this block
        d = tl.arange(0, HEAD_DIM)
        q_blk = tl.load(Q + head * q_stride_bh + i[:, None] * q_stride_l + d[None, :],
                        mask=i[:, None] < L, other=0.0)
        row_max = tl.full([BLOCK_M], float("-inf"), tl.float32)
        row_sum = tl.zeros([BLOCK_M], tl.float32)
        out = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
        stop = S
        if IS_CAUSAL:  # no key past the block's last query row is visible
            stop = tl.minimum(S, (block + 1) * BLOCK_M)
        for first in range(0, stop, BLOCK_N):
            j = first + tl.arange(0, BLOCK_N)  # key positions of this block
            k_blk = tl.load(K + head * k_stride_bh + j[:, None] * k_stride_s + d[None, :],
                            mask=j[:, None] < S, other=0.0)
            v_blk = tl.load(V + head * v_stride_bh + j[:, None] * v_stride_s + d[None, :],
                            mask=j[:, None] < S, other=0.0)
            scores = tl.dot(q_blk, tl.trans(k_blk)).to(tl.float32) * sm_scale
            ok = j[None, :] < S
            if IS_CAUSAL:
                ok = ok & (j[None, :] <= i[:, None])
            scores = tl.where(ok, scores, float("-inf"))
            new_max = tl.maximum(row_max, tl.max(scores, 1))
            shrink = tl.exp(row_max - new_max)
            probs = tl.exp(scores - new_max[:, None])
            row_sum = row_sum * shrink + tl.sum(probs, 1)
            out = out * shrink[:, None] + tl.dot(probs.to(v_blk.dtype), v_blk).to(tl.float32)
            row_max = new_max
        tl.store(O + head * o_stride_bh + i[:, None] * o_stride_l + d[None, :],
                 (out / row_sum[:, None]).to(O.dtype.element_ty), mask=i[:, None] < L)
        ### END SOLUTION


def triton_flash_attention_forward(q, k, v, is_causal=False):
    """Exact attention softmax(q kᵀ / √E [+ causal mask]) v in one Triton kernel launch.

    Shape:
        q: (..., L, E); k, v: (..., S, E) with the same leading dims; E in {16, 32, 64, 128, 256}
        output: (..., L, E), with q's dtype and device
    """
    ### BEGIN SOLUTION
    E, L, S = q.shape[-1], q.shape[-2], k.shape[-2]
    q3, k3, v3 = (t.reshape(-1, t.shape[-2], E).contiguous() for t in (q, k, v))
    o3 = torch.empty_like(q3)
    block_m, block_n = 64, 64
    flash_forward_kernel[(triton.cdiv(L, block_m), q3.shape[0])](
        q3, k3, v3, o3, E ** -0.5, L, S, q3.stride(0), q3.stride(1), k3.stride(0), k3.stride(1),
        v3.stride(0), v3.stride(1), o3.stride(0), o3.stride(1),
        IS_CAUSAL=bool(is_causal), BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=E)
    return o3.reshape(q.shape)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.triton_flash_attention_forward"}
self_check("ch07.triton_flash_attention_forward", triton_flash_attention_forward)

# %%
# Try it (on a GPU): your kernel against PyTorch's fused attention, causal, float16.
if torch.cuda.is_available() and triton is not None:
    try:
        for T in (1024, 4096):
            q, k, v = (torch.randn(4, 8, T, 64, device="cuda", dtype=torch.float16) for _ in range(3))
            mine = triton_flash_attention_forward(q, k, v, is_causal=True)
            fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            ms_mine = triton.testing.do_bench(lambda: triton_flash_attention_forward(q, k, v, True))
            ms_fused = triton.testing.do_bench(
                lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
            print(f"T={T}: max difference {(mine - fused).abs().max().item():.1e}, "
                  f"yours {ms_mine:.3f} ms, SDPA {ms_fused:.3f} ms")
    except NotImplementedError:
        print("Implement triton_flash_attention_forward first, then re-run this cell.")
else:
    print("No CUDA GPU with Triton here: this exercise is ungraded on this machine.")

# %% [markdown]
# ## 7.4 Variants of attention: shared keys and values, and gates
#
# Two changes to the attention layer that the models of today use: fewer key/value heads, which
# shrinks what decoding has to keep and read, and multiplicative gates.
#
# ### Sharing keys and values: MQA, GQA and the KV cache
#
# When a model generates text, each new token attends to all previous ones. Without a cache, step $t$
# recomputes the keys and values of all $t$ tokens so far: two products of $t$ rows of width $D$
# by $D \times D$ matrices, $4tD^2$ FLOPs per layer in multi-head attention — $O(TD^2)$ per layer
# and token, and $\sum_{t=1}^{T} 4tD^2 = 2T(T+1)D^2$, i.e. $O(T^2D^2)$, per layer over a generation
# of $T$ tokens (on top of recomputing the earlier layers' outputs for those tokens, which costs the
# same order). Instead they are stored in a **KV cache**: each step projects only the new token
# ($4D^2$ per layer) and appends one position. Decoding then reads the whole cache for every token it
# produces: a memory-bound operation whose speed is set by the cache's size in bytes.
#
# **Multi-query attention** (Shazeer, 2019) keeps $H$ query heads but a single key/value head shared
# by all of them: the cache shrinks by a factor $H$. **Grouped-query attention** (Ainslie et al.,
# 2023) interpolates: $H_{kv}$ key/value heads, each shared by a group of $H/H_{kv}$ consecutive
# query heads. $H_{kv} = H$ is ordinary multi-head attention, $H_{kv} = 1$ is MQA. Query head $h$
# uses key/value head $\lfloor h / (H/H_{kv}) \rfloor$ (the layout of PyTorch's `enable_gqa=True`).
#
# ### Exercise 7 — `grouped_query_attention`
#
# **Not allowed:** `F.scaled_dot_product_attention` (it has `enable_gqa`); call the given
# `scaled_dot_product_attention`.

# %% llmcourse={"role": "answer", "exercise": "ch07.grouped_query_attention"}
def grouped_query_attention(q, k, v, attn_mask=None, is_causal=False):
    """Attention where query head h uses key/value head h // (H / Hkv).

    Shape:
        q: (B, H, L, E); k: (B, Hkv, S, E); v: (B, Hkv, S, Ev); H divisible by Hkv.
        attn_mask: broadcastable to (B, H, L, S).
        Output: (B, H, L, Ev).
    """
    ### BEGIN SOLUTION
    group = q.size(1) // k.size(1)
    k = k.repeat_interleave(group, dim=1)  # (B, H, S, E)
    v = v.repeat_interleave(group, dim=1)  # (B, H, S, Ev)
    return scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.grouped_query_attention"}
self_check("ch07.grouped_query_attention", grouped_query_attention)

# %% [markdown]
# ### Exercise 8 — `KVCache`
#
# Keep the keys and values in two buffers of shape `(batch, n_kv_heads, max_seq_len, head_dim)`,
# preallocated in `__init__` (as real decoders do, so that no step allocates; the grader checks
# what `update` returns, so a cache that grows by concatenation passes too). `update(k, v)`
# receives the keys and values of the next `t` positions (shape `(B, Hkv, t, E)`), writes them
# after the positions already stored, and returns **all** keys and values stored so far, shape
# `(B, Hkv, S, E)` with $S$ the number of positions so far. The grader decodes a sequence token by
# token (and in chunks, as after a prompt) with your cache and checks that attention over what
# `update` returns equals full causal attention.

# %% llmcourse={"role": "answer", "exercise": "ch07.kv_cache"}
class KVCache:
    """Keys and values of past positions, room for ``max_seq_len`` positions.

    Shape:
        update: k, v (B, Hkv, t, E) -> keys, values (B, Hkv, S, E), S = positions stored so far.
    """

    def __init__(self, batch, n_kv_heads, max_seq_len, head_dim, dtype, device):
        ### BEGIN SOLUTION
        shape = (batch, n_kv_heads, max_seq_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.pos = 0
        ### END SOLUTION

    def update(self, k, v):
        ### BEGIN SOLUTION
        t = k.size(-2)
        self.k[:, :, self.pos:self.pos + t] = k
        self.v[:, :, self.pos:self.pos + t] = v
        self.pos += t
        return self.k[:, :, :self.pos], self.v[:, :, :self.pos]
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.kv_cache"}
self_check("ch07.kv_cache", KVCache)

# %%
# Try it: decode 6 tokens with a cache and GQA (4 query heads, 2 KV heads); compare with full causal
# attention over the whole sequence.
try:
    q, k, v = torch.randn(1, 4, 6, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    cache = KVCache(1, 2, 16, 8, torch.float32, "cpu")
    steps = []
    for t in range(6):
        kc, vc = cache.update(k[:, :, t:t + 1], v[:, :, t:t + 1])
        steps.append(grouped_query_attention(q[:, :, t:t + 1], kc, vc))
    full = grouped_query_attention(q, k, v, is_causal=True)
    print("max |step-by-step − full causal| =", (torch.cat(steps, dim=2) - full).abs().max().item())
except NotImplementedError:
    print("Implement `grouped_query_attention` and `KVCache` first, then re-run this cell.")

# %% [markdown]
# ### Gates
#
# A **gated linear unit** (Dauphin et al., 2017) splits its input into halves $a, b$ and returns
# $a \odot \sigma(b)$: $b$ decides, feature by feature, how much of $a$ passes. Chapter 6's SwiGLU is
# the same idea with a SiLU gate. Gates also help after attention: multiplying the attention output
# by $\sigma(g)$, with $g$ a linear function of the layer's input (one gate per feature or per head),
# lets a head output *nothing* when it has nothing useful to add — instead of being forced to put its
# weight somewhere, which is how "attention sinks" on the first token arise.
#
# ### Exercise 9 — `glu` and Exercise 10 — `gated_attention_output`
#
# **Not allowed** in `glu`: `F.glu`.

# %% llmcourse={"role": "answer", "exercise": "ch07.glu"}
def glu(x, dim=-1):
    """a * sigmoid(b), with a the first and b the second half of x along ``dim``.

    Shape:
        x: (..., 2n, ...) with 2n features at ``dim``. Output: (..., n, ...).
    """
    ### BEGIN SOLUTION
    a, b = x.chunk(2, dim=dim)
    return a * torch.sigmoid(b)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.glu"}
self_check("ch07.glu", glu)

# %% llmcourse={"role": "answer", "exercise": "ch07.gated_attention_output"}
def gated_attention_output(attn_out, gate_logits):
    """attn_out * sigmoid(gate_logits).

    Shape:
        attn_out: (..., L, Ev); gate_logits: broadcastable to it, e.g. (..., L, Ev) or (..., L, 1).
        Output: (..., L, Ev).
    """
    ### BEGIN SOLUTION
    return attn_out * torch.sigmoid(gate_logits)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.gated_attention_output"}
self_check("ch07.gated_attention_output", gated_attention_output)

# %% [markdown]
# ## 7.5 Low-rank and linear views of attention
#
# FlashAttention keeps attention exact and removes the memory term; the FLOPs stay quadratic. A
# different family of methods gives up exactness to get **linear** cost, by betting that the
# attention matrix is close to a matrix of low rank.
#
# ### Eckart–Young
#
# Write a matrix $A = U\Sigma V^\top$ (its SVD, singular values $\sigma_1 \ge \sigma_2 \ge \dots \ge 0$).
# Keeping the $r$ largest terms, $A_r = \sum_{i \le r} \sigma_i u_i v_i^\top$, gives the best rank-$r$
# approximation in the Frobenius norm (and in the spectral norm), and its error is exactly
#
# $$ \|A - A_r\|_F = \sqrt{\textstyle\sum_{i > r} \sigma_i^2}. $$
#
# So the spectrum of the attention matrix tells us how much any rank-$r$ method can hope to keep.
#
# ### Exercise 11 — `low_rank_approximation`
#
# Use `torch.linalg.svd` (which has no bfloat16 kernel: for bfloat16 inputs compute it in float32 and
# return the input dtype). The grader also checks the Eckart–Young identity on your output.
# **Not allowed:** `torch.svd_lowrank`, `torch.pca_lowrank`.

# %% llmcourse={"role": "answer", "exercise": "ch07.low_rank_approximation"}
def low_rank_approximation(a, rank):
    """Best rank-``rank`` approximation of each matrix of ``a`` (keep the largest singular values).

    Shape:
        a: (..., n_rows, n_cols). Output: (..., n_rows, n_cols), dtype of a.
    """
    ### BEGIN SOLUTION
    work = a if a.dtype in (torch.float32, torch.float64) else a.float()
    U, sigma, Vh = torch.linalg.svd(work, full_matrices=False)
    return ((U[..., :rank] * sigma[..., None, :rank]) @ Vh[..., :rank, :]).to(a.dtype)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.low_rank_approximation"}
self_check("ch07.low_rank_approximation", low_rank_approximation)

# %% [markdown]
# ### Linformer
#
# Linformer (Wang et al., 2020) projects the **sequence** dimension of the keys and values with two
# $p \times S$ matrices $P_K$ and $P_V$ (learned in the paper, where they are called $E$ and $F$;
# given here as `e_proj` and `f_proj`), then attends over $p$ projected positions:
#
# $$ \operatorname{Linformer}(Q, K, V)
#    = \operatorname{softmax}\!\Big(\frac{Q (P_K K)^\top}{\sqrt{E}}\Big)\,(P_V V), $$
#
# with $E$ the head size: an $L \times p$ attention matrix, $O(Lp)$ time and memory. It cannot
# represent a causal mask (every projected position mixes all keys), which is why decoders rarely
# use it.
#
# ### Exercise 12 — `linformer_attention`
#
# **Not allowed:** `F.scaled_dot_product_attention`; the given `scaled_dot_product_attention` is fine.

# %% llmcourse={"role": "answer", "exercise": "ch07.linformer_attention"}
def linformer_attention(q, k, v, e_proj, f_proj):
    """softmax(q (e_proj k)ᵀ / √E) (f_proj v): e_proj is P_K, f_proj is P_V.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev); e_proj, f_proj: (p, S), p projected
        positions. Output: (..., L, Ev).
    """
    ### BEGIN SOLUTION
    k_proj = e_proj @ k  # (..., p, E)
    v_proj = f_proj @ v  # (..., p, Ev)
    scores = (q @ k_proj.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (..., L, p)
    return softmax(scores, dim=-1) @ v_proj
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.linformer_attention"}
self_check("ch07.linformer_attention", linformer_attention)

# %% [markdown]
# ### Performer: positive random features
#
# Performer (Choromanski et al., 2021) approximates the softmax **kernel** $\kappa(q, k) = e^{q^\top k}$
# instead of the matrix. For a Gaussian vector $\omega \sim \mathcal N(0, I)$,
# $\mathbb E\, e^{\omega^\top x} = e^{|x|^2/2}$ (the moment-generating function of a Gaussian), so
#
# $$
# \mathbb E_\omega\big[e^{\omega^\top q - |q|^2/2}\; e^{\omega^\top k - |k|^2/2}\big]
# = e^{|q + k|^2/2 - |q|^2/2 - |k|^2/2} = e^{q^\top k}.
# $$
#
# Averaging over $m$ independent draws (the columns of $\Omega \in \mathbb R^{E\times m}$) gives
# features $\phi(x) = e^{\Omega^\top x - |x|^2/2}/\sqrt m \in \mathbb R^m$ whose dot product
# $\phi(q)^\top\phi(k)$ is an **unbiased** estimate of $e^{q^\top k}$ with variance $O(1/m)$. They
# are *positive*, unlike sine/cosine features, so the estimated attention weights can never be
# negative — the reason the estimate stays stable where the kernel is small. Attention then becomes
#
# $$
# \operatorname{out} = \frac{\phi(Q)\,\big(\phi(K)^\top V\big)}{\phi(Q)\,\big(\phi(K)^\top \mathbf 1\big)},
# $$
#
# computed right to left in $O((L + S)\,m\,(E + E_v))$: the $L\times S$ matrix is never formed.
# Softmax attention's kernel is $e^{q^\top k/\sqrt E}$, so $q$ and $k$ are first scaled by
# $E^{-1/4}$.
#
# The numerator and the denominator are each unbiased, but their **ratio is not**: a ratio of two
# estimates is biased at second order, so the output's bias is $O(1/m)$, smaller than its random
# error (standard deviation $O(1/\sqrt m)$); both vanish as $m$ grows. FAVOR+, the Performer's
# estimator, also draws the $m$ directions **orthogonal** to one another (in blocks of $E$, with
# the lengths of Gaussian vectors) rather than independently, which lowers the variance for the same
# $m$. Here they are independent, which keeps the sampling to one line.
#
# ### Exercise 13 — `performer_features`, Exercise 14 — `performer_attention`
#
# In `performer_attention` ($m$ = `n_features`), draw $\Omega$ as
# `torch.randn(E, n_features, generator=generator)` (float32, on the CPU, exactly this call, once),
# then move it to the dtype and device of `q`. The
# grader checks `performer_features` statistically too: with 8192 features the estimate of
# $e^{q^\top k}$ must be within 5 standard errors (central limit theorem) of the truth. It checks
# `performer_attention` on its memory as well, in a case where $L = S$ is much larger than $m$: no
# tensor may hold more than $n_\text{heads}(L + S)(m + E + E_v) + E\,m$ elements, so the
# $L \times S$ matrix $\phi(Q)\phi(K)^\top$ fails.

# %% llmcourse={"role": "answer", "exercise": "ch07.performer_features"}
def performer_features(x, omega):
    """Positive random features: exp(x Ω − |x|²/2) / √m, m = the number of features.

    Shape:
        x: (..., n, E), n rows; omega: (E, m). Output: (..., n, m).
    """
    ### BEGIN SOLUTION
    sq = (x * x).sum(dim=-1, keepdim=True) / 2  # (..., n, 1)
    return torch.exp(x @ omega - sq) / math.sqrt(omega.size(-1))
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.performer_features"}
self_check("ch07.performer_features", performer_features)

# %% llmcourse={"role": "answer", "exercise": "ch07.performer_attention"}
def performer_attention(q, k, v, n_features, generator):
    """Random-feature estimate of softmax attention (no mask), never forming an L × S matrix.

    Shape:
        q: (..., L, E); k: (..., S, E); v: (..., S, Ev). Output: (..., L, Ev).
    """
    ### BEGIN SOLUTION
    E = q.size(-1)
    omega = torch.randn(E, n_features, generator=generator).to(dtype=q.dtype, device=q.device)
    c = E ** -0.25
    phi_q = performer_features(q * c, omega)  # (..., L, m)
    phi_k = performer_features(k * c, omega)  # (..., S, m)
    kv = phi_k.transpose(-2, -1) @ v  # (..., m, Ev)
    norm = phi_q @ phi_k.sum(dim=-2).unsqueeze(-1)  # (..., L, 1)
    return (phi_q @ kv) / norm
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch07.performer_attention"}
self_check("ch07.performer_attention", performer_attention)

# %%
# Try it: how fast each approximation improves. Left: the Eckart–Young error of an attention matrix
# vs rank. Right: Performer's error vs the number of features (mean over 5 seeds).
try:
    torch.manual_seed(0)
    T, E = 128, 16
    q, k, v = (torch.randn(1, T, E, dtype=torch.float64) * 0.6 for _ in range(3))
    P = softmax(q @ k.transpose(-2, -1) / math.sqrt(E))[0]
    ranks = list(range(1, 65, 4))
    svd_err = [torch.linalg.matrix_norm(P - low_rank_approximation(P, r)).item() for r in ranks]
    exact = P @ v[0]
    feats = [8, 32, 128, 512, 2048]
    perf_err = [sum((performer_attention(q, k, v, m, torch.Generator().manual_seed(s))[0] - exact)
                    .abs().mean().item() for s in range(5)) / 5 for m in feats]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].semilogy(ranks, svd_err, "o-")
    ax[0].set_xlabel("rank r")
    ax[0].set_ylabel("‖P − P_r‖_F")
    ax[1].loglog(feats, perf_err, "s-", base=2, label="Performer")
    ax[1].loglog(feats, [perf_err[0] * (feats[0] / m) ** 0.5 for m in feats], "k:",
                 base=2, label="∝ 1/√m")
    ax[1].set_xlabel("random features m")
    ax[1].set_ylabel("mean |error|")
    ax[1].legend(fontsize=8)
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement the low-rank exercises first, then re-run this cell.")

# %% [markdown]
# ## Summary
#
# - A matmul costs $2abc$ FLOPs; attention costs $4BHLSE$, $O(T^2)$ in time and, done naively, in
#   memory. Per token, a GPT's forward pass is about $2N$ ($N$ parameters) plus $4TD$ per layer for
#   attention, whose share of a layer is $T/(T + 6D)$ with $F = 8D/3$.
# - Training memory per parameter: weights + gradients + optimizer state (+ float32 master copy);
#   16 bytes for bfloat16 AdamW. At inference the KV cache grows with layers × KV heads × context.
# - FlashAttention computes *exact* attention tile by tile with an online softmax (running max,
#   normaliser and output, rescaled by $e^{m - m'}$), keeps only the log-sum-exp for the backward
#   pass, and skips tiles a causal mask hides. Same FLOPs, $O(T)$ extra memory, and HBM traffic
#   smaller by a factor of order $M/E^2$.
# - MQA and GQA share key/value heads across query heads, shrinking the KV cache by $H/H_{kv}$.
# - Gates multiply by a sigmoid; low-rank and random-feature methods trade exactness for linear cost.
