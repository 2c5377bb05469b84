"""Chapter 11, quantization: storing weights and activations as small integers and a scale,
integer matrix products, and LLM.int8's outlier decomposition (Dettmers et al. 2022, "LLM.int8():
8-bit matrix multiplication for transformers at scale").

Conventions, stated once:

* Widths: 2 <= bits <= 8, anything else is a ValueError. Inputs are finite floating tensors.
* Rounding is round-half-to-even (``torch.round``): 62.5 -> 62, 63.5 -> 64, -2.5 -> -2.
  ``torch.quantize_per_tensor`` / ``quantize_per_channel`` also round half to even, but they
  multiply by the float32 reciprocal of the scale where we divide by it (on a quotient within a
  few ulps of a half-integer the two may differ by one), and they add the zero point before
  rounding, round(zero_point + x / scale), where we add it after (on an exact tie with an odd
  zero point they differ by one); ``torch.fake_quantize_*`` rounds as we do.
  tests/reference/test_quantization.py shows both cases.
* Absmax (symmetric) quantization uses the symmetric signed range [-qmax, qmax],
  qmax = 2^(bits-1) - 1 ([-127, 127] at 8 bits, [-7, 7] at 4): scale = max|x| / qmax,
  q = clamp(round(x / scale), -qmax, qmax). The value -2^(bits-1) (-128) is never produced, so
  negation is exact and an int8 product is at most 127^2 in size.
* Zero-point (asymmetric) quantization uses the unsigned range [0, 2^bits - 1]: with
  lo = min(min x, 0) and hi = max(max x, 0), scale = (hi - lo) / (2^bits - 1),
  zero_point = round(-lo / scale) and q = clamp(round(x / scale) + zero_point, 0, 2^bits - 1).
  Widening [min x, max x] to contain 0 makes 0 exact (q = zero_point dequantizes to 0), which
  zero padding and ReLU outputs need.
* Dequantization is (q - zero_point) * scale (zero_point = 0 for absmax).
* Where the scale is taken: ``dim=None`` over the whole tensor ("per-tensor", a 0-dim scale);
  ``dim=d`` over axis d, kept as a size-1 axis so that it broadcasts against x ("per-channel":
  for a weight W of shape (out, in), ``dim=-1`` gives one scale per output row). Groupwise
  quantization takes one absmax scale per run of ``group_size`` consecutive entries of the last
  axis. A slice whose range is 0 (all zeros) gets scale 1, so its q is 0 and nothing divides by 0.
* Dtypes: q is ``torch.int8`` (absmax, groupwise; also for bits < 8, unpacked: real 4-bit kernels
  pack two values per byte) or ``torch.uint8`` (zero-point); zero_point is ``torch.int64``; scales
  have x's floating dtype, and x / scale and (q - zero_point) * scale are computed in it.
* Error bound: for every x inside the range a scale covers (all of x, by construction, for both
  schemes), |x - dequantize(quantize(x))| <= scale / 2 elementwise, in exact arithmetic: the only
  error is rounding x / scale to the nearest integer; the clamp never moves a value by more than
  that (absmax: |x / scale| <= qmax; zero-point: see ``quantize_zero_point``). Computed in a
  floating dtype, the quotient x / scale itself is rounded, which adds a few ulps of the
  magnitudes involved (up to 2^bits * scale). In bfloat16, whose 8-bit significand resolves
  x / scale in [64, 128) only to 0.5, that doubles the error at 8 bits: up to about one scale.
* Integer matrix products (``int8_matmul``) accumulate exactly, as an int32 accumulator does as
  long as it cannot overflow: with |q| <= 127, a sum over D products is at most D * 127^2, and
  D * 127^2 <= 2^31 - 1  <=>  D <= 133 144. Larger inner dimensions are a ValueError.
"""

import torch

INT32_MAX = 2**31 - 1
MAX_INNER_DIM = INT32_MAX // 127**2  # 133 144: the longest int8 dot product int32 holds exactly


def _check_bits(bits):
    if not (isinstance(bits, int) and 2 <= bits <= 8):
        raise ValueError(f"bits must be an integer from 2 to 8, got {bits!r}")


def _check_floating(x):
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating tensor, got {x.dtype}")


# --------------------------------------------------------------------------- absmax and zero-point
def quantize_absmax(x, bits=8, dim=None):
    """Symmetric quantization: q = clamp(round(x / scale), -qmax, qmax), scale = max|x| / qmax with
    qmax = 2^(bits-1) - 1, the maximum taken over the whole tensor (``dim=None``) or along ``dim``.

    Shape:
        x: (...)
        q: (...), torch.int8
        scale: () for ``dim=None``, else x's shape with size 1 at ``dim``; x's dtype
    """
    _check_bits(bits)
    _check_floating(x)
    qmax = 2 ** (bits - 1) - 1
    amax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    scale = torch.where(amax == 0, torch.ones_like(amax), amax / qmax)
    # the clamp only catches a quotient that rounding of the scale pushed a hair beyond qmax
    q = torch.round(x / scale).clamp(-qmax, qmax).to(torch.int8)
    return q, scale


