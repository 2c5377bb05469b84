"""reference/quantization.py against PyTorch's quantizers and by hand: integer codes against
``torch.quantize_per_tensor`` / ``quantize_per_channel`` (int_repr) and round trips against
``torch.fake_quantize_*`` with our scales, rounding of exact ties worked by hand, the scale / 2
error bound on random tensors, int8 products against Python integers, and LLM.int8's outlier
decomposition against x @ w and its derived bound.

How torch's quantizers round (torch 2.13, CPU, x86/fbgemm engine), found by the tests below:
half to even, like ``torch.round``, but of x * fl(1 / scale), a float32 reciprocal, where we
divide; and ``quantize_per_*`` adds the zero point *before* rounding (round(zp + x / scale)),
while ``fake_quantize_*`` and we add it after (round(x / scale) + zp). So the anchors agree
exactly except (a) within a few float32 ulps of a half-integer quotient, where the reciprocal
may land on the other side (exact ties need a power-of-two scale, tested by hand), and (b) for
``quantize_per_*`` with an odd zero point at an exact tie.
"""

from fractions import Fraction

import pytest
import torch

from autograder import tolerance
from reference.quantization import (MAX_INNER_DIM, decomposed_matmul_error_bound, dequantize,
                                    dequantize_groupwise, int8_matmul, outlier_decomposed_matmul,
                                    quantization_error, quantize_absmax, quantize_groupwise,
                                    quantize_zero_point)

F64 = torch.float64
BITS = list(range(2, 9))
pytestmark = pytest.mark.filterwarnings(
    "ignore:torch.quantize_per_tensor, torch.quantize_per_channel:UserWarning")


def _near_tie(x, scale):
    """Entries whose quotient x / scale (in float64) is within 1e-4 of a half-integer (about 6 float32
    ulps at 255): there torch's x * fl(1 / scale) and our x / scale may round differently."""
    r = x.double() / scale.double()
    return ((r - r.floor()) - 0.5).abs() < 1e-4


def _assert_codes_match(ours, theirs, near_tie, what):
    """Integer codes equal everywhere except near a tie, and there off by at most one."""
    diff = (ours.long() - theirs.long()).abs()
    assert not diff[~near_tie].any(), (
        f"{what}: {int((diff[~near_tie] > 0).sum())} codes differ away from any rounding tie, "
        "so the scale, zero point or clamp range differs from torch's")
    assert diff.max() <= 1, f"{what}: codes differ by {int(diff.max())} near a tie (at most 1)"


def _random_inputs(gen, dtype):
    """Tensors of shape (6, 32) with different shapes of distribution, rounded to ``dtype``:
    Gaussian, heavy-tailed (cubed), a zero row, all positive, all negative."""
    z = torch.randn(6, 32, generator=gen, dtype=F64)
    zero_row = z.clone()
    zero_row[2] = 0
    return [t.to(dtype) for t in (z, z**3, zero_row, z.abs() + 3, -z.abs() - 0.5)]


# --------------------------------------------------------------------------- by hand
def test_absmax_worked_example():
    for dt in (F64, torch.float32):
        q, scale = quantize_absmax(torch.tensor([-1.0, 0.5, 0.25, 1.0], dtype=dt))
        assert scale.dtype == dt and scale.shape == ()
        assert scale == torch.tensor(1.0, dtype=dt) / 127
        # x / scale = [-127, 63.5, 31.75, 127]: the tie 63.5 goes to the even 64
        assert q.tolist() == [-127, 64, 32, 127]


def test_exact_ties_round_half_to_even_here_and_in_torch():
    """Scale 31.75 / 127 = 0.25 is a power of two, so x / scale is exact and the ties are real:
    half to even gives 0, 2, 2, -2, 62; half away from zero would give 1, 2, 3, -3, 63."""
    x = torch.tensor([31.75, -31.75, 0.125, 0.375, 0.625, -0.625, 15.625])
    q, scale = quantize_absmax(x)
    assert scale.item() == 0.25
    assert q.tolist() == [127, -127, 0, 2, 2, -2, 62]
    theirs = torch.quantize_per_tensor(x, 0.25, 0, torch.qint8).int_repr()
    assert torch.equal(q, theirs), "torch.quantize_per_tensor rounds ties half to even too"


