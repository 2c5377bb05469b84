"""Chapter 12's GPT-2 checkpoints: the tensor names of ``transformers``' ``GPT2LMHeadModel``, a
configuration object with ``GPT2Config``'s attribute names, and the driver that loads a
checkpoint with the student's loader and runs the result.

The names and their order are those of ``GPT2LMHeadModel(config).state_dict()`` (checked against
``transformers`` in tests/harness/test_gradelib_gpt2.py), so the grader needs no ``transformers``
to build a checkpoint: it draws every tensor itself, LayerNorm gains and biases included (a fresh
``GPT2LMHeadModel`` has gains 1 and biases 0, where a loader that drops them goes unnoticed).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from .registry import driver

# one block's tensors (Conv1D weights are (in, out)), after "transformer.h.{i}."
BLOCK_KEYS = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
              "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
              "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")

# GPT2Config's defaults for the fields a configuration may leave out
CONFIG_DEFAULTS = {"n_inner": None, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
                   "tie_word_embeddings": True}


def gpt2_keys(n_layer: int, tied: bool = True) -> list[str]:
    """The names of a GPT-2 checkpoint's tensors, in ``state_dict()`` order; ``lm_head.weight``
    only for an untied head (a tied one is ``transformer.wte.weight`` under a second name)."""
    keys = ["transformer.wte.weight", "transformer.wpe.weight"]
    keys += [f"transformer.h.{i}.{k}" for i in range(n_layer) for k in BLOCK_KEYS]
    keys += ["transformer.ln_f.weight", "transformer.ln_f.bias"]
    return keys + ([] if tied else ["lm_head.weight"])


def gpt2_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor :func:`gpt2_keys` names, for a configuration dict."""
    c = {**CONFIG_DEFAULTS, **config}
    V, P, D, L = c["vocab_size"], c["n_positions"], c["n_embd"], c["n_layer"]
    F = c["n_inner"] if c["n_inner"] is not None else 4 * D
    block = {"ln_1.weight": (D,), "ln_1.bias": (D,), "attn.c_attn.weight": (D, 3 * D),
             "attn.c_attn.bias": (3 * D,), "attn.c_proj.weight": (D, D), "attn.c_proj.bias": (D,),
             "ln_2.weight": (D,), "ln_2.bias": (D,), "mlp.c_fc.weight": (D, F),
             "mlp.c_fc.bias": (F,), "mlp.c_proj.weight": (F, D), "mlp.c_proj.bias": (D,)}
    shapes = {"transformer.wte.weight": (V, D), "transformer.wpe.weight": (P, D)}
    shapes |= {f"transformer.h.{i}.{k}": s for i in range(L) for k, s in block.items()}
    shapes |= {"transformer.ln_f.weight": (D,), "transformer.ln_f.bias": (D,),
               "lm_head.weight": (V, D)}
    return {k: shapes[k] for k in gpt2_keys(L, c["tie_word_embeddings"])}


def gpt2_config(config: dict) -> SimpleNamespace:
    """An object with ``GPT2Config``'s attribute names (what a loader reads), defaults filled."""
    return SimpleNamespace(**{**CONFIG_DEFAULTS, **config})


@driver
def drive_gpt2(fn, *tensors, config, idx):
    """``fn(state_dict, config)``, with GPT-2's names on ``tensors`` (:func:`gpt2_keys` order;
    a tied head shares the embedding's tensor, as in ``GPT2LMHeadModel.state_dict()``), must
    return the course GPT. It is cast to the checkpoint's dtype and run on ``idx``. Returns the
    logits (B, T, V) and whether the head is the embedding's Parameter (a 0-dim int64)."""
    c = gpt2_config(config)
    state_dict = dict(zip(gpt2_keys(c.n_layer, c.tie_word_embeddings), tensors))
    if c.tie_word_embeddings:
        state_dict["lm_head.weight"] = state_dict["transformer.wte.weight"]
    model = fn(state_dict, c)
    if not isinstance(model, nn.Module):
        raise TypeError(f"return the course GPT (an nn.Module), got {type(model).__name__}")
    model = model.to(device=idx.device, dtype=tensors[0].dtype).eval()
    with torch.no_grad():
        logits = model(idx)
    head, emb = (getattr(getattr(model, name, None), "weight", None)
                 for name in ("lm_head", "tok_emb"))
    return logits, torch.tensor(int(head is not None and head is emb), device=idx.device)
