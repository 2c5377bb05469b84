"""Exercises that return a dict of named numbers (Chapter 11's cost estimate): the driver reads the
stated keys in order and returns them as one float64 tensor."""

from __future__ import annotations

import numbers

import torch

from .registry import driver


@driver
def drive_record(fn, *args, keys, **kwargs):
    """``fn(*args, **kwargs)`` must return a dict holding a number under each of ``keys``;
    returns those numbers, in the order of ``keys``, as a (len(keys),) float64 tensor."""
    out = fn(*args, **kwargs)
    if not isinstance(out, dict):
        raise TypeError(f"return a dict with the keys {', '.join(map(repr, keys))}, got "
                        f"{type(out).__name__}")
    missing = [k for k in keys if k not in out]
    if missing:
        raise KeyError(f"the returned dict has no key {missing[0]!r} (expected "
                       f"{', '.join(map(repr, keys))})")
    values = []
    for k in keys:
        v = out[k]
        if type(v) is torch.Tensor and v.numel() == 1:  # noqa: E721
            v = float(v)
        if not isinstance(v, numbers.Real):
            raise TypeError(f"{k!r} must be a number, got {type(v).__name__}")
        values.append(float(v))
    return torch.tensor(values, dtype=torch.float64)
