"""Chapter 9's "autocast in use" case is judged by the computations of the model the loop was
given (a forward hook on its head sees bfloat16 logits from float32 weights), not by whatever
matrix products run in the process: dummy low-precision work beside a float32 loop earns nothing,
every forward pass of the model, training and evaluation, must run under autocast, and no backward
pass may (a hook on the head's output sees autograd's autocast state)."""

from __future__ import annotations

import copy
import dataclasses
import re

import torch

from reference.train import train

DUMMY_PRODUCTS = 2000


def _float32(config):
    return dataclasses.replace(config, dtype="float32")


def _messages(result) -> str:
    return " ".join(result.messages)


def test_the_reference_loop_passes(grade_inprocess):
    result = grade_inprocess("ch09.train", train, tag="autocast")
    assert result.passed, result.messages


def test_dummy_bfloat16_products_beside_a_float32_loop_fail(grade_inprocess):
    def dummy_products(model, train_tokens, val_tokens, config):
        a = torch.randn(8, 8).bfloat16()
        for _ in range(DUMMY_PRODUCTS):
            a @ a
        return train(model, train_tokens, val_tokens, _float32(config))

    result = grade_inprocess("ch09.train", dummy_products, tag="autocast")
    assert not result.passed
    assert re.search(r"none of the model's \d+ forward passes ran under autocast",
                     _messages(result)), result.messages


def test_autocasting_only_a_dummy_computation_fails(grade_inprocess):
    def autocast_elsewhere(model, train_tokens, val_tokens, config):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            a = torch.randn(8, 8)
            for _ in range(DUMMY_PRODUCTS):
                a @ a
        return train(model, train_tokens, val_tokens, _float32(config))

    result = grade_inprocess("ch09.train", autocast_elsewhere, tag="autocast")
    assert not result.passed
    assert "none of the model's" in _messages(result), result.messages


def test_weights_cast_to_bfloat16_are_not_autocast(grade_inprocess):
    def cast_model(model, train_tokens, val_tokens, config):
        return train(model.to(torch.bfloat16), train_tokens, val_tokens, _float32(config))

    result = grade_inprocess("ch09.train", cast_model, tag="autocast")
    assert not result.passed
    assert "with the weights left in float32" in _messages(result), result.messages


def test_a_forward_pass_outside_autocast_fails(grade_inprocess):
    def one_more_in_float32(model, train_tokens, val_tokens, config):
        history = train(model, train_tokens, val_tokens, config)
        model(train_tokens[None, :config.context_length])
        return history

    result = grade_inprocess("ch09.train", one_more_in_float32, tag="autocast")
    assert not result.passed
    assert "1 of the model's" in _messages(result), result.messages
    assert "ran outside autocast" in _messages(result), result.messages
    # not "everything computed in float32": the catalogued mistake is named for its own failure
    assert not any(m.startswith("likely mistake") for m in result.messages), result.messages


def test_training_another_model_fails(grade_inprocess):
    def trains_a_fresh_copy(model, train_tokens, val_tokens, config):
        other = torch.nn.Sequential(*(copy.deepcopy(m) for m in model))
        other[1]._forward_hooks.clear()  # a copy made any other way has no hook either
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(train_tokens[None, :config.context_length])
        return train(other, train_tokens, val_tokens, config)

    result = grade_inprocess("ch09.train", trains_a_fresh_copy, tag="autocast")
    assert not result.passed
    assert "the model given to train ran 1 forward passes in 4 steps" in _messages(result), \
        result.messages


def test_backward_under_autocast_fails(grade_inprocess):
    def all_under_autocast(model, train_tokens, val_tokens, config):
        with torch.autocast("cpu", dtype=torch.bfloat16):  # forward and backward alike
            return train(model, train_tokens, val_tokens, config)

    result = grade_inprocess("ch09.train", all_under_autocast, tag="autocast")
    assert not result.passed
    assert re.search(r"\d+ backward passes ran under autocast", _messages(result)), result.messages


def test_the_backward_check_sees_only_backward_passes_under_autocast():
    """The reference runs backward outside autocast: no backward pass is counted, while every
    forward pass of its training and evaluation is (8 steps of 2 micro-batches, 2 evaluations
    of 2 batches)."""
    from autograder.gradelib.training import drive_train
    from reference.data import markov_chain, sample_markov

    g = torch.Generator().manual_seed(0)
    tokens = sample_markov(markov_chain(8, 1, seed=5), 800, g)
    emb, w, b = torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g), torch.zeros(8)
    settings = dict(max_steps=8, batch_size=4, grad_accum_steps=2, context_length=8, lr=3e-2,
                    min_lr=3e-3, warmup_steps=2, weight_decay=0.1, betas=(0.9, 0.95),
                    grad_clip=1.0, eval_interval=4, eval_batches=2, dtype="bfloat16",
                    device="cpu", seed=0, checkpoint_path=None, checkpoint_interval=100,
                    resume=True, stop_at_step=None, peak_flops=1e12, log_interval=4,
                    progress=False)
    counts = drive_train(train, tokens, tokens, emb, w, b, settings, run="autocast_all")
    assert counts.tolist() == [8 * 2 + 2 * 2, 0, 0]
