"""Chapter 10 — Real-world applications: the graded exercises and the cases they are graded on.

Decoding: the filters are compared exactly (a logit is kept unchanged or becomes −inf); their
top-p cases keep every cumulative probability at least 0.01 away from p, so that no rounding of
the (float32 for 16-bit inputs) softmax moves the crossing token; one bfloat16 case keeps them
only 0.002 away, far beyond float32's rounding, where a softmax and cumulative sum computed in
bfloat16 itself (relative spacing 2^-8) moves it. The sampler is judged by its frequencies
(Pearson's chi-square, false-fail rate ≤ 1e-6 per case, ``autograder.properties``) and must
honour its seeded generator; greedy decoding is compared exactly. ``generate`` runs on a small
float64 model with a key/value cache (``gradelib.generation.CachedLM``), with the built-in sampler in
place of the student's, so its tokens are compared exactly, with and without the cache. Beam
search is compared exactly on toy language models (a table of next-token log-probabilities per
position and last token). Speculative decoding is judged over thousands of rounds: the emitted
tokens must follow the target distributions and the number accepted its exact law, and its first
rounds, replayed with a fresh generator of the same seed, must emit the same tokens (the draws
come from the generator it is given).

Metrics take strings and token lists and are compared in float64, many pairs per case.
"""

from __future__ import annotations

import torch

from autograder.chapters import ch10_catalog as catalog
from autograder.gradelib.generation import cached_lm
from autograder.properties import frequency_violation
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Precision
from reference.decoding import (
    accepted_length_distribution,
    beam_search,
    generate,
    next_token_probs,
    sample_next_token,
    speculative_accept,
    top_k_filter,
    top_p_filter,
)
from reference.metrics import corpus_bleu, exact_match, rouge_l, rouge_n, token_f1

F32, F64, BF16, F16 = torch.float32, torch.float64, torch.bfloat16, torch.float16
P_MARGIN = 0.01  # cumulative probabilities stay this far from p in top-p cases
P_MARGIN_16 = 0.002  # ... and in the case that grades the float32 upcast of 16-bit logits


# =========================================================================== truncation
def _tied_logits(b: CaseBuilder, c: Cell, *shape):
    """Integer-valued logits (exact in every dtype), so ties are ties everywhere."""
    return b.randint(-4, 5, shape).to(c.dtype)


def top_k_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("(8,), k=3", c.randn(8, scale=2.0), 3, public=True)
        c("batch (2, 3, 10), k=4", c.randn(2, 3, 10, scale=2.0), 4, tags=("batch dims",),
          public=True)
        c("k=1: only the largest", c.randn(4, 7), 1, tags=("k = 1",), public=True)
        c("k = V keeps everything", c.randn(3, 6), 6, tags=("k ≥ V",))
        c("k > V keeps everything", c.randn(5), 9, tags=("k ≥ V",))
        ties = _tied_logits(b, c, 6, 9)
        ties[:, :3] = 4  # three-way tie at the top; the k-th value is tied for k ≤ 3
        c("ties at the k-th value are all kept, k=2", ties, 2, tags=("ties",), public=True)
        x = c.randn(2, 8)
        x[:, 5:] = float("-inf")
        c("some logits already -inf", x, 3, tags=("-inf input",))
    return b.grid(rows)


def _nucleus_logits(b: CaseBuilder, c: Cell, shape, p, scale=2.0, temperatures=(1.0,)):
    """Logits whose sorted cumulative probabilities (at each of ``temperatures``) all lie at
    least P_MARGIN from p, computed on the values rounded to the cell's dtype."""
    for _ in range(1000):
        x = c.randn(*shape, scale=scale)
        ok = True
        for t in temperatures:
            cum = torch.softmax(x.double().sort(-1, descending=True).values / t, -1).cumsum(-1)
            ok = ok and bool(((cum - p).abs() >= P_MARGIN).all())
        if ok:
            return x
    raise RuntimeError(f"no logits of shape {shape} with a margin {P_MARGIN} around p={p}")


