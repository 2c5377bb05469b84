"""Chapter 3 — Embeddings: the graded exercises and the cases they are graded on.

Rankings (nearest neighbours, analogies) are integer outputs computed from floating inputs, so
their cases are drawn until the similarities that decide the ranking are at least ``GAP`` apart
(far above bfloat16's rounding), except for exact ties (duplicate rows, which tie in any dtype).
Word2vec is a measured case on the planted corpus: the embeddings must recover its clusters and
its analogies.
"""

from __future__ import annotations

import torch

from autograder import forbidden
from autograder.chapters import ch03_catalog as catalog
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise
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

F64, BF16 = torch.float64, torch.bfloat16
NO_HALF = (torch.float16,)
GAP = 0.02  # the least difference between the similarities that decide a ranking


# =========================================================================== one-hot, cosine
def one_hot_cases(b: CaseBuilder):
    def rows(c):
        c("ids (5,), 7 classes", b.randint(0, 7, (5,)), 7, public=True)
        c("ids (2, 3), 4 classes", b.randint(0, 4, (2, 3)), 4, tags=("batch dims",), public=True)
        c("one class", torch.zeros(3, dtype=torch.int64), 1, tags=("1 class",))
        c("ids 0 and V − 1", torch.tensor([0, 9, 9, 0]), 10, tags=("edges",))
        c("a scalar id", torch.tensor(3), 5, tags=("0-dim ids",))
    return b.exact_grid(rows)


def cosine_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("a (4, 3), b (5, 3)", c.randn(4, 3), c.randn(5, 3), public=True)
        c("a (6, 8), b (2, 8), scales 1e-3 and 1e3", c.randn(6, 8, scale=1e-3),
          c.randn(2, 8, scale=1e3), tags=("scales",), public=True)
        a = c.randn(3, 4)
        a[1] = 0.0
        c("a zero row (cosine 0, not NaN)", a, c.randn(4, 4), tags=("zero vector",), public=True)
        x = c.randn(5, 6)
        c("a against itself (diagonal 1)", x, x.clone(), tags=("self",))
        c("gradients", c.randn(3, 5), c.randn(4, 5), grad=(0, 1))
    return b.grid(rows, exclude=NO_HALF)


# =========================================================================== rankings
def _separated(b: CaseBuilder, V: int, D: int, queries: torch.Tensor, k: int):
    """An embedding table (float64) whose cosines with each query have their top k + 1 values at
    least GAP apart, drawn again until they do."""
    while True:
        table = b.randn(V, D) * (0.5 + b.rand(V, 1) * 2)  # rows of different lengths
        sims = cosine_similarity_matrix(queries.reshape(-1, D), table)
        top = sims.sort(dim=-1, descending=True).values[:, :k + 1]
        if bool(((top[:, :-1] - top[:, 1:]) >= GAP).all()):
            return table


def nn_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, V, D, n_queries, k, tags=(), public=False):
            q = b.randn(n_queries, D) if n_queries else b.randn(D)
            table = _separated(b, V, D, q, k)
            c(name, table.to(c.dtype), q.to(c.dtype), k, tags=tags, public=public)

        case("one query (8,), V=20, k=3", 20, 8, 0, 3, ("one query",), True)
        case("2 queries, V=20, k=3", 20, 6, 2, 3, ("batch of queries",), True)
        case("k = 1", 15, 5, 3, 1, ("k = 1",))
        case("k = V", 5, 4, 1, 5, ("k = V",))
        # Exact ties: axis-aligned rows scaled by powers of two normalise to exactly the same
        # vector, so their cosines are equal bit for bit in every dtype (random duplicate rows
        # are not: a matrix product may round two equal columns differently).
        table = torch.tensor([[0.0, 1, 0], [1, 0, 0], [0, 0, 1], [2, 0, 0], [0, -1, 0], [4, 0, 0]])
        c("ties: three rows along the query, three orthogonal", table.to(c.dtype),
          torch.tensor([1.0, 0, 0]).to(c.dtype), 4, tags=("ties",), public=True)
    return b.grid(rows, exclude=NO_HALF)


