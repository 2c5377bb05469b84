"""Chapter 3, Embeddings: one-hot codes, cosine geometry, nearest neighbours and analogies, PCA,
co-occurrence counts and (shifted) PPMI, and skip-gram with negative sampling.

Conventions, stated once:

* Embeddings are rows: an embedding table is (V, D), row i the vector of token i.
* Cosine similarity is a · b / (|a| |b|); a zero vector has cosine 0 with everything (its norm
  is clamped to a tiny positive number, so no NaN appears).
* Rankings (nearest neighbours, analogies) sort by similarity, highest first, and break ties by
  the lower index.
* PCA centres the data, uses the unbiased covariance (divisor n − 1), and makes the entry of
  largest magnitude of each component positive (the first such entry when several tie); 16-bit
  inputs are computed in float32 (there is no 16-bit SVD) and returned in their dtype.
* A co-occurrence window of size w pairs each position with the up to 2w positions at distance
  1..w on either side; the counts are symmetric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
        a: (na, D), b: (nb, D)
        output: (na, nb)
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
        embeddings: (V, D); query: (D,) or (nq, D), nq queries
        output: (k,) or (nq, k) int64
    """
    q = query.unsqueeze(0) if query.dim() == 1 else query
    out = _top_k(cosine_similarity_matrix(q, embeddings), k)
    return out[0] if query.dim() == 1 else out


def analogy(embeddings, a, b, c, k=1):
    """3CosAdd: "a is to b as c is to ?" — the k rows x maximising cos(x, e_b − e_a + e_c),
    excluding a, b and c themselves.

    Shape:
        embeddings: (V, D); a, b, c: () or (nq,) int64, nq questions
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
        x: (n, D), n points, with k ≤ min(n, D)
        output: (k, D), (n, k), (k,)
    """
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # no 16-bit SVD
    centred = work - work.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:k]  # (k, D)
    biggest = components.abs().argmax(dim=-1, keepdim=True)  # the first of equal magnitudes
    components = components * torch.sign(components.gather(-1, biggest))
    variance = s[:k] ** 2 / (x.shape[0] - 1)
    return tuple(t.to(x.dtype) for t in (components, centred @ components.T, variance))


# --------------------------------------------------------------------------- counts and PMI
def cooccurrence_matrix(tokens, vocab_size, window):
    """counts[u, v] = the number of ordered pairs of positions (i, j) with 1 ≤ |i − j| ≤ window,
    tokens[i] = u and tokens[j] = v. Symmetric; the diagonal counts a token near a copy of itself.

    Shape:
        tokens: (T,) int64
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
    PMI(u, v) = log[ c(u, v) · c_tot / (c(u) c(v)) ], c(u) = Σ_v c(u, v), c_tot = Σ c. Pairs
    never seen (PMI = −inf) give 0. With shift = k this is the matrix SGNS with k negatives implicitly
    factorises (Levy and Goldberg, 2014).

    Shape:
        counts: (V, V) non-negative, integer or floating
        output: (V, V), counts' dtype if floating, else the default floating dtype
    """
    c = counts if counts.is_floating_point() else counts.to(torch.get_default_dtype())
    total = c.sum()
    row = c.sum(-1, keepdim=True)
    col = c.sum(-2, keepdim=True)
    pmi = torch.log(c * total / (row * col).clamp_min(_TINY)) - math.log(shift)
    return torch.where(c > 0, pmi.clamp_min(0.0), torch.zeros_like(c))


# --------------------------------------------------------------------------- skip-gram
def sgns_loss(center, context, negatives, w_in, w_out):
    """Skip-gram with negative sampling, the mean over the batch of
    −log σ(u_o · v_c) − Σ_j log σ(−u_j · v_c), with v_c = w_in[center], u_o = w_out[context] and
    u_j = w_out[negatives[:, j]].

    Shape:
        center, context: (B,) int64; negatives: (B, k) int64, k per pair; w_in, w_out: (V, D)
        output: () in w_in's dtype
    """
    v = w_in[center]  # (B, D)
    positive = (w_out[context] * v).sum(-1)  # (B,)
    negative = (w_out[negatives] * v.unsqueeze(1)).sum(-1)  # (B, k)
    loss = -torch.nn.functional.logsigmoid(positive) - torch.nn.functional.logsigmoid(
        -negative).sum(-1)
    return loss.mean()


# --------------------------------------------------------------------------- a corpus with a plan
@dataclass(frozen=True)
class PlantedCorpus:
    """A token stream whose semantics are known exactly (see :func:`planted_corpus`)."""

    tokens: torch.Tensor  # (T,) int64
    vocab_size: int
    words: torch.Tensor  # (n_topics, n_members, 2) int64: the id of member m of topic g in role r


