"""Chapter 1, Probability and language models: n-gram counts and models, smoothing, the
probability of a sequence, perplexity, Kneser–Ney, sampling by inverse CDF, and a neural bigram
model trained to the count estimate.

Conventions, stated once:

* A token stream is a 1-D int64 tensor of T ids in [0, V). An n-gram is a window of n
  consecutive tokens; a stream of T tokens has T − n + 1 of them (none when T < n).
* An n-gram table is indexed by the n tokens in order: ``counts[a, b, c]`` counts the trigram
  (a, b, c). A model has the same shape, and ``model[a, b, :]`` is the distribution of the next
  token after the context (a, b): probabilities along the last axis.
* Log-probabilities are natural logarithms (nats).
* Count-based functions return the default floating dtype (``torch.get_default_dtype()``,
  float32 unless changed) when their input is integer, and the input's dtype when it is floating.
"""

from __future__ import annotations

import torch


def _float_dtype(t):
    return t.dtype if t.is_floating_point() else torch.get_default_dtype()


# --------------------------------------------------------------------------- counting
def ngram_counts(tokens, n, vocab_size):
    """How often each n-gram occurs in the stream.

    Shape:
        tokens: (T,) int64 ids in [0, V)
        output: (V,) * n int64, summing to max(T − n + 1, 0)
    """
    flat = torch.zeros(vocab_size ** n, dtype=torch.int64, device=tokens.device)
    if tokens.numel() >= n:
        windows = tokens.unfold(0, n, 1)  # (T − n + 1, n)
        place = vocab_size ** torch.arange(n - 1, -1, -1, device=tokens.device)  # base V digits
        flat += torch.bincount((windows * place).sum(-1), minlength=vocab_size ** n)
    return flat.reshape((vocab_size,) * n)


def ngram_model(counts, alpha=0.0):
    """Add-α (Laplace for α = 1) conditional probabilities P(w | context) along the last axis:
    (c(context, w) + α) / (c(context) + α V). With α = 0 this is the maximum-likelihood estimate,
    and a context never seen gets the uniform distribution 1 / V (0 / 0 has no better answer).

    Shape:
        counts: (V,) * n, integer or floating
        output: (V,) * n, each last-axis row sums to 1
    """
    c = counts.to(_float_dtype(counts))
    V = c.shape[-1]
    total = c.sum(-1, keepdim=True) + alpha * V
    probs = (c + alpha) / total
    return torch.where(total > 0, probs, torch.full_like(probs, 1.0 / V))


# --------------------------------------------------------------------------- scoring
def sequence_log_prob(model, tokens):
    """log P(tokens[n−1:] | their contexts) = Σ_{t ≥ n−1} log model[tokens[t−n+1 .. t]], in nats,
    for an n-gram model (n = model.dim()). The first n − 1 tokens are the given context only.
    −inf when some n-gram has probability 0.

    Shape:
        model: (V,) * n
        tokens: (T,) int64, T ≥ n
        output: () in model's dtype
    """
    windows = tokens.unfold(0, model.dim(), 1)  # (T − n + 1, n)
    return torch.log(model[tuple(windows.T)]).sum()


def perplexity(model, tokens):
    """exp(−log P / (T − n + 1)), the inverse geometric mean of the T − n + 1 predicted tokens'
    probabilities: the number of equally likely choices the model is as unsure as.

    Shape:
        model: (V,) * n
        tokens: (T,) int64, T ≥ n
        output: () in model's dtype
    """
    predicted = tokens.numel() - model.dim() + 1
    return torch.exp(-sequence_log_prob(model, tokens) / predicted)


def kneser_ney_bigram(tokens, vocab_size, discount=0.75):
    """Interpolated Kneser–Ney bigram probabilities P(w | v):

        P(w | v) = max(c(v, w) − d, 0) / c(v) + λ(v) P_cont(w),   λ(v) = d · N₁₊(v •) / c(v),
        P_cont(w) = N₁₊(• w) / N₁₊(• •),

    with c(v) = Σ_w c(v, w), N₁₊(v •) the number of distinct words seen after v, N₁₊(• w) the
    number of distinct words seen before w, and N₁₊(• •) the number of distinct bigrams. A
    context never seen (c(v) = 0) gets P_cont.

    Shape:
        tokens: (T,) int64, T ≥ 2
        output: (V, V) in the default floating dtype
    """
    dtype = torch.get_default_dtype()
    c = ngram_counts(tokens, 2, vocab_size).to(dtype)  # (V, V)
    seen = (c > 0).to(dtype)
    continuation = seen.sum(0) / seen.sum()  # (V,) P_cont(w)
    context = c.sum(-1, keepdim=True)  # (V, 1) c(v)
    safe = context.clamp_min(1.0)
    discounted = (c - discount).clamp_min(0.0) / safe
    weight = discount * seen.sum(-1, keepdim=True) / safe  # λ(v)
    probs = discounted + weight * continuation
    return torch.where(context > 0, probs, continuation.expand_as(probs))


# --------------------------------------------------------------------------- sampling
def sample_categorical(probs, num_samples, generator=None):
    """``num_samples`` independent draws from each distribution along the last axis, by inverse
    CDF with this exact recipe (so a seeded generator gives reproducible draws):

        u = torch.rand(*probs.shape[:-1], num_samples, generator=generator,
                       dtype=torch.float64, device=probs.device)
        cdf = probs.double().cumsum(-1); cdf = cdf / cdf[..., -1:]
        index = number of cdf entries ≤ u  (torch.searchsorted(cdf, u, right=True)),
                clamped to V − 1

    Category i is drawn when cdf[i − 1] ≤ u < cdf[i], which has probability p_i.

    Shape:
        probs: (..., V) non-negative, each row with a positive sum
        output: (..., num_samples) int64
    """
    u = torch.rand(*probs.shape[:-1], num_samples, generator=generator, dtype=torch.float64,
                   device=probs.device)
    cdf = probs.double().cumsum(-1)
    cdf = cdf / cdf[..., -1:]
    index = torch.searchsorted(cdf.contiguous(), u, right=True)
    return index.clamp_max(probs.shape[-1] - 1)


# --------------------------------------------------------------------------- a neural bigram
def train_neural_bigram(tokens, vocab_size, steps, lr, generator=None):
    """A table of bigram logits W (row v: the logits of the next token after v), trained by
    full-batch Adam(lr) for ``steps`` steps on the mean negative log-likelihood of the stream's
    bigrams, from W = 0.01 · N(0, 1) (drawn with ``generator``). Its softmax tends to the count
    estimate on every context that occurs in the stream; rows of unseen contexts stay near uniform.

    Shape:
        tokens: (T,) int64, T ≥ 2
        output: (V, V) logits in the default floating dtype
    """
    dtype = torch.get_default_dtype()
    W = (0.01 * torch.randn(vocab_size, vocab_size, generator=generator, dtype=dtype)
         ).to(tokens.device).requires_grad_()
    optimizer = torch.optim.Adam([W], lr=lr)
    x, y = tokens[:-1], tokens[1:]
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(W[x], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return W.detach()
