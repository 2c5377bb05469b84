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
# # Chapter 9 — Training at scale: tokenization, data pipelines, the training loop
#
# This notebook follows Sections 9.1–9.2 of the book. Chapters 6 and 8 gave us a model, a loss
# and an optimizer; this chapter builds everything around them that turns "a model that can
# learn" into "a model that has learned". **9.1 Data preprocessing**: text becomes integers
# (byte-level BPE) and integers become batches (packing, random windows), on a language whose
# best possible loss we know. **9.2 Mini-batch learning and GPU parallelism**: batches become
# gradients (their noise, accumulation, mixed precision), gradients become a run that can be
# stopped, resumed and measured (checkpoints, tokens per second, model FLOPs utilisation), and
# the work is shared between processes (data parallelism). The loop you write is the one the rest
# of the course trains with.
#
# ## How to work through it
#
# - Each exercise has an **answer cell** holding a function or class with its signature and a
#   docstring that says exactly what to compute. Replace `raise NotImplementedError()` with your
#   implementation.
# - Below each answer cell a **check cell** runs `self_check(...)` on a few quick cases and says
#   what went wrong, if anything. Do not edit or delete check cells.
# - Cells marked **given** hold code from earlier chapters (the cross-entropy, AdamW, the cosine
#   schedule, gradient clipping), the pre-tokenizer and two measuring helpers (FLOPs per token,
#   the machine's peak FLOP/s). Use them, do not edit them: the grader runs its own copy.
# - One answer is a **formula** you derive on paper (the cell titled *Derivation*): a function of
#   the named symbols that returns your formula, written with `+ - * / **` (local names for parts
#   of it are fine). The grader reads the formula, does not run it, and compares it with the
#   reference formula at many random points, so any correct form passes.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** Helpers and imports your answer needs go in the
#   same answer cell.
# - Hidden tests compare your code with a reference implementation. Tokenizers are compared merge
#   by merge and id by id; batches token by token (the random draw is specified, so it must be the
#   same draw); gradients and training trajectories in `float64` and `float32` with tolerances
#   that follow the dtype. A statistical test checks that your batch offsets are uniform. The
#   training loop is also checked for its bookkeeping (steps, checkpoints, modes, loss scale)
#   and, where it runs under autocast, by what its model's forward and backward passes saw.
# - While `train` is graded, built-in stand-ins replace your `get_batch` and
#   `accumulate_gradients` (and your `all_reduce_gradients` while `ddp_train_step` is graded),
#   so one bug costs one exercise.
#
# ## Conventions
#
# The notation is the course's, one meaning per letter: [docs/NOTATION.md](../../docs/NOTATION.md).
# In this chapter:
#
# - Dimension letters: `V` the vocabulary size, `B` the batch size (sequences per micro-batch),
#   `T` the context length (tokens per sequence), `D` the model width. A token stream holds `n`
#   tokens (lower case: a count, not one of the glossary's dimensions).
# - Formulas: $N$ the number of parameters of a model, $D_{\text{tok}}$ the training tokens, $C$
#   compute in FLOPs, $n_{\text{layer}}$ the number of layers, $\mathcal{L}$ a loss in nats per
#   token, $\eta$ the learning rate.

# %% llmcourse={"role": "setup"}
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.kernel import self_check
from reference.data import markov_chain, read_text, sample_markov, synthetic_corpus
from reference.data import entropy_rate as markov_entropy_rate

# %% [markdown]
# ## 9.1 Data preprocessing
#
# Before a model sees any text, the text is turned into a stream of integers and the stream into
# batches. We first fix the data this chapter trains on, then tokenize (byte-level BPE), then pack
# documents and draw batches.
#
# ### Beyond the book: a language whose loss floor we know
#
# On real text nobody knows the best achievable loss, so a falling curve says little about how
# far there is left to go. We therefore train on a language we invented: a $k$-th order Markov
# chain over $V$ symbols. Each context $s = (c_1, \dots, c_k)$ has a next-token distribution
# $P(\cdot \mid s)$, drawn once from a Dirichlet distribution. The contexts themselves form a
# Markov chain with transition matrix $A$ (from $(c_1, \dots, c_k)$ we move to
# $(c_2, \dots, c_k, v)$ with probability $P(v \mid s)$), whose stationary distribution solves
# $\pi A = \pi$, $\sum_s \pi(s) = 1$.
# The **entropy rate**
#
# $$H = -\sum_s \pi(s) \sum_v P(v \mid s) \log P(v \mid s)$$
#
# is the expected loss of the true conditional distribution, and no predictor can do better on
# average (the cross-entropy of any $Q$ is $H$ plus a KL divergence, which is never negative).
# Every loss curve in this chapter is drawn against this floor.

# %%
probs = markov_chain(8, 1, seed=5)
stream = sample_markov(probs, 20_000, torch.Generator().manual_seed(0))
H = markov_entropy_rate(probs)
nll = -torch.log(probs[stream[:-1], stream[1:]])
print(f"entropy rate (exact):      {H:.4f} nats/token")
print(f"Monte-Carlo estimate:      {nll.mean():.4f} ± {nll.std() / len(nll) ** 0.5:.4f}")
print(f"uniform guess, log V:      {math.log(8):.4f}")

