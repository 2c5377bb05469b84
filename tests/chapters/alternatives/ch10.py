"""Chapter 10 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F``, imports made inside the function, and the
names of earlier exercises (``top_k_filter``, ``top_p_filter``, ``sample_next_token``), which
resolve to the reference here and to the student's own functions in a notebook.
"""

from __future__ import annotations

import math

import torch

from reference.decoding import sample_next_token, top_k_filter, top_p_filter


# =========================================================================== truncation
def top_k_kthvalue(logits, k):
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = -torch.kthvalue(-logits, k, dim=-1, keepdim=True).values  # the k-th largest
    return torch.where(logits >= kth, logits, torch.full_like(logits, -math.inf))


def top_k_sorted(logits, k):
    k = min(k, logits.shape[-1])
    kth = torch.sort(logits, dim=-1, descending=True).values[..., k - 1].unsqueeze(-1)
    out = logits.clone()
    out[logits < kth] = -math.inf
    return out


TOP_K_ALTERNATIVES = (top_k_kthvalue, top_k_sorted)


def top_p_mass_above(logits, p):
    """Keep a token when the tokens strictly more probable than it hold less than p."""
    if p >= 1.0:
        return logits.clone()
    work = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    probs = torch.softmax(work, dim=-1)
    above = (work.unsqueeze(-2) > work.unsqueeze(-1)).to(probs.dtype)  # [..., v, u]: z_u > z_v
    mass_above = (above * probs.unsqueeze(-2)).sum(-1)  # (..., V)
    return logits.masked_fill(mass_above >= p, -math.inf)


def top_p_rows(logits, p):
    """One row at a time, with Python numbers."""
    if p >= 1.0:
        return logits.clone()
    flat = logits.reshape(-1, logits.shape[-1])
    out = flat.clone()
    for r in range(flat.shape[0]):
        z = flat[r].double().tolist() if flat.dtype == torch.float64 else flat[r].float().tolist()
        order = sorted(range(len(z)), key=lambda i: -z[i])
        finite = [z[i] for i in order if z[i] != -math.inf]
        top = finite[0]
        weights = [math.exp(v - top) for v in finite]
        total, running, threshold = sum(weights), 0.0, finite[-1]
        for value, w in zip(finite, weights):
            running += w
            if running / total >= p:
                threshold = value
                break
        for i, v in enumerate(z):
            if v < threshold:
                out[r, i] = -math.inf
    return out.reshape(logits.shape)


TOP_P_ALTERNATIVES = (top_p_mass_above, top_p_rows)


# =========================================================================== sampling
def sample_gumbel_max(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """argmax(z + Gumbel noise) is a draw from softmax(z)."""
    if temperature == 0:
        return logits.argmax(-1)
    x = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    x = x / temperature
    if top_k is not None:
        x = top_k_filter(x, top_k)
    if top_p is not None:
        x = top_p_filter(x, top_p)
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device=x.device)
    u = u.clamp_min(1e-300)
    return (x.double() - torch.log(-torch.log(u))).argmax(-1)


