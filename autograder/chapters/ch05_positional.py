"""Chapter 5 — Positional encodings: the graded exercises and the cases they are graded on.

Each ``*_cases`` function declares inputs only; the expected outputs always come from the live
reference (``reference/positional.py``). Tags name what is special about a case so that feedback
can say "fails only with: interleaved layout". Cases marked ``public`` are the in-notebook
self-check.

Three devices beyond plain calls:

* Exercises that take no tensor (the tables: ``sinusoidal_positional_encoding``, ``rope_cache``,
  ``alibi_slopes``...) are called through :func:`drive_table`, which passes ``dtype=`` and
  ``device=`` from a 0-dim tensor argument. The grader casts that tensor to float64 for the truth, so
  a float32 table is judged against a float64 one, with the tolerance measured on the reference's own
  float32 rounding, exactly like every tensor exercise.
* Properties that need several calls (R_m R_n = R_{m+n}, scores that depend only on m - n, the two
  RoPE layouts agreeing after a permutation) are cases of :func:`drive_rope`, which returns the two
  sides of the identity; both are compared with the reference and a ``check`` verifies that they
  agree with each other.
* ``checks`` state closed-form properties on the student's outputs (orthogonality of M_k, unit
  sin/cos pairs, norms kept, Parseval, dominant frequency within one FFT bin of w_i / 2 pi),
  independently of the reference.
"""

from __future__ import annotations

import math

import torch

from autograder.chapters import ch05_catalog as catalog
from autograder.spec import Case, CaseBuilder, Chapter, Exercise
from reference.positional import (
    alibi_bias,
    alibi_slopes,
    apply_rope,
    dominant_frequencies,
    encoding_spectrum,
    rope_cache,
    rope_complex,
    sinusoidal_positional_encoding,
    sinusoidal_shift_matrix,
    t5_relative_position_bucket,
)

F32, F64, BF16 = torch.float32, torch.float64, torch.bfloat16

# Stand-ins for earlier exercises while a later one is graded (see Exercise.substitutes).
BUILTIN_ALIBI_SLOPES = (
    "lambda n_heads, *, dtype=torch.float32, device=None: (lambda p: torch.cat(["
    "2.0 ** (-8.0 * torch.arange(1, p + 1, dtype=dtype, device=device) / p), "
    "2.0 ** (-4.0 * (2 * torch.arange(n_heads - p, dtype=dtype, device=device) + 1) / p)]))"
    "(1 << (n_heads.bit_length() - 1))")
BUILTIN_ROPE_CACHE = (
    "lambda seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None: "
    "(lambda a: (a.cos(), a.sin()))(torch.arange(seq_len, dtype=dtype, device=device)[:, None] "
    "* base ** (-torch.arange(0, head_dim, 2, dtype=dtype, device=device) / head_dim))")
# (torch.fft has no bfloat16 on CPU: the stand-in works in float32 there and casts back.)
BUILTIN_SPECTRUM = ("lambda pe: torch.fft.rfft((pe - pe.mean(dim=0, keepdim=True)).to("
                    "torch.promote_types(pe.dtype, torch.float32)), dim=0).abs().to(pe.dtype)")

FFT_FUNCTIONS = tuple(f"torch.fft.{n}" for n in (
    "fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
    "ifftn", "rfftn", "irfftn")) + ("torch.stft", "torch.Tensor.stft")
FFT_OPS = ("aten::_fft_r2c", "aten::_fft_c2c", "aten::_fft_c2r", "aten::fft_rfft", "aten::fft_fft",
           "aten::fft_ifft", "aten::fft_irfft", "aten::stft")