# %% [markdown]
# ### Tokenization as compression: byte-level BPE
#
# A model sees integers. Feeding it raw bytes (V = 256) works for any text but makes sequences
# long: attention costs grow with $T^2$ and every token costs a forward pass. **Byte-pair
# encoding** (BPE) learns a vocabulary of frequent byte strings: start from the 256 bytes, and
# repeatedly replace the most frequent adjacent pair of tokens by a new token. Each merge
# shortens the training text by the number of occurrences it replaces, which can be fewer than
# the pair's count: in `aaa` the pair `(a, a)` is counted twice, but the merge replaces it once
# (occurrences may not overlap), leaving `aa a`. Either way every merge shortens the text, so BPE
# is a greedy compressor.
#
# Compression changes the loss you read: a loss of $\mathcal{L}$ nats per token with an average
# of $r$ bytes per token is $\mathcal{L} / r$ nats per byte. Two models with different tokenizers
# can only be compared per byte (or per character), never per token.
#
# Conventions (the grader holds you to them):
#
# - **Pre-tokenization.** The text is first split with `PRETOKENIZE` (given below): contractions,
#   an optional space followed by a run of letters/digits, an optional space followed by
#   punctuation, runs of whitespace. Pairs are counted *inside* pre-tokens only, weighted by how
#   often each pre-token occurs, so a merge never crosses a word boundary.
# - **Ids.** 0..255 are the bytes; merge $i$ (from 0) creates id $256 + i$; the special tokens
#   come last, in the order given. `vocab_size` counts all three kinds.
# - **Ties.** Among pairs with the highest count, merge the one whose
#   (bytes of the left token, bytes of the right token) is lexicographically **greatest**.
# - **Applying a merge** scans left to right without overlap: `(a, a)` turns `aaa` into `aa a`.
# - **Special tokens** (e.g. `<|endoftext|>`) are cut out of the text before anything else; they
#   take part in no merge.

# %% llmcourse={"role": "given"}
# Given: do not edit. The grader runs its own copy of this cell.
import re

