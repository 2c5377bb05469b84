"""Chapter 9 catalog: common mistakes, as patches on the solution's answer cell (``{old: new}``,
see ``spec.Mistake``), and correct implementations written differently. Alternatives are also
pasted into a notebook by the platform's tests, so each may use only ``math``, ``torch``, ``nn``,
``F``, the given cells' names (``PRETOKENIZE``, ``cross_entropy``, ``AdamW``, ``cosine_schedule``,
``clip_grad_norm``) and the chapter's earlier exercises (``get_batch``, ``accumulate_gradients``,
``all_reduce_gradients``): the reference here, the student's own code in a notebook."""

from __future__ import annotations

import torch

from autograder.spec import Mistake
from reference.data import PRETOKENIZE, get_batch  # noqa: F401 (used by pasted code)
from reference.distributed import all_reduce_gradients  # noqa: F401
from reference.losses import cross_entropy  # noqa: F401
from reference.optim import AdamW, clip_grad_norm, cosine_schedule  # noqa: F401
from reference.train import accumulate_gradients  # noqa: F401

_PRE_TOKENS = {"PRETOKENIZE.findall(piece)": "[piece]"}  # train_bpe's and BPETokenizer's split


# =========================================================================== train_bpe
BPE_MISTAKES = (
    Mistake(key="tie_smallest", title="ties broken towards the smallest pair",
            hint="among equally frequent pairs, merge the lexicographically GREATEST (left bytes, "
                 "right bytes)",
            patch={"max(pairs, key=lambda p: (pairs[p],": "min(pairs, key=lambda p: (-pairs[p],"}),
    Mistake(key="no_pretokenize", title="merges learned across pre-token boundaries",
            hint="split the text with PRETOKENIZE first; count pairs inside each pre-token only",
            patch=_PRE_TOKENS),
    Mistake(key="unweighted_counts", title="each distinct pre-token counted once",
            hint="weight every pair by how many times its pre-token occurs in the text",
            patch={'encode("utf-8"))] += 1': 'encode("utf-8"))] = 1'}),
    Mistake(key="size_without_special", title="special tokens not counted in vocab_size",
            hint="the number of merges is vocab_size − 256 − len(special_tokens)",
            patch={"256 - len(special_tokens)": "256"}),
)


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


# =========================================================================== BPETokenizer
TOKENIZER_MISTAKES = (
    Mistake(key="leftmost_first", title="the leftmost mergeable pair merged first",
            hint="always merge the pair that was LEARNED earliest (lowest rank), wherever it is",
            patch={"pair = min(found)": "pair = found[0]"}),
    Mistake(key="no_pretokenize", title="merges applied across pre-token boundaries",
            hint="split with PRETOKENIZE and encode each pre-token separately", patch=_PRE_TOKENS),
    Mistake(key="per_token_decode", title="each token decoded to text on its own",
            hint="join all the tokens' bytes first, then decode once: a character's bytes can be "
                 "split across tokens",
            patch={'b"".join(self.vocab[int(i)] for i in ids).decode("utf-8", errors="replace")':
                   '"".join(self.vocab[int(i)].decode("utf-8", errors="replace") for i in ids)'}),
    Mistake(key="ignores_special", title="special tokens encoded as ordinary text",
            hint="split the text on the special tokens first and give each its own id",
            patch={"self.special_tokens = tuple(special_tokens)": "self.special_tokens = ()"}),
)


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
                w = list(pre.encode("utf-8"))
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


# =========================================================================== pack_documents
_DOC, _EOS = ("        parts.append(torch.as_tensor(d, dtype=torch.long).reshape(-1))\n",
              "        parts.append(torch.tensor([eos_id], dtype=torch.long))\n")

PACK_MISTAKES = (
    Mistake(key="no_eos", title="documents concatenated without EOS",
            hint="append eos_id after every document", patch={_EOS: ""}),
    Mistake(key="eos_before", title="EOS placed before each document",
            hint="EOS goes AFTER each document", patch={_DOC + _EOS: _EOS + _DOC}),
    Mistake(key="pads_tail", title="the incomplete tail padded into a row",
            hint="drop the incomplete last row: packing means no padding",
            patch={"n_rows = stream.numel() // seq_len": "n_rows = -(-stream.numel() // seq_len)\n"
                   "    stream = torch.cat([stream, stream.new_full((n_rows * seq_len - "
                   "stream.numel(),), eos_id)])"}),
    Mistake(key="no_final_eos", title="no EOS after the last document",
            hint="every document, the last one included, is followed by eos_id",
            patch={"torch.cat(parts) if parts": "torch.cat(parts[:-1]) if parts"}),
)


def pack_tensor_cat(docs, seq_len, eos_id):
    eos = torch.tensor([eos_id])
    stream = torch.cat([torch.cat([torch.as_tensor(d, dtype=torch.long).reshape(-1), eos])
                        for d in docs]) if docs else torch.zeros(0, dtype=torch.long)
    usable = stream.numel() - stream.numel() % seq_len
    return stream[:usable].view(-1, seq_len)


