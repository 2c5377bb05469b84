"""Chapter 7 — Efficiency and variants of Transformers: the graded exercises and their cases.

Expected outputs always come from the live reference (``reference/efficiency.py``,
``reference/flash.py``). The chapter's point is complexity, so two drivers grade *how* a result is
computed, not only what it is:

* ``drive_flash_forward`` runs the student's ``flash_attention_forward`` under a
  ``TorchDispatchMode`` that records the largest tensor any operation creates, and under
  ``FlopCounterMode``. A tensor larger than one tile of scores per head plus O(N d) (an L × S score
  matrix, or a full L × S mask) and, with ``is_causal``, matmul FLOPs beyond the tiles that the mask
  does not hide completely, make the case fail with a message that names the tensor's shape or the
  FLOP counts. (The rule is enforced inside the driver, by raising: the judge compares every output
  with the reference before it runs ``checks``, so a number that only the student's run has — the
  shape of *their* largest tensor — cannot reach a parent-side check.)
* ``drive_kv_cache`` decodes token by token (and chunk by chunk) with the student's ``KVCache`` and
  computes attention over what ``update`` returns: it must equal full causal attention.

Dtypes cannot travel as JSON arguments, so the byte-counting exercises get dtype *names* and
``drive_dtype_args`` turns them back into ``torch.dtype`` objects before calling the student.
"""

from __future__ import annotations

import functools
import math

import torch

from autograder import tolerance
from autograder.chapters import ch07_catalog as catalog
from autograder.chapters import ch07_triton_catalog as triton_catalog
from autograder.spec import Case, CaseBuilder, Chapter, Exercise, missing_requirements
from reference.efficiency import (KVCache, attention_flops, gated_attention_output, glu,
                                  grouped_query_attention, kv_cache_bytes, linformer_attention,
                                  low_rank_approximation, parameter_bytes, performer_attention,
                                  performer_features, training_memory_bytes,
                                  transformer_flops_per_token)
from reference.attention import scaled_dot_product_attention
from reference.flash import (FlashAttentionFunction, flash_attention_backward,
                             flash_attention_forward)

F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16

SDPA_FUNCTIONS = ("torch.nn.functional.scaled_dot_product_attention",
                  "torch.nn.functional.multi_head_attention_forward")
SDPA_OPS = ("aten::scaled_dot_product_attention", "aten::_scaled_dot_product_attention_math",
            "aten::_scaled_dot_product_flash_attention",
            "aten::_scaled_dot_product_flash_attention_for_cpu",
            "aten::_scaled_dot_product_efficient_attention",
            "aten::_scaled_dot_product_cudnn_attention", "aten::_native_multi_head_attention")


def _dt(dtype) -> str:
    return str(dtype).removeprefix("torch.")


# =========================================================================== drivers
def drive_dtype_args(fn, *args, **kwargs):
    """Call ``fn`` with every argument that names a torch dtype ("bfloat16") replaced by the dtype."""
    def conv(a):
        return getattr(torch, a) if isinstance(a, str) and isinstance(
            getattr(torch, a, None), torch.dtype) else a
    return fn(*[conv(a) for a in args], **{k: conv(a) for k, a in kwargs.items()})