def _bfloat16_drift_logits(b: CaseBuilder, c: Cell, shape, p):
    """bfloat16 logits whose sorted cumulative probabilities lie at least P_MARGIN_16 from p
    (computed in float64), and on which the nucleus computed in bfloat16 itself (softmax and
    cumulative sum in bfloat16) differs from the float32 one in some row."""
    for _ in range(2000):
        x = c.randn(*shape)
        cum = torch.softmax(x.double().sort(-1, descending=True).values, -1).cumsum(-1)
        if not bool(((cum - p).abs() >= P_MARGIN_16).all()):
            continue
        ordered = x.cpu().sort(-1, descending=True).values  # bfloat16
        last = ordered.shape[-1] - 1
        crossing16 = (torch.softmax(ordered, -1).cumsum(-1) < p).sum(-1, keepdim=True)
        crossing = (cum.cpu() < p).sum(-1, keepdim=True)
        if not torch.equal(ordered.gather(-1, crossing16.clamp(max=last)),
                           ordered.gather(-1, crossing.clamp(max=last))):
            return x
    raise RuntimeError(f"no bfloat16 logits of shape {shape} that separate the two at p={p}")


def top_p_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("(10,), p=0.9", _nucleus_logits(b, c, (10,), 0.9), 0.9, public=True)
        c("batch (3, 8), p=0.5", _nucleus_logits(b, c, (3, 8), 0.5), 0.5, tags=("batch dims",),
          public=True)
        c("(2, 4, 6), p=0.75", _nucleus_logits(b, c, (2, 4, 6), 0.75), 0.75,
          tags=("batch dims",))
        c("p=0.05: the top token alone", _nucleus_logits(b, c, (4, 7), 0.05), 0.05,
          tags=("one token",), public=True)
        peaked = _nucleus_logits(b, c, (3, 9), 0.6, scale=4.0)
        c("one token holds more than p", peaked, 0.6, tags=("one token",))
        c("p=1.0 keeps everything", c.randn(2, 6), 1.0, tags=("p = 1",))
        flat = torch.zeros(2, 5, dtype=c.dtype)
        flat[1, 1:] = -1.0  # row 0 uniform: all tied
        c("a tie with the crossing token is kept (uniform row, p=0.5)", flat, 0.5, tags=("ties",))
        x = _nucleus_logits(b, c, (2, 7), 0.8)
        x[:, -2:] = float("-inf")
        c("some logits already -inf", x, 0.8, tags=("-inf input",))
        if c.dtype == BF16:
            c("bfloat16 logits whose nucleus needs a float32 softmax, p=0.8",
              _bfloat16_drift_logits(b, c, (4, 12), 0.8), 0.8, tags=("16-bit precision",))
    return b.grid(rows)


# =========================================================================== sampling
N_DRAWS = 10_000


def _expected_probs(case):
    logits = case.args[0]
    kw = {k: case.kwargs[k] for k in ("temperature", "top_k", "top_p") if k in case.kwargs}
    if kw.get("temperature", 1.0) == 0:
        probs = torch.zeros_like(logits, dtype=F64)
        return probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
    return next_token_probs(logits.double(), **kw)


def _follows_the_distribution(outputs, case):
    """The counts (n, V) against the distribution softmax(filter(logits / τ)) of each row."""
    return frequency_violation(outputs[0], _expected_probs(case), what="token")


def _reproducible(outputs, case):
    if not int(outputs[1]):
        return ("two calls with the same seeded generator drew different tokens: draw with the "
                "generator you are given (torch.multinomial(..., generator=generator))")
    return None


SAMPLING_CHECKS = (_follows_the_distribution, _reproducible)


