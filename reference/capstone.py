"""Chapter 12's capstone: the course's parts assembled into one run under a time budget.

A model (Chapter 6's GPT), a training loop (Chapter 9's ``train``) and a sampler (Chapter 10's
``generate``) are trained and used on a token stream within ``budget_seconds`` of wall time. The
one decision the parts do not make is how many steps fit the budget: the cosine schedule needs
its length before the first step, so the run times a few steps of a throwaway copy of the model
first, then plans the rest, leaving a share of the budget for evaluation and sampling.

Conventions, stated once:

* The model sees windows of ``CONTEXT`` = 32 tokens (its ``context_length``).
* A planned step costs what the probe measured; the training gets ``TRAIN_SHARE`` of the budget
  left after the probe, the rest is a margin for evaluation, sampling and a busier machine.
* Throughput is measured over the training steps only: tokens per second of wall time.
"""

from __future__ import annotations

import copy
import math
import time

import torch

from reference.blocks import GPT
from reference.decoding import generate
from reference.train import TrainConfig, train

CONTEXT = 32
TRAIN_SHARE = 0.8
PROBE_STEPS = 6
BATCH_SIZE = 32
TOKENS_PER_STEP = BATCH_SIZE * CONTEXT


def _config(steps: int, eval_batches: int = 4, log_interval: int = 10) -> TrainConfig:
    return TrainConfig(max_steps=steps, batch_size=BATCH_SIZE, context_length=CONTEXT, lr=1e-2,
                       min_lr=1e-3, warmup_steps=max(1, steps // 10),
                       eval_interval=max(1, steps // 4), eval_batches=eval_batches,
                       device="cpu", dtype="float32", log_interval=log_interval,
                       peak_flops=math.inf, progress=False)  # no MFU: throughput is reported


def capstone(train_tokens, val_tokens, budget_seconds):
    """Train a small GPT on ``train_tokens`` within ``budget_seconds`` and report on it.

    Returns a dict: "model" (the trained GPT, eval mode, on the CPU), "history" (``train``'s
    history: "train_loss" per step, "val_loss" per evaluation, ...), "samples" ((2, 32) int64:
    two continuations of 8-token prompts from ``val_tokens``, sampled at temperature 1 with the
    cache, which equal those sampled without it), "tokens_per_second" (training throughput),
    "steps" (the planned step count) and "seconds" (the wall time of the whole run).

    Shape:
        train_tokens, val_tokens: (n,) int64 token streams of any lengths, over ids 0 .. V-1
    """
    start = time.perf_counter()
    vocab_size = int(max(train_tokens.max(), val_tokens.max())) + 1
    model = GPT(vocab_size, CONTEXT, d_model=32, n_layers=2, n_heads=4, d_ff=128)

    probe = train(copy.deepcopy(model), train_tokens, val_tokens,
                  _config(PROBE_STEPS, eval_batches=1, log_interval=PROBE_STEPS // 2))
    # the second half of the probe: training steps only, past the first step's one-time costs
    per_step = TOKENS_PER_STEP / probe["tokens_per_s"][-1]
    left = budget_seconds - (time.perf_counter() - start)
    steps = max(10, int(TRAIN_SHARE * left / per_step))

    t0 = time.perf_counter()
    history = train(model, train_tokens, val_tokens, _config(steps))
    train_seconds = time.perf_counter() - t0
    model.eval()

    prompts = val_tokens[:16].reshape(2, 8)
    draws = [generate(model, prompts, CONTEXT - 8, temperature=1.0, use_cache=use_cache,
                      generator=torch.Generator().manual_seed(0)) for use_cache in (True, False)]
    if not torch.equal(*draws):
        raise RuntimeError("sampling with and without the cache disagree")
    return {"model": model, "history": history, "samples": draws[0],
            "tokens_per_second": steps * TOKENS_PER_STEP / train_seconds, "steps": steps,
            "seconds": time.perf_counter() - start}
