"""Chapter 2, Information theory: entropy, cross-entropy, KL divergence, mutual information, the
entropy rate of a Markov chain and source coding.

Conventions, stated once:

* Logarithms are natural: every quantity is in nats, but :func:`bits_per_byte` (and the Huffman
  code lengths, which count bits).
* 0 · log 0 = 0: an outcome of probability 0 contributes nothing, whatever the other distribution
  says there (``torch.xlogy(p, q)`` is 0 where ``p == 0``).
* An outcome with p > 0 where q = 0 makes the cross-entropy and the KL divergence +inf.
* Distributions lie along ``dim`` (default the last axis); the other axes are batch dimensions.
* A Markov chain is a row-stochastic matrix P, with P[i, j] = Pr(next state j | state i).

Every function computes in the dtype and on the device of its inputs, as the package says.
"""

from __future__ import annotations

import heapq
import math

import torch


# --------------------------------------------------------------------------- entropies
def entropy(p, dim=-1):
    """H(p) = −Σ_i p_i log p_i, in nats.

    Shape:
        p: (..., V, ...) a distribution over V outcomes along ``dim``
        output: p's shape without ``dim``
    """
    return -torch.xlogy(p, p).sum(dim)


def cross_entropy_dist(p, q, dim=-1):
    """H(p, q) = −Σ_i p_i log q_i, in nats: the expected code length (in nats) of outcomes drawn
    from p under a code built for q. +inf where some q_i = 0 < p_i.

    Shape:
        p, q: (..., V, ...) distributions along ``dim``, broadcast against each other
        output: the broadcast shape without ``dim``
    """
    return -torch.xlogy(p, q).sum(dim)


def kl_divergence(p, q, dim=-1):
    """KL(p ‖ q) = Σ_i p_i log(p_i / q_i) = H(p, q) − H(p), in nats; ≥ 0, and 0 iff p = q.

    Computed as Σ_i [p_i log p_i − p_i log q_i], so that p_i = 0 gives 0 even where q_i = 0.

    Shape:
        p, q: (..., V, ...) distributions along ``dim``, broadcast against each other
        output: the broadcast shape without ``dim``
    """
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim)


def mutual_information(joint):
    """I(X; Y) = KL(p(x, y) ‖ p(x) p(y)) = Σ_{x,y} p(x, y) log[p(x, y) / (p(x) p(y))], in nats.

    Shape:
        joint: (..., nx, ny) a joint distribution over the last two axes (entries ≥ 0, sum 1):
            nx values of X (rows), ny values of Y (columns)
        output: (...)
    """
    px = joint.sum(-1, keepdim=True)  # (..., nx, 1)
    py = joint.sum(-2, keepdim=True)  # (..., 1, ny)
    return (torch.xlogy(joint, joint) - torch.xlogy(joint, px * py)).sum((-2, -1))


# --------------------------------------------------------------------------- Markov chains
def stationary_distribution(P):
    """The distribution π with π P = π and Σ_i π_i = 1, for an irreducible, aperiodic chain (π is
    then unique and positive). Solved as one linear system: the balance equations (Pᵀ − I) π = 0,
    of which one is redundant, with the last replaced by the normalisation Σ_i π_i = 1.

    Shape:
        P: (..., V, V) row-stochastic, over V states
        output: (..., V)
    """
    n = P.shape[-1]
    A = P.transpose(-2, -1) - torch.eye(n, dtype=P.dtype, device=P.device)  # (..., V, V)
    A = torch.cat([A[..., :-1, :], torch.ones_like(A[..., -1:, :])], dim=-2)
    rhs = torch.zeros(P.shape[:-1], dtype=P.dtype, device=P.device)  # (..., V)
    rhs[..., -1] = 1.0
    if P.dtype in (torch.float16, torch.bfloat16):  # LAPACK has no 16-bit solver
        return torch.linalg.solve(A.float(), rhs.float()).to(P.dtype)
    return torch.linalg.solve(A, rhs)


def markov_entropy_rate(P):
    """The entropy rate of the stationary chain, lim H(X_1..X_n) / n = Σ_i π_i H(P[i, :]), in nats
    per step: the lowest expected next-state log-loss any predictor can reach.

    Shape:
        P: (..., V, V) row-stochastic, irreducible and aperiodic
        output: (...)
    """
    return (stationary_distribution(P) * entropy(P, dim=-1)).sum(-1)


# --------------------------------------------------------------------------- source coding
def huffman_code_lengths(probs):
    """The codeword lengths (in bits) of a binary Huffman code for ``probs``: repeatedly merge the
    two least probable groups; every merge adds one bit to each symbol of both groups. Ties may be
    broken in any order: all give the same, optimal, expected length Σ_i p_i l_i.

    Shape:
        probs: (V,) positive, V ≥ 2 symbols (they need not sum to 1: only their order matters)
        output: (V,) int64, on probs' device
    """
    values = probs.detach().double().cpu().tolist()
    lengths = [0] * len(values)
    heap = [(p, i, [i]) for i, p in enumerate(values)]  # (probability, tie-break, symbols)
    heapq.heapify(heap)
    while len(heap) > 1:
        p1, i1, group1 = heapq.heappop(heap)
        p2, _, group2 = heapq.heappop(heap)
        for s in group1 + group2:
            lengths[s] += 1
        heapq.heappush(heap, (p1 + p2, i1, group1 + group2))
    return torch.tensor(lengths, dtype=torch.int64, device=probs.device)


def bits_per_byte(nll_nats, n_bytes):
    """A model's total negative log-likelihood of a text, in nats, as bits per byte of that text:
    nll / (n_bytes · ln 2). It is the length of the text's arithmetic code under the model, per
    byte, and it compares models with different tokenizers.

    Shape:
        nll_nats: (...) total negative log-likelihood in nats
        n_bytes: a Python int or a tensor broadcastable against nll_nats
        output: (...)
    """
    return nll_nats / (n_bytes * math.log(2.0))
