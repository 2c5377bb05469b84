"""Chapter 10's decoding exercises: the stand-ins for truncation and sampling, a small causal
language model with a key/value cache for grading ``generate``, and the drivers that turn
random draws, a generation run, a beam search and many speculative-decoding trials into tensors
to judge.

The stand-ins compute exactly what ``reference/decoding.py`` states (same operations, same
order), so that grading ``generate`` with the stand-in sampler draws the same tokens as the
reference does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import driver, standin

LOW = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------- stand-ins
@standin("ch10.top_k_filter")
def top_k_filter(logits, k):
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


@standin("ch10.top_p_filter")
def top_p_filter(logits, p):
    if p >= 1.0:
        return logits.clone()
    work = logits.float() if logits.dtype in LOW else logits
    sorted_logits = torch.sort(work, dim=-1, descending=True).values
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    crossing = (cum < p).sum(dim=-1, keepdim=True).clamp(max=logits.shape[-1] - 1)
    return logits.masked_fill(work < sorted_logits.gather(-1, crossing), float("-inf"))


@standin("ch10.sample_next_token")
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    x = (logits.float() if logits.dtype in LOW else logits) / temperature
    if top_k is not None:
        x = top_k_filter(x, top_k)
    if top_p is not None:
        x = top_p_filter(x, top_p)
    probs = torch.softmax(x, dim=-1)
    draws = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
    return draws.reshape(logits.shape[:-1])


# --------------------------------------------------------------------------- sampling
def _ids(out, shape, what: str) -> torch.Tensor:
    if type(out) is not torch.Tensor or out.dtype != torch.int64:  # noqa: E721
        raise TypeError(f"{what} must return an int64 tensor of token ids, got "
                        f"{getattr(out, 'dtype', type(out).__name__)}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{what} returned shape {tuple(out.shape)}, expected {tuple(shape)} "
                         "(the logits' shape without the last axis)")
    return out


@driver
def drive_draws(fn, logits, n_draws, seed, **kwargs):
    """``n_draws`` tokens from each distribution of ``logits`` (R, V), in one call on the logits
    repeated ``n_draws`` times, with a generator seeded with ``seed``, then the same call again.
    Returns the counts of the first call (R, V) int64 and whether the second drew the same tokens
    (() int64, 1 or 0: a sampler that ignores its generator cannot be reproduced)."""
    R, V = logits.shape
    batch = logits.unsqueeze(0).repeat(n_draws, 1, 1)  # (n, R, V)
    draws = [_ids(fn(batch.clone(), **kwargs,
                     generator=torch.Generator(device=logits.device).manual_seed(seed)),
                  (n_draws, R), "sample_next_token") for _ in range(2)]
    ids = draws[0].cpu()
    if (ids < 0).any() or (ids >= V).any():
        raise ValueError(f"token ids must lie in [0, {V})")
    counts = torch.stack([torch.bincount(ids[:, r], minlength=V) for r in range(R)])
    return counts, torch.tensor(int(torch.equal(draws[0], draws[1])))


# --------------------------------------------------------------------------- a model to generate with
class KVCache:
    """Keys and values of the positions fed so far (one layer): ``update(k, v)`` writes the new
    positions after the ``pos`` already stored and returns every key and value stored so far
    (views of the buffers). Shared by :class:`CachedLM` and the GPT stand-in (``.blocks``).

    Shape:
        update: k (B, H, t, Dh), v (B, H, t, Dh) -> (B, H, S, Dh) twice, S = pos after the call
    """

    def __init__(self, batch, n_heads, max_len, head_dim, dtype, device):
        self.k = torch.zeros(batch, n_heads, max_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.pos = 0

    def update(self, k, v):
        t = k.shape[-2]
        if self.pos + t > self.k.shape[-2]:
            raise ValueError(f"the cache holds {self.k.shape[-2]} positions; cannot add {t} more "
                             f"after {self.pos} (make_cache(batch_size, max_seq_len) sets the size)")
        self.k[:, :, self.pos:self.pos + t], self.v[:, :, self.pos:self.pos + t] = k, v
        self.pos += t
        return self.k[:, :, :self.pos], self.v[:, :, :self.pos]


class CachedLM(nn.Module):
    """A small causal language model with the generation interface of the course's GPT:
    ``model(idx)``, ``model(idx, cache=cache)`` and ``model.make_cache(batch_size, max_seq_len)``.
    Learned absolute positions (so a position off by one changes the logits), pre-norm attention
    and MLP blocks, a head scaled by ``sharpness`` (peaked, text-like distributions). Records
    every call as (positions fed, cache used) in ``calls``."""

    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, sharpness):
        super().__init__()
        self.context_length, self.n_heads, self.sharpness = context_length, n_heads, sharpness
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(context_length, d_model)
        self.layers = nn.ModuleList(nn.ModuleDict({
            "norm1": nn.RMSNorm(d_model, eps=1e-6), "qkv": nn.Linear(d_model, 3 * d_model),
            "out": nn.Linear(d_model, d_model), "norm2": nn.RMSNorm(d_model, eps=1e-6),
            "up": nn.Linear(d_model, 2 * d_model), "down": nn.Linear(2 * d_model, d_model),
        }) for _ in range(n_layers))
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.calls: list[tuple[int, bool]] = []

    def make_cache(self, batch_size, max_seq_len=None):
        w = self.tok_emb.weight
        D = w.shape[1]
        return [KVCache(batch_size, self.n_heads, max_seq_len or self.context_length,
                       D // self.n_heads, w.dtype, w.device) for _ in self.layers]

    def forward(self, idx, cache=None):
        if type(idx) is not torch.Tensor or idx.dim() != 2 or idx.dtype != torch.int64:  # noqa: E721
            raise TypeError("the model takes a (B, T) int64 tensor of token ids")
        start = 0 if cache is None else cache[0].pos
        B, T = idx.shape
        if start + T > self.context_length:
            raise ValueError(f"{start + T} positions exceed the model's context of "
                             f"{self.context_length}")
        self.calls.append((T, cache is not None))
        positions = torch.arange(start, start + T, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(positions)  # (B, T, D)
        H, D = self.n_heads, x.shape[-1]
        visible = torch.arange(start + T, device=idx.device) <= positions[:, None]  # (T, S)
        for i, layer in enumerate(self.layers):
            q, k, v = (t.view(B, T, H, D // H).transpose(1, 2)
                       for t in layer["qkv"](layer["norm1"](x)).chunk(3, dim=-1))
            if cache is not None:
                k, v = cache[i].update(k, v)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
            x = x + layer["out"](y.transpose(1, 2).reshape(B, T, D))
            x = x + layer["down"](F.gelu(layer["up"](layer["norm2"](x))))
        return self.head(x) * self.sharpness  # (B, T, V)


def cached_lm(probe, seed, vocab_size, context_length, d_model=16, n_layers=2, n_heads=2,
              sharpness=4.0) -> CachedLM:
    """The model a generation case uses, initialised from ``seed`` (N(0, 0.5²) weights), in the
    dtype and on the device of ``probe``."""
    model = CachedLM(vocab_size, context_length, d_model, n_layers, n_heads, sharpness)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
    return model.to(device=probe.device, dtype=probe.dtype).eval()


def _calls_summary(calls) -> torch.Tensor:
    """(calls with the cache, largest number of positions fed with the cache after the first
    such call, calls without the cache): what the checks ask of each mode."""
    cached = [t for t, used in calls if used]
    return torch.tensor([len(cached), max(cached[1:], default=0),
                         sum(1 for _, used in calls if not used)], dtype=torch.int64)


@driver
def drive_generate(fn, probe, prompt, model_seed, vocab_size, context_length, max_new_tokens,
                   *, seed, **kwargs):
    """``fn(model, prompt, max_new_tokens, **kwargs, generator=..., use_cache=...)`` on a fresh
    :class:`CachedLM` with use_cache=True, then False, each with a generator seeded with ``seed``.
    Returns the two token tensors and the two call summaries (:func:`_calls_summary`)."""
    out = []
    for use_cache in (True, False):
        model = cached_lm(probe, model_seed, vocab_size, context_length)
        tokens = fn(model, prompt.clone(), max_new_tokens, **kwargs,
                    generator=torch.Generator().manual_seed(seed), use_cache=use_cache)
        if type(tokens) is not torch.Tensor or tokens.dtype != torch.int64 or tokens.dim() != 2:  # noqa: E721
            raise TypeError("generate must return a (B, T0 + n) int64 tensor: the prompt and the "
                            "new tokens")
        out.append((tokens, _calls_summary(model.calls)))
    return out[0][0], out[1][0], out[0][1], out[1][1]


# --------------------------------------------------------------------------- beam search
@driver
def drive_beam(fn, table, bos_id, eos_id, beam_width, max_len, **kwargs):
    """``fn(step_log_probs, bos_id, eos_id, beam_width, max_len, **kwargs)`` with a toy language
    model: the next-token log-probabilities after a prefix of t tokens (bos included) ending in
    token x are ``table[t - 1, x]`` (table (max_len, V, V), float64). Returns the sequence (int64)
    and its score (float64)."""
    def step_log_probs(prefixes):
        if type(prefixes) is not torch.Tensor or prefixes.dim() != 2 or prefixes.dtype != torch.int64:  # noqa: E721
            raise TypeError("step_log_probs takes a (N, t) int64 tensor of prefixes, got "
                            f"{getattr(prefixes, 'shape', type(prefixes).__name__)}")
        t = prefixes.shape[1]
        if t < 1 or t > max_len or not bool((prefixes[:, 0] == bos_id).all()):
            raise ValueError(f"prefixes must start with bos_id={bos_id} and hold 1 to {max_len} "
                             f"tokens, got shape {tuple(prefixes.shape)}")
        return table[t - 1][prefixes[:, -1]].clone()  # (N, V)

    seq, score = fn(step_log_probs, bos_id, eos_id, beam_width, max_len, **kwargs)
    if isinstance(seq, (list, tuple)):
        seq = torch.tensor(seq, dtype=torch.int64)
    if type(seq) is not torch.Tensor or seq.dtype != torch.int64 or seq.dim() != 1:  # noqa: E721
        raise TypeError("beam_search must return (sequence, score) with the sequence a 1-D int64 "
                        "tensor (bos first)")
    return seq, torch.as_tensor(float(score), dtype=torch.float64)


# --------------------------------------------------------------------------- speculative decoding
@driver
def drive_speculative(fn, target_probs, draft_probs, trials, seed, replay=0):
    """``trials`` rounds of speculative decoding with fixed target and draft distributions: each
    round draws K draft tokens from ``draft_probs`` (the driver's own generator), then calls
    ``fn(target_probs, draft_probs, draft_tokens, generator=...)`` (one generator seeded with
    ``seed`` for all rounds). Returns the counts of the number accepted (K + 1,), of the first
    emitted token (V,) and of the second emitted token when there is one (V,); with ``replay``
    > 0 also whether the first ``replay`` rounds, run again with a fresh generator seeded with
    ``seed``, emit the same tokens (() int64, 1 or 0: a function that ignores its generator
    cannot be reproduced)."""
    K, V = draft_probs.shape
    drafts_gen = torch.Generator().manual_seed(seed + 1)
    gen = torch.Generator().manual_seed(seed)
    n_accepted = torch.zeros(K + 1, dtype=torch.int64)
    first = torch.zeros(V, dtype=torch.int64)
    second = torch.zeros(V, dtype=torch.int64)
    drafts = torch.multinomial(draft_probs.double().cpu(), trials, replacement=True,
                               generator=drafts_gen).T.contiguous()  # (trials, K)
    rounds = []  # what each of the first ``replay`` rounds emitted
    for trial in range(trials):
        tokens = drafts[trial].to(draft_probs.device)
        accepted, nxt = fn(target_probs, draft_probs, tokens.clone(), generator=gen)
        for name, t in (("the accepted tokens", accepted), ("the next token", nxt)):
            if type(t) is not torch.Tensor or t.dtype != torch.int64:  # noqa: E721
                raise TypeError(f"{name} must be an int64 tensor, got "
                                f"{getattr(t, 'dtype', type(t).__name__)}")
        n = accepted.numel()
        if accepted.dim() != 1 or n > K or not torch.equal(accepted.cpu(), drafts[trial, :n]):
            raise ValueError("the accepted tokens must be the first n draft tokens, in order "
                             f"(got {accepted.tolist()} for the draft {drafts[trial].tolist()})")
        if nxt.numel() != 1 or not 0 <= int(nxt) < V:
            raise ValueError(f"the next token must be one id in [0, {V}), got {nxt.tolist()}")
        emitted = drafts[trial, :n].tolist() + [int(nxt)]
        if trial < replay:
            rounds.append(emitted)
        n_accepted[n] += 1
        first[emitted[0]] += 1
        if len(emitted) > 1:
            second[emitted[1]] += 1
    if not replay:
        return n_accepted, first, second
    again = torch.Generator().manual_seed(seed)
    same = True
    for trial, before in enumerate(rounds):
        accepted, nxt = fn(target_probs, draft_probs,
                           drafts[trial].to(draft_probs.device).clone(), generator=again)
        same = same and accepted.cpu().tolist() + [int(nxt)] == before
    return n_accepted, first, second, torch.tensor(int(same))
