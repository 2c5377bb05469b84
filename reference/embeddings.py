"""Chapter 3, Embeddings: one-hot codes, cosine geometry, nearest neighbours and analogies, PCA,
co-occurrence counts and (shifted) PPMI, and skip-gram with negative sampling.

Conventions, stated once:

* Embeddings are rows: an embedding table is (V, D), row i the vector of token i.
* Cosine similarity is a · b / (|a| |b|); a zero vector has cosine 0 with everything (its norm
  is clamped to a tiny positive number, so no NaN appears).
* Rankings (nearest neighbours, analogies) sort by similarity, highest first, and break ties by
  the lower index.
* PCA centres the data, uses the unbiased covariance (divisor n − 1), and makes the entry of
  largest magnitude of each component positive (the first such entry when several tie).
* A co-occurrence window of size w pairs each position with the up to 2w positions at distance
  1..w on either side; the counts are symmetric.
"""

from __future__ import annotations

import torch

_TINY = 1e-12


# --------------------------------------------------------------------------- one-hot and cosine
def one_hot(ids, num_classes):
    """The one-hot code of each id.

    Shape:
        ids: (...) int64 in [0, num_classes)
        output: (..., num_classes) int64
    """
    return (ids.unsqueeze(-1) == torch.arange(num_classes, device=ids.device)).long()


def cosine_similarity_matrix(a, b):
    """All cosines between the rows of a and the rows of b.

    Shape:
        a: (N, D), b: (M, D)
        output: (N, M)
    """
    a_unit = a / torch.linalg.vector_norm(a, dim=-1, keepdim=True).clamp_min(_TINY)
    b_unit = b / torch.linalg.vector_norm(b, dim=-1, keepdim=True).clamp_min(_TINY)
    return a_unit @ b_unit.transpose(-2, -1)


def _top_k(scores, k):
    """Indices of the k largest scores along the last axis, ties to the lower index."""
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    return order[..., :k]


def nearest_neighbors(embeddings, query, k):
    """The k rows of ``embeddings`` most cosine-similar to each query vector.

    Shape:
        embeddings: (V, D); query: (D,) or (Q, D)
        output: (k,) or (Q, k) int64
    """
    q = query.unsqueeze(0) if query.dim() == 1 else query
    out = _top_k(cosine_similarity_matrix(q, embeddings), k)
    return out[0] if query.dim() == 1 else out


def analogy(embeddings, a, b, c, k=1):
    """3CosAdd: "a is to b as c is to ?" — the k rows x maximising cos(x, e_b − e_a + e_c),
    excluding a, b and c themselves.

    Shape:
        embeddings: (V, D); a, b, c: () or (Q,) int64
        output: (..., k) int64, ... the shape of a
    """
    a, b, c = (torch.as_tensor(t, device=embeddings.device) for t in (a, b, c))
    target = embeddings[b] - embeddings[a] + embeddings[c]  # (..., D)
    scores = cosine_similarity_matrix(target.reshape(-1, embeddings.shape[-1]), embeddings)
    rows = torch.arange(scores.shape[0], device=scores.device)
    for t in (a, b, c):
        scores[rows, t.reshape(-1)] = float("-inf")
    return _top_k(scores, k).reshape(*a.shape, k)


# --------------------------------------------------------------------------- PCA
def pca(x, k):
    """Principal component analysis by SVD of the centred data.

    Returns (components, projected, explained_variance): the k unit directions of largest variance
    (rows), the centred data's coordinates along them, and the variance along each (divisor n − 1),
    largest first. Sign: each component's entry of largest magnitude is positive.

    Shape:
        x: (N, D) with k ≤ min(N, D)
        output: (k, D), (N, k), (k,)
    """
    centred = x - x.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:k]  # (k, D)
    biggest = components.abs().argmax(dim=-1, keepdim=True)  # the first of equal magnitudes
    components = components * torch.sign(components.gather(-1, biggest))
    variance = s[:k] ** 2 / (x.shape[0] - 1)
    return components, centred @ components.T, variance


# --------------------------------------------------------------------------- counts and PMI
def cooccurrence_matrix(tokens, vocab_size, window):
    """counts[u, v] = the number of ordered pairs of positions (i, j) with 1 ≤ |i − j| ≤ window,
    tokens[i] = u and tokens[j] = v. Symmetric; the diagonal counts a token near a copy of itself.

    Shape:
        tokens: (N,) int64
        output: (V, V) int64
    """
    counts = torch.zeros(vocab_size * vocab_size, dtype=torch.int64, device=tokens.device)
    for d in range(1, window + 1):
        if d >= tokens.numel():
            break
        left, right = tokens[:-d], tokens[d:]
        pairs = torch.cat([left * vocab_size + right, right * vocab_size + left])
        counts += torch.bincount(pairs, minlength=vocab_size * vocab_size)
    return counts.reshape(vocab_size, vocab_size)


def ppmi_matrix(counts, shift=1.0):
    """Shifted positive PMI: max(PMI(u, v) − log(shift), 0) with
    PMI(u, v) = log[ c(u, v) · C / (c(u) c(v)) ], c(u) = Σ_v c(u, v), C = Σ c. Pairs never seen
    (PMI = −inf) give 0. With shift = k this is the matrix SGNS with k negatives implicitly
    factorises (Levy and Goldberg, 2014).

    Shape:
        counts: (V, V) non-negative, integer or floating
        output: (V, V), counts' dtype if floating, else the default floating dtype
    """
    c = counts if counts.is_floating_point() else counts.to(torch.get_default_dtype())
    total = c.sum()
    row = c.sum(-1, keepdim=True)
    col = c.sum(-2, keepdim=True)
    pmi = torch.log(c * total / (row * col).clamp_min(_TINY)) - torch.log(
        torch.as_tensor(shift, dtype=c.dtype))
    return torch.where(c > 0, pmi.clamp_min(0.0), torch.zeros_like(c))


# --------------------------------------------------------------------------- skip-gram
def sgns_loss(center, context, negatives, w_in, w_out):
    """Skip-gram with negative sampling, the mean over the batch of
    −log σ(u_o · v_c) − Σ_k log σ(−u_k · v_c), with v_c = w_in[center], u_o = w_out[context] and
    u_k = w_out[negatives[:, k]].

    Shape:
        center, context: (B,) int64; negatives: (B, K) int64; w_in, w_out: (V, D)
        output: () in w_in's dtype
    """
    v = w_in[center]  # (B, D)
    positive = (w_out[context] * v).sum(-1)  # (B,)
    negative = (w_out[negatives] * v.unsqueeze(1)).sum(-1)  # (B, K)
    loss = -torch.nn.functional.logsigmoid(positive) - torch.nn.functional.logsigmoid(
        -negative).sum(-1)
    return loss.mean()
