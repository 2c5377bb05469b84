"""Chapter 2 — Information theory: the graded exercises and the cases they are graded on.

Distributions are drawn in float64 and rounded to the dtype under test; the expected outputs come
from the reference (``reference/information.py``) on exactly those rounded inputs. Cases with
exact zeros test the 0 · log 0 = 0 convention and the +inf of a q that misses an outcome. The
Huffman code is judged by its properties (Kraft equality, Shannon's bounds, optimality), so any
tie-breaking passes.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from autograder import forbidden
from autograder.chapters import ch02_catalog as catalog
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise
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

F64 = torch.float64
ZEROS = "zero probabilities"
MISSING = "q = 0 < p"


def _dist(b: CaseBuilder, *shape, dim=-1, zeros=0.0, sharp=2.0):
    """Distributions along ``dim`` in float64: a softmax of scaled normals (``sharp``), with a
    fraction ``zeros`` of entries set to exactly 0 (never a whole distribution)."""
    logits = b.randn(*shape) * sharp
    if zeros:
        drop = b.rand(*shape) < zeros
        keep = logits.argmax(dim, keepdim=True)
        drop.scatter_(dim % len(shape), keep, False)
        logits = logits.masked_fill(drop, float("-inf"))
    return torch.softmax(logits, dim=dim)


# =========================================================================== entropy
def entropy_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("p (8,)", _dist(b, 8).to(c.dtype), public=True)
        c("p (4, 6)", _dist(b, 4, 6).to(c.dtype), tags=("batch dims",), public=True)
        c("p (5, 7), dim=0", _dist(b, 5, 7, dim=0).to(c.dtype), tags=("dim ≠ -1",), public=True,
          dim=0)
        c("p (2, 3, 5), dim=1", _dist(b, 2, 3, 5, dim=1).to(c.dtype), tags=("dim ≠ -1",), dim=1)
        c("p (5, 9) with zeros", _dist(b, 5, 9, zeros=0.4).to(c.dtype), tags=(ZEROS,),
          public=True)
        one_hot = torch.zeros(3, 4, dtype=F64)
        one_hot[torch.arange(3), b.randint(0, 4, (3,))] = 1.0
        c("one-hot rows (entropy 0)", one_hot.to(c.dtype), tags=(ZEROS,))
        c("uniform over 1000 outcomes", torch.full((1000,), 1e-3, dtype=F64).to(c.dtype),
          tags=("large V",))
        c("non-contiguous p (6, 5), dim=0", _dist(b, 6, 5, dim=0).to(c.dtype),
          tags=("dim ≠ -1",), noncontig=(0,), dim=0)
        c("gradient, p (3, 6), all positive", _dist(b, 3, 6).to(c.dtype), grad=(0,))
    return b.grid(rows)


# =========================================================================== cross-entropy, KL
def _two_dist_cases(b: CaseBuilder, *, kl: bool):
    def rows(c: Cell):
        def pair(name, p, q, tags=(), **kw):
            c(name, p.to(c.dtype), q.to(c.dtype), tags=tags, **kw)

        pair("p, q (8,)", _dist(b, 8), _dist(b, 8), public=True)
        pair("p, q (4, 6)", _dist(b, 4, 6), _dist(b, 4, 6), tags=("batch dims",), public=True)
        pair("p, q (5, 7), dim=0", _dist(b, 5, 7, dim=0), _dist(b, 5, 7, dim=0),
             tags=("dim ≠ -1",), dim=0)
        pair("q (1, 6) broadcast against p (4, 6)", _dist(b, 4, 6), _dist(b, 1, 6),
             tags=("broadcast",))
        p = _dist(b, 4, 7, zeros=0.4)
        q = _dist(b, 4, 7)
        q = torch.where(p == 0, torch.where(b.rand(4, 7) < 0.5, 0.0, q), q)  # some q = 0 too
        pair("p with zeros, q = 0 at some of them", p, q / q.sum(-1, keepdim=True),
             tags=(ZEROS,), public=True)
        q = _dist(b, 3, 6)
        q[1, 2] = q[2, 0] = 0.0  # outcomes p gives mass to
        pair("q = 0 where p > 0 (inf in rows 1 and 2)", _dist(b, 3, 6), q, tags=(MISSING,),
             public=True)
        pair("sharp p, q (3, 10)", _dist(b, 3, 10, sharp=6.0), _dist(b, 3, 10, sharp=6.0),
             tags=("sharp distributions",))
        if kl:
            p = _dist(b, 2, 5)
            pair("q = p (KL 0)", p, p.clone(), tags=("q = p",), public=True)
        pair("gradients, p, q (3, 5), all positive", _dist(b, 3, 5), _dist(b, 3, 5),
             grad=(0, 1))
    return b.grid(rows)


def cross_entropy_cases(b: CaseBuilder):
    return _two_dist_cases(b, kl=False)


def kl_cases(b: CaseBuilder):
    return _two_dist_cases(b, kl=True)


# =========================================================================== mutual information
def mi_cases(b: CaseBuilder):
    def rows(c: Cell):
        def joint(name, table, tags=(), **kw):
            c(name, (table / table.sum((-2, -1), keepdim=True)).to(c.dtype), tags=tags, **kw)

        joint("joint (4, 6)", _dist(b, 24).reshape(4, 6), public=True)
        joint("joint (3, 3)", _dist(b, 9).reshape(3, 3), tags=("X = Y sizes",), public=True)
        joint("independent: p(x) p(y) (I = 0)", torch.outer(_dist(b, 5), _dist(b, 3)),
              tags=("independent",), public=True)
        joint("Y = X: diagonal joint (5, 5)", torch.diag(_dist(b, 5)), tags=(ZEROS, "Y = X"))
        joint("joint (4, 5) with zeros", _dist(b, 20, zeros=0.4).reshape(4, 5), tags=(ZEROS,))
        joint("batch of joints (2, 3, 4)", _dist(b, 2, 12).reshape(2, 3, 4),
              tags=("batch dims",))
        joint("gradient, joint (3, 4), all positive", _dist(b, 12).reshape(3, 4), grad=(0,))
    return b.grid(rows)


# =========================================================================== Markov chains
def _chain(b: CaseBuilder, *shape, sharp=1.5):
    """Row-stochastic matrices with every entry positive (irreducible, aperiodic)."""
    return torch.softmax(b.randn(*shape) * sharp, dim=-1)


def _chain_rows(b: CaseBuilder, c: Cell):
    # No gradient cases: π is defined on row-stochastic matrices only, and its gradient off that
    # set depends on which balance equation an implementation drops (all are correct).
    def chain(name, P, tags=(), **kw):
        c(name, P.to(c.dtype), tags=tags, **kw)

    chain("P (5, 5)", _chain(b, 5, 5), public=True)
    a, s = 0.1 + 0.3 * float(b.rand(1)), 0.05 + 0.2 * float(b.rand(1))
    chain("two states", torch.tensor([[1 - a, a], [s, 1 - s]], dtype=F64), tags=("V = 2",),
          public=True)
    chain("batch of chains (3, 4, 4)", _chain(b, 3, 4, 4), tags=("batch dims",), public=True)
    sticky = 0.9 * torch.eye(6, dtype=F64) + 0.1 * _chain(b, 6, 6)
    chain("sticky chain (diagonal 0.9)", sticky, tags=("slow mixing",))
    ring = torch.zeros(7, 7, dtype=F64)  # a ring with self-loops: sparse, irreducible, aperiodic
    idx = torch.arange(7)
    ring[idx, idx] = 0.3
    ring[idx, (idx + 1) % 7] = 0.5 + 0.2 * b.rand(7)
    ring[idx, (idx + 3) % 7] = 1 - ring.sum(-1)
    chain("sparse ring (7 states, zeros in P)", ring, tags=(ZEROS,))
    chain("i.i.d. rows: every row the same", _chain(b, 1, 6).expand(6, 6).contiguous(),
          tags=("i.i.d.",))
    chain("P (12, 12)", _chain(b, 12, 12, sharp=2.5), tags=("large V",))


def stationary_cases(b: CaseBuilder):
    return b.grid(lambda c: _chain_rows(b, c))


def entropy_rate_cases(b: CaseBuilder):
    return b.grid(lambda c: _chain_rows(b, c))


# =========================================================================== Huffman
def _code(outputs, case):
    """(p normalised to sum 1, the lengths as an int64 CPU tensor), or a string saying why the
    output is not a tensor of one int64 length per symbol."""
    p = case.args[0].double().cpu()
    lengths = outputs[0]
    if not isinstance(lengths, torch.Tensor) or lengths.dtype != torch.int64:
        return (f"return an int64 tensor of lengths, got "
                f"{getattr(lengths, 'dtype', type(lengths).__name__)}")
    if lengths.shape != p.shape:
        return f"one length per symbol: expected shape {tuple(p.shape)}, got {tuple(lengths.shape)}"
    return p / p.sum(), lengths.cpu()


def _kraft(lengths) -> Fraction:
    return sum(Fraction(1, 2 ** int(n)) for n in lengths.tolist())


# The properties of a Huffman code, one check each, so that a mistake is recognised by the first
# property it breaks: the output's form, then Kraft from above (no prefix code has these
# lengths), Kraft from below (a prefix code with unused leaves), Shannon's bounds, optimality.
def _is_int64_lengths(outputs, case):
    code = _code(outputs, case)
    if isinstance(code, str):
        return code
    if (code[1] < 1).any():
        return "every codeword has at least one bit when there are two or more symbols"
    return None


def _is_prefix_code(outputs, case):
    kraft = _kraft(_code(outputs, case)[1])
    if kraft > 1:
        return (f"Σ 2^(−l_i) = {float(kraft):.6g} > 1: no prefix code has these lengths (each "
                "merge adds one bit to every symbol of BOTH groups)")
    return None


def _is_full_tree(outputs, case):
    kraft = _kraft(_code(outputs, case)[1])
    if kraft < 1:
        return (f"Σ 2^(−l_i) = {float(kraft):.6g} < 1: the code tree has unused leaves; a "
                "Huffman tree is full, so the Kraft sum is exactly 1")
    return None


def _within_shannon_bounds(outputs, case):
    p, lengths = _code(outputs, case)
    expected = float((p * lengths.double()).sum())
    h2 = float(torch.special.entr(p).sum()) / math.log(2)
    if not h2 - 1e-9 <= expected < h2 + 1:
        return (f"expected length {expected:.6g} bits is outside Shannon's bounds "
                f"[H, H + 1) = [{h2:.6g}, {h2 + 1:.6g})")
    return None


def _is_optimal(outputs, case):
    p, lengths = _code(outputs, case)
    expected = float((p * lengths.double()).sum())
    best = float((p * huffman_code_lengths(p).double()).sum())
    if expected > best * (1 + 1e-12) + 1e-12:
        return (f"expected length {expected:.6g} bits, but {best:.6g} is achievable: always merge "
                "the two LEAST probable groups")
    return None


HUFFMAN_CHECKS = (_is_int64_lengths, _is_prefix_code, _is_full_tree, _within_shannon_bounds,
                  _is_optimal)


def huffman_cases(b: CaseBuilder):
    def rows(c: Cell):
        def code(name, weights, tags=(), **kw):
            c(name, weights.to(c.dtype), tags=tags, checks=HUFFMAN_CHECKS, compared=(), **kw)

        code("textbook (0.4, 0.2, 0.2, 0.1, 0.1)",
             torch.tensor([0.4, 0.2, 0.2, 0.1, 0.1], dtype=F64), tags=("ties",), public=True)
        code("two symbols", _dist(b, 2), tags=("V = 2",), public=True)
        code("dyadic: powers of 1/2, shuffled",
             torch.tensor([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 32], dtype=F64)[
                 torch.randperm(6, generator=b.gen)], tags=("dyadic",), public=True)
        code("20 random symbols", _dist(b, 20), public=True)
        code("uniform over 6 (ties everywhere)", torch.full((6,), 1 / 6, dtype=F64),
             tags=("ties",))
        zipf = 1 / torch.arange(1, 101, dtype=F64)
        code("Zipf over 100 symbols, shuffled", zipf[torch.randperm(100, generator=b.gen)],
             tags=("large V",))
        code("unnormalised weights (counts)", b.randint(1, 50, (12,)).to(F64),
             tags=("unnormalised",))
        code("very skewed: 0.9 and 15 tiny", torch.cat([torch.tensor([0.9], dtype=F64),
                                                       _dist(b, 15) * 0.1]), tags=("skewed",))
    return b.grid(rows)


# =========================================================================== bits per byte
def bpb_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("one total, 1000 bytes", (b.rand(()) * 3000).to(c.dtype), 1000, public=True)
        c("three models, 4096 bytes", (b.rand(3) * 8000 + 1000).to(c.dtype), 4096, public=True)
        c("uniform over bytes: 8 bits", torch.tensor(37 * math.log(256), dtype=F64).to(c.dtype),
          37, tags=("known answer",))
        c("(2, 2) totals, 1 byte", (b.rand(2, 2) * 10).to(c.dtype), 1, tags=("batch dims",))
    return b.grid(rows)


CHAPTER = Chapter(
    id="ch02",
    title="Information theory",
    notebook="ch02_information/ch02_information.py",
    exercises=[
        Exercise(id="ch02.entropy", name="entropy", points=1.0, reference=entropy,
                 cases=entropy_cases, forbidden=forbidden.ENTROPY_TERMS,
                 forbidden_hint="write −p log p with torch.xlogy (or torch.where)",
                 mistakes=catalog.ENTROPY_MISTAKES),
        Exercise(id="ch02.cross_entropy_dist", name="cross_entropy_dist", points=1.0,
                 reference=cross_entropy_dist, cases=cross_entropy_cases,
                 forbidden=forbidden.CROSS_ENTROPY, forbidden_hint="write −Σ p log q directly",
                 mistakes=catalog.CROSS_ENTROPY_MISTAKES),
        Exercise(id="ch02.kl_divergence", name="kl_divergence", points=1.5,
                 reference=kl_divergence, cases=kl_cases, forbidden=forbidden.CROSS_ENTROPY,
                 forbidden_hint="write Σ p log p − Σ p log q directly",
                 mistakes=catalog.KL_MISTAKES),
        Exercise(id="ch02.mutual_information", name="mutual_information", points=1.5,
                 reference=mutual_information, cases=mi_cases,
                 forbidden=forbidden.CROSS_ENTROPY,
                 forbidden_hint="compute the marginals and the KL sum yourself",
                 mistakes=catalog.MI_MISTAKES),
        Exercise(id="ch02.stationary_distribution", name="stationary_distribution", points=1.5,
                 reference=stationary_distribution, cases=stationary_cases,
                 mistakes=catalog.STATIONARY_MISTAKES),
        Exercise(id="ch02.markov_entropy_rate", name="markov_entropy_rate", points=1.0,
                 reference=markov_entropy_rate, cases=entropy_rate_cases,
                 standins=("ch02.stationary_distribution", "ch02.entropy"),
                 mistakes=catalog.ENTROPY_RATE_MISTAKES),
        Exercise(id="ch02.huffman_code_lengths", name="huffman_code_lengths", points=2.0,
                 reference=huffman_code_lengths, cases=huffman_cases,
                 mistakes=catalog.HUFFMAN_MISTAKES),
        Exercise(id="ch02.bits_per_byte", name="bits_per_byte", points=0.5,
                 reference=bits_per_byte, cases=bpb_cases, mistakes=catalog.BPB_MISTAKES),
    ],
)
