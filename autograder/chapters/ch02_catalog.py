"""Chapter 2 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``) or, where the mistake is another algorithm, as
functions. tests/ prove that each mistake loses its exercise's points and is named in the
feedback. The alternative correct implementations are test fixtures:
``tests/chapters/alternatives/ch02.py``.
"""

from __future__ import annotations

import math

import torch

from autograder.spec import Mistake

_SUM = "sum(dim=dim)"


def _ignores_dim(what: str) -> Mistake:
    return Mistake(key="ignores_dim", title=f"{what} always summed over the last axis",
                   hint="sum along the `dim` argument: the distributions may lie along axis 0",
                   patch={_SUM: "sum(dim=-1)"})


# =========================================================================== entropy
ENTROPY_MISTAKES = (
    Mistake(key="log0_nan", title="p · log p computed directly: NaN where p = 0",
            hint="0 · log 0 is defined as 0 (the limit of x log x): use torch.xlogy(p, p)",
            patch={"torch.xlogy(p, p)": "(p * torch.log(p))"}),
    Mistake(key="bits", title="entropy in bits instead of nats",
            hint="use the natural logarithm: no division by ln 2",
            patch={"return -torch.xlogy(p, p).sum(dim=dim)":
                   "return -torch.xlogy(p, p).sum(dim=dim) / math.log(2)"}),
    Mistake(key="no_minus", title="the minus sign left out",
            hint="Σ p log p ≤ 0: the entropy is its negative",
            patch={"return -torch.xlogy": "return torch.xlogy"}),
    _ignores_dim("the entropy"),
)


# =========================================================================== cross-entropy
CROSS_ENTROPY_MISTAKES = (
    Mistake(key="swapped", title="p and q swapped: −Σ q log p",
            hint="the expectation is under the true distribution p: −Σ p_i log q_i",
            patch={"torch.xlogy(p, q)": "torch.xlogy(q, p)"}),
    Mistake(key="log0_nan", title="p · log q computed directly: NaN where p = q = 0",
            hint="an outcome with p = 0 contributes 0 even where q = 0: use torch.xlogy(p, q)",
            patch={"torch.xlogy(p, q)": "(p * torch.log(q))"}),
    Mistake(key="bits", title="cross-entropy in bits instead of nats",
            hint="use the natural logarithm: no division by ln 2",
            patch={"return -torch.xlogy(p, q).sum(dim=dim)":
                   "return -torch.xlogy(p, q).sum(dim=dim) / math.log(2)"}),
    _ignores_dim("the cross-entropy"),
)


# =========================================================================== KL divergence
_KL = "(torch.xlogy(p, p) - torch.xlogy(p, q))"
KL_MISTAKES = (
    Mistake(key="swapped", title="KL(q ‖ p) computed: the arguments swapped",
            hint="KL(p ‖ q) averages log(p/q) under p, the FIRST argument; KL is not symmetric",
            patch={_KL: "(torch.xlogy(q, q) - torch.xlogy(q, p))"}),
    Mistake(key="ratio_nan", title="p · log(p / q) in one logarithm: NaN where p = q = 0",
            hint="0/0 is NaN before the 0 · log rule can help: split it into "
                 "xlogy(p, p) − xlogy(p, q)",
            patch={_KL: "(p * torch.log(p / q))"}),
    Mistake(key="cross_entropy_only", title="the H(p) term left out: that is the cross-entropy",
            hint="KL(p ‖ q) = H(p, q) − H(p) = Σ p log p − Σ p log q",
            patch={"torch.xlogy(p, p) - torch.xlogy(p, q)": "-torch.xlogy(p, q)"}),
    Mistake(key="sign", title="sign flipped: Σ p log(q / p)",
            hint="Gibbs' inequality: KL ≥ 0, so it is Σ p log(p / q)",
            patch={_KL: "(torch.xlogy(p, q) - torch.xlogy(p, p))"}),
    _ignores_dim("the divergence"),
)


# =========================================================================== mutual information
_MI = "(torch.xlogy(joint, joint) - torch.xlogy(joint, px * py))"
MI_MISTAKES = (
    Mistake(key="conditional", title="divided by p(x) only: that is −H(Y | X)",
            hint="compare the joint with the product of BOTH marginals, p(x) p(y)",
            patch={"px * py": "px"}),
    Mistake(key="same_axis_marginals", title="both marginals summed over the same axis",
            hint="p(x) sums over y (axis −1), p(y) sums over x (axis −2)",
            patch={"px = joint.sum(dim=-1, keepdim=True)": "px = joint.sum(dim=-2, keepdim=True)"}),
    Mistake(key="swapped", title="KL(p(x)p(y) ‖ p(x, y)): the arguments swapped",
            hint="the expectation is under the joint: Σ p(x,y) log[p(x,y) / (p(x)p(y))]",
            patch={_MI: "(torch.xlogy(px * py, px * py) - torch.xlogy(px * py, joint))"}),
)


