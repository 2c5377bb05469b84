"""gradelib.blocks, .constructions, .calls (drive_count) and .rope: Chapter 6's stand-ins compute what the
reference computes (float64), with the reference's parameter names, also as the worker wraps them;
its drivers give the expected values on reference targets, report the dtype and layout of built
weights and whether a call refused, and refuse what they must."""

import math

import pytest
import torch

from autograder import gradelib
from autograder.gradelib import blocks, calls, constructions, rope
from autograder.worker import make_substitute
from reference import blocks as ref
from reference.positional import apply_rope, rope_cache

F64 = torch.float64


def _random(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / math.sqrt(p.shape[-1]))
    return module


def _same_params_and_outputs(reference, standin, x):
    assert set(dict(standin.named_parameters())) == set(dict(reference.named_parameters()))
    standin.load_state_dict(reference.state_dict())
    torch.testing.assert_close(standin(x), reference(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("base", [10000.0, 100.0])
@pytest.mark.parametrize("dtype", [F64, torch.float32, torch.bfloat16], ids=str)
def test_rope_equals_the_reference_to_the_bit(dtype, base):
    x = torch.randn(2, 3, 7, 8, dtype=F64).to(dtype)
    assert torch.equal(rope.apply_rope(x, base), apply_rope(x, base=base))
    for got, want in zip(rope.rope_cache(7, 8, base, dtype=dtype),
                         rope_cache(7, 8, base, dtype=dtype), strict=True):
        assert torch.equal(got, want)


def test_activation_standins():
    x = torch.randn(50, dtype=F64)
    for wrap in (lambda f: f, make_substitute):
        torch.testing.assert_close(wrap(blocks.gelu)(x, approximate="tanh"), ref.gelu(x, "tanh"))
        torch.testing.assert_close(wrap(blocks.gelu)(x), ref.gelu(x))
        torch.testing.assert_close(wrap(blocks.silu)(x), ref.silu(x))


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh", "silu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_feed_forward_standin(activation, bias):
    reference = _random(ref.FeedForward(8, 12, activation, bias).double())
    standin = make_substitute(blocks.FeedForward)(8, 12, activation=activation, bias=bias)
    _same_params_and_outputs(reference, standin.double(), torch.randn(2, 3, 8, dtype=F64))


def test_swiglu_standin():
    reference = _random(ref.SwiGLU(8, 20).double())
    standin = make_substitute(blocks.SwiGLU)(8, 20).double()
    _same_params_and_outputs(reference, standin, torch.randn(2, 3, 8, dtype=F64))


@pytest.mark.parametrize("kwargs", [{}, {"norm": "layer", "ffn": "gelu"},
                                    {"rope": False, "ffn": "relu"},
                                    {"rope_base": 100.0, "ffn": "silu"}], ids=str)
def test_transformer_block_standin(kwargs):
    reference = _random(ref.TransformerBlock(16, 4, 24, **kwargs).double())
    standin = make_substitute(blocks.TransformerBlock)(16, 4, 24, **kwargs).double()
    _same_params_and_outputs(reference, standin, torch.randn(2, 6, 16, dtype=F64))


def test_standins_are_registered_under_the_names_they_replace():
    names = {key: gradelib.STANDINS[key].__name__ for key in gradelib.STANDINS
             if key.startswith("ch06.")}
    assert names == {"ch06.gelu": "gelu", "ch06.silu": "silu", "ch06.feed_forward": "FeedForward",
                     "ch06.swiglu": "SwiGLU", "ch06.transformer_block": "TransformerBlock",
                     "ch06.gpt": "GPT"}


@pytest.mark.parametrize("kwargs", [{}, {"tie_embeddings": False},
                                    {"norm": "layer", "ffn": "gelu_tanh", "positions": "learned"},
                                    {"norm": "layer", "ffn": "relu", "positions": "learned",
                                     "norm_eps": 0.1, "tie_embeddings": False},
                                    {"norm_eps": 1e-2, "ffn": "silu"}], ids=str)
def test_gpt_standin(kwargs):
    """The GPT stand-in (Chapter 12's loader builds one) has the reference's parameters, ties and
    options, and computes its logits."""
    reference = _random(ref.GPT(30, 8, 16, 2, 4, 24, **kwargs).double())
    standin = make_substitute(blocks.GPT)(30, 8, 16, 2, 4, 24, **kwargs).double()
    assert (standin.lm_head.weight is standin.tok_emb.weight) == kwargs.get("tie_embeddings", True)
    _same_params_and_outputs(reference, standin, torch.randint(0, 30, (2, 8)))


def test_drive_twice_runs_both_sequences():
    block = _random(ref.TransformerBlock(8, 2, 16).double())
    x, edited = torch.randn(2, 2, 5, 8, dtype=F64)
    y, y_edited = gradelib.DRIVERS["drive_twice"](block, x, edited)
    torch.testing.assert_close(y, block(x), rtol=0, atol=0)
    torch.testing.assert_close(y_edited, block(edited), rtol=0, atol=0)


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_drive_gpt_reports_the_tie(tied):
    model = _random(ref.GPT(20, 8, 8, 1, 2, 16, tie_embeddings=tied).double())
    idx = torch.randint(0, 20, (2, 6))
    logits, logits_edited, is_tied = blocks.drive_gpt(model, idx, idx.flip(-1), tied)
    torch.testing.assert_close(logits, model(idx), rtol=0, atol=0)
    torch.testing.assert_close(logits_edited, model(idx.flip(-1)), rtol=0, atol=0)
    assert int(is_tied) == int(tied)


def test_drive_gpt_gives_an_untied_head_the_embedding_values():
    """A head that should be tied but is not holds a random initialisation: the driver copies the
    embedding into it (the logits become those of the tied model) and reports the missing tie."""
    tied = _random(ref.GPT(20, 8, 8, 1, 2, 16).double())
    untied = ref.GPT(20, 8, 8, 1, 2, 16, tie_embeddings=False).double()
    untied.load_state_dict(tied.state_dict(), strict=False)
    idx = torch.randint(0, 20, (1, 5))
    logits, _, is_tied = blocks.drive_gpt(untied, idx, idx, True)
    torch.testing.assert_close(logits, tied(idx))
    assert int(is_tied) == 0


@pytest.mark.parametrize("model, refused", [
    (ref.GPT(20, 8, 8, 1, 2, 16), 1),
    (lambda idx: torch.zeros(*idx.shape, 20), 0),  # no length check: logits for any length
    ], ids=["checks the length", "no check"])
def test_drive_gpt_reports_a_refusal(model, refused):
    """A sequence longer than the context must raise ValueError: 1 if it did, 0 if not."""
    flag = blocks.drive_gpt(model, torch.zeros(1, 9, dtype=torch.long), refuse=True)
    assert flag.dtype == torch.int64 and int(flag) == refused


def test_drive_gpt_lets_other_exceptions_through():
    def model(idx):
        raise IndexError("position 8 out of range")

    with pytest.raises(IndexError):
        blocks.drive_gpt(model, torch.zeros(1, 9, dtype=torch.long), refuse=True)


def test_drive_count():
    like = torch.zeros(1, dtype=torch.bfloat16)
    n = calls.drive_count(ref.count_parameters, like, 50, 8, 16, 2, 4, 24, tie_embeddings=False)
    assert n.dtype == torch.int64 and int(n) == sum(
        p.numel() for p in ref.GPT(50, 8, 16, 2, 4, 24, tie_embeddings=False).parameters())

    def count_parameters(*args, **kwargs):
        return float(ref.count_parameters(*args, **kwargs))

    with pytest.raises(TypeError, match="count_parameters must return a Python int, got float"):
        calls.drive_count(count_parameters, like, 50, 8, 16, 2, 4, 24)


def test_drive_relu_network_evaluates_the_interpolant():
    xs, ys = torch.tensor([0.0, 1, 3, 4], dtype=F64), torch.tensor([1.0, -1, 2, 2], dtype=F64)
    x_eval = torch.linspace(0, 4, 17, dtype=F64)
    got, flags = constructions.drive_relu_network(ref.relu_network_for_piecewise_linear, xs, ys,
                                                  x_eval)
    want = torch.from_numpy(__import__("numpy").interp(x_eval.numpy(), xs.numpy(), ys.numpy()))
    torch.testing.assert_close(got, want)
    assert flags.tolist() == [1, 1]


def _float32_W1(xs, ys):
    W1, b1, W2, b2 = ref.relu_network_for_piecewise_linear(xs, ys)
    return W1.float(), b1, W2, b2


def _scalar_b2(xs, ys):
    W1, b1, W2, b2 = ref.relu_network_for_piecewise_linear(xs, ys)
    return W1, b1, W2, b2[0]


def _row_b1(xs, ys):
    W1, b1, W2, b2 = ref.relu_network_for_piecewise_linear(xs, ys)
    return W1, b1[None, :], W2, b2


@pytest.mark.parametrize("build, flags", [(_float32_W1, [0, 1]), (_scalar_b2, [1, 0]),
                                          (_row_b1, [1, 0])],
                         ids=["W1 float32", "b2 0-dim", "b1 a row"])
def test_drive_relu_network_reports_dtype_and_layout(build, flags):
    """Weights in another dtype or layout are reported by the flags, and the values are those of
    the weights converted, so that the verdict names the dtype or the layout, not wrong values."""
    xs, ys = torch.tensor([0.0, 1, 3, 4], dtype=F64), torch.tensor([1.0, -1, 2, 2], dtype=F64)
    x_eval = torch.linspace(0, 4, 9, dtype=F64)
    got, got_flags = constructions.drive_relu_network(build, xs, ys, x_eval)
    want, _ = constructions.drive_relu_network(ref.relu_network_for_piecewise_linear, xs, ys,
                                               x_eval)
    torch.testing.assert_close(got, want)
    assert got_flags.tolist() == flags


def test_drive_previous_token_head_copies_the_previous_content():
    content = torch.randn(2, 5, 3, dtype=F64)
    out, is_float32 = constructions.drive_previous_token_head(ref.previous_token_head, content)
    assert out.shape == (2, 5, 8)
    torch.testing.assert_close(out[:, 1:, 5:], content[:, :-1])
    torch.testing.assert_close(out[:, 0, 5:], content[:, 0])
    assert out[..., :5].abs().max() == 0
    assert int(is_float32) == 1


def test_drive_previous_token_head_reports_the_dtype():
    def in_float64(seq_len, d_model):
        return tuple(w.double() for w in ref.previous_token_head(seq_len, d_model))

    content = torch.randn(1, 4, 2, dtype=F64)
    out, is_float32 = constructions.drive_previous_token_head(in_float64, content)
    want, _ = constructions.drive_previous_token_head(ref.previous_token_head, content)
    torch.testing.assert_close(out, want)
    assert int(is_float32) == 0