def sampling_cases(b: CaseBuilder):
    def rows(c: Cell):
        def draws(name, logits, seed, public=False, tags=(), exact=False, **kw):
            c(name, logits, N_DRAWS, seed, public=public, tags=tags, **kw, n_outputs=2,
              checks=SAMPLING_CHECKS, compared=(0,) if exact else ())

        draws("temperature 0 is greedy", c.randn(3, 9, scale=2.0), 1, temperature=0.0,
              tags=("greedy",), public=True, exact=True)
        ties = _tied_logits(b, c, 2, 8)
        ties[:, [2, 5]] = 5  # the maximum twice: the first index wins
        draws("greedy with tied maxima: the first index", ties, 2, temperature=0.0,
              tags=("greedy", "ties"), exact=True)
        draws("temperature 1", c.randn(2, 8), 3, public=True)
        draws("temperature 0.5 (sharper)", c.randn(2, 8), 4, temperature=0.5,
              tags=("temperature",), public=True)
        draws("temperature 2 (flatter)", c.randn(1, 10, scale=2.0), 5, temperature=2.0,
              tags=("temperature",))
        draws("top_k=3", c.randn(2, 8, scale=1.5), 6, top_k=3, tags=("top-k",), public=True)
        draws("top_p=0.8", _nucleus_logits(b, c, (2, 8), 0.8), 7, top_p=0.8, tags=("top-p",))
        # the nucleus after the temperature: at τ = 2 it holds more tokens than at τ = 1
        draws("temperature 2, then top_p=0.7",
              _nucleus_logits(b, c, (1, 10), 0.7, scale=3.0, temperatures=(1.0, 2.0)), 8,
              temperature=2.0, top_p=0.7, tags=("temperature", "top-p"))
        draws("temperature 0.8, top_k=5, top_p=0.9",
              _nucleus_logits(b, c, (3, 12), 0.9, temperatures=(0.8,)), 9,
              temperature=0.8, top_k=5, top_p=0.9, tags=("temperature", "top-k", "top-p"))
    return b.grid(rows, exclude=(F16,))


# =========================================================================== generation
GEN_VOCAB, GEN_CONTEXT = 12, 24


def _generation(c: Cell, name, prompt, max_new, model_seed, seed, checks, public=False, tags=(),
                **kw):
    probe = torch.zeros((), dtype=c.dtype)
    c(name, probe, prompt, model_seed, GEN_VOCAB, GEN_CONTEXT, max_new, seed=seed, **kw,
      n_outputs=4, compared=(0, 1), checks=checks, public=public, tags=tags)


def _summaries(outputs):
    return [[int(v) for v in s.tolist()] for s in outputs[2:4]]


def _uses_the_cache(outputs, case):
    (cached, longest_step, _), _ = _summaries(outputs)
    if cached == 0:
        return ("with use_cache=True the model was never given a cache: make one with "
                "model.make_cache(B, T0 + max_new_tokens) and call model(idx, cache=cache)")
    if longest_step > 1:
        return (f"with use_cache=True a step fed {longest_step} positions into the cache: after "
                "the prompt, feed only the newest token (the cache holds the rest)")
    return None


def _no_cache_when_off(outputs, case):
    _, (cached, _, _) = _summaries(outputs)
    if cached:
        return ("with use_cache=False the model must see the whole sequence at every step, "
                "without a cache")
    return None


GENERATE_CHECKS = (_uses_the_cache, _no_cache_when_off)


def _eos_from_greedy(prompt, model_seed, steps=4):
    """A token that greedy decoding of every row emits within ``steps`` steps (so a case with it
    as eos_id stops early), from the reference run on the case's model."""
    model = cached_lm(torch.zeros((), dtype=F64), model_seed, GEN_VOCAB, GEN_CONTEXT)
    out = generate(model, prompt, steps, temperature=0.0, use_cache=False)[:, prompt.shape[1]:]
    common = set(out[0].tolist()).intersection(*(set(r.tolist()) for r in out[1:]))
    return min(common) if common else int(out[0, -1])


