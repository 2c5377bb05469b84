"""Chapter 7 — Efficiency and variants of Transformers: the graded exercises and their cases.

Expected outputs always come from the live reference (``reference/efficiency.py``,
``reference/flash.py``). The chapter's point is complexity, so drivers of the grading library
measure *how* a result is computed, not only what it is, and checks judge the measurements:
``drive_flash_forward`` and ``drive_flash_backward`` (``gradelib/flash.py``) append the largest
tensor a pass created and its matmul FLOPs, judged by ``FORWARD_BUDGET`` / ``BACKWARD_BUDGET``
against FlashAttention's exact budget (no L × S matrix, no row block of width S, no FLOPs on tiles
a causal mask hides); ``drive_flash_function`` appends the largest tensor the autograd Function
keeps for its backward (``saved_check``); ``drive_performer`` the Performer's largest tensor
(``linear_memory_check``: no L × S kernel matrix). ``drive_kv_cache`` decodes with the student's
cache. Dtypes cannot travel as JSON arguments, so the byte-counting exercises get dtype *names*,
which ``drive_dtype_args`` turns back into ``torch.dtype`` objects.
"""

from __future__ import annotations

import math

import torch

from autograder import forbidden, tolerance
from autograder.chapters import ch07_catalog as catalog
from autograder.chapters import ch07_triton_catalog as triton_catalog
from autograder.gradelib.flash import BACKWARD_BUDGET, FORWARD_BUDGET, saved_check
from autograder.gradelib.random_features import linear_memory_check
from autograder.spec import Case, CaseBuilder, Cell, Chapter, Exercise, Kind, missing_requirements
from autograder.symbolic import POSITIVE, Derivation, Domain
from reference import formulas
from reference.attention import scaled_dot_product_attention
from reference.efficiency import (KVCache, attention_flops, gated_attention_output, glu,
                                  grouped_query_attention, kv_cache_bytes, linformer_attention,
                                  low_rank_approximation, parameter_bytes, performer_attention,
                                  performer_features, training_memory_bytes,
                                  transformer_flops_per_token)
from reference.flash import (FlashAttentionFunction, flash_attention_backward,
                             flash_attention_forward)

F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16


# =========================================================================== counting exercises
# FLOP counts depend on no dtype and no device: each case is declared once per CPU dtype so that
# no dtype is singled out in the feedback.
def attention_flops_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("B=2, H=3, L=S=10, E=8", 2, 3, 10, 10, 8, public=True)
        c("B=1, H=12, L=1024, S=2048, E=64", 1, 12, 1024, 2048, 64, tags=("L ≠ S",))
        c("causal, L=S=7", 1, 1, 7, 7, 4, tags=("causal",), public=True, causal=True)
        c("causal, B=4, H=8, L=S=4096, E=128", 4, 8, 4096, 4096, 128, tags=("causal",),
          causal=True)
        c("causal, L=9 > S=5", 2, 2, 9, 5, 16, tags=("causal", "L ≠ S"), causal=True)
        c("causal, L=3 < S=8", 1, 2, 3, 8, 16, tags=("causal", "L ≠ S"), causal=True)
    return b.grid(rows, devices=("cpu",))


def transformer_flops_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("V=50, T=12, D=16, 2 layers, H=4, F=40", 50, 12, 16, 2, 4, 40, public=True)
        c("GPT-2-small-like: V=50257, T=1024, D=768, 12 layers, F=2048",
          50257, 1024, 768, 12, 12, 2048)
        c("long context: V=32000, T=32768, D=512, 4 layers, F=1408",
          32000, 32768, 512, 4, 8, 1408, tags=("attention-dominated",))
    return b.grid(rows, devices=("cpu",))


_DTYPES = {"float64": F64, "float32": F32, "bfloat16": BF16, "float16": F16}


def _count(name, *args, tags=(), public=False, **kwargs) -> Case:
    """A byte count (compared exactly), in the dtype that its first dtype argument names."""
    dtype = next(_DTYPES[a] for a in args if a in _DTYPES)
    return Case(name=name, args=list(args), kwargs=kwargs, dtype=dtype, tags=tags, public=public)


def parameter_bytes_cases(b: CaseBuilder):
    return [_count(f"124M parameters, {dt}", 124_000_000, dt, public=i < 2)
            for i, dt in enumerate(("float32", "bfloat16", "float64", "float16"))]