def quantize_zero_point(x, bits=8, dim=None):
    """Asymmetric quantization onto [0, 2^bits - 1] with a zero point (see the module docstring).

    The clamp changes nothing in exact arithmetic except at one value: with zp* = -lo / scale
    and n = 2^bits - 1, round(x / scale) + zero_point can reach n + 1 only when x / scale equals
    n + 1/2 - zero_point exactly (zero_point rounded zp* up from a half); clamped to n, that x is
    still exactly scale / 2 away from its dequantized value. At the bottom, round(lo / scale) is
    -zero_point (half-to-even rounding is odd-symmetric), so q >= 0 without a clamp.

    Shape:
        x: (...)
        q: (...), torch.uint8
        scale, zero_point: () for ``dim=None``, else x's shape with size 1 at ``dim``;
            scale in x's dtype, zero_point torch.int64
    """
    _check_bits(bits)
    _check_floating(x)
    n_levels = 2**bits - 1
    if dim is None:
        lo, hi = x.amin().clamp(max=0), x.amax().clamp(min=0)
    else:
        lo = x.amin(dim=dim, keepdim=True).clamp(max=0)
        hi = x.amax(dim=dim, keepdim=True).clamp(min=0)
    scale = torch.where(hi == lo, torch.ones_like(hi), (hi - lo) / n_levels)
    zero_point = torch.round(-lo / scale).clamp(0, n_levels).to(torch.int64)
    # add the zero point in integers: bfloat16 holds the integers only up to 256
    q = (torch.round(x / scale).to(torch.int32) + zero_point).clamp(0, n_levels).to(torch.uint8)
    return q, scale, zero_point


def dequantize(q, scale, zero_point=None):
    """(q - zero_point) * scale, in scale's dtype (``zero_point=None`` means 0, as for absmax).

    Shape:
        q: (...); scale, zero_point: broadcastable to q (the keepdim shapes of the quantizers)
        output: (...), scale's dtype
    """
    if zero_point is not None:
        q = q.to(torch.int32) - zero_point  # exact in integers, at most 2^bits - 1 in size
    return q.to(scale.dtype) * scale


