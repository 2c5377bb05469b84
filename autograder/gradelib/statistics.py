"""Drivers of Appendix B's statistics exercises.

Estimates returned as a tuple of numbers (posterior parameters, interval ends) become one float64
tensor, so that each number is compared and named. Resampling procedures (a bootstrap, a
permutation test) get a freshly seeded generator, on one data set (compared draw for draw with the
reference) or on each row of a batch of data sets, one generator consumed in order (a simulation,
whose outputs are judged by their frequencies: coverage, type-I error).
"""

from __future__ import annotations

import numbers

import torch

from .registry import driver

# The statistics a bootstrap case names (a case's arguments are data, not functions): each maps a
# 1-D tensor to a 0-dim tensor.
STATISTICS = {"mean": torch.mean, "median": torch.median, "std": torch.std}


def _number(x, what: str) -> float:
    """A Python number, a 0-dim (or one-element) tensor or a NumPy scalar, as a float."""
    if type(x) is torch.Tensor and x.numel() == 1:  # noqa: E721 - never ask a subclass anything
        return float(x.detach().cpu())
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return float(x)
    raise TypeError(f"{what} must be a number, got {type(x).__name__}")


def _numbers(out, width: int, what: str) -> list[float]:
    if type(out) is torch.Tensor and out.shape == (width,):  # noqa: E721 - (lower, upper) as one
        out = list(out.detach().cpu().double())
    if not isinstance(out, (tuple, list)) or len(out) != width:
        raise TypeError(f"return a tuple of {width} numbers ({what}), got "
                        f"{type(out).__name__}" + (f" of length {len(out)}"
                                                   if isinstance(out, (tuple, list)) else ""))
    return [_number(x, "each value") for x in out]


@driver
def drive_numbers(fn, *args, width=1, names="", **kwargs):
    """``fn(*args, **kwargs)``, which returns one number (``width`` 1: a 0-dim float64 tensor)
    or a tuple of ``width`` numbers (a (width,) float64 tensor); ``names`` says what they are, for
    the message when the return value has the wrong form."""
    out = fn(*args, **kwargs)
    if width == 1:
        return torch.tensor(_number(out, "the result"), dtype=torch.float64)
    return torch.tensor(_numbers(out, width, names), dtype=torch.float64)


@driver
def drive_bootstrap(fn, values, statistic, n_resamples, *, seed, **kwargs):
    """``fn(values, STATISTICS[statistic], n_resamples, generator=<seeded>, **kwargs)``, which
    returns (lower, upper). ``values`` (N,): one data set, a (2,) float64 tensor out; (M, N): M
    data sets, one call per row with the same generator in order, an (M, 2) tensor out."""
    generator = torch.Generator().manual_seed(seed)
    rows = values if values.dim() == 2 else values.unsqueeze(0)
    out = [_numbers(fn(row, STATISTICS[statistic], n_resamples, generator=generator, **kwargs),
                    2, "lower, upper") for row in rows]
    intervals = torch.tensor(out, dtype=torch.float64)  # (M, 2)
    return intervals if values.dim() == 2 else intervals[0]


@driver
def drive_permutation_test(fn, losses_a, losses_b, n_permutations, *, seed, **kwargs):
    """``fn(losses_a, losses_b, n_permutations, generator=<seeded>, **kwargs)``, which returns a
    p-value. 1-D losses: one comparison, a 0-dim float64 tensor out; (M, N): M comparisons, one
    call per row with the same generator in order, an (M,) tensor out."""
    generator = torch.Generator().manual_seed(seed)
    if losses_a.dim() == 1:
        return torch.tensor(_number(fn(losses_a, losses_b, n_permutations, generator=generator,
                                       **kwargs), "the p-value"), dtype=torch.float64)
    return torch.tensor([_number(fn(a, b, n_permutations, generator=generator, **kwargs),
                                 "the p-value") for a, b in zip(losses_a, losses_b)],
                        dtype=torch.float64)