def generate_cases(b: CaseBuilder):
    def rows(c: Cell):
        def prompt(B, T):
            return b.randint(0, GEN_VOCAB, (B, T))

        g = lambda *a, **kw: _generation(c, *a, checks=GENERATE_CHECKS, **kw)  # noqa: E731
        g("greedy, batch 2, 8 new tokens", prompt(2, 4), 8, 11, 0, temperature=0.0, public=True)
        g("sampling, temperature 1, 10 new tokens", prompt(2, 3), 10, 12, 1, public=True)
        g("sampling, temperature 0.7, top_k=4", prompt(3, 5), 8, 13, 2, temperature=0.7,
          top_k=4, tags=("top-k",))
        g("sampling, top_p=0.9", prompt(1, 6), 12, 14, 3, top_p=0.9, tags=("top-p",))
        g("a one-token prompt", prompt(2, 1), 6, 15, 4, tags=("T0 = 1",))
        g("max_new_tokens=1", prompt(2, 4), 1, 16, 5, tags=("one step",))
        p = prompt(2, 4)
        g("greedy stops when every row has emitted eos", p, 12, 17, 6, temperature=0.0,
          eos_id=_eos_from_greedy(p, 17), tags=("eos",), public=True)
        p = prompt(3, 3)
        g("sampling with eos: finished rows continue with eos", p, 10, 18, 7,
          eos_id=_eos_from_greedy(p, 18, steps=3), tags=("eos",))
    return b.float64_grid(rows)


# =========================================================================== beam search
def _lm_table(b: CaseBuilder, max_len, V, bos_id, eos_id, sharp=1.5, eos_bias=0.0):
    """Next-token log-probabilities (max_len, V, V) per position and last token; bos is never
    generated."""
    logits = b.randn(max_len, V, V) * sharp
    logits[..., eos_id] += eos_bias
    logits[..., bos_id] = float("-inf")
    return torch.log_softmax(logits, dim=-1)


def beam_cases(b: CaseBuilder):
    def rows(c: Cell):
        def beam(name, V, max_len, width, alpha, public=False, tags=(), **kw):
            c(f"{name}: V={V}, max_len={max_len}, beam_width={width}, length_penalty={alpha}",
              _lm_table(b, max_len, V, 0, V - 1, **kw), 0, V - 1, width, max_len,
              length_penalty=alpha, n_outputs=2, public=public, tags=tags)

        beam("a beam of 2", 5, 4, 2, 1.0, public=True)
        beam("a beam of 1 is greedy", 6, 5, 1, 0.0, tags=("width 1",), public=True)
        beam("no length penalty (α = 0)", 5, 5, 3, 0.0, tags=("α = 0",), eos_bias=0.5)
        beam("α = 0.6", 6, 5, 3, 0.6, tags=("length penalty",), eos_bias=0.5, public=True)
        beam("α = 2 (long outputs favoured)", 5, 6, 2, 2.0, tags=("length penalty",),
             eos_bias=1.0)
        beam("a beam wider than the candidates (exhaustive)", 4, 3, 64, 1.0,
             tags=("wide beam",))
        beam("likely eos: hypotheses finish early", 6, 6, 3, 1.0, tags=("early eos",),
             eos_bias=2.0)
        beam("one step", 5, 1, 2, 1.0, tags=("max_len = 1",))
        c("the length penalty decides: 'eos' now (p = 0.4) against 'a a a eos' (p ≈ 0.32)",
          _penalty_decides_table(), 0, 3, 2, 4, length_penalty=1.0, n_outputs=2,
          tags=("length penalty",), public=True)
    return b.float64_grid(rows)


def _penalty_decides_table():
    """V = 4 (bos 0, a 1, b 2, eos 3), 4 steps: stopping at once scores log 0.4 = −0.92; the
    likeliest long answer 'a a a eos' has log p = −1.15 (worse) but, over lp(4) = 1.5 at α = 1,
    −0.77 (better). Without the penalty beam search returns 'eos'."""
    rows = {  # next-token probabilities of (bos, a, b, eos) after the last token, per step
        0: [[0, .55, .05, .40]] * 4,
        1: [[0, .8, .1, .1]] * 4,
        2: [[0, .8, .05, .15]] * 4,
        3: [[0, .05, .05, .9]] * 4,
    }
    return torch.tensor([rows[t] for t in range(4)], dtype=F64).log()


# =========================================================================== speculative decoding
SPEC_TRIALS = 2000


def _spec_probs(c: Cell, k, V, sharp_target=1.5, sharp_draft=1.0, zeros=False):
    target = torch.softmax(c.b.randn(k + 1, V) * sharp_target, -1)
    draft = torch.softmax(c.b.randn(k, V) * sharp_draft, -1)
    if zeros:  # the target rules out tokens the draft proposes
        target[:, :2] = 0.0
        target = target / target.sum(-1, keepdim=True)
    return target.to(c.dtype), draft.to(c.dtype)


