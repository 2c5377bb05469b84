"""gradelib.training: the drivers of Chapter 9's training exercises on the reference give what they
promise (accumulation equals one large batch, a resumed run equals one run, autocast is counted
on the given model only, two data-parallel ranks equal one process), and the built-in stand-ins
agree with the reference in float64."""

from __future__ import annotations

import dataclasses

import torch

from autograder.gradelib.training import (accumulate_gradients, all_reduce_gradients, bigram,
                                          drive_accumulate, drive_all_reduce, drive_ddp_step,
                                          drive_train, token_loss, train_config)
from reference import distributed, train as reference

F64 = torch.float64
SETTINGS = dict(max_steps=6, batch_size=2, grad_accum_steps=2, context_length=4, lr=3e-2,
                min_lr=3e-3, warmup_steps=2, weight_decay=0.1, betas=[0.9, 0.95], grad_clip=1.0,
                eval_interval=3, eval_batches=1, dtype="float32", device="cpu", seed=0,
                checkpoint_path=None, checkpoint_interval=100, resume=True, stop_at_step=None,
                peak_flops=1e12, log_interval=3, progress=False)


def _weights(v=7, d=5, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(v, d, generator=g, dtype=F64).to(dtype),
            (0.4 * torch.randn(v, d, generator=g, dtype=F64)).to(dtype),
            (0.1 * torch.randn(v, generator=g, dtype=F64)).to(dtype))


def _tokens(n, v=7, seed=1):
    return torch.randint(0, v, (n,), generator=torch.Generator().manual_seed(seed))


def test_bigram_holds_the_given_weights():
    emb, w, b = _weights(dtype=F64)
    model = bigram(emb, w, b, unused=True)
    assert [n for n, _ in model.named_parameters()] == ["unused", "0.weight", "1.weight", "1.bias"]
    assert torch.equal(model[0].weight, emb) and torch.equal(model[1].bias, b)
    assert model(torch.tensor([[1, 2]])).shape == (1, 2, 7)


def test_train_config_is_frozen_with_tuples():
    cfg = train_config(SETTINGS, lr=1.0)
    assert cfg.lr == 1.0 and cfg.betas == (0.9, 0.95)
    assert dataclasses.is_dataclass(cfg) and cfg.__dataclass_params__.frozen


def test_accumulation_equals_one_large_batch_from_stale_gradients():
    emb, w, b = _weights(dtype=F64)
    xs, ys = _tokens(24).reshape(6, 4), _tokens(24, seed=2).reshape(6, 4)
    got = drive_accumulate(reference.accumulate_gradients, emb, w, b, xs, ys, [1, 3, 2])
    model = bigram(emb, w, b)
    loss = token_loss(model(xs), ys)
    loss.backward()
    want = (loss.detach(), *(p.grad for p in model.parameters()))
    for g, t in zip(got, want, strict=True):
        torch.testing.assert_close(g, t)


def test_builtin_accumulate_gradients_equals_the_reference():
    emb, w, b = _weights(dtype=F64)
    micro = [(_tokens(8, seed=s).reshape(2, 4), _tokens(8, seed=s + 9).reshape(2, 4))
             for s in range(3)]
    grads = []
    for fn in (accumulate_gradients, reference.accumulate_gradients):
        model = bigram(emb, w, b)
        loss = fn(model, micro, token_loss)
        grads.append([loss] + [p.grad for p in model.parameters()])
    for g, r in zip(*grads, strict=True):
        torch.testing.assert_close(g, r)


def test_train_once_and_resumed_give_the_same_run():
    args = (_tokens(300), _tokens(80, seed=3), *_weights(), SETTINGS)
    once = drive_train(reference.train, *args)
    resumed = drive_train(reference.train, *args, run="resumed", stop_at_step=4)
    assert [t.numel() for t in once] == [6, 6, 2, 7 * 5 * 2 + 7]
    for a, b in zip(once, resumed, strict=True):
        torch.testing.assert_close(a, b)


def test_autocast_counts_the_given_models_forward_passes():
    args = (_tokens(300), _tokens(80, seed=3), *_weights())
    low = drive_train(reference.train, *args, {**SETTINGS, "dtype": "bfloat16"}, run="autocast")
    # 6 steps of 2 micro-batches, 2 evaluations of 1 batch: every one under autocast
    assert low.tolist() == [6 * 2 + 2, 0]
    full = drive_train(reference.train, *args, {**SETTINGS, "dtype": "bfloat16", "max_steps": 3},
                       run="autocast")
    assert full.tolist() == [3 * 2 + 1, 0]


def test_float32_runs_count_as_outside_autocast():
    args = (_tokens(300), _tokens(80, seed=3), *_weights())
    assert drive_train(reference.train, *args, SETTINGS, run="autocast").tolist() == [0, 14]


def test_throughput_times_the_loop_and_the_plain_baseline():
    args = (_tokens(300), _tokens(80, seed=3), *_weights())
    seen, speeds = drive_train(reference.train, *args, {**SETTINGS, "dtype": "bfloat16"},
                               run="throughput")
    assert seen.tolist() == [14, 0]
    assert speeds.dtype == F64 and speeds.shape == (2,) and bool((speeds > 0).all())


def test_two_ranks_average_to_the_one_process_gradient():
    emb, w, b = _weights(dtype=F64)
    xs, ys = _tokens(24).reshape(1, 6, 4), _tokens(24, seed=2).reshape(1, 6, 4)
    g0, g1 = drive_all_reduce(distributed.all_reduce_gradients, emb, w, b, xs, ys)
    builtin = drive_all_reduce(all_reduce_gradients, emb, w, b, xs, ys)
    model = bigram(emb, w, b)
    token_loss(model(xs[0]), ys[0]).backward()
    whole = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    for g in (g0, g1, *builtin):
        torch.testing.assert_close(g, whole)


def test_ddp_steps_equal_one_process_sgd_on_the_whole_batch():
    emb, w, b = _weights(dtype=F64)
    xs, ys = _tokens(48).reshape(2, 6, 4), _tokens(48, seed=2).reshape(2, 6, 4)
    l0, l1, w0, w1 = drive_ddp_step(distributed.ddp_train_step, emb, w, b, xs, ys, 0.1,
                                    unused_param=True)
    model = bigram(emb, w, b, unused=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in zip(xs, ys):
        opt.zero_grad(set_to_none=True)
        token_loss(model(x), y).backward()
        opt.step()
    assert l0.shape == l1.shape == (2,)
    torch.testing.assert_close(w0, w1, rtol=0, atol=0)
    torch.testing.assert_close(w0, torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
