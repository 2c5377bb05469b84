"""Chapter 6 — Transformer blocks and representation power: the graded exercises and their cases.

Cases declare inputs only; expected outputs come from the live reference (``reference/blocks.py``).
Modules stay tiny (d_model <= 32, T <= 8, vocab <= 50) so that all hidden tests run in seconds on
two CPU cores. Where the answer is not unique (the weights of a construction, a module whose tie is
a property of its Parameters), a driver (``gradelib.blocks``, ``gradelib.constructions``) runs it
and returns what is: the network's values, the head's output, the logits together with the tie,
and whether the returned weights have the dtype and layout the statement asks for. What the
statement says must raise (an unknown GELU form, a sequence longer than the context) has a refusal
case in one cell (float32, CPU): the driver returns 1 if the call raised ValueError.

The exercises are declared in the notebook's order: Section 6.1's FeedForward (with PyTorch's
activations) comes before Section 6.2's gelu and silu.
"""

from __future__ import annotations

import torch

from autograder import forbidden
from autograder.chapters import ch06_catalog as catalog
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Kind
from autograder.symbolic import Derivation, Domain
from reference import formulas
from reference.blocks import (GPT, FeedForward, SwiGLU, TransformerBlock, count_parameters, gelu,
                              previous_token_head, relu_network_for_piecewise_linear, silu)

F32, F64 = torch.float32, torch.float64


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
def _activation_cases(b: CaseBuilder, modes):
    def rows(c: Cell):
        for mode in modes:
            kw = {} if mode is None else {"approximate": mode}
            label = "" if mode is None else f", approximate={mode!r}"
            mode_tags = () if mode is None else (f"approximate={mode}",)

            def case(name, x, tags=(), **extra):
                c(name + label, x, tags=mode_tags + tags, kwargs=kw, **extra)

            case("x (7,)", c.randn(7), public=True)
            case("x (3, 4, 5) around ±3", c.randn(3, 4, 5, scale=3), public=True)
            case("grid −6..6", torch.linspace(-6, 6, 49, dtype=F64).to(c.dtype), ("grid",),
                 public=True)
            case("large |x| (±30)", c.randn(4, 8, scale=30), ("large |x|",))
            case("tiny x (1e-4)", c.randn(16, scale=1e-4), ("tiny x",))
            case("non-contiguous x (5, 6)", c.randn(5, 6, scale=2), noncontig=(0,))
            case("gradient, x (4, 6)", c.randn(4, 6, scale=2), grad=(0,))
    return b.grid(rows)


def refused(what: str):
    """Property of a refusal case (``drive_or_refuse``, ``drive_gpt(refuse=True)``): the call
    raised ValueError (the driver's output is 1), as the statement says it must."""

    def check(outputs, case):
        if int(outputs[0]) != 1:
            return f"{what} must raise ValueError; your code returned a result instead"
        return None

    return check


def gelu_cases(b: CaseBuilder):
    def refusals(c: Cell):
        if c.dtype == F32 and c.device == "cpu":  # the refusal does not depend on the dtype
            c("approximate='tahn' (a typo)", c.randn(4), approximate="tahn", refuse="ValueError",
              compared=(), checks=(refused("gelu(x, approximate='tahn')"),),
              tags=("unknown approximate",))
    return _activation_cases(b, ("none", "tanh")) + b.grid(refusals)


def silu_cases(b: CaseBuilder):
    return _activation_cases(b, (None,))


# --------------------------------------------------------------------------- modules
def _module(c: Cell, name, cls, args, kwargs, *inputs, grad=False, **kw):
    """A case of a module exercise: the student's ``cls(*args, **kwargs)`` gets fresh weights for
    the reference's parameters; ``grad`` checks the gradients of the inputs and of every weight."""
    state = c.module_state(cls(*args, **kwargs))
    c(name, *inputs, init={"args": list(args), "kwargs": kwargs}, state=state,
      grad=tuple(range(len(inputs))) * grad, grad_params=tuple(state) if grad else (), **kw)