PRETOKENIZE = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\w+| ?[^\s\w]+|\s+(?!\S)|\s+""")

# %% [markdown]
# #### Exercise 1: `train_bpe` (2 points)
#
# Learn the merges. A dictionary from each pre-token (as a tuple of ids) to its count keeps the
# work small: count pairs over the distinct pre-tokens, weighted by their counts. Stop early if
# no pair is left. The special tokens take the last ids in the order they are given (not
# sorted). Write it in plain Python: a tokenizer library follows other conventions (ties,
# pre-tokenization) and would not give these merges.

# %% llmcourse={"role": "answer", "exercise": "ch09.train_bpe"}
def train_bpe(text, vocab_size, special_tokens=()):
    """Learn byte-level BPE merges on ``text``.

    Args:
        text: the training text (str).
        vocab_size: 256 bytes + number of merges + len(special_tokens).
        special_tokens: strings cut out of the text; they get the last ids.

    Returns:
        (vocab, merges): vocab a dict id -> bytes; merges a list of (bytes, bytes) in the order
        learned. Ties go to the lexicographically greatest (left bytes, right bytes).
    """
    ### BEGIN SOLUTION
    from collections import Counter

    n_merges = vocab_size - 256 - len(special_tokens)
    vocab = {i: bytes([i]) for i in range(256)}
    pieces = [text]
    if special_tokens:
        pattern = "(" + "|".join(re.escape(s) for s in sorted(special_tokens, key=len,
                                                                reverse=True)) + ")"
        pieces = [p for p in re.split(pattern, text) if p]
    words = Counter()
    for piece in pieces:
        if piece in special_tokens:
            continue
        for pre in PRETOKENIZE.findall(piece):
            words[tuple(pre.encode("utf-8"))] += 1
    merges = []
    for _ in range(max(n_merges, 0)):
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], vocab[p[0]], vocab[p[1]]))
        new_id = len(vocab)
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        merges.append((vocab[best[0]], vocab[best[1]]))
        merged = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, merges
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.train_bpe"}
self_check("ch09.train_bpe", train_bpe)

# %% [markdown]
# #### Exercise 2: `BPETokenizer` (2 points)
#
# `encode(text)` cuts out the special tokens, pre-tokenizes the rest and, inside each pre-token,
# starts from its bytes and repeatedly merges the pair that was **learned earliest** (lowest rank)
# until no learned pair is left. This reproduces the segmentation of training; merging the
# leftmost pair first does not.
#
# The tokenizer must also work with a vocabulary it did not train (GPT-2's, or the same tokens
# numbered in another order), so it assumes nothing about the ids: every token, **single bytes
# included**, gets its id by looking its bytes up in the vocabulary (bytes → id): the byte `b"a"`
# has id 97 only in the vocabularies `train_bpe` makes.
#
# `decode(ids)` joins the tokens' bytes and decodes **once** (a multi-byte character can be split
# across tokens), with `errors="replace"`: bytes that are not valid UTF-8 (a character cut short,
# as a model can generate) become U+FFFD `�`, they are neither dropped nor an error. Round trip:
# `decode(encode(t)) == t` for every string.

# %% llmcourse={"role": "answer", "exercise": "ch09.BPETokenizer"}
class BPETokenizer:
    """Encode text to ids and back with learned byte-level BPE merges.

    Args:
        vocab: dict id -> bytes (as returned by train_bpe, or any other numbering: look every
            token up by its bytes, single bytes included).
        merges: list of (bytes, bytes), in the order learned.
        special_tokens: strings that map to their own ids.
    """

    def __init__(self, vocab, merges, special_tokens=()):
        ### BEGIN SOLUTION
        self.vocab = dict(vocab)
        self.special_tokens = tuple(special_tokens)
        self.bytes_to_id = {b: i for i, b in self.vocab.items()}
        self.ranks = {(self.bytes_to_id[a], self.bytes_to_id[b]): (r, self.bytes_to_id[a + b])
                      for r, (a, b) in enumerate(merges)}
        ### END SOLUTION

    def encode(self, text):
        """Text -> list of int ids."""
        ### BEGIN SOLUTION
        pieces = [text]
        if self.special_tokens:
            pattern = "(" + "|".join(re.escape(s) for s in sorted(self.special_tokens, key=len,
                                                                    reverse=True)) + ")"
            pieces = [p for p in re.split(pattern, text) if p]
        ids = []
        for piece in pieces:
            if piece in self.special_tokens:
                ids.append(self.bytes_to_id[piece.encode("utf-8")])
                continue
            for pre in PRETOKENIZE.findall(piece):
                word = [self.bytes_to_id[bytes([b])] for b in pre.encode("utf-8")]
                while len(word) > 1:
                    found = [self.ranks[p] + (p,) for p in zip(word, word[1:]) if p in self.ranks]
                    if not found:
                        break
                    _, new_id, pair = min(found)
                    out, i = [], 0
                    while i < len(word):
                        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                            out.append(new_id)
                            i += 2
                        else:
                            out.append(word[i])
                            i += 1
                    word = out
                ids.extend(word)
        return ids
        ### END SOLUTION

    def decode(self, ids):
        """List of ids -> text."""
        ### BEGIN SOLUTION
        return b"".join(self.vocab[int(i)] for i in ids).decode("utf-8", errors="replace")
        ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.BPETokenizer"}
self_check("ch09.BPETokenizer", BPETokenizer)

# %%
# Try it: how the vocabulary size trades sequence length for vocabulary. To use your own text,
# set sample_text = read_text("my_file.txt")[:20_000] (any UTF-8 file; `llmcourse train --text
# my_file.txt` trains the course's GPT on it).
sample_text = ("Tokenization turns text into integers. A larger vocabulary makes sequences "
               "shorter, but every extra token costs a row of the embedding matrix. ") * 20
try:
    sizes, ratios = [256, 270, 300, 350, 420], []
    for vs in sizes:
        tok = BPETokenizer(*train_bpe(sample_text, vs))
        ratios.append(len(sample_text.encode()) / len(tok.encode(sample_text)))
        assert tok.decode(tok.encode(sample_text)) == sample_text
    plt.figure(figsize=(4, 2.6))
    plt.plot(sizes, ratios, "o-")
    plt.xlabel("vocabulary size")
    plt.ylabel("bytes per token")
    plt.title("BPE compresses its training text")
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement `train_bpe` and `BPETokenizer` above first, then re-run this cell.")

# %% [markdown]
# ### From documents to batches
#
# Real corpora are many documents of different lengths. Padding each to the longest wastes
# compute on padding tokens; **packing** concatenates them, with an end-of-sequence token after
# each so the model can learn that what follows is unrelated, and cuts the stream into rows of
# exactly `seq_len` tokens. (Deduplicating documents *before* this step matters too: a document
# repeated $r$ times is seen $r$ times per epoch, which both wastes compute and inflates how well
# the model appears to do on it.)
#
# #### Exercise 3: `pack_documents` (1 point)
#
# The stream is `doc_1, EOS, doc_2, EOS, ..., doc_k, EOS` (an EOS after every document, the last
# one included); return its first `n_rows * seq_len` tokens as an `(n_rows, seq_len)` int64
# tensor, `n_rows = len(stream) // seq_len`. The incomplete tail is dropped, never padded. A
# document is a list of ids or a 1-D integer tensor of any integer dtype (token ids are often
# stored as uint8 or int32); the rows are int64 whatever the documents' dtype.

# %% llmcourse={"role": "answer", "exercise": "ch09.pack_documents"}
def pack_documents(docs, seq_len, eos_id):
    """Pack documents into rows of exactly seq_len tokens, EOS after each document.

    Shape:
        docs: a list of documents, each a list of ids or a 1-D tensor of any integer dtype.
        Output: (n_rows, seq_len) int64.
    """
    ### BEGIN SOLUTION
    parts = []
    for d in docs:
        parts.append(torch.as_tensor(d, dtype=torch.long).reshape(-1))
        parts.append(torch.tensor([eos_id], dtype=torch.long))
    stream = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
    n_rows = stream.numel() // seq_len
    return stream[: n_rows * seq_len].reshape(n_rows, seq_len)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.pack_documents"}
self_check("ch09.pack_documents", pack_documents)

# %% [markdown]
# #### Exercise 4: `get_batch` (1 point)
#
# A training example is a window of the token stream: inputs $x = (t_o, \dots, t_{o+T-1})$ and
# targets $y = (t_{o+1}, \dots, t_{o+T})$, the same window shifted by one. Draw the offsets
# uniformly from every window whose target fits, $o \in \{0, \dots, n - T - 1\}$, with exactly
# `torch.randint(0, n - T, (B,), generator=generator)` (on the CPU; then move `x` and `y` to
# `device`; the grader calls it with `device="cpu"`, `train` with its own device). Uniform
# offsets make each minibatch loss an **unbiased** estimate of the mean loss over the $n - T$
# windows, whatever the batch size. That mean is not quite the mean over the stream's targets:
# tokens $1, \dots, T - 1$ and $n - T + 1, \dots, n - 1$ (counting from 0) lie in fewer than $T$
# windows (tokens $1$ and $n - 1$ in one), every other target in exactly $T$, so the ends of the
# stream weigh less. With $n \gg T$ the difference is negligible.

# %% llmcourse={"role": "answer", "exercise": "ch09.get_batch"}
def get_batch(tokens, batch_size, context_length, device="cpu", generator=None):
    """A random batch of (input, target) windows from a 1-D token stream.

    Shape:
        tokens: (n,) integer, n > context_length.
        Output: x (B, T) int64 and y (B, T) int64 on ``device``; y is x shifted by one.
    """
    ### BEGIN SOLUTION
    n = tokens.shape[0]
    offsets = torch.randint(0, n - context_length, (batch_size,), generator=generator)
    idx = offsets.unsqueeze(1) + torch.arange(context_length + 1)  # (B, T + 1)
    window = tokens[idx].long()
    return window[:, :-1].to(device), window[:, 1:].to(device)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.get_batch"}
self_check("ch09.get_batch", get_batch)

# %% [markdown]
# ## 9.2 Mini-batch learning and GPU parallelism
#
# A training step sees a small random batch, not the data set: its gradient is a noisy estimate
# of the full gradient, cheap enough to take many steps. This section measures that noise,
# accumulates a batch too large for memory in pieces, makes each piece cheaper with lower
# precision, measures how well the hardware is used, writes the loop that puts it together, and
# shares the batch between processes.
#
# ### Minibatch gradients, their noise, and accumulation
#
# The gradient on a batch of $B$ independent examples is an average,
# $\hat g_B = \frac{1}{B}\sum_{i} \nabla \ell_i$, so $\mathbb{E}[\hat g_B] = \nabla \mathcal{L}$
# and $\operatorname{Var}[\hat g_B] = \Sigma / B$, with $\Sigma$ the covariance of one example's
# gradient. Doubling the batch halves the noise. The figure below measures it on a small bigram
# model: the mean squared distance of $\hat g_B$ from the full gradient falls as $1/B$.
#
# When $B$ does not fit in memory, split it into $k$ **micro-batches**. The mean loss over all
# $n_{\text{total}} = \sum_i n_i$ targets is $\sum_i \frac{n_i}{n_{\text{total}}} \mathcal{L}_i$,
# with $\mathcal{L}_i$ the mean over micro-batch $i$; since gradients are linear, calling
# `backward` on each $\frac{n_i}{n_{\text{total}}} \mathcal{L}_i$ in turn adds up, in `.grad`,
# exactly the gradient of the big batch, with one micro-batch's activations in memory at a time.

# %%
_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run
bigram = nn.Sequential(nn.Embedding(8, 16), nn.Linear(16, 8))
x_all, y_all = stream[:-1], stream[1:]


def flat_grad(x, y):
    bigram.zero_grad()
    F.cross_entropy(bigram(x), y).backward()
    return torch.cat([p.grad.flatten() for p in bigram.parameters()])


full = flat_grad(x_all, y_all)
batch_sizes, noise = [4, 16, 64, 256], []
for bs in batch_sizes:
    gen = torch.Generator().manual_seed(bs)
    draws = [torch.randint(0, len(x_all), (bs,), generator=gen) for _ in range(40)]
    noise.append(sum(float((flat_grad(x_all[i], y_all[i]) - full).pow(2).sum()) for i in draws) / 40)
plt.figure(figsize=(4, 2.6))
plt.loglog(batch_sizes, noise, "o-", label="measured")
plt.loglog(batch_sizes, [noise[0] * batch_sizes[0] / b for b in batch_sizes], "--", label="∝ 1/B")
plt.xlabel("batch size B")
plt.ylabel("E‖ĝ − ∇𝓛‖²")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# #### Exercise 5: `accumulate_gradients` (1.5 points)
#
# Discard the gradients already present (set each `p.grad` to `None`), then for each `(x, y)`
# compute `loss_fn(model(x), y)` (a mean over that micro-batch's targets), weight it by
# `y.numel() / n_total` and call `backward`. Return the weighted total, **detached** (a tensor
# that keeps its graph keeps every micro-batch's activations alive). Micro-batches may have
# different sizes, so $1/k$ is not the right weight in general.

# %% llmcourse={"role": "answer", "exercise": "ch09.accumulate_gradients"}
def accumulate_gradients(model, micro_batches, loss_fn):
    """Gradients of the mean loss over the concatenated micro-batches, one at a time.

    Args:
        model: an nn.Module, logits = model(x).
        micro_batches: a list of (x, y) pairs.
        loss_fn: loss_fn(logits, y) -> mean loss over y's targets.

    Returns:
        The mean loss over all targets, a 0-dim tensor detached from the graph.
    """
    ### BEGIN SOLUTION
    for p in model.parameters():
        p.grad = None
    n_total = sum(y.numel() for _, y in micro_batches)
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y) * (y.numel() / n_total)
        loss.backward()
        total = total + loss.detach()
    return total
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.accumulate_gradients"}
self_check("ch09.accumulate_gradients", accumulate_gradients)

# %% [markdown]
# ### Mixed precision and throughput
#
# `bfloat16` keeps float32's 8 exponent bits (range up to $3 \times 10^{38}$) and stores 7
# mantissa bits, 8 significant bits with the implicit leading one (about 2–3 decimal digits);
# `float16` stores 10 mantissa bits (11 significant) but has only 5 exponent bits: its largest
# value is 65504 and its smallest normal number $6 \times 10^{-5}$. Small gradients underflow to
# zero in float16, so float16 training multiplies the loss by a large factor $S$ before
# `backward` and divides the gradients by $S$ before the update (**loss scaling**;
# `torch.amp.GradScaler` chooses $S$, $2^{16}$ to begin with, and skips steps whose gradients
# overflowed). bfloat16 needs none of that.
# `torch.autocast` runs matrix products in the low precision and keeps reductions such as the
# softmax in float32. Only the **forward pass** belongs under autocast: PyTorch advises against
# running `backward` under it (each backward op already runs in the dtype autocast chose for its
# forward op), so the loss and the backward pass run outside the `with torch.autocast(...)` block.
#
# **Throughput.** How well a run uses the hardware is judged by counting its useful arithmetic.
# Almost all of it is in matrix products, and the product of an $a \times b$ matrix with a
# $b \times c$ one costs $2abc$ FLOPs: $abc$ multiply-adds, each a multiply and an add.
#
# #### Derivation 1: the training FLOPs of a linear layer (symbolic answer, 0.5 points)
#
# A linear layer $y = x W$ without bias (vectors are rows, as everywhere in the course) has
# weights $W$ of shape $(n, m)$: $n$ inputs, $m$ outputs. Training it on one token
# $x \in \mathbb{R}^{1 \times n}$ takes the forward product and, in the backward pass, given
# $\partial \mathcal{L}/\partial y \in \mathbb{R}^{1 \times m}$, the gradient with respect to the
# input (passed on to the layers below) and the gradient with respect to the weights (for the
# optimizer).
# How many FLOPs is that per token, as a function of $m$ and $n$? Count as above (a multiply-add is
# 2 FLOPs) and only the matrix products.

# %% llmcourse={"role": "answer", "exercise": "ch09.linear_training_flops"}
def linear_training_flops(m, n):
    """FLOPs per token to train y = x W, W of shape (n, m), no bias: the forward and the two
    backward matrix products (a multiply-add is 2 FLOPs). A formula, read by the grader, not run."""
    ### BEGIN SOLUTION
    forward = 2 * m * n  # y = x W
    grad_input = 2 * m * n  # dL/dx = dL/dy W^T
    grad_weight = 2 * m * n  # dL/dW = x^T dL/dy
    return forward + grad_input + grad_weight
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.linear_training_flops"}
self_check("ch09.linear_training_flops", linear_training_flops)

# %% [markdown]
# Summed over the weights of a model with $N$ parameters, this gives the standard estimate:
# training costs $\approx 6N$ FLOPs per token, a third of it in the forward pass, plus
# $12\, n_{\text{layer}} T D$ for the attention scores and their use on the values (which involve
# no weights), so a run over $D_{\text{tok}}$ tokens costs $C \approx 6 N D_{\text{tok}}$. The
# given function `flops_per_token(model, T)` returns $6N + 12\, n_{\text{layer}} T D$ for the
# course's GPT (and $6N$ for a model without attention). The **model FLOPs utilisation** is the
# fraction of the hardware's peak that this useful arithmetic achieves:
#
# $$\text{MFU} = \frac{\text{FLOPs per token} \times \text{tokens per second}}{\text{peak FLOP/s}}.$$
#
# #### Exercise 6: `estimate_mfu` (0.5 points)
#
# Return the MFU as a fraction: a Python float when the arguments are Python numbers, a 0-dim
# tensor when they are tensors. `flops_per_token` already includes the 6.

# %% llmcourse={"role": "answer", "exercise": "ch09.estimate_mfu"}
def estimate_mfu(flops_per_token, tokens_per_second, peak_flops):
    """Model FLOPs utilisation as a fraction in [0, 1] (for a realistic run)."""
    ### BEGIN SOLUTION
    return flops_per_token * tokens_per_second / peak_flops
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.estimate_mfu"}
self_check("ch09.estimate_mfu", estimate_mfu)

# %% [markdown]
# ### The training loop
#
# The given cell holds Chapter 8's pieces (cross-entropy, AdamW, the schedule, clipping), the two
# measurements behind the MFU, and the configuration, a frozen dataclass with a one-line reason
# per field.

# %% llmcourse={"role": "given"}
# Given (from Chapter 8, the MFU's measurements, the configuration): do not edit. The grader runs
# its own copy.
import time
from dataclasses import dataclass


def cross_entropy(logits, targets):
    """Mean cross-entropy of class-index targets; logits (..., V), targets (...)."""
    logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -logp.gather(-1, targets.unsqueeze(-1)).mean()


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (Chapter 8)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - lr * group["weight_decay"])
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).add_(p.grad * p.grad, alpha=1 - beta2)
                denom = v.sqrt() / math.sqrt(1 - beta2 ** t) + eps
                p.add_(m / denom, alpha=-lr / (1 - beta1 ** t))


def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    """Linear warmup from 0, then half a cosine from max_lr down to min_lr (Chapter 8)."""
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * r))


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients so that their global L2 norm is at most max_norm (Chapter 8)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.sqrt(sum((g * g).sum() for g in grads))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.to(g.dtype))
    return total


def flops_per_token(model, context_length):
    """Training FLOPs per token: 6 N + 12 n_layer T D, with N every parameter of the model, T the
    context length, n_layer = len(model.blocks) and D = model.tok_emb.embedding_dim (the course's
    GPT; both 0 for a model without them, such as a bigram)."""
    n_params = sum(p.numel() for p in model.parameters())
    d_model = getattr(getattr(model, "tok_emb", None), "embedding_dim", 0)
    return 6 * n_params + 12 * len(getattr(model, "blocks", [])) * context_length * d_model


def measure_peak_flops(device, dtype, n=1024, repeats=20):
    """The machine's matrix-product FLOP/s in the training dtype (float32 for float16 on a CPU,
    which has no float16 matrix units): one warm-up product, then the fastest of ``repeats``
    n x n products, each timed between synchronisations. Draws from a generator of its own."""
    if dtype == torch.float16 and not str(device).startswith("cuda"):
        dtype = torch.float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first product warms up
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the model and the data."""

    max_steps: int = 200  # optimizer steps; also the length of the cosine schedule
    batch_size: int = 16  # sequences per micro-batch (what fits in memory at once)
    grad_accum_steps: int = 1  # micro-batches per step: the effective batch is their product
    context_length: int = 64  # tokens per sequence
    lr: float = 3e-3  # peak learning rate, reached at the end of warmup
    min_lr: float = 3e-4  # floor of the cosine decay
    warmup_steps: int = 20  # linear warmup: Adam's moment estimates need a few steps
    weight_decay: float = 0.1  # decoupled decay on matrices only
    betas: tuple = (0.9, 0.95)  # beta2 < 0.999 adapts faster to a changing gradient scale
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    eval_interval: int = 50  # steps between evaluations
    eval_batches: int = 8  # batches averaged per evaluation
    dtype: str = "auto"  # "float32", "bfloat16", "float16"; auto: bfloat16 on CUDA, else float32
    device: str = "auto"  # auto: CUDA when present
    seed: int = 0  # seeds the batch order (evaluation uses seed + 1)
    checkpoint_path: str = None  # where to save and resume from; None: no checkpoints
    checkpoint_interval: int = 100  # steps between checkpoints (and one at the end)
    resume: bool = True  # continue from checkpoint_path when it exists
    stop_at_step: int = None  # end early after this many steps, as a preempted job would
    peak_flops: float = None  # hardware peak for MFU; None: measure a matmul
    log_interval: int = 10  # steps between progress lines
    progress: bool = True  # print a progress line


