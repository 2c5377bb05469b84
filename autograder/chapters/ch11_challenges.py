"""Chapter 11 — Challenges: cost, quantization, bias. The graded exercises and their cases.

Cost estimates take Python numbers and are compared in float64. Quantization codes are integers
obtained by rounding: they are compared exactly, in float64 and float32 only, on inputs drawn so
that every quotient that is rounded (x / scale, −lo / scale) lies at least 1e-3 from a
half-integer, where no correct order of operations can round differently. (In bfloat16 the
quotient itself has a resolution of 0.5 near 127, so the code is not determined by the rule.)
Two cases put quotients exactly on half-integers instead, with power-of-two scales that make
every quotient exact in any order of operations: they grade the stated rounding rule (half to
even) and, for the zero point, adding it after rounding. Scales, dequantized values and matrix
products follow the dtype rule. The int8 product has a
case whose sums exceed 2^24, which a float32 accumulator cannot hold exactly. The WEAT p-value
is compared exactly against the stated recipe with a seeded generator, on sets of 12 + 12 words,
where a draw that reproduces the observed split (whose statistic would tie the observed one up
to the order of summation) has probability 1 / C(24, 12) ≈ 3.7e-7. Fairness gaps take integer
labels and are compared in the default dtype's cell, float32: computing the rates in float32 is
as right as in float64.
"""

from __future__ import annotations

import torch

from autograder.chapters import ch11_catalog as catalog
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Precision
from reference.cost import decode_arithmetic_intensity, inference_cost
from reference.fairness import (
    demographic_parity_difference,
    equalized_odds_difference,
    planted_bias_embeddings,
    weat_effect_size,
    weat_p_value,
)
from reference.quantization import (
    MAX_INNER_DIM,
    decomposed_matmul_error_bound,
    dequantize,
    int8_matmul,
    outlier_decomposed_matmul,
    quantize_absmax,
    quantize_groupwise,
    quantize_zero_point,
)

F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16
TIE_MARGIN = 1e-3  # rounded quotients stay this far from a half-integer
CODES_EXCLUDE = (BF16, F16)  # codes are graded where the rule determines them


# =========================================================================== cost
COST_KEYS = ("flops", "seconds", "cost")


def cost_cases(b: CaseBuilder):
    def rows(c: Cell):
        def cost(name, *args, public=False, tags=()):
            c(name, *args, keys=COST_KEYS, public=public, tags=tags)

        cost("124M model, 12 layers, d=768, context 1024, 1000 tokens, 312 TFLOP/s at 40%, $2/h",
             124e6, 12, 768, 1024, 1000, 312e12, 0.4, 2.0, public=True)
        cost("7B model, 32 layers, d=4096, context 4096, 1M tokens, 989 TFLOP/s at 35%, $4/h",
             7e9, 32, 4096, 4096, 1_000_000, 989e12, 0.35, 4.0, public=True)
        cost("70B model, 80 layers, d=8192, context 8192, 1B tokens, 989 TFLOP/s at 50%, $3/h",
             70e9, 80, 8192, 8192, 1_000_000_000, 989e12, 0.5, 3.0, tags=("long context",))
        cost("a CPU: 2M model, 4 layers, d=128, context 64, 10 000 tokens, 100 GFLOP/s at 100%, "
             "$0.05/h", 2e6, 4, 128, 64, 10_000, 1e11, 1.0, 0.05, tags=("MFU = 1",))
        cost("integers in: 1000 params, 1 layer, d=10, context 0, 5 tokens", 1000, 1, 10, 0, 5,
             1000, 0.5, 3600, tags=("no attention",))
    return b.float64_grid(rows)


def intensity_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("7B in bfloat16, batch 1", 7e9, 1, 2, public=True)
        c("7B in int8, batch 1", 7e9, 1, 1, tags=("int8",), public=True)
        c("70B in bfloat16, batch 64", 70e9, 64, 2, tags=("batch",))
        c("1B in float32, batch 8", 1e9, 8, 4, tags=("float32",))
        c("4-bit weights, batch 16", 8e9, 16, 0.5, tags=("4-bit",))
    return b.float64_grid(rows)


