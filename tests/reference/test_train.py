"""reference.train: k micro-batches equal a k-times batch, the loop learns down to the known
entropy floor, interrupting and resuming reproduces the uninterrupted run exactly on CPU (the loop
draws from no global generator, and a checkpoint restores everything it does draw from), and MFU
is the stated ratio."""

import dataclasses
import io
import pickle

import pytest
import torch

from reference.blocks import GPT
from reference.data import synthetic_corpus
from reference.losses import cross_entropy
from reference.train import (TrainConfig, accumulate_gradients, estimate_mfu, flops_per_token,
                             load_checkpoint, make_optimizer, save_checkpoint, train)

CORPUS = synthetic_corpus(vocab_size=8, order=1, n_train=20_000, n_val=4_000, seed=0)


def _model(seed=0, vocab=8):
    torch.manual_seed(seed)
    return GPT(vocab, 16, 32, 1, 2, 64)


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("sizes", [(4, 4, 4), (2, 5, 1)], ids=["equal", "unequal"])
def test_micro_batches_equal_one_big_batch(sizes):
    model = _model().double()
    g = torch.Generator().manual_seed(1)
    xs = [torch.randint(0, 8, (b, 12), generator=g) for b in sizes]
    ys = [torch.randint(0, 8, (b, 12), generator=g) for b in sizes]
    loss = accumulate_gradients(model, list(zip(xs, ys)), cross_entropy)
    acc = _grads(model)
    model.zero_grad()
    big = cross_entropy(model(torch.cat(xs)), torch.cat(ys))
    big.backward()
    torch.testing.assert_close(acc, _grads(model), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss, big.detach(), rtol=1e-12, atol=0)


def test_accumulate_discards_previous_gradients():
    model = _model().double()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    x = torch.randint(0, 8, (3, 5), generator=torch.Generator().manual_seed(0))
    accumulate_gradients(model, [(x, x)], cross_entropy)
    first = _grads(model)
    accumulate_gradients(model, [(x, x)], cross_entropy)
    torch.testing.assert_close(_grads(model), first)


CFG = TrainConfig(max_steps=60, batch_size=8, context_length=16, lr=1e-2, min_lr=1e-3,
                  warmup_steps=5, eval_interval=20, eval_batches=4, log_interval=10,
                  peak_flops=1e12, progress=False, device="cpu", dtype="float32")


def test_loss_falls_to_entropy_floor():
    cfg = dataclasses.replace(CFG, max_steps=100, eval_batches=8, eval_interval=50)
    hist = train(_model(), CORPUS.train, CORPUS.val, cfg)
    floor = CORPUS.entropy_rate
    assert hist["val_loss"][0] > hist["val_loss"][-1]
    # A first-order chain needs only the current token: 100 steps get within 0.2 nats of the
    # floor (the uniform guess is log 8 = 2.08). The evaluation averages 1024 tokens (standard
    # error ~0.03), so even a perfect model lands above floor - 0.15.
    assert floor - 0.15 < hist["val_loss"][-1] < floor + 0.2, (hist["val_loss"], floor)
    assert len(hist["train_loss"]) == 100 and len(hist["tokens_per_s"]) == 10
    assert all(m > 0 for m in hist["mfu"])


def test_resume_reproduces_uninterrupted_run(tmp_path):
    cfg = dataclasses.replace(CFG, max_steps=24, grad_accum_steps=2, eval_interval=8,
                              checkpoint_interval=100)
    full_model = _model()
    full = train(full_model, CORPUS.train, CORPUS.val, cfg)

    path = str(tmp_path / "ckpt.pt")
    part = dataclasses.replace(cfg, checkpoint_path=path, stop_at_step=11)
    model = _model()
    first = train(model, CORPUS.train, CORPUS.val, part)
    assert len(first["train_loss"]) == 11
    torch.manual_seed(12345)  # a different global RNG state: the run must not depend on it
    resumed_model = _model(seed=7)  # different weights: they must come from the checkpoint
    hist = train(resumed_model, CORPUS.train, CORPUS.val,
                 dataclasses.replace(part, stop_at_step=None))
    assert hist["train_loss"] == full["train_loss"]
    assert hist["val_loss"] == full["val_loss"] and hist["lr"] == full["lr"]
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)



