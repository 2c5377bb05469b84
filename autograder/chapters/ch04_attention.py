"""Chapter 4 — Attention: the graded exercises and the cases they are graded on.

Each ``*_cases`` function declares inputs only; the expected outputs always come from the live
reference (``reference/``). Tags name what is special about a case so that feedback can say
"fails only with: causal mask". Cases marked ``public`` are the in-notebook self-check.
"""

from __future__ import annotations

import torch

from autograder import forbidden
from autograder.chapters import ch04_catalog as catalog
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Kind
from autograder.symbolic import POSITIVE, Derivation, Domain
from reference import formulas
from reference.attention import (
    MultiHeadAttention,
    kernel_smoother,
    scaled_dot_product_attention,
    softmax,
    softmax_jacobian,
)
from reference.norms import layer_norm, rms_norm

F64 = torch.float64


# --------------------------------------------------------------------------- softmax
def softmax_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("x (7,)", c.randn(7), public=True)
        c("x (3, 5), dim=-1", c.randn(3, 5), public=True, dim=-1)
        c("x (4, 6), dim=0", c.randn(4, 6), tags=("dim ≠ -1",), public=True, dim=0)
        c("x (2, 3, 9), dim=1", c.randn(2, 3, 9, scale=3), tags=("dim ≠ -1",), dim=1)
        c("x (3, 8), temperature=0.5", c.randn(3, 8), tags=("temperature",), public=True,
          temperature=0.5)
        c("x (3, 8), temperature=4.0", c.randn(3, 8, scale=5), tags=("temperature",),
          temperature=4.0)
        c("x + 100 (stress)", b.randn(4, 10, shift=100.0).to(c.dtype), tags=("large logits",))
        c("logits around ±1e4 (stress)", b.randn(3, 12, scale=1e4).to(c.dtype),
          tags=("large logits",), public=True)
        offsets = torch.tensor([[0.0], [-2000.0], [3000.0], [-50.0]], dtype=F64)
        c("rows at very different offsets", (b.randn(4, 6) + offsets).to(c.dtype),
          tags=("large logits",))
        x = b.randn(5, 7)
        x[b.bool_mask(5, 7, p_attend=0.6) == 0] = float("-inf")
        c("rows partly masked with -inf", x.to(c.dtype), tags=("-inf entries",), public=True)
        c("non-contiguous x (5, 6), dim=0", c.randn(5, 6), tags=("dim ≠ -1",), noncontig=(0,),
          dim=0)
        if c.grads:
            c("gradient through softmax (3, 7), temperature=2", c.randn(3, 7),
              tags=("temperature",), grad=(0,), temperature=2.0)
    return b.grid(rows)


# --------------------------------------------------------------------------- softmax Jacobian
def jacobian_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("p (5,)", c.probabilities(5), public=True)
        c("p (3, 4)", c.probabilities(3, 4), tags=("batch dims",), public=True)
        c("p (2, 3, 6)", c.probabilities(2, 3, 6), tags=("batch dims",))
        c("p (1,)", c.probabilities(1), tags=("n = 1",))
        c("saturated p (2, 8)", torch.softmax(b.randn(2, 8) * 30, dim=-1).to(c.dtype),
          tags=("saturated p",))
    return b.grid(rows)


