"""reference.probability against Python counting, explicit loops, F.cross_entropy, hand-worked
Kneser–Ney numbers, a chi-square test of the sampler and the closed-form optimum of the bigram
likelihood."""

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from reference.probability import (
    kneser_ney_bigram,
    ngram_counts,
    ngram_model,
    perplexity,
    sample_categorical,
    sequence_log_prob,
    train_neural_bigram,
)


def _stream(n, vocab_size, seed=0):
    return torch.randint(0, vocab_size, (n,), generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- counting
@pytest.mark.parametrize("n", [1, 2, 3])
def test_ngram_counts_match_python_counting(n):
    tokens = _stream(200, 5)
    counts = ngram_counts(tokens, n, 5)
    assert counts.dtype == torch.int64 and counts.shape == (5,) * n
    expected = Counter(tuple(tokens[i:i + n].tolist()) for i in range(200 - n + 1))
    for gram, k in expected.items():
        assert counts[gram].item() == k
    assert counts.sum().item() == 200 - n + 1


def test_ngram_counts_of_a_short_stream_are_zero():
    assert ngram_counts(torch.tensor([1, 2]), 3, 4).sum().item() == 0


def test_ngram_model_is_mle_laplace_and_uniform_where_unseen():
    counts = torch.tensor([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    mle = ngram_model(counts)
    assert mle.dtype == torch.get_default_dtype()
    torch.testing.assert_close(mle[0], torch.tensor([0.75, 0.25, 0.0]))
    torch.testing.assert_close(mle[1], torch.full((3,), 1 / 3))  # unseen context: uniform
    laplace = ngram_model(counts.double(), alpha=1.0)
    assert laplace.dtype == torch.float64
    torch.testing.assert_close(laplace[0], torch.tensor([4 / 7, 2 / 7, 1 / 7], dtype=torch.float64))
    torch.testing.assert_close(laplace[1], torch.full((3,), 1 / 3, dtype=torch.float64))
    trigram = ngram_model(ngram_counts(_stream(300, 4), 3, 4), alpha=0.5)
    torch.testing.assert_close(trigram.sum(-1), torch.ones(4, 4))


# --------------------------------------------------------------------------- scoring
def test_sequence_log_prob_and_perplexity_against_a_loop_and_cross_entropy():
    tokens = _stream(100, 6, seed=1)
    model = ngram_model(ngram_counts(_stream(500, 6, seed=2), 2, 6).double(), alpha=0.1)
    loop = sum(math.log(model[tokens[t - 1], tokens[t]].item()) for t in range(1, 100))
    assert sequence_log_prob(model, tokens).item() == pytest.approx(loop, rel=1e-12)
    nll = F.cross_entropy(model.log()[tokens[:-1]], tokens[1:])  # mean over the 99 predictions
    assert perplexity(model, tokens).item() == pytest.approx(math.exp(nll.item()), rel=1e-12)
    uniform = torch.full((6, 6, 6), 1 / 6, dtype=torch.float64)
    assert perplexity(uniform, tokens).item() == pytest.approx(6.0)
    assert sequence_log_prob(uniform, tokens).item() == pytest.approx(-98 * math.log(6))


def test_the_count_estimate_maximises_the_likelihood_of_its_own_data():
    tokens = _stream(300, 4, seed=3)
    mle = ngram_model(ngram_counts(tokens, 2, 4).double())
    best = sequence_log_prob(mle, tokens)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):  # any other row-stochastic model does worse
        other = torch.softmax(mle.clamp_min(1e-12).log() + 0.1 * torch.randn(4, 4, generator=gen,
                              dtype=torch.float64), -1)
        assert sequence_log_prob(other, tokens) < best


def test_a_zero_probability_gives_minus_infinity():
    model = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert sequence_log_prob(model, torch.tensor([0, 1])).item() == -math.inf
    assert perplexity(model, torch.tensor([0, 1])).item() == math.inf


# --------------------------------------------------------------------------- Kneser–Ney
def test_kneser_ney_by_hand():
    # tokens: a b a c a b  (a=0, b=1, c=2); bigrams ab, ba, ac, ca, ab
    tokens = torch.tensor([0, 1, 0, 2, 0, 1])
    d = 0.5
    kn = kneser_ney_bigram(tokens, 4, discount=d)
    # distinct bigrams: ab, ba, ac, ca = 4; words before: a←{b, c}, b←{a}, c←{a}, d←{}
    p_cont = torch.tensor([2 / 4, 1 / 4, 1 / 4, 0.0])
    # context a: c(a)=3 with c(a,b)=2, c(a,c)=1; N1+(a•)=2
    lam = d * 2 / 3
    expected_a = torch.tensor([0.0, (2 - d) / 3, (1 - d) / 3, 0.0]) + lam * p_cont
    torch.testing.assert_close(kn[0], expected_a)
    torch.testing.assert_close(kn[3], p_cont)  # d is never a context: the continuation model
    torch.testing.assert_close(kn.sum(-1), torch.ones(4))


def test_kneser_ney_without_discount_is_the_count_estimate_on_seen_contexts():
    tokens = _stream(400, 5, seed=4)
    kn = kneser_ney_bigram(tokens, 5, discount=0.0)
    torch.testing.assert_close(kn, ngram_model(ngram_counts(tokens, 2, 5)))


# --------------------------------------------------------------------------- sampling
def test_sample_categorical_follows_its_recipe():
    probs = torch.tensor([[0.2, 0.0, 0.5, 0.3], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64)
    draws = sample_categorical(probs, 50, torch.Generator().manual_seed(7))
    assert draws.dtype == torch.int64 and draws.shape == (2, 50)
    u = torch.rand(2, 50, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    cdf = probs.cumsum(-1)
    loop = [[next(i for i in range(4) if uu < cdf[r, i] or i == 3) for uu in u[r].tolist()]
            for r in range(2)]
    assert draws.tolist() == loop
    assert not (draws[0] == 1).any()  # probability 0 is never drawn


def test_sample_categorical_passes_a_chi_square_test():
    """200 000 draws from 10 categories: Pearson's statistic has 9 degrees of freedom; 40 is
    beyond its 0.99999 quantile (about 37.3)."""
    probs = torch.softmax(torch.randn(10, generator=torch.Generator().manual_seed(0)), -1)
    n = 200_000
    draws = sample_categorical(probs.float(), n, torch.Generator().manual_seed(1))
    observed = torch.bincount(draws, minlength=10).double()
    expected = n * probs.double()
    assert ((observed - expected) ** 2 / expected).sum().item() < 40


# --------------------------------------------------------------------------- neural bigram
def test_neural_bigram_converges_to_the_count_estimate():
    tokens = _stream(2000, 6, seed=5)
    tokens[tokens == 5] = 4  # token 5 never occurs: its row is never trained
    logits = train_neural_bigram(tokens, 6, steps=400, lr=0.1,
                                 generator=torch.Generator().manual_seed(0))
    counts = ngram_counts(tokens, 2, 6)
    seen = counts.sum(-1) > 0
    mle = ngram_model(counts)
    tv = 0.5 * (torch.softmax(logits, -1) - mle).abs().sum(-1)
    assert tv[seen].max().item() < 0.01
    assert (torch.softmax(logits[5], -1) - 1 / 6).abs().max().item() < 0.01  # unseen: near uniform
    # the loss it reaches is the conditional entropy of the bigram counts: the optimum
    x, y = tokens[:-1], tokens[1:]
    optimum = -(counts * mle.clamp_min(1e-30).log()).sum().item() / counts.sum().item()
    assert F.cross_entropy(logits[x], y).item() == pytest.approx(optimum, abs=2e-3)
