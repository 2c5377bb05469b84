"""Chapter 10, decoding: turning next-token distributions p(x_t | x_<t) into text. Truncation
(top-k, nucleus), sampling with a temperature, generation with and without a key/value cache,
beam search with the GNMT length penalty, exhaustive search (to show when beam search is not
optimal) and the accept/reject step of speculative decoding.

Conventions, stated once:

* Filters work on the last axis and return the logits unchanged where a token is kept and ``-inf``
  where it is dropped; they never renormalise (the softmax that follows does).
* ``top_k_filter`` keeps every logit ≥ the k-th largest one: tokens tied with the k-th are all
  kept, so more than k may survive. k ≥ V keeps everything.
* ``top_p_filter`` keeps the smallest set of most probable tokens whose total probability is
  ≥ p: sort the probabilities softmax(logits) in descending order, find the first position j
  whose cumulative sum reaches p, keep every token whose logit is ≥ the logit at j (ties with
  the crossing token are kept). At least one token is always kept; p ≥ 1 keeps everything.
* ``sample_next_token`` applies, in this order: the temperature (logits / τ), top-k, top-p, the
  softmax, one draw per distribution with ``torch.multinomial``. ``temperature=0`` is greedy:
  the argmax, the first index among equal maxima (``torch.argmax``). 16-bit logits are computed
  in float32.
* ``generate`` draws one token per step for every row with ``sample_next_token``, from the logits
  of the last position. A row that has emitted ``eos_id`` is finished: its later tokens are
  ``eos_id``; generation stops when every row is finished or after ``max_new_tokens`` steps.
  With ``use_cache=True`` the prompt is fed once into the model's key/value cache
  (``model.make_cache``, ``model(idx, cache=cache)``) and then one new token per step; with
  ``use_cache=False`` the whole sequence is fed at every step. Both give the same tokens for the
  same generator (up to floating-point rounding of the logits).
* Beam search keeps at most ``beam_width`` unfinished hypotheses. Each step extends all of them by
  every token, and keeps the ``beam_width`` extensions of highest total log-probability. An
  extension that ends in ``eos_id`` leaves the beam for the finished list, so the beam can shrink;
  it is not extended again. After ``max_len`` generated tokens the unfinished hypotheses are
  finished as they are. The answer is the finished hypothesis of highest score
  log p(y) / lp(|y|), with the GNMT length penalty lp(|y|) = ((5 + |y|) / 6)^α (Wu et al.,
  2016), α = ``length_penalty``, |y| = generated tokens (eos included, bos not).
* Speculative decoding (Leviathan et al., 2023; Chen et al., 2023): draft token x_i, drawn from
  the draft distribution q_i, is accepted with probability min(1, p_i(x_i) / q_i(x_i)), in order;
  at the first rejection the next token is drawn from the residual max(0, p_i − q_i),
  renormalised, and the rest is discarded; if all k draft tokens are accepted, one more token
  is drawn from p_k. Every emitted token is then distributed exactly as the target model would
  draw it.
"""

from __future__ import annotations

import math

import torch


# --------------------------------------------------------------------------- truncation
def top_k_filter(logits, k):
    """Keep the k largest logits (and any tied with the k-th), -inf elsewhere.

    Shape:
        logits: (..., V)
        output: (..., V), same dtype
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits, p):
    """Nucleus truncation: the smallest set of most probable tokens with total probability ≥ p.

    Shape:
        logits: (..., V)
        output: (..., V), same dtype
    """
    if p >= 1.0:
        return logits.clone()
    work = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    sorted_logits, _ = torch.sort(work, dim=-1, descending=True)  # (..., V)
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)  # (..., V)
    crossing = (cum < p).sum(dim=-1, keepdim=True).clamp(max=logits.shape[-1] - 1)  # (..., 1)
    threshold = sorted_logits.gather(-1, crossing)  # (..., 1): the logit of the crossing token
    return logits.masked_fill(work < threshold, float("-inf"))


# --------------------------------------------------------------------------- sampling
def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution ``sample_next_token`` draws from (temperature > 0).

    Shape:
        logits: (..., V)
        output: (..., V), float32 for 16-bit logits, else the logits' dtype
    """
    x = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    x = x / temperature
    if top_k is not None:
        x = top_k_filter(x, top_k)
    if top_p is not None:
        x = top_p_filter(x, top_p)
    return torch.softmax(x, dim=-1)


