"""Chapter 9 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently. Every function here is also pasted, as source, into a notebook's answer cell by the
platform's tests, so each must be self-contained: it may use only ``math``, ``torch``, ``nn``,
``F``, the names of the notebook's given cells (``PRETOKENIZE``, ``cross_entropy``, ``AdamW``,
``cosine_schedule``, ``clip_grad_norm``) and earlier exercises of the chapter (``get_batch``,
``accumulate_gradients``, ``all_reduce_gradients``), which resolve to the reference here and
to the student's own code in a notebook.
"""

from __future__ import annotations

import math  # noqa: F401 (available to pasted code)

import torch
import torch.nn as nn  # noqa: F401 (available to pasted code)

from autograder.spec import Mistake
from reference.data import PRETOKENIZE, get_batch  # noqa: F401 (used by pasted code)
from reference.distributed import all_reduce_gradients  # noqa: F401
from reference.losses import cross_entropy  # noqa: F401
from reference.optim import AdamW, clip_grad_norm, cosine_schedule  # noqa: F401
from reference.train import accumulate_gradients  # noqa: F401


# =========================================================================== train_bpe
def _bpe_core(text, vocab_size, special_tokens, tie="greatest", pretokenize=True, weighted=True,
              count_special=True):
    import re
    from collections import Counter

    n_merges = vocab_size - 256 - (len(special_tokens) if count_special else 0)
    vocab = {i: bytes([i]) for i in range(256)}
    if special_tokens:
        pattern = "(" + "|".join(re.escape(s) for s in sorted(special_tokens, key=len,
                                                                reverse=True)) + ")"
        pieces = [p for p in re.split(pattern, text) if p and p not in special_tokens]
    else:
        pieces = [text]
    words = Counter()
    for piece in pieces:
        for pre in (PRETOKENIZE.findall(piece) if pretokenize else [piece]):
            words[tuple(pre.encode("utf-8"))] += 1
    if not weighted:
        words = Counter({w: 1 for w in words})
    merges = []
    for _ in range(max(n_merges, 0)):
        pairs = Counter()
        for word, c in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += c
        if not pairs:
            break
        if tie == "greatest":
            best = max(pairs, key=lambda p: (pairs[p], vocab[p[0]], vocab[p[1]]))
        else:
            top = max(pairs.values())
            best = min((p for p in pairs if pairs[p] == top), key=lambda p: (vocab[p[0]], vocab[p[1]]))
        new = len(vocab)
        vocab[new] = vocab[best[0]] + vocab[best[1]]
        merges.append((vocab[best[0]], vocab[best[1]]))
        nxt = Counter()
        for word, c in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            nxt[tuple(out)] += c
        words = nxt
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, merges


def bpe_tie_smallest(text, vocab_size, special_tokens=()):
    return _bpe_core(text, vocab_size, special_tokens, tie="smallest")


def bpe_no_pretokenize(text, vocab_size, special_tokens=()):
    return _bpe_core(text, vocab_size, special_tokens, pretokenize=False)


def bpe_unweighted(text, vocab_size, special_tokens=()):
    return _bpe_core(text, vocab_size, special_tokens, weighted=False)


def bpe_size_without_special(text, vocab_size, special_tokens=()):
    return _bpe_core(text, vocab_size, special_tokens, count_special=False)


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


BPE_MISTAKES = (
    Mistake("tie_smallest", "ties broken towards the smallest pair",
            "among equally frequent pairs, merge the lexicographically GREATEST (left bytes, "
            "right bytes)", bpe_tie_smallest),
    Mistake("no_pretokenize", "merges learned across pre-token boundaries",
            "split the text with PRETOKENIZE first; count pairs inside each pre-token only",
            bpe_no_pretokenize),
    Mistake("unweighted_counts", "each distinct pre-token counted once",
            "weight every pair by how many times its pre-token occurs in the text", bpe_unweighted),
    Mistake("size_without_special", "special tokens not counted in vocab_size",
            "the number of merges is vocab_size − 256 − len(special_tokens)",
            bpe_size_without_special),
)
BPE_ALTERNATIVES = (bpe_bytes_words,)