# =========================================================================== quantization
def _quotients_absmax(x, bits, dim):
    """The quotient x / scale that absmax quantization rounds (the reference's scale)."""
    return [x / quantize_absmax(x, bits, dim)[1]]


def _quotients_zero_point(x, bits, dim):
    """The two quotients zero-point quantization rounds: x / scale and −lo / scale, with
    lo = min(min x, 0) (the reference's scale)."""
    scale = quantize_zero_point(x, bits, dim)[1]
    lo = (x.amin() if dim is None else x.amin(dim=dim, keepdim=True)).clamp(max=0)
    return [x / scale, -lo / scale]


def _quotients_groups(x, bits, group_size):
    return _quotients_absmax(x.unflatten(-1, (x.shape[-1] // group_size, group_size)), bits, -1)


def _untied(c: Cell, draw, quotients):
    """``draw()`` (float64, then rounded to the cell's dtype) until every quotient the rule
    rounds, computed in float64 on the rounded values, is TIE_MARGIN from a half-integer."""
    for _ in range(2000):
        x = draw().to(c.dtype)
        qs = quotients(x.double())
        if all(((q - q.floor() - 0.5).abs() >= TIE_MARGIN).all() for q in qs):
            return x
    raise RuntimeError("no input without a near-tie in 2000 draws")


def _outlier(x, factor=40.0):
    x = x.clone()
    x.view(-1)[3] = x.abs().max() * factor
    return x


def _absmax_ties():
    """Two rows whose scales are powers of two (max|x| = 127/64 and 127/32, so scale = 1/64 and
    1/32 exactly) with half-integer quotients x / scale, exact in float32 and float64 whatever
    the order of operations: half to even gives 2.5 → 2, 3.5 → 4, −2.5 → −2, 0.5 → 0."""
    quotients = torch.tensor([[2.5, 3.5, -2.5, 0.5, -1.5, 126.5, 127.0, 10.0],
                              [-127.0, 0.5, 1.5, -0.5, 4.5, 5.5, -6.5, 2.0]], dtype=F64)
    return quotients / torch.tensor([[64.0], [32.0]], dtype=F64)


def _zero_point_ties():
    """The range [−127/64, 2] (scale (2 + 127/64) / 255 = 1/64 and zero point 127, odd, both
    exact) with half-integer quotients x / scale: round(x / s) + z and round(x / s + z) differ
    on every one of them (2.5: 2 + 127 = 129, but round(129.5) = 130)."""
    return torch.tensor([-127.0, 128.0, 2.5, 3.5, -2.5, 0.5, -0.5, 100.5], dtype=F64) / 64


def absmax_cases(b: CaseBuilder):
    def rows(c: Cell):
        def q(name, shape, bits=8, dim=None, public=False, tags=(), scale=1.0, post=None):
            def draw():
                x = b.randn(*shape) * scale
                return post(x) if post else x
            x = _untied(c, draw, lambda x64: _quotients_absmax(x64, bits, dim))
            c(name, x, bits=bits, dim=dim, n_outputs=2, public=public, tags=tags)

        q("per-tensor, (4, 8), 8 bits", (4, 8), public=True)
        q("per-row (dim=-1), (5, 16), 8 bits", (5, 16), dim=-1, tags=("per-channel",),
          public=True)
        q("per-column (dim=0), (6, 5), 8 bits", (6, 5), dim=0, tags=("per-channel",))
        q("4 bits, per-row", (3, 12), bits=4, dim=-1, tags=("4 bits",), public=True)
        q("2 bits, per-tensor", (20,), bits=2, tags=("2 bits",))
        q("3-D, dim=1", (2, 4, 6), dim=1, tags=("3-D",))
        q("an outlier (40× the rest), per-tensor", (4, 8), post=_outlier, tags=("outlier",))

        def zero_row():
            x = b.randn(3, 7)
            x[1] = 0.0
            return x
        c("a row of zeros gets scale 1, per-row",
          _untied(c, zero_row, lambda x64: _quotients_absmax(x64, 8, -1)), dim=-1, n_outputs=2,
          tags=("all-zero slice",))
        c("exact ties round half to even (2.5 → 2, 3.5 → 4, −2.5 → −2), per-row",
          _absmax_ties().to(c.dtype), dim=-1, n_outputs=2, tags=("exact ties",))
    return b.grid(rows, exclude=CODES_EXCLUDE)


def zero_point_cases(b: CaseBuilder):
    def rows(c: Cell):
        def q(name, shape, bits=8, dim=None, shift=0.0, public=False, tags=()):
            x = _untied(c, lambda: b.randn(*shape) + shift,
                        lambda x64: _quotients_zero_point(x64, bits, dim))
            c(name, x, bits=bits, dim=dim, n_outputs=3, public=public, tags=tags)

        q("per-tensor, (4, 8), mixed signs", (4, 8), public=True)
        q("all positive (ReLU outputs)", (3, 10), shift=4.0, tags=("all positive",),
          public=True)
        q("all negative", (2, 9), shift=-5.0, tags=("all negative",))
        q("per-row, 4 bits", (4, 12), bits=4, dim=-1, tags=("per-channel", "4 bits"),
          public=True)
        q("per-column, 8 bits, shifted", (6, 5), dim=0, shift=1.0, tags=("per-channel",))

        def zero_row():
            x = b.randn(3, 8) + 0.5
            x[1] = 0.0
            return x
        c("a row of zeros gets scale 1 and zero point 0, per-row",
          _untied(c, zero_row, lambda x64: _quotients_zero_point(x64, 8, -1)), dim=-1,
          n_outputs=3, tags=("all-zero slice",))
        c("exact ties, odd zero point 127: round(x / s), then add z",
          _zero_point_ties().to(c.dtype), n_outputs=3, tags=("exact ties",))
    return b.grid(rows, exclude=CODES_EXCLUDE)


def dequantize_cases(b: CaseBuilder):
    def rows(c: Cell):
        def codes(*shape, low=-127, high=128, dtype=torch.int8):
            return b.randint(low, high, shape).to(dtype)

        c("absmax codes, per-tensor scale", codes(4, 6), (b.rand(()) * 0.1 + 0.01).to(c.dtype),
          public=True)
        c("absmax codes, per-row scales", codes(3, 5), (b.rand(3, 1) * 0.1 + 0.01).to(c.dtype),
          tags=("per-channel",), public=True)
        c("zero-point codes (uint8)", codes(4, 7, low=0, high=256, dtype=torch.uint8),
          (b.rand(()) * 0.05 + 0.01).to(c.dtype), torch.tensor(131), tags=("zero point",),
          public=True)
        c("zero-point codes, per-column scales and zero points",
          codes(5, 3, low=0, high=256, dtype=torch.uint8), (b.rand(1, 3) * 0.05 + 0.01).to(c.dtype),
          b.randint(0, 256, (1, 3)), tags=("zero point", "per-channel"))
    return b.grid(rows)


def groupwise_cases(b: CaseBuilder):
    def rows(c: Cell):
        def q(name, shape, bits=4, group_size=64, public=False, tags=(), post=None):
            def draw():
                x = b.randn(*shape)
                return post(x) if post else x
            x = _untied(c, draw, lambda x64: _quotients_groups(x64, bits, group_size))
            c(name, x, bits=bits, group_size=group_size, n_outputs=2, public=public, tags=tags)

        q("(2, 128), 4 bits, groups of 64", (2, 128), public=True)
        q("(3, 32), 4 bits, groups of 8", (3, 32), group_size=8, tags=("small groups",),
          public=True)
        q("(4, 64), 8 bits, groups of 16", (4, 64), bits=8, group_size=16, tags=("8 bits",))
        q("(2, 3, 24), 3 bits, groups of 6", (2, 3, 24), bits=3, group_size=6, tags=("3-D",))
        q("an outlier stays in its group", (2, 64), group_size=16, post=_outlier,
          tags=("outlier",))
    return b.grid(rows, exclude=CODES_EXCLUDE)


def int8_matmul_cases(b: CaseBuilder):
    def rows(c: Cell):
        def mm(name, n, D, F, public=False, tags=(), full=False):
            if full:  # large positive codes: the sums pass 2^24 with odd and even terms
                a_q = b.randint(100, 128, (n, D)).to(torch.int8)
                b_q = b.randint(100, 128, (D, F)).to(torch.int8)
                b_q[:, 0] = -b_q[:, 0]
            else:
                a_q = b.randint(-127, 128, (n, D)).to(torch.int8)
                b_q = b.randint(-127, 128, (D, F)).to(torch.int8)
            a_s = (b.rand(n, 1) * 0.02 + 0.001).to(c.dtype)
            b_s = (b.rand(1, F) * 0.02 + 0.001).to(c.dtype)
            c(name, a_q, a_s, b_q, b_s, public=public, tags=tags)

        mm("(4, 16) @ (16, 5)", 4, 16, 5, public=True)
        mm("(1, 64) @ (64, 8): one token", 1, 64, 8, tags=("one row",), public=True)
        mm("(8, 256) @ (256, 12)", 8, 256, 12)
        mm("codes 100 to 127, D = 4096: sums near 55 million, beyond float32's exact 2^24", 3,
           4096, 4, tags=("large sums",), full=True)
        if c.dtype == F32:  # the refusal does not depend on the dtype: one cell
            D = MAX_INNER_DIM + 1
            c(f"D = {D:,}: an int32 accumulator could overflow", torch.ones(1, D, dtype=torch.int8),
              torch.full((1, 1), 0.01, dtype=c.dtype), torch.ones(D, 1, dtype=torch.int8),
              torch.full((1, 1), 0.01, dtype=c.dtype), refuse="ValueError", compared=(),
              checks=(_refused,), tags=("D > 133 144",))
    return b.grid(rows, exclude=(F16,))


def _refused(outputs, case):
    if int(outputs[0]) != 1:
        return (f"an inner dimension of {case.args[0].shape[-1]:,} must raise ValueError: "
                f"D · 127² would pass 2^31 − 1, the largest int32 (your function returned a "
                "result)")
    return None


def _within_the_bound(outputs, case):
    x, w = case.args[0], case.args[1]
    threshold = case.kwargs.get("threshold", 6.0)
    if x.dtype != F64:
        return None  # the bound is exact arithmetic's; float64 is the case that shows it
    err = (outputs[0].double() - x.double() @ w.double()).abs()
    bound = decomposed_matmul_error_bound(x.double(), w.double(), threshold)
    excess = err - bound
    if (excess > 1e-9 * (1 + bound)).any():
        i = tuple(int(k) for k in (excess == excess.max()).nonzero()[0])
        return (f"the error against x @ w at {i} is {float(err[i]):.3g}, above the bound "
                f"{float(bound[i]):.3g} of the decomposition: are the outlier features left in "
                "the float product and the rest quantized per row of x and per column of w?")
    return None


def outlier_cases(b: CaseBuilder):
    def rows(c: Cell):
        def mm(name, n, D, F, outliers=(), public=False, tags=(), **kw):
            x = b.randn(n, D)
            for j, size in outliers:
                x[:, j] = b.randn(n) * size / 2
                x[0, j] = size  # this feature reaches the threshold on row 0 at least
            w = b.randn(D, F) * 0.1
            c(name, x.to(c.dtype), w.to(c.dtype), public=public, tags=tags,
              checks=(_within_the_bound,), **kw)

        mm("(4, 32) @ (32, 6), features 3 and 17 are outliers (20, 45)", 4, 32, 6,
           ((3, 20.0), (17, 45.0)), public=True)
        mm("no outliers: the int8 product alone", 5, 16, 4, tags=("no outliers",), public=True)
        mm("threshold 0: every feature in the float product", 3, 12, 5, ((2, 30.0),),
           threshold=0.0, tags=("threshold",))
        mm("threshold 2.5, (6, 48) @ (48, 8)", 6, 48, 8, ((5, 10.0), (30, 8.0)), threshold=2.5,
           tags=("threshold",))
        x = b.randn(4, 16) * 0.5
        x[2, 7] = 6.0  # exactly the threshold: feature 7 is an outlier (≥)
        x[:, 11] = b.randn(4) * 10 + 20  # and feature 11, far beyond it
        c("a feature that reaches the threshold exactly (6.0), another far beyond", x.to(c.dtype),
          (b.randn(16, 5) * 0.1).to(c.dtype), tags=("threshold",), checks=(_within_the_bound,))
    return b.grid(rows, exclude=CODES_EXCLUDE)


# =========================================================================== bias
def _weat_sets(c: Cell, n, dim, bias):
    X, Y, A, B = planted_bias_embeddings(n, dim, bias, c.b.gen)
    return X.to(c.dtype), Y.to(c.dtype), A.to(c.dtype), B.to(c.dtype)


def weat_effect_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("8 words per set, dim 16, planted bias 0.5", *_weat_sets(c, 8, 16, 0.5), public=True)
        c("no bias, dim 32", *_weat_sets(c, 10, 32, 0.0), tags=("no bias",), public=True)
        c("strong bias 2.0, dim 8", *_weat_sets(c, 6, 8, 2.0), tags=("strong bias",))
        X, Y, A, B = _weat_sets(c, 6, 12, 0.8)
        c("sets of different sizes (6, 4 targets; 5, 7 attributes)", X, Y[:4], A[:5],
          torch.cat([B, A[5:6] * -1.0]), tags=("unequal sets",))
        X, Y, A, B = _weat_sets(c, 7, 10, 0.5)
        c("embeddings of different lengths (cosines ignore them)", X * 3.0, Y * 0.5, A, B * 2.0,
          tags=("scaled",))
        X, Y, A, B = _weat_sets(c, 6, 10, 0.5)
        X[2] = 0.0
        c("a zero vector among the targets: its cosines are 0, not NaN", X, Y, A, B,
          tags=("zero vector",))
    return b.grid(rows)


def weat_p_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("12 + 12 words, bias 0.3, 400 permutations", *_weat_sets(c, 12, 16, 0.3), 400,
          seed=1, public=True)
        c("no bias, 300 permutations", *_weat_sets(c, 12, 16, 0.0), 300, seed=2,
          tags=("no bias",), public=True)
        c("strong bias: p = 1 / (1 + n)", *_weat_sets(c, 12, 8, 3.0), 200, seed=3,
          tags=("strong bias",))
        c("bias towards B (S < 0): p near 1", *_weat_sets(c, 12, 16, 0.0)[:2],
          *reversed(_weat_sets(c, 12, 16, 0.5)[2:]), 250, seed=4, tags=("negative",))
        X, Y, A, B = _weat_sets(c, 13, 12, 0.2)
        c("13 + 11 words, 500 permutations", X, Y[:11], A, B, 500, seed=5,
          tags=("unequal sets",))
    return b.float64_grid(rows)


def _binary_case(b, n, groups, p_by_group, labels=False):
    g = b.randint(0, groups, (n,))
    p = torch.tensor(p_by_group, dtype=F64)[g]
    pred = (b.rand(n) < p).long()
    if not labels:
        return pred, g
    y = (b.rand(n) < 0.5).long()
    for k in range(groups):  # every group has both labels
        members = (g == k).nonzero().flatten()
        y[members[0]], y[members[1]] = 1, 0
    return pred, y, g


def parity_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("two groups, rates 0.3 and 0.6", *_binary_case(b, 200, 2, [0.3, 0.6]), public=True)
        c("three groups", *_binary_case(b, 300, 3, [0.2, 0.5, 0.4]), tags=("3 groups",),
          public=True)
        c("equal rates", *_binary_case(b, 100, 2, [0.5, 0.5]), tags=("no gap",))
        pred, g = _binary_case(b, 60, 2, [0.3, 0.7])
        c("bool predictions, group ids 5 and 9", pred.bool(), g * 4 + 5, tags=("bool", "ids"))
        pred, _ = _binary_case(b, 40, 1, [0.4])
        c("a single group (id 3): gap 0.0", pred, torch.full((40,), 3), tags=("one group",))
    return b.default_grid(rows)


def odds_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("two groups", *_binary_case(b, 200, 2, [0.3, 0.6], labels=True), public=True)
        c("three groups", *_binary_case(b, 300, 3, [0.2, 0.5, 0.45], labels=True),
          tags=("3 groups",), public=True)
        pred, y, g = _binary_case(b, 150, 2, [0.5, 0.5], labels=True)
        c("a perfect classifier: no gap", y.clone(), y, g, tags=("perfect",))
        pred, y, g = _binary_case(b, 120, 2, [0.5, 0.5], labels=True)
        c("the false-positive gap is the larger one", torch.where(g == 1, torch.ones_like(y), y),
          y, g, tags=("FPR gap",))
    return b.default_grid(rows)


CHAPTER = Chapter(
    id="ch11",
    title="Challenges: cost, quantization, bias",
    notebook="ch11_challenges/ch11_challenges.py",
    exercises=[
        Exercise(id="ch11.inference_cost", name="inference_cost", points=1.0,
                 reference=inference_cost, cases=cost_cases, driver="drive_record",
                 mistakes=catalog.COST_MISTAKES, precision=Precision.FLOAT64),
        Exercise(id="ch11.decode_arithmetic_intensity", name="decode_arithmetic_intensity",
                 points=0.5, reference=decode_arithmetic_intensity, cases=intensity_cases,
                 mistakes=catalog.INTENSITY_MISTAKES, precision=Precision.FLOAT64),
        Exercise(id="ch11.quantize_absmax", name="quantize_absmax", points=1.5,
                 reference=quantize_absmax, cases=absmax_cases,
                 mistakes=catalog.ABSMAX_MISTAKES,
                 precision=Precision.NO_16_BIT),
        Exercise(id="ch11.quantize_zero_point", name="quantize_zero_point", points=1.5,
                 reference=quantize_zero_point, cases=zero_point_cases,
                 mistakes=catalog.ZERO_POINT_MISTAKES,
                 precision=Precision.NO_16_BIT),
        Exercise(id="ch11.dequantize", name="dequantize", points=0.5, reference=dequantize,
                 cases=dequantize_cases, mistakes=catalog.DEQUANTIZE_MISTAKES),
        Exercise(id="ch11.quantize_groupwise", name="quantize_groupwise", points=1.5,
                 reference=quantize_groupwise, cases=groupwise_cases,
                 standins=("ch11.quantize_absmax",),
                 mistakes=catalog.GROUPWISE_MISTAKES,
                 precision=Precision.NO_16_BIT),
        Exercise(id="ch11.int8_matmul", name="int8_matmul", points=1.5, reference=int8_matmul,
                 cases=int8_matmul_cases, driver="drive_or_refuse",
                 mistakes=catalog.INT8_MATMUL_MISTAKES),
        Exercise(id="ch11.outlier_decomposed_matmul", name="outlier_decomposed_matmul",
                 points=2.0, reference=outlier_decomposed_matmul, cases=outlier_cases,
                 standins=("ch11.quantize_absmax", "ch11.int8_matmul"),
                 mistakes=catalog.OUTLIER_MISTAKES,
                 precision=Precision.NO_16_BIT),
        Exercise(id="ch11.weat_effect_size", name="weat_effect_size", points=1.5,
                 reference=weat_effect_size, cases=weat_effect_cases,
                 mistakes=catalog.WEAT_EFFECT_MISTAKES),
        Exercise(id="ch11.weat_p_value", name="weat_p_value", points=2.0,
                 reference=weat_p_value, cases=weat_p_cases, driver="drive_with_generator",
                 mistakes=catalog.WEAT_P_MISTAKES, precision=Precision.FLOAT64),
        Exercise(id="ch11.demographic_parity_difference", name="demographic_parity_difference",
                 points=0.5, reference=demographic_parity_difference, cases=parity_cases,
                 mistakes=catalog.PARITY_MISTAKES, precision=Precision.DEFAULT_FLOAT32),
        Exercise(id="ch11.equalized_odds_difference", name="equalized_odds_difference",
                 points=1.5, reference=equalized_odds_difference, cases=odds_cases,
                 mistakes=catalog.ODDS_MISTAKES, precision=Precision.DEFAULT_FLOAT32),
    ],
)