def training_memory_cases(b: CaseBuilder):
    return [
        _count("float32, AdamW", 1_000_000, "float32", "float32", public=True),
        _count("float64, AdamW", 1000, "float64", "float64"),
        _count("bfloat16 + float32 master weights, AdamW", 7_000_000_000, "bfloat16", "bfloat16",
               tags=("master weights",), public=True, master_weights=True),
        _count("pure bfloat16, AdamW", 350_000_000, "bfloat16", "bfloat16",
               tags=("no master weights",)),
        _count("bfloat16 params, float32 grads, SGD momentum, master", 1000, "bfloat16", "float32",
               tags=("master weights", "sgd_momentum", "grad dtype ≠ param dtype"),
               optimizer="sgd_momentum", master_weights=True),
        _count("float32, plain SGD", 12345, "float32", "float32", tags=("sgd",), optimizer="sgd"),
        _count("float16 params, float32 grads, AdamW", 777, "float16", "float32",
               tags=("grad dtype ≠ param dtype",))]


def kv_cache_bytes_cases(b: CaseBuilder):
    return [
        _count("MHA: 12 layers, 12 KV heads, 64, T=1024, B=1, float32",
               12, 12, 64, 1024, 1, "float32", public=True),
        _count("GQA: 32 layers, 8 KV heads, 128, T=8192, B=4, bfloat16",
               32, 8, 128, 8192, 4, "bfloat16", tags=("bfloat16",), public=True),
        _count("MHA: 2 layers, 4 KV heads, 16, T=100, B=2, float64",
               2, 4, 16, 100, 2, "float64", tags=("float64",)),
        _count("MQA: 24 layers, 1 KV head, 128, T=2048, B=16, float16",
               24, 1, 128, 2048, 16, "float16", tags=("float16",))]


# =========================================================================== FlashAttention
def _qkv(c: Cell, lead, L, S, E, Ev, qscale=1.0):
    return [c.randn(*lead, L, E, scale=qscale), c.randn(*lead, S, E), c.randn(*lead, S, Ev)]


def _scores64(case):
    """The case's attention scores in float64 (scale and top-left causal mask applied)."""
    q, k = (t.double().cpu() for t in case.args[:2])
    s = q @ k.transpose(-2, -1) * (case.kwargs.get("scale") or 1 / math.sqrt(q.shape[-1]))
    if case.kwargs.get("is_causal"):
        s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    return s


def _lse_check(outputs, case):
    """lse against torch.logsumexp of the (masked) scores, in float64, from the inputs."""
    s = _scores64(case)
    truth = torch.logsumexp(s, dim=-1)
    bound = 64 * torch.finfo(case.dtype).eps * (1 + float(s[torch.isfinite(s)].abs().max()))
    err = float((outputs[1].double().cpu() - truth).abs().max())
    if not err <= bound:
        return (f"lse differs from torch.logsumexp of the scores by {err:.3g} (> {bound:.3g}): "
                "lse must be m + log(l), the log of the full softmax denominator of each row")
    return None


# What the flash drivers append to the pass's outputs: measurements, judged by the budget checks.
MEASUREMENTS = ("largest tensor [elements, rows, columns]", "matmul FLOPs")


def _budget_rows(case):
    """The cases of FlashAttention's budget, forward and backward alike: big enough for one score
    tile per head to be much less than L × S, for a row block of width S (block_q × S, what a
    pass that takes all keys at once holds) to exceed the budget, and for the hidden causal tiles
    to count (tests/chapters/test_flash_grading.py keeps these margins)."""
    case("memory rule: L=S=96, blocks 32×32", (1, 2), 96, 96, 4, 4, ("memory rule",),
         block_q=32, block_k=32)
    case("causal tile skipping: L=S=64, blocks 16×16", (1, 1), 64, 64, 8, 8,
         ("causal", "tile skipping"), is_causal=True, block_q=16, block_k=16)


