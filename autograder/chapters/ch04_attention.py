"""Chapter 4 — Attention: the graded exercises and the cases they are graded on.

Each ``*_cases`` function declares inputs only; the expected outputs always come from the live
reference (``reference/``). Tags name what is special about a case so that feedback can say
"fails only with: causal mask". Cases marked ``public`` are the in-notebook self-check.
"""

from __future__ import annotations

import torch

from autograder.chapters import ch04_catalog as catalog
from autograder.spec import Case, CaseBuilder, Chapter, Exercise
from reference.attention import (
    MultiHeadAttention,
    kernel_smoother,
    scaled_dot_product_attention,
    softmax,
    softmax_jacobian,
)
from reference.norms import layer_norm, rms_norm

F32, F64 = torch.float32, torch.float64

# Stand-ins for earlier exercises while a later one is graded (see Exercise.substitutes).
BUILTIN_SOFTMAX = "lambda x, dim=-1, temperature=1.0: torch.softmax(x / temperature, dim=dim)"
BUILTIN_SDPA = "F.scaled_dot_product_attention"


def _dt(dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --------------------------------------------------------------------------- softmax
def softmax_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, x, tags=(), public=False, **kw):
                cases.append(Case(f"{_dt(dtype)}, {name}", [x], kw, dtype, tags, public and
                                  dtype == F32 and dev == "cpu", dev))
            case("x (7,)", b.randn(7, dtype=dtype), public=True)
            case("x (3, 5), dim=-1", b.randn(3, 5, dtype=dtype), public=True, dim=-1)
            case("x (4, 6), dim=0", b.randn(4, 6, dtype=dtype), ("dim ≠ -1",), public=True, dim=0)
            case("x (2, 3, 9), dim=1", b.randn(2, 3, 9, dtype=dtype, scale=3), ("dim ≠ -1",), dim=1)
            case("x (3, 8), temperature=0.5", b.randn(3, 8, dtype=dtype), ("temperature",),
                 public=True, temperature=0.5)
            case("x (3, 8), temperature=4.0", b.randn(3, 8, dtype=dtype, scale=5), ("temperature",),
                 temperature=4.0)
            case("x + 100 (stress)", b.randn(4, 10, dtype=F64, shift=100.0).to(dtype),
                 ("large logits",))
            case("logits around ±1e4 (stress)", b.randn(3, 12, dtype=F64, scale=1e4).to(dtype),
                 ("large logits",), public=True)
            rows = b.randn(4, 6, dtype=F64) + torch.tensor([[0.0], [-2000.0], [3000.0], [-50.0]],
                                                            dtype=F64)
            case("rows at very different offsets", rows.to(dtype), ("large logits",))
            x = b.randn(5, 7, dtype=F64)
            x[b.bool_mask(5, 7, p_attend=0.6) == 0] = float("-inf")
            case("rows partly masked with -inf", x.to(dtype), ("-inf entries",), public=True)
            cases.append(Case(f"{_dt(dtype)}, non-contiguous x (5, 6), dim=0", [b.randn(5, 6, dtype=dtype)],
                              {"dim": 0}, dtype, ("dim ≠ -1",), False, dev, noncontig=(0,)))
            if dtype != torch.bfloat16:
                cases.append(Case(f"{_dt(dtype)}, gradient through softmax (3, 7), temperature=2",
                                  [b.randn(3, 7, dtype=dtype)], {"temperature": 2.0}, dtype,
                                  ("temperature",), False, dev, grad=(0,)))
    return cases


# --------------------------------------------------------------------------- softmax Jacobian
def jacobian_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            pub = dtype == F32 and dev == "cpu"
            for shape, tags, public in [((5,), (), True), ((3, 4), ("batch dims",), True),
                                        ((2, 3, 6), ("batch dims",), False), ((1,), ("n = 1",), False)]:
                cases.append(Case(f"{_dt(dtype)}, p {shape}", [b.probabilities(*shape, dtype=dtype)],
                                  {}, dtype, tags, public and pub, dev))
            peaked = torch.softmax(b.randn(2, 8, dtype=F64) * 30, dim=-1).to(dtype)
            cases.append(Case(f"{_dt(dtype)}, saturated p (2, 8)", [peaked], {}, dtype,
                              ("saturated p",), False, dev))
    return cases