# --------------------------------------------------------------------------- groups
def _split_groups(x, group_size):
    """View the last axis as (n // group_size, group_size) groups."""
    if not (isinstance(group_size, int) and group_size > 0):
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    n = x.size(-1)
    if n % group_size != 0:
        raise ValueError(f"the last axis ({n}) is not divisible by group_size={group_size}")
    return x.reshape(*x.shape[:-1], n // group_size, group_size)  # (..., n / group_size, size)


def quantize_groupwise(x, bits=4, group_size=64):
    """Absmax quantization with one scale per ``group_size`` consecutive entries of the last axis
    (the scheme of 4-bit weight formats such as GPTQ's and bitsandbytes' blockwise quantization):
    an outlier inflates the scale of its own group only.

    Shape:
        x: (..., n), n divisible by ``group_size``
        q: (..., n), torch.int8
        scales: (..., n // group_size), x's dtype
    """
    _check_bits(bits)
    groups = _split_groups(x, group_size)  # (..., n // group_size, group_size)
    q, scales = quantize_absmax(groups, bits=bits, dim=-1)  # scales (..., n // group_size, 1)
    return q.reshape(x.shape), scales.squeeze(-1)


def dequantize_groupwise(q, scales, group_size):
    """Inverse of ``quantize_groupwise``: each entry times its group's scale.

    Shape:
        q: (..., n); scales: (..., n // group_size)
        output: (..., n), scales' dtype
    """
    groups = _split_groups(q, group_size)  # (..., n // group_size, group_size)
    return dequantize(groups, scales.unsqueeze(-1)).reshape(q.shape)


def quantization_error(x, bits, scheme="absmax", group_size=64, dim=None):
    """Mean squared error of a quantize-dequantize round trip, as a Python float, for the chapter's
    figures. ``scheme`` is "absmax" or "zero_point" (scale per tensor or along ``dim``) or "group"
    (``group_size`` along the last axis; ``dim`` must then be None). The round trip runs in x's
    dtype; only the error is measured in float64.
    """
    if scheme == "absmax":
        x_hat = dequantize(*quantize_absmax(x, bits, dim))
    elif scheme == "zero_point":
        x_hat = dequantize(*quantize_zero_point(x, bits, dim))
    elif scheme == "group":
        if dim is not None:
            raise ValueError("groupwise quantization runs along the last axis; pass dim=None")
        x_hat = dequantize_groupwise(*quantize_groupwise(x, bits, group_size), group_size)
    else:
        raise ValueError(f"scheme must be 'absmax', 'zero_point' or 'group', got {scheme!r}")
    return (x_hat.double() - x.double()).square().mean().item()


# --------------------------------------------------------------------------- integer matmul
def int8_matmul(a_q, a_scale, b_q, b_scale):
    """(a_q @ b_q) * a_scale * b_scale: an int8 product accumulated exactly, then scaled, with one
    scale per row of a (a token's activations) and one per column of b (an output feature of the
    weight), the scales an int8 GEMM can apply after the integer accumulation.

    The accumulation runs in float64: every product and partial sum is an integer of size at most
    D * 127^2 < 2^31 < 2^53, hence exact in any order, which is what an int32 accumulator gives
    (float64 matmuls run on every device; CUDA has no integer matmul for int64). The result is then
    converted to a_scale's dtype and scaled there.

    Shape:
        a_q: (n, D), torch.int8; a_scale: (n, 1)
        b_q: (D, F), torch.int8; b_scale: (1, F)
        output: (n, F), a_scale's dtype
    """
    if a_q.dtype != torch.int8 or b_q.dtype != torch.int8:
        raise TypeError(f"a_q and b_q must be torch.int8, got {a_q.dtype} and {b_q.dtype}")
    inner = a_q.size(-1)
    if inner > MAX_INNER_DIM:
        raise ValueError(f"inner dimension {inner} > {MAX_INNER_DIM}: D * 127^2 would overflow "
                         "an int32 accumulator")
    acc = a_q.double() @ b_q.double()  # (n, F), exact integers
    return acc.to(a_scale.dtype) * a_scale * b_scale


def outlier_decomposed_matmul(x, w, threshold=6.0):
    """LLM.int8's mixed-precision decomposition of x @ w: the feature columns j of x with some
    |x[i, j]| >= ``threshold`` (the outlier features) are multiplied in x's floating dtype; the
    rest in int8, x per row and w per column (absmax, 8 bits), with ``int8_matmul``. Outlier
    features are few but large; left in, one of them sets its row's scale and rounds every other
    entry of that row to a handful of levels.

    Error bound (exact arithmetic; ``decomposed_matmul_error_bound`` computes it): write the
    int8-path factors as x_ik + e_ik and w_kj + f_kj with |e_ik| <= s_i / 2 and |f_kj| <= t_j / 2
    (the absmax bound; s_i is row i's scale of x, t_j column j's scale of w, both taken over the
    non-outlier features R). The outlier part is exact and the int8 accumulation is exact, so

        Δ_ij = Σ_{k ∈ R} [(x_ik + e_ik)(w_kj + f_kj) - x_ik w_kj]
             = Σ_{k ∈ R} (e_ik w_kj + x_ik f_kj + e_ik f_kj)
        |Δ_ij| <= Σ_{k ∈ R} (|w_kj| s_i / 2 + |x_ik| t_j / 2 + s_i t_j / 4).

    Floating point adds the rounding of the products, sums and scalings to this.

    Shape:
        x: (n, D); w: (D, F), both in one floating dtype
        output: (n, F), x's dtype
    """
    outliers = (x.abs() >= threshold).any(dim=0)  # (D,)
    out = x[:, outliers] @ w[outliers, :]  # (n, F); zeros when there are no outliers
    rest = ~outliers
    if rest.any():
        x_q, x_scale = quantize_absmax(x[:, rest], bits=8, dim=-1)  # (n, r), (n, 1)
        w_q, w_scale = quantize_absmax(w[rest, :], bits=8, dim=0)  # (r, F), (1, F)
        out = out + int8_matmul(x_q, x_scale, w_q, w_scale)
    return out


def decomposed_matmul_error_bound(x, w, threshold=6.0):
    """The bound of ``outlier_decomposed_matmul``'s docstring on |decomposed - x @ w|, entrywise,
    computed in float64 (to set against the error, not to be graded in x's dtype).

    Shape:
        x: (n, D); w: (D, F)
        output: (n, F), torch.float64
    """
    rest = ~(x.abs() >= threshold).any(dim=0)  # (D,)
    if not rest.any():
        return torch.zeros(x.size(0), w.size(1), dtype=torch.float64, device=x.device)
    xr, wr = x[:, rest], w[rest, :]  # (n, r), (r, F): r non-outlier features
    s = quantize_absmax(xr, bits=8, dim=-1)[1].double()  # (n, 1), the scales the product uses
    t = quantize_absmax(wr, bits=8, dim=0)[1].double()  # (1, F)
    xr, wr = xr.double(), wr.double()
    return (s / 2 * wr.abs().sum(0, keepdim=True) + xr.abs().sum(-1, keepdim=True) * t / 2
            + xr.size(-1) * s * t / 4)  # (n, F)
