"""Chapter 12's capstone: its driver (which measures what the student's run returns: the loss on
held-out tokens it never saw, the wall time, the cache, the report) and the stand-ins for what the student's ``capstone`` assembles besides the
course GPT (``.blocks.GPT``, whose key/value cache ``generate`` uses): Chapter 9's ``TrainConfig``
and ``train``, and Chapter 10's ``generate``.

``train`` reaches what ``reference/train.py`` reaches — the same batches (one CPU generator seeded
with ``config.seed``), schedule (linear warmup, then half a cosine), optimizer (AdamW, decay on
matrices only), clipping, accumulation and evaluation batches (a fresh generator seeded with
``seed + 1`` each time) — with PyTorch's optimizer and clipping, so its weights match the
reference's to rounding, not bit for bit. It prints nothing, writes no checkpoint, draws nothing
from the global RNG, and measures no peak: the MFU is 0.0 unless ``config.peak_flops`` is given.
``generate`` is ``reference/decoding.py``'s, operation for operation, so that with the same seeded
generator it draws the same tokens.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .generation import sample_next_token
from .registry import driver, standin
from .tokens import get_batch


# --------------------------------------------------------------------------- Chapter 9
@standin("ch09.TrainConfig")
@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the model and the data (the reference's
    fields and defaults; the stand-in ``train`` ignores the checkpoint and progress fields)."""

    max_steps: int = 200  # optimizer steps; also the length of the cosine schedule
    batch_size: int = 16  # sequences per micro-batch
    grad_accum_steps: int = 1  # micro-batches per step: the effective batch is their product
    context_length: int = 64  # tokens per sequence
    lr: float = 3e-3  # peak learning rate, reached at the end of warmup
    min_lr: float = 3e-4  # floor of the cosine decay
    warmup_steps: int = 20  # linear warmup: Adam's moment estimates need a few steps
    weight_decay: float = 0.1  # decoupled decay on matrices only
    betas: tuple = (0.9, 0.95)  # beta2 < 0.999 adapts faster to a changing gradient scale
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    eval_interval: int = 50  # steps between evaluations on the validation stream
    eval_batches: int = 8  # batches averaged per evaluation
    dtype: str = "auto"  # "float32", "bfloat16", "float16"; auto: bfloat16 on CUDA, else float32
    device: str = "auto"  # auto: CUDA when present
    seed: int = 0  # seeds the batch order (evaluation uses seed + 1)
    checkpoint_path: str | None = None  # the reference saves/resumes here; ignored by the stand-in
    checkpoint_interval: int = 100  # steps between the reference's checkpoints
    resume: bool = True  # the reference continues from checkpoint_path when it exists
    stop_at_step: int | None = None  # end early after this many steps (a preempted job's slot)
    peak_flops: float | None = None  # hardware peak for MFU; None: the stand-in reports 0.0
    log_interval: int = 10  # steps between throughput records
    progress: bool = True  # the reference prints a progress line; the stand-in never prints


def lr_at(step, config) -> float:
    """The learning rate of step ``step`` (from 0): max_lr · step / warmup during warmup, then
    min_lr + (max_lr − min_lr) · (1 + cos(π r)) / 2, r = (step − warmup) / (max_steps − warmup),
    and min_lr from max_steps on."""
    max_lr, min_lr, warmup, total = config.lr, config.min_lr, config.warmup_steps, config.max_steps
    if step < warmup:
        return max_lr * step / warmup
    if step >= total:
        return float(min_lr)
    r = (step - warmup) / (total - warmup)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * r))


def _device_and_dtype(config) -> tuple[torch.device, torch.dtype]:
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                          if config.device == "auto" else config.device)
    if config.dtype == "auto":
        return device, torch.bfloat16 if device.type == "cuda" else torch.float32
    return device, getattr(torch, config.dtype)


