"""Chapter 12, Formats: a trained GPT in a safetensors file, with the constructor arguments that
rebuild it.

Why safetensors rather than ``torch.save``'s pickle:

* **Loading runs no code.** A pickle is a program for a small stack machine, and unpickling a
  file can call any importable function with any arguments; ``torch.load(weights_only=True)``
  restricts the unpickler to an allow-list, but the format remains a program. A safetensors file
  is only data: a header and the tensors' bytes.
* **The header is JSON.** The file starts with n, a little-endian unsigned 64-bit integer, then n
  bytes of UTF-8 JSON: for every tensor its dtype ("F32", "BF16", ...), shape and the byte range
  of its data, plus a "__metadata__" dict of string -> string. Then come the tensors' bytes,
  row-major (C order), each in one contiguous range. :func:`read_header` reads it in four lines.
* **Zero-copy memory mapping.** Since every tensor's offsets are in the header, a reader can map
  the file and view any tensor in place (or read just the tensors it needs), without parsing or
  copying the rest.
* **Tensors must not share memory.** Each name owns its own byte range, so a file cannot say that
  two names are one tensor; ``safetensors.torch.save`` refuses tensors that overlap in memory
  rather than silently writing a tied matrix twice (and loading it back untied). A tied tensor is
  therefore stored once, and the tie recorded in the metadata.

Conventions, stated once:

* Metadata, all strings: "format" = "pt" (the usual marker of PyTorch tensors),
  "llmcourse.model_config" = the JSON of the keyword arguments of ``reference.blocks.GPT``, and
  "llmcourse.tied" = the JSON of {alias: name}: every name of ``state_dict()`` whose tensor is the
  same Parameter as an earlier name's (with ``tie_embeddings``, {"lm_head.weight":
  "tok_emb.weight"}). Only the first name of a tied tensor, in ``state_dict()`` order, is stored.
* Tensor names are the model's ``state_dict()`` names; each tensor is written from the CPU,
  contiguous, in the dtype the model holds (bfloat16 stays bfloat16), so a round trip is exact.
* :func:`load_safetensors` returns ``GPT(**model_config)`` in eval mode, its ties restored (the
  alias *is* the same Parameter again, not a copy), and leaves the global RNG untouched: the model
  is built on the meta device, where no initial weights are computed, and the file's tensors
  become its parameters (``load_state_dict(assign=True)``).

Shape:
    every tensor is stored with the shape it has in the model, e.g. "tok_emb.weight": (V, D),
    "blocks.0.attn.q_proj.weight": (D, D)
"""

from __future__ import annotations

import json
import os
import struct

import torch

from reference.blocks import GPT
from reference.train import open_for_writing

CONFIG_KEY = "llmcourse.model_config"
TIED_KEY = "llmcourse.tied"


def read_header(data: bytes) -> dict:
    """The JSON header of the safetensors file whose bytes are ``data`` (the layout in the module
    docstring): {name: {"dtype", "shape", "data_offsets"}, ..., "__metadata__": {...}}."""
    (n,) = struct.unpack("<Q", data[:8])  # little-endian unsigned 64-bit header length
    if n > len(data) - 8:
        raise ValueError(f"header of {n} bytes in a file of {len(data)}")
    return json.loads(data[8:8 + n].decode("utf-8"))


def tied_names(model) -> dict:
    """{alias: name} for every ``state_dict()`` name whose tensor is the same object as an
    earlier name's; e.g. {"lm_head.weight": "tok_emb.weight"} for a GPT with tied embeddings."""
    first, tied = {}, {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in first:
            tied[name] = first[id(tensor)]
        else:
            first[id(tensor)] = name
    return tied


def _empty_gpt(model_config):
    """``GPT(**model_config)`` without its random initial weights: built on the meta device, where
    tensors have shapes and dtypes but no data, so nothing is computed and no random number drawn.

    A buffer left out of the state dict (``persistent=False``: computed at construction, never
    saved) would stay without data; a model holding one is built on the CPU instead, with the
    global RNG state restored afterwards."""
    try:
        with torch.device("meta"):
            model = GPT(**model_config)
    except TypeError as e:  # an argument this GPT does not have
        raise ValueError(f"model_config {model_config!r} does not fit reference.blocks.GPT: "
                         f"{e}") from e
    if {name for name, _ in model.named_buffers()} <= model.state_dict().keys():
        return model
    with torch.random.fork_rng(devices=[]):
        return GPT(**model_config)


def _check_layout(want, got, what):
    """ValueError unless ``got`` has exactly the names of ``want``, each with its shape;
    ``want`` and ``got``: {name: tensor}."""
    missing = sorted(want.keys() - got.keys())
    unexpected = sorted(got.keys() - want.keys())
    shapes = [f"{k}: {tuple(got[k].shape)} where {tuple(want[k].shape)} is needed"
              for k in want.keys() & got.keys() if got[k].shape != want[k].shape]
    problems = ([f"missing {missing}"] if missing else []) + (
        [f"unexpected {unexpected}"] if unexpected else []) + sorted(shapes)
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))