def planted_corpus(n_sentences, n_topics=4, n_members=4, seed=0):
    """A generated corpus with planted clusters and analogies.

    The vocabulary holds n_topics · n_members · 2 **words** w(g, m, r) — member m of topic g in
    role r (think "king"/"queen" as the two roles of one member of the topic "royalty") — and
    marker tokens: 3 topic markers per topic, 2 role markers per role, and 1 marker per member.
    Each sentence is five tokens, a word in the middle and its four markers around it in random
    order: two markers of its topic, one of its role and its member's marker. So words of a topic share contexts
    (the clusters), and w(g, m, 0) − w(g, m, 1) is the same role offset for every member (the
    analogies w(g, m, 1) : w(g, m, 0) :: w(g', m', 1) : w(g', m', 0)).

    Ids: words first, w(g, m, r) = (g · n_members + m) · 2 + r, then the topic, role and member
    markers.
    """
    g = torch.Generator().manual_seed(seed)
    n_words = n_topics * n_members * 2
    topic0, role0 = n_words, n_words + 3 * n_topics
    member0 = role0 + 4
    topic = torch.randint(n_topics, (n_sentences,), generator=g)
    member = torch.randint(n_members, (n_sentences,), generator=g)
    role = torch.randint(2, (n_sentences,), generator=g)
    word = (topic * n_members + member) * 2 + role
    markers = torch.stack([topic0 + 3 * topic + torch.randint(3, (n_sentences,), generator=g),
                           topic0 + 3 * topic + torch.randint(3, (n_sentences,), generator=g),
                           role0 + 2 * role + torch.randint(2, (n_sentences,), generator=g),
                           member0 + topic * n_members + member], dim=1)  # (n_sentences, 4)
    order = torch.rand(n_sentences, 4, generator=g).argsort(dim=1)  # a random order per sentence
    markers = markers.gather(1, order)
    sentences = torch.cat([markers[:, :2], word[:, None], markers[:, 2:]], dim=1)
    # sentences: (n_sentences, 5)
    words = torch.arange(n_words).reshape(n_topics, n_members, 2)
    return PlantedCorpus(sentences.reshape(-1), member0 + n_topics * n_members, words)


def cluster_purity(embeddings, words, k=3):
    """The fraction of each word's k nearest words (by cosine, among the planted words) that
    belong to its topic, averaged over the words.

    Shape:
        embeddings: (V, D); words: (n_topics, n_members, 2)
    """
    flat = words.reshape(-1)
    topic = torch.arange(words.shape[0]).repeat_interleave(words[0].numel())
    sims = cosine_similarity_matrix(embeddings[flat], embeddings[flat])
    sims.fill_diagonal_(float("-inf"))
    neighbours = _top_k(sims, k)
    return (topic[neighbours] == topic[:, None]).double().mean().item()


def analogy_accuracy(embeddings, words):
    """The fraction of the planted analogies w(g, m, 1) : w(g, m, 0) :: w(g', m', 1) : ?, over all
    ordered pairs of distinct members, that 3CosAdd (among the planted words) answers w(g', m', 0).

    Shape:
        embeddings: (V, D); words: (n_topics, n_members, 2)
    """
    pairs = words.reshape(-1, 2)  # (n_topics · n_members, 2): (role 0, role 1) of each member
    table = embeddings[words.reshape(-1)]  # rows in the order of words.reshape(-1)
    local = torch.arange(table.shape[0]).reshape(-1, 2)
    n = pairs.shape[0]
    first, second = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = first != second
    a, b = local[first[keep], 1], local[first[keep], 0]
    c, expected = local[second[keep], 1], local[second[keep], 0]
    return (analogy(table, a, b, c).squeeze(-1) == expected).double().mean().item()


def train_word2vec(tokens, vocab_size, dim, window, negatives, steps, lr, generator=None,
                   batch_size=256):
    """Skip-gram with negative sampling, trained with Adam(lr) on minibatches.

    Pairs: every (center, context) of positions at distance 1..window, both orders. Each step
    draws ``batch_size`` pairs uniformly, and for each pair ``negatives`` noise tokens from the
    unigram distribution raised to the power 3/4, and takes one Adam step on :func:`sgns_loss`.
    Initialisation: w_in uniform in [−0.5/dim, 0.5/dim), w_out zeros. Returns w_in.

    Shape:
        tokens: (T,) int64
        output: (V, dim) in the default floating dtype
    """
    pairs = torch.cat([torch.stack(p, dim=1) for d in range(1, window + 1)
                       for p in ((tokens[:-d], tokens[d:]), (tokens[d:], tokens[:-d]))])
    noise = torch.bincount(tokens, minlength=vocab_size).double() ** 0.75
    w_in = ((torch.rand(vocab_size, dim, generator=generator) - 0.5) / dim).requires_grad_()
    w_out = torch.zeros(vocab_size, dim, requires_grad=True)
    optimizer = torch.optim.Adam([w_in, w_out], lr=lr)
    for _ in range(steps):
        pick = torch.randint(pairs.shape[0], (batch_size,), generator=generator)
        noise_ids = torch.multinomial(noise, batch_size * negatives, replacement=True,
                                      generator=generator).view(batch_size, negatives)
        loss = sgns_loss(pairs[pick, 0], pairs[pick, 1], noise_ids, w_in, w_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return w_in.detach()
