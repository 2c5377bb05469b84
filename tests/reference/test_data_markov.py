"""reference.data's synthetic language: the stationary distribution solves pi M = pi, the exact
entropy rate matches a closed form and a Monte-Carlo estimate, and the structured tasks say what
they claim."""

import math

import torch

from reference.data import (addition_task, context_transition_matrix, copy_task, entropy_rate,
                            markov_chain, sample_markov, sort_task, stationary_distribution,
                            synthetic_corpus)


def test_rows_are_distributions():
    p = markov_chain(6, 2, seed=3)
    assert p.shape == (6, 6, 6)
    torch.testing.assert_close(p.sum(-1), torch.ones(6, 6, dtype=torch.float64))
    assert (p >= 0).all()


def test_stationary_distribution_is_fixed_point():
    p = markov_chain(5, 2, seed=1)
    pi = stationary_distribution(p)
    M = context_transition_matrix(p)
    torch.testing.assert_close(pi @ M, pi, rtol=0, atol=1e-12)
    assert abs(float(pi.sum()) - 1) < 1e-12 and (pi > 0).all()


def test_entropy_rate_of_iid_chain_is_row_entropy():
    """A chain whose rows are all the same distribution q is i.i.d.: the rate is H(q)."""
    q = torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64)
    p = q.expand(4, 4, 4).clone()
    assert abs(entropy_rate(p) - 1.75 * math.log(2)) < 1e-12


def test_entropy_rate_of_two_state_chain_closed_form():
    """Two states, P(0->1) = a, P(1->0) = b: pi = (b, a) / (a + b), H = pi_0 h(a) + pi_1 h(b)."""
    a, b = 0.3, 0.1
    p = torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64)

    def h(x):
        return -x * math.log(x) - (1 - x) * math.log(1 - x)

    expected = (b * h(a) + a * h(b)) / (a + b)
    assert abs(entropy_rate(p) - expected) < 1e-12


def test_entropy_rate_matches_monte_carlo():
    """-mean log P(x_t | context) over a sampled stream estimates the rate; 5 standard errors
    (the i.i.d. standard error, inflated 3x for the chain's autocorrelation)."""
    p = markov_chain(8, 2, seed=0)
    x = sample_markov(p, 60_000, torch.Generator().manual_seed(0))
    lp = torch.log(p[x[:-2], x[1:-1], x[2:]])
    se = 3 * float(lp.std()) / math.sqrt(lp.numel())
    assert abs(-float(lp.mean()) - entropy_rate(p)) < 5 * se


def test_sample_starts_stationary_and_counts_match():
    """Empirical context frequencies match pi within 5 sigma (binomial, inflated 3x)."""
    p = markov_chain(3, 1, seed=2)
    x = sample_markov(p, 30_000, torch.Generator().manual_seed(1))
    freq = torch.bincount(x, minlength=3).double() / x.numel()
    pi = stationary_distribution(p)
    sd = 3 * (pi * (1 - pi) / x.numel()).sqrt()
    assert ((freq - pi).abs() < 5 * sd).all()


def test_corpus_is_seeded_and_split():
    a = synthetic_corpus(vocab_size=8, order=1, n_train=500, n_val=100, seed=4)
    b = synthetic_corpus(vocab_size=8, order=1, n_train=500, n_val=100, seed=4)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    assert a.train.shape == (500,) and a.val.shape == (100,)
    assert not torch.equal(a.train[:100], a.val)
    assert 0 < a.entropy_rate < math.log(8)


def test_copy_and_sort_tasks():
    g = torch.Generator().manual_seed(0)
    t, m = copy_task(4, 5, 7, g)
    assert torch.equal(t[:, :5], t[:, 6:]) and (t[:, 5] == 7).all() and m.shape == (4, 10)
    assert m[:, 5:].all() and not m[:, :5].any()
    t, _ = sort_task(4, 5, 7, g)
    assert torch.equal(t[:, 6:], t[:, :5].sort(1).values)


def test_addition_task_digits_add_up():
    t, m = addition_task(16, 3, torch.Generator().manual_seed(0))
    w = 10 ** torch.arange(2, -1, -1)
    a = (t[:, 0:3] * w).sum(1)
    b = (t[:, 4:7] * w).sum(1)
    c = (t[:, 8:12] * 10 ** torch.arange(4)).sum(1)  # least-significant digit first
    assert torch.equal(a + b, c) and (t[:, 3] == 10).all() and (t[:, 7] == 11).all()
    assert m.shape == (16, 11) and m[:, 7:].all() and not m[:, :7].any()
