"""Dtype-relative tolerances: the one helper every comparison in the grader uses.

The student's output is compared with the *truth* (the reference run in float64 on the same,
already-rounded inputs). How far from the truth a correct implementation may land depends on the
dtype it computed in, so we measure it: the *naive* reference run in the case's dtype has its own
error ``naive_err = max|naive - truth|``. A student passes when

    max|student - truth|  <=  ERROR_FACTOR * naive_err
                              + eps(dtype) * (OUTPUT_ULPS * max|truth| + INPUT_ULPS * max|inputs|)

The first term accepts any implementation at most a few times less accurate than the naive one in
that dtype. The second is a rounding floor, needed where the naive error is (nearly) zero — in
float64 the naive run *is* the truth, yet a correct implementation that sums in another order still
differs by a few ulps — at the scale of the output and of the inputs (rounding an intermediate such
as x − mean(x) costs ulps of x, not of the output: a gradient that is exactly zero in exact
arithmetic comes out as ±ulps of the inputs). (Same idea as the dtype-relative checks
of the FlashAttention test-suite; the constants are ours, chosen so that the alternative correct
implementations in the catalog pass and the catalogued mistakes fail — tests/ prove both.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ERROR_FACTOR = 4.0
OUTPUT_ULPS = 64.0
INPUT_ULPS = 16.0


def eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps if dtype.is_floating_point else 0.0


def _as_real(t: torch.Tensor) -> torch.Tensor:
    """float64 view for comparisons; a complex tensor becomes (..., 2) real/imaginary parts."""
    t = t.detach().cpu()
    if t.is_complex():
        return torch.view_as_real(t.to(torch.complex128))
    return t.double()


def _finite_max_abs(t: torch.Tensor) -> float:
    t = _as_real(t).abs()
    t = t[torch.isfinite(t)]
    return float(t.max()) if t.numel() else 0.0


def input_scale(tensors) -> float:
    """Largest finite magnitude among the floating-point inputs of a case."""
    return max((_finite_max_abs(t) for t in tensors
                if isinstance(t, torch.Tensor) and t.is_floating_point()), default=0.0)


def allowed_error(truth: torch.Tensor, naive: torch.Tensor, dtype: torch.dtype,
                  inputs_magnitude: float = 0.0) -> float:
    """Largest max-abs error a correct implementation computing in ``dtype`` may have (0 for
    integer or boolean outputs: counts, indices and buckets must be exact)."""
    if not (truth.is_floating_point() or truth.is_complex()):
        return 0.0
    diff = _as_real(naive) - _as_real(truth)
    naive_err = _finite_max_abs(diff)
    floor = eps(dtype) * (OUTPUT_ULPS * _finite_max_abs(truth) + INPUT_ULPS * inputs_magnitude)
    return ERROR_FACTOR * naive_err + floor + torch.finfo(torch.float64).tiny


@dataclass
class Comparison:
    ok: bool
    reason: str = ""  # empty when ok; else a sentence in the student's terms
    max_abs: float = 0.0
    max_rel: float = 0.0
    allowed: float = 0.0
    where: tuple = ()


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index of element ``flat`` of a C-contiguous tensor of ``shape``."""
    idx = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        idx.append(i)
    return tuple(reversed(idx))


def compare(got: torch.Tensor, truth: torch.Tensor, allowed: float) -> Comparison:
    """Compare a student's tensor (any float dtype, CPU) with the float64 truth."""
    if tuple(got.shape) != tuple(truth.shape):
        return Comparison(False, f"shape {tuple(got.shape)}, expected {tuple(truth.shape)}")
    if got.is_complex() != truth.is_complex():
        return Comparison(False, f"{'complex' if got.is_complex() else 'real'} values, expected "
                                 f"{'complex' if truth.is_complex() else 'real'}")
    g, t = _as_real(got), _as_real(truth)
    if g.numel() == 0:
        return Comparison(True)
    if bool(torch.isfinite(g).all()) and bool(torch.isfinite(t).all()):  # the common case
        err = (g - t).abs()
    else:
        # Non-finite values must sit exactly where the truth has them (normally nowhere).
        bad = (~torch.isfinite(g)) & torch.isfinite(t)
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            kind = "NaN" if torch.isnan(g[idx]) else "inf"
            return Comparison(False, f"{int(bad.sum())} non-finite value(s) ({kind} at index "
                                     f"{idx}) where the expected output is finite", where=idx)
        same_nonfinite = torch.equal(torch.isnan(g), torch.isnan(t)) and torch.equal(
            torch.isinf(g) & (g > 0), torch.isinf(t) & (t > 0)) and torch.equal(
            torch.isinf(g) & (g < 0), torch.isinf(t) & (t < 0))
        if not same_nonfinite:  # (NaN matches NaN here: used to recognise a catalogued mistake)
            return Comparison(False, "finite values where the expected output is NaN or infinite")
        err = torch.where(torch.isfinite(t), (g - t).abs(), torch.zeros_like(g))
    flat = int(err.argmax())
    idx = _unravel(flat, tuple(err.shape))
    max_abs = float(err.reshape(-1)[flat])
    max_rel = max_abs / max(float(t[idx].abs()), torch.finfo(torch.float64).tiny)
    if max_abs <= allowed:
        return Comparison(True, max_abs=max_abs, max_rel=max_rel, allowed=allowed, where=idx)
    if t.dim() == 0 and allowed == 0:  # one exact number (a count, a yes/no): no error to quote
        return Comparison(False, f"got {float(g):.6g}, expected {float(t):.6g}", max_abs=max_abs,
                          max_rel=max_rel, allowed=allowed, where=idx)
    return Comparison(False, f"max abs error {max_abs:.3g} at index {idx} (got {float(g[idx]):.6g}, "
                             f"expected {float(t[idx]):.6g}); allowed {allowed:.3g}",
                      max_abs=max_abs, max_rel=max_rel, allowed=allowed, where=idx)
