"""The built-in stand-ins that the Chapter 6 grader substitutes for earlier exercises (FeedForward,
SwiGLU, TransformerBlock written as single expressions over torch/F) compute what the reference
computes, with the reference's parameter names, so a student is never charged for them."""

import math

import pytest
import torch

from autograder.chapters import ch06_blocks as ch
from autograder.worker import make_substitute
from reference.blocks import FeedForward, SwiGLU, TransformerBlock


def _same_params_and_outputs(ref, standin, x):
    ref_names = dict(ref.named_parameters())
    assert set(dict(standin.named_parameters())) == set(ref_names)
    standin.load_state_dict(ref.state_dict())
    torch.testing.assert_close(standin(x), ref(x), rtol=1e-10, atol=1e-12)


def _random(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / math.sqrt(p.shape[-1]))
    return module


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh", "silu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_feed_forward_standin(activation, bias):
    ref = _random(FeedForward(8, 12, activation, bias).double())
    standin = make_substitute(ch.BUILTIN_FEED_FORWARD)(8, 12, activation=activation, bias=bias).double()
    _same_params_and_outputs(ref, standin, torch.randn(2, 3, 8, dtype=torch.float64))


def test_swiglu_standin():
    ref = _random(SwiGLU(8, 20).double())
    standin = make_substitute(ch.BUILTIN_SWIGLU)(8, 20).double()
    _same_params_and_outputs(ref, standin, torch.randn(2, 3, 8, dtype=torch.float64))


@pytest.mark.parametrize("kwargs", [{}, {"norm": "layer", "ffn": "gelu"}, {"rope": False, "ffn": "relu"},
                                    {"rope_base": 100.0, "ffn": "silu"}], ids=str)
def test_transformer_block_standin(kwargs):
    ref = _random(TransformerBlock(16, 4, 24, **kwargs).double())
    standin = make_substitute(ch.BUILTIN_TRANSFORMER_BLOCK)(16, 4, 24, **kwargs).double()
    _same_params_and_outputs(ref, standin, torch.randn(2, 6, 16, dtype=torch.float64))


def test_activation_standins():
    x = torch.randn(50, dtype=torch.float64)
    from reference.blocks import gelu, silu

    torch.testing.assert_close(make_substitute(ch.BUILTIN_GELU)(x, approximate="tanh"), gelu(x, "tanh"))
    torch.testing.assert_close(make_substitute(ch.BUILTIN_GELU)(x), gelu(x))
    torch.testing.assert_close(make_substitute(ch.BUILTIN_SILU)(x), silu(x))