def flash_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, lead, L, S, E, Ev, tags, public=False, qscale=1.0, **kw):
            checks = (_lse_check,) if c.dtype != BF16 else ()
            c(name, *_qkv(c, lead, L, S, E, Ev, qscale), tags=tags, public=public, n_outputs=4,
              compared=(0, 1), checks=(*checks, FORWARD_BUDGET),
              output_names=("out", "lse", *MEASUREMENTS), **kw)

        case("L=S=40, blocks 16×16", (2, 2), 40, 40, 8, 8, ("several tiles",), True,
             block_q=16, block_k=16)
        case("L=S=37, blocks 16×8 (do not divide)", (1, 2), 37, 37, 8, 8,
             ("blocks do not divide T",), True, block_q=16, block_k=8)
        case("causal, L=S=37, blocks 16×8", (1, 2), 37, 37, 8, 8,
             ("causal", "blocks do not divide T"), True, is_causal=True, block_q=16, block_k=8)
        case("one tile (blocks 64 > T)", (2, 1), 9, 9, 4, 4, ("single tile",), True)
        case("L=20 < S=45, Ev=5, blocks 8×16", (1, 2), 20, 45, 8, 5, ("L ≠ S",),
             block_q=8, block_k=16)
        case("causal, L=45 > S=20, blocks 8×8", (1, 2), 45, 20, 8, 8, ("causal", "L ≠ S"),
             is_causal=True, block_q=8, block_k=8)
        case("blocks 1×1", (1, 1), 6, 6, 4, 4, ("blocks 1×1",), block_q=1, block_k=1,
             is_causal=True)
        case("scale=0.3", (1, 2), 24, 24, 8, 8, ("scale",), block_q=8, block_k=8, scale=0.3)
        case("large scores (q × 20)", (1, 2), 32, 32, 8, 8, ("large logits",), True,
             qscale=20.0, block_q=8, block_k=8)
        case("non-contiguous q, k, v", (1, 2), 24, 24, 8, 8, (), noncontig=(0, 1, 2),
             block_q=8, block_k=8)
        # "(..., L, E)": any leading dimensions, not only (B, H)
        case("one leading dimension: q (3, 24, 8), blocks 8×8", (3,), 24, 24, 8, 8,
             ("3-D input",), block_q=8, block_k=8)
        _budget_rows(case)
    return b.grid(rows)


def flash_backward_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, lead, L, S, E, Ev, tags, public=False, qscale=1.0, **kw):
            q, k, v = _qkv(c, lead, L, S, E, Ev, qscale)
            out, lse = flash_attention_forward(q.double(), k.double(), v.double(),
                                               kw.get("is_causal", False), kw.get("scale"))
            c(name, q, k, v, out.to(c.dtype), lse.to(c.dtype), c.randn(*lead, L, Ev), tags=tags,
              public=public, n_outputs=5, compared=(0, 1, 2), checks=(BACKWARD_BUDGET,),
              output_names=("dq", "dk", "dv", *MEASUREMENTS), **kw)

        case("L=S=24, blocks 8×8", (1, 2), 24, 24, 8, 8, ("several tiles",), True,
             block_q=8, block_k=8)
        case("causal, L=S=21, blocks 8×5", (2, 1), 21, 21, 4, 4,
             ("causal", "blocks do not divide T"), True, is_causal=True, block_q=8, block_k=5)
        case("L=10 < S=19, Ev=5, blocks 4×8", (1, 2), 10, 19, 8, 5, ("L ≠ S",),
             block_q=4, block_k=8)
        case("causal, L=19 > S=10, scale 0.4", (1, 2), 19, 10, 4, 4,
             ("causal", "L ≠ S", "scale"), is_causal=True, scale=0.4, block_q=8, block_k=4)
        case("one tile (blocks 64 > T)", (1, 1), 7, 7, 4, 4, ("single tile",), True)
        case("large scores (q × 10)", (1, 2), 16, 16, 4, 4, ("large logits",), qscale=10.0,
             block_q=8, block_k=8)
        case("one leading dimension: q (3, 12, 4), blocks 4×4", (3,), 12, 12, 4, 4,
             ("3-D input",), block_q=4, block_k=4)
        _budget_rows(case)
    return b.grid(rows)