# --------------------------------------------------------------------------- SDPA
def sdpa_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, L, S, E, Ev=None, batch=(), tags=(), public=False, grad=(), noncontig=(),
                     q_scale=1.0, **kw):
                Ev = Ev or E
                q = b.randn(*batch, L, E, dtype=dtype, scale=q_scale)
                k = b.randn(*batch, S, E, dtype=dtype)
                v = b.randn(*batch, S, Ev, dtype=dtype)
                extra = []
                if L != S:
                    extra.append("L ≠ S")
                if batch:
                    extra.append("batch dims")
                mask = kw.pop("mask", None)
                if mask == "bool":
                    kw["attn_mask"] = b.bool_mask(L, S)
                elif mask == "bool_batched":
                    kw["attn_mask"] = b.bool_mask(*batch[:-1], 1, L, S)
                elif mask == "float":
                    kw["attn_mask"] = b.float_mask(L, S, dtype=dtype)
                cases.append(Case(f"{_dt(dtype)}, {name}", [q, k, v], kw, dtype,
                                  tuple(extra) + tuple(tags), public and dtype == F32 and dev == "cpu",
                                  dev, grad=grad if dtype != torch.bfloat16 else (),
                                  noncontig=noncontig))
            case("q (4, 8), k/v (4, 8)", 4, 4, 8, public=True)
            case("q (2, 5, 8), k/v (2, 6, 8)", 5, 6, 8, batch=(2,), public=True)
            case("q (2, 3, 4, 7), k/v (2, 3, 9, 7), Ev=5", 4, 9, 7, Ev=5, batch=(2, 3), tags=("Ev ≠ E",))
            case("single query, q (3, 1, 16)", 1, 7, 16, batch=(3,), tags=("L = 1",))
            case("causal, L = S = 6", 6, 6, 8, batch=(2,), tags=("causal mask",), public=True,
                 is_causal=True)
            case("causal, L = 3 < S = 7", 3, 7, 4, batch=(2,), tags=("causal mask",), is_causal=True)
            case("causal, L = 7 > S = 3", 7, 3, 4, batch=(1,), tags=("causal mask",), is_causal=True)
            case("bool mask (L, S)", 5, 6, 8, batch=(2,), tags=("bool mask",), public=True, mask="bool")
            case("bool mask (B, 1, L, S)", 4, 5, 6, batch=(2, 3), tags=("bool mask",),
                 mask="bool_batched")
            case("float mask with -inf", 5, 6, 8, batch=(2,), tags=("float mask",), mask="float")
            case("custom scale=0.3", 4, 5, 8, batch=(2,), tags=("custom scale",), scale=0.3)
            case("large scores (q × 30)", 4, 6, 8, batch=(2,), tags=("large scores",), q_scale=30.0)
            case("non-contiguous q, k, v", 5, 5, 6, batch=(2,), noncontig=(0, 1, 2))
            case("gradients, causal", 5, 5, 6, batch=(2,), tags=("causal mask",), grad=(0, 1, 2),
                 is_causal=True)
            case("gradients, bool mask, L ≠ S", 3, 6, 4, batch=(2,), tags=("bool mask",),
                 grad=(0, 1, 2), mask="bool")
    return cases


# --------------------------------------------------------------------------- multi-head attention
def mha_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, B, T, D, H, bias=True, tags=(), public=False, grad=False, **kw):
                state = b.module_state(MultiHeadAttention(D, H, bias=bias), dtype)
                mask = kw.pop("mask", None)
                if mask == "bool":
                    kw["attn_mask"] = b.bool_mask(T, T)
                elif mask == "bool_batched":
                    kw["attn_mask"] = b.bool_mask(B, 1, T, T)
                g = dtype != torch.bfloat16 and grad
                cases.append(Case(
                    f"{_dt(dtype)}, {name}", [b.randn(B, T, D, dtype=dtype)], kw, dtype, tags,
                    public and dtype == F32 and dev == "cpu", dev,
                    init={"args": [D, H], "kwargs": {"bias": bias}}, state=state,
                    grad=(0,) if g else (), grad_params=tuple(state) if g else ()))
            case("B=2, T=5, d_model=16, 4 heads", 2, 5, 16, 4, public=True)
            case("B=1, T=1, d_model=8, 2 heads", 1, 1, 8, 2, tags=("T = 1",))
            case("B=3, T=6, d_model=15, 5 heads (head dim 3)", 3, 6, 15, 5, tags=("odd head dim",))
            case("one head, d_model=6", 2, 4, 6, 1, tags=("1 head",))
            case("no bias", 2, 5, 12, 3, bias=False, tags=("bias=False",), public=True)
            case("causal", 2, 6, 16, 4, tags=("causal mask",), public=True, is_causal=True)
            case("bool mask (T, T)", 2, 5, 8, 2, tags=("bool mask",), mask="bool")
            case("bool mask (B, 1, T, T)", 2, 5, 8, 4, tags=("bool mask",), mask="bool_batched")
            case("gradients (input and all weights), causal", 2, 4, 8, 2, tags=("causal mask",),
                 grad=True, is_causal=True)
    return cases


