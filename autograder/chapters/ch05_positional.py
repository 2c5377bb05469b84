"""Chapter 5 — Positional encodings: the graded exercises and the cases they are graded on.

Each ``*_cases`` function declares inputs only; the expected outputs always come from the live
reference (``reference/positional.py``). Beyond plain calls:

* The tables (``sinusoidal_positional_encoding``, ``rope_cache``, ``alibi_slopes``...) take no
  tensor: the driver ``drive_table`` passes ``dtype=``/``device=`` from a 0-dim tensor argument,
  which the grader casts to float64 for the truth, so a float32 table is judged against a float64
  one with the tolerance measured on the reference's own float32 rounding, like any tensor exercise.
* Identities that need several calls (R_m R_n = R_{m+n}, scores that depend only on m - n, the two
  RoPE layouts agreeing after a permutation) are cases of the driver ``drive_rope``, which returns
  both sides: each is compared with the reference and a ``check`` verifies that they agree.
* ``checks`` state closed-form properties on the student's outputs (orthogonality of M_k, unit
  sin/cos pairs, norms kept, Parseval, dominant frequency within one FFT bin of theta_i / 2 pi,
  on-bin tones that do not leak out of their bin). The last one is finer than the comparison with
  the reference, whose rounding floor (64 ulps of the largest output) is half the peak in
  bfloat16.
"""

from __future__ import annotations

import math

import torch

from autograder import forbidden
from autograder.chapters import ch05_catalog as catalog
from autograder.spec import Case, CaseBuilder, Cell, Chapter, Exercise, Kind
from autograder.symbolic import Derivation
from reference import formulas
from reference import positional as ref

F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16
LAYOUTS = ((False, "half-split layout"), (True, "interleaved layout"))


def _eps(dtype) -> float:
    return torch.finfo(dtype).eps


def _freqs(d, base):
    """theta_i = base^(-2i/d) for i = 0 .. ceil(d/2) - 1, in float64."""
    return base ** (-torch.arange(0, d, 2, dtype=F64) / d)


# --------------------------------------------------------------------------- property checks
def _violation(a, b, tol, what):
    err = float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
    return None if err <= tol else f"{what} (off by {err:.3g}, allowed {tol:.3g})"


def _on_unit_circle(a, b, case, what):
    r = a.double() ** 2 + b.double() ** 2
    return _violation(r, torch.ones_like(r), 16 * _eps(case.dtype), what)


def _check_unit_pairs(outputs, case):
    """Each (sin, cos) pair of an encoding row lies on the unit circle."""
    pe = outputs[0]
    d = pe.shape[-1] - pe.shape[-1] % 2
    return _on_unit_circle(pe[:, 0:d:2], pe[:, 1:d:2], case,
                           "sin² + cos² of a column pair is not 1")


def _check_unit_pairs_cache(outputs, case):
    return _on_unit_circle(*outputs, case, "cos² + sin² is not 1")


def _check_orthogonal(outputs, case):
    M = outputs[0].double()
    eye = torch.eye(M.shape[0], dtype=F64)
    return _violation(M @ M.T, eye, 8 * _eps(case.dtype), "M_k is not orthogonal (M_k M_kᵀ ≠ I)")


