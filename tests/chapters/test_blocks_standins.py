"""Chapter 6 grades each module exercise with PyTorch built-ins standing in for the earlier
exercises it calls (``gradelib.blocks``, tested there one by one), so that a student is never
charged twice for one bug. Here: the chapter declares a stand-in for every earlier exercise that an
exercise's solution calls, and for no later one, and a GPT built on the stand-ins, as the grader
builds them, computes what the reference GPT computes with the same parameters."""

import pytest
import torch

from autograder.chapters import get_chapter
from autograder.gradelib import blocks
from autograder.worker import with_standins
from reference import blocks as ref

CHAPTER = get_chapter("ch06")
CALLS = {  # exercise -> the earlier exercises its solution calls (through the ones it calls)
    "ch06.feed_forward": set(),  # Section 6.1: PyTorch's activations, before gelu and silu exist
    "ch06.swiglu": {"silu"},
    "ch06.transformer_block": {"gelu", "silu", "FeedForward", "SwiGLU"},
    "ch06.gpt": {"gelu", "silu", "FeedForward", "SwiGLU", "TransformerBlock"},
}


@pytest.mark.parametrize("ex_id", sorted(CALLS))
def test_every_earlier_exercise_called_has_a_standin(ex_id):
    assert set(CHAPTER.exercise(ex_id).standin_names) == CALLS[ex_id]


@pytest.mark.parametrize("ex_id", sorted(CALLS))
def test_standins_replace_earlier_exercises_only(ex_id):
    """A stand-in replaces an exercise the student has already written: its answer cell comes
    earlier in the notebook (the declaration follows the notebook's order)."""
    order = [ex.id for ex in CHAPTER.exercises]
    later = [key for key in CHAPTER.exercise(ex_id).standins
             if order.index(key) > order.index(ex_id)]
    assert not later, f"{ex_id} is graded with stand-ins for later exercises: {later}"


def test_gpt_on_the_standins_equals_the_reference():
    gen = torch.Generator().manual_seed(0)
    reference = ref.GPT(30, 8, 16, 2, 4, 24).double()
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / p.shape[-1] ** 0.5)
    graded = with_standins(ref.GPT, CHAPTER.exercise("ch06.gpt").standin_objects())
    model = graded(30, 8, 16, 2, 4, 24).double()
    assert isinstance(model.blocks[0], blocks.TransformerBlock)
    model.load_state_dict(reference.state_dict())
    idx = torch.randint(0, 30, (2, 7), generator=gen)
    torch.testing.assert_close(model(idx), reference(idx), rtol=1e-10, atol=1e-12)
