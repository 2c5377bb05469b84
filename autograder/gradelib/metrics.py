"""Chapter 10's evaluation metrics take strings or token lists and return Python numbers: the
driver scores many pairs in one case and returns the scores as a float64 tensor."""

from __future__ import annotations

import numbers

import torch

from .registry import driver


def _number(x, what: str) -> float:
    if type(x) is torch.Tensor and x.numel() == 1:  # noqa: E721
        return float(x)
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{what} must be a number, got {type(x).__name__}")


@driver
def drive_pairs(fn, pairs, width=1, **kwargs):
    """``fn(a, b, **kwargs)`` for each pair (a, b); ``width`` numbers per call (1: one score;
    3: precision, recall, F1). Returns (N,) or (N, width) float64."""
    rows = []
    for a, b in pairs:
        out = fn(a, b, **kwargs)
        if width == 1:
            rows.append([_number(out, "the score")])
            continue
        if not isinstance(out, (tuple, list)) or len(out) != width:
            raise TypeError(f"return a tuple of {width} numbers (precision, recall, F1), got "
                            f"{type(out).__name__}")
        rows.append([_number(x, "each score") for x in out])
    scores = torch.tensor(rows, dtype=torch.float64).reshape(len(rows), width)
    return scores[:, 0] if width == 1 else scores