# =========================================================================== BPETokenizer
class TokGreedyLeftmost:
    """Merges the leftmost mergeable pair first, not the earliest-learned one."""

    def __init__(self, vocab, merges, special_tokens=()):
        self.vocab = dict(vocab)
        self.special = tuple(special_tokens)
        inv = {b: i for i, b in self.vocab.items()}
        self.inv = inv
        self.merge = {(inv[a], inv[b]): inv[a + b] for a, b in merges}

    def _word(self, pre):
        w = list(pre.encode("utf-8"))
        changed = True
        while changed:
            changed = False
            for i in range(len(w) - 1):
                if (w[i], w[i + 1]) in self.merge:
                    w[i:i + 2] = [self.merge[(w[i], w[i + 1])]]
                    changed = True
                    break
        return w

    def encode(self, text):
        import re

        pieces = [text]
        if self.special:
            pattern = "(" + "|".join(re.escape(s) for s in sorted(self.special, key=len,
                                                                    reverse=True)) + ")"
            pieces = [p for p in re.split(pattern, text) if p]
        ids = []
        for p in pieces:
            if p in self.special:
                ids.append(self.inv[p.encode("utf-8")])
            else:
                for pre in PRETOKENIZE.findall(p):
                    ids += self._word(pre)
        return ids

    def decode(self, ids):
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")


class _TokRanked:
    """Correct core: lowest-ranked pair first; switches turn on mistakes."""

    pretokenize = True
    per_token_decode = False
    use_special = True

    def __init__(self, vocab, merges, special_tokens=()):
        self.vocab = dict(vocab)
        self.special = tuple(special_tokens) if self.use_special else ()
        inv = {b: i for i, b in self.vocab.items()}
        self.inv = inv
        self.rank = {(inv[a], inv[b]): r for r, (a, b) in enumerate(merges)}
        self.merged = {(inv[a], inv[b]): inv[a + b] for a, b in merges}

    def _word(self, pre):
        w = list(pre.encode("utf-8"))
        while len(w) > 1:
            pairs = [(self.rank[p], p) for p in zip(w, w[1:]) if p in self.rank]
            if not pairs:
                break
            _, best = min(pairs)
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(self.merged[best])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        return w

    def encode(self, text):
        import re

        pieces = [text]
        if self.special:
            pattern = "(" + "|".join(re.escape(s) for s in sorted(self.special, key=len,
                                                                    reverse=True)) + ")"
            pieces = [p for p in re.split(pattern, text) if p]
        ids = []
        for p in pieces:
            if p in self.special:
                ids.append(self.inv[p.encode("utf-8")])
            elif self.pretokenize:
                for pre in PRETOKENIZE.findall(p):
                    ids += self._word(pre)
            else:
                ids += self._word(p)
        return ids

    def decode(self, ids):
        if self.per_token_decode:
            return "".join(self.vocab[i].decode("utf-8", errors="replace") for i in ids)
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")


class TokNoPretokenize(_TokRanked):
    pretokenize = False


class TokPerTokenDecode(_TokRanked):
    per_token_decode = True


class TokIgnoresSpecial(_TokRanked):
    use_special = False


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


TOKENIZER_MISTAKES = (
    Mistake("leftmost_first", "the leftmost mergeable pair merged first",
            "always merge the pair that was LEARNED earliest (lowest rank), wherever it is",
            TokGreedyLeftmost),
    Mistake("no_pretokenize", "merges applied across pre-token boundaries",
            "split with PRETOKENIZE and encode each pre-token separately", TokNoPretokenize),
    Mistake("per_token_decode", "each token decoded to text on its own",
            "join all the tokens' bytes first, then decode once: a character's bytes can be "
            "split across tokens", TokPerTokenDecode),
    Mistake("ignores_special", "special tokens encoded as ordinary text",
            "split the text on the special tokens first and give each its own id",
            TokIgnoresSpecial),
)
TOKENIZER_ALTERNATIVES = (TokMergesInOrder,)


# =========================================================================== pack_documents
def _pack_core(docs, seq_len, eos_id, where="after", pad=False, last=True):
    stream = []
    for k, d in enumerate(docs):
        d = [int(t) for t in d]
        if where == "none":
            stream += d
        elif where == "before":
            stream += [eos_id] + d
        else:
            stream += d + ([eos_id] if last or k < len(docs) - 1 else [])
    if pad and len(stream) % seq_len:
        stream += [eos_id] * (seq_len - len(stream) % seq_len)
    n = len(stream) // seq_len
    return torch.tensor(stream[: n * seq_len], dtype=torch.long).reshape(n, seq_len)