# %% [markdown]
# #### Exercise 7: `train` (3 points)
#
# Write the loop. Its contract, step $s = 0, 1, \dots$ (the grader checks all of it except the
# progress line, the choice of device for `"auto"`, the measured speeds themselves, and the
# scaler's state in a checkpoint, which a short float16 run never changes):
#
# 1. **Device and precision.** Move the model to `config.device` (`"auto"`: CUDA when available;
#    the grader always names the device). `config.dtype == "auto"` means bfloat16 on CUDA and
#    float32 on the CPU. Unless the dtype is float32, run every **forward pass** of the model
#    (training and evaluation) under `torch.autocast(device_type, dtype)`, with the weights left
#    in float32, and compute the loss and run `backward` **outside** autocast.
#    `accumulate_gradients` does both the forward and the backward, so give it the model wrapped
#    in a small `nn.Module` whose `forward(x)` alone enters autocast (`with autocast: return
#    model(x)`); the wrapper holds the model, so its `parameters()` are the model's. Use
#    `scaler = torch.amp.GradScaler(device_type, enabled=(dtype is torch.float16))`.
# 2. **Optimizer.** `AdamW` with two groups: parameters with `dim() >= 2` get
#    `config.weight_decay`, the others (biases, gains) 0; `lr=config.lr, betas=config.betas`.
# 3. **Batches.** One `torch.Generator().manual_seed(config.seed)`; each step draws its
#    `grad_accum_steps` micro-batches, in order, with `get_batch(train_tokens, batch_size,
#    context_length, device, generator)`.
# 4. **A step.** Set every group's lr to `cosine_schedule(s, lr, min_lr, warmup_steps,
#    max_steps)`; call `accumulate_gradients(wrapped model, micro_batches, loss_fn)` with
#    `loss_fn(logits, y) = scaler.scale(cross_entropy(logits promoted to at least float32, y))`;
#    the step's loss is the float of what it returns, divided by `scaler.get_scale()` when the
#    scaler is enabled. Then `scaler.unscale_(opt)`, `clip_grad_norm(params, grad_clip)` when
#    `grad_clip > 0`, `scaler.step(opt)`, `scaler.update()`. Append `s`, the lr and the loss to
#    `history["step"]`, `["lr"]`, `["train_loss"]`.
# 5. **Evaluation** after the step when `(s + 1) % eval_interval == 0` or `s == max_steps - 1`:
#    create `gen = torch.Generator().manual_seed(seed + 1)` (anew at every evaluation, so each
#    sees the same batches and the training batches never change), draw `eval_batches` batches
#    `get_batch(val_tokens, batch_size, context_length, device, gen)`, and average the
#    `cross_entropy` of each batch's logits, promoted to at least float32 (no scaling): the forward
#    under autocast as in training, the loss outside it. Evaluate in `eval()` mode under
#    `torch.no_grad()`, and put the model back in `train()` mode afterwards. Append `s` and the
#    loss to `history["val_step"]`, `["val_loss"]`.
# 6. **Throughput.** After the step when `(s + 1) % log_interval == 0` or when it is the run's
#    last step: append to `history["tokens_per_s"]` the tokens of the steps since the previous log
#    (or since the start of this run), $k \times$ `grad_accum_steps * batch_size *
#    context_length` for $k$ steps, divided by the seconds those steps took, each step timed from
#    its start to the end of its update (`torch.cuda.synchronize()` before reading the clock on
#    CUDA; evaluation and checkpointing are not counted); and to `history["mfu"]` the MFU,
#    `flops_per_token(model, context_length) * tokens_per_s / peak` with `peak = config.peak_flops`,
#    or `measure_peak_flops(device, dtype)` when it is `None` (both functions given). Print a
#    progress line if `config.progress`. The speeds are not compared with anything; the grader
#    checks how many there are and that each `mfu * peak / tokens_per_s` is the FLOPs per token.
# 7. **Checkpoints.** If `checkpoint_path` is set, after step $s$ when
#    `(s + 1) % checkpoint_interval == 0` or when the run ends, save with `torch.save` a dict with
#    the model's and optimizer's and scaler's `state_dict()`, `"step": s + 1`, the history, the
#    batch generator's `get_state()`. At the start, if `resume` and the file exists, restore all
#    of it and continue from the saved step; otherwise (no file, or `resume` false) start from
#    the model as given, at step 0. Nothing in the loop draws from PyTorch's global
#    generator, so a checkpoint neither needs its state nor overwrites it on resuming (the
#    program that resumes keeps its own random state). The run ends after
#    `min(max_steps, stop_at_step)` steps (`stop_at_step` may be `None`).
#
# Return the `history` dict (keys `step, lr, train_loss, val_step, val_loss, tokens_per_s, mfu`).
# Resuming must give **exactly** the uninterrupted run, both after a planned stop
# (`stop_at_step`) and after the job is killed mid-step, from its last periodic checkpoint.

