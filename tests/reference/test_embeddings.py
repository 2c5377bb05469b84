"""reference.embeddings against F.one_hot, F.cosine_similarity, brute-force rankings,
torch.linalg.eigh of the covariance, explicit window loops, a hand-worked PMI and autograd of a
loop-written SGNS loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from reference.embeddings import (
    analogy,
    analogy_accuracy,
    cluster_purity,
    cooccurrence_matrix,
    cosine_similarity_matrix,
    nearest_neighbors,
    one_hot,
    pca,
    planted_corpus,
    ppmi_matrix,
    sgns_loss,
    train_word2vec,
)

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_one_hot_matches_torch():
    ids = torch.randint(0, 7, (3, 4), generator=_gen())
    out = one_hot(ids, 7)
    assert out.dtype == torch.int64 and torch.equal(out, F.one_hot(ids, 7))


def test_cosine_matrix_matches_torch_and_handles_zero_rows():
    a, b = torch.randn(5, 3, generator=_gen(), dtype=F64), torch.randn(4, 3, generator=_gen(1), dtype=F64)
    expected = F.cosine_similarity(a.unsqueeze(1), b.unsqueeze(0), dim=-1)
    torch.testing.assert_close(cosine_similarity_matrix(a, b), expected)
    a[2] = 0.0
    out = cosine_similarity_matrix(a, b)
    assert torch.isfinite(out).all() and (out[2] == 0).all()


def test_nearest_neighbors_by_brute_force_with_ties_to_the_lower_index():
    e = torch.randn(30, 4, generator=_gen(2), dtype=F64)
    q = torch.randn(3, 4, generator=_gen(3), dtype=F64)
    got = nearest_neighbors(e, q, 5)
    for i in range(3):
        sims = [(-F.cosine_similarity(q[i], e[j], dim=0).item(), j) for j in range(30)]
        assert got[i].tolist() == [j for _, j in sorted(sims)[:5]]
    tied = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 0.0]], dtype=F64)
    assert nearest_neighbors(tied, torch.tensor([1.0, 0.0], dtype=F64), 3).tolist() == [0, 2, 3]
    assert nearest_neighbors(tied, torch.tensor([1.0, 0.0], dtype=F64), 2).dtype == torch.int64


def test_analogy_recovers_a_planted_offset_and_excludes_its_inputs():
    g = _gen(4)
    base = torch.randn(6, 16, generator=g, dtype=F64)  # six "countries"
    offset = torch.randn(16, generator=g, dtype=F64)  # country → capital
    e = torch.cat([base, base + offset])  # capital of i is 6 + i
    a, b, c = torch.tensor([0, 1, 2]), torch.tensor([6, 7, 8]), torch.tensor([3, 4, 5])
    assert analogy(e, a, b, c).squeeze(-1).tolist() == [9, 10, 11]
    # the inputs themselves are excluded, even when they are the most similar rows
    assert 1 not in analogy(e, 0, 0, 1, k=3).tolist()
    assert analogy(e, 0, 6, 3, k=2).shape == (2,)


def test_pca_against_the_eigendecomposition_of_the_covariance():
    g = _gen(5)
    x = torch.randn(50, 4, generator=g, dtype=F64) @ torch.randn(4, 4, generator=g, dtype=F64) + 3.0
    comps, proj, var = pca(x, 3)
    cov = torch.cov(x.T)  # divisor n − 1
    values, vectors = torch.linalg.eigh(cov)
    torch.testing.assert_close(var, values.flip(0)[:3])
    for i in range(3):  # same direction up to sign, and the sign convention holds
        v = vectors[:, -1 - i]
        assert abs(float(comps[i] @ v)) == pytest.approx(1.0)
        assert comps[i][comps[i].abs().argmax()] > 0
    torch.testing.assert_close(proj, (x - x.mean(0)) @ comps.T)
    torch.testing.assert_close(proj.var(0), var)


def test_cooccurrence_against_a_window_loop():
    tokens = torch.randint(0, 5, (40,), generator=_gen(6))
    for w in (1, 2, 3):
        expected = torch.zeros(5, 5, dtype=torch.int64)
        for i in range(40):
            for j in range(max(0, i - w), min(40, i + w + 1)):
                if j != i:
                    expected[tokens[i], tokens[j]] += 1
        assert torch.equal(cooccurrence_matrix(tokens, 5, w), expected)
    assert cooccurrence_matrix(torch.tensor([1]), 3, 2).sum() == 0


def test_ppmi_by_hand():
    counts = torch.tensor([[0, 2], [2, 4]])
    # c_tot = 8, row sums (2, 6): PMI(0,1) = log(2·8 / (2·6)) = log(4/3); PMI(1,1) = log(4·8/36) < 0
    out = ppmi_matrix(counts.double())
    torch.testing.assert_close(out, torch.tensor([[0.0, math.log(4 / 3)], [math.log(4 / 3), 0.0]],
                                                 dtype=F64))
    shifted = ppmi_matrix(counts.double(), shift=1.2)
    assert shifted[0, 1].item() == pytest.approx(math.log(4 / 3) - math.log(1.2))
    assert ppmi_matrix(counts).dtype == torch.get_default_dtype()


def test_sgns_loss_and_gradients_against_a_loop():
    g = _gen(7)
    V, D, B, K = 10, 4, 6, 3
    w_in = torch.randn(V, D, generator=g, dtype=F64, requires_grad=True)
    w_out = torch.randn(V, D, generator=g, dtype=F64, requires_grad=True)
    center, context = torch.randint(0, V, (B,), generator=g), torch.randint(0, V, (B,), generator=g)
    negatives = torch.randint(0, V, (B, K), generator=g)
    loop = 0.0
    for i in range(B):
        v = w_in[center[i]]
        term = -torch.log(torch.sigmoid(w_out[context[i]] @ v))
        for k in range(K):
            term = term - torch.log(torch.sigmoid(-(w_out[negatives[i, k]] @ v)))
        loop = loop + term / B
    mine = sgns_loss(center, context, negatives, w_in, w_out)
    torch.testing.assert_close(mine, loop)
    torch.testing.assert_close(torch.autograd.grad(mine, (w_in, w_out)),
                               torch.autograd.grad(loop, (w_in, w_out)))


# --------------------------------------------------------------------------- the planted corpus
def test_planted_corpus_sentences_follow_the_plan():
    corpus = planted_corpus(200, n_topics=3, n_members=2, seed=1)
    words = corpus.words
    assert words.shape == (3, 2, 2) and corpus.tokens.shape == (1000,)
    sentences = corpus.tokens.view(200, 5)
    n_words = words.numel()
    assert (sentences[:, 2] < n_words).all() and (sentences[:, [0, 1, 3, 4]] >= n_words).all()
    topic0, role0 = n_words, n_words + 9
    member0 = role0 + 4
    for sentence in sentences.tolist():
        word, markers = sentence[2], sentence[:2] + sentence[3:]
        g, m, r = word // 4, (word // 2) % 2, word % 2
        assert sorted(markers)[-1] == member0 + 2 * g + m  # its member's marker
        assert sum(topic0 + 3 * g <= x < topic0 + 3 * g + 3 for x in markers) == 2
        assert sum(role0 + 2 * r <= x < role0 + 2 * r + 2 for x in markers) == 1
    assert corpus.vocab_size == member0 + 6 and int(corpus.tokens.max()) < corpus.vocab_size


def test_purity_and_analogy_scores_of_a_perfect_and_a_random_embedding():
    corpus = planted_corpus(10, seed=2)
    G, M, _ = corpus.words.shape
    g = _gen(8)
    topic_axes = torch.randn(G, 32, generator=g, dtype=F64) * 3
    member_axes = torch.randn(G, M, 32, generator=g, dtype=F64)
    role_axis = torch.randn(32, generator=g, dtype=F64)
    perfect = torch.randn(corpus.vocab_size, 32, generator=g, dtype=F64)
    for gi in range(G):
        for m in range(M):
            for r in range(2):
                perfect[corpus.words[gi, m, r]] = topic_axes[gi] + member_axes[gi, m] + r * role_axis
    assert cluster_purity(perfect, corpus.words) == 1.0
    assert analogy_accuracy(perfect, corpus.words) == 1.0
    noise = torch.randn(corpus.vocab_size, 32, generator=g, dtype=F64)
    assert cluster_purity(noise, corpus.words) < 0.5 and analogy_accuracy(noise, corpus.words) < 0.2


def test_word2vec_learns_the_planted_clusters_and_analogies():
    corpus = planted_corpus(3000, seed=0)
    gen = torch.Generator().manual_seed(0)
    embeddings = train_word2vec(corpus.tokens, corpus.vocab_size, 16, 2, 5, 300, 0.03, gen)
    assert embeddings.shape == (corpus.vocab_size, 16)
    assert cluster_purity(embeddings, corpus.words) >= 0.95
    assert analogy_accuracy(embeddings, corpus.words) >= 0.9
    start = (torch.rand(corpus.vocab_size, 16, generator=torch.Generator().manual_seed(0)) - 0.5) / 16
    assert cluster_purity(start, corpus.words) < 0.5  # what it starts from knows nothing