# --------------------------------------------------------------------------- SDPA
def sdpa_cases(b: CaseBuilder):
    def rows(c: Cell):
        def attention(name, L, S, E, Ev=None, batch=(), tags=(), mask=None, q_scale=1.0, **kw):
            q = c.randn(*batch, L, E, scale=q_scale)
            k, v = c.randn(*batch, S, E), c.randn(*batch, S, Ev or E)
            masks = {"bool": lambda: b.bool_mask(L, S),
                     "bool_batched": lambda: b.bool_mask(*batch[:-1], 1, L, S),
                     "float": lambda: c.float_mask(L, S),
                     # query 1 may attend to no key: its output row must be zeros, not NaN
                     "bool_empty_row": lambda: b.bool_mask(L, S).index_fill(0, torch.tensor([1]),
                                                                            False),
                     "float_empty_row": lambda: c.float_mask(L, S).index_fill(
                         0, torch.tensor([1]), float("-inf"))}
            if mask:
                kw["attn_mask"] = masks[mask]()
            shape_tags = ("L ≠ S",) * (L != S) + ("batch dims",) * bool(batch)
            c(name, q, k, v, tags=shape_tags + tags, **kw)

        attention("q (4, 8), k/v (4, 8)", 4, 4, 8, public=True)
        attention("q (2, 5, 8), k/v (2, 6, 8)", 5, 6, 8, batch=(2,), public=True)
        attention("q (2, 3, 4, 7), k/v (2, 3, 9, 7), Ev=5", 4, 9, 7, Ev=5, batch=(2, 3),
                  tags=("Ev ≠ E",))
        attention("single query, q (3, 1, 16)", 1, 7, 16, batch=(3,), tags=("L = 1",))
        attention("causal, L = S = 6", 6, 6, 8, batch=(2,), tags=("causal mask",), public=True,
                  is_causal=True)
        attention("causal, L = 3 < S = 7", 3, 7, 4, batch=(2,), tags=("causal mask",),
                  is_causal=True)
        attention("causal, L = 7 > S = 3", 7, 3, 4, batch=(1,), tags=("causal mask",),
                  is_causal=True)
        attention("bool mask (L, S)", 5, 6, 8, batch=(2,), tags=("bool mask",), public=True,
                  mask="bool")
        attention("bool mask (B, 1, L, S)", 4, 5, 6, batch=(2, 3), tags=("bool mask",),
                  mask="bool_batched")
        attention("float mask with -inf", 5, 6, 8, batch=(2,), tags=("float mask",), mask="float")
        attention("custom scale=0.3", 4, 5, 8, batch=(2,), tags=("custom scale",), scale=0.3)
        attention("large scores (q × 30)", 4, 6, 8, batch=(2,), tags=("large scores",),
                  q_scale=30.0)
        attention("non-contiguous q, k, v", 5, 5, 6, batch=(2,), noncontig=(0, 1, 2))
        attention("gradients, causal", 5, 5, 6, batch=(2,), tags=("causal mask",),
                  grad=(0, 1, 2), is_causal=True)
        attention("gradients, bool mask, L ≠ S", 3, 6, 4, batch=(2,), tags=("bool mask",),
                  grad=(0, 1, 2), mask="bool")
        attention("bool mask, query 1 may attend to no key", 4, 5, 6, batch=(2,),
                  tags=("a query with no key",), mask="bool_empty_row")
        attention("float mask, query 1's row all -inf", 4, 5, 6, batch=(2,),
                  tags=("a query with no key",), mask="float_empty_row")
        attention("gradients, query 1 may attend to no key", 3, 4, 4, batch=(2,),
                  tags=("a query with no key",), grad=(0, 1, 2), mask="bool_empty_row")
    return b.grid(rows)


# --------------------------------------------------------------------------- multi-head attention
def _refused_heads(outputs, case):
    """Property of the refusal case (``drive_module_or_refuse``): the constructor raised."""
    if int(outputs[0]) != 1:
        d_model, n_heads = case.kwargs["refuse_init"]
        return (f"MultiHeadAttention({d_model}, {n_heads}) must raise ValueError: {d_model} is "
                f"not divisible by {n_heads} heads (your class built a module)")
    return None


def mha_cases(b: CaseBuilder):
    def rows(c: Cell):
        def mha(name, B, T, D, H, bias=True, grad=False, mask=None, **kw):
            state = c.module_state(MultiHeadAttention(D, H, bias=bias))
            masks = {"bool": lambda: b.bool_mask(T, T),
                     "bool_batched": lambda: b.bool_mask(B, 1, T, T),
                     # one additive bias per key (-inf: a hidden key), shared by the queries
                     "float_per_key": lambda: c.float_mask(B, 1, 1, T)}
            if mask:
                kw["attn_mask"] = masks[mask]()
            c(name, c.randn(B, T, D), init={"args": [D, H], "kwargs": {"bias": bias}},
              state=state, grad=(0,) * grad, grad_params=tuple(state) if grad else (), **kw)

        mha("B=2, T=5, d_model=16, 4 heads", 2, 5, 16, 4, public=True)
        mha("B=1, T=1, d_model=8, 2 heads", 1, 1, 8, 2, tags=("T = 1",))
        mha("B=3, T=6, d_model=15, 5 heads (head dim 3)", 3, 6, 15, 5, tags=("odd head dim",))
        mha("one head, d_model=6", 2, 4, 6, 1, tags=("1 head",))
        mha("no bias", 2, 5, 12, 3, bias=False, tags=("bias=False",), public=True)
        mha("causal", 2, 6, 16, 4, tags=("causal mask",), public=True, is_causal=True)
        mha("bool mask (T, T)", 2, 5, 8, 2, tags=("bool mask",), mask="bool")
        mha("bool mask (B, 1, T, T)", 2, 5, 8, 4, tags=("bool mask",), mask="bool_batched")
        mha("float mask per key (B, 1, 1, T)", 2, 5, 8, 2, tags=("float mask",),
            mask="float_per_key")
        mha("gradients (input and all weights), causal", 2, 4, 8, 2, tags=("causal mask",),
            grad=True, is_causal=True)
        if c.dtype == torch.float32:  # the refusal does not depend on the dtype: one cell
            c("d_model=10, n_heads=4 must raise ValueError", c.randn(1, 1, 8),
              init={"args": [8, 2], "kwargs": {}}, refuse_init=[10, 4], compared=(),
              checks=(_refused_heads,), tags=("d_model not divisible by n_heads",), public=True)
    return b.grid(rows)