def pack_no_eos(docs, seq_len, eos_id):
    return _pack_core(docs, seq_len, eos_id, where="none")


def pack_eos_before(docs, seq_len, eos_id):
    return _pack_core(docs, seq_len, eos_id, where="before")


def pack_pads_tail(docs, seq_len, eos_id):
    return _pack_core(docs, seq_len, eos_id, pad=True)


def pack_no_final_eos(docs, seq_len, eos_id):
    return _pack_core(docs, seq_len, eos_id, last=False)


def pack_tensor_cat(docs, seq_len, eos_id):
    eos = torch.tensor([eos_id])
    stream = torch.cat([torch.cat([torch.as_tensor(d, dtype=torch.long).reshape(-1), eos])
                        for d in docs]) if docs else torch.zeros(0, dtype=torch.long)
    usable = stream.numel() - stream.numel() % seq_len
    return stream[:usable].view(-1, seq_len)


PACK_MISTAKES = (
    Mistake("no_eos", "documents concatenated without EOS",
            "append eos_id after every document", pack_no_eos),
    Mistake("eos_before", "EOS placed before each document", "EOS goes AFTER each document",
            pack_eos_before),
    Mistake("pads_tail", "the incomplete tail padded into a row",
            "drop the incomplete last row: packing means no padding", pack_pads_tail),
    Mistake("no_final_eos", "no EOS after the last document",
            "every document, the last one included, is followed by eos_id", pack_no_final_eos),
)
PACK_ALTERNATIVES = (pack_tensor_cat,)


# =========================================================================== get_batch
def batch_never_last(tokens, batch_size, context_length, device="cpu", generator=None):
    o = torch.randint(0, tokens.shape[0] - context_length - 1, (batch_size,), generator=generator)
    idx = o[:, None] + torch.arange(context_length + 1)
    w = tokens[idx].long()
    return w[:, :-1].to(device), w[:, 1:].to(device)


def batch_not_shifted(tokens, batch_size, context_length, device="cpu", generator=None):
    o = torch.randint(0, tokens.shape[0] - context_length, (batch_size,), generator=generator)
    x = tokens[o[:, None] + torch.arange(context_length)].long()
    return x.to(device), x.clone().to(device)