def feed_forward_cases(b: CaseBuilder):
    def rows(c: Cell):
        for act, bias, D, d_ff, shape, tags, public, grad in [
            ("gelu", True, 8, 32, (2, 5), (), True, False),
            ("relu", True, 6, 12, (3,), ("relu",), True, False),
            ("gelu_tanh", True, 8, 16, (2, 3), ("gelu_tanh",), True, False),
            ("silu", False, 12, 20, (4,), ("silu", "bias=False"), False, False),
            ("gelu", False, 16, 24, (1, 7), ("bias=False",), False, True),
            ("gelu_tanh", True, 8, 16, (2, 4), ("gelu_tanh",), False, True),
            ("silu", True, 8, 8, (3, 2), ("silu",), False, True),
        ]:
            _module(c, f"activation={act!r}, bias={bias}, d_model={D}, d_ff={d_ff}, "
                    f"x {(*shape, D)}" + ", gradients" * grad, FeedForward, [D, d_ff],
                    {"activation": act, "bias": bias}, c.randn(*shape, D, scale=2.0), grad=grad,
                    tags=tags, public=public)
    return b.grid(rows)


def swiglu_cases(b: CaseBuilder):
    def rows(c: Cell):
        for D, d_ff, shape, tags, public, grad in [
            (8, 16, (2, 5), (), True, False),
            (6, 24, (3,), (), True, False),
            (16, 12, (1, 4), ("d_ff < d_model",), False, False),
            (8, 20, (2, 3), (), False, True),
        ]:
            _module(c, f"d_model={D}, d_ff={d_ff}, x {(*shape, D)}" + ", gradients" * grad, SwiGLU,
                    [D, d_ff], {}, c.randn(*shape, D, scale=2.0), grad=grad, tags=tags,
                    public=public)
    return b.grid(rows)


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


def transformer_block_cases(b: CaseBuilder):
    def rows(c: Cell):
        for name, (B, T, D, H, d_ff), kw, tags, public, grad, t in BLOCK_CONFIGS:
            x = c.randn(B, T, D)
            edited = x.clone()
            edited[:, t + 1:] = c.randn(B, T - t - 1, D)
            _module(c, f"{name}, x {(B, T, D)}, tail after {t} edited", TransformerBlock,
                    [D, H, d_ff], kw, x, edited, grad=grad, tags=tags, public=public, n_outputs=2,
                    checks=(no_future_leak(t),))
    return b.grid(rows)


GPT_CONFIGS = [
    # name, (V, ctx, D, n_layer, H, F), tied, (B, T), tags, public, grad
    ("vocab 50, 2 layers, tied", (50, 8, 16, 2, 4, 24), True, (2, 6), ("tied",), True, False),
    ("vocab 23, 1 layer, untied", (23, 8, 8, 1, 2, 16), False, (2, 5), ("untied",), True, False),
    ("vocab 40, 2 layers, d_model 32, tied, full context", (40, 8, 32, 2, 4, 32), True, (1, 8),
     ("tied",), False, False),
    ("gradients, tied", (30, 8, 16, 2, 2, 16), True, (2, 4), ("tied",), False, True),
    ("gradients, untied", (30, 8, 16, 1, 2, 16), False, (1, 5), ("untied",), False, True),
]


def gpt_cases(b: CaseBuilder):
    def rows(c: Cell):
        for name, cfg, tied, (B, T), tags, public, grad in GPT_CONFIGS:
            V, t = cfg[0], T // 2
            idx = c.randint(0, V, (B, T))
            edited = idx.clone()
            edited[:, t + 1:] = (idx[:, t + 1:] + 1 + c.randint(0, V - 1, (B, T - t - 1))) % V
            # Embedding rows of size ~1, as a trained model's; other weights ~1/sqrt(fan-in).
            state = c.module_state(GPT(*cfg, tie_embeddings=tied))
            state["tok_emb.weight"] = c.randn(V, cfg[2])
            c(f"{name}, idx {(B, T)}", idx, edited, tags=tags, public=public, tied=tied,
              init={"args": list(cfg), "kwargs": {"tie_embeddings": tied}}, state=state,
              grad_params=tuple(state) if grad else (), n_outputs=3,
              checks=(no_future_leak(t),))
        if c.dtype == F32 and c.device == "cpu":  # the refusal does not depend on the dtype
            cfg = (23, 8, 8, 1, 2, 16)
            V, ctx = cfg[0], cfg[1]
            c(f"vocab 23, context_length {ctx}, idx (1, {ctx + 1}): one token too many",
              c.randint(0, V, (1, ctx + 1)), tied=False, refuse=True,
              init={"args": list(cfg), "kwargs": {"tie_embeddings": False}},
              state=c.module_state(GPT(*cfg, tie_embeddings=False)), compared=(),
              checks=(refused(f"a sequence of {ctx + 1} tokens with context_length={ctx}"),),
              tags=("T > context_length",))
    return b.grid(rows)