# --------------------------------------------------------------------------- norms
def _norm_cases(b: CaseBuilder, with_bias: bool):
    def rows(c: Cell):
        def norm(name, x, grad=False, weight=True, bias=True, **kw):
            D = x.shape[-1]
            args = [x, c.randn(D, scale=0.5, shift=1.0) if weight else None]
            args += [c.randn(D, scale=0.5) if bias else None] * with_bias
            given = [i for i, a in enumerate(args) if a is not None]
            c(name, *args, grad=tuple(given) if grad else (), **kw)

        norm("x (4, 16)", c.randn(4, 16), public=True)
        norm("x (2, 3, 32)", c.randn(2, 3, 32, scale=3, shift=1), tags=("batch dims",),
             public=True)
        norm("x (3, 1): one feature", c.randn(3, 1), tags=("d = 1",))
        norm("tiny values (scale 1e-3)", c.randn(4, 24, scale=1e-3), tags=("small variance",),
             public=True)
        norm("eps=0.1", c.randn(3, 8, scale=0.5), tags=("custom eps",), eps=0.1)
        norm("large mean offset (x + 300)", b.randn(4, 64, shift=300.0).to(c.dtype),
             tags=("large mean",))
        norm("non-contiguous x (8, 5)", c.randn(8, 5), noncontig=(0,))
        norm("gradients, x (3, 10)", c.randn(3, 10), grad=True)
        # the statement: weight (and bias) may be None, and then that step alone is left out
        norm("weight=None", c.randn(3, 12, scale=2, shift=1), weight=False,
             tags=("weight=None",), public=True)
        if with_bias:
            norm("bias=None", c.randn(3, 12, scale=2, shift=1), bias=False, tags=("bias=None",))
            norm("weight=None and bias=None", c.randn(3, 12, scale=2, shift=1), weight=False,
                 bias=False, tags=("weight=None", "bias=None"))
    return b.grid(rows)


def layer_norm_cases(b: CaseBuilder):
    return _norm_cases(b, with_bias=True)


def rms_norm_cases(b: CaseBuilder):
    return _norm_cases(b, with_bias=False)


# --------------------------------------------------------------------------- kernel smoother
def smoother_cases(b: CaseBuilder):
    def rows(c: Cell):
        def smoother(name, L, S, E, Ev, h, batch=(), grad=False, q_shift=0.0, k_shift=0.0, **kw):
            q = c.randn(*batch, L, E, shift=q_shift)
            c(name, q, c.randn(*batch, S, E, shift=k_shift), c.randn(*batch, S, Ev), h,
              grad=(0, 2) if grad else (), **kw)

        smoother("1-D regression, 7 queries, 20 points, h=0.5", 7, 20, 1, 1, 0.5, public=True)
        smoother("E=3, Ev=2, h=1.0", 5, 9, 3, 2, 1.0, public=True)
        smoother("batch (2,), h=0.3", 4, 6, 2, 3, 0.3, batch=(2,), tags=("batch dims",))
        smoother("wide bandwidth h=50", 5, 8, 2, 1, 50.0, tags=("wide bandwidth",))
        smoother("narrow bandwidth h=0.05", 5, 8, 2, 1, 0.05, tags=("narrow bandwidth",))
        smoother("far-away queries (distance ~100, h=0.5)", 4, 10, 1, 2, 0.5,
                 tags=("far-away queries",), public=True, q_shift=100.0)
        smoother("gradients w.r.t. queries and values", 4, 6, 2, 2, 0.7, grad=True)
        # q ≈ k far from the origin: |q|² − 2 q·k + |k|² cancels there; the differences do not
        smoother("queries near the keys, both ~100 from the origin, h=1", 6, 9, 2, 1, 1.0,
                 tags=("q ≈ k, large norms",), q_shift=100.0, k_shift=100.0)
    return b.grid(rows)


