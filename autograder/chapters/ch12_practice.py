"""Chapter 12 — Practical knowledge: real checkpoints, formats and the capstone. The graded
exercises and their cases.

GPT-2 checkpoints are drawn by the grader itself, in ``transformers``' layout and names
(``gradelib.gpt2``, checked against ``GPT2LMHeadModel`` in the platform's tests), with every
tensor random: LayerNorm gains around 1 and biases of size ~0.3, so that a loader that drops a
bias or a norm changes the logits. The logits of the loaded model follow the dtype rule.

Weight files are read and written by the grader's own safetensors code (``gradelib.formats``,
checked against the package): a saved file is loaded into a fresh model by the grader, not by
the student's loader, and a loader gets a file the grader wrote. What is compared besides the
logits is exact: the number of tensors stored (a tied matrix once), the metadata, the tie after
loading, and the global random number generator's state, which a loader must leave as it was.
"""

from __future__ import annotations

import torch

from autograder.chapters import ch12_catalog as catalog
from autograder.gradelib.gpt2 import gpt2_shapes
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, missing_requirements
from reference.blocks import GPT
from reference.checkpoints import load_safetensors, save_safetensors
from reference.gpt2 import load_gpt2_weights

# =========================================================================== GPT-2 checkpoints
BASE = {"vocab_size": 29, "n_positions": 10, "n_embd": 16, "n_layer": 2, "n_head": 4}
GPT2_CONFIGS = [
    # (name, config overrides, (B, T), tags, public)
    ("GPT-2's defaults: gelu_new, tied head", {}, (2, 10), ("tied",), True),
    ("untied head", {"tie_word_embeddings": False}, (2, 7), ("untied",), True),
    ("n_inner = 24 (not 4·n_embd)", {"n_inner": 24}, (1, 10), ("n_inner",), False),
    ("exact GELU, layer_norm_epsilon 0.1", {"activation_function": "gelu",
                                            "layer_norm_epsilon": 0.1}, (2, 6),
     ("activation", "eps"), False),
    ("ReLU, 3 layers, 2 heads of 12, untied", {"activation_function": "relu", "n_layer": 3,
                                               "n_head": 2, "n_embd": 24,
                                               "tie_word_embeddings": False}, (2, 10),
     ("activation", "untied"), False),
    ("one position", {}, (3, 1), ("T = 1",), False),
]


def _checkpoint(c: Cell, config: dict) -> list[torch.Tensor]:
    """Random tensors in GPT-2's layout: projections ~1/sqrt(fan-in), embeddings ~0.5, gains
    1 ± 0.3, biases ~0.3 (Conv1D weights are (in, out): fan-in is their first axis)."""
    tensors = []
    for key, shape in gpt2_shapes(config).items():
        if key.endswith(("wte.weight", "wpe.weight", "lm_head.weight")):
            t = c.randn(*shape, scale=0.5)
        elif "ln_" in key and key.endswith(".weight"):
            t = c.randn(*shape, scale=0.3, shift=1.0)
        elif key.endswith(".bias"):
            t = c.randn(*shape, scale=0.3)
        else:
            t = c.randn(*shape, scale=shape[0] ** -0.5)
        tensors.append(t)
    return tensors


def gpt2_cases(b: CaseBuilder):
    def rows(c: Cell):
        for name, overrides, (B, T), tags, public in GPT2_CONFIGS:
            config = {**BASE, **overrides}
            idx = c.randint(0, config["vocab_size"], (B, T))
            c(f"{name}, ids {(B, T)}", *_checkpoint(c, config), config=config, idx=idx,
              n_outputs=2, tags=tags, public=public)
    return b.grid(rows)


# =========================================================================== safetensors
GPT_BASE = {"vocab_size": 20, "context_length": 8, "d_model": 16, "n_layers": 2, "n_heads": 4,
            "d_ff": 24}
FORMAT_CONFIGS = [
    # (name, config overrides, tags, public)
    ("the course GPT, tied head", {}, ("tied",), True),
    ("untied head", {"tie_embeddings": False}, ("untied",), True),
    ("GPT-2's options (LayerNorm, GELU, learned positions), tied",
     {"norm": "layer", "ffn": "gelu_tanh", "positions": "learned"}, ("tied", "GPT-2 options"),
     False),
]


FORMAT_NEEDS = ("safetensors",)


def format_cases(b: CaseBuilder):
    """No cases where safetensors is missing: the exercise is then "ungraded on this machine"."""
    if missing_requirements(FORMAT_NEEDS):
        return []

    def rows(c: Cell):
        for name, overrides, tags, public in FORMAT_CONFIGS:
            config = {**GPT_BASE, **overrides}
            params = list(c.module_state(GPT(**config), scale=2.0).values())
            idx = c.randint(0, config["vocab_size"], (2, config["context_length"]))
            c(name, *params, model_config=config, idx=idx, n_outputs=4, tags=tags,
              public=public)
    return b.grid(rows)


CHAPTER = Chapter(
    id="ch12",
    title="Practical knowledge: real checkpoints, formats and a capstone",
    notebook="ch12_practice/ch12_practice.py",
    exercises=[
        Exercise(id="ch12.load_gpt2_weights", name="load_gpt2_weights", points=3.0,
                 reference=load_gpt2_weights, cases=gpt2_cases, driver="drive_gpt2",
                 standins=("ch06.gpt",), mistakes=catalog.GPT2_MISTAKES),
        Exercise(id="ch12.save_safetensors", name="save_safetensors", points=1.5,
                 reference=save_safetensors, cases=format_cases,
                 driver="drive_save_safetensors", requires=FORMAT_NEEDS,
                 mistakes=catalog.SAVE_MISTAKES),
        Exercise(id="ch12.load_safetensors", name="load_safetensors", points=1.5,
                 reference=load_safetensors, cases=format_cases,
                 driver="drive_load_safetensors", standins=("ch06.gpt",),
                 requires=FORMAT_NEEDS, mistakes=catalog.LOAD_MISTAKES),
    ],
)