def flash_function_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, lead, L, S, E, Ev, tags, public=False, **kw):
            c(name, *_qkv(c, lead, L, S, E, Ev), c.randn(*lead, L, Ev), tags=tags, public=public,
              n_outputs=5, compared=(0, 1, 2, 3), checks=(saved_check,),
              output_names=("out", "dq", "dk", "dv", "largest tensor kept for the backward "
                            "[elements, rows, columns]"), **kw)

        # L = S = 20 with E = Ev = 4: an L × S matrix (400 per head) is over the budget of what
        # the forward may keep, (L + S)(E + Ev) = 320 per head
        case("L=S=20, blocks 8×8", (1, 2), 20, 20, 4, 4, (), True, block_q=8, block_k=8)
        case("causal, L=S=20, blocks 8×4", (1, 2), 20, 20, 4, 4, ("causal",), True,
             is_causal=True, block_q=8, block_k=4)
        case("scale=0.3, L=9, S=13, Ev=3", (2, 1), 9, 13, 4, 3, ("scale", "L ≠ S"),
             scale=0.3, block_q=4, block_k=4)
    return b.grid(rows)


# =========================================================================== Triton kernel
TRITON_NEEDS = ("cuda", "triton")


def triton_reference(q, k, v, is_causal=False):
    """The reference for the Triton exercise: the Triton kernel in the case's dtype (its error
    sets the tolerance), and exact attention for the float64 truth, which Triton cannot give."""
    if q.dtype == torch.float64:
        return scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    from reference.triton_flash import triton_flash_attention_forward

    return triton_flash_attention_forward(q, k, v, is_causal)


def triton_cases(b: CaseBuilder):
    """On CUDA devices only (float32, bfloat16, float16). With TRITON_INTERPRET=1 and no GPU the
    platform's tests grade on the CPU through Triton's interpreter (float32 only: the interpreter
    mishandles bfloat16), on the same rows with fewer heads and tokens: the interpreter runs each
    program in NumPy, ~10 ms per 64 × 64 tile. Elsewhere: no cases, the exercise is ungraded."""
    if missing_requirements(TRITON_NEEDS):
        return []
    cuda = tuple(d for d in b.devices if d.startswith("cuda"))
    # the grid runs over the CUDA devices only, or the CPU through the interpreter
    b.devices = cuda or (() if torch.cuda.is_available() else ("cpu",))
    heads, many = ((2, 3), 300) if cuda else ((1, 2), 200)

    def rows(c: Cell):
        def case(name, lead, L, S, E, tags=(), public=False, **kw):
            # public in float32 on CUDA too: there is no CPU cell where a GPU grades it
            c(name, *_qkv(c, lead, L, S, E, E), tags=tags, **kw).public = public and c.dtype == F32

        shape = f"({', '.join(map(str, heads))}, 128, 64)"
        case(f"q, k, v {shape}", heads, 128, 128, 64, public=True)
        case(f"causal, {shape}", heads, 128, 128, 64, ("causal",), True, is_causal=True)
        case("L=100, S=160, E=32: partial blocks", (1, 2), 100, 160, 32,
             ("partial blocks", "L ≠ S"))
        case("causal, L=160, S=100, E=16", (1, 2), 160, 100, 16, ("causal", "L ≠ S"),
             is_causal=True)
        case("one query, one key", (1, 1), 1, 1, 16, ("length 1",))
        case(f"causal, {many} tokens, E=128: many blocks", (1,), many, many, 128,
             ("causal", "many blocks"), is_causal=True)
    return b.grid(rows, exclude=() if cuda else (F64, BF16))


# =========================================================================== GQA, KV cache, gates
def gqa_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, H, Hkv, L, S, tags, public=False, grad=False, **kw):
            c(name, c.randn(2, H, L, 4), c.randn(2, Hkv, S, 4), c.randn(2, Hkv, S, 5), tags=tags,
              public=public, grad=(0, 1, 2) if grad else (), **kw)

        case("H=6, Hkv=2", 6, 2, 5, 5, ("groups of 3",), True)
        case("H=6, Hkv=3, causal", 6, 3, 7, 7, ("groups of 2", "causal"), True, is_causal=True)
        case("MQA: H=4, Hkv=1", 4, 1, 5, 6, ("MQA", "L ≠ S"), True)
        case("MHA: H=Hkv=3", 3, 3, 4, 4, ("MHA",))
        case("H=8, Hkv=2, bool mask (B, 1, L, S)", 8, 2, 5, 7, ("bool mask", "L ≠ S"),
             attn_mask=b.bool_mask(2, 1, 5, 7))
        case("H=4, Hkv=2, float mask", 4, 2, 6, 6, ("float mask",),
             attn_mask=c.float_mask(6, 6))
        case("gradients, H=6, Hkv=2, causal", 6, 2, 5, 5, ("causal",), grad=True,
             is_causal=True)
    return b.grid(rows)