def _token_loss(logits, y) -> torch.Tensor:
    """Mean cross-entropy over every target, on the logits promoted to at least float32."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _flops_per_token(model, context_length) -> int:
    """6 N (forward and backward matrix products) + 12 L T D (attention), as the reference."""
    n_params = sum(p.numel() for p in model.parameters())
    d_model = getattr(getattr(model, "tok_emb", None), "embedding_dim", 0)
    return 6 * n_params + 12 * len(getattr(model, "blocks", [])) * context_length * d_model


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _evaluate(model, tokens, config, device, autocast) -> float:
    """Mean loss over ``eval_batches`` batches, the same batches at every evaluation."""
    gen = torch.Generator().manual_seed(config.seed + 1)
    was_training = model.training
    model.eval()
    losses = []
    for _ in range(config.eval_batches):
        x, y = get_batch(tokens, config.batch_size, config.context_length, device, gen)
        with autocast():
            losses.append(float(_token_loss(model(x), y)))
    model.train(was_training)
    return sum(losses) / len(losses)


@standin("ch09.train")
def train(model, train_tokens, val_tokens, config):
    """Next-token training of ``model`` (logits = model(x)); returns the history: "step", "lr",
    "train_loss" per step, "val_step", "val_loss" per evaluation, "tokens_per_s", "mfu" per
    ``log_interval`` steps (and at the end).

    Shape:
        train_tokens, val_tokens: (n,) integer token streams
    """
    device, dtype = _device_and_dtype(config)
    train_tokens, val_tokens = torch.as_tensor(train_tokens), torch.as_tensor(val_tokens)
    model.to(device)
    model.train()

    def autocast():
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)

    # float16 alone has too few exponent bits for small gradients: scale the loss, unscale after
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr,
                                  betas=tuple(config.betas))
    batch_gen = torch.Generator().manual_seed(config.seed)
    history = {"step": [], "lr": [], "train_loss": [], "val_step": [], "val_loss": [],
               "tokens_per_s": [], "mfu": []}
    fpt = _flops_per_token(model, config.context_length)
    tokens_per_step = config.batch_size * config.context_length * config.grad_accum_steps
    end = config.max_steps if config.stop_at_step is None else min(config.max_steps,
                                                                   config.stop_at_step)
    busy, steps_since = 0.0, 0  # seconds in training steps only (not evaluation)
    for step in range(end):
        _sync(device)
        t0 = time.perf_counter()
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = 0.0
        for _ in range(config.grad_accum_steps):  # equal micro-batches: each weighs 1/n
            x, y = get_batch(train_tokens, config.batch_size, config.context_length, device,
                             batch_gen)
            with autocast():
                micro = _token_loss(model(x), y) / config.grad_accum_steps
            scaler.scale(micro).backward()
            loss += float(micro.detach())
        scaler.unscale_(optimizer)  # clipping must see the true gradients
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        scaler.step(optimizer)  # skipped (and the scale lowered) if a gradient overflowed
        scaler.update()
        _sync(device)
        busy += time.perf_counter() - t0
        steps_since += 1
        history["step"].append(step)
        history["lr"].append(lr)
        history["train_loss"].append(loss)
        if (step + 1) % config.log_interval == 0 or step + 1 == end:
            tok_s = steps_since * tokens_per_step / max(busy, 1e-9)
            history["tokens_per_s"].append(tok_s)
            history["mfu"].append(0.0 if config.peak_flops is None
                                  else fpt * tok_s / config.peak_flops)
            busy, steps_since = 0.0, 0
        if (step + 1) % config.eval_interval == 0 or step == config.max_steps - 1:
            history["val_step"].append(step)
            history["val_loss"].append(_evaluate(model, val_tokens, config, device, autocast))
    return history


# --------------------------------------------------------------------------- Chapter 10
@standin("ch10.generate")
def generate(model, prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
             eos_id=None, generator=None, use_cache=True):
    """Continue each prompt by up to ``max_new_tokens`` tokens; with ``use_cache`` the model
    is fed the prompt once, then one token per call (``model.make_cache``, ``model(idx,
    cache=...)``). A row that drew ``eos_id`` gets eos_id from then on; the loop ends early once
    every row has.

    Shape:
        prompt: (B, T0) int64
        output: (B, T0 + n) int64, n <= max_new_tokens
    """
    seq = prompt
    finished = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)  # (B,)
    cache = (model.make_cache(prompt.shape[0], prompt.shape[1] + max_new_tokens)
             if use_cache else None)
    fresh = prompt  # (B, t): the positions the model has not seen yet
    for _ in range(max_new_tokens):
        logits = model(fresh, cache=cache) if use_cache else model(seq)  # (B, t, V)
        token = sample_next_token(logits[:, -1], temperature, top_k, top_p, generator)  # (B,)
        if eos_id is not None:
            token = token.masked_fill(finished, eos_id)
            finished = finished | (token == eos_id)
        seq = torch.cat([seq, token[:, None]], dim=1)  # (B, T + 1)
        fresh = token[:, None]
        if eos_id is not None and bool(finished.all()):
            break
    return seq


# --------------------------------------------------------------------------- the driver
REPORT_KEYS = ("model", "history", "samples", "tokens_per_second")
REPORT_PROBLEMS = {  # the report's status code -> what is wrong with it (0: nothing)
    1: "capstone must return a dict with the keys 'model', 'history', 'samples', "
       "'tokens_per_second'",
    2: "'history' must be train's history: non-empty lists of finite numbers under "
       "'train_loss' and 'val_loss'",
    3: "'samples' must be a 2-D int64 tensor of token ids of the vocabulary",
    4: "'tokens_per_second' must be a positive number",
    5: "'tokens_per_second' is more than 3× away from the training loop's own measurement "
       "(history['tokens_per_s']): count tokens (steps × batch size × context), not steps",
}


def _finite_numbers(values) -> bool:
    return (isinstance(values, list) and len(values) > 0
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values))


def report_status(out, vocab_size: int) -> int:
    """0 when ``out`` is a complete capstone report, else the code of its first problem."""
    if not isinstance(out, dict) or any(k not in out for k in REPORT_KEYS):
        return 1
    history = out["history"]
    if not isinstance(history, dict) or not all(
            _finite_numbers(history.get(k)) for k in ("train_loss", "val_loss")):
        return 2
    s = out["samples"]
    if (type(s) is not torch.Tensor or s.dim() != 2 or s.dtype != torch.int64  # noqa: E721
            or s.numel() == 0 or int(s.min()) < 0 or int(s.max()) >= vocab_size):
        return 3
    tps = out["tokens_per_second"]
    if type(tps) is torch.Tensor and tps.numel() == 1:  # noqa: E721
        tps = float(tps)
    if not isinstance(tps, (int, float)) or not math.isfinite(tps) or tps <= 0:
        return 4
    measured = history.get("tokens_per_s")
    if _finite_numbers(measured) and not 1 / 3 <= tps / (sum(measured) / len(measured)) <= 3:
        return 5
    return 0


def held_out_loss(model, tokens, window: int, skip: int) -> float:
    """Mean cross-entropy (nats) of ``model`` on ``tokens`` cut into windows of ``window`` + 1:
    each window's first ``window`` tokens are fed, and the predictions of positions ``skip`` ..
    ``window`` − 1 (which see at least ``skip`` + 1 tokens) are scored."""
    n = (len(tokens) - 1) // window
    x = tokens[: n * window].view(n, window)
    y = tokens[1: n * window + 1].view(n, window)
    with torch.no_grad():
        logits = model(x).double()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, y[..., None])[..., 0]  # (n, window)
    return float(-logp[:, skip:].mean())


def _cache_agrees(model, prompts, new_tokens: int) -> bool:
    """Greedy continuations with and without the model's key/value cache are the same."""
    try:
        with torch.no_grad():
            runs = [generate(model, prompts, new_tokens, temperature=0, use_cache=use_cache)
                    for use_cache in (True, False)]
    except (AttributeError, TypeError):  # no make_cache, or a forward without cache=
        return False
    return torch.equal(*runs)