def _analogy_table(b: CaseBuilder, n_pairs: int, D: int):
    """Rows 0..n−1 "countries", rows n..2n−1 their "capitals" (a shared offset plus noise), then
    a few distractors; returned with the index triples (a, b, c) of all ordered pairs."""
    base = b.randn(n_pairs, D)
    offset = b.randn(D) * 1.5
    table = torch.cat([base, base + offset + 0.1 * b.randn(n_pairs, D), b.randn(3, D)])
    first, second = torch.meshgrid(torch.arange(n_pairs), torch.arange(n_pairs), indexing="ij")
    keep = first != second
    return table, first[keep], first[keep] + n_pairs, second[keep]


def analogy_cases(b: CaseBuilder):
    def rows(c: Cell):
        table, a, bb, cc = _analogy_table(b, 4, 12)
        c("12 analogies, 4 country–capital pairs", table.to(c.dtype), a, bb, cc, public=True)
        # The next two rank rows whose cosines may lie within bfloat16's rounding of each
        # other (the 2nd and 3rd answers, the rows left after exclusion): float32 and float64.
        table, a, bb, cc = _analogy_table(b, 3, 8)
        table2 = b.randn(5, 4)
        table2[3] = table2[1] - table2[0] + table2[2]  # the answer would be an input without the rule
        table2[4] = 0.9 * table2[3] + 0.1 * b.randn(4)
        if c.dtype != BF16:
            c("one analogy as 0-dim ids, k=3", table.to(c.dtype), a[0], bb[0], cc[0],
              tags=("k > 1",), public=True, k=3)
            c("the inputs are excluded even when nearest", table2.to(c.dtype), torch.tensor(0),
              torch.tensor(1), torch.tensor(3), tags=("excluding inputs",), public=True, k=2)
    return b.grid(rows, exclude=NO_HALF)


# =========================================================================== PCA
def pca_cases(b: CaseBuilder):
    def rows(c: Cell):
        def data(n, d, spread, shift=0.0):
            # independent axes of clearly different variances, rotated at random
            q, _ = torch.linalg.qr(b.randn(d, d))
            return (b.randn(n, d) * torch.tensor(spread, dtype=F64)) @ q.T + shift

        c("x (40, 3), k=2", data(40, 3, [3.0, 1.5, 0.5]).to(c.dtype), 2, n_outputs=3, public=True)
        c("x (60, 5), k=5 (all components)", data(60, 5, [5.0, 3.0, 2.0, 1.0, 0.4]).to(c.dtype), 5,
          n_outputs=3, tags=("k = D",), public=True)
        c("far from the origin (mean 100)", data(50, 4, [4.0, 2.0, 1.0, 0.5], 100.0).to(c.dtype), 2,
          n_outputs=3, tags=("not centred",), public=True)
        c("more features than points: x (6, 10), k=3",
          data(6, 10, [6.0, 4.0, 2.5, 1.5, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2]).to(c.dtype), 3,
          n_outputs=3, tags=("n < D",))
    return b.grid(rows, exclude=NO_HALF)


# =========================================================================== counts, PPMI
def cooccurrence_cases(b: CaseBuilder):
    def rows(c):
        c("V=5, 60 tokens, window 2", b.randint(0, 5, (60,)), 5, 2, public=True)
        c("window 1", b.randint(0, 4, (30,)), 4, 1, tags=("window 1",), public=True)
        c("window 4", b.randint(0, 6, (50,)), 6, 4, tags=("window > 2",))
        c("window longer than the stream", b.randint(0, 3, (4,)), 3, 6, tags=("short stream",))
        c("one token repeated (the diagonal)", torch.full((8,), 1, dtype=torch.int64), 3, 2,
          tags=("repeats",))
    return b.exact_grid(rows)