# %% llmcourse={"role": "answer", "exercise": "ch09.train"}
def train(model, train_tokens, val_tokens, config):
    """Train ``model`` on next-token prediction; returns the history dict (see above).

    Shape:
        train_tokens, val_tokens: (n,) integer token streams.
    """
    ### BEGIN SOLUTION
    import contextlib
    import os
    import sys
    import time

    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"
    if config.dtype == "auto":
        dtype = torch.bfloat16 if device_type == "cuda" else torch.float32
    else:
        dtype = getattr(torch, config.dtype)
    model.to(device)
    model.train()

    def autocast():
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device_type, dtype=dtype)

    class AutocastForward(nn.Module):  # the forward under autocast; loss and backward outside
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            with autocast():
                return self.inner(x)

    forward_model = AutocastForward(model)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = AdamW([g for g in groups if g["params"]], lr=config.lr, betas=config.betas)
    batch_gen = torch.Generator().manual_seed(config.seed)
    history = {"step": [], "lr": [], "train_loss": [], "val_step": [], "val_loss": [],
               "tokens_per_s": [], "mfu": []}
    start = 0
    path = config.checkpoint_path
    if path and config.resume and os.path.exists(path):
        state = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        batch_gen.set_state(state["batch_rng"])
        start, history = state["step"], state["history"]

    def loss_fn(logits, y):
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return scaler.scale(cross_entropy(logits, y))

    @torch.no_grad()
    def evaluate():
        gen = torch.Generator().manual_seed(config.seed + 1)
        model.eval()
        losses = []
        for _ in range(config.eval_batches):
            x, y = get_batch(val_tokens, config.batch_size, config.context_length, device, gen)
            with autocast():
                logits = model(x)
            logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
            losses.append(float(cross_entropy(logits, y)))
        model.train()
        return sum(losses) / len(losses)

    def sync():
        if device_type == "cuda":
            torch.cuda.synchronize()

    fpt = flops_per_token(model, config.context_length)
    peak = config.peak_flops or measure_peak_flops(device, dtype)
    end = config.max_steps if config.stop_at_step is None else min(config.max_steps,
                                                                   config.stop_at_step)
    tokens_per_step = config.batch_size * config.context_length * config.grad_accum_steps
    busy, done = 0.0, 0
    for step in range(start, end):
        sync()
        t0 = time.perf_counter()
        lr = cosine_schedule(step, config.lr, config.min_lr, config.warmup_steps, config.max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        micro = [get_batch(train_tokens, config.batch_size, config.context_length, device,
                           batch_gen) for _ in range(config.grad_accum_steps)]
        loss = float(accumulate_gradients(forward_model, micro, loss_fn))
        if scaler.is_enabled():
            loss = loss / scaler.get_scale()
        scaler.unscale_(optimizer)
        if config.grad_clip > 0:
            clip_grad_norm(params, config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        sync()
        busy += time.perf_counter() - t0
        done += 1
        history["step"].append(step)
        history["lr"].append(lr)
        history["train_loss"].append(loss)
        if (step + 1) % config.log_interval == 0 or step + 1 == end:
            tok_s = done * tokens_per_step / busy
            mfu = fpt * tok_s / peak
            history["tokens_per_s"].append(tok_s)
            history["mfu"].append(mfu)
            if config.progress:
                print(f"\rstep {step + 1}/{config.max_steps} loss {loss:.4f} "
                      f"{tok_s:,.0f} tok/s MFU {100 * mfu:.2f}%", end="", file=sys.stderr)
            busy, done = 0.0, 0
        if (step + 1) % config.eval_interval == 0 or step == config.max_steps - 1:
            history["val_step"].append(step)
            history["val_loss"].append(evaluate())
        if path and ((step + 1) % config.checkpoint_interval == 0 or step + 1 == end):
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(), "step": step + 1, "history": history,
                        "batch_rng": batch_gen.get_state()}, path)
    if config.progress:
        print(file=sys.stderr)
    return history
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.train"}
self_check("ch09.train", train)

