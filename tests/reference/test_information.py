"""reference.information against torch.distributions, F.kl_div / F.cross_entropy, NumPy, closed
forms, brute force and simulation."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, kl_divergence as torch_kl

from reference.information import (
    bits_per_byte,
    cross_entropy_dist,
    entropy,
    huffman_code_lengths,
    kl_divergence,
    markov_entropy_rate,
    mutual_information,
    stationary_distribution,
)


def _dist(*shape, gen, dtype=torch.float64, dim=-1, zeros=0.0):
    """Random distributions along ``dim`` (float64, rounded to ``dtype`` and renormalised in
    float64 so they sum to 1 in the dtype's own values), a fraction ``zeros`` of entries 0."""
    p = torch.rand(*shape, generator=gen, dtype=torch.float64) ** 3
    if zeros:
        p = p * (torch.rand(*shape, generator=gen, dtype=torch.float64) >= zeros)
        p.select(dim, 0).add_(0.1)  # never an all-zero distribution
    p = (p / p.sum(dim, keepdim=True)).to(dtype)
    return p


def _magnitude(p, q=None, dim=-1):
    """Output size times error amplification for Σ p log q: each term rounds its log (relative u
    of |log q|), its product and its place in the sum (about log2 N additions)."""
    q = p if q is None else q
    terms = (p.double() * q.double().clamp_min(1e-300).log().abs()).sum(dim) + 1
    return terms * (2 + math.log2(p.shape[dim]))


# --------------------------------------------------------------------------- entropies
@pytest.mark.parametrize("shape, dim", [((7,), -1), ((4, 9), -1), ((5, 6), 0), ((2, 3, 5), 1)])
def test_entropy_cross_entropy_and_kl_match_torch(shape, dim, dtype, gen, assert_matches_truth):
    p, q = _dist(*shape, gen=gen, dtype=dtype, dim=dim), _dist(*shape, gen=gen, dtype=dtype, dim=dim)
    pm, qm = p.double().movedim(dim, -1), q.double().movedim(dim, -1)
    h_truth = Categorical(probs=pm).entropy()
    kl_truth = torch_kl(Categorical(probs=pm), Categorical(probs=qm))
    ce_truth = F.cross_entropy(qm.log().reshape(-1, qm.shape[-1]), pm.reshape(-1, pm.shape[-1]),
                               reduction="none").reshape(h_truth.shape)
    assert_matches_truth(entropy(p, dim=dim), h_truth, dtype, _magnitude(p, dim=dim))
    assert_matches_truth(cross_entropy_dist(p, q, dim=dim), ce_truth, dtype,
                         _magnitude(p, q, dim=dim))
    assert_matches_truth(kl_divergence(p, q, dim=dim), kl_truth, dtype,
                         _magnitude(p, dim=dim) + _magnitude(p, q, dim=dim))
    kl_torch = F.kl_div(qm.log(), pm, reduction="none").sum(-1)  # KL(p‖q), torch's argument order
    torch.testing.assert_close(kl_divergence(p.double(), q.double(), dim=dim), kl_torch)


def test_zero_probabilities_follow_the_conventions():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    q = torch.tensor([0.25, 0.75, 0.0], dtype=torch.float64)
    # 0 · log 0 = 0: the third outcome contributes nothing
    assert entropy(p).item() == pytest.approx(math.log(2))
    assert cross_entropy_dist(p, q).item() == pytest.approx(-0.5 * math.log(0.25) - 0.5 * math.log(0.75))
    assert kl_divergence(p, q).item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75))
    # q = 0 < p: the code for q has no word for an outcome that happens
    r = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    assert cross_entropy_dist(p, r).item() == math.inf
    assert kl_divergence(p, r).item() == math.inf
    assert kl_divergence(r, p).item() == pytest.approx(math.log(2))  # KL is not symmetric
    assert entropy(r).item() == 0.0 and not torch.isnan(entropy(r))


