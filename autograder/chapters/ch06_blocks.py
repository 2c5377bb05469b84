"""Chapter 6 — Transformer blocks and representation power: the graded exercises and their cases.

Each ``*_cases`` function declares inputs only; expected outputs always come from the live
reference (``reference/blocks.py``). Module sizes stay tiny (d_model <= 32, T <= 8, vocab <= 50)
so that all hidden tests run in seconds on two CPU cores.

Three exercises return something that is not unique (the weights of a construction, a module
whose tie is a property of its Parameters), so a *driver* exercises them and returns what is
unique: the network's values, the head's output, the logits together with the tie.
"""

from __future__ import annotations

import torch

from autograder.chapters import ch06_catalog as catalog
from autograder.spec import Case, CaseBuilder, Chapter, Exercise
from reference.blocks import (
    GPT,
    FeedForward,
    SwiGLU,
    TransformerBlock,
    count_parameters,
    gelu,
    previous_token_head,
    relu_network_for_piecewise_linear,
    silu,
)

F32, F64, BF16 = torch.float32, torch.float64, torch.bfloat16
LOW = (torch.bfloat16, torch.float16)

# --------------------------------------------------------------------------- built-in stand-ins
# Earlier exercises replaced by PyTorch built-ins while a later one is graded (Exercise.substitutes),
# so that one bug costs one exercise. Classes are built with type(...) so that each stays a single
# expression over torch/F; parameter names are those of the exercise (fc1/fc2, w1/w3/w2, ...).
BUILTIN_GELU = 'lambda x, approximate="none": F.gelu(x, approximate=approximate)'
BUILTIN_SILU = "F.silu"
BUILTIN_FEED_FORWARD = (
    'lambda d_model, d_ff, activation="gelu", bias=True: torch.nn.Sequential('
    '__import__("collections").OrderedDict(fc1=torch.nn.Linear(d_model, d_ff, bias=bias), '
    'act={"relu": torch.nn.ReLU(), "gelu": torch.nn.GELU(), '
    '"gelu_tanh": torch.nn.GELU(approximate="tanh"), "silu": torch.nn.SiLU()}[activation], '
    "fc2=torch.nn.Linear(d_ff, d_model, bias=bias)))"
)
BUILTIN_SWIGLU = (
    'type("BuiltinSwiGLU", (torch.nn.Module,), {'
    '"__init__": lambda self, d_model, d_ff: (torch.nn.Module.__init__(self), '
    'setattr(self, "w1", torch.nn.Linear(d_model, d_ff, bias=False)), '
    'setattr(self, "w3", torch.nn.Linear(d_model, d_ff, bias=False)), '
    'setattr(self, "w2", torch.nn.Linear(d_ff, d_model, bias=False)), None)[-1], '
    '"forward": lambda self, x: self.w2(F.silu(self.w1(x)) * self.w3(x))})'
)
# Pre-norm causal block from nn.RMSNorm/nn.LayerNorm, F.scaled_dot_product_attention and the
# half-split RoPE (computed in the input dtype, as the given apply_rope does).
BUILTIN_TRANSFORMER_BLOCK = (
    'type("BuiltinTransformerBlock", (torch.nn.Module,), {'
    '"__init__": lambda self, d_model, n_heads, d_ff, norm="rms", ffn="swiglu", rope=True, '
    "rope_base=10000.0: (torch.nn.Module.__init__(self), "
    'setattr(self, "cfg", (n_heads, rope, rope_base)), '
    'setattr(self, "norm1", torch.nn.RMSNorm(d_model, eps=1e-6) if norm == "rms" '
    "else torch.nn.LayerNorm(d_model)), "
    'setattr(self, "attn", torch.nn.ModuleDict({n: torch.nn.Linear(d_model, d_model) '
    'for n in ("q_proj", "k_proj", "v_proj", "out_proj")})), '
    'setattr(self, "norm2", torch.nn.RMSNorm(d_model, eps=1e-6) if norm == "rms" '
    "else torch.nn.LayerNorm(d_model)), "
    f'setattr(self, "ffn", ({BUILTIN_SWIGLU})(d_model, d_ff) if ffn == "swiglu" '
    f"else ({BUILTIN_FEED_FORWARD})(d_model, d_ff, ffn)), None)[-1], "
    '"rope": lambda self, t: (lambda h, ang: torch.cat([t[..., :h] * ang.cos() - t[..., h:] * '
    "ang.sin(), t[..., h:] * ang.cos() + t[..., :h] * ang.sin()], -1))(t.shape[-1] // 2, "
    "torch.arange(t.shape[-2], device=t.device, dtype=t.dtype)[:, None] * self.cfg[2] ** "
    "(-torch.arange(0, t.shape[-1], 2, device=t.device, dtype=t.dtype) / t.shape[-1])), "
    '"mix": lambda self, h: (lambda B, T, D, H: self.attn["out_proj"](F.scaled_dot_product_attention('
    '*[(lambda z: self.rope(z) if i < 2 and self.cfg[1] else z)(self.attn[n](h).view(B, T, H, D // H)'
    '.transpose(1, 2)) for i, n in enumerate(("q_proj", "k_proj", "v_proj"))], is_causal=True)'
    ".transpose(1, 2).reshape(B, T, D)))(*h.shape, self.cfg[0]), "
    '"forward": lambda self, x: (lambda h: h + self.ffn(self.norm2(h)))(x + self.mix(self.norm1(x)))})'
)