# =========================================================================== stationary distribution
def stationary_power_10(P):
    """μ ← μ P ten times from the uniform distribution: not converged for slowly mixing chains."""
    mu = torch.full(P.shape[:-1], 1.0 / P.shape[-1], dtype=P.dtype, device=P.device)
    for _ in range(10):
        mu = (mu.unsqueeze(-2) @ P).squeeze(-2)
    return mu


def stationary_unit_norm(P):
    """The left eigenvector for eigenvalue 1, scaled to unit length instead of unit sum."""
    values, vectors = torch.linalg.eig(P.double().transpose(-2, -1))
    k = (values - 1).abs().argmin(-1, keepdim=True)
    v = vectors.gather(-1, k.unsqueeze(-2).expand(*vectors.shape[:-1], 1)).squeeze(-1).real
    v = v * torch.sign(v.sum(-1, keepdim=True))
    return (v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)).to(P.dtype)


STATIONARY_MISTAKES = (
    Mistake(key="right_eigenvector", title="P π = π solved (a right eigenvector of P)",
            hint="π is a row vector, π P = π: solve (Pᵀ − I) π = 0; P 1 = 1 makes the right "
                 "eigenvector the uniform vector",
            patch={"A = P.transpose(-2, -1) - eye": "A = P - eye"}),
    Mistake(key="power_10", title="power iteration stopped after a few steps",
            hint="μ ← μ P converges only geometrically (slowly for sticky chains): iterate to "
                 "convergence, or solve the linear system",
            fn=stationary_power_10),
    Mistake(key="unit_norm", title="eigenvector scaled to unit length instead of unit sum",
            hint="a distribution sums to 1: divide the eigenvector by its sum",
            fn=stationary_unit_norm),
)


# =========================================================================== entropy rate
ENTROPY_RATE_MISTAKES = (
    Mistake(key="uniform_weights", title="states weighted uniformly instead of by π",
            hint="in the long run state i is visited a fraction π_i of the time: Σ π_i H(P[i])",
            patch={"pi = stationary_distribution(P)":
                   "pi = torch.full_like(P[..., 0], 1.0 / P.shape[-1])"}),
    Mistake(key="columns", title="entropies of the columns of P",
            hint="row i of P is the distribution of the next state after state i",
            patch={"entropy(P, dim=-1)": "entropy(P, dim=-2)"}),
    Mistake(key="entropy_of_pi", title="the entropy of π returned",
            hint="H(π) is the uncertainty of one state; the rate is that of the NEXT state given "
                 "the current one, Σ π_i H(P[i])",
            patch={"return (pi * entropy(P, dim=-1)).sum(dim=-1)": "return entropy(pi)"}),
)


# =========================================================================== Huffman
def huffman_shannon_lengths(probs):
    """Shannon's lengths ⌈−log2 p⌉: a prefix code, but not an optimal one."""
    p = probs.double() / probs.double().sum()
    return torch.ceil(-torch.log2(p)).to(torch.int64)


HUFFMAN_MISTAKES = (
    Mistake(key="merge_largest", title="the two MOST probable groups merged",
            hint="merge the two least probable groups, so the rare symbols get the long codes",
            patch={"groups.sort(key=lambda g: g[0])": "groups.sort(key=lambda g: -g[0])"}),
    Mistake(key="one_group_bit", title="only one of the merged groups gets the extra bit",
            hint="the new node is the parent of both groups: every symbol of both goes one "
                 "level deeper",
            patch={"for s in symbols1 + symbols2:": "for s in symbols1:"}),
    Mistake(key="shannon", title="Shannon's lengths ⌈−log₂ p⌉ instead of Huffman's",
            hint="⌈−log₂ p⌉ satisfies Kraft but wastes code space; Huffman merges fill the tree",
            fn=huffman_shannon_lengths),
)


# =========================================================================== bits per byte
_BPB = "nll_nats / (n_bytes * math.log(2))"
BPB_MISTAKES = (
    Mistake(key="nats", title="left in nats: not divided by ln 2",
            hint="one bit is ln 2 nats: divide the nats by ln 2",
            patch={"(n_bytes * math.log(2))": "n_bytes"}),
    Mistake(key="times_ln2", title="multiplied by ln 2 instead of divided",
            hint="a nat is 1/ln 2 ≈ 1.44 bits: nats → bits divides by ln 2",
            patch={_BPB: "nll_nats * math.log(2) / n_bytes"}),
    Mistake(key="per_bit", title="divided by the number of bits (8 per byte)",
            hint="bits per BYTE: divide by the number of bytes",
            patch={"(n_bytes * math.log(2))": "(8 * n_bytes * math.log(2))"}),
)