CHAPTER = Chapter(
    id="ch04",
    title="Attention",
    notebook="ch04_attention/ch04_attention.py",
    book_sections=("4.1 Self-attention", "4.2 Multi-head", "4.3 Softmax", "4.4 kernel"),
    exercises=[  # in the notebook's order (the build checks it)
        Exercise(
            id="ch04.dot_product_variance", name="dot_product_variance", points=0.5,
            reference=formulas.dot_product_variance, kind=Kind.SYMBOLIC,
            derivation=Derivation(symbols=("E", "s_q", "s_k"),
                                  domains={"E": Domain(1, 4096, integer=True), "s_q": POSITIVE,
                                           "s_k": POSITIVE}),
            mistakes=catalog.DOT_VARIANCE_MISTAKES),
        Exercise(
            id="ch04.self_score_variance", name="self_score_variance", points=0.5,
            reference=formulas.self_score_variance, kind=Kind.SYMBOLIC,
            derivation=Derivation(symbols=("E", "s"),
                                  domains={"E": Domain(1, 4096, integer=True), "s": POSITIVE}),
            mistakes=catalog.SELF_SCORE_MISTAKES),
        Exercise(
            id="ch04.scaled_dot_product_attention", name="scaled_dot_product_attention",
            points=3.0, reference=scaled_dot_product_attention, cases=sdpa_cases,
            forbidden=forbidden.ATTENTION,
            forbidden_hint="use matmul, torch.softmax (or your softmax) and the mask",
            standins=("ch04.softmax",),
            mistakes=catalog.SDPA_MISTAKES),
        Exercise(
            id="ch04.multi_head_attention", name="MultiHeadAttention", points=3.0,
            reference=MultiHeadAttention, cases=mha_cases, kind=Kind.CLASS,
            driver="drive_module_or_refuse", forbidden=forbidden.ATTENTION,
            forbidden_hint="call your own scaled_dot_product_attention",
            standins=("ch04.softmax", "ch04.scaled_dot_product_attention"),
            mistakes=catalog.MHA_MISTAKES),
        Exercise(
            id="ch04.layer_norm", name="layer_norm", points=1.5, reference=layer_norm,
            cases=layer_norm_cases, forbidden=forbidden.LAYER_NORM,
            forbidden_hint="use mean, the variance and sqrt",
            mistakes=catalog.LAYER_NORM_MISTAKES),
        Exercise(
            id="ch04.rms_norm", name="rms_norm", points=1.5, reference=rms_norm,
            cases=rms_norm_cases, forbidden=forbidden.RMS_NORM,
            forbidden_hint="use mean of squares and rsqrt/sqrt",
            mistakes=catalog.RMS_NORM_MISTAKES),
        Exercise(
            id="ch04.softmax", name="softmax", points=2.0, reference=softmax, cases=softmax_cases,
            forbidden=forbidden.SOFTMAX | forbidden.LOG_SOFTMAX,
            forbidden_hint="build it from exp, max and sum",
            mistakes=catalog.SOFTMAX_MISTAKES),
        Exercise(
            id="ch04.softmax_jacobian", name="softmax_jacobian", points=1.0,
            reference=softmax_jacobian, cases=jacobian_cases, forbidden=forbidden.JACOBIAN,
            forbidden_hint="write diag(p) − p pᵀ directly",
            mistakes=catalog.JACOBIAN_MISTAKES),
        Exercise(
            id="ch04.kernel_smoother", name="kernel_smoother", points=2.0,
            reference=kernel_smoother, cases=smoother_cases, standins=("ch04.softmax",),
            mistakes=catalog.SMOOTHER_MISTAKES),
    ],
)