ATTENTION_MODULE_FUNCTIONS = (
    "torch.nn.functional.multi_head_attention_forward",
    "torch._transformer_encoder_layer_fwd",
    "torch._native_multi_head_attention",
)
# No ATen-level list for the block and the GPT: the profiler that watches ATen ops makes these
# module cases ~10x slower, and the Python-level monitor already sees nn.MultiheadAttention and
# nn.TransformerEncoderLayer (both reach F.multi_head_attention_forward while the monitor is active,
# which also disables their fused fast path). A hand-called torch.ops.aten kernel would still have
# to consume the parameters loaded under this exercise's names.


def _dt(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _pub(public, dtype, dev) -> bool:
    return public and dtype == F32 and dev == "cpu"


# --------------------------------------------------------------------------- drivers and checks
def drive_twice(module, x, x_edited):
    """Run the block on a sequence and on the same sequence with its tail replaced."""
    return module(x), module(x_edited)


def drive_gpt(model, idx, idx_edited, tied):
    """Logits of a sequence and of the same sequence with its tail replaced, and whether the head
    shares the embedding's Parameter. An untied head (when tying was asked for) holds a random
    initialisation; it gets the embedding's values so that the logits are reproducible — the
    missing tie itself is reported by the third output (and by the embedding's gradient)."""
    head, emb = model.lm_head.weight, model.tok_emb.weight
    is_tied = head is emb
    if tied and not is_tied and head.shape == emb.shape:
        with torch.no_grad():
            head.copy_(emb)
    return model(idx), model(idx_edited), torch.tensor(int(is_tied), device=idx.device)


def drive_count(count, like, *args, **kwargs):
    """The count as an int64 tensor on the case's device (``like`` only carries the device)."""
    n = count(*args, **kwargs)
    if type(n) is not int:  # noqa: E721 - a float count (from a division) is a bug to report
        raise TypeError(f"count_parameters must return a Python int, got {type(n).__name__}")
    return torch.tensor(n, device=like.device)


def drive_relu_network(build, xs, ys, x_eval):
    """Build the network from the points, then evaluate it at x_eval (all inside [xs0, xs-1])."""
    W1, b1, W2, b2 = build(xs, ys)
    hidden = torch.relu(x_eval[:, None] @ W1.mT + b1)  # (M, Hd)
    return (hidden @ W2.mT + b2)[:, 0]  # (M,)


def drive_previous_token_head(build, content):
    """Embed positions (one-hot) and content, run one causal head with the built weights."""
    B, T, C = content.shape
    W_q, W_k, W_v = (w.to(device=content.device, dtype=content.dtype) for w in build(T, T + C))
    pos = torch.eye(T, dtype=content.dtype, device=content.device).expand(B, T, T)
    x = torch.cat([pos, content], dim=-1)  # (B, T, T + C)
    q, k, v = x @ W_q, x @ W_k, x @ W_v
    scores = q @ k.mT / (q.shape[-1] ** 0.5)  # (B, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=content.device).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return weights @ v  # (B, T, T + C)


def no_future_leak(t: int):
    """Property: replacing the inputs after position t leaves outputs 0..t unchanged."""

    def check(outputs, case):
        y, y_edited = outputs[0], outputs[1]
        diff = float((y[:, : t + 1].double() - y_edited[:, : t + 1].double()).abs().max())
        allowed = 8 * torch.finfo(case.dtype).eps * max(1.0, float(y.double().abs().max()))
        if diff > allowed:
            return (f"changing the inputs after position {t} changed the outputs at positions "
                    f"0..{t} by up to {diff:.3g}: information flows from the future (the "
                    "attention must be causal)")
        return None

    return check


# --------------------------------------------------------------------------- activations
def _activation_cases(b: CaseBuilder, modes) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            for mode in modes:
                kw = {} if mode is None else {"approximate": mode}
                label = "" if mode is None else f", approximate={mode!r}"
                tags = () if mode is None else (f"approximate={mode}",)

                def case(name, x, extra=(), public=False, grad=(), noncontig=()):
                    cases.append(Case(f"{_dt(dtype)}, {name}{label}", [x], dict(kw), dtype,
                                      tags + extra, _pub(public, dtype, dev), dev,
                                      grad=grad if dtype != BF16 else (), noncontig=noncontig))

                case("x (7,)", b.randn(7, dtype=dtype), public=True)
                case("x (3, 4, 5) around ±3", b.randn(3, 4, 5, dtype=dtype, scale=3), public=True)
                case("grid −6..6", torch.linspace(-6, 6, 49, dtype=F64).to(dtype), ("grid",),
                     public=True)
                case("large |x| (±30)", b.randn(4, 8, dtype=dtype, scale=30), ("large |x|",))
                case("tiny x (1e-4)", b.randn(16, dtype=dtype, scale=1e-4), ("tiny x",))
                case("non-contiguous x (5, 6)", b.randn(5, 6, dtype=dtype, scale=2), noncontig=(0,))
                case("gradient, x (4, 6)", b.randn(4, 6, dtype=dtype, scale=2), grad=(0,))
    return cases


def gelu_cases(b: CaseBuilder) -> list[Case]:
    return _activation_cases(b, ("none", "tanh"))


def silu_cases(b: CaseBuilder) -> list[Case]:
    return _activation_cases(b, (None,))


# --------------------------------------------------------------------------- FFN modules
def _module_case(b, cases, dtype, dev, name, ref_module, init, x, tags=(), public=False,
                 grad=False, **extra):
    state = b.module_state(ref_module, dtype)
    g = grad and dtype != BF16
    cases.append(Case(f"{_dt(dtype)}, {name}", [x], {}, dtype, tags, _pub(public, dtype, dev), dev,
                      init=init, state=state, grad=(0,) if g else (),
                      grad_params=tuple(state) if g else (), **extra))


def feed_forward_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            for i, (act, bias, D, Fh, shape, tags, public, grad) in enumerate([
                ("gelu", True, 8, 32, (2, 5), (), True, False),
                ("relu", True, 6, 12, (3,), ("relu",), True, False),
                ("gelu_tanh", True, 8, 16, (2, 3), ("gelu_tanh",), True, False),
                ("silu", False, 12, 20, (4,), ("silu", "bias=False"), False, False),
                ("gelu", False, 16, 24, (1, 7), ("bias=False",), False, True),
                ("gelu_tanh", True, 8, 16, (2, 4), ("gelu_tanh",), False, True),
                ("silu", True, 8, 8, (3, 2), ("silu",), False, True),
            ]):
                init = {"args": [D, Fh], "kwargs": {"activation": act, "bias": bias}}
                x = b.randn(*shape, D, dtype=dtype, scale=2.0)
                name = (f"activation={act!r}, bias={bias}, d_model={D}, d_ff={Fh}, x {(*shape, D)}"
                        + (", gradients" if grad else ""))
                _module_case(b, cases, dtype, dev, name, FeedForward(D, Fh, act, bias), init, x,
                             tags, public, grad)
    return cases


def swiglu_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            for D, Fh, shape, tags, public, grad in [
                (8, 16, (2, 5), (), True, False),
                (6, 24, (3,), (), True, False),
                (16, 12, (1, 4), ("d_ff < d_model",), False, False),
                (8, 20, (2, 3), (), False, True),
            ]:
                x = b.randn(*shape, D, dtype=dtype, scale=2.0)
                name = f"d_model={D}, d_ff={Fh}, x {(*shape, D)}" + (", gradients" if grad else "")
                _module_case(b, cases, dtype, dev, name, SwiGLU(D, Fh),
                             {"args": [D, Fh], "kwargs": {}}, x, tags, public, grad)
    return cases


# --------------------------------------------------------------------------- block and GPT
BLOCK_CONFIGS = [
    # name, (B, T, D, H, F), kwargs, tags, public, grad, edit position t
    ("default (rms, swiglu, rope)", (2, 6, 16, 4, 24), {}, ("rope",), True, False, 2),
    ("norm='layer', ffn='gelu'", (2, 5, 16, 2, 32), {"norm": "layer", "ffn": "gelu"},
     ("LayerNorm", "rope"), True, False, 0),
    ("rope=False, ffn='relu'", (1, 7, 12, 3, 16), {"rope": False, "ffn": "relu"}, ("no rope",),
     False, False, 3),
    ("rope_base=100, 8 positions", (2, 8, 16, 2, 24), {"rope_base": 100.0}, ("rope", "rope_base"),
     False, False, 5),
    ("ffn='gelu_tanh', one head", (2, 4, 8, 1, 16), {"ffn": "gelu_tanh", "norm": "layer"},
     ("LayerNorm", "rope", "1 head"), False, False, 1),
    ("ffn='silu', d_model=32", (1, 6, 32, 4, 32), {"ffn": "silu"}, ("rope",), False, False, 4),
    ("gradients (input and all weights)", (2, 5, 16, 4, 24), {}, ("rope",), False, True, 2),
]


def transformer_block_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            for name, (B, T, D, H, Fh), kw, tags, public, grad, t in BLOCK_CONFIGS:
                x = b.randn(B, T, D, dtype=dtype)
                edited = x.clone()
                edited[:, t + 1:] = b.randn(B, T - t - 1, D, dtype=dtype)
                state = b.module_state(TransformerBlock(D, H, Fh, **kw), dtype)
                g = grad and dtype != BF16
                cases.append(Case(
                    f"{_dt(dtype)}, {name}, x {(B, T, D)}, tail after {t} edited", [x, edited], {},
                    dtype, tags, _pub(public, dtype, dev), dev, init={"args": [D, H, Fh], "kwargs": kw},
                    state=state, grad=(0, 1) if g else (), grad_params=tuple(state) if g else (),
                    n_outputs=2, checks=(no_future_leak(t),)))
    return cases


GPT_CONFIGS = [
    # name, (V, ctx, D, L, H, F), tied, (B, T), tags, public, grad
    ("vocab 50, 2 layers, tied", (50, 8, 16, 2, 4, 24), True, (2, 6), ("tied",), True, False),
    ("vocab 23, 1 layer, untied", (23, 8, 8, 1, 2, 16), False, (2, 5), ("untied",), True, False),
    ("vocab 40, 2 layers, d_model 32, tied, full context", (40, 8, 32, 2, 4, 32), True, (1, 8),
     ("tied",), False, False),
    ("gradients, tied", (30, 8, 16, 2, 2, 16), True, (2, 4), ("tied",), False, True),
    ("gradients, untied", (30, 8, 16, 1, 2, 16), False, (1, 5), ("untied",), False, True),
]


def gpt_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            for name, cfg, tied, (B, T), tags, public, grad in GPT_CONFIGS:
                V = cfg[0]
                idx = b.randint(0, V, (B, T))
                edited = idx.clone()
                t = T // 2
                edited[:, t + 1:] = (idx[:, t + 1:] + 1 + b.randint(0, V - 1, (B, T - t - 1))) % V
                # Embedding rows of size ~1, as a trained model's; other weights ~1/sqrt(fan-in).
                state = b.module_state(GPT(*cfg, tie_embeddings=tied), dtype)
                state["tok_emb.weight"] = b.randn(V, cfg[2], dtype=dtype)
                g = grad and dtype != BF16
                cases.append(Case(
                    f"{_dt(dtype)}, {name}, idx {(B, T)}", [idx, edited], {"tied": tied}, dtype, tags,
                    _pub(public, dtype, dev), dev,
                    init={"args": list(cfg), "kwargs": {"tie_embeddings": tied}}, state=state,
                    grad_params=tuple(state) if g else (), n_outputs=3,
                    checks=(no_future_leak(t),)))
    return cases


# --------------------------------------------------------------------------- parameter count
COUNT_CONFIGS = [
    # (V, ctx, D, L, H, F), tied, tags, public
    ((50, 8, 16, 2, 4, 24), True, ("tied",), True),
    ((50, 8, 16, 2, 4, 24), False, ("untied",), True),
    ((50257, 1024, 768, 12, 12, 2048), True, ("tied", "GPT-2 small sizes"), True),
    ((32000, 4096, 4096, 32, 32, 11008), False, ("untied", "Llama-7B sizes"), False),
    ((7, 3, 6, 1, 3, 5), True, ("tied", "1 layer"), False),
    ((100, 2048, 64, 4, 8, 172), False, ("untied", "long context"), False),
    ((1000, 16, 128, 0, 4, 256), False, ("untied", "no blocks"), False),
    ((50, 8, 16, 3, 1, 24), True, ("tied", "1 head"), False),
    ((300, 512, 48, 6, 6, 128), True, ("tied", "long context"), False),
]


def count_parameters_cases(b: CaseBuilder) -> list[Case]:
    # Counts are integers compared exactly; the dtype only labels the case (all three appear), and
    # the first argument is a probe tensor that only tells the driver the case's device.
    cases = []
    for dev in b.devices:
        dtypes = b.dtypes(dev)
        for i, (cfg, tied, tags, public) in enumerate(COUNT_CONFIGS):
            V, ctx, D, L, H, Fh = cfg
            dtype = dtypes[i % len(dtypes)] if not public else F32
            cases.append(Case(
                f"V={V}, context={ctx}, d_model={D}, layers={L}, heads={H}, d_ff={Fh}, "
                f"tie_embeddings={tied}", [torch.zeros(1, dtype=dtype), *cfg],
                {"tie_embeddings": tied}, dtype, tags, _pub(public, dtype, dev), dev))
    return cases


# --------------------------------------------------------------------------- constructions
def relu_network_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, xs, ys, tags=(), public=False):
                lo, hi = float(xs[0]), float(xs[-1])
                grid = torch.linspace(lo, hi, 33, dtype=F64)
                x_eval = torch.cat([xs.to(F64), grid]).to(dtype)
                if dtype in LOW:  # evaluation points on a coarse dyadic grid (exact in 16 bits)
                    x_eval = torch.cat([xs.to(F64), torch.arange(lo, hi + 0.25, 0.5, dtype=F64)]).to(dtype)
                cases.append(Case(f"{_dt(dtype)}, {name}", [xs.to(dtype), ys.to(dtype), x_eval], {},
                                  dtype, tags, _pub(public, dtype, dev), dev))

            if dtype in LOW:
                # small integers on unit/double steps: slopes, jumps and values exact in 16-bit floats
                case("5 points on an integer grid", torch.tensor([0.0, 1, 2, 4, 5]),
                     torch.tensor([1.0, 3, 2, 2, -1]))
                case("2 points (one segment)", torch.tensor([-2.0, 2.0]), torch.tensor([1.0, 3.0]),
                     ("N = 2",))
                case("8 points, zig-zag", torch.arange(8, dtype=F64),
                     torch.tensor([0.0, 2, -1, 3, 0, 0, 1, -2]), ("zig-zag",))
                continue
            n = 6
            xs = torch.sort(b.rand(n, low=-3, high=3)).values
            case("6 random points", xs, b.randn(n), public=True)
            case("2 points (one segment)", torch.tensor([0.5, 2.0]), torch.tensor([1.0, -1.0]),
                 ("N = 2",), public=True)
            case("3 points, a tent", torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 1.0, 0.0]),
                 public=True)
            xs = torch.cumsum(b.rand(12, low=0.05, high=1.0), 0)
            case("12 uneven points", xs, b.randn(12, scale=2), ("uneven spacing",))
            case("collinear points (no kinks needed)", torch.tensor([0.0, 1, 3, 4]),
                 torch.tensor([1.0, 3, 7, 9]), ("collinear",))
            case("large offset (x around 100)", torch.tensor([100.0, 100.5, 101.0, 102.0]),
                 torch.tensor([1.0, -1.0, 2.0, 0.0]), ("large x",))
    return cases