def _dt(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _eps(dtype) -> float:
    return torch.finfo(dtype).eps


# --------------------------------------------------------------------------- drivers
def drive_table(target, like, *args, **kwargs):
    """Call a function that builds a table from sizes alone, in the dtype and on the device of
    ``like`` (a 0-dim tensor holding the largest position or angle the table involves, which sets
    the rounding floor of the tolerance)."""
    return target(*args, dtype=like.dtype, device=like.device, **kwargs)


def drive_rope(target, x, *args, prop=None, other=None, shift=None, **kwargs):
    """Call ``apply_rope`` once (``prop=None``) or check an identity that needs several calls:

    * ``"compose"``: rotating by positions m then by ``shift`` (= n) equals rotating once by m + n;
      returns (R_n R_m x, R_{m+n} x).
    * ``"relative"``: scores q_m . k_n for the positions m = n = ``positions`` and for the same
      positions moved by ``shift``; returns both score matrices (they must be equal).
    * ``"layouts"``: the interleaved rotation of x, and the half-split rotation of x with its
      features permuted (pair i = features (2i, 2i+1) moved to (i, i + Dh/2)) and permuted back.
    """
    if prop is None:
        return target(x, *args, **kwargs)
    positions = kwargs.pop("positions")
    if prop == "compose":
        twice = target(target(x, positions, **kwargs), shift, **kwargs)
        return twice, target(x, positions + shift, **kwargs)
    if prop == "relative":
        def scores(p):
            q = target(x, p, **kwargs)
            k = target(other, p, **kwargs)
            return q @ k.transpose(-2, -1)
        return scores(positions), scores(positions + shift)
    if prop == "layouts":
        half = x.shape[-1] // 2
        split = torch.cat([x[..., 0::2], x[..., 1::2]], dim=-1)  # interleaved -> half-split
        rotated = target(split, positions, interleaved=False, **kwargs)
        back = torch.stack([rotated[..., :half], rotated[..., half:]], dim=-1).flatten(-2)
        return target(x, positions, interleaved=True, **kwargs), back
    raise ValueError(f"unknown property {prop!r}")


# --------------------------------------------------------------------------- property checks
def _violation(a, b, tol, what):
    err = float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
    return None if err <= tol else f"{what} (off by {err:.3g}, allowed {tol:.3g})"


def _check_unit_pairs(outputs, case):
    """Each (sin, cos) pair of an encoding row lies on the unit circle."""
    pe = outputs[0].double()
    d = pe.shape[-1] - pe.shape[-1] % 2
    r = pe[:, 0:d:2] ** 2 + pe[:, 1:d:2] ** 2
    return _violation(r, torch.ones_like(r), 16 * _eps(case.dtype),
                      "sin² + cos² of a column pair is not 1")


def _check_orthogonal(outputs, case):
    M = outputs[0].double()
    eye = torch.eye(M.shape[0], dtype=torch.float64)
    return _violation(M @ M.T, eye, 8 * _eps(case.dtype), "M_k is not orthogonal (M_k M_kᵀ ≠ I)")


def _check_shifts_the_encoding(k, base):
    """M_k PE(p) = PE(p + k) for p = 0..19, with PE written out here in float64."""
    def check(outputs, case):
        M = outputs[0].double()
        d = M.shape[0]
        w = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        def pe(p):
            a = p[:, None] * w
            return torch.stack([a.sin(), a.cos()], -1).flatten(-2)
        p = torch.arange(20, dtype=torch.float64)
        tol = 64 * _eps(case.dtype) * (1 + abs(k))
        return _violation(pe(p) @ M.T, pe(p + k), tol, f"M_k PE(p) ≠ PE(p + {k:g})")
    return check


def _check_bucket_range(num_buckets):
    def check(outputs, case):
        b = outputs[0]
        if b.dtype != torch.int64:
            return f"buckets have dtype {b.dtype}, expected torch.int64"
        if b.numel() and (int(b.min()) < 0 or int(b.max()) >= num_buckets):
            return f"bucket ids must lie in [0, {num_buckets}), got {int(b.min())}..{int(b.max())}"
        return None
    return check


def _check_geometric(outputs, case):
    """For a power-of-two head count n the slopes are r, r², ..., rⁿ with r = 2^(-8/n)."""
    m = outputs[0].double()
    r = 2.0 ** (-8.0 / m.numel())
    expected = r ** torch.arange(1, m.numel() + 1, dtype=torch.float64)
    return _violation(m / expected, torch.ones_like(m), 8 * _eps(case.dtype),
                      f"slopes are not r, r², r³, ... with "
                      f"r = 2^(-8/{m.numel()})")


def _check_alibi_distance(outputs, case):
    """bias[h, i, j] = bias[h, 0, 1] * |i - j|: the penalty grows linearly with the distance."""
    bias = outputs[0].double()
    H, L, S = bias.shape
    d = (torch.arange(L)[:, None] - torch.arange(S)[None, :]).abs().double()
    slope = bias[:, 0, 1] if S > 1 else bias[:, 1, 0] if L > 1 else torch.zeros(H).double()
    expected = slope[:, None, None] * d  # (and 0 on the diagonal)
    return _violation(bias, expected, 16 * _eps(case.dtype) * max(float(d.max()), 1.0),
                      "bias is not proportional to |i - j| within each head")


def _check_rope_norms(outputs, case):
    """A rotation keeps the length of every feature pair (and so of every vector)."""
    x = case.args[0].detach().double()
    out = outputs[0].double()
    # The angle's rounding does not change a norm; only the rounding of cos, sin, the products
    # and the output does, a few eps relative to |x|².
    tol = 16 * _eps(case.dtype) * float(x.pow(2).sum(-1).max())
    return _violation(out.pow(2).sum(-1), x.pow(2).sum(-1), tol,
                      "RoPE changed the norm of a vector")


def _check_sides_agree(what, positions_scale=1.0):
    """Both outputs of a ``drive_rope`` property case are equal."""
    def check(outputs, case):
        a, b = outputs
        tol = 64 * _eps(case.dtype) * positions_scale * max(float(b.double().abs().max()), 1.0)
        return _violation(a, b, tol, what)
    return check


def _check_equals_real_rotation(outputs, case):
    """rope_complex(x) = the real rotation of adjacent pairs (x_2i, x_2i+1), written out here."""
    x = case.args[0].detach().double()
    T, Dh = x.shape[-2], x.shape[-1]
    pos = case.kwargs.get("positions")
    pos = torch.arange(T) if pos is None else pos
    base = case.kwargs.get("base", 10000.0)
    a = pos.double()[..., None] * base ** (-torch.arange(0, Dh, 2, dtype=torch.float64) / Dh)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    real = torch.stack([x1 * a.cos() - x2 * a.sin(), x1 * a.sin() + x2 * a.cos()], -1).flatten(-2)
    # Rounding the angle m·θ costs eps·m in the working precision (float32 for a bfloat16 x, which
    # is rotated in complex64), then the result is rounded to x's dtype.
    work = case.dtype if case.dtype in (torch.float32, torch.float64) else torch.float32
    tol = 8 * float(x.abs().max()) * (_eps(case.dtype) + _eps(work) * (2 + float(pos.abs().max())))
    return _violation(outputs[0], real, tol, "the complex form differs from the real rotation")


def _check_parseval(outputs, case):
    """One-sided Parseval: sum_k c_k |X_k|² = P sum_p (pe_p - mean)², c_k = 1 at DC and Nyquist."""
    pe = case.args[0].detach().double()
    P = pe.shape[0]
    X2 = outputs[0].double() ** 2
    c = torch.full((X2.shape[0], 1), 2.0, dtype=torch.float64)
    c[0] = 1.0
    if P % 2 == 0:
        c[-1] = 1.0
    lhs = (c * X2).sum(0)
    rhs = P * (pe - pe.mean(0)).pow(2).sum(0)
    return _violation(lhs, rhs, 32 * _eps(case.dtype) * float(rhs.max()),
                      "the spectrum's energy differs from the signal's (Parseval)")


def _check_fft_resolution(base):
    """Column pair i of a sinusoidal encoding peaks within one bin of w_i / 2 pi."""
    def check(outputs, case):
        f = outputs[0].double()
        P, D = case.args[0].shape
        expected = torch.tensor([1 / (2 * math.pi * base ** ((c - c % 2) / D)) for c in range(D)],
                                dtype=torch.float64)
        bad = (f - expected).abs() > 1 / P + 1e-12
        if bad.any():
            c = int(bad.nonzero()[0])
            return (f"column {c}: dominant frequency {float(f[c]):.4g}, but 1/(2π·base^(2i/d)) = "
                    f"{float(expected[c]):.4g} and one bin is 1/{P}")
        return None
    return check


# --------------------------------------------------------------------------- case helpers
def _table_case(cases, b, dev, dtype, name, args, kwargs, scale, tags=(), public=False, checks=(),
                n_outputs=1):
    like = torch.tensor(float(scale), dtype=F64).to(dtype)
    cases.append(Case(f"{_dt(dtype)}, {name}", [like, *args], kwargs, dtype, tags,
                      public and dtype == F32 and dev == "cpu", dev, n_outputs=n_outputs,
                      checks=checks))


def _table_dtypes(dev):
    return (F64, F32, BF16) if dev == "cpu" else (F32, BF16)


# --------------------------------------------------------------------------- sinusoidal
def sinusoidal_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in _table_dtypes(dev):
            def case(name, n, d, base=None, tags=(), public=False):
                kw = {} if base is None else {"base": base}
                _table_case(cases, b, dev, dtype, name, [n, d], kw, n, tags, public,
                            (_check_unit_pairs,))
            case("16 positions, d_model=8", 16, 8, public=True)
            case("50 positions, d_model=32", 50, 32, public=True)
            case("one position, d_model=4", 1, 4, tags=("one position",))
            case("10 positions, d_model=6, base=100", 10, 6, base=100.0, tags=("custom base",),
                 public=True)
            case("12 positions, d_model=7 (odd)", 12, 7, tags=("odd d_model",))
            if dtype != BF16:  # in bfloat16 the angle 200·w is rounded by up to 0.4 rad
                case("200 positions, d_model=16 (far positions)", 200, 16, tags=("far positions",))
    return cases


def shift_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in _table_dtypes(dev):
            def case(name, k, d, base=10000.0, tags=(), public=False):
                kw = {} if base == 10000.0 else {"base": base}
                _table_case(cases, b, dev, dtype, name, [k, d], kw, max(abs(k), 1), tags, public,
                            (_check_orthogonal, _check_shifts_the_encoding(k, base)))
            case("k=1, d_model=8", 1, 8, public=True)
            case("k=5, d_model=6, base=100", 5, 6, 100.0, tags=("custom base",), public=True)
            case("k=0, d_model=4", 0, 4, tags=("k = 0",))
            case("k=-3, d_model=8 (backwards)", -3, 8, tags=("negative k",), public=True)
            case("k=2.5, d_model=10 (fractional)", 2.5, 10, 10.0, tags=("custom base",))
            if dtype != BF16:
                case("k=40, d_model=16", 40, 16, tags=("large k",))
    return cases


# --------------------------------------------------------------------------- T5
def t5_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        def case(name, rel, tags=(), public=False, **kw):
            nb = kw.get("num_buckets", 32)
            cases.append(Case(name, [rel], kw, F32, tags, public and dev == "cpu", dev,
                              checks=(_check_bucket_range(nb),)))
        q, k = torch.arange(12)[:, None], torch.arange(12)[None, :]
        case("key − query for 12 positions (12, 12)", k - q, public=True)
        case("relative positions −300..300", torch.arange(-300, 301), ("beyond max_distance",),
             public=True)
        case("relative positions −300..300, causal", torch.arange(-300, 301),
             ("bidirectional=False", "beyond max_distance"), public=True, bidirectional=False)
        case("key − query (20, 30), causal", torch.arange(30)[None, :] - torch.arange(20)[:, None],
             ("bidirectional=False",), bidirectional=False)
        case("num_buckets=16, max_distance=64", torch.arange(-150, 151), ("custom buckets",),
             num_buckets=16, max_distance=64)
        case("num_buckets=10, max_distance=50", torch.arange(-120, 121), ("custom buckets",),
             num_buckets=10, max_distance=50)
        case("num_buckets=12, max_distance=40, causal", torch.arange(-90, 91),
             ("custom buckets", "bidirectional=False"), bidirectional=False, num_buckets=12,
             max_distance=40)
        case("random relative positions (3, 4, 5)", b.randint(-1000, 1000, (3, 4, 5)),
             ("beyond max_distance",))
        case("int32 relative positions", torch.arange(-70, 71, dtype=torch.int32), ("int32 input",))
        # Relative positions computed in floating point (whole numbers, exact in every dtype here).
        for dtype in b.dtypes(dev):
            rel = torch.arange(-200, 201, 3, dtype=F64).to(dtype)
            cases.append(Case(f"relative positions −200..200 as {_dt(dtype)} whole numbers", [rel],
                              {}, dtype, ("float-typed positions",), False, dev,
                              checks=(_check_bucket_range(32),)))
    return cases


# --------------------------------------------------------------------------- ALiBi
def slopes_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in _table_dtypes(dev):
            for n, public in [(8, True), (4, False), (1, False), (16, False)]:
                _table_case(cases, b, dev, dtype, f"{n} heads", [n], {}, 1.0, (), public,
                            (_check_geometric,))
            for n, public in [(6, True), (12, True), (3, False), (20, False)]:
                _table_case(cases, b, dev, dtype, f"{n} heads (not a power of two)", [n], {}, 1.0,
                            ("not a power of two",), public)
    return cases


def bias_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in _table_dtypes(dev):
            def case(name, H, L, S, tags=(), public=False):
                _table_case(cases, b, dev, dtype, name, [H, L, S], {}, max(L, S), tags, public,
                            (_check_alibi_distance,))
            case("4 heads, 5 × 5", 4, 5, 5, public=True)
            case("8 heads, 6 × 6", 8, 6, 6)
            case("2 heads, L=3 < S=7", 2, 3, 7, ("L ≠ S",), public=True)
            case("4 heads, L=6 > S=2", 4, 6, 2, ("L ≠ S",))
            case("6 heads (not a power of two), 4 × 4", 6, 4, 4, ("not a power of two",),
                 public=True)
            case("1 head, 1 × 1", 1, 1, 1, ("L = S = 1",))
    return cases


# --------------------------------------------------------------------------- RoPE
def rope_cache_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in _table_dtypes(dev):
            def case(name, T, Dh, base=None, tags=(), public=False):
                kw = {} if base is None else {"base": base}
                _table_case(cases, b, dev, dtype, name, [T, Dh], kw, T, tags, public,
                            (_check_unit_pairs_cache,), n_outputs=2)
            case("T=8, head_dim=8", 8, 8, public=True)
            case("T=5, head_dim=4, base=100", 5, 4, 100.0, ("custom base",), public=True)
            case("T=1, head_dim=2", 1, 2, tags=("T = 1",))
            if dtype != BF16:
                case("T=64, head_dim=16", 64, 16, tags=("far positions",))
    return cases


def _check_unit_pairs_cache(outputs, case):
    cos, sin = (o.double() for o in outputs)
    r = cos ** 2 + sin ** 2
    return _violation(r, torch.ones_like(r), 16 * _eps(case.dtype), "cos² + sin² is not 1")


def rope_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            low = dtype in (torch.bfloat16, torch.float16)
            pub = dtype == F32 and dev == "cpu"

            def case(name, shape, tags=(), public=False, grad=False, noncontig=(), checks=(),
                     **kw):
                x = b.randn(*shape, dtype=dtype)
                cases.append(Case(f"{_dt(dtype)}, {name}", [x], kw, dtype, tags, public and pub,
                                  dev, grad=(0,) if grad and not low else (), noncontig=noncontig,
                                  checks=(_check_rope_norms,) + checks))
            for inter, tag in ((False, "half-split layout"), (True, "interleaved layout")):
                lay = f"interleaved={inter}"
                case(f"x (6, 8), {lay}", (6, 8), (tag,), public=True, interleaved=inter)
                case(f"x (2, 3, 5, 16), {lay}", (2, 3, 5, 16), (tag, "batch dims"),
                     public=inter, interleaved=inter)
                case(f"x (4, 6), positions [3, 0, 7, 12], base=100, {lay}", (4, 6),
                     (tag, "given positions", "custom base"), public=True, interleaved=inter,
                     positions=torch.tensor([3, 0, 7, 12]), base=100.0)
                case(f"x (2, 5, 4), batched positions (2, 5), {lay}", (2, 5, 4),
                     (tag, "given positions", "batch dims"), interleaved=inter,
                     positions=b.randint(0, 20, (2, 5)))
                case(f"x (3, 2), head_dim=2, {lay}", (3, 2), (tag, "head_dim = 2"),
                     interleaved=inter)
                case(f"non-contiguous x (2, 7, 8), {lay}", (2, 7, 8), (tag,), noncontig=(0,),
                     interleaved=inter)
                case(f"gradient, x (2, 4, 8), {lay}", (2, 4, 8), (tag,), grad=True,
                     interleaved=inter)
                if not low:
                    case(f"x (3, 4), positions up to 500, {lay}", (3, 4),
                         (tag, "given positions", "far positions"), interleaved=inter,
                         positions=torch.tensor([0, 77, 500]))
            # Properties that need several calls (see drive_rope); in bfloat16/float16 the
            # rounding of the angles is as large as what they would test, so they run in
            # float32/float64 only.
            if low:
                continue
            m = b.randint(0, 300, (5,))
            for inter, tag in ((False, "half-split layout"), (True, "interleaved layout")):
                lay = f"interleaved={inter}"
                cases.append(Case(
                    f"{_dt(dtype)}, property: R_n R_m x = R_(m+n) x, {lay}",
                    [b.randn(5, 8, dtype=dtype)],
                    {"prop": "compose", "positions": m, "shift": b.randint(0, 300, (5,)),
                     "interleaved": inter},
                    dtype, (tag, "property"), False, dev, n_outputs=2,
                    checks=(_check_sides_agree("R_n R_m x ≠ R_(m+n) x", 1000),)))
                cases.append(Case(
                    f"{_dt(dtype)}, property: scores depend only on m − n (positions + 1000), {lay}",
                    [b.randn(6, 8, dtype=dtype)],
                    {"prop": "relative", "other": b.randn(6, 8, dtype=dtype),
                     "positions": torch.arange(6), "shift": 1000, "interleaved": inter},
                    dtype, (tag, "property"), pub and inter, dev, n_outputs=2,
                    checks=(_check_sides_agree("⟨R_m q, R_n k⟩ changed when m and n were both "
                                               "shifted", 2000),)))
            cases.append(Case(
                f"{_dt(dtype)}, property: layouts agree after permuting features",
                [b.randn(2, 5, 12, dtype=dtype)], {"prop": "layouts", "positions": torch.arange(5)},
                dtype, ("interleaved layout", "half-split layout", "property"), pub, dev,
                n_outputs=2, checks=(_check_sides_agree("the two layouts disagree after the "
                                                        "permutation", 8),)))
    return cases


def rope_complex_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in b.dtypes(dev):
            def case(name, shape, tags=(), public=False, grad=False, noncontig=(), **kw):
                cases.append(Case(f"{_dt(dtype)}, {name}", [b.randn(*shape, dtype=dtype)], kw, dtype,
                                  tags, public and dtype == F32 and dev == "cpu", dev,
                                  grad=(0,) if grad else (), noncontig=noncontig,
                                  checks=(_check_equals_real_rotation,)))
            case("x (6, 8)", (6, 8), public=True)
            case("x (2, 3, 5, 16)", (2, 3, 5, 16), ("batch dims",))
            case("x (4, 6), positions [3, 0, 7, 12], base=100", (4, 6),
                 ("given positions", "custom base"), public=True,
                 positions=torch.tensor([3, 0, 7, 12]), base=100.0)
            if dtype in (F32, F64):
                case("x (3, 4), positions up to 500", (3, 4), ("given positions", "far positions"),
                     positions=torch.tensor([0, 77, 500]))
            case("non-contiguous x (2, 7, 8)", (2, 7, 8), noncontig=(0,))
            case("gradient, x (2, 4, 8)", (2, 4, 8), grad=dtype in (F32, F64))
    return cases


# --------------------------------------------------------------------------- Fourier view
def _pe64(P, D, base=10000.0):
    return sinusoidal_positional_encoding(P, D, base, dtype=F64)


def spectrum_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:
        for dtype in _table_dtypes(dev):
            def case(name, pe, tags=(), public=False):
                cases.append(Case(f"{_dt(dtype)}, {name}", [pe.to(dtype)], {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev,
                                  checks=(_check_parseval,)))
            case("sinusoidal PE (64, 8)", _pe64(64, 8), public=True)
            case("random (10, 3) + 5", b.randn(10, 3, shift=5.0), ("nonzero mean",), public=True)
            case("random (15, 4), odd length", b.randn(15, 4), ("odd length",))
            case("sinusoidal PE (100, 6), base=100", _pe64(100, 6, 100.0), ("custom base",))
            case("two positions (2, 3)", b.randn(2, 3), ("P = 2",))
            # No gradient case: |X_0| = 0 after the mean is removed, where |.| has a kink.
    return cases


def dominant_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    p = torch.arange(60, dtype=F64)
    tones = torch.stack([torch.cos(2 * math.pi * 7 * p / 60) + 5,
                         torch.sin(2 * math.pi * 13 * p / 60),
                         0.2 * torch.cos(2 * math.pi * 2 * p / 60) + torch.cos(2 * math.pi * 29 * p / 60),
                         torch.cos(2 * math.pi * 30 * p / 60)], 1)
    for dev in b.devices:
        for dtype in _table_dtypes(dev):
            def case(name, pe, tags=(), public=False, checks=()):
                cases.append(Case(f"{_dt(dtype)}, {name}", [pe.to(dtype)], {}, dtype, tags,
                                  public and dtype == F32 and dev == "cpu", dev, checks=checks))
            if dtype != BF16:  # bins of a tone between two bins are too close to rank in bfloat16
                case("sinusoidal PE (256, 16)", _pe64(256, 16), ("sinusoidal",), public=True,
                     checks=(_check_fft_resolution(10000.0),))
                case("sinusoidal PE (128, 8), base=100", _pe64(128, 8, 100.0),
                     ("sinusoidal", "custom base"), checks=(_check_fft_resolution(100.0),))
                case("sinusoidal PE (200, 12), base=50", _pe64(200, 12, 50.0),
                     ("sinusoidal", "custom base"), checks=(_check_fft_resolution(50.0),))
            case("on-bin tones (60, 4), one at the Nyquist bin", tones + 0.01 * b.randn(60, 4),
                 ("pure tones",), public=True)
            case("tones (45, 3), odd length",
                 torch.stack([torch.sin(2 * math.pi * f * torch.arange(45, dtype=F64) / 45)
                              for f in (4, 11, 22)], 1) + 3.0, ("pure tones", "odd length"))
    return cases


CHAPTER = Chapter(
    id="ch05",
    title="Positional encodings",
    notebook="ch05_positional/ch05_positional.py",
    exercises=[
        Exercise(
            "ch05.sinusoidal_positional_encoding", "sinusoidal_positional_encoding", 1.5,
            sinusoidal_positional_encoding, sinusoidal_cases, driver=drive_table,
            mistakes=catalog.SINUSOIDAL_MISTAKES, alternatives=catalog.SINUSOIDAL_ALTERNATIVES),
        Exercise(
            "ch05.sinusoidal_shift_matrix", "sinusoidal_shift_matrix", 1.5, sinusoidal_shift_matrix,
            shift_cases, driver=drive_table,
            mistakes=catalog.SHIFT_MISTAKES, alternatives=catalog.SHIFT_ALTERNATIVES),
        Exercise(
            "ch05.t5_relative_position_bucket", "t5_relative_position_bucket", 2.0,
            t5_relative_position_bucket, t5_cases,
            mistakes=catalog.T5_MISTAKES, alternatives=catalog.T5_ALTERNATIVES),
        Exercise(
            "ch05.alibi_slopes", "alibi_slopes", 1.0, alibi_slopes, slopes_cases, driver=drive_table,
            mistakes=catalog.SLOPES_MISTAKES, alternatives=catalog.SLOPES_ALTERNATIVES),
        Exercise(
            "ch05.alibi_bias", "alibi_bias", 1.0, alibi_bias, bias_cases, driver=drive_table,
            substitutes={"alibi_slopes": BUILTIN_ALIBI_SLOPES},
            mistakes=catalog.BIAS_MISTAKES, alternatives=catalog.BIAS_ALTERNATIVES),
        Exercise(
            "ch05.rope_cache", "rope_cache", 1.0, rope_cache, rope_cache_cases, driver=drive_table,
            mistakes=catalog.ROPE_CACHE_MISTAKES, alternatives=catalog.ROPE_CACHE_ALTERNATIVES),
        Exercise(
            "ch05.apply_rope", "apply_rope", 3.0, apply_rope, rope_cases, driver=drive_rope,
            substitutes={"rope_cache": BUILTIN_ROPE_CACHE},
            mistakes=catalog.ROPE_MISTAKES, alternatives=catalog.ROPE_ALTERNATIVES),
        Exercise(
            "ch05.rope_complex", "rope_complex", 1.0, rope_complex, rope_complex_cases,
            substitutes={"rope_cache": BUILTIN_ROPE_CACHE},
            mistakes=catalog.COMPLEX_MISTAKES, alternatives=catalog.COMPLEX_ALTERNATIVES),
        Exercise(
            "ch05.encoding_spectrum", "encoding_spectrum", 1.0, encoding_spectrum, spectrum_cases,
            forbidden_functions=FFT_FUNCTIONS, forbidden_ops=FFT_OPS,
            forbidden_hint="write the DFT as a product with cos/sin (or complex exponential) matrices",
            mistakes=catalog.SPECTRUM_MISTAKES, alternatives=catalog.SPECTRUM_ALTERNATIVES),
        Exercise(
            "ch05.dominant_frequencies", "dominant_frequencies", 1.0, dominant_frequencies,
            dominant_cases, forbidden_functions=FFT_FUNCTIONS, forbidden_ops=FFT_OPS,
            forbidden_hint="call your encoding_spectrum",
            substitutes={"encoding_spectrum": BUILTIN_SPECTRUM},
            mistakes=catalog.DOMINANT_MISTAKES, alternatives=catalog.DOMINANT_ALTERNATIVES),
    ],
)
