"""gradelib.capstone, and the decoding interface of gradelib.blocks.GPT: the stand-ins Chapter 12's
capstone is graded with. The GPT stand-in's cache gives the logits of the whole sequence and of
the reference's cache; TrainConfig has the reference's fields; train reaches what the reference's
loop reaches, with its schedule, batches and history, and leaves the global RNG alone; generate
draws the reference's tokens."""

import dataclasses
import math

import pytest
import torch

from autograder import gradelib
from autograder.gradelib import blocks, capstone, rope
from autograder.worker import make_substitute
from reference import blocks as ref_blocks
from reference import decoding as ref_decoding
from reference import train as ref_train
from reference.data import synthetic_corpus
from reference.optim import cosine_schedule
from reference.positional import apply_rope

F64 = torch.float64
POSITIONS = ["rope", "learned"]


def _random(module, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale
                    / math.sqrt(p.shape[-1]))
    return module


def _pair(positions, vocab_size=30, context_length=12, scale=1.0):
    """A reference GPT (float64, random weights) and a GPT stand-in holding the same weights."""
    kwargs = {} if positions == "rope" else {"norm": "layer", "ffn": "gelu_tanh",
                                             "positions": "learned"}
    reference = _random(ref_blocks.GPT(vocab_size, context_length, 16, 2, 4, 24, **kwargs).double(),
                        scale=scale)
    standin = make_substitute(blocks.GPT)(vocab_size, context_length, 16, 2, 4, 24,
                                          **kwargs).double()
    standin.load_state_dict(reference.state_dict())
    return reference.eval(), standin.eval()


# --------------------------------------------------------------------------- the GPT's cache
@pytest.mark.parametrize("start", [0, 5, 300], ids=lambda s: f"start{s}")
@pytest.mark.parametrize("dtype", [F64, torch.float32, torch.bfloat16], ids=str)
def test_rope_from_an_offset_equals_the_reference_to_the_bit(dtype, start):
    x = torch.randn(2, 3, 7, 8, dtype=F64).to(dtype)
    positions = torch.arange(start, start + 7)
    assert torch.equal(rope.apply_rope(x, 100.0, start), apply_rope(x, positions, base=100.0))


@pytest.mark.parametrize("positions", POSITIONS)
def test_gpt_cache_gives_the_logits_of_the_whole_sequence(positions):
    """A prompt, then one token per call: the logits of feeding the sequence at once, and those
    of the reference GPT fed the same way (a position off by one would change them)."""
    reference, standin = _pair(positions)
    idx = torch.randint(0, 30, (2, 12), generator=torch.Generator().manual_seed(1))
    full = standin(idx)
    torch.testing.assert_close(full, reference(idx), rtol=0, atol=1e-12)
    for model in (standin, reference):
        cache = model.make_cache(2)
        parts = [model(idx[:, :5], cache=cache)] + [model(idx[:, t:t + 1], cache=cache)
                                                    for t in range(5, 12)]
        torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=0, atol=1e-12)
    assert cache[0].pos == 12


@pytest.mark.parametrize("positions", POSITIONS)
def test_gpt_refuses_positions_past_its_context(positions):
    _, standin = _pair(positions)
    idx = torch.randint(0, 30, (1, 13), generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match="exceeds context_length=12"):
        standin(idx)
    cache = standin.make_cache(1)
    standin(idx[:, :12], cache=cache)
    with pytest.raises(ValueError, match="exceeds context_length=12"):
        standin(idx[:, 12:], cache=cache)
    small = standin.make_cache(1, 4)
    with pytest.raises(ValueError, match="cache holds 4 positions"):
        standin(idx[:, :5], cache=small)


# --------------------------------------------------------------------------- TrainConfig, train
def test_train_config_has_the_reference_fields_and_defaults():
    def described(cls):
        return [(f.name, f.default) for f in dataclasses.fields(cls)]

    assert described(capstone.TrainConfig) == described(ref_train.TrainConfig)
    config = make_substitute(capstone.TrainConfig)(max_steps=3)
    assert config.max_steps == 3 and dataclasses.replace(config, seed=4).seed == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0


@pytest.fixture(scope="module")
def corpus():
    return synthetic_corpus(vocab_size=8, order=1, n_train=20000, n_val=4000)


def _gpt_state(seed=0):
    torch.manual_seed(seed)
    model = blocks.GPT(8, 16, 32, 1, 2, 64)
    with torch.no_grad():  # small embeddings: the tied head starts near uniform predictions
        model.tok_emb.weight.normal_(0.0, 0.02)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _run(train_fn, config_cls, model_cls, corpus, state, **settings):
    """``train_fn`` on a ``model_cls`` GPT holding ``state``; returns the history, the model and
    whether the global RNG was left as it was during the training call."""
    model = model_cls(8, 16, 32, 1, 2, 64)
    model.load_state_dict(state)
    config = config_cls(**{"device": "cpu", "progress": False, **settings})
    rng = torch.get_rng_state()
    history = train_fn(model, corpus.train, corpus.val, config)
    return history, model, torch.equal(torch.get_rng_state(), rng)