def previous_token_head_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            for B, T, C, tags, public in [(1, 4, 3, (), True), (2, 6, 2, (), True),
                                          (2, 2, 1, ("T = 2",), False), (3, 8, 5, (), False)]:
                cases.append(Case(f"{_dt(dtype)}, seq_len={T}, d_model={T + C}, content {(B, T, C)}",
                                  [b.randn(B, T, C, dtype=dtype)], {}, dtype, tags,
                                  _pub(public, dtype, dev), dev))
    return cases


ACTIVATION_FUNCTIONS = ("torch.nn.functional.gelu", "torch._C._nn.gelu", "torch.nn.functional.silu",
                        "torch._C._nn.silu")
ACTIVATION_OPS = ("aten::gelu", "aten::silu")

CHAPTER = Chapter(
    id="ch06",
    title="Transformer blocks and representation power",
    notebook="ch06_blocks/ch06_blocks.py",
    exercises=[
        Exercise(
            "ch06.gelu", "gelu", 1.5, gelu, gelu_cases,
            forbidden_functions=ACTIVATION_FUNCTIONS, forbidden_ops=ACTIVATION_OPS,
            forbidden_hint="write x·Φ(x) with torch.erf, and the tanh form with torch.tanh",
            mistakes=catalog.GELU_MISTAKES, alternatives=catalog.GELU_ALTERNATIVES),
        Exercise(
            "ch06.silu", "silu", 0.5, silu, silu_cases,
            forbidden_functions=ACTIVATION_FUNCTIONS, forbidden_ops=ACTIVATION_OPS,
            forbidden_hint="multiply x by torch.sigmoid(x)",
            mistakes=catalog.SILU_MISTAKES, alternatives=catalog.SILU_ALTERNATIVES),
        Exercise(
            "ch06.feed_forward", "FeedForward", 1.5, FeedForward, feed_forward_cases, kind="class",
            forbidden_functions=ACTIVATION_FUNCTIONS, forbidden_ops=ACTIVATION_OPS,
            forbidden_hint="call your own gelu and silu (torch.relu is fine)",
            substitutes={"gelu": BUILTIN_GELU, "silu": BUILTIN_SILU},
            mistakes=catalog.FFN_MISTAKES, alternatives=catalog.FFN_ALTERNATIVES),
        Exercise(
            "ch06.swiglu", "SwiGLU", 1.5, SwiGLU, swiglu_cases, kind="class",
            forbidden_functions=ACTIVATION_FUNCTIONS, forbidden_ops=ACTIVATION_OPS,
            forbidden_hint="call your own silu",
            substitutes={"silu": BUILTIN_SILU},
            mistakes=catalog.SWIGLU_MISTAKES, alternatives=catalog.SWIGLU_ALTERNATIVES),
        Exercise(
            "ch06.transformer_block", "TransformerBlock", 3.5, TransformerBlock,
            transformer_block_cases, kind="class",
            forbidden_functions=ATTENTION_MODULE_FUNCTIONS,
            forbidden_hint="compose the given apply_rope and scaled_dot_product_attention, "
                           "not nn.MultiheadAttention or nn.TransformerEncoderLayer",
            substitutes={"gelu": BUILTIN_GELU, "silu": BUILTIN_SILU,
                         "FeedForward": BUILTIN_FEED_FORWARD, "SwiGLU": BUILTIN_SWIGLU},
            driver=drive_twice,
            mistakes=catalog.BLOCK_MISTAKES, alternatives=catalog.BLOCK_ALTERNATIVES),
        Exercise(
            "ch06.gpt", "GPT", 2.5, GPT, gpt_cases, kind="class",
            forbidden_functions=ATTENTION_MODULE_FUNCTIONS,
            forbidden_hint="use your TransformerBlock",
            substitutes={"gelu": BUILTIN_GELU, "silu": BUILTIN_SILU,
                         "FeedForward": BUILTIN_FEED_FORWARD, "SwiGLU": BUILTIN_SWIGLU,
                         "TransformerBlock": BUILTIN_TRANSFORMER_BLOCK},
            driver=drive_gpt,
            mistakes=catalog.GPT_MISTAKES, alternatives=catalog.GPT_ALTERNATIVES),
        Exercise(
            "ch06.count_parameters", "count_parameters", 1.0, count_parameters,
            count_parameters_cases, driver=drive_count,
            mistakes=catalog.COUNT_MISTAKES, alternatives=catalog.COUNT_ALTERNATIVES),
        Exercise(
            "ch06.relu_network", "relu_network_for_piecewise_linear", 1.5,
            relu_network_for_piecewise_linear, relu_network_cases,
            forbidden_functions=("torch.lstsq", "torch.linalg.lstsq", "torch.linalg.solve",
                                 "torch.linalg.pinv"),
            forbidden_hint="construct the weights from slopes and knots (no fitting)",
            driver=drive_relu_network,
            mistakes=catalog.RELU_NET_MISTAKES, alternatives=catalog.RELU_NET_ALTERNATIVES),
        Exercise(
            "ch06.previous_token_head", "previous_token_head", 1.5, previous_token_head,
            previous_token_head_cases, driver=drive_previous_token_head,
            mistakes=catalog.HEAD_MISTAKES, alternatives=catalog.HEAD_ALTERNATIVES),
    ],
)
