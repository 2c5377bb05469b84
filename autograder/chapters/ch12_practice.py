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
from autograder.gradelib.capstone import REPORT_PROBLEMS
from autograder.gradelib.gpt2 import gpt2_shapes
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Precision, missing_requirements
from reference.blocks import GPT
from reference.capstone import capstone
from reference.data import entropy_rate, markov_chain, sample_markov
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
              n_outputs=2, tags=tags, public=public,
              output_names=("logits", "the head is the embedding's Parameter"))
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


SAVE_OUTPUTS = ("logits of the model read back from your file", "tensors stored",
                "'llmcourse.model_config' holds the config", "'llmcourse.tied' records the tie")
LOAD_OUTPUTS = ("logits", "the head is the embedding's Parameter",
                "global RNG state unchanged by loading", "eval mode")


def format_cases(b: CaseBuilder, output_names=()):
    """No cases where safetensors is missing: the exercise is then "ungraded on this machine"."""
    if missing_requirements(FORMAT_NEEDS):
        return []

    def rows(c: Cell):
        for name, overrides, tags, public in FORMAT_CONFIGS:
            config = {**GPT_BASE, **overrides}
            params = list(c.module_state(GPT(**config), scale=2.0).values())
            idx = c.randint(0, config["vocab_size"], (2, config["context_length"]))
            c(name, *params, model_config=config, idx=idx, n_outputs=4, tags=tags,
              public=public, output_names=output_names)
    return b.grid(rows)


def save_cases(b: CaseBuilder):
    return format_cases(b, SAVE_OUTPUTS)


def load_cases(b: CaseBuilder):
    return format_cases(b, LOAD_OUTPUTS)


# =========================================================================== capstone
CAPSTONE_MARGIN = 0.15  # nats above the entropy floor that the held-out loss may be
# the call may take this many budgets: a planned run slows when a neighbour starts working (in
# CI's test run, notebooks and graders run beside it); a run that ignores its budget takes far more
TIME_FACTOR = 3.0


def _loss_near_floor(outputs, case):
    loss, floor = float(outputs[0]), case.kwargs["floor"]
    if not loss <= floor + CAPSTONE_MARGIN:
        return (f"the held-out loss is {loss:.3f} nats, {loss - floor:.3f} above the source's "
                f"entropy floor {floor:.3f} (at most {CAPSTONE_MARGIN} is needed): train longer "
                "within the budget, or with a better learning rate or model size")
    return None


def _within_budget(outputs, case):
    seconds, budget = float(outputs[1]), case.kwargs["budget_seconds"]
    if not seconds <= TIME_FACTOR * budget:
        return (f"the run took {seconds:.1f} s for a budget of {budget:g} s (at most "
                f"{TIME_FACTOR:g}× is accepted): plan the number of steps from a measured step "
                "time, and leave time for evaluation and sampling")
    return None


def _cache_agrees(outputs, case):
    if int(outputs[2]) != 1:
        return ("greedy decoding with the key/value cache differs from decoding without it (or "
                "the model has no make_cache): return the course GPT")
    return None


def _report_check(code: int):
    """The check that the report has no problem of this code (one check per kind of problem, so
    that feedback can tell an incomplete history from a list of samples)."""
    def check(outputs, case):
        return REPORT_PROBLEMS[code] if int(outputs[3]) == code else None
    check.__name__ = f"report_problem_{code}"
    return check


# the loss before the time: a run that learns too little is named for that, however busy the machine
CAPSTONE_CHECKS = (*map(_report_check, sorted(REPORT_PROBLEMS)), _loss_near_floor, _within_budget,
                   _cache_agrees)


def capstone_cases(b: CaseBuilder):
    """One measured run, small enough for a self-check: a Markov source the grader draws (8
    symbols, order 1), 100 000 training and 10 000 validation tokens for the student, 16 385
    held-out tokens for the grader, a budget of 8 s (the reference needs 6 to 7 s and ends
    0.001 to 0.03 nats above the floor, also with the other core busy)."""
    def rows(c: Cell):
        seed = int(c.randint(0, 2**31 - 1, ()))
        probs = markov_chain(8, 1, seed=seed)
        gen = torch.Generator().manual_seed(seed)
        train, val, held = (sample_markov(probs, n, generator=gen)
                            for n in (100_000, 10_000, 16_385))
        c("8 symbols, order 1, a budget of 8 s", train, val, held, budget_seconds=8.0,
          floor=entropy_rate(probs), n_outputs=4, compared=(), checks=CAPSTONE_CHECKS,
          public=True, output_names=("held-out loss", "seconds", "cache agrees",
                                     "report status"))
    return b.default_grid(rows)


CHAPTER = Chapter(
    id="ch12",
    title="Practical knowledge: real checkpoints, formats and a capstone",
    notebook="ch12_practice/ch12_practice.py",
    exercises=[
        Exercise(id="ch12.load_gpt2_weights", name="load_gpt2_weights", points=3.0,
                 reference=load_gpt2_weights, cases=gpt2_cases, driver="drive_gpt2",
                 standins=("ch06.gpt",), mistakes=catalog.GPT2_MISTAKES),
        Exercise(id="ch12.save_safetensors", name="save_safetensors", points=1.5,
                 reference=save_safetensors, cases=save_cases,
                 driver="drive_save_safetensors", requires=FORMAT_NEEDS,
                 mistakes=catalog.SAVE_MISTAKES),
        Exercise(id="ch12.load_safetensors", name="load_safetensors", points=1.5,
                 reference=load_safetensors, cases=load_cases,
                 driver="drive_load_safetensors", standins=("ch06.gpt",),
                 requires=FORMAT_NEEDS, mistakes=catalog.LOAD_MISTAKES),
        Exercise(id="ch12.capstone", name="capstone", points=4.0, reference=capstone,
                 cases=capstone_cases, driver="drive_capstone", measured_once=True,
                 standins=("ch06.gpt", "ch09.TrainConfig", "ch09.train", "ch10.generate"),
                 precision=Precision.DEFAULT_FLOAT32, timeout_floor_s=60.0,
                 mistakes=catalog.CAPSTONE_MISTAKES),
    ],
)