def _accepted_lengths(outputs, case):
    target, draft = (a.double() for a in case.args[:2])
    law = accepted_length_distribution(target, draft)
    return frequency_violation(outputs[0][None], law[None], what="number of accepted tokens")


def _first_token(outputs, case):
    return frequency_violation(outputs[1][None], case.args[0].double()[:1],
                               what="first emitted token")


def _second_token(outputs, case):
    return frequency_violation(outputs[2][None], case.args[0].double()[1:2],
                               what="second emitted token")


SPEC_REPLAY = 50  # rounds run again with a fresh generator of the same seed


def _spec_reproducible(outputs, case):
    if not int(outputs[3]):
        return (f"its first {SPEC_REPLAY} rounds, run again with a generator seeded the same, "
                "emitted different tokens: draw every uniform and every token with the generator "
                "you are given (torch.rand(..., generator=generator), torch.multinomial(..., "
                "generator=generator))")
    return None


SPEC_CHECKS = (_accepted_lengths, _first_token, _second_token, _spec_reproducible)


def speculative_cases(b: CaseBuilder):
    def rows(c: Cell):
        def spec(name, k, V, seed, public=False, tags=(), **kw):
            target, draft = _spec_probs(c, k, V, **kw)
            c(name, target, draft, SPEC_TRIALS, seed, replay=SPEC_REPLAY, n_outputs=4,
              compared=(), checks=SPEC_CHECKS, public=public, tags=tags)

        spec("k=3 draft tokens, V=6", 3, 6, 1, public=True)
        spec("k=1, V=5", 1, 5, 2, tags=("k = 1",), public=True)
        spec("k=4, a flat draft against a sharp target", 4, 6, 3, tags=("poor draft",),
             sharp_target=3.0, sharp_draft=0.3)
        spec("k=2, the target rules out tokens the draft proposes", 2, 6, 4,
             tags=("zero target probability",), zeros=True)
        target, draft = _spec_probs(c, 2, 5)
        c("draft = target: every draft token is accepted", torch.cat([draft, target[2:]]),
          draft, SPEC_TRIALS // 4, 5, replay=SPEC_REPLAY, n_outputs=4, compared=(),
          checks=SPEC_CHECKS,
          tags=("perfect draft",))
    return b.float64_grid(rows)


# =========================================================================== metrics
WORDS = ("the cat sat on mat a dog ran to park it was red blue big small house tree river over "
         "under fast slow bird sang song an old man saw").split()


def _tokens(b: CaseBuilder, lo, hi):
    n = int(b.randint(lo, hi + 1, ()))
    return [WORDS[i] for i in b.randint(0, len(WORDS), (n,)).tolist()]


def _edited(b: CaseBuilder, tokens, edits):
    """``tokens`` with ``edits`` random substitutions, deletions and insertions."""
    out = list(tokens)
    for kind, at, word in zip(b.randint(0, 3, (edits,)).tolist(),
                              b.randint(0, 1000, (edits,)).tolist(),
                              b.randint(0, len(WORDS), (edits,)).tolist()):
        if kind == 0 and out:
            out[at % len(out)] = WORDS[word]
        elif kind == 1 and out:
            del out[at % len(out)]
        else:
            out.insert(at % (len(out) + 1), WORDS[word])
    return out


def _token_pairs(b: CaseBuilder, n, lo=3, hi=15, edits=4):
    pairs = []
    for _ in range(n):
        ref = _tokens(b, lo, hi)
        pairs.append((_edited(b, ref, int(b.randint(0, edits + 1, ()))), ref))
    return pairs


QA_PAIRS = (  # (prediction, reference): SQuAD-style answers
    ("The Eiffel Tower", "eiffel tower"),
    ("in 1889.", "1889"),
    ("Paris, France", "Paris"),
    ("an apple a day", "Apple day"),
    ("the   theory of relativity", "Theory of Relativity!"),
    ("Another one", "one"),
    ("a", "the"),
    ("", ""),
    ("", "Nile"),
    ("the river Nile", "Nile river"),
    ("Marie Curie", "Pierre Curie"),
    ("42", "forty-two"),
    ("rock 'n' roll", "rock n roll"),
    ("U.S.A.", "USA"),
    ("the the the", "the"),
    ("New York City", "new york"),
)