# --------------------------------------------------------------------------- parameter count
COUNT_CONFIGS = [
    # (V, ctx, D, n_layer, H, F), tied, tags, public
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


def count_parameters_cases(b: CaseBuilder):
    # Counts are integers compared exactly: each row once, in a dtype that only labels it (the
    # rows cycle through the dtypes, public ones in float32), with a probe tensor that tells the
    # driver the case's device.
    def rows(c: Cell):
        dtypes = b.dtypes(c.device)
        for i, (cfg, tied, tags, public) in enumerate(COUNT_CONFIGS):
            if c.dtype == (F32 if public else dtypes[i % len(dtypes)]):
                V, ctx, D, n_layer, H, d_ff = cfg
                c(f"V={V}, context={ctx}, d_model={D}, layers={n_layer}, heads={H}, d_ff={d_ff}, "
                  f"tie_embeddings={tied}", torch.zeros(1, dtype=c.dtype), *cfg, tags=tags,
                  public=public, tie_embeddings=tied)
    return b.grid(rows)


# --------------------------------------------------------------------------- constructions
def _weights_follow_xs(outputs, case):
    """``drive_relu_network``'s output 1, entry 0: the weights have xs's dtype and device."""
    if int(outputs[1][0]) != 1:
        return (f"W1, b1, W2 and b2 must have the dtype and device of xs "
                f"({str(case.args[0].dtype).removeprefix('torch.')}, {case.device}): create them "
                "with dtype=xs.dtype, device=xs.device (or compute them from xs and ys)")
    return None


def _linear_layouts(outputs, case):
    """``drive_relu_network``'s output 1, entry 1: the weights have nn.Linear's layouts."""
    if int(outputs[1][1]) != 1:
        return ("the weights must have the layouts of nn.Linear(1, u) and nn.Linear(u, 1): "
                "W1 (u, 1), b1 (u,), W2 (1, u), b2 (1,)")
    return None


def relu_network_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, xs, ys, tags=(), public=False):
            lo, hi = float(xs[0]), float(xs[-1])
            # 16-bit floats: evaluation points on a coarse dyadic grid (exact in 16 bits)
            grid = (torch.arange(lo, hi + 0.25, 0.5, dtype=F64) if c.low
                    else torch.linspace(lo, hi, 33, dtype=F64))
            c(name, xs.to(c.dtype), ys.to(c.dtype), torch.cat([xs.to(F64), grid]).to(c.dtype),
              tags=tags, public=public, n_outputs=2, compared=(0,),
              checks=(_weights_follow_xs, _linear_layouts),
              output_names=("f at the knots and on a grid",
                            "dtype/device of xs, nn.Linear layouts"))

        if c.low:
            # small integers on unit/double steps: slopes, jumps and values exact in 16-bit floats
            case("5 points on an integer grid", torch.tensor([0.0, 1, 2, 4, 5]),
                 torch.tensor([1.0, 3, 2, 2, -1]))
            case("2 points (one segment)", torch.tensor([-2.0, 2.0]), torch.tensor([1.0, 3.0]),
                 ("N = 2",))
            case("8 points, zig-zag", torch.arange(8, dtype=F64),
                 torch.tensor([0.0, 2, -1, 3, 0, 0, 1, -2]), ("zig-zag",))
            return
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
    return b.grid(rows)


def _float32_weights(outputs, case):
    """``drive_previous_token_head``'s output 1: the weights were returned as float32."""
    if int(outputs[1]) != 1:
        return "W_q, W_k and W_v must be returned as float32 tensors (the statement's dtype)"
    return None


def previous_token_head_cases(b: CaseBuilder):
    def rows(c: Cell):
        for B, T, d_c, tags, public in [(1, 4, 3, (), True), (2, 6, 2, (), True),
                                        (2, 2, 1, ("T = 2",), False), (3, 8, 5, (), False)]:
            c(f"seq_len={T}, d_model={T + d_c}, content {(B, T, d_c)}", c.randn(B, T, d_c),
              tags=tags, public=public, n_outputs=2, compared=(0,), checks=(_float32_weights,),
              output_names=("the head's output", "weights are float32"))
    return b.grid(rows)


