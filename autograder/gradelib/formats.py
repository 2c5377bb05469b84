"""Chapter 12's weight files: the safetensors format read and written with the standard library and
torch alone (so the grader depends on no package to check a file), and the drivers of the save
and load exercises.

The layout (checked against the ``safetensors`` package in tests/harness/test_gradelib_formats.py):
an unsigned 64-bit little-endian N, then N bytes of JSON, {name: {"dtype": "F32", "shape": [...],
"data_offsets": [begin, end]}, "__metadata__": {str: str}}, padded with spaces to a multiple of 8
bytes, then the tensors' little-endian bytes, row-major, at those offsets (counted from the end of
the header). The course's metadata keys: "llmcourse.model_config" (the JSON of GPT's keyword
arguments) and "llmcourse.tied" (the JSON of {alias: stored name}).
"""

from __future__ import annotations

import io
import json
import struct

import torch
from torch import nn

from .blocks import GPT
from .registry import driver

CODES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
         torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
         torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}
DTYPES = {code: dtype for dtype, code in CODES.items()}
CONFIG_KEY, TIED_KEY = "llmcourse.model_config", "llmcourse.tied"


def write_safetensors(tensors: dict, metadata: dict | None = None) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` ({name: tensor}), in that order."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        raw = (t.view(torch.int16) if t.dtype in (torch.bfloat16, torch.float16) else t).numpy()
        chunk = raw.tobytes()
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def read_safetensors(data: bytes) -> tuple[dict, dict]:
    """(tensors, metadata) of the bytes of a safetensors file; ValueError if they are not one."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n].decode("utf-8"))
        if n > len(data) - 8 or not isinstance(header, dict):
            raise ValueError("truncated header")
        metadata = header.pop("__metadata__", None) or {}
        body = memoryview(data)[8 + n:]
        tensors = {}
        for name, entry in header.items():
            begin, end = entry["data_offsets"]
            dtype, shape = DTYPES[entry["dtype"]], entry["shape"]
            chunk = bytearray(body[begin:end])
            flat = (torch.frombuffer(chunk, dtype=dtype) if chunk
                    else torch.empty(0, dtype=dtype))
            tensors[name] = flat.reshape(shape)
        return tensors, metadata
    except (struct.error, UnicodeDecodeError, KeyError, TypeError, ValueError,
            RuntimeError) as e:
        raise ValueError(f"not a safetensors file ({type(e).__name__}: {e})") from e


def _model(model_config: dict, params) -> nn.Module:
    """The GPT (stand-in) of ``model_config`` holding ``params``, in ``named_parameters()`` order
    (a tied matrix once), in their dtype. Its random initialisation draws nothing from the global
    generator that the caller can see."""
    with torch.random.fork_rng(devices=[]):
        model = GPT(**model_config).to(params[0].dtype)
    with torch.no_grad():
        for p, value in zip(model.parameters(), params, strict=True):
            p.copy_(value)
    return model.eval()


def _tied(model) -> dict:
    first, tied = {}, {}
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) in first:
            tied[name] = first[id(t)]
        else:
            first[id(t)] = name
    return tied


def _flag(value: bool, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(int(value), device=like.device)


@driver
def drive_save_safetensors(fn, *params, model_config, idx):
    """``fn(model, file, model_config)`` writes the GPT holding ``params`` to an in-memory file.
    The file is read back by this module (not by the student's loader) into a fresh GPT, run on
    ``idx``. Returns (logits, the number of tensors stored, whether the metadata's model_config
    is ``model_config``, whether its tie record names the model's ties)."""
    model = _model(model_config, params)
    tied = _tied(model)
    buffer = io.BytesIO()
    fn(model, buffer, model_config)
    tensors, metadata = read_safetensors(buffer.getvalue())
    try:
        config_ok = json.loads(metadata.get(CONFIG_KEY, "null")) == model_config
        tied_ok = json.loads(metadata.get(TIED_KEY, "null")) == tied
    except ValueError:
        config_ok = tied_ok = False
    rebuilt = _model(model_config, params)  # the same ties; every tensor replaced from the file
    wanted = [name for name in rebuilt.state_dict() if name not in tied]
    missing = [name for name in wanted if name not in tensors]
    if missing:
        raise ValueError(f"the file holds no tensor {missing[0]!r} (it holds "
                         f"{', '.join(tensors) or 'none'})")
    rebuilt.load_state_dict({name: tensors[name] for name in wanted}, strict=False)
    with torch.no_grad():
        logits = rebuilt(idx)
    return (logits, torch.tensor(len(tensors), device=idx.device), _flag(config_ok, idx),
            _flag(tied_ok, idx))


@driver
def drive_load_safetensors(fn, *params, model_config, idx):
    """The GPT holding ``params``, written by this module (the course's layout and metadata) to
    an in-memory file; ``fn(file)`` must return that model. Returns (its logits on ``idx``,
    whether its head is its embedding's Parameter, whether the global RNG state is what it was
    before the call, whether the model is in eval mode)."""
    model = _model(model_config, params)
    tied = _tied(model)
    data = write_safetensors({n: t for n, t in model.state_dict().items() if n not in tied},
                             {"format": "pt", CONFIG_KEY: json.dumps(model_config),
                              TIED_KEY: json.dumps(tied)})
    before = torch.get_rng_state()
    loaded = fn(io.BytesIO(data))
    rng_kept = torch.equal(before, torch.get_rng_state())
    if not isinstance(loaded, nn.Module):
        raise TypeError(f"return the GPT (an nn.Module), got {type(loaded).__name__}")
    with torch.no_grad():
        logits = loaded(idx)
    head, emb = (getattr(getattr(loaded, name, None), "weight", None)
                 for name in ("lm_head", "tok_emb"))
    return (logits, _flag(head is not None and head is emb, idx), _flag(rng_kept, idx),
            _flag(not loaded.training, idx))