def _qa_pairs(b: CaseBuilder, n):
    pairs = []
    for _ in range(n):
        ref = _tokens(b, 1, 6)
        pred = _edited(b, ref, int(b.randint(0, 3, ())))
        marks = [".", ",", "!", "?", "'s", ""]
        pred = [w.capitalize() if b.rand(()) < 0.3 else w for w in pred]
        pairs.append((" ".join(pred) + marks[int(b.randint(0, len(marks), ()))],
                      "  ".join(ref)))
    return pairs


def _show(x, limit=60) -> str:
    text = repr(x if isinstance(x, str) else " ".join(x))
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def _pairs_cell(cell: Cell):
    """``cell``, declaring cases whose wrong elements are explained by their pair."""
    return lambda *args, **kw: cell(*args, explain=_which_pair, **kw)


def _which_pair(where, case) -> str:
    """The pair scored at output row ``where[0]``."""
    a, b = case.args[0][where[0]]
    return f"pair {where[0]}: {_show(a)} against {_show(b)}"


def em_cases(b: CaseBuilder):
    def rows(cell: Cell):
        c = _pairs_cell(cell)
        c("hand-written answers", list(QA_PAIRS), public=True)
        c("case, punctuation and articles", [("The Cat.", "cat"), ("an Owl!", "owl"),
                                            ("A-ha", "aha"), ("Theory", "theory")],
          tags=("normalisation",), public=True)
        c("40 generated answers", _qa_pairs(b, 40), tags=("generated",))
    return b.float64_grid(rows)


def f1_cases(b: CaseBuilder):
    def rows(cell: Cell):
        c = _pairs_cell(cell)
        c("hand-written answers", list(QA_PAIRS), public=True)
        c("repeated words (multiset overlap)", [("the cat cat cat", "cat"),
                                               ("red red blue", "red blue blue"),
                                               ("dog", "dog dog dog")],
          tags=("repeats",), public=True)
        c("empty answers", [("", ""), ("the", ""), ("", "an apple"), ("a an the", "the")],
          tags=("empty",))
        c("40 generated answers", _qa_pairs(b, 40), tags=("generated",))
    return b.float64_grid(rows)


def rouge_n_cases(b: CaseBuilder):
    def rows(cell: Cell):
        c = _pairs_cell(cell)
        c("ROUGE-1, 12 pairs", _token_pairs(b, 12), width=3, n=1, public=True)
        c("ROUGE-2, 12 pairs", _token_pairs(b, 12), width=3, n=2, tags=("n = 2",), public=True)
        c("ROUGE-3, 8 pairs", _token_pairs(b, 8, edits=2), width=3, n=3, tags=("n = 3",))
        c("repeated n-grams (clipped counts)",
          [("the the the the".split(), "the cat".split()),
           ("a a b".split(), "a b b".split()), ("x y x y x y".split(), "x y".split())],
          width=3, n=1, tags=("clipping",), public=True)
        c("no overlap, and sequences shorter than n",
          [("a b".split(), "c d".split()), ("a".split(), "a b c".split()),
           ([], "a b".split())], width=3, n=2, tags=("edge cases",))
    return b.float64_grid(rows)


def rouge_l_cases(b: CaseBuilder):
    def rows(cell: Cell):
        c = _pairs_cell(cell)
        c("12 pairs", _token_pairs(b, 12), width=3, public=True)
        c("a subsequence, not a substring", [("a x b y c".split(), "a b c".split()),
                                            ("the cat sat".split(), "the big cat sat".split())],
          width=3, tags=("gaps",), public=True)
        c("reordered words", [("c b a".split(), "a b c".split()),
                              ("sat cat the".split(), "the cat sat".split())],
          width=3, tags=("order",))
        c("empty and disjoint", [([], "a".split()), ("a b".split(), "c d".split())], width=3,
          tags=("edge cases",))
        c("long pairs (30–40 tokens)", _token_pairs(b, 6, lo=30, hi=40, edits=8), width=3,
          tags=("long",))
    return b.float64_grid(rows)