def sample_inverse_cdf(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    x = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    x = x / temperature
    if top_k is not None:
        x = top_k_filter(x, top_k)
    if top_p is not None:
        x = top_p_filter(x, top_p)
    cdf = torch.softmax(x.double(), dim=-1).cumsum(-1)
    u = torch.rand(x.shape[:-1] + (1,), generator=generator, dtype=torch.float64,
                   device=x.device)
    index = torch.searchsorted(cdf, u * cdf[..., -1:], right=True).squeeze(-1)
    return index.clamp(max=x.shape[-1] - 1)


SAMPLING_ALTERNATIVES = (sample_gumbel_max, sample_inverse_cdf)


# =========================================================================== generation
def generate_preallocated(model, prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                          eos_id=None, generator=None, use_cache=True):
    """Writes into a preallocated buffer and trims it at the end."""
    B, T0 = prompt.shape
    out = torch.empty(B, T0 + max_new_tokens, dtype=torch.long, device=prompt.device)
    out[:, :T0] = prompt
    done = torch.zeros(B, dtype=torch.bool, device=prompt.device)
    cache = model.make_cache(B, T0 + max_new_tokens) if use_cache else None
    length = T0
    with torch.no_grad():
        for step in range(max_new_tokens):
            if use_cache:
                new = out[:, :length] if step == 0 else out[:, length - 1:length]
                last = model(new, cache=cache)[:, -1]
            else:
                last = model(out[:, :length])[:, -1]
            token = sample_next_token(last, temperature, top_k, top_p, generator)
            if eos_id is not None:
                token = torch.where(done, torch.full_like(token, eos_id), token)
                done |= token == eos_id
            out[:, length] = token
            length += 1
            if eos_id is not None and done.all():
                break
    return out[:, :length]


def generate_prefill_one_by_one(model, prompt, max_new_tokens, temperature=1.0, top_k=None,
                                top_p=None, eos_id=None, generator=None, use_cache=True):
    """With the cache, the prompt is fed one token at a time too (the same logits up to rounding)."""
    seq = prompt.clone()
    done = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
    if use_cache:
        cache = model.make_cache(prompt.shape[0], prompt.shape[1] + max_new_tokens)
        for t in range(prompt.shape[1]):
            logits = model(prompt[:, t:t + 1], cache=cache)
    for step in range(max_new_tokens):
        if not use_cache:
            logits = model(seq)
        elif step > 0:
            logits = model(seq[:, -1:], cache=cache)
        token = sample_next_token(logits[:, -1].detach(), temperature, top_k, top_p, generator)
        if eos_id is not None:
            token[done] = eos_id
            done = done | (token == eos_id)
        seq = torch.cat([seq, token.unsqueeze(1)], dim=1)
        if eos_id is not None and bool(done.all()):
            break
    return seq


GENERATE_ALTERNATIVES = (generate_preallocated, generate_prefill_one_by_one)


# =========================================================================== beam search
def beam_python_sort(step_log_probs, bos_id, eos_id, beam_width, max_len, length_penalty=1.0):
    """Python lists and sorted(): all extensions ranked together."""
    def lp(hyp):
        return ((5.0 + len(hyp) - 1) / 6.0) ** length_penalty

    beam, done = [((bos_id,), 0.0)], []
    for _ in range(max_len):
        rows = step_log_probs(torch.tensor([list(h) for h, _ in beam])).double().tolist()
        ext = [(h + (v,), s + row[v]) for (h, s), row in zip(beam, rows) for v in range(len(row))]
        ext.sort(key=lambda e: -e[1])
        kept = ext[:beam_width]
        done += [e for e in kept if e[0][-1] == eos_id]
        beam = [e for e in kept if e[0][-1] != eos_id]
        if not beam:
            break
    done += beam
    best_hyp, best_total = max(done, key=lambda e: e[1] / lp(e[0]))
    return torch.tensor(best_hyp), best_total / lp(best_hyp)


BEAM_ALTERNATIVES = (beam_python_sort,)


# =========================================================================== speculative decoding
def speculative_vectorised(target_probs, draft_probs, draft_tokens, generator=None):
    """All k acceptance tests at once; the residual drawn by inverting its CDF."""
    K = draft_tokens.shape[0]
    p = target_probs.double()
    q = draft_probs.double()
    idx = torch.arange(K)
    ratio = p[idx, draft_tokens] / q[idx, draft_tokens]
    u = torch.rand(K, generator=generator, dtype=torch.float64)
    rejected = (u >= ratio).nonzero()
    n = int(rejected[0]) if len(rejected) else K
    dist = (p[n] - q[n]).clamp(min=0) if n < K else p[K]
    cdf = dist.cumsum(0)
    v = torch.rand((), generator=generator, dtype=torch.float64) * cdf[-1]
    token = torch.searchsorted(cdf, v.reshape(1), right=True)[0].clamp(max=p.shape[-1] - 1)
    return draft_tokens[:n].clone(), token


def speculative_ratio_test(target_probs, draft_probs, draft_tokens, generator=None):
    """Accept when u · q(x) < p(x); multinomial takes the unnormalised residual."""
    accepted = []
    for i, x in enumerate(draft_tokens.tolist()):
        u = float(torch.rand(1, generator=generator, dtype=torch.float64))
        if u * float(draft_probs[i, x]) < float(target_probs[i, x]):
            accepted.append(x)
            continue
        residual = torch.relu(target_probs[i].double() - draft_probs[i].double())
        nxt = torch.multinomial(residual, 1, generator=generator).squeeze()
        return torch.tensor(accepted, dtype=torch.long), nxt
    nxt = torch.multinomial(target_probs[-1].double(), 1, generator=generator).squeeze()
    return torch.tensor(accepted, dtype=torch.long), nxt


SPECULATIVE_ALTERNATIVES = (speculative_vectorised, speculative_ratio_test)


# =========================================================================== metrics
def em_translate(prediction, reference):
    import re
    import string

    table = str.maketrans("", "", string.punctuation)

    def norm(s):
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", s.lower().translate(table)).split())

    return 1.0 if norm(prediction) == norm(reference) else 0.0


EM_ALTERNATIVES = (em_translate,)


def f1_dict_counts(prediction, reference):
    import re
    import string

    table = str.maketrans("", "", string.punctuation)

    def words(s):
        return re.sub(r"\b(a|an|the)\b", " ", s.lower().translate(table)).split()

    pred, ref = words(prediction), words(reference)
    if len(pred) == 0 or len(ref) == 0:
        return 1.0 if len(pred) == len(ref) else 0.0
    counts = {}
    for w in ref:
        counts[w] = counts.get(w, 0) + 1
    common = 0
    for w in pred:
        if counts.get(w, 0) > 0:
            counts[w] -= 1
            common += 1
    if not common:
        return 0.0
    return 2.0 * common / (len(pred) + len(ref))  # = 2PR / (P + R)


F1_ALTERNATIVES = (f1_dict_counts,)


def rouge_n_lists(candidate, reference, n):
    cand = [tuple(candidate[i:i + n]) for i in range(len(candidate) - n + 1)]
    remaining = [tuple(reference[i:i + n]) for i in range(len(reference) - n + 1)]
    n_ref = len(remaining)
    overlap = 0
    for g in cand:
        if g in remaining:
            remaining.remove(g)
            overlap += 1
    p = overlap / len(cand) if cand else 0.0
    r = overlap / n_ref if n_ref else 0.0
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


ROUGE_N_ALTERNATIVES = (rouge_n_lists,)


def rouge_l_two_rows(candidate, reference):
    prev = [0] * (len(reference) + 1)
    for a in candidate:
        cur = [0]
        for j, b in enumerate(reference):
            cur.append(prev[j] + 1 if a == b else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    p = lcs / len(candidate) if candidate else 0.0
    r = lcs / len(reference) if reference else 0.0
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


ROUGE_L_ALTERNATIVES = (rouge_l_two_rows,)


def bleu_product(candidates, references, max_n=4):
    """Product of the precisions to the power 1/max_n; log of the brevity penalty as
    min(0, 1 − r/c)."""
    from collections import Counter

    precisions = []
    for n in range(1, max_n + 1):
        hit = tot = 0
        for c, r in zip(candidates, references):
            cg = Counter(zip(*(c[k:] for k in range(n))))
            rg = Counter(zip(*(r[k:] for k in range(n))))
            hit += sum(min(v, rg[g]) for g, v in cg.items())
            tot += sum(cg.values())
        if hit == 0 or tot == 0:
            return 0.0
        precisions.append(hit / tot)
    c_len = sum(map(len, candidates))
    r_len = sum(map(len, references))
    geo = math.exp(sum(math.log(x) for x in precisions) / max_n)
    return 100.0 * math.exp(min(0.0, 1.0 - r_len / c_len)) * geo


BLEU_ALTERNATIVES = (bleu_product,)


ALTERNATIVES = {
    "ch10.top_k_filter": TOP_K_ALTERNATIVES,
    "ch10.top_p_filter": TOP_P_ALTERNATIVES,
    "ch10.sample_next_token": SAMPLING_ALTERNATIVES,
    "ch10.generate": GENERATE_ALTERNATIVES,
    "ch10.beam_search": BEAM_ALTERNATIVES,
    "ch10.speculative_accept": SPECULATIVE_ALTERNATIVES,
    "ch10.exact_match": EM_ALTERNATIVES,
    "ch10.token_f1": F1_ALTERNATIVES,
    "ch10.rouge_n": ROUGE_N_ALTERNATIVES,
    "ch10.rouge_l": ROUGE_L_ALTERNATIVES,
    "ch10.corpus_bleu": BLEU_ALTERNATIVES,
}
