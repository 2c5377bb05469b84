"""Chapter 1 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F`` and the names of earlier exercises
(``ngram_counts``, ``sequence_log_prob``), which resolve to the reference here and to the
student's own functions in a notebook.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reference.probability import ngram_counts, sequence_log_prob


# =========================================================================== counting
def counts_bincount(tokens, n, vocab_size):
    out = torch.zeros(vocab_size ** n, dtype=torch.int64)
    if tokens.numel() >= n:
        windows = tokens.unfold(0, n, 1)
        index = torch.zeros(windows.shape[0], dtype=torch.int64)
        for k in range(n):  # Horner's rule: the window as a base-V number
            index = index * vocab_size + windows[:, k]
        out += torch.bincount(index, minlength=vocab_size ** n)
    return out.view(*(vocab_size,) * n)


def counts_index_put(tokens, n, vocab_size):
    counts = torch.zeros((vocab_size,) * n, dtype=torch.int64)
    if tokens.numel() < n:
        return counts
    windows = tokens.unfold(0, n, 1)
    return counts.index_put_(tuple(windows.T), torch.ones(len(windows), dtype=torch.int64),
                             accumulate=True)


COUNTS_ALTERNATIVES = (counts_bincount, counts_index_put)


# =========================================================================== the model
def model_nan_to_uniform(counts, alpha=0.0):
    c = counts.to(counts.dtype if counts.is_floating_point() else torch.get_default_dtype())
    probs = (c + alpha) / (c + alpha).sum(-1, keepdim=True)
    return torch.nan_to_num(probs, nan=1.0 / c.shape[-1])


def model_masked(counts, alpha=0.0):
    dtype = counts.dtype if counts.is_floating_point() else torch.get_default_dtype()
    smoothed = counts.to(dtype) + alpha
    totals = smoothed.sum(dim=-1, keepdim=True)
    empty = totals == 0
    smoothed = smoothed.masked_fill(empty, 1.0)  # an unseen context: every outcome once
    return smoothed / smoothed.sum(dim=-1, keepdim=True)


MODEL_ALTERNATIVES = (model_nan_to_uniform, model_masked)


# =========================================================================== scoring
def log_prob_loop(model, tokens):
    n = model.dim()
    logs = [model[tuple(tokens[t - n + 1:t + 1].tolist())].log()
            for t in range(n - 1, tokens.numel())]
    return torch.stack(logs).sum()


def log_prob_gather(model, tokens):
    n, V = model.dim(), model.shape[-1]
    windows = tokens.unfold(0, n, 1)
    flat_index = (windows * V ** torch.arange(n - 1, -1, -1)).sum(-1)
    return model.flatten().gather(0, flat_index).log().sum()


LOG_PROB_ALTERNATIVES = (log_prob_loop, log_prob_gather)


def perplexity_geometric(model, tokens):
    m = tokens.numel() - model.dim() + 1
    return (-sequence_log_prob(model, tokens) / m).exp()


PERPLEXITY_ALTERNATIVES = (perplexity_geometric,)


# =========================================================================== Kneser–Ney
def kn_loops(tokens, vocab_size, discount=0.75):
    c = ngram_counts(tokens, 2, vocab_size).to(torch.get_default_dtype())
    types = int((c > 0).sum())
    before = (c > 0).sum(0).to(c.dtype)
    out = torch.empty_like(c)
    for v in range(vocab_size):
        row, total = c[v], c[v].sum()
        if total == 0:
            out[v] = before / types
            continue
        followers = (row > 0).sum()
        out[v] = torch.relu(row - discount) / total + discount * followers / total * before / types
    return out


def kn_interpolation_weights(tokens, vocab_size, discount=0.75):
    c = ngram_counts(tokens, 2, vocab_size).to(torch.get_default_dtype())
    continuation = (c > 0).sum(0) / (c > 0).sum()
    context = c.sum(1, keepdim=True)
    kept = torch.where(c > discount, c - discount, torch.zeros_like(c))
    # the mass taken from row v is whatever the discounted counts no longer cover
    lam = 1 - kept.sum(1, keepdim=True) / context
    probs = kept / context + lam * continuation
    return torch.where(context > 0, probs, continuation.expand_as(c))


KN_ALTERNATIVES = (kn_loops, kn_interpolation_weights)




# =========================================================================== sampling
def sample_counting(probs, num_samples, generator=None):
    u = torch.rand(*probs.shape[:-1], num_samples, generator=generator, dtype=torch.float64,
                   device=probs.device)
    weights = probs.to(torch.float64)
    cdf = torch.cumsum(weights, -1) / weights.sum(-1, keepdim=True)
    below = (cdf.unsqueeze(-2) <= u.unsqueeze(-1)).sum(-1)  # how many entries are ≤ u
    return below.clamp(max=probs.shape[-1] - 1)


SAMPLING_ALTERNATIVES = (sample_counting,)


# =========================================================================== neural bigram
def bigram_by_counts_loss(tokens, vocab_size, steps, lr, generator=None):
    # the same loss written over the count table: −Σ c(v, w) log softmax(W_v)_w / (T − 1)
    counts = ngram_counts(tokens, 2, vocab_size).to(torch.get_default_dtype())
    W = torch.nn.Parameter(0.01 * torch.randn(vocab_size, vocab_size, generator=generator))
    opt = torch.optim.Adam([W], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = -(counts * F.log_softmax(W, dim=-1)).sum() / counts.sum()
        loss.backward()
        opt.step()
    return W.data.clone()


NEURAL_BIGRAM_ALTERNATIVES = (bigram_by_counts_loss,)


ALTERNATIVES = {
    "ch01.ngram_counts": COUNTS_ALTERNATIVES,
    "ch01.ngram_model": MODEL_ALTERNATIVES,
    "ch01.sequence_log_prob": LOG_PROB_ALTERNATIVES,
    "ch01.perplexity": PERPLEXITY_ALTERNATIVES,
    "ch01.kneser_ney_bigram": KN_ALTERNATIVES,
    "ch01.sample_categorical": SAMPLING_ALTERNATIVES,
    "ch01.train_neural_bigram": NEURAL_BIGRAM_ALTERNATIVES,
}
