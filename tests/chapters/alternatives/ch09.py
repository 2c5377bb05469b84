"""Chapter 9 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F``, the given cells' names (``PRETOKENIZE``,
``cross_entropy``, ``AdamW``, ``cosine_schedule``, ``clip_grad_norm``, ``flops_per_token``,
``measure_peak_flops``) and the chapter's earlier
exercises (``get_batch``, ``accumulate_gradients``, ``all_reduce_gradients``): the reference here,
the student's own code in a notebook.
"""

from __future__ import annotations

import torch

from autograder.symbolic import Answer
from reference.data import PRETOKENIZE, get_batch
from reference.distributed import all_reduce_gradients
from reference.losses import cross_entropy
from reference.optim import AdamW, clip_grad_norm, cosine_schedule
from reference.train import accumulate_gradients, flops_per_token, measure_peak_flops


def bpe_bytes_words(text, vocab_size, special_tokens=()):
    """Words as tuples of bytes objects; the pair itself is the tie-break key."""
    import re

    counts = {}
    chunks = re.split("|".join(map(re.escape, special_tokens)), text) if special_tokens else [text]
    for chunk in chunks:
        for pre in PRETOKENIZE.findall(chunk):
            key = tuple(bytes([c]) for c in pre.encode("utf-8"))
            counts[key] = counts.get(key, 0) + 1
    merges = []
    while len(merges) < vocab_size - 256 - len(special_tokens):
        pairs = {}
        for word, c in counts.items():
            for i in range(len(word) - 1):
                pairs[word[i:i + 2]] = pairs.get(word[i:i + 2], 0) + c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        new_counts = {}
        for word, c in counts.items():
            out = []
            i = 0
            while i < len(word):
                if word[i:i + 2] == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_counts[tuple(out)] = new_counts.get(tuple(out), 0) + c
        counts = new_counts
    vocab = {i: bytes([i]) for i in range(256)}
    for a, b in merges:
        vocab[len(vocab)] = a + b
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, merges


BPE_ALTERNATIVES = (bpe_bytes_words,)


class TokMergesInOrder:
    """Apply each merge, in the order learned, once over the whole pre-token: the same result
    as always merging the lowest-ranked pair present."""

    def __init__(self, vocab, merges, special_tokens=()):
        self.vocab = dict(vocab)
        self.special = list(special_tokens)
        self.ids = {b: i for i, b in self.vocab.items()}
        self.merges = [(self.ids[a], self.ids[b], self.ids[a + b]) for a, b in merges]

    def encode(self, text):
        import re

        out = []
        parts = re.split("(" + "|".join(map(re.escape, sorted(self.special, key=len)[::-1]))
                         + ")", text) if self.special else [text]
        for part in parts:
            if not part:
                continue
            if part in self.special:
                out.append(self.ids[part.encode("utf-8")])
                continue
            for pre in PRETOKENIZE.findall(part):
                w = [self.ids[bytes([c])] for c in pre.encode("utf-8")]
                for a, b, new in self.merges:
                    if len(w) < 2:
                        break
                    i, nw = 0, []
                    while i < len(w):
                        if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                            nw.append(new)
                            i += 2
                        else:
                            nw.append(w[i])
                            i += 1
                    w = nw
                out.extend(w)
        return out

    def decode(self, ids):
        return bytes(b for i in ids for b in self.vocab[i]).decode("utf-8", errors="replace")


TOKENIZER_ALTERNATIVES = (TokMergesInOrder,)


def pack_tensor_cat(docs, seq_len, eos_id):
    eos = torch.tensor([eos_id])
    stream = torch.cat([torch.cat([torch.as_tensor(d, dtype=torch.long).reshape(-1), eos])
                        for d in docs]) if docs else torch.zeros(0, dtype=torch.long)
    usable = stream.numel() - stream.numel() % seq_len
    return stream[:usable].view(-1, seq_len)


PACK_ALTERNATIVES = (pack_tensor_cat,)