# The block's FFN is FeedForward (which calls PyTorch's activations) or SwiGLU (which calls silu).
BLOCK_STANDINS = ("ch06.gelu", "ch06.silu", "ch06.feed_forward", "ch06.swiglu")

CHAPTER = Chapter(
    id="ch06",
    title="Transformer blocks and representation power",
    notebook="ch06_blocks/ch06_blocks.py",
    book_sections=("6.1 Feed-forward", "6.2 Activation", "6.3", "6.4", "6.5"),
    exercises=[
        # Section 6.1, before the student writes the activations (6.2): PyTorch's are allowed
        Exercise(
            id="ch06.feed_forward", name="FeedForward", points=1.5, reference=FeedForward,
            cases=feed_forward_cases, kind=Kind.CLASS,
            mistakes=catalog.FFN_MISTAKES),
        Exercise(
            id="ch06.gelu", name="gelu", points=1.5, reference=gelu, cases=gelu_cases,
            driver="drive_or_refuse", forbidden=forbidden.ACTIVATIONS,
            forbidden_hint="write x·Φ(x) with torch.erf, and the tanh form with torch.tanh",
            mistakes=catalog.GELU_MISTAKES),
        Exercise(
            id="ch06.silu", name="silu", points=0.5, reference=silu, cases=silu_cases,
            forbidden=forbidden.ACTIVATIONS, forbidden_hint="multiply x by torch.sigmoid(x)",
            mistakes=catalog.SILU_MISTAKES),
        Exercise(
            id="ch06.silu_derivative", name="silu_derivative", points=0.5,
            reference=formulas.silu_derivative, kind=Kind.SYMBOLIC,
            derivation=Derivation(symbols=("x",), domains={"x": Domain(-8.0, 8.0)}),
            mistakes=catalog.SILU_DERIVATIVE_MISTAKES),
        Exercise(
            id="ch06.swiglu", name="SwiGLU", points=1.5, reference=SwiGLU, cases=swiglu_cases,
            kind=Kind.CLASS, forbidden=forbidden.ACTIVATIONS,
            forbidden_hint="call your own silu", standins=("ch06.silu",),
            mistakes=catalog.SWIGLU_MISTAKES),
        Exercise(
            id="ch06.transformer_block", name="TransformerBlock", points=3.5,
            reference=TransformerBlock, cases=transformer_block_cases, kind=Kind.CLASS,
            forbidden=forbidden.ATTENTION_MODULES,
            forbidden_hint="compose the given apply_rope and scaled_dot_product_attention, "
                           "not nn.MultiheadAttention or nn.TransformerEncoderLayer",
            standins=BLOCK_STANDINS, driver="drive_twice",
            mistakes=catalog.BLOCK_MISTAKES),
        Exercise(
            id="ch06.gpt", name="GPT", points=2.5, reference=GPT, cases=gpt_cases,
            kind=Kind.CLASS, forbidden=forbidden.ATTENTION_MODULES,
            forbidden_hint="use your TransformerBlock",
            standins=BLOCK_STANDINS + ("ch06.transformer_block",), driver="drive_gpt",
            mistakes=catalog.GPT_MISTAKES),
        Exercise(
            id="ch06.count_parameters", name="count_parameters", points=1.0,
            reference=count_parameters, cases=count_parameters_cases, driver="drive_count",
            mistakes=catalog.COUNT_MISTAKES),
        Exercise(
            id="ch06.relu_network", name="relu_network_for_piecewise_linear", points=1.5,
            reference=relu_network_for_piecewise_linear, cases=relu_network_cases,
            forbidden=forbidden.LEAST_SQUARES,
            forbidden_hint="construct the weights from slopes and knots (no fitting)",
            driver="drive_relu_network",
            mistakes=catalog.RELU_NET_MISTAKES),
        Exercise(
            id="ch06.previous_token_head", name="previous_token_head", points=1.5,
            reference=previous_token_head, cases=previous_token_head_cases,
            driver="drive_previous_token_head",
            mistakes=catalog.HEAD_MISTAKES),
    ],
)