def _check_shifts_the_encoding(k, base):
    """M_k PE(p) = PE(p + k) for p = 0..19, with PE written out here in float64."""
    def check(outputs, case):
        M = outputs[0].double()
        def pe(p):
            a = p[:, None] * _freqs(M.shape[0], base)
            return torch.stack([a.sin(), a.cos()], -1).flatten(-2)
        p = torch.arange(20, dtype=F64)
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
    expected = (2.0 ** (-8.0 / m.numel())) ** torch.arange(1, m.numel() + 1, dtype=F64)
    return _violation(m / expected, torch.ones_like(m), 8 * _eps(case.dtype),
                      f"slopes are not r, r², r³, ... with r = 2^(-8/{m.numel()})")


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
    # The angle's rounding does not change a norm; only the rounding of cos, sin, the products
    # and the output does, a few eps relative to |x|².
    tol = 16 * _eps(case.dtype) * float(x.pow(2).sum(-1).max())
    return _violation(outputs[0].double().pow(2).sum(-1), x.pow(2).sum(-1), tol,
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
    pos = case.kwargs.get("positions")
    pos = torch.arange(x.shape[-2]) if pos is None else pos
    a = pos.double()[..., None] * _freqs(x.shape[-1], case.kwargs.get("base", 10000.0))
    x1, x2 = x[..., 0::2], x[..., 1::2]
    real = torch.stack([x1 * a.cos() - x2 * a.sin(), x1 * a.sin() + x2 * a.cos()], -1).flatten(-2)
    # Rounding the angle m·θ costs eps·m in the working precision (float32 for a bfloat16 x, which
    # is rotated in complex64), then the result is rounded to x's dtype.
    work = case.dtype if case.dtype in (F32, F64) else F32
    tol = 8 * float(x.abs().max()) * (_eps(case.dtype) + _eps(work) * (2 + float(pos.abs().max())))
    return _violation(outputs[0], real, tol, "the complex form differs from the real rotation")


def _check_parseval(outputs, case):
    """One-sided Parseval: sum_k c_k |X_k|² = P sum_p (pe_p - mean)², c_k = 1 at DC and Nyquist."""
    pe = case.args[0].detach().double()
    P = pe.shape[0]
    X2 = outputs[0].double() ** 2
    c = torch.full((X2.shape[0], 1), 2.0, dtype=F64)
    c[[0, -1] if P % 2 == 0 else [0]] = 1.0
    rhs = P * (pe - pe.mean(0)).pow(2).sum(0)
    return _violation((c * X2).sum(0), rhs, 32 * _eps(case.dtype) * float(rhs.max()),
                      "the spectrum's energy differs from the signal's (Parseval)")


def _check_tones_stay_in_their_bins(bins):
    """Column d is a pure tone on bin ``bins[d]``: away from that bin its spectrum is what the
    (rounded) input makes it, to within the rounding of P terms, 2·P·eps·max|x|, plus what float64
    angles of up to πP radians cost if they are not reduced (the notebook allows computing the
    angles in float64). The comparison with the reference allows 64 ulps of the peak, half of it
    in bfloat16: too coarse to see an angle 2πkp/P that was rounded in the input's dtype before it
    was reduced, which leaks up to a radian's worth in bfloat16."""
    def check(outputs, case):
        pe = case.args[0].detach().double()
        P = pe.shape[0]
        exact = torch.fft.rfft(pe - pe.mean(0), dim=0).abs()  # of the input as given
        off = torch.ones_like(exact, dtype=torch.bool)
        off[list(bins), range(len(bins))] = False
        tol = P * (2 * _eps(case.dtype) + math.pi * P * _eps(F64)) * float(pe.abs().max())
        return _violation(outputs[0].double()[off], exact[off], tol,
                          "a pure tone leaks out of its bin (are the angles 2πkp/P reduced "
                          "modulo 2π before they are rounded?)")
    return check


def _check_fft_resolution(base):
    """Column pair i of a sinusoidal encoding peaks within one bin of theta_i / 2 pi."""
    def check(outputs, case):
        f = outputs[0].double()
        P, D = case.args[0].shape
        expected = _freqs(D, base).repeat_interleave(2)[:D] / (2 * math.pi)
        bad = (f - expected).abs() > 1 / P + 1e-12
        if bad.any():
            c = int(bad.nonzero()[0])
            return (f"column {c}: dominant frequency {float(f[c]):.4g}, but 1/(2π·base^(2i/d)) = "
                    f"{float(expected[c]):.4g} and one bin is 1/{P}")
        return None
    return check


# --------------------------------------------------------------------------- tables
def _table(c: Cell, name, scale, *sizes, **kw):
    """A case of a table exercise (``drive_table``): ``like`` is ``scale`` in the cell's dtype."""
    c(name, torch.tensor(float(scale), dtype=c.dtype), *sizes, **kw)


def _custom_base(base, default=10000.0):
    return {} if base == default else {"base": base}


def sinusoidal_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, n, d, base=10000.0, **kw):
            _table(c, name, n, n, d, checks=(_check_unit_pairs,), **_custom_base(base), **kw)
        case("16 positions, d_model=8", 16, 8, public=True)
        case("50 positions, d_model=32", 50, 32, public=True)
        case("one position, d_model=4", 1, 4, tags=("one position",))
        case("10 positions, d_model=6, base=100", 10, 6, 100.0, tags=("custom base",), public=True)
        case("12 positions, d_model=7 (odd)", 12, 7, tags=("odd d_model",))
        if c.dtype != BF16:  # in bfloat16 the angle 200·w is rounded by up to 0.4 rad
            case("200 positions, d_model=16 (far positions)", 200, 16, tags=("far positions",))
    return b.grid(rows, exclude=(F16,))