def test_train_reaches_what_the_reference_reaches(corpus):
    """Same weights, same config: the same first loss (the same first batch), the same schedule,
    evaluations and history layout, and a final validation loss within 0.1 nats of the
    reference's, both far below the unigram entropy."""
    settings = dict(max_steps=60, batch_size=16, context_length=16, lr=1e-2, min_lr=1e-3,
                    warmup_steps=6, eval_interval=20, eval_batches=4, log_interval=10,
                    peak_flops=1e12)
    state = _gpt_state()
    want, _, _ = _run(ref_train.train, ref_train.TrainConfig, ref_blocks.GPT, corpus, state,
                      **settings)
    got, model, rng_kept = _run(capstone.train, capstone.TrainConfig, blocks.GPT, corpus, state,
                                **settings)
    assert rng_kept, "train drew from the global RNG"
    assert model.training

    assert got.keys() == want.keys()
    assert got["step"] == list(range(60)) and len(got["train_loss"]) == 60
    assert got["val_step"] == want["val_step"] == [19, 39, 59]
    assert len(got["tokens_per_s"]) == len(got["mfu"]) == len(want["mfu"]) == 6
    assert all(t > 0 for t in got["tokens_per_s"]) and all(m > 0 for m in got["mfu"])
    assert got["lr"] == want["lr"]
    for step in (0, 3, 6, 30, 59):
        assert got["lr"][step] == cosine_schedule(step, 1e-2, 1e-3, 6, 60)
    assert got["train_loss"][0] == pytest.approx(want["train_loss"][0], abs=1e-5)

    p = torch.bincount(corpus.train, minlength=8).double() / len(corpus.train)
    unigram = float(-(p * p.log()).sum())
    assert got["val_loss"][-1] == pytest.approx(want["val_loss"][-1], abs=0.1)
    assert max(got["val_loss"][-1], want["val_loss"][-1]) < unigram - 0.3


def test_train_accumulates_prints_nothing_and_reports_no_mfu_without_a_peak(corpus, capfd):
    """The wrapped stand-ins, as the worker hands them out: two micro-batches a step and no
    clipping give the reference's losses; no peak_flops gives an MFU of 0.0 (no measured peak)."""
    settings = dict(max_steps=4, batch_size=8, context_length=16, grad_accum_steps=2,
                    grad_clip=0.0, warmup_steps=2, eval_interval=2, eval_batches=2,
                    log_interval=2, progress=True, stop_at_step=3)
    state = _gpt_state(1)
    want, _, _ = _run(ref_train.train, ref_train.TrainConfig, ref_blocks.GPT, corpus, state,
                      **settings, peak_flops=1e12)
    capfd.readouterr()
    got, _, rng_kept = _run(make_substitute(capstone.train), make_substitute(capstone.TrainConfig),
                  make_substitute(blocks.GPT), corpus, state, **settings)
    assert capfd.readouterr() == ("", "")
    assert rng_kept
    assert got["step"] == [0, 1, 2] and got["val_step"] == want["val_step"] == [1]
    assert got["mfu"] == [0.0, 0.0]
    torch.testing.assert_close(torch.tensor(got["train_loss"]), torch.tensor(want["train_loss"]),
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.tensor(got["val_loss"]), torch.tensor(want["val_loss"]),
                               rtol=0, atol=1e-5)


def test_train_runs_the_forward_under_autocast_for_bfloat16(corpus):
    state = _gpt_state(2)
    model = blocks.GPT(8, 16, 32, 1, 2, 64)
    model.load_state_dict(state)
    seen = []
    model.lm_head.register_forward_hook(lambda head, inputs, out: seen.append(out.dtype))
    config = capstone.TrainConfig(max_steps=2, batch_size=4, context_length=16, dtype="bfloat16",
                                  device="cpu", eval_batches=1, progress=False)
    history = capstone.train(model, corpus.train, corpus.val, config)
    assert seen == [torch.bfloat16] * 3  # two steps and one evaluation
    assert model.lm_head.weight.dtype == torch.float32
    assert all(math.isfinite(x) for x in history["train_loss"] + history["val_loss"])


# --------------------------------------------------------------------------- generate
GENERATE_KWARGS = [{"temperature": 0.0}, {"temperature": 1.0},
                   {"temperature": 0.8, "top_k": 4}, {"temperature": 1.2, "top_p": 0.7},
                   {"temperature": 1.0, "eos_id": 2}]


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
@pytest.mark.parametrize("kwargs", GENERATE_KWARGS, ids=str)
@pytest.mark.parametrize("positions", POSITIONS)
def test_generate_draws_the_reference_tokens(positions, kwargs, use_cache):
    """Token for token the reference's generate, on the reference GPT and on the GPT stand-in
    holding its weights, with the same seeded generator."""
    reference, standin = _pair(positions, vocab_size=6, context_length=16, scale=3.0)
    prompt = torch.randint(0, 6, (3, 4), generator=torch.Generator().manual_seed(5))

    def run(fn, model):
        return fn(model, prompt.clone(), 10, **kwargs, use_cache=use_cache,
                  generator=torch.Generator().manual_seed(7))

    want = run(ref_decoding.generate, reference)
    assert torch.equal(run(capstone.generate, reference), want)
    assert torch.equal(run(make_substitute(capstone.generate), standin), want)
    if "eos_id" in kwargs:  # the case must exercise eos: every row stops early, or some row ends in it
        assert want.shape[1] < 14 or bool((want[:, 4:] == 2).any())


def test_standins_are_registered_under_the_names_they_replace():
    names = {key: gradelib.STANDINS[key].__name__
             for key in ("ch09.TrainConfig", "ch09.train", "ch10.generate")}
    assert names == {"ch09.TrainConfig": "TrainConfig", "ch09.train": "train",
                     "ch10.generate": "generate"}
    assert gradelib.STANDINS["ch09.TrainConfig"] is capstone.TrainConfig
    assert gradelib.STANDINS["ch09.train"] is capstone.train
    assert gradelib.STANDINS["ch10.generate"] is capstone.generate