PACK_ALTERNATIVES = (pack_tensor_cat,)


# =========================================================================== get_batch
BATCH_MISTAKES = (
    Mistake(key="never_last_window",
            title="the last window is never drawn (randint's high off by one)",
            hint="torch.randint's high is exclusive: draw from torch.randint(0, N − T, ...)",
            patch={"n - context_length,": "n - context_length - 1,"}),
    Mistake(key="targets_not_shifted", title="y equals x",
            hint="y is x shifted by one token: tokens[o + 1 : o + T + 1]",
            patch={"window[:, 1:].to(device)": "window[:, :-1].to(device)"}),
    Mistake(key="without_replacement", title="offsets drawn without replacement (randperm)",
            hint="draw independent uniform offsets with one torch.randint call",
            patch={"torch.randint(0, n - context_length, (batch_size,), generator=generator)":
                   "torch.cat([torch.randperm(n - context_length, generator=generator) for _ in "
                   "range(-(-batch_size // (n - context_length)))])[:batch_size]"}),
)


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


# =========================================================================== accumulate_gradients
ACCUMULATE_MISTAKES = (
    Mistake(key="no_weighting", title="micro-batch losses summed without weighting",
            hint="weight loss_i by n_i / N so the gradients add up to the mean over all targets",
            patch={" * (y.numel() / n_total)": ""}),
    Mistake(key="equal_weights", title="each micro-batch weighted 1/k whatever its size",
            hint="weight by the number of targets n_i / N: micro-batches can differ in size",
            patch={"(y.numel() / n_total)": "(1 / len(micro_batches))"}),
    Mistake(key="stale_gradients", title="gradients from before the call kept",
            hint="set every p.grad to None (or zero) before accumulating",
            patch={"    for p in model.parameters():\n        p.grad = None\n": ""}),
    Mistake(key="returns_last_loss", title="returns the last micro-batch's loss",
            hint="return the weighted mean over all micro-batches",
            patch={"loss = loss_fn(model(x), y) *":
                   "last = loss_fn(model(x), y)\n        loss = last *",
                   "return total": "return last.detach()"}),
)


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


# =========================================================================== estimate_mfu
MFU_MISTAKES = (
    Mistake(key="percent", title="MFU returned in percent", hint="return a fraction (0.4, not 40)",
            patch={"return flops_per_token": "return 100 * flops_per_token"}),
    Mistake(key="inverted", title="peak over achieved", hint="MFU = achieved FLOP/s / peak FLOP/s",
            patch={"return flops_per_token * tokens_per_second / peak_flops":
                   "return peak_flops / (flops_per_token * tokens_per_second)"}),
    Mistake(key="six_again", title="the 6 counted twice",
            hint="flops_per_token already includes the 6 (forward + backward)",
            patch={"return flops_per_token": "return 6 * flops_per_token"}),
)


def mfu_seconds(flops_per_token, tokens_per_second, peak_flops):
    seconds_per_token = 1.0 / tokens_per_second
    time_at_peak = flops_per_token / peak_flops
    return time_at_peak / seconds_per_token


MFU_ALTERNATIVES = (mfu_seconds,)


# =========================================================================== train
TRAIN_MISTAKES = (
    Mistake(key="lr_off_by_one", title="the schedule read at step + 1",
            hint="step s (from 0) uses cosine_schedule(s, ...): 0 at the very first step",
            patch={"cosine_schedule(step,": "cosine_schedule(step + 1,"}),
    Mistake(key="decay_everything", title="weight decay applied to biases and gains too",
            hint="put parameters with dim < 2 in a group with weight_decay=0",
            patch={'"weight_decay": 0.0}': '"weight_decay": config.weight_decay}'}),
    Mistake(key="no_clipping", title="gradients never clipped",
            hint="call clip_grad_norm(params, config.grad_clip) after backward (when "
                 "grad_clip > 0)",
            patch={"clip_grad_norm(params, config.grad_clip)": "pass"}),
    Mistake(key="batch_rng_not_restored", title="resuming restarts the batch generator",
            hint="save the batch generator's get_state() in the checkpoint and set_state() it on "
                 "resume, or the resumed run sees different batches",
            patch={'batch_gen.set_state(state["batch_rng"])': "pass"}),
    Mistake(key="eval_uses_train_rng", title="evaluation draws from the training generator",
            hint="evaluate with its own generator, seeded with seed + 1 each time, so evaluating "
                 "never changes the training batches",
            patch={"gen = torch.Generator().manual_seed(config.seed + 1)": "gen = batch_gen"}),
    Mistake(key="no_autocast", title="config.dtype ignored: everything computed in float32",
            hint="unless the dtype is float32, run the forward passes (training and evaluation) "
                 "under torch.autocast(device_type, dtype=...)",
            patch={"return torch.autocast(device_type=device_type, dtype=dtype)":
                   "return contextlib.nullcontext()"}),
)