def shift_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, k, d, base=10000.0, **kw):
            _table(c, name, max(abs(k), 1), k, d, **_custom_base(base), **kw,
                   checks=(_check_orthogonal, _check_shifts_the_encoding(k, base)))
        case("k=1, d_model=8", 1, 8, public=True)
        case("k=5, d_model=6, base=100", 5, 6, 100.0, tags=("custom base",), public=True)
        case("k=0, d_model=4", 0, 4, tags=("k = 0",))
        case("k=-3, d_model=8 (backwards)", -3, 8, tags=("negative k",), public=True)
        case("k=2.5, d_model=10 (fractional)", 2.5, 10, 10.0, tags=("custom base",))
        if c.dtype != BF16:
            case("k=40, d_model=16", 40, 16, tags=("large k",))
    return b.grid(rows, exclude=(F16,))


# --------------------------------------------------------------------------- T5
def t5_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dev in b.devices:  # integer positions: one case each, graded exactly (no dtype)
        def case(name, rel, tags=(), public=False, **kw):
            cases.append(Case(name=name, args=[rel], kwargs=kw, tags=tags, device=dev,
                              public=public and dev == "cpu",
                              checks=(_check_bucket_range(kw.get("num_buckets", 32)),)))
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

    def floats(c: Cell):  # relative positions computed in floating point (whole numbers, exact)
        c("relative positions −200..200 as whole numbers",
          torch.arange(-200, 201, 3, dtype=F64).to(c.dtype), tags=("float-typed positions",),
          checks=(_check_bucket_range(32),))
    return cases + b.grid(floats)


# --------------------------------------------------------------------------- ALiBi
def slopes_cases(b: CaseBuilder):
    def rows(c: Cell):
        for n, public in [(8, True), (4, False), (1, False), (16, False)]:
            _table(c, f"{n} heads", 1.0, n, public=public, checks=(_check_geometric,))
        for n, public in [(6, True), (12, True), (3, False), (20, False)]:
            _table(c, f"{n} heads (not a power of two)", 1.0, n, tags=("not a power of two",),
                   public=public)
    return b.grid(rows, exclude=(F16,))


def bias_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, H, L, S, tags=(), public=False):
            _table(c, name, max(L, S), H, L, S, tags=tags, public=public,
                   checks=(_check_alibi_distance,))
        case("4 heads, 5 × 5", 4, 5, 5, public=True)
        case("8 heads, 6 × 6", 8, 6, 6)
        case("2 heads, L=3 < S=7", 2, 3, 7, ("L ≠ S",), public=True)
        case("4 heads, L=6 > S=2", 4, 6, 2, ("L ≠ S",))
        case("6 heads (not a power of two), 4 × 4", 6, 4, 4, ("not a power of two",), public=True)
        case("1 head, 1 × 1", 1, 1, 1, ("L = S = 1",))
    return b.grid(rows, exclude=(F16,))


# --------------------------------------------------------------------------- RoPE
def rope_cache_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, T, E, base=10000.0, **kw):
            _table(c, name, T, T, E, **_custom_base(base), **kw, n_outputs=2,
                   checks=(_check_unit_pairs_cache,))
        case("T=8, head_dim=8", 8, 8, public=True)
        case("T=5, head_dim=4, base=100", 5, 4, 100.0, tags=("custom base",), public=True)
        case("T=1, head_dim=2", 1, 2, tags=("T = 1",))
        if c.dtype != BF16:
            case("T=64, head_dim=16", 64, 16, tags=("far positions",))
    return b.grid(rows, exclude=(F16,))