def batch_stack(tokens, batch_size, context_length, device="cpu", generator=None):
    starts = torch.randint(0, len(tokens) - context_length, (batch_size,), generator=generator)
    x = torch.stack([tokens[s:s + context_length] for s in starts.tolist()]).to(torch.int64)
    y = torch.stack([tokens[s + 1:s + 1 + context_length] for s in starts.tolist()])
    return x.to(device), y.to(torch.int64).to(device)


def batch_unfold(tokens, batch_size, context_length, device="cpu", generator=None):
    o = torch.randint(0, tokens.shape[0] - context_length, (batch_size,), generator=generator)
    windows = tokens.long().unfold(0, context_length + 1, 1)  # (N - T, T + 1)
    w = windows[o]
    return w[:, :context_length].to(device), w[:, 1:].to(device)


BATCH_ALTERNATIVES = (batch_stack, batch_unfold)


def acc_divide_at_end(model, micro_batches, loss_fn):
    """Backward on n_i * loss_i (sums), then divide every gradient by N once."""
    model.zero_grad(set_to_none=True)
    n_total = 0
    loss_sum = 0.0
    for x, y in micro_batches:
        s = loss_fn(model(x), y) * y.numel()
        s.backward()
        loss_sum = loss_sum + s.detach()
        n_total += y.numel()
    for p in model.parameters():
        if p.grad is not None:
            p.grad.div_(n_total)
    return loss_sum / n_total


ACCUMULATE_ALTERNATIVES = (acc_divide_at_end,)


def mfu_seconds(flops_per_token, tokens_per_second, peak_flops):
    seconds_per_token = 1.0 / tokens_per_second
    time_at_peak = flops_per_token / peak_flops
    return time_at_peak / seconds_per_token


MFU_ALTERNATIVES = (mfu_seconds,)