def kv_cache_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, H, Hkv, T, max_len, chunks, tags, public=False):
            c(name, c.randn(2, H, T, 4), c.randn(2, Hkv, T, 4), c.randn(2, Hkv, T, 4), max_len,
              list(chunks), tags=tags, public=public, n_outputs=3)

        case("token by token, 7 tokens, cache 7", 4, 2, 7, 7, [1] * 7, ("token by token",), True)
        case("token by token, cache 16 > 7 tokens", 2, 2, 7, 16, [1] * 7,
             ("cache larger than sequence",), True)
        case("prompt of 5, then 4 tokens", 4, 1, 9, 12, [5, 1, 1, 1, 1], ("prefill chunk",), True)
        case("chunks 3, 2, 4", 6, 3, 9, 9, [3, 2, 4], ("prefill chunk",))
    return b.grid(rows)


def glu_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("x (3, 8)", c.randn(3, 8), public=True)
        c("x (4, 6, 8), dim=1", c.randn(4, 6, 8), tags=("dim ≠ -1",), public=True, dim=1)
        c("large |x| (× 30)", c.randn(2, 10, scale=30), tags=("large x",))
        c("gradient, non-contiguous (5, 4)", c.randn(5, 4), grad=(0,), noncontig=(0,))
    return b.grid(rows)


def gate_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("per-feature gate (2, 3, 5, 4)", c.randn(2, 3, 5, 4), c.randn(2, 3, 5, 4), public=True)
        c("per-head gate (2, 3, 5, 1)", c.randn(2, 3, 5, 4), c.randn(2, 3, 5, 1),
          tags=("per-head gate",), public=True)
        c("saturated gates (× 40)", c.randn(3, 6), c.randn(3, 6, scale=40),
          tags=("large logits",))
        c("gradients", c.randn(2, 4, 3), c.randn(2, 4, 3), grad=(0, 1))
    return b.grid(rows)


# =========================================================================== low rank
def _eckart_young_check(outputs, case):
    """‖a − a_r‖_F equals the Eckart–Young minimum sqrt(Σ_(i>r) σ_i²), within what the reference
    itself achieves in the case's dtype (the one tolerance rule, ``tolerance.allowed_error``)."""
    a, rank = case.args[0], case.args[1]
    a64 = a.double().cpu()
    bound = torch.linalg.svdvals(a64)[..., rank:].square().sum(-1).sqrt()

    def error(approx):
        return torch.linalg.matrix_norm(a64 - approx.double().cpu())

    tol = tolerance.allowed_error(bound, error(low_rank_approximation(a, rank)), case.dtype,
                                  float(torch.linalg.matrix_norm(a64).max()))
    gap = float((error(outputs[0]) - bound).abs().max())
    if gap > tol:
        return (f"‖a − a_r‖_F differs from the Eckart–Young minimum sqrt(Σ_(i>r) σ_i²) by {gap:.3g} "
                f"(> {tol:.3g}): keep the {rank} largest singular values and their vectors")
    return None


def low_rank_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, a, rank, tags=(), **kw):
            c(name, a, rank, tags=tags, checks=(_eckart_young_check,), **kw)

        case("a (8, 6), rank 2", c.randn(8, 6), 2, public=True)
        case("batched a (2, 7, 5), rank 3", c.randn(2, 7, 5), 3, ("batched",), public=True)
        case("a (4, 9), rank 1", c.randn(4, 9), 1, ("rank 1", "wide matrix"))
        case("full rank (5, 5), rank 5", c.randn(5, 5), 5, ("full rank",))
        case("non-contiguous (6, 6), rank 2", c.randn(6, 6), 2, noncontig=(0,))
    return b.grid(rows, exclude=(F16,))


def linformer_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, L, S, P, Ev, tags=(), public=False, grad=False):
            c(name, c.randn(2, 2, L, 4), c.randn(2, 2, S, 4), c.randn(2, 2, S, Ev),
              c.randn(P, S, scale=S ** -0.5), c.randn(P, S, scale=S ** -0.5), tags=tags,
              public=public, grad=(0, 1, 2, 3, 4) if grad else ())

        case("L=S=10, P=3", 10, 10, 3, 4, public=True)
        case("L=6, S=12, P=4, Ev=5", 6, 12, 4, 5, ("L ≠ S", "Ev ≠ E"), True)
        case("P = S = 7", 7, 7, 7, 4, ("P = S",))
        case("gradients, L=S=8, P=3", 8, 8, 3, 4, grad=True)
    return b.grid(rows)