def rope_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, shape, tags, **kw):
            c(name, c.randn(*shape), tags=tags, **kw, checks=(_check_rope_norms,))
        for inter, tag in LAYOUTS:
            lay = f"interleaved={inter}"
            case(f"x (6, 8), {lay}", (6, 8), (tag,), public=True, interleaved=inter)
            case(f"x (2, 3, 5, 16), {lay}", (2, 3, 5, 16), (tag, "batch dims"), public=inter,
                 interleaved=inter)
            case(f"x (4, 6), positions [3, 0, 7, 12], base=100, {lay}", (4, 6),
                 (tag, "given positions", "custom base"), public=True, interleaved=inter,
                 positions=torch.tensor([3, 0, 7, 12]), base=100.0)
            case(f"x (2, 5, 4), batched positions (2, 5), {lay}", (2, 5, 4),
                 (tag, "given positions", "batch dims"), interleaved=inter,
                 positions=b.randint(0, 20, (2, 5)))
            case(f"x (3, 2), head_dim=2, {lay}", (3, 2), (tag, "head_dim = 2"), interleaved=inter)
            case(f"non-contiguous x (2, 7, 8), {lay}", (2, 7, 8), (tag,), noncontig=(0,),
                 interleaved=inter)
            case(f"gradient, x (2, 4, 8), {lay}", (2, 4, 8), (tag,), grad=(0,), interleaved=inter)
            if not c.low:
                case(f"x (3, 4), positions up to 500, {lay}", (3, 4),
                     (tag, "given positions", "far positions"), interleaved=inter,
                     positions=torch.tensor([0, 77, 500]))
        # Properties that need several calls (drive_rope); in bfloat16/float16 the rounding of
        # the angles is as large as what they would test, so they run in float32/float64 only.
        if c.low:
            return
        m = b.randint(0, 300, (5,))
        for inter, tag in LAYOUTS:
            lay = f"interleaved={inter}"
            c(f"property: R_n R_m x = R_(m+n) x, {lay}", c.randn(5, 8), tags=(tag, "property"),
              n_outputs=2, checks=(_check_sides_agree("R_n R_m x ≠ R_(m+n) x", 1000),),
              prop="compose", positions=m, shift=b.randint(0, 300, (5,)), interleaved=inter)
            c(f"property: scores depend only on m − n (positions + 1000), {lay}", c.randn(6, 8),
              tags=(tag, "property"), public=inter, n_outputs=2,
              checks=(_check_sides_agree("⟨R_m q, R_n k⟩ changed when m and n were both "
                                         "shifted", 2000),),
              prop="relative", other=c.randn(6, 8), positions=torch.arange(6), shift=1000,
              interleaved=inter)
        c("property: layouts agree after permuting features", c.randn(2, 5, 12),
          tags=("interleaved layout", "half-split layout", "property"), public=True, n_outputs=2,
          checks=(_check_sides_agree("the two layouts disagree after the permutation", 8),),
          prop="layouts", positions=torch.arange(5))
    return b.grid(rows, no_grad_in=(BF16, F16))


def rope_complex_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, shape, tags=(), **kw):
            c(name, c.randn(*shape), tags=tags, **kw, checks=(_check_equals_real_rotation,))
        case("x (6, 8)", (6, 8), public=True)
        case("x (2, 3, 5, 16)", (2, 3, 5, 16), ("batch dims",))
        case("x (4, 6), positions [3, 0, 7, 12], base=100", (4, 6),
             ("given positions", "custom base"), public=True,
             positions=torch.tensor([3, 0, 7, 12]), base=100.0)
        if not c.low:
            case("x (3, 4), positions up to 500", (3, 4), ("given positions", "far positions"),
                 positions=torch.tensor([0, 77, 500]))
        case("non-contiguous x (2, 7, 8)", (2, 7, 8), noncontig=(0,))
        case("gradient, x (2, 4, 8)", (2, 4, 8), grad=(0,))
    return b.grid(rows, no_grad_in=(BF16, F16))


# --------------------------------------------------------------------------- Fourier view
def _pe64(P, D, base=10000.0):
    return ref.sinusoidal_positional_encoding(P, D, base, dtype=F64)


def _tone(f, P, wave=torch.cos):
    return wave(2 * math.pi * f * torch.arange(P, dtype=F64) / P)


_TONE_BINS = (7, 40, 63)  # a slow tone, one in the middle, one next to the Nyquist bin 64
_TONES_128 = torch.stack([_tone(7, 128), _tone(40, 128, torch.sin), _tone(63, 128)], 1)


def spectrum_cases(b: CaseBuilder):
    def rows(c: Cell):
        def case(name, pe, tags=(), public=False):
            c(name, pe.to(c.dtype), tags=tags, public=public, checks=(_check_parseval,))
        case("sinusoidal PE (64, 8)", _pe64(64, 8), public=True)
        case("random (10, 3) + 5", b.randn(10, 3, shift=5.0), ("nonzero mean",), public=True)
        case("random (15, 4), odd length", b.randn(15, 4), ("odd length",))
        case("sinusoidal PE (100, 6), base=100", _pe64(100, 6, 100.0), ("custom base",))
        case("two positions (2, 3)", b.randn(2, 3), ("P = 2",))
        # Angles up to π·127 rad: rounded before reduction they are off by up to a radian in
        # bfloat16 (about 1e-5 rad in float32), and the tones leak out of their bins.
        c("on-bin tones (128, 3), large angles", _TONES_128.to(c.dtype), tags=("large angles",),
          checks=(_check_parseval, _check_tones_stay_in_their_bins(_TONE_BINS)))
        # No gradient case: |X_0| = 0 after the mean is removed, where |.| has a kink.
    return b.grid(rows, exclude=(F16,))