def test_identities(gen):
    p, q = _dist(6, 10, gen=gen), _dist(6, 10, gen=gen)
    torch.testing.assert_close(cross_entropy_dist(p, q), entropy(p) + kl_divergence(p, q))
    assert (kl_divergence(p, q) > 0).all()  # Gibbs' inequality, strict for p ≠ q
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(6, dtype=torch.float64))
    uniform = torch.full((10,), 0.1, dtype=torch.float64)
    assert (entropy(p) < math.log(10)).all()
    torch.testing.assert_close(entropy(uniform), torch.tensor(math.log(10), dtype=torch.float64))
    # broadcasting: one q against a batch of p
    torch.testing.assert_close(cross_entropy_dist(p, q[0]), cross_entropy_dist(p, q[:1].expand(6, 10)))


def test_entropy_gradient_is_minus_log_p_minus_one(gen):
    p = _dist(3, 5, gen=gen).requires_grad_()
    (grad,) = torch.autograd.grad(entropy(p).sum(), p)
    torch.testing.assert_close(grad, -(p.detach().log() + 1))


# --------------------------------------------------------------------------- mutual information
def test_mutual_information_against_numpy_and_identities(dtype, gen, assert_matches_truth):
    joint = _dist(4, 6, gen=gen).reshape(-1)
    joint = (joint / joint.sum()).reshape(4, 6).to(dtype)
    j = joint.double().numpy()
    px, py = j.sum(1, keepdims=True), j.sum(0, keepdims=True)
    truth = torch.tensor(float(np.sum(j * np.log(j / (px * py)))), dtype=torch.float64)
    assert_matches_truth(mutual_information(joint), truth, dtype, 4 * _magnitude(joint.reshape(-1)))
    j64 = joint.double()
    h = entropy(j64.sum(1)) + entropy(j64.sum(0)) - entropy(j64.reshape(-1))  # H(X)+H(Y)−H(X,Y)
    torch.testing.assert_close(mutual_information(j64), h)
    torch.testing.assert_close(mutual_information(j64.T), mutual_information(j64))  # symmetric


def test_mutual_information_limits():
    independent = torch.outer(torch.tensor([0.2, 0.8], dtype=torch.float64),
                              torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64))
    assert mutual_information(independent).abs().item() < 1e-15
    copy = torch.eye(5, dtype=torch.float64) / 5  # Y = X: I = H(X) = log 5, with zeros off the diagonal
    assert mutual_information(copy).item() == pytest.approx(math.log(5))
    batch = torch.stack([independent.new_zeros(2, 3) + 1 / 6, independent])
    assert mutual_information(batch).shape == (2,)


# --------------------------------------------------------------------------- Markov chains
def _chain(n, gen, dtype=torch.float64):
    P = torch.rand(n, n, generator=gen, dtype=torch.float64) + 0.05
    return (P / P.sum(-1, keepdim=True)).to(dtype)


def test_stationary_distribution_is_the_left_eigenvector_of_eigenvalue_one(gen):
    P = _chain(6, gen)
    values, vectors = torch.linalg.eig(P.T)
    v = vectors[:, (values - 1).abs().argmin()].real
    pi = stationary_distribution(P)
    torch.testing.assert_close(pi, v / v.sum())
    torch.testing.assert_close(pi @ P, pi)
    assert (pi > 0).all()
    batch = torch.stack([P, _chain(6, gen)])
    torch.testing.assert_close(stationary_distribution(batch)[0], pi)


def test_stationary_distribution_in_float32(gen, assert_matches_truth):
    P = _chain(5, gen, torch.float32)
    truth = stationary_distribution(P.double())
    # a well-conditioned 5 × 5 solve: errors of a few eps times the condition number (< 10 here)
    assert_matches_truth(stationary_distribution(P), truth, torch.float32, 10.0)