def train_written_differently(model, train_tokens, val_tokens, config):
    """The run's whole state in one dict (what a checkpoint saves and a resume loads back),
    evaluation under inference_mode, the precision's context picked once."""
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
           "torch_rng": torch.get_rng_state(), "history": {k: [] for k in (
               "step", "lr", "train_loss", "val_step", "val_loss", "tokens_per_s", "mfu")}}
    path = config.checkpoint_path
    if path and config.resume and os.path.exists(path):
        run = torch.load(path, weights_only=False)
        for name, part in parts.items():
            part.load_state_dict(run[name])
    gen.set_state(run["batch_rng"])
    torch.set_rng_state(run["torch_rng"])
    hist = run["history"]

    def mean_loss(logits, y):
        return cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), y)

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
    busy, n_params = [], sum(p.numel() for p in params)
    for step in range(run["step"], end):
        start = time.perf_counter()
        lr = cosine_schedule(step, config.lr, config.min_lr, config.warmup_steps, config.max_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        micro = [get_batch(train_tokens, config.batch_size, config.context_length, device, gen)
                 for _ in range(config.grad_accum_steps)]
        with precision():
            loss = float(accumulate_gradients(model, micro, lambda z, y: scaler.scale(
                mean_loss(z, y)))) / (scaler.get_scale() if scaler.is_enabled() else 1.0)
        scaler.unscale_(opt)
        if config.grad_clip > 0:
            clip_grad_norm(params, config.grad_clip)
        scaler.step(opt)
        scaler.update()
        busy.append(time.perf_counter() - start)
        for key, value in (("step", step), ("lr", lr), ("train_loss", loss)):
            hist[key].append(value)
        if (step + 1) % config.log_interval == 0 or step + 1 == end:
            tokens_per_s = len(busy) * config.batch_size * config.context_length \
                * config.grad_accum_steps / sum(busy)
            hist["tokens_per_s"].append(tokens_per_s)
            hist["mfu"].append(6 * n_params * tokens_per_s / (config.peak_flops or 1e12))
            busy.clear()
        if (step + 1) % config.eval_interval == 0 or step == config.max_steps - 1:
            hist["val_step"].append(step)
            hist["val_loss"].append(evaluate())
        if path and ((step + 1) % config.checkpoint_interval == 0 or step + 1 == end):
            torch.save({**{name: part.state_dict() for name, part in parts.items()},
                        "step": step + 1, "history": hist, "batch_rng": gen.get_state(),
                        "torch_rng": torch.get_rng_state()}, path)
    return hist


TRAIN_ALTERNATIVES = (train_written_differently,)


# =========================================================================== all_reduce_gradients
_REDUCE = "dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)"

ALL_REDUCE_MISTAKES = (
    Mistake(key="sum_not_mean", title="gradients summed over ranks, not averaged",
            hint="all_reduce sums; divide by dist.get_world_size() so the step equals the "
                 "large-batch step", patch={"p.grad.div_(world)": "pass"}),
    Mistake(key="broadcast", title="rank 0's gradient broadcast to every rank",
            hint="broadcast copies one rank's gradient and throws the others away; all_reduce "
                 "combines them",
            patch={_REDUCE: "dist.broadcast(p.grad, src=0)", "p.grad.div_(world)": "pass"}),
    Mistake(key="reduced_copy",
            title="a copy of each gradient reduced, the gradient left as it was",
            hint="all_reduce works in place on the tensor you pass: pass p.grad itself (or copy "
                 "the result back)",
            patch={_REDUCE: "g = p.grad.clone()\n            dist.all_reduce(g)",
                   "p.grad.div_(world)": "g.div_(world)"}),
    Mistake(key="divides_twice", title="gradients divided by the world size twice",
            hint="divide either before or after the sum, once: the result is the plain mean",
            patch={_REDUCE: f"p.grad.div_(world)\n            {_REDUCE}"}),
)


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


# =========================================================================== ddp_train_step
_ZERO = "    optimizer.zero_grad(set_to_none=True)\n"
_ALL_REDUCE = "    all_reduce_gradients(model)\n"

DDP_MISTAKES = (
    Mistake(key="no_all_reduce", title="gradients never averaged across ranks",
            hint="call all_reduce_gradients(model) between backward and optimizer.step(), or the "
                 "replicas drift apart", patch={_ALL_REDUCE: ""}),
    Mistake(key="zero_before_step", title="gradients zeroed between backward and optimizer.step()",
            hint="the order is zero_grad, forward, backward, all-reduce, step: zeroing after "
                 "backward throws the gradient away",
            patch={_ZERO: "", "    optimizer.step()": _ZERO + "    optimizer.step()"}),
    Mistake(key="no_zero_grad", title="gradients not zeroed before backward",
            hint="backward adds into .grad: call optimizer.zero_grad() first", patch={_ZERO: ""}),
    Mistake(key="sum_gradients", title="gradients summed over ranks, not averaged",
            hint="divide the all-reduced sum by the world size",
            patch={_ALL_REDUCE: "    for p in model.parameters():\n        if p.grad is not None:\n"
                                "            torch.distributed.all_reduce(p.grad)\n"}),
)


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