def drive_flash_forward(fn, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """Run ``fn`` once, recording the largest tensor it creates and its matmul FLOPs; raise with an
    explanation when it holds more than one score tile per head plus O(N d), or (causal) computes
    tiles that the mask hides completely. Returns ``(out, lse)``."""
    import torch.utils.flop_counter as flop_counter
    from torch.utils._python_dispatch import TorchDispatchMode

    class LargestTensor(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.numel, self.shape, self.op = 0, (), ""

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor) and t.numel() > self.numel:
                    self.numel, self.shape, self.op = t.numel(), tuple(t.shape), str(func)
            return out

    L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    heads = q.numel() // (L * E)  # B * H
    bq, bk = min(block_q, L), min(block_k, S)
    limit = heads * (bq * bk + (L + S) * (E + Ev))
    watch = LargestTensor()
    counter = flop_counter.FlopCounterMode(display=False)
    with counter, watch:
        result = fn(q, k, v, is_causal=is_causal, scale=scale, block_q=block_q, block_k=block_k)
    if watch.numel > limit:
        what = ("an L × S score/probability/mask matrix" if L * S <= watch.numel and
                (watch.shape[-2:] in ((L, S), (S, L)) or watch.numel % (L * S) == 0)
                else "a tensor larger than one score tile per head plus O(N·d)")
        raise MemoryError(
            f"your code created a tensor of shape {watch.shape} ({watch.numel:,} elements, by "
            f"{watch.op}): {what}. FlashAttention never materialises it: with block_q={block_q}, "
            f"block_k={block_k} and {heads} head(s) of L={L}, S={S}, at most {limit:,} elements "
            "per tensor are allowed (one block_q × block_k tile per head, plus q/k/v/out-sized "
            "tensors); loop over key blocks and keep only the running max, sum and output")
    if is_causal:
        allowed = 0
        for i0 in range(0, L, block_q):
            i1 = min(i0 + block_q, L)
            for j0 in range(0, min(S, i1), block_k):  # tiles with some key j <= some query i
                allowed += 2 * (i1 - i0) * (min(j0 + block_k, S) - j0) * (E + Ev)
        allowed *= heads
        flops = counter.get_total_flops()
        if flops > allowed:
            raise RuntimeError(
                f"with is_causal=True your code spent {flops:,} matmul FLOPs, but only {allowed:,} "
                "are needed when the tiles that the causal mask hides completely (first key after "
                "the tile's last query) are skipped; do not compute them and then mask them")
    return result


def drive_flash_backward(fn, q, k, v, out, lse, grad_out, is_causal=False, scale=None,
                         block_q=64, block_k=64):
    """Run the student's backward once under the same memory rule as the forward, and (causal)
    count its matmul FLOPs: 5 products per tile that the mask does not hide completely."""
    import torch.utils.flop_counter as flop_counter
    from torch.utils._python_dispatch import TorchDispatchMode

    class LargestTensor(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.numel, self.shape, self.op = 0, (), ""

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            res = func(*args, **(kwargs or {}))
            for t in res if isinstance(res, (tuple, list)) else (res,):
                if isinstance(t, torch.Tensor) and t.numel() > self.numel:
                    self.numel, self.shape, self.op = t.numel(), tuple(t.shape), str(func)
            return res

    L, S, E, Ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    heads = q.numel() // (L * E)
    bq, bk = min(block_q, L), min(block_k, S)
    limit = heads * (bq * bk + (L + S) * (E + Ev))
    watch = LargestTensor()
    counter = flop_counter.FlopCounterMode(display=False)
    with counter, watch:
        result = fn(q, k, v, out, lse, grad_out, is_causal=is_causal, scale=scale,
                    block_q=block_q, block_k=block_k)
    if watch.numel > limit:
        raise MemoryError(
            f"your code created a tensor of shape {watch.shape} ({watch.numel:,} elements, by "
            f"{watch.op}); with block_q={block_q}, block_k={block_k} and {heads} head(s) of "
            f"L={L}, S={S} at most {limit:,} are allowed: recompute P one tile at a time from lse, "
            "never the whole L × S matrix")
    if is_causal:
        allowed = 0
        for i0 in range(0, L, block_q):
            i1 = min(i0 + block_q, L)
            for j0 in range(0, min(S, i1), block_k):
                allowed += 2 * (i1 - i0) * (min(j0 + block_k, S) - j0) * (3 * E + 2 * Ev)
        allowed *= heads
        flops = counter.get_total_flops()
        if flops > allowed:
            raise RuntimeError(
                f"with is_causal=True your backward spent {flops:,} matmul FLOPs, but only "
                f"{allowed:,} are needed when tiles that the causal mask hides completely are "
                "skipped")
    return result


# Stand-ins for the student's forward and backward while FlashAttentionFunction is graded (one bug,
# one exercise): plain attention in at least float32 (top-left causal mask, as everywhere), with
# the backward from torch.func.vjp.
_SCORES = ("(a @ b.transpose(-2, -1)) * (q.shape[-1] ** -0.5 if scale is None else scale) + ("
           "torch.full((q.shape[-2], k.shape[-2]), float('-inf'), device=q.device).triu(1) "
           "if is_causal else 0.0)")
_WIDE = "torch.promote_types(q.dtype, torch.float32)"
BUILTIN_FLASH_FORWARD = (
    "lambda q, k, v, is_causal=False, scale=None, block_q=64, block_k=64: (lambda a, b, c: "
    f"(lambda s: ((torch.softmax(s, -1) @ c).to(q.dtype), torch.logsumexp(s, -1).to(q.dtype)))("
    f"{_SCORES}))(q.to({_WIDE}), k.to({_WIDE}), v.to({_WIDE}))")
BUILTIN_FLASH_BACKWARD = (
    "lambda q, k, v, out, lse, grad_out, is_causal=False, scale=None, block_q=64, block_k=64: "
    "tuple(g.to(q.dtype) for g in torch.func.vjp(lambda a, b, c: torch.softmax("
    f"{_SCORES}, -1) @ c, q.to({_WIDE}), k.to({_WIDE}), v.to({_WIDE}))[1](grad_out.to({_WIDE})))")


def drive_flash_function(cls, q, k, v, grad_out, is_causal=False, scale=None, block_q=64,
                         block_k=64):
    """out = cls.apply(q, k, v, is_causal, scale, block_q, block_k), then autograd: returns out
    and the gradients of q, k, v for ``grad_out``."""
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise TypeError("FlashAttentionFunction must subclass torch.autograd.Function")
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    out = cls.apply(q, k, v, is_causal, scale, block_q, block_k)
    if not isinstance(out, torch.Tensor):
        raise TypeError("forward must return the output tensor only (keep lse in ctx)")
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), grad_out)
    return out.detach(), dq, dk, dv