def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """One token per distribution: temperature, then top-k, then top-p, then a draw.

    Shape:
        logits: (..., V)
        output: (...), int64
    """
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = next_token_probs(logits, temperature, top_k, top_p)  # (..., V)
    flat = probs.reshape(-1, probs.shape[-1])  # (n, V): n rows
    draws = torch.multinomial(flat, 1, generator=generator)  # (n, 1)
    return draws.reshape(logits.shape[:-1])


# --------------------------------------------------------------------------- generation
@torch.no_grad()
def generate(model, prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
             eos_id=None, generator=None, use_cache=True):
    """Continue each prompt by up to ``max_new_tokens`` tokens.

    ``model(idx)`` returns logits (B, T, V); with ``use_cache`` the model must also provide
    ``make_cache(batch_size, max_seq_len)`` and ``model(idx, cache=cache)`` (as
    ``reference.blocks.GPT`` does).

    Shape:
        prompt: (B, T0) int64
        output: (B, T0 + n) int64, n ≤ max_new_tokens (fewer when every row reached eos_id)
    """
    seq = prompt
    finished = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)  # (B,)
    cache = model.make_cache(prompt.shape[0], prompt.shape[1] + max_new_tokens) if use_cache else None
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


# --------------------------------------------------------------------------- search
def length_penalty_factor(length, alpha):
    """GNMT's lp(|y|) = ((5 + |y|) / 6)^α; a hypothesis y scores log p(y) / lp(|y|)."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(step_log_probs, bos_id, eos_id, beam_width, max_len, length_penalty=1.0):
    """Approximate argmax_y log p(y) / lp(|y|) over sequences that start with ``bos_id``.

    ``step_log_probs(prefixes)``: nh prefixes (nh, t) int64, each starting with bos_id -> (nh, V)
    log-probabilities of the next token. ``max_len``: the most tokens generated after bos.
    Returns (sequence: int64 (1 + |y|,), bos first; score: float, the normalised log-probability).
    """
    if beam_width < 1 or max_len < 1:
        raise ValueError(f"beam_width and max_len must be ≥ 1, got {beam_width} and {max_len}")
    alive = [[bos_id]]  # unfinished hypotheses
    alive_scores = torch.zeros(1, dtype=torch.float64)  # (nh,) their total log-probabilities
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        logp = step_log_probs(torch.tensor(alive, dtype=torch.long)).double()  # (nh, V)
        V = logp.shape[-1]
        total = (alive_scores[:, None] + logp).reshape(-1)  # (nh * V,)
        best = torch.topk(total, min(beam_width, total.numel()))
        next_alive, next_scores = [], []
        for score, flat in zip(best.values.tolist(), best.indices.tolist()):
            beam, token = divmod(flat, V)
            hyp = alive[beam] + [token]
            if token == eos_id:
                finished.append((hyp, score))
            else:
                next_alive.append(hyp)
                next_scores.append(score)
        alive, alive_scores = next_alive, torch.tensor(next_scores, dtype=torch.float64)
        if not alive:
            break
    finished += zip(alive, alive_scores.tolist())
    hyp, score = max(finished, key=lambda h: h[1] / length_penalty_factor(len(h[0]) - 1,
                                                                          length_penalty))
    return (torch.tensor(hyp, dtype=torch.long),
            score / length_penalty_factor(len(hyp) - 1, length_penalty))


def exhaustive_search(step_log_probs, bos_id, eos_id, vocab_size, max_len, length_penalty=1.0):
    """The exact argmax that beam search approximates, by enumerating every sequence of at most
    ``max_len`` generated tokens (ending at the first eos_id): V^max_len of them, so only for
    small V and max_len. Returns (sequence, score) like :func:`beam_search`."""
    best = (None, -math.inf)
    frontier = [([bos_id], 0.0)]
    for _ in range(max_len):
        logp = step_log_probs(torch.tensor([h for h, _ in frontier], dtype=torch.long)).double()
        extended = []
        for (hyp, score), row in zip(frontier, logp.tolist()):
            for token in range(vocab_size):
                extended.append((hyp + [token], score + row[token]))
        frontier = []
        for hyp, score in extended:
            if hyp[-1] == eos_id:
                best = max(best, (hyp, score / length_penalty_factor(len(hyp) - 1, length_penalty)),
                           key=lambda h: h[1])
            else:
                frontier.append((hyp, score))
    for hyp, score in frontier:  # max_len reached without eos
        best = max(best, (hyp, score / length_penalty_factor(len(hyp) - 1, length_penalty)),
                   key=lambda h: h[1])
    return torch.tensor(best[0], dtype=torch.long), best[1]


# --------------------------------------------------------------------------- speculative decoding
def speculative_accept(target_probs, draft_probs, draft_tokens, generator=None):
    """Accept a prefix of the k draft tokens and draw the token that follows it.

    For i = 0 .. k−1: u ~ U[0, 1) (``torch.rand`` with ``generator``, float64); accept x_i if
    u < p_i(x_i) / q_i(x_i); else draw the next token from max(0, p_i − q_i), renormalised, and
    stop. If all are accepted, draw the next token from p_k. Draws use ``torch.multinomial``.

    Shape:
        target_probs: (k + 1, V), the target model's distributions at the k draft positions and
            the one after them
        draft_probs: (k, V), the draft model's distributions the draft tokens were drawn from
        draft_tokens: (k,) int64
        output: (accepted (n,) int64, the first n draft tokens; next token () int64)
    """
    k = draft_tokens.shape[0]
    p, q = target_probs.double(), draft_probs.double()
    for i in range(k):
        x = int(draft_tokens[i])
        u = torch.rand((), generator=generator, dtype=torch.float64, device=p.device)
        if u * q[i, x] < p[i, x]:  # u < p/q without dividing by q
            continue
        residual = (p[i] - q[i]).clamp(min=0)
        if residual.sum() == 0:  # p ≤ q everywhere: only rounding can reject; fall back to p
            residual = p[i]
        token = torch.multinomial(residual / residual.sum(), 1, generator=generator)[0]
        return draft_tokens[:i].clone(), token
    return draft_tokens.clone(), torch.multinomial(p[k], 1, generator=generator)[0]


def acceptance_rates(target_probs, draft_probs):
    """β_i = Σ_x min(p_i(x), q_i(x)): the probability that draft token i is accepted when it is
    drawn from q_i. The number of accepted tokens n has P(n = i) = β_0 ⋯ β_{i−1} (1 − β_i) for
    i < k and P(n = k) = β_0 ⋯ β_{k−1}, k the number of draft tokens.

    Shape:
        target_probs: (k + 1, V) or (k, V); draft_probs: (k, V)
        output: (k,)
    """
    k = draft_probs.shape[0]
    return torch.minimum(target_probs[:k], draft_probs).sum(dim=-1)


def accepted_length_distribution(target_probs, draft_probs):
    """P(n = i), i = 0 .. k, from :func:`acceptance_rates`.

    Shape:
        output: (k + 1,)
    """
    beta = acceptance_rates(target_probs, draft_probs).double()  # (k,)
    reach = torch.cat([beta.new_ones(1), beta.cumprod(0)])  # (k + 1,): P(n ≥ i)
    stop = torch.cat([1 - beta, beta.new_ones(1)])  # (k + 1,)
    return reach * stop