def ppmi_cases(b: CaseBuilder):
    def rows(c: Cell):
        def counts(V, tokens, window=2, zero_row=False):
            table = cooccurrence_matrix(b.randint(0, V, (tokens,)), V, window).double()
            if zero_row:
                table[-1] = table[:, -1] = 0.0
            return table.to(c.dtype)

        c("V=6 counts", counts(6, 80), public=True)
        c("shift 5 (5 negatives)", counts(5, 60), tags=("shift",), public=True, shift=5.0)
        c("a word never seen (zero row and column)", counts(5, 50, zero_row=True),
          tags=("zero counts",), public=True)
        c("sparse counts, V=12", counts(12, 30), tags=("zero counts",))
        if c.dtype == torch.float32:  # the output's dtype (the default), whatever the cell
            c("integer counts (int64 in, default dtype out)",
              cooccurrence_matrix(b.randint(0, 4, (40,)), 4, 2), tags=("int64 counts",))
    return b.grid(rows, exclude=NO_HALF)


# =========================================================================== SGNS
def sgns_cases(b: CaseBuilder):
    def rows(c: Cell):
        def loss(name, V, D, B, k, scale=0.5, tags=(), public=False, grad=False):
            c(name, b.randint(0, V, (B,)), b.randint(0, V, (B,)), b.randint(0, V, (B, k)),
              c.randn(V, D, scale=scale), c.randn(V, D, scale=scale), tags=tags, public=public,
              grad=(3, 4) if grad else ())

        loss("B=8, k=3 negatives, V=10, D=4", 10, 4, 8, 3, public=True)
        loss("B=1, k=1 negative", 6, 3, 1, 1, tags=("B = 1",), public=True)
        loss("large scores (vectors × 6)", 8, 5, 6, 4, scale=3.0, tags=("large scores",),
             public=True)
        loss("gradients w.r.t. both tables", 9, 4, 5, 2, grad=True)
    return b.grid(rows, exclude=NO_HALF)


# =========================================================================== word2vec
PURITY, ANALOGIES = 0.95, 0.9  # a correct loop reaches 1.0 on these corpora in 300 steps


def _embeddings(outputs, case):
    V, dim, E = case.args[1], case.args[2], outputs[0]
    if not isinstance(E, torch.Tensor) or tuple(E.shape) != (V, dim):
        return f"return the ({V}, {dim}) table w_in, got {getattr(E, 'shape', type(E))}"
    E = E.detach().double().cpu()
    if not torch.isfinite(E).all():
        return "the embeddings are not all finite: is the learning rate too large?"
    return E


def _is_finite_table(outputs, case):
    E = _embeddings(outputs, case)
    return E if isinstance(E, str) else None


def _has_learned(outputs, case):
    if float(_embeddings(outputs, case).abs().max()) < 0.1:
        return (f"the embeddings did not move: after {case.args[5]} steps every entry is still "
                "below 0.1, as at the start (uniform in ±0.5/dim); is the optimizer stepping?")
    return None


def _word2vec_checks(words):
    """The checks of one planted corpus, whose words (n_topics, n_members, 2) they score."""
    def recovers_clusters(outputs, case):
        purity = cluster_purity(_embeddings(outputs, case), words)
        if purity < PURITY:
            return (f"only {purity:.0%} of each planted word's 3 nearest words share its topic "
                    f"(at least {PURITY:.0%} expected; random vectors give about 25%): is the "
                    "negative term −log σ(−u_k · v_c), are the gradients zeroed every step, and "
                    "do centres and contexts have separate tables?")
        return None

    def recovers_analogies(outputs, case):
        accuracy = analogy_accuracy(_embeddings(outputs, case), words)
        if accuracy < ANALOGIES:
            return (f"3CosAdd answers {accuracy:.0%} of the planted analogies (at least "
                    f"{ANALOGIES:.0%} expected)")
        return None

    return (_is_finite_table, _has_learned, recovers_analogies, recovers_clusters)