def drive_kv_cache(cls, q, k, v, max_seq_len, chunks):
    """Decode with ``cls(B, Hkv, max_seq_len, E, dtype, device)``: for each chunk of positions,
    ``update`` the cache with the chunk's keys and values and attend from the chunk's queries to
    everything it returns (query at position p sees keys 0..p). Returns the concatenated outputs
    and the keys and values the last ``update`` returned."""
    B, Hq, T, E = q.shape
    Hkv = k.shape[1]
    cache = cls(B, Hkv, max_seq_len, E, k.dtype, k.device)
    outs, pos = [], 0
    for t in chunks:
        kc, vc = cache.update(k[:, :, pos:pos + t], v[:, :, pos:pos + t])
        if not (isinstance(kc, torch.Tensor) and isinstance(vc, torch.Tensor)):
            raise TypeError("update(k, v) must return two tensors: all keys and all values so far")
        if kc.shape[-2] != pos + t:
            raise ValueError(f"after {pos + t} positions update returned {kc.shape[-2]} keys; it "
                             "must return exactly the positions stored so far")
        kk = kc.repeat_interleave(Hq // Hkv, dim=1)  # (B, Hq, S, E)
        vv = vc.repeat_interleave(Hq // Hkv, dim=1)
        s = q[:, :, pos:pos + t] @ kk.transpose(-2, -1) / math.sqrt(E)  # (B, Hq, t, S)
        rows = torch.arange(pos, pos + t, device=q.device).unsqueeze(-1)
        s = s.masked_fill(torch.arange(pos + t, device=q.device) > rows, float("-inf"))
        w = torch.exp(s - s.amax(dim=-1, keepdim=True))
        outs.append((w / w.sum(dim=-1, keepdim=True)) @ vv)
        pos += t
    return torch.cat(outs, dim=-2), kc, vc


def drive_performer(fn, q, k, v, n_features, seed, repeats=0):
    """Call the student's function with a freshly seeded CPU generator. With ``repeats``,
    ``n_features`` is a list: returns the outputs for each feature count and each of the seeds
    seed, seed + 1, ..., stacked to shape (len(n_features), repeats, *out.shape)."""
    if not repeats:
        return fn(q, k, v, n_features, torch.Generator().manual_seed(seed))
    return torch.stack([torch.stack([fn(q, k, v, m, torch.Generator().manual_seed(seed + r))
                                     for r in range(repeats)]) for m in n_features])


# =========================================================================== counting exercises
def _count_case(cases, name, args, kwargs=None, tags=(), public=False, dtype=None):
    """An integer count: compared exactly. ``dtype`` is the one the count is about (bytes), or,
    for FLOPs, which do not depend on it, each case is declared once per CPU dtype so that no
    dtype is singled out in the feedback."""
    names = {"float64": F64, "float32": F32, "bfloat16": BF16, "float16": torch.float16}
    if dtype is None:
        dtype = next((names[a] for a in args if isinstance(a, str) and a in names), F64)
        cases.append(Case(name, list(args), dict(kwargs or {}), dtype, tags, public))
        return
    cases.append(Case(f"{_dt(dtype)}, {name}", list(args), dict(kwargs or {}), dtype, tags,
                      public and dtype == F32))


def _count_case_d(cases, dtype, name, args, kwargs=None, tags=(), public=False):
    _count_case(cases, name, args, kwargs, tags, public, dtype=dtype)


def _per_dtype(declare):
    def cases(b: CaseBuilder) -> list[Case]:
        out: list[Case] = []
        for dtype in (F64, F32, BF16):
            declare(out, dtype)
        return out
    return cases


@_per_dtype
def attention_flops_cases(cases, dtype):
    c = functools.partial(_count_case_d, cases, dtype)
    c("B=2, H=3, L=S=10, E=8", (2, 3, 10, 10, 8), public=True)
    c("B=1, H=12, L=1024, S=2048, E=64", (1, 12, 1024, 2048, 64), tags=("L ≠ S",))
    c("causal, L=S=7", (1, 1, 7, 7, 4), {"causal": True}, ("causal",), True)
    c("causal, B=4, H=8, L=S=4096, E=128", (4, 8, 4096, 4096, 128), {"causal": True}, ("causal",))
    c("causal, L=9 > S=5", (2, 2, 9, 5, 16), {"causal": True}, ("causal", "L ≠ S"))
    c("causal, L=3 < S=8", (1, 2, 3, 8, 16), {"causal": True}, ("causal", "L ≠ S"))


@_per_dtype
def transformer_flops_cases(cases, dtype):
    c = functools.partial(_count_case_d, cases, dtype)
    c("V=50, T=12, D=16, 2 layers, H=4, Dff=40", (50, 12, 16, 2, 4, 40), public=True)
    c("GPT-2-small-like: V=50257, T=1024, D=768, 12 layers, Dff=2048",
      (50257, 1024, 768, 12, 12, 2048))
    c("long context: V=32000, T=32768, D=512, 4 layers, Dff=1408", (32000, 32768, 512, 4, 8, 1408),
      tags=("attention-dominated",))


def parameter_bytes_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for i, dt in enumerate(("float32", "bfloat16", "float64", "float16")):
        _count_case(cases, f"124M parameters, {dt}", (124_000_000, dt), public=i < 2)
    return cases


def training_memory_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    _count_case(cases, "float32, AdamW", (1_000_000, "float32", "float32"), public=True)
    _count_case(cases, "float64, AdamW", (1000, "float64", "float64"))
    _count_case(cases, "bfloat16 + float32 master weights, AdamW",
                (7_000_000_000, "bfloat16", "bfloat16"), {"master_weights": True},
                ("master weights",), True)
    _count_case(cases, "pure bfloat16, AdamW", (350_000_000, "bfloat16", "bfloat16"),
                tags=("no master weights",))
    _count_case(cases, "bfloat16 params, float32 grads, SGD momentum, master",
                (1000, "bfloat16", "float32"), {"optimizer": "sgd_momentum", "master_weights": True},
                ("master weights", "sgd_momentum", "grad dtype ≠ param dtype"))
    _count_case(cases, "float32, plain SGD", (12345, "float32", "float32"), {"optimizer": "sgd"},
                ("sgd",))
    _count_case(cases, "float16 params, float32 grads, AdamW", (777, "float16", "float32"),
                tags=("grad dtype ≠ param dtype",))
    return cases


def kv_cache_bytes_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    _count_case(cases, "MHA: 12 layers, 12 KV heads, 64, T=1024, B=1, float32",
                (12, 12, 64, 1024, 1, "float32"), public=True)
    _count_case(cases, "GQA: 32 layers, 8 KV heads, 128, T=8192, B=4, bfloat16",
                (32, 8, 128, 8192, 4, "bfloat16"), tags=("bfloat16",), public=True)
    _count_case(cases, "MHA: 2 layers, 4 KV heads, 16, T=100, B=2, float64",
                (2, 4, 16, 100, 2, "float64"), tags=("float64",))
    _count_case(cases, "MQA: 24 layers, 1 KV head, 128, T=2048, B=16, float16",
                (24, 1, 128, 2048, 16, "float16"), tags=("float16",))
    return cases


# =========================================================================== flash forward
def _lse_check(outputs, case):
    """lse against torch.logsumexp of the (masked) scores, in float64, from the inputs."""
    q, k = (t.double() for t in case.args[:2])
    scale = case.kwargs.get("scale") or 1 / math.sqrt(q.shape[-1])
    s = q @ k.transpose(-2, -1) * scale
    if case.kwargs.get("is_causal"):
        s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    truth = torch.logsumexp(s, dim=-1)
    bound = 64 * torch.finfo(case.dtype).eps * (1 + float(s[torch.isfinite(s)].abs().max()))
    err = float((outputs[1].double().cpu() - truth).abs().max())
    if not err <= bound:
        return (f"lse differs from torch.logsumexp of the scores by {err:.3g} (> {bound:.3g}): "
                "lse must be m + log(l), the log of the full softmax denominator of each row")
    return None


def flash_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, shape_q, S, Ev, tags=(), public=False, qscale=1.0, noncontig=(), **kw):
                *lead, L, E = shape_q
                q = b.randn(*lead, L, E, dtype=dtype, scale=qscale)
                k = b.randn(*lead, S, E, dtype=dtype)
                v = b.randn(*lead, S, Ev, dtype=dtype)
                checks = (_lse_check,) if dtype != BF16 else ()
                cases.append(Case(f"{_dt(dtype)}, {name}", [q, k, v], kw, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, n_outputs=2,
                                  noncontig=noncontig, checks=checks))
            case("L=S=40, blocks 16×16", (2, 2, 40, 8), 40, 8, ("several tiles",), True,
                 block_q=16, block_k=16)
            case("L=S=37, blocks 16×8 (do not divide)", (1, 2, 37, 8), 37, 8,
                 ("blocks do not divide N",), True, block_q=16, block_k=8)
            case("causal, L=S=37, blocks 16×8", (1, 2, 37, 8), 37, 8,
                 ("causal", "blocks do not divide N"), True, is_causal=True, block_q=16, block_k=8)
            case("one tile (blocks 64 > N)", (2, 1, 9, 4), 9, 4, ("single tile",), True)
            case("L=20 < S=45, Ev=5, blocks 8×16", (1, 2, 20, 8), 45, 5, ("L ≠ S",),
                 block_q=8, block_k=16)
            case("causal, L=45 > S=20, blocks 8×8", (1, 2, 45, 8), 20, 8, ("causal", "L ≠ S"),
                 is_causal=True, block_q=8, block_k=8)
            case("blocks 1×1", (1, 1, 6, 4), 6, 4, ("blocks 1×1",), block_q=1, block_k=1,
                 is_causal=True)
            case("scale=0.3", (1, 2, 24, 8), 24, 8, ("scale",), block_q=8, block_k=8, scale=0.3)
            case("large scores (q × 20)", (1, 2, 32, 8), 32, 8, ("large logits",), True,
                 qscale=20.0, block_q=8, block_k=8)
            case("non-contiguous q, k, v", (1, 2, 24, 8), 24, 8, noncontig=(0, 1, 2),
                 block_q=8, block_k=8)
            case("memory rule: L=S=96, blocks 32×32", (1, 2, 96, 4), 96, 4,
                 ("memory rule",), block_q=32, block_k=32)
            case("causal tile skipping: L=S=64, blocks 16×16", (1, 1, 64, 8), 64, 8,
                 ("causal", "tile skipping"), is_causal=True, block_q=16, block_k=16)
    return cases


def _bwd_inputs(b, dtype, lead, L, S, E, Ev, is_causal, scale, qscale=1.0):
    q = b.randn(*lead, L, E, dtype=dtype, scale=qscale)
    k = b.randn(*lead, S, E, dtype=dtype)
    v = b.randn(*lead, S, Ev, dtype=dtype)
    out, lse = flash_attention_forward(q.double(), k.double(), v.double(), is_causal, scale)
    return [q, k, v, out.to(dtype), lse.to(dtype), b.randn(*lead, L, Ev, dtype=dtype)]


def flash_backward_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, lead, L, S, E, Ev, tags=(), public=False, qscale=1.0, **kw):
                args = _bwd_inputs(b, dtype, lead, L, S, E, Ev, kw.get("is_causal", False),
                                   kw.get("scale"), qscale)
                cases.append(Case(f"{_dt(dtype)}, {name}", args, kw, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, n_outputs=3))
            case("L=S=24, blocks 8×8", (1, 2), 24, 24, 8, 8, ("several tiles",), True,
                 block_q=8, block_k=8)
            case("causal, L=S=21, blocks 8×5", (2, 1), 21, 21, 4, 4,
                 ("causal", "blocks do not divide N"), True, is_causal=True, block_q=8, block_k=5)
            case("L=10 < S=19, Ev=5, blocks 4×8", (1, 2), 10, 19, 8, 5, ("L ≠ S",),
                 block_q=4, block_k=8)
            case("causal, L=19 > S=10, scale 0.4", (1, 2), 19, 10, 4, 4, ("causal", "L ≠ S",
                 "scale"), is_causal=True, scale=0.4, block_q=8, block_k=4)
            case("one tile (blocks 64 > N)", (1, 1), 7, 7, 4, 4, ("single tile",), True)
            case("large scores (q × 10)", (1, 2), 16, 16, 4, 4, ("large logits",), qscale=10.0,
                 block_q=8, block_k=8)
            case("memory rule: L=S=96, blocks 32×32", (1, 2), 96, 96, 4, 4, ("memory rule",),
                 block_q=32, block_k=32)
            case("causal tile skipping: L=S=64, blocks 16×16", (1, 1), 64, 64, 8, 8,
                 ("causal", "tile skipping"), is_causal=True, block_q=16, block_k=16)
    return cases