def batch_without_replacement(tokens, batch_size, context_length, device="cpu", generator=None):
    k = tokens.shape[0] - context_length
    o = torch.cat([torch.randperm(k, generator=generator) for _ in range(-(-batch_size // k))])
    o = o[:batch_size]
    idx = o[:, None] + torch.arange(context_length + 1)
    w = tokens[idx].long()
    return w[:, :-1].to(device), w[:, 1:].to(device)


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


BATCH_MISTAKES = (
    Mistake("never_last_window", "the last window is never drawn (randint's high off by one)",
            "torch.randint's high is exclusive: draw from torch.randint(0, N − T, ...)",
            batch_never_last),
    Mistake("targets_not_shifted", "y equals x", "y is x shifted by one token: "
            "tokens[o + 1 : o + T + 1]", batch_not_shifted),
    Mistake("without_replacement", "offsets drawn without replacement (randperm)",
            "draw independent uniform offsets with one torch.randint call",
            batch_without_replacement),
)
BATCH_ALTERNATIVES = (batch_stack, batch_unfold)


# =========================================================================== accumulate_gradients
def _acc_core(model, micro_batches, loss_fn, weight="tokens", zero=True, ret="mean"):
    if zero:
        for p in model.parameters():
            p.grad = None
    n = sum(y.numel() for _, y in micro_batches)
    total, last = 0.0, None
    for x, y in micro_batches:
        loss = loss_fn(model(x), y)
        w = {"tokens": y.numel() / n, "none": 1.0, "count": 1.0 / len(micro_batches)}[weight]
        (loss * w).backward()
        total = total + (loss * w).detach()
        last = loss.detach()
    return total if ret == "mean" else last


def acc_no_weighting(model, micro_batches, loss_fn):
    return _acc_core(model, micro_batches, loss_fn, weight="none")


def acc_equal_weights(model, micro_batches, loss_fn):
    return _acc_core(model, micro_batches, loss_fn, weight="count")


def acc_keeps_stale(model, micro_batches, loss_fn):
    return _acc_core(model, micro_batches, loss_fn, zero=False)


def acc_returns_last(model, micro_batches, loss_fn):
    return _acc_core(model, micro_batches, loss_fn, ret="last")


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


ACCUMULATE_MISTAKES = (
    Mistake("no_weighting", "micro-batch losses summed without weighting",
            "weight loss_i by n_i / N so the gradients add up to the mean over all targets",
            acc_no_weighting),
    Mistake("equal_weights", "each micro-batch weighted 1/k whatever its size",
            "weight by the number of targets n_i / N: micro-batches can differ in size",
            acc_equal_weights),
    Mistake("stale_gradients", "gradients from before the call kept",
            "set every p.grad to None (or zero) before accumulating", acc_keeps_stale),
    Mistake("returns_last_loss", "returns the last micro-batch's loss",
            "return the weighted mean over all micro-batches", acc_returns_last),
)
ACCUMULATE_ALTERNATIVES = (acc_divide_at_end,)


# =========================================================================== estimate_mfu
def mfu_percent(flops_per_token, tokens_per_second, peak_flops):
    return 100 * flops_per_token * tokens_per_second / peak_flops


def mfu_inverted(flops_per_token, tokens_per_second, peak_flops):
    return peak_flops / (flops_per_token * tokens_per_second)


def mfu_six_again(flops_per_token, tokens_per_second, peak_flops):
    return 6 * flops_per_token * tokens_per_second / peak_flops


def mfu_seconds(flops_per_token, tokens_per_second, peak_flops):
    seconds_per_token = 1.0 / tokens_per_second
    time_at_peak = flops_per_token / peak_flops
    return time_at_peak / seconds_per_token


MFU_MISTAKES = (
    Mistake("percent", "MFU returned in percent", "return a fraction (0.4, not 40)", mfu_percent),
    Mistake("inverted", "peak over achieved", "MFU = achieved FLOP/s / peak FLOP/s", mfu_inverted),
    Mistake("six_again", "the 6 counted twice",
            "flops_per_token already includes the 6 (forward + backward)", mfu_six_again),
)
MFU_ALTERNATIVES = (mfu_seconds,)


# =========================================================================== train
def _train_core(model, train_tokens, val_tokens, config, lr_shift=0, decay_all=False,
                clip=True, restore_batch_rng=True, eval_with_train_gen=False, autocast=True):
    import contextlib
    import os
    import time
    from dataclasses import asdict

    dev = config.device if config.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    dt = {"auto": torch.bfloat16 if dev.startswith("cuda") else torch.float32}.get(
        config.dtype) or getattr(torch, config.dtype)
    model.to(dev).train()
    kind = "cuda" if dev.startswith("cuda") else "cpu"
    ctx = (lambda: contextlib.nullcontext()) if dt == torch.float32 or not autocast else (
        lambda: torch.autocast(kind, dtype=dt))
    scaler = torch.amp.GradScaler(kind, enabled=dt == torch.float16)
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in params if p.dim() >= 2 or decay_all]
    vectors = [p for p in params if p.dim() < 2 and not decay_all]
    groups = [{"params": matrices, "weight_decay": config.weight_decay}]
    if vectors:
        groups.append({"params": vectors, "weight_decay": 0.0})
    opt = AdamW(groups, lr=config.lr, betas=config.betas)
    gen = torch.Generator().manual_seed(config.seed)
    hist = {k: [] for k in ("step", "lr", "train_loss", "val_step", "val_loss", "tokens_per_s",
                            "mfu")}
    first = 0
    path = config.checkpoint_path
    if path and config.resume and os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        scaler.load_state_dict(ck["scaler"])
        if restore_batch_rng:
            gen.set_state(ck["batch_rng"])
        torch.set_rng_state(ck["torch_rng"])
        first, hist = ck["step"], ck["history"]

    def loss_fn(logits, y):
        return scaler.scale(cross_entropy(logits.to(torch.promote_types(logits.dtype,
                                                                        torch.float32)), y))

    def evaluate():
        g = gen if eval_with_train_gen else torch.Generator().manual_seed(config.seed + 1)
        model.eval()
        vals = []
        with torch.no_grad():
            for _ in range(config.eval_batches):
                x, y = get_batch(val_tokens, config.batch_size, config.context_length, dev, g)
                with ctx():
                    z = model(x)
                vals.append(float(cross_entropy(z.to(torch.promote_types(z.dtype,
                                                                         torch.float32)), y)))
        model.train()
        return sum(vals) / len(vals)

    n_params = sum(p.numel() for p in params)
    stop = config.max_steps if config.stop_at_step is None else min(config.max_steps,
                                                                    config.stop_at_step)
    clock, done = 0.0, 0
    for step in range(first, stop):
        t0 = time.perf_counter()
        lr = cosine_schedule(step + lr_shift, config.lr, config.min_lr, config.warmup_steps,
                             config.max_steps)
        for gr in opt.param_groups:
            gr["lr"] = lr
        micro = [get_batch(train_tokens, config.batch_size, config.context_length, dev, gen)
                 for _ in range(config.grad_accum_steps)]
        with ctx():
            loss = float(accumulate_gradients(model, micro, loss_fn))
        if scaler.is_enabled():
            loss /= scaler.get_scale()
        scaler.unscale_(opt)
        if clip and config.grad_clip > 0:
            clip_grad_norm(params, config.grad_clip)
        scaler.step(opt)
        scaler.update()
        clock += time.perf_counter() - t0
        done += 1
        hist["step"].append(step)
        hist["lr"].append(lr)
        hist["train_loss"].append(loss)
        if (step + 1) % config.log_interval == 0 or step + 1 == stop:
            tps = done * config.batch_size * config.context_length * config.grad_accum_steps / clock
            hist["tokens_per_s"].append(tps)
            hist["mfu"].append(6 * n_params * tps / (config.peak_flops or 1e12))
            clock, done = 0.0, 0
        if (step + 1) % config.eval_interval == 0 or step == config.max_steps - 1:
            hist["val_step"].append(step)
            hist["val_loss"].append(evaluate())
        if path and ((step + 1) % config.checkpoint_interval == 0 or step + 1 == stop):
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scaler": scaler.state_dict(), "step": step + 1, "history": hist,
                        "batch_rng": gen.get_state(), "torch_rng": torch.get_rng_state(),
                        "config": asdict(config)}, path)
    return hist


def train_no_autocast(model, train_tokens, val_tokens, config):
    return _train_core(model, train_tokens, val_tokens, config, autocast=False)


def train_lr_off_by_one(model, train_tokens, val_tokens, config):
    return _train_core(model, train_tokens, val_tokens, config, lr_shift=1)


def train_decay_everything(model, train_tokens, val_tokens, config):
    return _train_core(model, train_tokens, val_tokens, config, decay_all=True)


def train_no_clipping(model, train_tokens, val_tokens, config):
    return _train_core(model, train_tokens, val_tokens, config, clip=False)


def train_loses_batch_rng(model, train_tokens, val_tokens, config):
    return _train_core(model, train_tokens, val_tokens, config, restore_batch_rng=False)


def train_eval_uses_train_rng(model, train_tokens, val_tokens, config):
    return _train_core(model, train_tokens, val_tokens, config, eval_with_train_gen=True)


def train_written_differently(model, train_tokens, val_tokens, config):
    return _train_core(model, train_tokens, val_tokens, config)


TRAIN_MISTAKES = (
    Mistake("lr_off_by_one", "the schedule read at step + 1",
            "step s (from 0) uses cosine_schedule(s, ...): 0 at the very first step",
            train_lr_off_by_one),
    Mistake("decay_everything", "weight decay applied to biases and gains too",
            "put parameters with dim < 2 in a group with weight_decay=0", train_decay_everything),
    Mistake("no_clipping", "gradients never clipped",
            "call clip_grad_norm(params, config.grad_clip) after backward (when grad_clip > 0)",
            train_no_clipping),
    Mistake("batch_rng_not_restored", "resuming restarts the batch generator",
            "save the batch generator's get_state() in the checkpoint and set_state() it on "
            "resume, or the resumed run sees different batches", train_loses_batch_rng),
    Mistake("eval_uses_train_rng", "evaluation draws from the training generator",
            "evaluate with its own generator, seeded with seed + 1 each time, so evaluating "
            "never changes the training batches", train_eval_uses_train_rng),
    Mistake("no_autocast", "config.dtype ignored: everything computed in float32",
            "unless the dtype is float32, run the forward passes (training and evaluation) "
            "under torch.autocast(device_type, dtype=...)", train_no_autocast),
)
TRAIN_ALTERNATIVES = (train_written_differently,)


# =========================================================================== all_reduce_gradients
def ar_sum_only(model):
    import torch.distributed as dist
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)