def test_entropy_rate_closed_forms():
    a, b = 0.3, 0.1  # two states: leave 0 with probability a, leave 1 with probability b
    P = torch.tensor([[1 - a, a], [b, 1 - b]], dtype=torch.float64)
    pi0, pi1 = b / (a + b), a / (a + b)

    def h(x):
        return -x * math.log(x) - (1 - x) * math.log(1 - x)

    assert markov_entropy_rate(P).item() == pytest.approx(pi0 * h(a) + pi1 * h(b))
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)  # i.i.d.: every row the same
    assert markov_entropy_rate(p.expand(3, 3)).item() == pytest.approx(entropy(p).item())
    cycle = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert markov_entropy_rate(cycle).item() == 0.0  # deterministic (periodic, but π is unique)


def test_entropy_rate_is_the_log_loss_of_a_long_sample(gen):
    """By the ergodic theorem, −(1/n) log p(x_1..x_n) → the rate; a CLT band of 6 standard errors
    (the per-step log-losses are dependent, so their spread is estimated from 100 block means)."""
    P = _chain(4, gen)
    n, blocks = 40_000, 100
    x = torch.empty(n, dtype=torch.int64)
    x[0] = 0
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    cdf = P.cumsum(-1)
    for t in range(1, n):
        x[t] = min(int(torch.searchsorted(cdf[x[t - 1]], u[t])), 3)
    losses = -P[x[:-1], x[1:]].log()
    means = losses[: (n - 1) // blocks * blocks].reshape(blocks, -1).mean(-1)
    se = means.std().item() / math.sqrt(blocks)
    assert abs(losses.mean().item() - markov_entropy_rate(P).item()) < 6 * se


# --------------------------------------------------------------------------- source coding
def _optimal_length_by_brute_force(p):
    """The least Σ p_i l_i over all lengths l_i ∈ {1..N−1} with Kraft equality Σ 2^−l_i = 1 (a
    complete prefix code exists for exactly these, and an optimal code is complete)."""
    n = len(p)
    best = math.inf
    for lengths in itertools.product(range(1, n), repeat=n):
        if sum(2.0 ** -l for l in lengths) == 1.0:
            best = min(best, sum(pi * li for pi, li in zip(p, lengths)))
    return best


@pytest.mark.parametrize("n", [2, 3, 5, 6])
def test_huffman_is_optimal_against_brute_force(n, gen):
    for _ in range(3):
        p = _dist(n, gen=gen)
        lengths = huffman_code_lengths(p)
        assert lengths.dtype == torch.int64 and lengths.shape == (n,)
        assert sum(2.0 ** -l for l in lengths.tolist()) == 1.0  # Kraft equality
        expected = float((p * lengths).sum())
        assert expected == pytest.approx(_optimal_length_by_brute_force(p.tolist()), rel=1e-12)


def test_huffman_textbook_cases(gen):
    p = torch.tensor([0.4, 0.2, 0.2, 0.1, 0.1])
    assert float((p * huffman_code_lengths(p)).sum()) == pytest.approx(2.2)
    dyadic = torch.tensor([0.5, 0.25, 0.125, 0.125])  # lengths are exactly −log2 p
    assert huffman_code_lengths(dyadic).tolist() == [1, 2, 3, 3]
    assert huffman_code_lengths(torch.full((8,), 1 / 8)).tolist() == [3] * 8
    for n in (10, 50, 256):  # source coding theorem: H ≤ L < H + 1, in bits
        p = _dist(n, gen=gen)
        bits = entropy(p).item() / math.log(2)
        length = float((p * huffman_code_lengths(p)).sum())
        assert bits <= length < bits + 1


def test_bits_per_byte():
    nll = torch.tensor([1000 * math.log(2), 0.0], dtype=torch.float64)
    torch.testing.assert_close(bits_per_byte(nll, 1000), torch.tensor([1.0, 0.0], dtype=torch.float64))
    # a uniform model over the 256 byte values costs exactly 8 bits per byte
    n = 37
    assert bits_per_byte(torch.tensor(n * math.log(256)), n).item() == pytest.approx(8.0)
