"""What the grader accepts from a worker: every report checked before it is believed or stored.

The worker runs the student's code, which controls that process completely; so each frame it
sends is checked here against what the grader itself asked for. An exercise's stream must be
exactly: one ``cell_start``/``cell_end`` pair per answer cell, in order; ``loaded``; one ``case``
report per prepared case, in order; ``end``. Any other event, order, index, field type or size,
or a tensor count other than the case's, is a :class:`ProtocolError`, which costs that exercise
(and only it). Tensors are vetted from their headers before a byte is read: one larger than the
reference's is never loaded (a meta-tensor placeholder carries its dtype and shape to the
verdict), so the grader's memory is bounded by the reference's outputs, whatever the worker
sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch

from autograder import wire

MAX_FORBIDDEN_ENTRIES = 32
MAX_TEXT_FIELD = 64 << 10


class ProtocolError(Exception):
    """The worker said something the grader did not ask for; the message says what."""


class CaseStatus(str, Enum):
    OK = "ok"
    ERROR = "error"
    NOT_IMPLEMENTED = "not_implemented"
    MISSING = "missing"
    BAD_OUTPUT = "bad_output"


@dataclass(frozen=True, kw_only=True)
class Expected:
    """What the grader knows of one case's reply before it arrives."""

    index: int
    tensors: tuple[tuple[torch.dtype, tuple[int, ...]], ...]  # outputs then gradients
    n_outputs: int


def expectations(prepared) -> list[Expected]:
    return [Expected(index=p.index, n_outputs=p.n_outputs,
                     tensors=tuple((dt, tuple(t.shape)) for dt, t in zip(p.expected_dtypes, p.truth)))
            for p in prepared]


def expected_bytes(prepared) -> int:
    """The size of every tensor the reference returned on these cases."""
    return sum(wire.size_in_bytes(dt, t.shape)
               for p in prepared for dt, t in zip(p.expected_dtypes, p.truth))


def _field(header: dict, key: str, kinds, *, optional: bool = True):
    if key not in header:
        if optional:
            return None
        raise ProtocolError(f"a '{header.get('event')}' report without '{key}'")
    value = header[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ProtocolError(f"field '{key}' of a '{header.get('event')}' report has type "
                            f"{type(value).__name__}")
    if isinstance(value, str) and len(value) > MAX_TEXT_FIELD:
        raise ProtocolError(f"field '{key}' is {len(value)} characters long")
    return value


def expect_event(header: dict, event: str, **fields) -> dict:
    """``header`` must be ``event`` with exactly these values for ``fields``."""
    got = header.get("event")
    if got != event:
        raise ProtocolError(f"sent '{str(got)[:40]}' where '{event}' was due")
    for key, value in fields.items():
        if header.get(key) != value or type(header.get(key)) is not type(value):
            raise ProtocolError(f"sent '{event}' with {key}={str(header.get(key))[:40]}, "
                                f"expected {value}")
    if header.get("tensors"):
        raise ProtocolError(f"sent tensors with '{event}'")
    return header


def check_cell_end(header: dict, index: int) -> str | None:
    expect_event(header, "cell_end", index=index)
    return _field(header, "error", (str, type(None)))


def check_started(header: dict) -> tuple[bool, str | None]:
    """An exercise process's first frame: whether it is locked against new threads and processes
    (sent before any student code runs in it), and why not."""
    expect_event(header, "started")
    return bool(_field(header, "locked", bool)), _field(header, "lock_error", (str, type(None)))


def _check_names(names: list, problem: str) -> list:
    """A list of forbidden-call names as a worker may send it: bounded, short strings."""
    if len(names) > MAX_FORBIDDEN_ENTRIES or not all(
            isinstance(f, str) and len(f) <= 200 for f in names):
        raise ProtocolError(problem)
    return names


def check_case(header: dict, expected: Expected) -> None:
    """A case report's fields (its tensors are vetted one by one by :func:`accept_tensor`)."""
    if header.get("event") == "end":
        raise ProtocolError(f"ended before reporting case {expected.index} (not reported)")
    expect_event(dict(header, tensors=None), "case", case=expected.index)
    status = _field(header, "status", str, optional=False)
    if status not in {s.value for s in CaseStatus}:
        raise ProtocolError(f"unknown case status {status[:40]!r}")
    _field(header, "message", str)
    _check_names(_field(header, "forbidden", list) or [], "malformed 'forbidden' list")
    n = len(header.get("tensors", []))
    if status != CaseStatus.OK:
        if n:
            raise ProtocolError(f"sent {n} tensor(s) with a case that did not finish")
        return
    seconds = _field(header, "seconds", (int, float), optional=False)
    if not math.isfinite(seconds) or seconds < 0:
        raise ProtocolError(f"reported {seconds} seconds")
    devices = _field(header, "devices", list, optional=False)
    if len(devices) != expected.n_outputs or not all(
            isinstance(d, str) and len(d) <= 32 for d in devices):
        raise ProtocolError("malformed 'devices' list")
    n_grads = _field(header, "n_grads", int, optional=False)
    if n != len(expected.tensors) or n_grads != len(expected.tensors) - expected.n_outputs:
        raise ProtocolError(f"sent {n} tensor(s) for case {expected.index}, which has "
                            f"{len(expected.tensors)}")


def check_end(header: dict, expected: list[Expected]) -> dict[int, list[str]]:
    """The ``end`` report: the forbidden ATen ops charged to each case, as {case index: names}."""
    expect_event(header, "end")
    entries = _field(header, "forbidden_ops", list) or []
    indices = {e.index for e in expected}
    out: dict[int, list[str]] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int
                and entry[0] in indices and entry[0] not in out and isinstance(entry[1], list)):
            raise ProtocolError("malformed 'forbidden_ops' in the end report")
        out[entry[0]] = _check_names(entry[1], "malformed 'forbidden_ops' in the end report")
    return out


def add_forbidden_ops(header: dict, ops: list[str]) -> dict:
    """A case's report with the ATen ops that its exercise's monitor charged to it added (the
    case report names the Python-level calls; the ops come with the end report)."""
    seen = list(header.get("forbidden", []))
    return header | {"forbidden": seen + [op for op in ops if op not in seen]}


SMALL_TENSOR_BYTES = 4 << 10


def accept_tensor(nbytes: int, want: tuple[torch.dtype, tuple]) -> bool:
    """Worth reading: no larger than the reference's tensor (or a few KiB). A smaller or equally
    large tensor of another shape or dtype is still read, so that a transposed output can be
    recognised as a catalogued mistake; the verdict checks shape and dtype before anything else."""
    return nbytes <= max(wire.size_in_bytes(*want), SMALL_TENSOR_BYTES)


def read_tensors(header: dict, expected: Expected, read_exact) -> list[torch.Tensor]:
    """The case's tensors: read when accepted, skipped (a meta placeholder) when not."""
    out = []
    for (dtype, shape, nbytes), want in zip(header["tensors"], expected.tensors):
        if accept_tensor(nbytes, want):
            out.append(wire.decode_tensor(dtype, shape, read_exact(nbytes)))
        else:
            wire.skip_bytes(read_exact, nbytes)
            out.append(torch.empty(shape, dtype=dtype, device="meta"))
    return out