def flash_function_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, lead, L, S, E, Ev, tags=(), public=False, **kw):
                args = [b.randn(*lead, L, E, dtype=dtype), b.randn(*lead, S, E, dtype=dtype),
                        b.randn(*lead, S, Ev, dtype=dtype), b.randn(*lead, L, Ev, dtype=dtype)]
                cases.append(Case(f"{_dt(dtype)}, {name}", args, kw, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, n_outputs=4))
            case("L=S=20, blocks 8×8", (1, 2), 20, 20, 4, 4, (), True, block_q=8, block_k=8)
            case("causal, L=S=20, blocks 8×4", (1, 2), 20, 20, 4, 4, ("causal",), True,
                 is_causal=True, block_q=8, block_k=4)
            case("scale=0.3, L=9, S=13, Ev=3", (2, 1), 9, 13, 4, 3, ("scale", "L ≠ S"),
                 scale=0.3, block_q=4, block_k=4)
    return cases


# =========================================================================== GQA, KV cache
def gqa_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, Hq, Hkv, L, S, tags=(), public=False, grad=False, mask=None, **kw):
                q = b.randn(2, Hq, L, 4, dtype=dtype)
                k = b.randn(2, Hkv, S, 4, dtype=dtype)
                v = b.randn(2, Hkv, S, 5, dtype=dtype)
                if mask is not None:
                    kw["attn_mask"] = mask
                cases.append(Case(f"{_dt(dtype)}, {name}", [q, k, v], kw, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev,
                                  grad=(0, 1, 2) if grad and dtype != BF16 else ()))
            case("Hq=6, Hkv=2", 6, 2, 5, 5, ("groups of 3",), True)
            case("Hq=6, Hkv=3, causal", 6, 3, 7, 7, ("groups of 2", "causal"), True,
                 is_causal=True)
            case("MQA: Hq=4, Hkv=1", 4, 1, 5, 6, ("MQA", "L ≠ S"), True)
            case("MHA: Hq=Hkv=3", 3, 3, 4, 4, ("MHA",))
            case("Hq=8, Hkv=2, bool mask (B, 1, L, S)", 8, 2, 5, 7, ("bool mask", "L ≠ S"),
                 mask=b.bool_mask(2, 1, 5, 7))
            case("Hq=4, Hkv=2, float mask", 4, 2, 6, 6, ("float mask",),
                 mask=b.float_mask(6, 6, dtype=dtype))
            case("gradients, Hq=6, Hkv=2, causal", 6, 2, 5, 5, ("causal",), grad=True,
                 is_causal=True)
    return cases