def train_written_differently(model, train_tokens, val_tokens, config):
    """The run's whole state in one dict (what a checkpoint saves and a resume loads back),
    evaluation under inference_mode, the precision's context picked once, and the autocast
    forward as a plain object with ``parameters()`` and a call instead of an ``nn.Module``."""
    import contextlib
    import os
    import time

    device = config.device if config.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    kind = torch.device(device).type
    dtype = getattr(torch, config.dtype) if config.dtype != "auto" else (
        torch.bfloat16 if kind == "cuda" else torch.float32)
    precision = (contextlib.nullcontext if dtype == torch.float32 else
                 lambda: torch.autocast(kind, dtype=dtype))
    params = [p for p in model.to(device).train().parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if (p.dim() >= 2) == decay],
               "weight_decay": config.weight_decay * decay} for decay in (True, False)]
    opt = AdamW([g for g in groups if g["params"]], lr=config.lr, betas=config.betas)
    scaler = torch.amp.GradScaler(kind, enabled=dtype == torch.float16)
    parts, gen = {"model": model, "optimizer": opt, "scaler": scaler}, torch.Generator()
    run = {"step": 0, "batch_rng": gen.manual_seed(config.seed).get_state(),
           "history": {k: [] for k in (
               "step", "lr", "train_loss", "val_step", "val_loss", "tokens_per_s", "mfu")}}
    path = config.checkpoint_path
    if path and config.resume and os.path.exists(path):
        run = torch.load(path, weights_only=False)
        for name, part in parts.items():
            part.load_state_dict(run[name])
    gen.set_state(run["batch_rng"])
    hist = run["history"]

    def mean_loss(logits, y):
        return cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), y)

    class LowPrecisionForward:  # all accumulate_gradients needs: the parameters and a call
        def parameters(self):
            return model.parameters()

        def __call__(self, x):
            with precision():
                return model(x)

    def evaluate():
        g, total = torch.Generator().manual_seed(config.seed + 1), 0.0
        with torch.inference_mode():
            for _ in range(config.eval_batches):
                x, y = get_batch(val_tokens, config.batch_size, config.context_length, device, g)
                with precision():
                    logits = model.eval()(x)
                total += float(mean_loss(logits, y))
        model.train()
        return total / config.eval_batches

    end = config.max_steps if config.stop_at_step is None else min(config.max_steps,
                                                                   config.stop_at_step)
    busy, fpt = [], flops_per_token(model, config.context_length)
    peak = config.peak_flops or measure_peak_flops(device, dtype)
    for step in range(run["step"], end):
        start = time.perf_counter()
        lr = cosine_schedule(step, config.lr, config.min_lr, config.warmup_steps, config.max_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        micro = [get_batch(train_tokens, config.batch_size, config.context_length, device, gen)
                 for _ in range(config.grad_accum_steps)]
        loss = float(accumulate_gradients(LowPrecisionForward(), micro, lambda z, y: scaler.scale(
            mean_loss(z, y)))) / (scaler.get_scale() if scaler.is_enabled() else 1.0)
        scaler.unscale_(opt)
        if config.grad_clip > 0:
            clip_grad_norm(params, config.grad_clip)
        scaler.step(opt)
        scaler.update()
        if kind == "cuda":
            torch.cuda.synchronize()
        busy.append(time.perf_counter() - start)
        for key, value in (("step", step), ("lr", lr), ("train_loss", loss)):
            hist[key].append(value)
        if (step + 1) % config.log_interval == 0 or step + 1 == end:
            tokens_per_s = len(busy) * config.batch_size * config.context_length \
                * config.grad_accum_steps / sum(busy)
            hist["tokens_per_s"].append(tokens_per_s)
            hist["mfu"].append(fpt * tokens_per_s / peak)
            busy.clear()
        if (step + 1) % config.eval_interval == 0 or step == config.max_steps - 1:
            hist["val_step"].append(step)
            hist["val_loss"].append(evaluate())
        if path and ((step + 1) % config.checkpoint_interval == 0 or step + 1 == end):
            torch.save({**{name: part.state_dict() for name, part in parts.items()},
                        "step": step + 1, "history": hist, "batch_rng": gen.get_state()},
                       path)
    return hist


TRAIN_ALTERNATIVES = (train_written_differently,)


def ar_one_bucket(model):
    """One flat buffer, one collective (what DDP's buckets do), copied back into each gradient."""
    import torch.distributed as dist
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def ar_all_gather(model):
    import torch.distributed as dist
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is None:
            continue
        parts = [torch.empty_like(p.grad) for _ in range(world)]
        dist.all_gather(parts, p.grad)
        total = parts[0].clone()
        for part in parts[1:]:
            total += part
        p.grad.copy_(total / world)


ALL_REDUCE_ALTERNATIVES = (ar_one_bucket, ar_all_gather)


def ddp_with_helper(model, optimizer, x, y, loss_fn):
    """Zeroing at the end of the step instead of the start (the first call clears stale
    gradients itself), reusing all_reduce_gradients from the exercise above."""
    if any(p.grad is not None for p in model.parameters()):
        for p in model.parameters():
            p.grad = None
    loss = loss_fn(model(x), y)
    loss.backward()
    all_reduce_gradients(model)
    optimizer.step()
    optimizer.zero_grad()
    return loss.detach()


DDP_ALTERNATIVES = (ddp_with_helper,)


# =========================================================================== derivations
# Formulas are graded as text (read, never run): the alternatives are answer-cell texts.
LINEAR_FLOPS_ALTERNATIVES = (
    Answer("six_mn", "def linear_training_flops(m, n):\n    return 6 * m * n\n"),
    Answer("per_pass", "def linear_training_flops(m, n):\n    macs = m * n  # one product\n"
                       "    flops = 2 * macs\n    flops += 2 * (2 * macs)  # backward: twice\n"
                       "    return flops\n"),
)

ALTERNATIVES = {
    "ch09.train_bpe": BPE_ALTERNATIVES,
    "ch09.BPETokenizer": TOKENIZER_ALTERNATIVES,
    "ch09.pack_documents": PACK_ALTERNATIVES,
    "ch09.get_batch": BATCH_ALTERNATIVES,
    "ch09.accumulate_gradients": ACCUMULATE_ALTERNATIVES,
    "ch09.linear_training_flops": LINEAR_FLOPS_ALTERNATIVES,
    "ch09.estimate_mfu": MFU_ALTERNATIVES,
    "ch09.train": TRAIN_ALTERNATIVES,
    "ch09.all_reduce_gradients": ALL_REDUCE_ALTERNATIVES,
    "ch09.ddp_train_step": DDP_ALTERNATIVES,
}