# %%
# Try it: a bigram model on the order-1 language of Section 9.1, against its entropy floor.
corpus = synthetic_corpus(vocab_size=8, order=1, n_train=20_000, n_val=4_000, seed=0)
try:
    torch.manual_seed(0)
    demo = nn.Sequential(nn.Embedding(8, 16), nn.Linear(16, 8))
    cfg = TrainConfig(max_steps=80, batch_size=16, context_length=16, lr=1e-2, min_lr=1e-3,
                      warmup_steps=8, eval_interval=10, eval_batches=4, device="cpu",
                      dtype="float32", peak_flops=1e11, progress=False)
    hist = train(demo, corpus.train, corpus.val, cfg)
    plt.figure(figsize=(5, 3))
    plt.plot(hist["step"], hist["train_loss"], label="train")
    plt.plot(hist["val_step"], hist["val_loss"], "o-", label="validation")
    plt.axhline(corpus.entropy_rate, color="k", ls="--", label="entropy floor")
    plt.xlabel("step")
    plt.ylabel("loss (nats/token)")
    plt.legend()
    plt.tight_layout()
    plt.show()
    print(f"final val loss {hist['val_loss'][-1]:.3f}, floor {corpus.entropy_rate:.3f}, "
          f"{hist['tokens_per_s'][-1]:,.0f} tokens/s")