# =========================================================================== Performer
def _unbiased_check(outputs, case):
    """phi(x0) . phi(x1) within 5 standard errors (central limit theorem) of exp(x0 . x1)."""
    x, omega = (t.double() for t in case.args)
    q, k = x[0], x[1]
    m = omega.shape[-1]
    est = float(outputs[0][0].double().cpu() @ outputs[0][1].double().cpu())
    target = math.exp(float(q @ k))
    var = math.exp(2 * float((q + k) @ (q + k)) - float(q @ q) - float(k @ k)) - target ** 2
    sigma = math.sqrt(var / m) + 64 * torch.finfo(case.dtype).eps * target
    if abs(est - target) > 5 * sigma:
        return (f"phi(q)·phi(k) = {est:.5g} is {abs(est - target) / sigma:.1f} standard errors from "
                f"exp(q·k) = {target:.5g}: the positive features must be an unbiased estimate")
    return None


def performer_features_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("x (5, 4), 16 features", c.randn(5, 4, scale=0.5), c.randn(4, 16), public=True)
        c("x (2, 3, 6, 8), 32 features", c.randn(2, 3, 6, 8, scale=0.4), c.randn(8, 32),
          tags=("batched",), public=True)
        # Two vectors of norm 0.8: the features' spread is bounded (their variance is at most
        # (e^(4·0.8²) − 1)·exp(q·k)²), so the mean of 8192 is close to normal and 5 standard
        # errors is a fair test. Unbounded draws failed a correct answer for 1 course seed in 300.
        x = c.randn(2, 4)
        c("unbiased: 2 vectors of norm 0.8, 8192 features", 0.8 * x / x.norm(dim=-1, keepdim=True),
          c.randn(4, 8192), tags=("statistics",), public=True, checks=(_unbiased_check,))
        c("gradient, x (3, 4)", c.randn(3, 4, scale=0.5), c.randn(4, 8), grad=(0,))
    return b.grid(rows)


def _exact_attention64(case):
    """Softmax attention of the case's q, k, v in float64: what the Performer estimates."""
    q, k, v = (t.double().cpu() for t in case.args[:3])
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


def _converges_check(outputs, case):
    """The estimate is close to softmax attention: averaged over the case's seeds (which divides
    the random error's variance by their number), within 0.05 everywhere. A single draw is not
    enough: its error has a heavy tail (0.2 for one course seed in 40, with 4096 features), while
    the mean of 16 draws stayed within 0.026 over 400 seeds, and the biased estimators in the
    catalog (no E^(-1/4) scaling, separate projections) were at least 0.076 away."""
    err = float((outputs[0].double().cpu().mean(dim=1)[0] - _exact_attention64(case)).abs().max())
    if not err <= 0.05:
        return (f"averaged over {outputs[0].shape[1]} seeds, with {case.args[3][0]} features the "
                f"output should be within 0.05 of softmax attention, but differs by {err:.3g}: "
                "is the kernel exp(q·k/√E) (scale q and k by E^(-1/4)), with one ω for q and k?")
    return None


def _shrinks_check(outputs, case):
    """The estimate is consistent: its mean squared error against softmax attention (over the
    case's seeds) falls as the number of features grows. The right estimator's output is a ratio
    of two unbiased estimates, biased at O(1/m) with variance O(1/m): its MSE falls as 1/m, 16×
    per 16× features. An estimator whose bias does not vanish with m levels off at its squared
    bias. We ask for 2×."""
    exact = _exact_attention64(case)
    mse = [float((o.double().cpu() - exact).pow(2).mean()) for o in outputs[0]]
    ms = case.args[3]
    for i in range(len(ms) - 1):
        if not mse[i + 1] <= mse[i] / 2:
            table = ", ".join(f"{m}: {e:.2e}" for m, e in zip(ms, mse))
            return (f"the mean squared error against softmax attention does not shrink as the "
                    f"number of features grows ({table}): its bias does not vanish. Check the "
                    "exp(-|x|²/2) factor, the 1/√m normalisation and the E^(-1/4) scaling")
    return None