def ar_broadcast_rank0(model):
    import torch.distributed as dist
    for p in model.parameters():
        if p.grad is not None:
            dist.broadcast(p.grad, src=0)


def ar_reduces_a_copy(model):
    import torch.distributed as dist
    for p in model.parameters():
        if p.grad is not None:
            g = p.grad.clone()
            dist.all_reduce(g)
            g /= dist.get_world_size()


def ar_divides_twice(model):
    import torch.distributed as dist
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            p.grad /= world
            dist.all_reduce(p.grad)
            p.grad /= world


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


ALL_REDUCE_MISTAKES = (
    Mistake("sum_not_mean", "gradients summed over ranks, not averaged",
            "all_reduce sums; divide by dist.get_world_size() so the step equals the large-batch "
            "step", ar_sum_only),
    Mistake("broadcast", "rank 0's gradient broadcast to every rank",
            "broadcast copies one rank's gradient and throws the others away; all_reduce "
            "combines them", ar_broadcast_rank0),
    Mistake("reduced_copy", "a copy of each gradient reduced, the gradient left as it was",
            "all_reduce works in place on the tensor you pass: pass p.grad itself (or copy the "
            "result back)", ar_reduces_a_copy),
    Mistake("divides_twice", "gradients divided by the world size twice",
            "divide either before or after the sum, once: the result is the plain mean",
            ar_divides_twice),
)
ALL_REDUCE_ALTERNATIVES = (ar_one_bucket, ar_all_gather)