def kv_cache_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, Hq, Hkv, T, max_len, chunks, tags=(), public=False):
                q = b.randn(2, Hq, T, 4, dtype=dtype)
                k = b.randn(2, Hkv, T, 4, dtype=dtype)
                v = b.randn(2, Hkv, T, 4, dtype=dtype)
                cases.append(Case(f"{_dt(dtype)}, {name}", [q, k, v, max_len, list(chunks)], {},
                                  dtype, tags, public and dtype == F32 and dev == "cpu", dev,
                                  n_outputs=3))
            case("token by token, 7 tokens, cache 7", 4, 2, 7, 7, [1] * 7, ("token by token",),
                 True)
            case("token by token, cache 16 > 7 tokens", 2, 2, 7, 16, [1] * 7,
                 ("cache larger than sequence",), True)
            case("prompt of 5, then 4 tokens", 4, 1, 9, 12, [5, 1, 1, 1, 1], ("prefill chunk",),
                 True)
            case("chunks 3, 2, 4", 6, 3, 9, 9, [3, 2, 4], ("prefill chunk",))
    return cases


def _gate_cases(b: CaseBuilder, kind) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, args, kw=None, tags=(), public=False, grad=(), noncontig=()):
                cases.append(Case(f"{_dt(dtype)}, {name}", args, kw or {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev,
                                  grad=grad if dtype != BF16 else (), noncontig=noncontig))
            if kind == "glu":
                case("x (3, 8)", [b.randn(3, 8, dtype=dtype)], public=True)
                case("x (4, 6, 8), dim=1", [b.randn(4, 6, 8, dtype=dtype)], {"dim": 1},
                     ("dim ≠ -1",), True)
                case("large |x| (× 30)", [b.randn(2, 10, dtype=dtype, scale=30)], tags=("large x",))
                case("gradient, non-contiguous (5, 4)", [b.randn(5, 4, dtype=dtype)], grad=(0,),
                     noncontig=(0,))
            else:
                case("per-feature gate (2, 3, 5, 4)",
                     [b.randn(2, 3, 5, 4, dtype=dtype), b.randn(2, 3, 5, 4, dtype=dtype)],
                     public=True)
                case("per-head gate (2, 3, 5, 1)",
                     [b.randn(2, 3, 5, 4, dtype=dtype), b.randn(2, 3, 5, 1, dtype=dtype)],
                     tags=("per-head gate",), public=True)
                case("saturated gates (× 40)",
                     [b.randn(3, 6, dtype=dtype), b.randn(3, 6, dtype=dtype, scale=40)],
                     tags=("large logits",))
                case("gradients", [b.randn(2, 4, 3, dtype=dtype), b.randn(2, 4, 3, dtype=dtype)],
                     grad=(0, 1))
    return cases


def glu_cases(b):
    return _gate_cases(b, "glu")


def gate_cases(b):
    return _gate_cases(b, "gate")


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


def low_rank_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            if dtype == torch.float16:
                continue
            def case(name, a, rank, tags=(), public=False, noncontig=()):
                cases.append(Case(f"{_dt(dtype)}, {name}", [a, rank], {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev,
                                  noncontig=noncontig, checks=(_eckart_young_check,)))
            case("a (8, 6), rank 2", b.randn(8, 6, dtype=dtype), 2, public=True)
            case("batched a (2, 7, 5), rank 3", b.randn(2, 7, 5, dtype=dtype), 3, ("batched",), True)
            case("a (4, 9), rank 1", b.randn(4, 9, dtype=dtype), 1, ("rank 1", "M < N"))
            case("full rank (5, 5), rank 5", b.randn(5, 5, dtype=dtype), 5, ("full rank",))
            case("non-contiguous (6, 6), rank 2", b.randn(6, 6, dtype=dtype), 2,
                 noncontig=(0,))
    return cases


def linformer_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, L, S, P, Ev, tags=(), public=False, grad=False):
                args = [b.randn(2, 2, L, 4, dtype=dtype), b.randn(2, 2, S, 4, dtype=dtype),
                        b.randn(2, 2, S, Ev, dtype=dtype),
                        b.randn(P, S, dtype=dtype, scale=S ** -0.5),
                        b.randn(P, S, dtype=dtype, scale=S ** -0.5)]
                cases.append(Case(f"{_dt(dtype)}, {name}", args, {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev,
                                  grad=(0, 1, 2, 3, 4) if grad and dtype != BF16 else ()))
            case("L=S=10, P=3", 10, 10, 3, 4, public=True)
            case("L=6, S=12, P=4, Ev=5", 6, 12, 4, 5, ("L ≠ S", "Ev ≠ E"), True)
            case("P = S = 7", 7, 7, 7, 4, ("P = S",))
            case("gradients, L=S=8, P=3", 8, 8, 3, 4, grad=True)
    return cases


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


def performer_features_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, x, omega, tags=(), public=False, checks=(), grad=False):
                cases.append(Case(f"{_dt(dtype)}, {name}", [x, omega], {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, checks=checks,
                                  grad=(0,) if grad and dtype != BF16 else ()))
            case("x (5, 4), 16 features", b.randn(5, 4, dtype=dtype, scale=0.5),
                 b.randn(4, 16, dtype=dtype), public=True)
            case("x (2, 3, 6, 8), 32 features", b.randn(2, 3, 6, 8, dtype=dtype, scale=0.4),
                 b.randn(8, 32, dtype=dtype), ("batched",), True)
            case("unbiased: 2 vectors, 8192 features", b.randn(2, 4, dtype=dtype, scale=0.5),
                 b.randn(4, 8192, dtype=dtype), ("statistics",), True, checks=(_unbiased_check,))
            case("gradient, x (3, 4)", b.randn(3, 4, dtype=dtype, scale=0.5),
                 b.randn(4, 8, dtype=dtype), grad=True)
    return cases


def _converges_check(outputs, case):
    q, k, v = (t.double() for t in case.args[:3])
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    exact = torch.softmax(s, dim=-1) @ v
    err = float((outputs[0].double().cpu() - exact).abs().max())
    if not err <= 0.15:
        return (f"with {case.args[3]} features the output should be close to softmax attention, "
                f"but differs by {err:.3g}: is the kernel exp(q·k/√E) (scale q and k by E^(-1/4))?")
    return None


def _shrinks_check(outputs, case):
    """The estimate is consistent: its mean squared error against softmax attention (over the
    case's seeds) falls as the number of features grows. An unbiased estimator's MSE falls as
    1/m, 16× per 16× features; a biased one levels off at its squared bias. We ask for 2×."""
    q, k, v = (t.double().cpu() for t in case.args[:3])
    exact = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v
    mse = [float((o.double().cpu() - exact).pow(2).mean()) for o in outputs[0]]
    ms = case.args[3]
    for i in range(len(ms) - 1):
        if not mse[i + 1] <= mse[i] / 2:
            table = ", ".join(f"{m}: {e:.2e}" for m, e in zip(ms, mse))
            return (f"the mean squared error against softmax attention does not shrink as the "
                    f"number of features grows ({table}): the estimate is biased. Check the "
                    "exp(-|x|²/2) factor, the 1/√m normalisation and the E^(-1/4) scaling")
    return None


def performer_attention_cases(b: CaseBuilder) -> list[Case]:
    cases: list[Case] = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, L, S, m, seed, tags=(), public=False, checks=(), compared=None,
                     repeats=0):
                args = [b.randn(1, 2, L, 4, dtype=dtype, scale=0.5),
                        b.randn(1, 2, S, 4, dtype=dtype, scale=0.5),
                        b.randn(1, 2, S, 3, dtype=dtype), m, seed]
                cases.append(Case(f"{_dt(dtype)}, {name}", args,
                                  {"repeats": repeats} if repeats else {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, checks=checks,
                                  compared=compared))
            case("L=S=6, 16 features", 6, 6, 16, 0, public=True)
            case("L=5, S=9, 64 features", 5, 9, 64, 1, ("L ≠ S",), True)
            # Properties of the estimator, whatever random numbers it draws (not compared with
            # the reference's draws): close with many features, and consistent.
            case("4096 features: close to softmax attention", 6, 6, 4096, 2, ("many features",),
                 checks=(_converges_check,), compared=())
            if dtype in (F64, F32):  # in 16-bit the rounding error hides the 1/m decay
                case("16, 256, 4096 features × 16 seeds: the error shrinks", 6, 6,
                     [16, 256, 4096], 100, ("error vs features",), checks=(_shrinks_check,),
                     compared=(), repeats=16)
    return cases


# =========================================================================== Triton kernel
TRITON_NEEDS = ("cuda", "triton")


def triton_reference(q, k, v, is_causal=False):
    """The reference for the Triton exercise: the Triton kernel in the case's dtype (its error
    sets the tolerance), and exact attention for the float64 truth, which Triton cannot give."""
    if q.dtype == torch.float64:
        return scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    from reference.triton_flash import triton_flash_attention_forward

    return triton_flash_attention_forward(q, k, v, is_causal)


def triton_cases(b: CaseBuilder) -> list[Case]:
    """On CUDA devices only (float32, bfloat16, float16). With TRITON_INTERPRET=1 and no GPU the
    platform's tests grade on the CPU through Triton's interpreter (float32 only: the interpreter
    mishandles bfloat16, and it is slow). Elsewhere: no cases, the exercise is ungraded."""
    if missing_requirements(TRITON_NEEDS):
        return []
    devices = [d for d in b.devices if d.startswith("cuda")]
    if not devices and not torch.cuda.is_available():  # here only through the interpreter
        devices = ["cpu"]
    cases: list[Case] = []
    for dev in devices:
        for dtype in (F32, BF16, F16) if dev.startswith("cuda") else (F32,):
            def case(name, lead, L, S, E, tags=(), public=False, **kw):
                args = [b.randn(*lead, L, E, dtype=dtype), b.randn(*lead, S, E, dtype=dtype),
                        b.randn(*lead, S, E, dtype=dtype)]
                cases.append(Case(f"{_dt(dtype)}, {name}", args, kw, dtype, tags,
                                  public and dtype == F32, dev))
            case("q, k, v (2, 3, 128, 64)", (2, 3), 128, 128, 64, public=True)
            case("causal, (2, 3, 128, 64)", (2, 3), 128, 128, 64, ("causal",), True,
                 is_causal=True)
            case("L=100, S=160, E=32: partial blocks", (1, 2), 100, 160, 32,
                 ("partial blocks", "L ≠ S"))
            case("causal, L=160, S=100, E=16", (1, 2), 160, 100, 16, ("causal", "L ≠ S"),
                 is_causal=True)
            case("one query, one key", (1, 1), 1, 1, 16, ("length 1",))
            case("causal, 300 tokens, E=128: many blocks", (1,), 300, 300, 128,
                 ("causal", "many blocks"), is_causal=True)
    return cases


# =========================================================================== the chapter
CHAPTER = Chapter(
    id="ch07",
    title="Efficiency and variants of Transformers",
    notebook="ch07_efficiency/ch07_efficiency.py",
    warm_ups=("dynamo",),  # torch.func and the dispatch modes import torch._dynamo: once
    exercises=[
        Exercise("ch07.attention_flops", "attention_flops", 1.0, attention_flops,
                 attention_flops_cases, mistakes=catalog.ATTN_FLOPS_MISTAKES,
                 alternatives=catalog.ATTN_FLOPS_ALTERNATIVES),
        Exercise("ch07.transformer_flops_per_token", "transformer_flops_per_token", 1.0,
                 transformer_flops_per_token, transformer_flops_cases,
                 forbidden_functions=("torch.utils.flop_counter.FlopCounterMode",),
                 forbidden_hint="count the matmuls on paper; the notebook checks you with "
                                "FlopCounterMode", mistakes=catalog.TF_FLOPS_MISTAKES,
                 alternatives=catalog.TF_FLOPS_ALTERNATIVES),
        Exercise("ch07.parameter_bytes", "parameter_bytes", 0.5, parameter_bytes,
                 parameter_bytes_cases, driver=drive_dtype_args,
                 mistakes=catalog.PARAM_BYTES_MISTAKES, alternatives=catalog.PARAM_BYTES_ALTERNATIVES),
        Exercise("ch07.training_memory_bytes", "training_memory_bytes", 1.0,
                 training_memory_bytes, training_memory_cases, driver=drive_dtype_args,
                 mistakes=catalog.TRAIN_MEM_MISTAKES, alternatives=catalog.TRAIN_MEM_ALTERNATIVES),
        Exercise("ch07.kv_cache_bytes", "kv_cache_bytes", 0.5, kv_cache_bytes, kv_cache_bytes_cases,
                 driver=drive_dtype_args, mistakes=catalog.KV_BYTES_MISTAKES,
                 alternatives=catalog.KV_BYTES_ALTERNATIVES),
        Exercise("ch07.flash_attention_forward", "flash_attention_forward", 4.0,
                 flash_attention_forward, flash_cases, driver=drive_flash_forward,
                 forbidden_functions=SDPA_FUNCTIONS, forbidden_ops=SDPA_OPS,
                 forbidden_hint="loop over tiles with matmul, amax, exp and sum",
                 timeout_floor_s=40.0,
                 mistakes=catalog.FLASH_MISTAKES, alternatives=catalog.FLASH_ALTERNATIVES),
        Exercise("ch07.flash_attention_backward", "flash_attention_backward", 3.0,
                 flash_attention_backward, flash_backward_cases, driver=drive_flash_backward,
                 forbidden_functions=SDPA_FUNCTIONS + (
                     "torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward",
                     "torch.func.vjp", "torch.func.grad"),
                 forbidden_ops=SDPA_OPS + ("aten::_scaled_dot_product_flash_attention_for_cpu_backward",
                                           "aten::_scaled_dot_product_flash_attention_backward"),
                 forbidden_hint="recompute each tile's P = exp(S − lse) and apply the formulas for "
                                "dV, dP, dS, dQ, dK yourself",
                 timeout_floor_s=40.0,
                 mistakes=catalog.FLASH_BWD_MISTAKES, alternatives=catalog.FLASH_BWD_ALTERNATIVES),
        Exercise("ch07.flash_attention_function", "FlashAttentionFunction", 1.0,
                 FlashAttentionFunction, flash_function_cases, driver=drive_flash_function,
                 substitutes={"flash_attention_forward": BUILTIN_FLASH_FORWARD,
                              "flash_attention_backward": BUILTIN_FLASH_BACKWARD},
                 forbidden_functions=SDPA_FUNCTIONS, forbidden_ops=SDPA_OPS,
                 forbidden_hint="call your flash_attention_forward and flash_attention_backward",
                 mistakes=catalog.FLASH_FN_MISTAKES, alternatives=catalog.FLASH_FN_ALTERNATIVES),
        Exercise("ch07.triton_flash_attention_forward", "triton_flash_attention_forward", 2.0,
                 triton_reference, triton_cases, requires=TRITON_NEEDS,
                 forbidden_functions=SDPA_FUNCTIONS + (
                     "torch.matmul", "torch.bmm", "torch.einsum", "torch.softmax",
                     "torch.Tensor.__matmul__", "torch.Tensor.softmax",
                     "torch.nn.functional.softmax"),
                 forbidden_ops=SDPA_OPS + ("aten::bmm", "aten::mm", "aten::matmul",
                                           "aten::_softmax"),
                 forbidden_hint="the attention must be computed inside your Triton kernel; "
                                "PyTorch only allocates and reshapes",
                 timeout_floor_s=120.0,
                 mistakes=triton_catalog.TRITON_MISTAKES,
                 alternatives=triton_catalog.TRITON_ALTERNATIVES),
        Exercise("ch07.grouped_query_attention", "grouped_query_attention", 1.5,
                 grouped_query_attention, gqa_cases, forbidden_functions=SDPA_FUNCTIONS,
                 forbidden_ops=SDPA_OPS,
                 forbidden_hint="share each key/value head among its group of query heads, then "
                                "call the given scaled_dot_product_attention",
                 mistakes=catalog.GQA_MISTAKES, alternatives=catalog.GQA_ALTERNATIVES),
        Exercise("ch07.kv_cache", "KVCache", 1.5, KVCache, kv_cache_cases, driver=drive_kv_cache,
                 mistakes=catalog.KV_CACHE_MISTAKES, alternatives=catalog.KV_CACHE_ALTERNATIVES),
        Exercise("ch07.glu", "glu", 0.5, glu, glu_cases,
                 forbidden_functions=("torch.nn.functional.glu",), forbidden_ops=("aten::glu",),
                 forbidden_hint="split x in two halves and use torch.sigmoid",
                 mistakes=catalog.GLU_MISTAKES, alternatives=catalog.GLU_ALTERNATIVES),
        Exercise("ch07.gated_attention_output", "gated_attention_output", 0.5,
                 gated_attention_output, gate_cases, mistakes=catalog.GATE_MISTAKES,
                 alternatives=catalog.GATE_ALTERNATIVES),
        Exercise("ch07.low_rank_approximation", "low_rank_approximation", 1.0,
                 low_rank_approximation, low_rank_cases,
                 forbidden_functions=("torch.svd_lowrank", "torch.pca_lowrank"),
                 forbidden_hint="use torch.linalg.svd and keep the largest terms",
                 mistakes=catalog.LOW_RANK_MISTAKES, alternatives=catalog.LOW_RANK_ALTERNATIVES),
        Exercise("ch07.linformer_attention", "linformer_attention", 1.0, linformer_attention,
                 linformer_cases, forbidden_functions=SDPA_FUNCTIONS, forbidden_ops=SDPA_OPS,
                 forbidden_hint="project, then call the given scaled_dot_product_attention",
                 mistakes=catalog.LINFORMER_MISTAKES, alternatives=catalog.LINFORMER_ALTERNATIVES),
        Exercise("ch07.performer_features", "performer_features", 1.0, performer_features,
                 performer_features_cases, mistakes=catalog.PERF_FEATURES_MISTAKES,
                 alternatives=catalog.PERF_FEATURES_ALTERNATIVES),
        Exercise("ch07.performer_attention", "performer_attention", 1.5, performer_attention,
                 performer_attention_cases, driver=drive_performer,
                 forbidden_functions=SDPA_FUNCTIONS, forbidden_ops=SDPA_OPS,
                 forbidden_hint="never form the L × S kernel matrix: use φ(q) (φ(k)ᵀ v)",
                 substitutes={"performer_features": "lambda x, w: torch.exp(x @ w - (x * x).sum(-1,"
                              " keepdim=True) / 2) / w.shape[-1] ** 0.5"},
                 mistakes=catalog.PERF_ATTN_MISTAKES, alternatives=catalog.PERF_ATTN_ALTERNATIVES),
    ],
)
