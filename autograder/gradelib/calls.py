"""Drivers that only adapt how a function is called: what a case's JSON arguments cannot carry (a
dtype, a device) and what its outputs must be (a count is an exact int)."""

from __future__ import annotations

import torch

from .registry import driver


@driver
def drive_table(target, like, *args, **kwargs):
    """Call a function that builds a table from sizes alone, in the dtype and on the device of
    ``like`` (a 0-dim tensor holding the largest position or angle the table involves, which sets
    the rounding floor of the tolerance)."""
    return target(*args, dtype=like.dtype, device=like.device, **kwargs)


def dtype_named(value):
    """The torch dtype that ``value`` names ("bfloat16" -> torch.bfloat16); anything else as is."""
    if isinstance(value, str) and isinstance(getattr(torch, value, None), torch.dtype):
        return getattr(torch, value)
    return value


@driver
def drive_dtype_args(fn, *args, **kwargs):
    """``fn`` called with every argument that names a torch dtype replaced by the dtype."""
    return fn(*map(dtype_named, args), **{k: dtype_named(a) for k, a in kwargs.items()})


@driver
def drive_count(count, like, *args, **kwargs):
    """``count(*args, **kwargs)`` as an int64 tensor on ``like``'s device (``like`` carries only
    the case's device and dtype). A float (from a division) is refused: a count is an int."""
    n = count(*args, **kwargs)
    if type(n) is not int:  # noqa: E721 - bool is not a count either
        name = getattr(count, "__name__", "the count")
        raise TypeError(f"{name} must return a Python int, got {type(n).__name__}")
    return torch.tensor(n, device=like.device)


REFUSALS = {"ValueError": ValueError, "TypeError": TypeError}


@driver
def drive_or_refuse(fn, *args, refuse=None, **kwargs):
    """``fn(*args, **kwargs)`` as it is; in a case with ``refuse`` (an exception's name, e.g.
    "ValueError"), the call must raise that exception, as its statement says: returns a 0-dim
    int64, 1 if it did, 0 if it returned (another exception goes to the student as it is)."""
    if refuse is None:
        return fn(*args, **kwargs)
    try:
        fn(*args, **kwargs)
    except REFUSALS[refuse]:
        return torch.tensor(1)
    return torch.tensor(0)