def performer_attention_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, L, S, m, seed, tags=(), public=False, **kw):
            c(name, c.randn(1, 2, L, 4, scale=0.5), c.randn(1, 2, S, 4, scale=0.5),
              c.randn(1, 2, S, 3), m, seed, tags=tags, public=public, **kw)

        case("L=S=6, 16 features", 6, 6, 16, 0, public=True)
        case("L=5, S=9, 64 features", 5, 9, 64, 1, ("L ≠ S",), True)
        # linear memory: with L = S = 64 ≫ m = 8 an L × S matrix is twice the budget
        case("memory: L=S=64, 8 features, no L × S matrix", 64, 64, 8, 3, ("linear memory",),
             measure=True, n_outputs=2, compared=(0,), checks=(linear_memory_check,),
             output_names=("out", "largest tensor [elements, rows, columns]"))
        # Properties of the estimator, whatever random numbers it draws (not compared with the
        # reference's draws): close with many features, and consistent.
        case("4096 features × 16 seeds: the mean is close to softmax attention", 6, 6, [4096], 2,
             ("many features",), checks=(_converges_check,), compared=(), repeats=16)
        if c.dtype in (F64, F32):  # in 16-bit the rounding error hides the 1/m decay
            case("16, 256, 4096 features × 16 seeds: the error shrinks", 6, 6, [16, 256, 4096],
                 100, ("error vs features",), checks=(_shrinks_check,), compared=(), repeats=16)
    return b.grid(rows)


