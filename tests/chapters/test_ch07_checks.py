"""Chapter 7's graders beyond value comparison: the Performer's statistical properties are judged
whatever random numbers the student draws (and a biased estimator fails them with a message), its
memory is measured (an L × S kernel matrix fails), and FlashAttentionFunction is graded with
stand-ins for the student's forward and backward passes, so a bug there costs those exercises
only."""

from __future__ import annotations

import inspect
import sys
import types

from autograder.chapters import get_chapter
from reference.efficiency import performer_attention
from reference.flash import FlashAttentionFunction

CH07 = get_chapter("ch07")
NO_INPUT_SCALING = next(m for m in CH07.exercise("performer_attention").mistakes
                        if m.key == "no_input_scaling")


def test_performer_with_other_random_draws_passes_the_statistical_cases(grade_inprocess):
    def other_draws(q, k, v, n_features, generator):
        generator.manual_seed(generator.initial_seed() + 12345)  # different ω, same estimator
        return performer_attention(q, k, v, n_features, generator)

    for tag in ("error vs features", "many features"):
        result = grade_inprocess("ch07.performer_attention", other_draws, tag)
        assert result.passed, (tag, result.messages)


def test_a_biased_performer_fails_the_error_shrinks_check(grade_inprocess):
    result = grade_inprocess("ch07.performer_attention", NO_INPUT_SCALING.impl,
                             "error vs features")
    assert result.points == 0
    assert any("does not shrink as the number of features grows" in m for m in result.messages), \
        result.messages


BROKEN = """
import torch

def flash_attention_forward(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    return torch.zeros_like(q), torch.zeros(q.shape[:-1])  # broken on purpose

def flash_attention_backward(*args, **kwargs):
    raise NotImplementedError
"""


def test_flash_function_is_graded_with_stand_ins_for_forward_and_backward(grade_inprocess):
    module = types.ModuleType("student_flash_function")
    sys.modules[module.__name__] = module
    try:
        # the reference's class, calling the broken passes above by name, as a student's would
        source = BROKEN + inspect.getsource(FlashAttentionFunction)
        exec(compile(source, "<answer>", "exec"), module.__dict__)  # noqa: S102 - test input
        result = grade_inprocess("ch07.flash_attention_function", module.FlashAttentionFunction)
    finally:
        del sys.modules[module.__name__]
    assert result.passed and result.points == CH07.exercise("FlashAttentionFunction").points, \
        result.messages


KERNEL_MATRIX = next(m for m in CH07.exercise("performer_attention").mistakes
                     if m.key == "kernel_matrix")


def test_a_quadratic_performer_loses_the_points_naming_the_l_by_s_matrix(grade_inprocess):
    """Its values are right: only the measured largest tensor (64 × 64 per head) fails it."""
    result = grade_inprocess("ch07.performer_attention", KERNEL_MATRIX.impl, "linear memory")
    assert result.points == 0
    text = "\n".join(result.messages)
    assert "64 × 64" in text and "the L × S matrix φ(q) φ(k)ᵀ" in text, text
    assert grade_inprocess("ch07.performer_attention", performer_attention, "linear memory").passed