# =========================================================================== ddp_train_step
def _ddp_core(model, optimizer, x, y, loss_fn, order="zero,backward,reduce,step", divide=True):
    import torch.distributed as dist
    loss = None
    for stage in order.split(","):
        if stage == "zero":
            optimizer.zero_grad(set_to_none=True)
        elif stage == "backward":
            loss = loss_fn(model(x), y)
            loss.backward()
        elif stage == "reduce":
            for p in model.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    if divide:
                        p.grad /= dist.get_world_size()
        elif stage == "step":
            optimizer.step()
    return loss.detach()


def ddp_no_all_reduce(model, optimizer, x, y, loss_fn):
    return _ddp_core(model, optimizer, x, y, loss_fn, order="zero,backward,step")


def ddp_zero_before_step(model, optimizer, x, y, loss_fn):
    return _ddp_core(model, optimizer, x, y, loss_fn, order="backward,reduce,zero,step")


def ddp_no_zero_grad(model, optimizer, x, y, loss_fn):
    return _ddp_core(model, optimizer, x, y, loss_fn, order="backward,reduce,step")


def ddp_sum_gradients(model, optimizer, x, y, loss_fn):
    return _ddp_core(model, optimizer, x, y, loss_fn, divide=False)


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


DDP_MISTAKES = (
    Mistake("no_all_reduce", "gradients never averaged across ranks",
            "call all_reduce_gradients(model) between backward and optimizer.step(), or the "
            "replicas drift apart", ddp_no_all_reduce),
    Mistake("zero_before_step", "gradients zeroed between backward and optimizer.step()",
            "the order is zero_grad, forward, backward, all-reduce, step: zeroing after backward "
            "throws the gradient away", ddp_zero_before_step),
    Mistake("no_zero_grad", "gradients not zeroed before backward",
            "backward adds into .grad: call optimizer.zero_grad() first", ddp_no_zero_grad),
    Mistake("sum_gradients", "gradients summed over ranks, not averaged",
            "divide the all-reduced sum by the world size", ddp_sum_gradients),
)
DDP_ALTERNATIVES = (ddp_with_helper,)
