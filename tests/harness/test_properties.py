"""autograder.properties: the chi-square threshold against known quantiles, and the frequency test's
false-fail rate measured on samplers that are correct (it must hold what it states, small
categories included), its power on samplers that are not, and the probability-0 rule."""

import pytest
import torch

from autograder.properties import chi_square_threshold, frequency_violation


@pytest.mark.parametrize("df,tail,quantile", [(1, 0.05, 3.8415), (10, 0.05, 18.307),
                                              (1, 1e-6, 23.928), (5, 0.01, 15.086)])
def test_threshold_is_the_chi_square_quantile(df, tail, quantile):
    """Quantiles from the chi-square table (to the table's 5 significant digits)."""
    assert chi_square_threshold(df, tail) == pytest.approx(quantile, rel=2e-4)


def _counts(probs, n, gen):
    return torch.bincount(torch.multinomial(probs, n, replacement=True, generator=gen),
                          minlength=probs.numel())[None]


@pytest.mark.parametrize("probs", [
    [0.5, 0.3, 0.2],
    [0.6, 0.3, 0.0994, 0.0003, 0.0002, 0.0001],  # three categories expected < 5 times: pooled
], ids=["large", "with small categories"])
def test_a_correct_sampler_fails_at_the_stated_rate(probs):
    """At false_fail = 0.05, 1500 correct runs of 400 draws fail between 2.9% and 7.4% of the time
    (the 1e-6 two-sided binomial range around 5% is wider than this; the run is fixed-seed)."""
    p = torch.tensor(probs, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    failures = sum(frequency_violation(_counts(p, 400, gen), p[None], false_fail=0.05) is not None
                   for _ in range(1500))
    assert 0.029 <= failures / 1500 <= 0.074


def test_a_wrong_distribution_is_caught_and_the_worst_category_named():
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    wrong = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64)
    counts = _counts(wrong, 10_000, torch.Generator().manual_seed(1))
    message = frequency_violation(counts, p[None], what="token")
    assert message is not None and "do not follow" in message
    assert "token 0 was drawn" in message or "token 1 was drawn" in message  # both are off by 0.1


def test_a_category_of_probability_zero_must_never_be_drawn():
    p = torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)
    assert "token 2 has probability 0" in frequency_violation(torch.tensor([[50, 49, 1]]), p,
                                                              what="token")
    assert frequency_violation(torch.tensor([[50, 50, 0]]), p) is None


def test_rows_without_draws_and_single_outcomes_pass():
    p = torch.tensor([[1.0, 0.0], [0.3, 0.7]], dtype=torch.float64)
    assert frequency_violation(torch.tensor([[100, 0], [0, 0]]), p) is None
