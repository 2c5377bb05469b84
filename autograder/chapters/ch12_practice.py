"""Chapter 12 — Practical knowledge: real checkpoints, formats and the capstone. The graded
exercises and their cases.

GPT-2 checkpoints are drawn by the grader itself, in ``transformers``' layout and names
(``gradelib.gpt2``, checked against ``GPT2LMHeadModel`` in the platform's tests), with every
tensor random: LayerNorm gains around 1 and biases of size ~0.3, so that a loader that drops a
bias or a norm changes the logits. The logits of the loaded model follow the dtype rule.
"""

from __future__ import annotations

import torch

from autograder.chapters import ch12_catalog as catalog
from autograder.gradelib.gpt2 import gpt2_shapes
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise
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


CHAPTER = Chapter(
    id="ch12",
    title="Practical knowledge: real checkpoints, formats and a capstone",
    notebook="ch12_practice/ch12_practice.py",
    exercises=[
        Exercise(id="ch12.load_gpt2_weights", name="load_gpt2_weights", points=3.0,
                 reference=load_gpt2_weights, cases=gpt2_cases, driver="drive_gpt2",
                 standins=("ch06.gpt",), mistakes=catalog.GPT2_MISTAKES),
    ],
)
