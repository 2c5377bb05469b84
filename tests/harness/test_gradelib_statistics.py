"""gradelib.statistics: numbers become float64 tensors (and a wrong form is said), and resampling
drivers hand the student's function a freshly seeded generator, consumed in order over a batch."""

from __future__ import annotations

import pytest
import torch

from autograder.gradelib.statistics import (drive_bootstrap, drive_numbers,
                                            drive_permutation_test)


def test_numbers_of_every_usual_form_become_one_float64_tensor():
    assert drive_numbers(lambda: 2).dtype == torch.float64
    out = drive_numbers(lambda: (1, torch.tensor(2.5), torch.tensor([3.0])), width=3)
    assert out.tolist() == [1.0, 2.5, 3.0] and out.dtype == torch.float64
    assert drive_numbers(lambda: torch.tensor([1.0, 2.0]), width=2).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("fn,width,said", [
    (lambda: "0.5", 1, "the result must be a number, got str"),
    (lambda: True, 1, "got bool"),
    (lambda: (1.0, 2.0), 3, "return a tuple of 3 numbers (a, b, c), got tuple of length 2"),
    (lambda: {"a": 1}, 3, "got dict"),
])
def test_a_wrong_form_is_said(fn, width, said):
    with pytest.raises(TypeError, match=said.replace("(", r"\(").replace(")", r"\)")):
        drive_numbers(fn, width=width, names="a, b, c")


def test_the_bootstrap_gets_a_seeded_generator_and_a_batch_shares_it_in_order():
    seen = []

    def fn(values, statistic, n_resamples, generator=None):
        draw = torch.randint(0, 1000, (1,), generator=generator).item()
        seen.append(draw)
        return statistic(values) - draw, statistic(values) + draw

    values = torch.arange(6, dtype=torch.float64)
    one = drive_bootstrap(fn, values, "mean", 10, seed=3)
    assert one.shape == (2,) and one.dtype == torch.float64
    first = seen[0]
    seen.clear()
    batch = drive_bootstrap(fn, values.repeat(3, 1), "median", 10, seed=3)
    assert batch.shape == (3, 2) and seen[0] == first and len(set(seen)) > 1  # one stream, in order


def test_the_permutation_test_gets_a_seeded_generator_per_call_of_the_driver():
    def fn(a, b, n, generator=None):
        return torch.rand((), generator=generator, dtype=torch.float64)

    a = torch.zeros(5, dtype=torch.float64)
    assert drive_permutation_test(fn, a, a, 9, seed=1) == drive_permutation_test(fn, a, a, 9,
                                                                                  seed=1)
    batch = drive_permutation_test(fn, a.repeat(4, 1), a.repeat(4, 1), 9, seed=1)
    assert batch.shape == (4,) and batch[0] == drive_permutation_test(fn, a, a, 9, seed=1)
    assert len(set(batch.tolist())) == 4