def save_safetensors(model, file, model_config):
    """Write ``model``'s weights to ``file`` in the safetensors format, with ``model_config``
    (the keyword arguments of ``reference.blocks.GPT`` that build it; plain JSON values) in the
    metadata, so that :func:`load_safetensors` rebuilds the model (conventions in the module
    docstring).

    ``file``: a path (str or os.PathLike), written atomically: a temporary file next to it
    replaces it only once complete; or a writable binary file object, written at its position.
    Raises ValueError if ``model_config`` is not JSON or does not build a GPT with ``model``'s
    tensor names, shapes and ties.
    """
    try:
        config_json = json.dumps(model_config, sort_keys=True)
    except TypeError as e:
        raise ValueError(f"model_config must hold plain JSON values: {e}") from e
    state = model.state_dict()
    empty = _empty_gpt(model_config)
    _check_layout(empty.state_dict(), state, "model_config does not describe this model")
    tied = tied_names(model)
    if tied != tied_names(empty):
        raise ValueError(f"model ties {tied}, GPT(**model_config) ties {tied_names(empty)}")
    tensors = {name: t.detach().to("cpu").contiguous()
               for name, t in state.items() if name not in tied}
    metadata = {"format": "pt", CONFIG_KEY: config_json, TIED_KEY: json.dumps(tied)}
    import safetensors.torch  # the optional extra "practice": imported where it is used

    data = safetensors.torch.save(tensors, metadata=metadata)  # raises on shared memory
    with open_for_writing(file) as f:
        f.write(data)


def _is_path(file):
    return isinstance(file, (str, os.PathLike))


def _read(file):
    """(tensors, metadata) of a safetensors file: a path (memory-mapped) or a binary file
    object (read whole)."""
    import safetensors  # the optional extra "practice": imported where it is used
    import safetensors.torch

    try:
        if _is_path(file):
            with safetensors.safe_open(os.fspath(file), framework="pt") as f:
                return {name: f.get_tensor(name) for name in f.keys()}, f.metadata() or {}
        data = file.read()
        return safetensors.torch.load(data), read_header(data).get("__metadata__") or {}
    except (safetensors.SafetensorError, ValueError, struct.error) as e:
        # UnicodeDecodeError and json's errors are ValueErrors
        raise ValueError(f"{_name(file)}: not a safetensors file ({e})") from e


def _name(file):
    """How error messages call ``file``."""
    return os.fspath(file) if _is_path(file) else "the file object"


def load_safetensors(file, device="cpu"):
    """The GPT that :func:`save_safetensors` wrote to ``file`` (a path, or a readable binary file
    object read from its position), with its weights and dtypes, its ties restored, in eval mode,
    on ``device``. The global RNG state is left as it was.

    Raises ValueError for a file that is not safetensors, one without our "llmcourse.model_config"
    metadata, and one whose tensors (names, shapes, ties) are not those of that model.
    """
    tensors, metadata = _read(file)
    where = _name(file)
    if CONFIG_KEY not in metadata:
        raise ValueError(f"{where}: a safetensors file without {CONFIG_KEY!r} in its metadata: "
                         "not written by reference.checkpoints.save_safetensors")
    try:
        model_config = json.loads(metadata[CONFIG_KEY])
        tied = json.loads(metadata.get(TIED_KEY, "{}"))
    except ValueError as e:
        raise ValueError(f"{where}: metadata that is not JSON ({e})") from e
    if not isinstance(model_config, dict) or not isinstance(tied, dict):
        raise ValueError(f"{where}: {CONFIG_KEY} and {TIED_KEY} must be JSON objects")
    model = _empty_gpt(model_config)
    if tied != tied_names(model):
        raise ValueError(f"{where}: the file ties {tied}, GPT(**model_config) ties "
                         f"{tied_names(model)}")
    _check_layout({n: t for n, t in model.state_dict().items() if n not in tied}, tensors,
                  f"{where}: tensors that do not fit GPT(**{model_config})")
    state = {**tensors, **{alias: tensors[name] for alias, name in tied.items()}}
    model.load_state_dict(state, assign=True)  # the file's tensors, dtypes included, become it
    for alias, name in tied.items():  # assign gave the alias a Parameter of its own: tie it again
        module, _, attr = alias.rpartition(".")
        setattr(model.get_submodule(module), attr, model.get_parameter(name))
    return model.to(device).eval()
