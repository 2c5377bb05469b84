"""gradelib.positional: Chapter 5's stand-ins compute what the reference computes (float64), also
as the worker wraps them, in the dtype they are given; ``drive_rope`` returns the two sides of
each identity (equal for the reference, unequal for a rotation that breaks it) and refuses what
it must."""

import pytest
import torch

from autograder import gradelib
from autograder.gradelib import positional, rope
from autograder.worker import make_substitute
from reference import positional as ref

F64 = torch.float64


def test_standins_are_registered_under_the_notebook_names():
    for name in ("alibi_slopes", "rope_cache", "encoding_spectrum"):
        assert gradelib.STANDINS[f"ch05.{name}"].__name__ == name
    assert gradelib.STANDINS["ch05.rope_cache"] is rope.rope_cache  # written once, in .rope
    assert gradelib.DRIVERS["drive_rope"] is positional.drive_rope


@pytest.mark.parametrize("n_heads", range(1, 21))
def test_alibi_slopes_equal_the_reference(n_heads):
    standin = make_substitute(positional.alibi_slopes)
    torch.testing.assert_close(standin(n_heads, dtype=F64), ref.alibi_slopes(n_heads, dtype=F64),
                               rtol=1e-14, atol=0)
    assert standin(n_heads, dtype=torch.bfloat16).dtype == torch.bfloat16


@pytest.mark.parametrize("base", [10000.0, 100.0])
def test_rope_cache_equals_the_reference(base):
    cos, sin = make_substitute(gradelib.STANDINS["ch05.rope_cache"])(9, 6, base, dtype=F64)
    want_cos, want_sin = ref.rope_cache(9, 6, base, dtype=F64)
    torch.testing.assert_close(cos, want_cos, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(sin, want_sin, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("shape", [(64, 8), (15, 4), (2, 3)])
def test_encoding_spectrum_equals_the_reference(shape):
    pe = torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(0)) + 5.0
    got = make_substitute(positional.encoding_spectrum)(pe)
    torch.testing.assert_close(got, ref.encoding_spectrum(pe), rtol=1e-10, atol=1e-10)
    low = positional.encoding_spectrum(pe.to(torch.bfloat16))  # no bfloat16 FFT on CPU
    assert low.dtype == torch.bfloat16 and low.shape == got.shape


def _x(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("interleaved", [False, True])
def test_drive_rope_one_call_is_the_plain_call(interleaved):
    x, pos = _x(2, 5, 8), torch.tensor([3, 0, 7, 1, 9])
    got = positional.drive_rope(ref.apply_rope, x, positions=pos, base=100.0,
                                interleaved=interleaved)
    assert torch.equal(got, ref.apply_rope(x, pos, 100.0, interleaved))


@pytest.mark.parametrize("interleaved", [False, True])
def test_drive_rope_identities_hold_for_the_reference(interleaved):
    m, n = torch.randint(0, 300, (2, 5), generator=torch.Generator().manual_seed(0))
    sides = [positional.drive_rope(ref.apply_rope, _x(5, 8), prop="compose", positions=m,
                                   shift=n, interleaved=interleaved),
             positional.drive_rope(ref.apply_rope, _x(6, 8), prop="relative",
                                   other=_x(6, 8, seed=1), positions=torch.arange(6), shift=1000,
                                   interleaved=interleaved),
             positional.drive_rope(ref.apply_rope, _x(2, 5, 12), prop="layouts",
                                   positions=torch.arange(5))]
    for a, b in sides:
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_drive_rope_exposes_a_rotation_that_breaks_the_identities():
    def absolute(x, positions=None, base=10000.0, interleaved=False):  # adds, does not rotate
        return ref.apply_rope(x, None, base, interleaved) + positions.to(x.dtype)[..., None]

    a, b = positional.drive_rope(absolute, _x(5, 8), prop="compose", positions=torch.arange(5),
                                 shift=torch.full((5,), 3))
    assert (a - b).abs().max() > 1
    a, b = positional.drive_rope(absolute, _x(6, 8), prop="relative", other=_x(6, 8, seed=1),
                                 positions=torch.arange(6), shift=1000)
    assert (a - b).abs().max() > 1


def test_drive_rope_refuses_an_unknown_property():
    with pytest.raises(ValueError, match="unknown property"):
        positional.drive_rope(ref.apply_rope, _x(3, 4), prop="commute", positions=torch.arange(3))
