"""gradelib.fits: the random-features driver seeds the student's draw reproducibly; the
Chinchilla driver returns (E, log A, log B, alpha, beta) in float64, NaN for a non-positive A or
B."""

import math

import torch

from autograder.gradelib.fits import drive_fit_chinchilla, drive_random_features
from reference.generalization import random_features_regression
from reference.scaling import fit_chinchilla

F64 = torch.float64


def test_random_features_driver_seeds_a_fresh_cpu_generator():
    g = torch.Generator().manual_seed(0)
    x, y, xt = (torch.randn(*s, generator=g, dtype=F64) for s in ((12, 3), (12,), (5, 3)))
    out = drive_random_features(random_features_regression, x, y, xt, 40, 7)
    again = drive_random_features(random_features_regression, x, y, xt, 40, 7)
    other = drive_random_features(random_features_regression, x, y, xt, 40, 8)
    assert torch.equal(out, again) and not torch.equal(out, other)
    assert torch.equal(out, random_features_regression(x, y, xt, 40,
                                                       torch.Generator().manual_seed(7)))


def test_chinchilla_driver_puts_a_and_b_on_the_log_scale():
    out = drive_fit_chinchilla(lambda n, d, loss: (1.5, math.e, 1.0, 0.3, 0.25), None, None, None)
    assert out.dtype == F64
    assert out.tolist() == [1.5, 1.0, 0.0, 0.3, 0.25]
    bad = drive_fit_chinchilla(lambda n, d, loss: (1.5, 0.0, -2.0, 0.3, 0.25), None, None, None)
    assert math.isnan(bad[1]) and math.isnan(bad[2]) and bad[0] == 1.5


def test_chinchilla_driver_on_the_reference_recovers_noiseless_data():
    g = torch.Generator().manual_seed(0)
    n = 10 ** (7 + 3 * torch.rand(30, generator=g, dtype=F64))
    d = 10 ** (9 + 3 * torch.rand(30, generator=g, dtype=F64))
    loss = 1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28
    E, log_a, log_b, alpha, beta = drive_fit_chinchilla(fit_chinchilla, n, d, loss).tolist()
    assert abs(E - 1.69) < 1e-2 and abs(alpha - 0.34) < 1e-2 and abs(beta - 0.28) < 1e-2
    assert abs(log_a - math.log(406.4)) < 0.1 and abs(log_b - math.log(410.7)) < 0.1