def word2vec_cases(b: CaseBuilder):
    def rows(c):
        corpus = planted_corpus(3000, seed=11)
        c("planted corpus, 3000 sentences, dim 16, window 2, 5 negatives, 300 steps",
          corpus.tokens, corpus.vocab_size, 16, 2, 5, 300, 0.03, public=True, seed=0,
          checks=_word2vec_checks(corpus.words), compared=())
        corpus = planted_corpus(2000, n_topics=3, n_members=4, seed=12)
        c("3 topics × 4 members, dim 12, window 1, 4 negatives", corpus.tokens,
          corpus.vocab_size, 12, 1, 4, 300, 0.03, seed=1, checks=_word2vec_checks(corpus.words),
          compared=())
        corpus = planted_corpus(2500, n_topics=4, n_members=3, seed=13)
        c("4 topics × 3 members, dim 16, window 2, 5 negatives", corpus.tokens,
          corpus.vocab_size, 16, 2, 5, 300, 0.03, seed=2, checks=_word2vec_checks(corpus.words),
          compared=())
    return b.exact_grid(rows)


CHAPTER = Chapter(
    id="ch03",
    title="Embeddings",
    notebook="ch03_embeddings/ch03_embeddings.py",
    exercises=[
        Exercise(id="ch03.one_hot", name="one_hot", points=0.5, reference=one_hot,
                 cases=one_hot_cases, forbidden=forbidden.ONE_HOT,
                 forbidden_hint="compare the ids with torch.arange(num_classes)",
                 mistakes=catalog.ONE_HOT_MISTAKES),
        Exercise(id="ch03.cosine_similarity_matrix", name="cosine_similarity_matrix", points=1.0,
                 reference=cosine_similarity_matrix, cases=cosine_cases,
                 forbidden=forbidden.COSINE, forbidden_hint="divide by the norms, then one matmul",
                 mistakes=catalog.COSINE_MISTAKES),
        Exercise(id="ch03.nearest_neighbors", name="nearest_neighbors", points=1.0,
                 reference=nearest_neighbors, cases=nn_cases,
                 standins=("ch03.cosine_similarity_matrix",), mistakes=catalog.NN_MISTAKES),
        Exercise(id="ch03.analogy", name="analogy", points=1.5, reference=analogy,
                 cases=analogy_cases, standins=("ch03.cosine_similarity_matrix",),
                 mistakes=catalog.ANALOGY_MISTAKES),
        Exercise(id="ch03.pca", name="pca", points=2.0, reference=pca, cases=pca_cases,
                 forbidden=forbidden.LOW_RANK_SVD, forbidden_hint="centre, then torch.linalg.svd or eigh",
                 mistakes=catalog.PCA_MISTAKES),
        Exercise(id="ch03.cooccurrence_matrix", name="cooccurrence_matrix", points=1.0,
                 reference=cooccurrence_matrix, cases=cooccurrence_cases,
                 mistakes=catalog.COOCCURRENCE_MISTAKES),
        Exercise(id="ch03.ppmi_matrix", name="ppmi_matrix", points=1.5, reference=ppmi_matrix,
                 cases=ppmi_cases, mistakes=catalog.PPMI_MISTAKES),
        Exercise(id="ch03.sgns_loss", name="sgns_loss", points=1.5, reference=sgns_loss,
                 cases=sgns_cases, mistakes=catalog.SGNS_MISTAKES),
        Exercise(id="ch03.train_word2vec", name="train_word2vec", points=2.0,
                 reference=train_word2vec, cases=word2vec_cases, driver="drive_with_generator",
                 standins=("ch03.sgns_loss",), mistakes=catalog.WORD2VEC_MISTAKES),
    ],
    warm_ups=("dynamo",),  # Adam's first step imports torch._dynamo: once per worker
)