def test_training_never_draws_from_the_global_generator():
    # Why checkpoints need not save torch.get_rng_state(): with the peak FLOP/s given (measuring
    # it multiplies random matrices), a run with accumulation, evaluation and bfloat16 autocast
    # leaves the global generator where it was.
    cfg = dataclasses.replace(CFG, max_steps=6, grad_accum_steps=2, eval_interval=3,
                              dtype="bfloat16")
    model = _model()
    before = torch.get_rng_state()
    train(model, CORPUS.train, CORPUS.val, cfg)
    assert torch.equal(torch.get_rng_state(), before), (
        "train drew from the global generator (dropout?): give that a generator of its own and "
        "save its state in the checkpoint, or a resumed run differs from an uninterrupted one")


def _run_state(model_seed, gen_seed, steps):
    """(model, optimizer, scaler, batch generator) after ``steps`` plain updates."""
    model = _model(seed=model_seed)
    optimizer = make_optimizer(model, CFG)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch_gen = torch.Generator().manual_seed(gen_seed)
    for _ in range(steps):
        x = torch.randint(0, 8, (4, 12), generator=batch_gen)
        accumulate_gradients(model, [(x, x)], cross_entropy)
        optimizer.step()
    return model, optimizer, scaler, batch_gen


def test_load_checkpoint_from_a_file_object_keeps_the_global_rng():
    saved = _run_state(model_seed=0, gen_seed=3, steps=2)
    buffer = io.BytesIO()
    save_checkpoint(buffer, *saved[:3], 2, {"step": [0, 1]}, saved[3], CFG)
    model, optimizer, scaler, batch_gen = _run_state(model_seed=7, gen_seed=99, steps=1)
    torch.manual_seed(12345)
    before = torch.get_rng_state()
    buffer.seek(0)
    step, history = load_checkpoint(buffer, model, optimizer, scaler, batch_gen)
    assert torch.equal(torch.get_rng_state(), before), "load_checkpoint set the global RNG state"
    assert step == 2 and history == {"step": [0, 1]}
    assert torch.equal(batch_gen.get_state(), saved[3].get_state())
    for a, b in zip(model.state_dict().values(), saved[0].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for p, q in zip(model.parameters(), saved[0].parameters(), strict=True):
        got, want = optimizer.state[p], saved[1].state[q]
        assert got["step"] == want["step"] == 2
        assert torch.equal(got["exp_avg"], want["exp_avg"])
        assert torch.equal(got["exp_avg_sq"], want["exp_avg_sq"])


class _Unpicklable:
    def __reduce__(self):
        raise pickle.PicklingError("torch.save fails mid-write")


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    run = _run_state(model_seed=0, gen_seed=3, steps=1)
    save_checkpoint(path, *run[:3], 1, {}, run[3], CFG)
    before = path.read_bytes()
    with pytest.raises(pickle.PicklingError, match="mid-write"):
        save_checkpoint(path, *run[:3], 2, {}, run[3], CFG, meta={"bad": _Unpicklable()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], "a temporary file was left"

def test_bfloat16_autocast_on_cpu_trains():
    cfg = dataclasses.replace(CFG, max_steps=20, dtype="bfloat16", eval_interval=20)
    hist = train(_model(), CORPUS.train, CORPUS.val, cfg)
    assert hist["val_loss"][-1] < hist["train_loss"][0]


def test_estimate_mfu_and_flops():
    assert estimate_mfu(6e9, 1000.0, 1.2e13) == pytest.approx(0.5)
    model = _model()
    n = sum(p.numel() for p in model.parameters())
    assert flops_per_token(model, 16) == 6 * n + 12 * 1 * 16 * 32


@pytest.mark.cuda
def test_cuda_autocast_uses_bfloat16_matmuls():
    model = _model().cuda()
    seen = []
    hook = model.lm_head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    cfg = dataclasses.replace(CFG, max_steps=3, device="auto", dtype="auto", eval_interval=100)
    train(model, CORPUS.train, CORPUS.val, cfg)
    hook.remove()
    assert seen and all(d == torch.bfloat16 for d in seen)