except NotImplementedError:
    print("Implement `train` (and `get_batch`, `accumulate_gradients`) first, then re-run.")

# %% [markdown]
# ### Data parallelism
#
# With $R$ workers (ranks), each holding a copy of the model, give rank $r$ its own micro-batch
# of $n_r$ targets, the same number on every rank, and let it compute the gradient $g_r$ of its
# mean loss $\mathcal{L}_r$. The mean loss over all $R\, n_r$ targets is
# $\mathcal{L} = \frac{1}{R}\sum_r \mathcal{L}_r$, and gradients are linear, so
#
# $$\nabla \mathcal{L} = \frac{1}{R}\sum_{r=1}^{R} g_r .$$
#
# An **all-reduce** leaves the same reduction of every rank's tensor on every rank. Summing the
# gradients with it and dividing by $R$ gives each rank $\nabla \mathcal{L}$: the large-batch
# gradient, as with gradient accumulation, but computed in parallel. Every rank then applies the
# same update to the same weights, so the copies never drift apart and nothing else needs to be
# exchanged.
#
# Two details matter in practice. The **sum, not the mean**, is what collectives offer on every
# backend (gloo has no average), so the division is ours; forgetting it multiplies the step by
# $R$ for SGD (Adam hides the factor, its update is scale-invariant up to $\epsilon$). And every
# rank must call the **same collectives in the same order**: a rank that skips one leaves the
# others waiting for it until a timeout.
#
# **Cost.** A ring all-reduce of a gradient sends and receives $2\frac{R-1}{R}$ times its size
# in bytes per rank, almost independent of $R$, which is why data parallelism scales until the
# per-rank batch gets too small to hide the communication behind the backward pass (DDP overlaps
# the two by reducing gradients in buckets as soon as they are ready).
#
# The grader runs your functions on two processes that share a `gloo` process group (NCCL on
# GPUs) created through a file in a temporary folder, with no network.
#
# #### Exercise 8: `all_reduce_gradients` (1 point)
#
# Replace every existing `p.grad` by its average over the ranks of the default process group, in
# place. Skip parameters whose `.grad` is `None`.

