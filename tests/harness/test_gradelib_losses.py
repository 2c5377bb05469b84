"""gradelib.losses: Chapter 8's loss stand-ins agree with the reference in float64 and are
registered for the exercises they stand in for."""

import pytest
import torch

from autograder import gradelib
from autograder.gradelib.losses import log_softmax, logsumexp
from reference import losses as ref

F64 = torch.float64


@pytest.mark.parametrize("dim", [-1, 0, 1], ids=["dim-1", "dim0", "dim1"])
def test_stand_ins_agree_with_the_reference_in_float64(dim):
    x = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0), dtype=F64) * 30
    x[0, 1, 2] = float("-inf")
    torch.testing.assert_close(logsumexp(x, dim=dim), ref.logsumexp(x, dim=dim))
    torch.testing.assert_close(log_softmax(x, dim=dim), ref.log_softmax(x, dim=dim))


def test_registered_under_the_exercise_ids():
    assert gradelib.STANDINS["ch08.logsumexp"] is logsumexp
    assert gradelib.STANDINS["ch08.log_softmax"] is log_softmax
