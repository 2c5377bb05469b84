"""gradelib.information: Chapter 2's stand-ins agree with the reference in float64 (0 · log 0
included, batches of chains too) and are registered for the exercises they stand in for."""

import torch

from autograder import gradelib
from autograder.gradelib.information import entropy, stationary_distribution
from reference import information as ref

F64 = torch.float64


def test_stand_ins_agree_with_the_reference_in_float64():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(3, 4, 6, generator=g, dtype=F64)
    p[0, 1, :2] = 0.0
    p = p / p.sum(1, keepdim=True)
    torch.testing.assert_close(entropy(p, dim=1), ref.entropy(p, dim=1))
    P = torch.rand(2, 5, 5, generator=g, dtype=F64) + 0.1
    P = P / P.sum(-1, keepdim=True)
    torch.testing.assert_close(stationary_distribution(P), ref.stationary_distribution(P))
    assert stationary_distribution(P.float()).dtype == torch.float32


def test_registered_under_the_exercise_ids():
    assert gradelib.STANDINS["ch02.entropy"] is entropy
    assert gradelib.STANDINS["ch02.stationary_distribution"] is stationary_distribution