def _corpus(b: CaseBuilder, n, lo=6, hi=20, edits=4, shorter=0):
    pairs = _token_pairs(b, n, lo, hi, edits)
    cands = [cand[:max(1, len(cand) - shorter)] for cand, _ in pairs]
    return cands, [ref for _, ref in pairs]


def bleu_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("20 sentence pairs", *_corpus(b, 20), public=True)
        c("candidates shorter than the references (brevity penalty)",
          *_corpus(b, 15, shorter=3), tags=("brevity penalty",), public=True)
        cands, refs = _corpus(b, 10)
        c("candidates longer than the references (no penalty)",
          [cand + ["extra", "words"] for cand in cands], refs, tags=("no penalty",))
        c("max_n=2", *_corpus(b, 12), max_n=2, tags=("max_n",))
        c("repeated words (clipped counts)",
          ["the the the the the the".split(), "a cat on the mat on the mat".split()],
          ["the cat is on the mat".split(), "there is a cat on the mat".split()],
          max_n=2, tags=("clipping",), public=True)
        c("a 4-gram precision of 0 gives BLEU 0", ["a b c x d e f".split()],
          ["a b c y d e f".split()], tags=("zero precision",))
        c("identical corpus: BLEU 100", *(2 * [_corpus(b, 5)[1]]), tags=("identical",))
    return b.float64_grid(rows)


CHAPTER = Chapter(
    id="ch10",
    title="Real-world applications: decoding and evaluation",
    notebook="ch10_applications/ch10_applications.py",
    exercises=[
        Exercise(id="ch10.top_k_filter", name="top_k_filter", points=1.0, reference=top_k_filter,
                 cases=top_k_cases, mistakes=catalog.TOP_K_MISTAKES),
        Exercise(id="ch10.top_p_filter", name="top_p_filter", points=1.5, reference=top_p_filter,
                 cases=top_p_cases, mistakes=catalog.TOP_P_MISTAKES),
        Exercise(id="ch10.sample_next_token", name="sample_next_token", points=1.5,
                 reference=sample_next_token, cases=sampling_cases, driver="drive_draws",
                 standins=("ch10.top_k_filter", "ch10.top_p_filter"),
                 mistakes=catalog.SAMPLING_MISTAKES),
        Exercise(id="ch10.generate", name="generate", points=2.0, reference=generate,
                 cases=generate_cases, driver="drive_generate",
                 standins=("ch10.sample_next_token",), mistakes=catalog.GENERATE_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="ch10.beam_search", name="beam_search", points=2.0, reference=beam_search,
                 cases=beam_cases, driver="drive_beam", mistakes=catalog.BEAM_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="ch10.speculative_accept", name="speculative_accept", points=2.0,
                 reference=speculative_accept, cases=speculative_cases,
                 driver="drive_speculative", mistakes=catalog.SPECULATIVE_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="ch10.exact_match", name="exact_match", points=0.5, reference=exact_match,
                 cases=em_cases, driver="drive_pairs", mistakes=catalog.EM_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="ch10.token_f1", name="token_f1", points=1.0, reference=token_f1,
                 cases=f1_cases, driver="drive_pairs", mistakes=catalog.F1_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="ch10.rouge_n", name="rouge_n", points=1.0, reference=rouge_n,
                 cases=rouge_n_cases, driver="drive_pairs", mistakes=catalog.ROUGE_N_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="ch10.rouge_l", name="rouge_l", points=1.0, reference=rouge_l,
                 cases=rouge_l_cases, driver="drive_pairs", mistakes=catalog.ROUGE_L_MISTAKES,
                 precision=Precision.FLOAT64),
        Exercise(id="ch10.corpus_bleu", name="corpus_bleu", points=1.5, reference=corpus_bleu,
                 cases=bleu_cases, mistakes=catalog.BLEU_MISTAKES, precision=Precision.FLOAT64),
    ],
)
