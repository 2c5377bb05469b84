"""The wire format between the grader (trusted parent) and a worker (untrusted child).

A message is one frame: an 8-byte big-endian length, then that many bytes of UTF-8 JSON, followed by
the raw bytes of every tensor the JSON lists under ``"tensors"`` (in order). No pickle anywhere: the
reader builds tensors itself from (dtype, shape, bytes) after checking every field against a short
allow-list and a size cap, so a worker can send nothing but plain, contiguous, CPU ``torch.Tensor``s.

This module is standalone (stdlib + torch): it is copied next to the worker, which must not import the
rest of the grader.
"""

from __future__ import annotations

import json
import math
import os
import struct

import torch

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

MAX_HEADER_BYTES = 1 << 20  # 1 MiB of JSON per frame
MAX_TENSOR_BYTES = 256 << 20  # no single graded output is anywhere near this
MAX_NDIM = 8


class WireError(Exception):
    """A frame that breaks the protocol (too big, wrong type, truncated). Never trusted further."""


def tensor_header(t: torch.Tensor) -> dict:
    return {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape)}


def tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits travel unchanged
    elif t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.numpy().tobytes()


def encode(header: dict, tensors: list[torch.Tensor] = ()) -> bytes:
    """One frame. ``header["tensors"]`` is filled in from ``tensors``."""
    for t in tensors:
        if type(t) is not torch.Tensor:  # noqa: E721 - exact type on purpose: subclasses can lie
            raise WireError(f"only plain torch.Tensor can be sent, got {type(t).__name__}")
        if t.dtype not in DTYPE_NAMES:
            raise WireError(f"unsupported dtype {t.dtype}")
    header = dict(header, tensors=[tensor_header(t) for t in tensors])
    body = json.dumps(header, allow_nan=False).encode()
    return struct.pack(">Q", len(body)) + body + b"".join(tensor_bytes(t) for t in tensors)


def size_in_bytes(dtype: torch.dtype, shape) -> int:
    """Bytes of a tensor of this dtype and shape on the wire."""
    return math.prod(shape) * torch.empty((), dtype=dtype).element_size()


def _check_tensor_header(h) -> tuple[torch.dtype, list[int], int]:
    if not isinstance(h, dict) or set(h) != {"dtype", "shape"}:
        raise WireError("malformed tensor header")
    dtype = DTYPES.get(h["dtype"]) if isinstance(h["dtype"], str) else None
    shape = h["shape"]
    if dtype is None:
        raise WireError(f"dtype not allowed: {h['dtype']!r}")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(type(s) is int and 0 <= s for s in shape)  # noqa: E721
    ):
        raise WireError(f"bad shape {shape!r}")
    nbytes = size_in_bytes(dtype, shape)
    if nbytes > MAX_TENSOR_BYTES:
        raise WireError(f"tensor of {nbytes} bytes exceeds the {MAX_TENSOR_BYTES} byte cap")
    return dtype, shape, nbytes


def decode_tensor(dtype: torch.dtype, shape: list[int], raw: bytes) -> torch.Tensor:
    if dtype in (torch.bfloat16, torch.float16):
        flat = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(dtype)
    elif dtype == torch.bool:
        flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8).to(torch.bool)
    elif len(raw) == 0:
        flat = torch.empty(0, dtype=dtype)
    else:
        flat = torch.frombuffer(bytearray(raw), dtype=dtype)
    return flat.reshape(shape).clone()


def read_header(read_exact) -> dict:
    """The JSON part of one frame; its ``"tensors"`` entry becomes a list of checked
    ``(dtype, shape, nbytes)``. The tensors' bytes are still to be read (or skipped) by the caller,
    who may first decide from the header whether it wants them at all."""
    (n,) = struct.unpack(">Q", read_exact(8))
    if n > MAX_HEADER_BYTES:
        raise WireError(f"header of {n} bytes exceeds the cap")
    try:
        header = json.loads(read_exact(n))
    except (ValueError, UnicodeDecodeError) as e:
        raise WireError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("tensors", []), list):
        raise WireError("header is not a JSON object")
    header["tensors"] = [_check_tensor_header(th) for th in header.get("tensors", [])]
    return header


def skip_bytes(read_exact, n: int, chunk: int = 1 << 20) -> None:
    """Consume ``n`` bytes without keeping them (a tensor the reader refused)."""
    while n > 0:
        read_exact(min(chunk, n))
        n -= min(chunk, n)


def read_frame(read_exact) -> tuple[dict, list[torch.Tensor]]:
    """Read one frame with ``read_exact(n) -> bytes`` (which raises on EOF/timeout)."""
    header = read_header(read_exact)
    tensors = [decode_tensor(dtype, shape, read_exact(nbytes))
               for dtype, shape, nbytes in header.pop("tensors")]
    return header, tensors


def write_file(path, header: dict, tensors: list[torch.Tensor]) -> None:
    with open(path, "wb") as f:
        f.write(encode(header, tensors))


def read_file(path) -> tuple[dict, list[torch.Tensor]]:
    with open(path, "rb") as f:
        return read_stream(f)


def read_stream(f) -> tuple[dict, list[torch.Tensor]]:
    """One frame from a binary file object (a job or request file, read to its end)."""
    def read_exact(n):
        b = f.read(n)
        if len(b) != n:
            raise WireError("truncated file")
        return b
    return read_frame(read_exact)


# --------------------------------------------------------------------------- passing descriptors
# Over a Unix stream socket, descriptors travel as ancillary data attached to one marker byte, so
# that they can never be confused with (or split across) the bytes of a frame.
FD_MARKER = b"F"
# The grader's one other message to the zygote, sent alone while an exercise process runs: end it.
# One that arrives after the process ended on its own is skipped (``recv_fds(skip=...)``).
STOP_MARKER = b"S"


def send_fds(sock, fds: list[int]) -> None:
    import socket

    socket.send_fds(sock, [FD_MARKER], fds)


def recv_fds(sock, n: int, skip: bytes = b"") -> list[int]:
    """The ``n`` descriptors of the next descriptor message; marker bytes in ``skip`` that come
    before it, alone, are read and dropped."""
    import socket

    data, fds, _, _ = socket.recv_fds(sock, 1, n)
    while data and data in skip and not fds:
        data, fds, _, _ = socket.recv_fds(sock, 1, n)
    if data != FD_MARKER or len(fds) != n:
        for fd in fds:
            os.close(fd)
        raise WireError("expected a descriptor message")
    return fds