def dominant_cases(b: CaseBuilder):
    tones = torch.stack([_tone(7, 60) + 5, _tone(13, 60, torch.sin),
                         0.2 * _tone(2, 60) + _tone(29, 60), _tone(30, 60)], 1)

    def rows(c: Cell):
        def case(name, pe, tags, **kw):
            c(name, pe.to(c.dtype), tags=tags, **kw)
        if c.dtype != BF16:  # bins of a tone between two bins are too close to rank in bfloat16
            case("sinusoidal PE (256, 16)", _pe64(256, 16), ("sinusoidal",), public=True,
                 checks=(_check_fft_resolution(10000.0),))
            case("sinusoidal PE (128, 8), base=100", _pe64(128, 8, 100.0),
                 ("sinusoidal", "custom base"), checks=(_check_fft_resolution(100.0),))
            case("sinusoidal PE (200, 12), base=50", _pe64(200, 12, 50.0),
                 ("sinusoidal", "custom base"), checks=(_check_fft_resolution(50.0),))
        case("on-bin tones (60, 4), one at the Nyquist bin", tones + 0.01 * b.randn(60, 4),
             ("pure tones",), public=True)
        case("tones (45, 3), odd length",
             torch.stack([_tone(f, 45, torch.sin) for f in (4, 11, 22)], 1) + 3.0,
             ("pure tones", "odd length"))
    return b.grid(rows, exclude=(F16,))


CHAPTER = Chapter(
    id="ch05",
    title="Positional encodings",
    notebook="ch05_positional/ch05_positional.py",
    book_sections=("5.1 position", "5.2 Sinusoidal", "5.3", "5.4", "5.5"),
    exercises=[
        Exercise(
            id="ch05.sinusoidal_positional_encoding", name="sinusoidal_positional_encoding",
            points=1.5, reference=ref.sinusoidal_positional_encoding, cases=sinusoidal_cases,
            driver="drive_table",
            mistakes=catalog.SINUSOIDAL_MISTAKES),
        Exercise(
            id="ch05.sinusoidal_shift_matrix", name="sinusoidal_shift_matrix", points=1.5,
            reference=ref.sinusoidal_shift_matrix, cases=shift_cases, driver="drive_table",
            mistakes=catalog.SHIFT_MISTAKES),
        Exercise(
            id="ch05.t5_relative_position_bucket", name="t5_relative_position_bucket", points=2.0,
            reference=ref.t5_relative_position_bucket, cases=t5_cases,
            mistakes=catalog.T5_MISTAKES),
        Exercise(
            id="ch05.alibi_slopes", name="alibi_slopes", points=1.0, reference=ref.alibi_slopes,
            cases=slopes_cases, driver="drive_table",
            mistakes=catalog.SLOPES_MISTAKES),
        Exercise(
            id="ch05.alibi_bias", name="alibi_bias", points=1.0, reference=ref.alibi_bias,
            cases=bias_cases, driver="drive_table", standins=("ch05.alibi_slopes",),
            mistakes=catalog.BIAS_MISTAKES),
        Exercise(
            id="ch05.rope_score", name="rope_score", points=0.5,
            reference=formulas.rope_score, kind=Kind.SYMBOLIC,
            derivation=Derivation(symbols=("q1", "q2", "k1", "k2", "delta")),  # all real
            mistakes=catalog.ROPE_SCORE_MISTAKES),
        Exercise(
            id="ch05.rope_cache", name="rope_cache", points=1.0, reference=ref.rope_cache,
            cases=rope_cache_cases, driver="drive_table",
            mistakes=catalog.ROPE_CACHE_MISTAKES),
        Exercise(
            id="ch05.apply_rope", name="apply_rope", points=3.0, reference=ref.apply_rope,
            cases=rope_cases, driver="drive_rope", standins=("ch05.rope_cache",),
            mistakes=catalog.ROPE_MISTAKES),
        Exercise(
            id="ch05.rope_complex", name="rope_complex", points=1.0, reference=ref.rope_complex,
            cases=rope_complex_cases, standins=("ch05.rope_cache",),
            mistakes=catalog.COMPLEX_MISTAKES),
        Exercise(
            id="ch05.encoding_spectrum", name="encoding_spectrum", points=1.0,
            reference=ref.encoding_spectrum, cases=spectrum_cases, forbidden=forbidden.FFT,
            forbidden_hint="write the DFT as a product with cos/sin (or complex exponential) "
                           "matrices",
            mistakes=catalog.SPECTRUM_MISTAKES),
        Exercise(
            id="ch05.dominant_frequencies", name="dominant_frequencies", points=1.0,
            reference=ref.dominant_frequencies, cases=dominant_cases, forbidden=forbidden.FFT,
            forbidden_hint="call your encoding_spectrum", standins=("ch05.encoding_spectrum",),
            mistakes=catalog.DOMINANT_MISTAKES),
    ],
)
