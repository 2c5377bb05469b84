"""Chapter 3 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F`` and the names of earlier exercises
(``cosine_similarity_matrix``, ``sgns_loss``), which resolve to the reference here and to the
student's own functions in a notebook.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reference.embeddings import cosine_similarity_matrix, sgns_loss


def one_hot_scatter(ids, num_classes):
    out = torch.zeros(*ids.shape, num_classes, dtype=torch.int64)
    return out.scatter_(-1, ids.unsqueeze(-1), 1)


def one_hot_eye(ids, num_classes):
    return torch.eye(num_classes, dtype=torch.int64)[ids]


def cosine_outer_norms(a, b):
    na = a.norm(dim=1).clamp_min(1e-12)
    nb = b.norm(dim=1).clamp_min(1e-12)
    return (a @ b.T) / na[:, None] / nb[None, :]


def cosine_einsum(a, b):
    a_hat = a * torch.rsqrt((a * a).sum(-1, keepdim=True).clamp_min(1e-24))
    b_hat = b * torch.rsqrt((b * b).sum(-1, keepdim=True).clamp_min(1e-24))
    return torch.einsum("nd,md->nm", a_hat, b_hat)


def nn_argsort(embeddings, query, k):
    sims = cosine_similarity_matrix(torch.atleast_2d(query), embeddings)
    top = torch.argsort(-sims, dim=-1, stable=True)[..., :k]
    return top.squeeze(0) if query.dim() == 1 else top


def analogy_masked(embeddings, a, b, c, k=1):
    a, b, c = torch.as_tensor(a), torch.as_tensor(b), torch.as_tensor(c)
    flat = [t.reshape(-1) for t in (a, b, c)]
    target = embeddings[flat[1]] - embeddings[flat[0]] + embeddings[flat[2]]
    sims = cosine_similarity_matrix(target, embeddings)
    hidden = torch.zeros_like(sims, dtype=torch.bool)
    for ids in flat:
        hidden |= F.one_hot(ids, embeddings.shape[0]).bool()
    sims = sims.masked_fill(hidden, -math.inf)
    best = torch.argsort(sims, dim=-1, descending=True, stable=True)[:, :k]
    return best.reshape(*a.shape, k)


def pca_eigh(x, k):
    work = x.double()
    centred = work - work.mean(0)
    values, vectors = torch.linalg.eigh(centred.T @ centred / (x.shape[0] - 1))
    values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k].T  # largest first, as rows
    signs = torch.sign(vectors.gather(1, vectors.abs().argmax(1, keepdim=True)))
    vectors = vectors * signs
    return vectors.to(x.dtype), (centred @ vectors.T).to(x.dtype), values.to(x.dtype)


def cooccurrence_offsets(tokens, vocab_size, window):
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.int64)
    for d in range(1, window + 1):
        if d < tokens.numel():
            left, right = tokens[:-d], tokens[d:]
            ones = torch.ones(left.numel(), dtype=torch.int64)
            counts.index_put_((left, right), ones, accumulate=True)
            counts.index_put_((right, left), ones, accumulate=True)
    return counts


def ppmi_ratios(counts, shift=1.0):
    c = counts.to(counts.dtype if counts.is_floating_point() else torch.get_default_dtype())
    p_joint = c / c.sum()
    p_u, p_v = p_joint.sum(1, keepdim=True), p_joint.sum(0, keepdim=True)
    pmi = torch.log(p_joint / (p_u * p_v)) - math.log(shift)
    return torch.where(c > 0, torch.relu(pmi), torch.zeros_like(c))


def sgns_concatenated(center, context, negatives, w_in, w_out):
    v = w_in[center].unsqueeze(-1)  # (B, D, 1)
    ids = torch.cat([context.unsqueeze(1), negatives], dim=1)  # (B, 1 + k)
    scores = (w_out[ids] @ v).squeeze(-1)  # (B, 1 + k)
    signs = torch.ones_like(scores)
    signs[:, 1:] = -1
    return -F.logsigmoid(signs * scores).sum(1).mean()


def word2vec_positions(tokens, vocab_size, dim, window, negatives, steps, lr, generator=None,
                       batch_size=256):
    # draw a position and an offset instead of listing the pairs
    n = tokens.numel()
    unigram = torch.bincount(tokens, minlength=vocab_size).double().pow(0.75)
    w_in = torch.nn.Parameter((torch.rand(vocab_size, dim, generator=generator) - 0.5) / dim)
    w_out = torch.nn.Parameter(torch.zeros(vocab_size, dim))
    opt = torch.optim.Adam([w_in, w_out], lr=lr)
    for _ in range(steps):
        offset = torch.randint(1, window + 1, (batch_size,), generator=generator)
        offset = offset * (torch.randint(0, 2, (batch_size,), generator=generator) * 2 - 1)
        i = torch.randint(0, n, (batch_size,), generator=generator)
        j = i + offset
        ok = (j >= 0) & (j < n)
        i, j = i[ok], j[ok]
        noise = torch.multinomial(unigram, i.numel() * negatives, replacement=True,
                                  generator=generator).view(-1, negatives)
        opt.zero_grad()
        sgns_loss(tokens[i], tokens[j], noise, w_in, w_out).backward()
        opt.step()
    return w_in.detach().clone()


ALTERNATIVES = {
    "ch03.one_hot": (one_hot_scatter, one_hot_eye),
    "ch03.cosine_similarity_matrix": (cosine_outer_norms, cosine_einsum),
    "ch03.nearest_neighbors": (nn_argsort,),
    "ch03.analogy": (analogy_masked,),
    "ch03.pca": (pca_eigh,),
    "ch03.cooccurrence_matrix": (cooccurrence_offsets,),
    "ch03.ppmi_matrix": (ppmi_ratios,),
    "ch03.sgns_loss": (sgns_concatenated,),
    "ch03.train_word2vec": (word2vec_positions,),
}
