"""The worker→grader channel carries plain tensors only, with every field checked."""

from __future__ import annotations

import io
import json
import os
import struct

import pytest
import torch

from autograder import wire


def _roundtrip(header, tensors):
    buf = io.BytesIO(wire.encode(header, tensors))
    return wire.read_frame(lambda n: buf.read(n))


@pytest.mark.parametrize("dtype", list(wire.DTYPES.values()), ids=list(wire.DTYPES))
def test_roundtrip_every_dtype(dtype):
    t = (torch.randn(3, 4) * 10).to(dtype)
    header, [back] = _roundtrip({"event": "case"}, [t])
    assert header == {"event": "case"}
    assert back.dtype == dtype and torch.equal(back, t)


def test_non_contiguous_and_empty_tensors():
    t = torch.arange(12.0).reshape(3, 4).t()
    _, [a, b] = _roundtrip({}, [t, torch.empty(0, 5)])
    assert torch.equal(a, t) and b.shape == (0, 5)


def test_subclass_is_refused_on_send():
    class Liar(torch.Tensor):
        pass

    with pytest.raises(wire.WireError, match="plain torch.Tensor"):
        wire.encode({}, [torch.zeros(2).as_subclass(Liar)])


def _frame(header: dict, payload: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return struct.pack(">Q", len(body)) + body + payload


@pytest.mark.parametrize("header,match", [
    ({"tensors": [{"dtype": "object", "shape": [1]}]}, "dtype not allowed"),
    ({"tensors": [{"dtype": "float32", "shape": [-1]}]}, "bad shape"),
    ({"tensors": [{"dtype": "float32", "shape": [1.5]}]}, "bad shape"),
    ({"tensors": [{"dtype": "float32", "shape": [1] * 9}]}, "bad shape"),
    ({"tensors": [{"dtype": "float32", "shape": [1 << 20, 1 << 20]}]}, "exceeds"),
    ({"tensors": [{"dtype": "float32", "shape": [1], "pickle": "x"}]}, "malformed"),
], ids=["dtype", "negative", "float-dim", "ndim", "size-cap", "extra-field"])
def test_malformed_tensor_headers_are_refused(header, match):
    buf = io.BytesIO(_frame(header, b"\0" * 64))
    with pytest.raises(wire.WireError, match=match):
        wire.read_frame(lambda n: buf.read(n))


def test_oversized_header_is_refused_before_reading_it():
    buf = io.BytesIO(struct.pack(">Q", wire.MAX_HEADER_BYTES + 1))
    with pytest.raises(wire.WireError, match="header"):
        wire.read_frame(lambda n: buf.read(n))


def test_header_must_be_a_json_object():
    for body in (b"[1, 2]", b"not json"):
        buf = io.BytesIO(struct.pack(">Q", len(body)) + body)
        with pytest.raises(wire.WireError):
            wire.read_frame(lambda n: buf.read(n))


def test_descriptors_pass_and_a_late_stop_marker_is_skipped(tmp_path):
    """A stop request that reaches the zygote after its exercise process ended on its own comes
    before the next descriptor message: it is skipped, the descriptors still arrive; anything
    else in their place is refused."""
    import socket

    a, b = socket.socketpair()
    with a, b, open(tmp_path / "f", "w") as fh:
        b.sendall(wire.STOP_MARKER)
        wire.send_fds(b, [fh.fileno(), fh.fileno()])
        fds = wire.recv_fds(a, 2, skip=wire.STOP_MARKER)
        assert len(fds) == 2 and all(os.fstat(fd).st_ino == os.fstat(fh.fileno()).st_ino
                                     for fd in fds)
        for fd in fds:
            os.close(fd)
        b.sendall(wire.STOP_MARKER)
        with pytest.raises(wire.WireError, match="descriptor message"):
            wire.recv_fds(a, 2)  # without skip, the marker is not a descriptor message