# --------------------------------------------------------------------------- norms
def _norm_cases(b: CaseBuilder, with_bias: bool) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, x, tags=(), public=False, grad=False, eps=None):
                D = x.shape[-1]
                args = [x, b.randn(D, dtype=dtype, scale=0.5, shift=1.0)]
                if with_bias:
                    args.append(b.randn(D, dtype=dtype, scale=0.5))
                kw = {} if eps is None else {"eps": eps}
                g = tuple(range(len(args))) if grad and dtype != torch.bfloat16 else ()
                cases.append(Case(f"{_dt(dtype)}, {name}", args, kw, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, grad=g))
            case("x (4, 16)", b.randn(4, 16, dtype=dtype), public=True)
            case("x (2, 3, 32)", b.randn(2, 3, 32, dtype=dtype, scale=3, shift=1), ("batch dims",),
                 public=True)
            case("x (3, 1): one feature", b.randn(3, 1, dtype=dtype), ("d = 1",))
            case("tiny values (scale 1e-3)", b.randn(4, 24, dtype=dtype, scale=1e-3),
                 ("small variance",), public=True)
            case("eps=0.1", b.randn(3, 8, dtype=dtype, scale=0.5), ("custom eps",), eps=0.1)
            case("large mean offset (x + 300)", b.randn(4, 64, dtype=F64, shift=300.0).to(dtype),
                 ("large mean",))
            cases.append(Case(f"{_dt(dtype)}, non-contiguous x (8, 5)",
                              [b.randn(8, 5, dtype=dtype), b.randn(5, dtype=dtype, shift=1.0)]
                              + ([b.randn(5, dtype=dtype)] if with_bias else []),
                              {}, dtype, (), False, dev, noncontig=(0,)))
            case("gradients, x (3, 10)", b.randn(3, 10, dtype=dtype), grad=True)
    return cases


def layer_norm_cases(b: CaseBuilder) -> list[Case]:
    return _norm_cases(b, with_bias=True)


def rms_norm_cases(b: CaseBuilder) -> list[Case]:
    return _norm_cases(b, with_bias=False)