def test_zero_point_worked_examples():
    # lo = -1, hi = 127/128: scale = (255/128) / 255 = 1/128, zero point 128; the quotients of
    # the last four are the ties 0.5, 1.5, -0.5, 2.5, rounded half to even before adding 128
    x = torch.tensor([-1.0, 0.0, 0.5, 127 / 128, 1 / 256, 3 / 256, -1 / 256, 5 / 256], dtype=F64)
    q, scale, zp = quantize_zero_point(x)
    assert scale.item() == 1 / 128 and zp.item() == 128 and zp.dtype == torch.int64
    assert q.dtype == torch.uint8 and q.tolist() == [0, 128, 192, 255, 128, 130, 128, 130]
    assert dequantize(q, scale, zp)[1] == 0, "0 is exact: q = zero point dequantizes to 0"
    # all positive: lo is widened to 0, zero point 0, scale 3/255
    q, scale, zp = quantize_zero_point(torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    assert zp.item() == 0 and scale.item() == 3 / 255 and q.tolist() == [85, 170, 255]
    # all negative: hi is widened to 0, zero point 255; -0.5 / (2/255) = -63.75 -> -64 -> 191
    q, scale, zp = quantize_zero_point(torch.tensor([-2.0, -0.5], dtype=F64))
    assert zp.item() == 255 and q.tolist() == [0, 191]


def test_the_clamp_catches_a_rounded_scale():
    """In bfloat16, 1.328125 / fl(1.328125 / 127) computes to 127.5, which rounds to 128; the
    clamp keeps it at 127 (without it, int8 would wrap it to -128), and at -127 on the negative
    side: the symmetric range holds whatever the rounding."""
    x = torch.tensor([1.328125, -1.328125, 0.5], dtype=torch.bfloat16)
    q, scale = quantize_absmax(x)
    assert (x[:2] / scale).tolist() == [127.5, -127.5]
    assert q[:2].tolist() == [127, -127]


def test_all_zero_slices_get_scale_one():
    x = torch.randn(4, 6, dtype=F64)
    x[1] = 0
    q, scale = quantize_absmax(x, dim=-1)
    assert scale[1].item() == 1 and not q[1].any() and torch.isfinite(scale).all()
    q, scale, zp = quantize_zero_point(torch.zeros(5))
    assert scale.item() == 1 and zp.item() == 0 and not q.any()
    q, scales = quantize_groupwise(torch.zeros(2, 8), bits=4, group_size=4)
    assert (scales == 1).all() and not q.any()


# --------------------------------------------------------------------------- torch anchors
def test_torch_rounds_x_times_the_float32_reciprocal():
    """The value from fbgemm's own comment on its Quantize: x * fl(1 / s) is exactly 127.5 in
    float32 and rounds to 128, x / s is 127.49999 and rounds to 127, which the exact quotient
    (127.4999952...) confirms. torch.quantize_per_tensor gives 128: it multiplies."""
    x = torch.tensor([0.273939937935])
    s = torch.tensor(0.00214854861)
    assert (x * (1 / s)).item() == 127.5 and torch.round(x / s).item() == 127
    assert Fraction(x.item()) / Fraction(s.item()) < Fraction(255, 2)
    theirs = torch.quantize_per_tensor(x, s.item(), 0, torch.quint8).int_repr()
    assert theirs.item() == 128
    assert _near_tie(x, s).item(), "the band that the anchors tolerate contains this value"


def test_torch_quantize_adds_the_zero_point_before_rounding():
    """lo = -127/128, hi = 1: scale 1/128, zero point 127 (odd). x = 1/256 is the tie 0.5:
    we round it to 0 and add 127; quantize_per_tensor rounds 127.5 to 128. fake_quantize, like
    us, rounds first."""
    x = torch.tensor([-127 / 128, 1.0, 1 / 256])
    q, scale, zp = quantize_zero_point(x)
    assert scale.item() == 1 / 128 and zp.item() == 127 and q.tolist() == [0, 255, 127]
    theirs = torch.quantize_per_tensor(x, scale.item(), zp.item(), torch.quint8).int_repr()
    assert theirs.tolist() == [0, 255, 128]
    fake = torch.fake_quantize_per_tensor_affine(x, scale.item(), zp.item(), 0, 255)
    assert torch.equal(dequantize(q, scale, zp), fake)


@pytest.mark.parametrize("bits", BITS, ids=[f"{b}bit" for b in BITS])
def test_absmax_codes_match_torch_qint8(gen, bits):
    """With our scale (and zero point 0) torch's qint8 codes are ours, per tensor and per channel,
    for every width: our scale keeps |x / scale| <= qmax, so torch's wider clamp never acts.
    The symmetric scale maps -max|x| to -127 in torch too: -128 never appears."""
    x = torch.randn(48, 40, generator=gen)
    x[3, 5] = -x.abs().max() * 1.5  # the most negative entry sets the per-tensor scale
    q, scale = quantize_absmax(x, bits)
    theirs = torch.quantize_per_tensor(x, scale.item(), 0, torch.qint8).int_repr()
    _assert_codes_match(q, theirs, _near_tie(x, scale), "per tensor")
    assert theirs.min() == q.min() == -(2 ** (bits - 1) - 1) and (theirs != -128).all()
    for dim in (0, 1):  # our dim is the axis reduced over; torch's axis is the one kept
        axis = 1 - dim
        q, scale = quantize_absmax(x, bits, dim=dim)
        zeros = torch.zeros(x.size(axis), dtype=torch.long)
        theirs = torch.quantize_per_channel(x, scale.flatten().double(), zeros, axis,
                                            torch.qint8).int_repr()
        _assert_codes_match(q, theirs, _near_tie(x, scale), f"per channel, dim={dim}")
        qmax = 2 ** (bits - 1) - 1
        fake = torch.fake_quantize_per_channel_affine(x, scale.flatten(), zeros.int(), axis,
                                                      -qmax, qmax)
        ok = ~_near_tie(x, scale)
        assert torch.equal(dequantize(q, scale)[ok], fake[ok])


@pytest.mark.parametrize("bits", BITS, ids=[f"{b}bit" for b in BITS])
def test_zero_point_codes_match_torch_quint8(gen, bits):
    x = torch.randn(48, 40, generator=gen) + 0.7  # lopsided: the zero point is not mid-range
    q, scale, zp = quantize_zero_point(x, bits)
    theirs = torch.quantize_per_tensor(x, scale.item(), zp.item(), torch.quint8).int_repr()
    near = _near_tie(x, scale)
    _assert_codes_match(q, theirs, near, "per tensor")
    fake = torch.fake_quantize_per_tensor_affine(x, scale.item(), zp.item(), 0, 2**bits - 1)
    assert torch.equal(dequantize(q, scale, zp)[~near], fake[~near])
    for dim in (0, 1):
        axis = 1 - dim
        q, scale, zp = quantize_zero_point(x, bits, dim=dim)
        theirs = torch.quantize_per_channel(x, scale.flatten().double(), zp.flatten(), axis,
                                            torch.quint8).int_repr()
        near = _near_tie(x, scale)
        _assert_codes_match(q, theirs, near, f"per channel, dim={dim}")
        fake = torch.fake_quantize_per_channel_affine(x, scale.flatten(), zp.flatten().int(),
                                                      axis, 0, 2**bits - 1)
        assert torch.equal(dequantize(q, scale, zp)[~near], fake[~near])


# --------------------------------------------------------------------------- the error bound
def _absmax(x, bits):
    q, s = quantize_absmax(x, bits)
    return dequantize(q, s), s


def _absmax_rows(x, bits):
    q, s = quantize_absmax(x, bits, dim=-1)
    return dequantize(q, s), s


def _absmax_cols(x, bits):
    q, s = quantize_absmax(x, bits, dim=0)
    return dequantize(q, s), s


def _zero_point(x, bits):
    q, s, zp = quantize_zero_point(x, bits)
    return dequantize(q, s, zp), s


def _zero_point_rows(x, bits):
    q, s, zp = quantize_zero_point(x, bits, dim=-1)
    return dequantize(q, s, zp), s


def _groups_of_8(x, bits):
    q, s = quantize_groupwise(x, bits, group_size=8)
    return dequantize_groupwise(q, s, 8), s.repeat_interleave(8, dim=-1)


ROUND_TRIPS = [_absmax, _absmax_rows, _absmax_cols, _zero_point, _zero_point_rows, _groups_of_8]


@pytest.mark.parametrize("round_trip", ROUND_TRIPS,
                         ids=["absmax", "absmax-rows", "absmax-cols", "zp", "zp-rows", "groups"])
def test_error_is_at_most_half_a_step(gen, dtype, round_trip):
    """|x - x̂| <= scale / 2, plus the rounding of the quotient and product in ``dtype``: k = 2
    eps times the largest magnitude on the path, 2^bits * scale (at most the slice's range)."""
    worst = 0.0
    for x in _random_inputs(gen, dtype):
        for bits in BITS:
            x_hat, scale = round_trip(x, bits)
            assert x_hat.dtype == dtype
            err = (x.double() - x_hat.double()).abs()
            step = scale.double().expand_as(err)
            allowed = step / 2 + 2 * tolerance.eps(dtype) * 2**bits * step
            assert (err <= allowed).all(), (
                f"{bits} bits: error {float((err / step).max()):.4f} scale exceeds half a step "
                "plus rounding")
            worst = max(worst, float((err / step).max()))
    if dtype == F64:  # the bound is tight: on 192 entries some quotient lands near a half
        assert worst > 0.45, f"largest error only {worst:.3f} scale: is x̂ really quantized?"


def test_an_outlier_spoils_per_tensor_scales_but_not_channels_or_groups(gen):
    """One entry 100 times the largest of the rest sets the per-tensor scale; per-row scales
    confine the damage to its row (1 of 64), groups of 64 to its group (1 of 256)."""
    x = torch.randn(64, 256, generator=gen, dtype=F64)
    x[5, 7] = 100 * x.abs().max()
    for bits in (8, 4):
        per_tensor = quantization_error(x, bits)
        per_row = quantization_error(x, bits, dim=-1)
        grouped = quantization_error(x, bits, "group", group_size=64)
        assert per_tensor > 20 * per_row, (bits, per_tensor, per_row)
        assert per_tensor > 50 * grouped, (bits, per_tensor, grouped)
        assert quantization_error(x, bits, "zero_point") > 20 * quantization_error(
            x, bits, "zero_point", dim=-1)


def test_quantization_error_is_the_mean_squared_round_trip_error(gen):
    x = torch.randn(8, 32, generator=gen, dtype=F64)
    s = x.abs().max() / 127  # written out independently: absmax at 8 bits
    assert quantization_error(x, 8) == pytest.approx(
        ((torch.round(x / s) * s - x) ** 2).mean().item(), rel=1e-12)
    s = x.abs().amax(-1, keepdim=True) / 7  # 4 bits per row
    assert quantization_error(x, 4, dim=-1) == pytest.approx(
        ((torch.round(x / s) * s - x) ** 2).mean().item(), rel=1e-12)
    with pytest.raises(ValueError):
        quantization_error(x, 8, "nf4")
    with pytest.raises(ValueError):
        quantization_error(x, 8, "group", group_size=8, dim=0)


# --------------------------------------------------------------------------- int8 products
def test_int8_matmul_is_exact_against_python_integers(gen):
    a_q = torch.randint(-127, 128, (5, 7), generator=gen, dtype=torch.int8)
    b_q = torch.randint(-127, 128, (7, 4), generator=gen, dtype=torch.int8)
    # powers of two as scales, so that the scaled result is exact too
    a_s = 2.0 ** torch.randint(-6, 6, (5, 1), generator=gen, dtype=F64)
    b_s = 2.0 ** torch.randint(-6, 6, (1, 4), generator=gen, dtype=F64)
    A, B = a_q.tolist(), b_q.tolist()
    expected = [[sum(A[i][k] * B[k][j] for k in range(7)) * a_s[i, 0].item() * b_s[0, j].item()
                 for j in range(4)] for i in range(5)]
    got = int8_matmul(a_q, a_s, b_q, b_s)
    assert got.dtype == F64 and torch.equal(got, torch.tensor(expected, dtype=F64))


def test_int8_matmul_matches_the_dequantized_product(gen, dtype, assert_matches_truth):
    a = torch.randn(9, 24, generator=gen, dtype=F64).to(dtype)
    b = torch.randn(24, 6, generator=gen, dtype=F64).to(dtype)
    a_q, a_s = quantize_absmax(a, dim=-1)
    b_q, b_s = quantize_absmax(b, dim=0)
    truth = (a_q.double() * a_s.double()) @ (b_q.double() * b_s.double())
    # the integer sum is exact; converting it to dtype and two scalings round three times
    magnitude = (a_q.double().abs() @ b_q.double().abs()) * a_s.double() * b_s.double()
    assert_matches_truth(int8_matmul(a_q, a_s, b_q, b_s), truth, dtype, magnitude, k=2)


def test_int8_matmul_accumulates_exactly_up_to_the_int32_limit():
    assert MAX_INNER_DIM == 133_144
    assert MAX_INNER_DIM * 127**2 <= 2**31 - 1 < (MAX_INNER_DIM + 1) * 127**2
    one = torch.ones(1, 1, dtype=F64)
    a = torch.full((1, MAX_INNER_DIM), 127, dtype=torch.int8)
    got = int8_matmul(a, one, a.T.contiguous(), one)
    assert got.item() == MAX_INNER_DIM * 127**2  # 2 147 479 576, exact
    assert int8_matmul(a, one, -a.T.contiguous(), one).item() == -MAX_INNER_DIM * 127**2
    a = torch.ones(1, MAX_INNER_DIM + 1, dtype=torch.int8)
    with pytest.raises(ValueError, match="int32"):
        int8_matmul(a, one, a.T.contiguous(), one)
    with pytest.raises(TypeError):
        int8_matmul(torch.ones(2, 3, dtype=torch.int16), one, torch.ones(3, 2, dtype=torch.int8),
                    one)


# --------------------------------------------------------------------------- LLM.int8
def _planted_outliers(gen, dtype, n=24, d=128, dff=40, cols=(3, 17, 40, 99)):
    """Activations with a few outlier features of magnitude 20 to 60 (random signs), the rest
    standard normal; a weight of standard deviation 1 / sqrt(d)."""
    x = torch.randn(n, d, generator=gen, dtype=F64)
    big = 20 + 40 * torch.rand(n, len(cols), generator=gen, dtype=F64)
    x[:, list(cols)] = big * torch.randn(n, len(cols), generator=gen, dtype=F64).sign()
    w = torch.randn(d, dff, generator=gen, dtype=F64) / d**0.5
    return x.to(dtype), w.to(dtype)


def _plain_int8(x, w):
    x_q, x_s = quantize_absmax(x, dim=-1)
    w_q, w_s = quantize_absmax(w, dim=0)
    return int8_matmul(x_q, x_s, w_q, w_s)


def test_outlier_matmul_limits(gen):
    x, w = _planted_outliers(gen, F64)
    above = x.abs().max().item() * 1.01
    assert torch.equal(outlier_decomposed_matmul(x, w, threshold=above), _plain_int8(x, w)), \
        "no column reaches the threshold: the whole product is the int8 path"
    assert torch.equal(outlier_decomposed_matmul(x, w, threshold=0.0), x @ w), \
        "every |x| >= 0: every column is an outlier and the product is x @ w"
    assert not decomposed_matmul_error_bound(x, w, threshold=0.0).any()


def test_the_threshold_is_inclusive(gen):
    """A column whose largest |x| equals the threshold is an outlier (|x| >= threshold)."""
    x, w = _planted_outliers(gen, F64, cols=())
    x = x.clamp(-5.5, 5.5)
    x[4, 9] = -6.0  # the only entry at or above 5.9
    at = outlier_decomposed_matmul(x, w, threshold=6.0)
    assert torch.equal(at, outlier_decomposed_matmul(x, w, threshold=5.9)), "column 9 left out"
    assert not torch.equal(at, outlier_decomposed_matmul(x, w, threshold=6.1))


def test_outlier_decomposition_beats_plain_int8(gen):
    x, w = _planted_outliers(gen, F64)
    truth = x @ w
    plain = (_plain_int8(x, w) - truth).abs()
    mixed = (outlier_decomposed_matmul(x, w) - truth).abs()
    # the row scales drop from max|outlier| / 127 to max|normal| / 127, about 40 / 3
    assert mixed.max() < plain.max() / 5, (mixed.max().item(), plain.max().item())
    assert mixed.square().mean() < plain.square().mean() / 25


def test_outlier_decomposition_error_bound(gen, dtype):
    """|decomposed - x @ w| within the docstring's bound, written out here term by term over the
    non-outlier features; in low precision plus k = 2 eps of Σ|x||w| for the float products."""
    x, w = _planted_outliers(gen, dtype)
    rest = (x.abs() < 6.0).all(dim=0)
    assert rest.sum() == x.size(1) - 4, "exactly the four planted columns are outliers"
    s = x[:, rest].abs().amax(-1, keepdim=True).double() / 127  # (N, 1)
    t = w[rest].abs().amax(0, keepdim=True).double() / 127  # (1, Dff)
    xr, wr = x[:, rest].double(), w[rest].double()  # (N, R), (R, Dff)
    terms = (xr.abs()[:, :, None] * t[:, None, :] / 2 + wr.abs()[None] * s[:, :, None] / 2
             + s[:, :, None] * t[:, None, :] / 4)  # (N, R, Dff)
    bound = terms.sum(1)
    helper = decomposed_matmul_error_bound(x, w)  # its scales are rounded to dtype, ours not;
    rel = 2 * tolerance.eps(dtype) + 1e-13  # and it sums in another order
    assert ((helper - bound).abs() <= rel * bound).all(), "helper and hand-written bound differ"
    got = outlier_decomposed_matmul(x, w)
    assert got.dtype == dtype
    err = (got.double() - x.double() @ w.double()).abs()
    rounding = 2 * tolerance.eps(dtype) * (x.double().abs() @ w.double().abs())
    assert (err <= bound + rounding).all(), float((err / (bound + rounding)).max())


# --------------------------------------------------------------------------- dtypes and shapes
def test_dtypes_and_keepdim_shapes():
    x = torch.randn(3, 5, 4, dtype=torch.bfloat16)
    q, scale = quantize_absmax(x)
    assert q.dtype == torch.int8 and q.shape == x.shape and scale.shape == ()
    assert scale.dtype == torch.bfloat16
    for dim, shape in ((1, (3, 1, 4)), (-1, (3, 5, 1)), (0, (1, 5, 4))):
        q, scale = quantize_absmax(x, dim=dim)
        assert scale.shape == shape and q.shape == x.shape
        q, scale, zp = quantize_zero_point(x, dim=dim)
        assert q.dtype == torch.uint8 and scale.shape == zp.shape == shape
        assert zp.dtype == torch.int64 and scale.dtype == torch.bfloat16
        assert dequantize(q, scale, zp).dtype == torch.bfloat16
    q, scales = quantize_groupwise(torch.randn(3, 2, 8), bits=4, group_size=4)
    assert q.dtype == torch.int8 and q.shape == (3, 2, 8) and scales.shape == (3, 2, 2)
    assert q.abs().max() <= 7
    assert dequantize_groupwise(q, scales, 4).shape == (3, 2, 8)


def test_groups_are_consecutive_runs_of_the_last_axis():
    x = torch.tensor([[1.0, -2.0, 0.5, 0.25, 10.0, 0.0, -5.0, 2.5]], dtype=F64)
    q, scales = quantize_groupwise(x, bits=4, group_size=4)
    assert scales.tolist() == [[2 / 7, 10 / 7]]
    # x / scale computes to 3.5, -7, 1.75, 0.875 | 7, 0, -3.5, 1.75: the ties go to 4 and -4
    assert q.tolist() == [[4, -7, 2, 1, 7, 0, -4, 2]]


@pytest.mark.parametrize("bits", [0, 1, 9, 16, 4.0], ids=["0", "1", "9", "16", "float"])
def test_bits_outside_2_to_8_raise(bits):
    x = torch.randn(4, 8)
    for quantize in (quantize_absmax, quantize_zero_point, quantize_groupwise):
        with pytest.raises(ValueError, match="bits"):
            quantize(x, bits)


def test_bad_groups_and_inputs_raise():
    with pytest.raises(ValueError, match="divisible"):
        quantize_groupwise(torch.randn(2, 100), group_size=64)
    with pytest.raises(ValueError, match="divisible"):
        dequantize_groupwise(torch.zeros(2, 100, dtype=torch.int8), torch.ones(2, 1), 64)
    with pytest.raises(ValueError, match="group_size"):
        quantize_groupwise(torch.randn(2, 8), group_size=0)
    with pytest.raises(TypeError):
        quantize_absmax(torch.arange(4))
