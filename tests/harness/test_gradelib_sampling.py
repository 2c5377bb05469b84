"""gradelib.sampling: the seeded driver hands over a generator in the stated state, and Chapter 1's
stand-ins agree with the reference (n = 1, 2, 3; streams shorter than n)."""

import pytest
import torch

from autograder import gradelib
from autograder.gradelib.sampling import drive_with_generator, ngram_counts, sequence_log_prob
from reference import probability as ref


def test_the_driver_passes_a_generator_seeded_as_asked():
    def draw(shape, generator=None, scale=1.0):
        return scale * torch.rand(shape, generator=generator)

    out = drive_with_generator(draw, (3,), seed=11, scale=2.0)
    torch.testing.assert_close(out, 2.0 * torch.rand(3, generator=torch.Generator().manual_seed(11)))
    assert gradelib.DRIVERS["drive_with_generator"] is drive_with_generator


@pytest.mark.parametrize("n", [1, 2, 3])
def test_stand_ins_agree_with_the_reference(n):
    tokens = torch.randint(0, 5, (60,), generator=torch.Generator().manual_seed(n))
    assert torch.equal(ngram_counts(tokens, n, 5), ref.ngram_counts(tokens, n, 5))
    assert ngram_counts(tokens[:n - 1], n, 5).sum() == 0
    model = ref.ngram_model(ref.ngram_counts(tokens, n, 5).double(), alpha=0.5)
    torch.testing.assert_close(sequence_log_prob(model, tokens), ref.sequence_log_prob(model, tokens))
    assert gradelib.STANDINS["ch01.ngram_counts"] is ngram_counts
    assert gradelib.STANDINS["ch01.sequence_log_prob"] is sequence_log_prob
