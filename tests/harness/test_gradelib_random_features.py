"""gradelib.random_features: the Performer driver seeds the student's draws reproducibly, and the
stand-in for the positive features agrees with the reference."""

import torch

from autograder.gradelib.random_features import drive_performer, performer_features
from reference import efficiency as ref

F64 = torch.float64


def test_stand_in_agrees_with_the_reference_in_float64():
    g = torch.Generator().manual_seed(0)
    x, omega = torch.randn(2, 5, 4, generator=g, dtype=F64), torch.randn(4, 16, generator=g,
                                                                          dtype=F64)
    assert torch.allclose(performer_features(x, omega), ref.performer_features(x, omega))


def test_driver_seeds_one_call_or_stacks_feature_counts_by_seeds():
    q, k, v = (torch.randn(1, 2, 6, d, dtype=F64) for d in (4, 4, 3))
    once = drive_performer(ref.performer_attention, q, k, v, 16, 7)
    assert torch.equal(once, ref.performer_attention(q, k, v, 16, torch.Generator().manual_seed(7)))
    table = drive_performer(ref.performer_attention, q, k, v, [16, 64], 7, repeats=3)
    assert table.shape == (2, 3, *once.shape)
    assert torch.equal(table[0, 0], once)  # feature count 16, seed 7
    assert torch.equal(table[1, 2], ref.performer_attention(q, k, v, 64,
                                                            torch.Generator().manual_seed(9)))