# =========================================================================== the chapter
CHAPTER = Chapter(
    id="ch07",
    title="Efficiency and variants of Transformers",
    notebook="ch07_efficiency/ch07_efficiency.py",
    book_sections=("7.1", "7.2 memory", "7.3 FlashAttention", "7.4", "7.5"),
    warm_ups=("dynamo",),  # torch.func and the dispatch modes import torch._dynamo: once
    exercises=[
        Exercise(id="ch07.attention_flops", name="attention_flops", points=1.0,
                 reference=attention_flops, cases=attention_flops_cases,
                 mistakes=catalog.ATTN_FLOPS_MISTAKES),
        Exercise(id="ch07.transformer_flops_per_token", name="transformer_flops_per_token",
                 points=1.0, reference=transformer_flops_per_token, cases=transformer_flops_cases,
                 forbidden=forbidden.FLOP_COUNTER,
                 forbidden_hint="count the matmuls on paper; the notebook checks you with "
                                "FlopCounterMode",
                 mistakes=catalog.TF_FLOPS_MISTAKES),
        Exercise(id="ch07.parameter_bytes", name="parameter_bytes", points=0.5,
                 reference=parameter_bytes, cases=parameter_bytes_cases, driver="drive_dtype_args",
                 mistakes=catalog.PARAM_BYTES_MISTAKES),
        Exercise(id="ch07.training_memory_bytes", name="training_memory_bytes", points=1.0,
                 reference=training_memory_bytes, cases=training_memory_cases,
                 driver="drive_dtype_args", mistakes=catalog.TRAIN_MEM_MISTAKES),
        Exercise(id="ch07.kv_cache_bytes", name="kv_cache_bytes", points=0.5,
                 reference=kv_cache_bytes, cases=kv_cache_bytes_cases, driver="drive_dtype_args",
                 mistakes=catalog.KV_BYTES_MISTAKES),
        Exercise(id="ch07.online_softmax_denominator", name="online_softmax_denominator",
                 points=0.5, reference=formulas.online_softmax_denominator, kind=Kind.SYMBOLIC,
                 derivation=Derivation(symbols=("l_old", "m_old", "x"),
                                       domains={"l_old": POSITIVE}),  # m_old, x: real
                 mistakes=catalog.ONLINE_SOFTMAX_MISTAKES),
        Exercise(id="ch07.causal_fraction", name="causal_fraction", points=0.5,
                 reference=formulas.causal_fraction, kind=Kind.SYMBOLIC,
                 derivation=Derivation(symbols=("T",),
                                       domains={"T": Domain(1, 256, integer=True)}),
                 mistakes=catalog.CAUSAL_FRACTION_MISTAKES),
        Exercise(id="ch07.flash_attention_forward", name="flash_attention_forward", points=4.0,
                 reference=flash_attention_forward, cases=flash_cases,
                 driver="drive_flash_forward", forbidden=forbidden.ATTENTION,
                 forbidden_hint="loop over tiles with matmul, amax, exp and sum",
                 timeout_floor_s=40.0,
                 mistakes=catalog.FLASH_MISTAKES),
        Exercise(id="ch07.flash_attention_backward", name="flash_attention_backward", points=3.0,
                 reference=flash_attention_backward, cases=flash_backward_cases,
                 driver="drive_flash_backward",
                 forbidden=forbidden.ATTENTION | forbidden.ATTENTION_BACKWARD | forbidden.AUTOGRAD,
                 forbidden_hint="recompute each tile's P = exp(S − lse) and apply the formulas for "
                                "dV, dP, dS, dQ, dK yourself",
                 timeout_floor_s=40.0,
                 mistakes=catalog.FLASH_BWD_MISTAKES),
        Exercise(id="ch07.flash_attention_function", name="FlashAttentionFunction", points=1.0,
                 reference=FlashAttentionFunction, cases=flash_function_cases,
                 driver="drive_flash_function",
                 standins=("ch07.flash_attention_forward", "ch07.flash_attention_backward"),
                 forbidden=forbidden.ATTENTION,
                 forbidden_hint="call your flash_attention_forward and flash_attention_backward",
                 mistakes=catalog.FLASH_FN_MISTAKES),
        Exercise(id="ch07.triton_flash_attention_forward", name="triton_flash_attention_forward",
                 points=2.0, reference=triton_reference, cases=triton_cases,
                 requires=TRITON_NEEDS,
                 forbidden=forbidden.ATTENTION | forbidden.MATMUL | forbidden.SOFTMAX,
                 forbidden_hint="the attention must be computed inside your Triton kernel; "
                                "PyTorch only allocates and reshapes",
                 timeout_floor_s=120.0, mistakes=triton_catalog.TRITON_MISTAKES),
        Exercise(id="ch07.grouped_query_attention", name="grouped_query_attention", points=1.5,
                 reference=grouped_query_attention, cases=gqa_cases,
                 forbidden=forbidden.ATTENTION,
                 forbidden_hint="share each key/value head among its group of query heads, then "
                                "call the given scaled_dot_product_attention",
                 mistakes=catalog.GQA_MISTAKES),
        Exercise(id="ch07.kv_cache", name="KVCache", points=1.5, reference=KVCache,
                 cases=kv_cache_cases, driver="drive_kv_cache",
                 mistakes=catalog.KV_CACHE_MISTAKES),
        Exercise(id="ch07.glu", name="glu", points=0.5, reference=glu, cases=glu_cases,
                 forbidden=forbidden.GLU,
                 forbidden_hint="split x in two halves and use torch.sigmoid",
                 mistakes=catalog.GLU_MISTAKES),
        Exercise(id="ch07.gated_attention_output", name="gated_attention_output", points=0.5,
                 reference=gated_attention_output, cases=gate_cases,
                 mistakes=catalog.GATE_MISTAKES),
        Exercise(id="ch07.low_rank_approximation", name="low_rank_approximation", points=1.0,
                 reference=low_rank_approximation, cases=low_rank_cases,
                 forbidden=forbidden.LOW_RANK_SVD,
                 forbidden_hint="use torch.linalg.svd and keep the largest terms",
                 mistakes=catalog.LOW_RANK_MISTAKES),
        Exercise(id="ch07.linformer_attention", name="linformer_attention", points=1.0,
                 reference=linformer_attention, cases=linformer_cases,
                 forbidden=forbidden.ATTENTION,
                 forbidden_hint="project, then call the given scaled_dot_product_attention",
                 mistakes=catalog.LINFORMER_MISTAKES),
        Exercise(id="ch07.performer_features", name="performer_features", points=1.0,
                 reference=performer_features, cases=performer_features_cases,
                 mistakes=catalog.PERF_FEATURES_MISTAKES),
        Exercise(id="ch07.performer_attention", name="performer_attention", points=1.5,
                 reference=performer_attention, cases=performer_attention_cases,
                 driver="drive_performer", standins=("ch07.performer_features",),
                 forbidden=forbidden.ATTENTION,
                 forbidden_hint="never form the L × S kernel matrix: use φ(q) (φ(k)ᵀ v)",
                 mistakes=catalog.PERF_ATTN_MISTAKES),
    ],
)