# --------------------------------------------------------------------------- kernel smoother
def smoother_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, M, N, E, Ev, h, batch=(), tags=(), public=False, grad=False, q_shift=0.0):
                q = b.randn(*batch, M, E, dtype=dtype, shift=q_shift)
                k = b.randn(*batch, N, E, dtype=dtype)
                v = b.randn(*batch, N, Ev, dtype=dtype)
                g = (0, 2) if grad and dtype != torch.bfloat16 else ()
                cases.append(Case(f"{_dt(dtype)}, {name}", [q, k, v, h], {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, grad=g))
            case("1-D regression, 7 queries, 20 points, h=0.5", 7, 20, 1, 1, 0.5, public=True)
            case("E=3, Ev=2, h=1.0", 5, 9, 3, 2, 1.0, public=True)
            case("batch (2,), h=0.3", 4, 6, 2, 3, 0.3, batch=(2,), tags=("batch dims",))
            case("wide bandwidth h=50", 5, 8, 2, 1, 50.0, tags=("wide bandwidth",))
            case("narrow bandwidth h=0.05", 5, 8, 2, 1, 0.05, tags=("narrow bandwidth",))
            case("far-away queries (distance ~100, h=0.5)", 4, 10, 1, 2, 0.5,
                 tags=("far-away queries",), public=True, q_shift=100.0)
            case("gradients w.r.t. queries and values", 4, 6, 2, 2, 0.7, grad=True)
    return cases


CHAPTER = Chapter(
    id="ch04",
    title="Attention",
    notebook="ch04_attention/ch04_attention.py",
    exercises=[
        Exercise(
            "ch04.softmax", "softmax", 2.0, softmax, softmax_cases,
            forbidden_functions=("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax",
                                 "torch.special.softmax", "torch.log_softmax",
                                 "torch.nn.functional.log_softmax", "torch.Tensor.log_softmax",
                                 "torch.special.log_softmax"),
            forbidden_ops=("aten::softmax", "aten::_softmax", "aten::_safe_softmax",
                           "aten::log_softmax", "aten::_log_softmax", "aten::special_softmax"),
            forbidden_hint="build it from exp, max and sum",
            mistakes=catalog.SOFTMAX_MISTAKES, alternatives=catalog.SOFTMAX_ALTERNATIVES),
        Exercise(
            "ch04.softmax_jacobian", "softmax_jacobian", 1.0, softmax_jacobian, jacobian_cases,
            forbidden_functions=("torch.autograd.functional.jacobian", "torch.func.jacrev",
                                 "torch.func.jacfwd", "torch.func.vmap"),
            forbidden_hint="write diag(p) − p pᵀ directly",
            mistakes=catalog.JACOBIAN_MISTAKES, alternatives=catalog.JACOBIAN_ALTERNATIVES),
        Exercise(
            "ch04.scaled_dot_product_attention", "scaled_dot_product_attention", 3.0,
            scaled_dot_product_attention, sdpa_cases,
            forbidden_functions=("torch.nn.functional.scaled_dot_product_attention",
                                 "torch.nn.functional.multi_head_attention_forward"),
            forbidden_ops=("aten::scaled_dot_product_attention",
                           "aten::_scaled_dot_product_attention_math",
                           "aten::_scaled_dot_product_flash_attention",
                           "aten::_scaled_dot_product_flash_attention_for_cpu",
                           "aten::_scaled_dot_product_efficient_attention",
                           "aten::_scaled_dot_product_cudnn_attention",
                           "aten::_native_multi_head_attention"),
            forbidden_hint="use matmul, your softmax and the mask",
            substitutes={"softmax": BUILTIN_SOFTMAX},
            mistakes=catalog.SDPA_MISTAKES, alternatives=catalog.SDPA_ALTERNATIVES),
        Exercise(
            "ch04.multi_head_attention", "MultiHeadAttention", 3.0, MultiHeadAttention, mha_cases,
            kind="class",
            forbidden_functions=("torch.nn.functional.scaled_dot_product_attention",
                                 "torch.nn.functional.multi_head_attention_forward"),
            forbidden_ops=("aten::scaled_dot_product_attention",
                           "aten::_scaled_dot_product_attention_math",
                           "aten::_scaled_dot_product_flash_attention_for_cpu",
                           "aten::_scaled_dot_product_efficient_attention",
                           "aten::_native_multi_head_attention"),
            forbidden_hint="call your own scaled_dot_product_attention",
            substitutes={"softmax": BUILTIN_SOFTMAX, "scaled_dot_product_attention": BUILTIN_SDPA},
            mistakes=catalog.MHA_MISTAKES, alternatives=catalog.MHA_ALTERNATIVES),
        Exercise(
            "ch04.layer_norm", "layer_norm", 1.5, layer_norm, layer_norm_cases,
            forbidden_functions=("torch.nn.functional.layer_norm", "torch.layer_norm",
                                 "torch.nn.functional.group_norm", "torch.native_layer_norm"),
            forbidden_ops=("aten::layer_norm", "aten::native_layer_norm"),
            forbidden_hint="use mean, the variance and sqrt",
            mistakes=catalog.LAYER_NORM_MISTAKES, alternatives=catalog.LAYER_NORM_ALTERNATIVES),
        Exercise(
            "ch04.rms_norm", "rms_norm", 1.5, rms_norm, rms_norm_cases,
            forbidden_functions=("torch.nn.functional.rms_norm", "torch.rms_norm"),
            forbidden_ops=("aten::rms_norm", "aten::_fused_rms_norm"),
            forbidden_hint="use mean of squares and rsqrt/sqrt",
            mistakes=catalog.RMS_NORM_MISTAKES, alternatives=catalog.RMS_NORM_ALTERNATIVES),
        Exercise(
            "ch04.kernel_smoother", "kernel_smoother", 2.0, kernel_smoother, smoother_cases,
            substitutes={"softmax": BUILTIN_SOFTMAX},
            mistakes=catalog.SMOOTHER_MISTAKES, alternatives=catalog.SMOOTHER_ALTERNATIVES),
    ],
)