# %% llmcourse={"role": "answer", "exercise": "ch09.all_reduce_gradients"}
import torch.distributed as dist


def all_reduce_gradients(model):
    """Average each parameter's gradient over all ranks, in place.

    After the call every rank holds (1/R) * sum_r g_r in p.grad, R = dist.get_world_size().
    Parameters whose .grad is None are skipped (they have none on any rank).
    """
    ### BEGIN SOLUTION
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(world)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.all_reduce_gradients"}
self_check("ch09.all_reduce_gradients", all_reduce_gradients)

# %% [markdown]
# #### Exercise 9: `ddp_train_step` (1.5 points)
#
# One data-parallel step on this rank's micro-batch: zero the gradients, forward, backward,
# average the gradients across ranks, update. Return this rank's own (local) loss, detached from
# the graph.
# While it is graded, a built-in stand-in replaces your `all_reduce_gradients`.

# %% llmcourse={"role": "answer", "exercise": "ch09.ddp_train_step"}
def ddp_train_step(model, optimizer, x, y, loss_fn):
    """One data-parallel training step; returns this rank's loss (a detached 0-dim tensor).

    Args:
        model: this rank's replica (the same weights on every rank).
        optimizer: a torch.optim optimizer over model's parameters.
        x, y: this rank's micro-batch, logits = model(x), loss = loss_fn(logits, y).

    Shape:
        x, y: (B_local, T), the same B_local on every rank
    """
    ### BEGIN SOLUTION
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    all_reduce_gradients(model)
    optimizer.step()
    return loss.detach()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch09.ddp_train_step"}
self_check("ch09.ddp_train_step", ddp_train_step)

# %%
# Try it: two ranks, each on half of every batch, against one process on the whole batch.
import os
import tempfile

from reference.distributed import run_workers


def make_bigram():
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(8, 16), nn.Linear(16, 8))


def ddp_demo(rank, world_size, folder):
    model = make_bigram()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    gen = torch.Generator().manual_seed(0)  # the same batches on every rank
    for _ in range(30):
        x, y = get_batch(stream, 8, 16, "cpu", gen)
        ddp_train_step(model, opt, x[rank::world_size], y[rank::world_size], cross_entropy)
    torch.save(model.state_dict(), os.path.join(folder, f"rank{rank}.pt"))


try:
    with tempfile.TemporaryDirectory() as folder:
        run_workers(ddp_demo, 2, args=(folder,), backend="gloo")
        replicas = [torch.load(os.path.join(folder, f"rank{r}.pt")) for r in range(2)]
    single = make_bigram()
    opt = torch.optim.SGD(single.parameters(), lr=0.5, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        x, y = get_batch(stream, 8, 16, "cpu", gen)
        opt.zero_grad()
        cross_entropy(single(x), y).backward()
        opt.step()
    for name, w in single.state_dict().items():
        print(f"{name:10s} rank 0 vs rank 1: {(replicas[0][name] - replicas[1][name]).abs().max():.1e}"
              f"   rank 0 vs one process: {(replicas[0][name] - w).abs().max():.1e}")
except Exception as e:  # noqa: BLE001 - a failing rank reports here
    print(f"Implement `get_batch`, `all_reduce_gradients` and `ddp_train_step` first ({e}).")