@driver
def drive_capstone(fn, train_tokens, val_tokens, held_out, *, budget_seconds, floor, window=32,
                   skip=4):
    """Run ``fn(train_tokens, val_tokens, budget_seconds)`` and measure what it returns. The
    held-out tokens (same source, never shown to ``fn``) score the model; ``floor`` (the
    source's entropy rate) is for the chapter's checks. Returns (held-out loss in nats, wall
    seconds of the call, whether greedy decoding with and without the cache agree (0/1), the
    report's status: 0 or a code of ``REPORT_PROBLEMS``)."""
    start = time.perf_counter()
    out = fn(train_tokens, val_tokens, budget_seconds)
    seconds = time.perf_counter() - start
    status = report_status(out, int(max(train_tokens.max(), held_out.max())) + 1)
    model = out.get("model") if isinstance(out, dict) else None
    if not isinstance(model, torch.nn.Module):
        raise TypeError("capstone must return a dict whose 'model' is the trained nn.Module, got "
                        f"{type(model).__name__}")
    model.eval()
    loss = held_out_loss(model, held_out, window, skip)
    agrees = _cache_agrees(model, held_out[:2 * 8].view(2, 8), window - 8)
    f64 = dict(dtype=torch.float64)
    return (torch.tensor(loss, **f64), torch.tensor(seconds, **f64), torch.tensor(int(agrees)),
            torch.tensor(status))
