"""reference.positional's Fourier view: encoding_spectrum against torch.fft.rfft, and
dominant_frequencies against the closed form theta_i / (2 pi) of the sinusoidal encoding."""

import math

import pytest
import torch

from reference.positional import dominant_frequencies, encoding_spectrum, sinusoidal_positional_encoding

CPU_FFT = {"f32": torch.float32, "f64": torch.float64}


@pytest.mark.parametrize("dtype", CPU_FFT.values(), ids=CPU_FFT.keys())
@pytest.mark.parametrize("P,D", [(64, 8), (37, 3), (2, 4)], ids=["64x8", "odd-P", "P2"])
def test_spectrum_matches_rfft(P, D, dtype, gen, assert_matches_truth):
    pe = (torch.randn(P, D, generator=gen) + 3).to(dtype)
    truth = torch.fft.rfft(pe.double() - pe.double().mean(0), dim=0).abs()
    # A sum of P products of size max|pe - mean|: a relative error of about P u at worst.
    magnitude = P * (pe.double() - pe.double().mean(0)).abs().max().item()
    assert_matches_truth(encoding_spectrum(pe), truth, dtype, magnitude, k=2.0)


def test_spectrum_in_bfloat16_stays_close(gen):
    pe = sinusoidal_positional_encoding(32, 8, dtype=torch.float64)
    got = encoding_spectrum(pe.to(torch.bfloat16))
    truth = torch.fft.rfft(pe - pe.mean(0), dim=0).abs()
    assert got.dtype == torch.bfloat16
    assert (got.double() - truth).abs().max() < 0.05 * truth.abs().max()


@pytest.mark.parametrize("P,D,base", [(256, 16, 10000.0), (128, 8, 100.0), (200, 12, 50.0)],
                         ids=["256x16", "128x8-base100", "200x12-base50"])
def test_dominant_frequencies_match_closed_form_to_fft_resolution(P, D, base):
    pe = sinusoidal_positional_encoding(P, D, base, dtype=torch.float64)
    f = dominant_frequencies(pe)
    expected = torch.tensor([1 / (2 * math.pi * base ** ((c - c % 2) / D)) for c in range(D)],
                            dtype=torch.float64)
    assert f.dtype == torch.float64 and f.shape == (D,)
    assert ((f - expected).abs() <= 1 / P).all(), (f, expected)
    # the answer is a bin frequency k / P, and never the DC bin
    assert torch.equal(f * P, (f * P).round()) and (f > 0).all()


def test_dominant_frequency_of_on_bin_cosines_is_exact():
    P = 60
    p = torch.arange(P, dtype=torch.float64)
    pe = torch.stack([torch.cos(2 * math.pi * 7 * p / P) + 5, torch.sin(2 * math.pi * 13 * p / P),
                      0.2 * torch.cos(2 * math.pi * 2 * p / P) + torch.cos(2 * math.pi * 29 * p / P)], 1)
    assert dominant_frequencies(pe).tolist() == [7 / P, 13 / P, 29 / P]
