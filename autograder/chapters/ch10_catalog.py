"""Chapter 10 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points and is named in the feedback. The alternative correct implementations are test
fixtures: ``tests/chapters/alternatives/ch10.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake

_NEG_INF = 'float("-inf"))'

# =========================================================================== truncation
TOP_K_MISTAKES = (
    Mistake(key="drops_kth", title="the k-th largest logit itself is dropped",
            hint="keep every logit ≥ the k-th largest: mask with logits < kth, not ≤",
            patch={"logits < kth_largest": "logits <= kth_largest"}),
    Mistake(key="exactly_k_by_index", title="exactly k tokens kept by index, ties dropped",
            hint="tokens tied with the k-th largest are all kept: compare values with the k-th "
                 "value instead of scattering topk's indices",
            patch={"kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)\n"
                   "    return logits.masked_fill(logits < kth_largest, float(\"-inf\"))":
                   "index = torch.topk(logits, k, dim=-1).indices\n"
                   "    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, index, True)\n"
                   "    return logits.masked_fill(~keep, float(\"-inf\"))"}),
    Mistake(key="zero_not_inf", title="dropped logits set to 0 instead of -inf",
            hint="a logit of 0 still has probability e^0 / Σ > 0 after the softmax: use -inf",
            patch={_NEG_INF: "0.0)"}),
    Mistake(key="returns_probs", title="probabilities returned instead of logits",
            hint="return the filtered logits; the softmax comes later, in the sampler",
            patch={"return logits.masked_fill(logits < kth_largest, float(\"-inf\"))":
                   "return torch.softmax(logits.masked_fill(logits < kth_largest, "
                   "float(\"-inf\")), dim=-1)"}),
    Mistake(key="wrong_axis", title="the k-th largest taken along the first axis",
            hint="each row (the last axis) is one distribution: topk(..., dim=-1)",
            patch={"torch.topk(logits, k, dim=-1).values[..., -1:]":
                   "torch.topk(logits, min(k, logits.shape[0]), dim=0).values[-1:]"}),
)

TOP_P_MISTAKES = (
    Mistake(key="drops_crossing", title="the token that crosses p is dropped",
            hint="keep the smallest set whose mass reaches p: the token at which the cumulative "
                 "sum first reaches p belongs to it",
            patch={"crossing = n_below.clamp(max=logits.shape[-1] - 1)":
                   "crossing = (n_below - 1).clamp(min=0)"}),
    Mistake(key="one_too_many", title="one token after the crossing one is kept",
            hint="stop at the first token whose cumulative sum reaches p",
            patch={"crossing = n_below.clamp(max=logits.shape[-1] - 1)":
                   "crossing = (n_below + 1).clamp(max=logits.shape[-1] - 1)"}),
    Mistake(key="no_float32_upcast", title="16-bit logits filtered in their own precision",
            hint="compute the softmax and its cumulative sum in float32 for float16/bfloat16 "
                 "logits: in bfloat16 the sums are off by a few thousandths, enough to move the "
                 "token that crosses p",
            patch={"work = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) "
                   "else logits": "work = logits"}),
    Mistake(key="unsorted", title="cumulative sums in vocabulary order, not sorted",
            hint="sort the probabilities in decreasing order before the cumulative sum",
            patch={"sorted_logits, _ = torch.sort(work, dim=-1, descending=True)":
                   "sorted_logits = work"}),
    Mistake(key="ascending", title="probabilities sorted in increasing order",
            hint="the nucleus holds the MOST probable tokens: sort with descending=True",
            patch={"descending=True": "descending=False"}),
    Mistake(key="zero_not_inf", title="dropped logits set to 0 instead of -inf",
            hint="a logit of 0 still has probability e^0 / Σ > 0 after the softmax: use -inf",
            patch={_NEG_INF: "0.0)"}),
)

# =========================================================================== sampling
SAMPLING_MISTAKES = (
    Mistake(key="temperature_multiplied", title="logits multiplied by the temperature",
            hint="p_τ ∝ exp(z / τ): divide by τ, so that τ < 1 sharpens and τ > 1 flattens",
            patch={"scaled = work / temperature": "scaled = work * temperature"}),
    Mistake(key="top_p_before_temperature", title="top-p applied before the temperature",
            hint="the nucleus is taken on the TEMPERED distribution: divide by τ first, then "
                 "filter",
            patch={"scaled = work / temperature": "scaled = work",
                   "probs = torch.softmax(scaled, dim=-1)":
                   "probs = torch.softmax(scaled / temperature, dim=-1)"}),
    Mistake(key="ignores_top_k", title="top_k is ignored",
            hint="apply top_k_filter to the tempered logits when top_k is given",
            patch={"        scaled = top_k_filter(scaled, top_k)\n": "        pass\n"}),
    Mistake(key="ignores_generator", title="the generator is not used for the draw",
            hint="pass generator=generator to torch.multinomial so that a seeded run repeats",
            patch={", 1, generator=generator)": ", 1)"}),
)

# =========================================================================== generation
GENERATE_MISTAKES = (
    Mistake(key="first_position", title="the next token drawn from the first position's logits",
            hint="the next token follows the LAST position: logits[:, -1]",
            patch={"sample_next_token(logits[:, -1],": "sample_next_token(logits[:, 0],"}),
    Mistake(key="stale_token", title="the cache is fed the token before the new one",
            hint="after the prefill, feed exactly the token just drawn (seq[:, -1:]): the cache "
                 "already holds everything before it",
            patch={"            fresh = token[:, None]\n": "            fresh = seq[:, -2:-1]\n"}),
    Mistake(key="temperature_dropped", title="the temperature is not passed to the sampler",
            hint="pass temperature, top_k, top_p and the generator to sample_next_token",
            patch={"(logits[:, -1], temperature, top_k": "(logits[:, -1], 1.0, top_k"}),
    Mistake(key="no_eos_stop", title="generation does not stop when every row has emitted eos",
            hint="break out of the loop once every row is finished",
            patch={"            if eos_id is not None and bool(finished.all()):\n"
                   "                break\n": ""}),
    Mistake(key="finished_rows_continue", title="finished rows keep generating after eos",
            hint="once a row has emitted eos_id, every later token of that row is eos_id",
            patch={"                token = token.masked_fill(finished, eos_id)\n": ""}),
    Mistake(key="cache_ignored", title="use_cache=True never uses the cache",
            hint="with use_cache=True feed the prompt once, then only the newest token, through "
                 "model(idx, cache=cache)",
            patch={"            if use_cache:\n": "            if False:\n"}),
)

# =========================================================================== beam search
BEAM_MISTAKES = (
    Mistake(key="bos_counted", title="bos counted in the length |y|",
            hint="|y| counts the generated tokens (eos included), not bos",
            patch={"((5.0 + len(hyp) - 1) / 6.0)": "((5.0 + len(hyp)) / 6.0)"}),
    Mistake(key="finished_extended", title="finished hypotheses stay in the beam and are extended",
            hint="a hypothesis that ends in eos leaves the beam for the finished list",
            patch={"            if flat % V == eos_id:\n": "            if False:\n"}),
    Mistake(key="per_beam_top_k", title="each hypothesis's best tokens, cut in beam order",
            hint="rank all nh × V extensions together by total log-probability and keep the "
                 "beam_width best overall",
            patch={
                "best = torch.topk(candidates, min(beam_width, candidates.numel()))":
                "per_beam = torch.topk(logp, min(beam_width, V), dim=-1).indices  # (nh, k)\n"
                "        flat_ids = (torch.arange(logp.shape[0])[:, None] * V + per_beam)"
                ".reshape(-1)[:beam_width]\n"
                "        best = torch.return_types.topk((candidates[flat_ids], flat_ids))"}),
    Mistake(key="unnormalised_score", title="the returned score is not length-normalised",
            hint="return log p(y) / lp(|y|), the score the hypotheses were ranked by",
            patch={"return torch.tensor(hyp, dtype=torch.long), normalised(hyp, total)":
                   "return torch.tensor(hyp, dtype=torch.long), total"}),
    Mistake(key="no_length_penalty", title="finished hypotheses compared without the length penalty",
            hint="rank finished hypotheses by log p / ((5 + |y|) / 6) ** α",
            patch={"return total / ((5.0 + len(hyp) - 1) / 6.0) ** length_penalty":
                   "return total"}),
)

# =========================================================================== speculative decoding
SPECULATIVE_MISTAKES = (
    Mistake(key="inverted_ratio", title="acceptance probability min(1, q/p) instead of min(1, p/q)",
            hint="accept x with probability min(1, p(x) / q(x)): target over draft",
            patch={"float(p[i, x] / q[i, x])": "float(q[i, x] / p[i, x]) if p[i, x] > 0 else 1.0"}),
    Mistake(key="resample_from_target", title="after a rejection the token is drawn from p",
            hint="draw from the residual max(0, p − q), renormalised: drawing from p counts the "
                 "accepted mass twice",
            patch={"residual = (p[i] - q[i]).clamp(min=0)": "residual = p[i].clone()"}),
    Mistake(key="no_bonus", title="no extra token when every draft token is accepted",
            hint="if all k are accepted, draw one more token from target_probs[k]",
            patch={"return draft_tokens.clone(), "
                   "torch.multinomial(p[k], 1, generator=generator)[0]":
                   "return draft_tokens[:-1].clone(), draft_tokens[-1].clone()"}),
    Mistake(key="global_rng", title="the uniforms drawn from the global generator",
            hint="draw with the generator you are given, torch.rand(..., generator=generator), so "
                 "that a seeded run can be repeated",
            patch={"u = torch.rand((), generator=generator, dtype=torch.float64)":
                   "u = torch.rand((), dtype=torch.float64)"}),
    Mistake(key="accept_with_p", title="a draft token accepted with probability p(x)",
            hint="the acceptance probability is min(1, p(x) / q(x)); p(x) alone rejects too often",
            patch={"float(p[i, x] / q[i, x])": "float(p[i, x])"}),
)

# =========================================================================== metrics
_PUNCT = "text = \"\".join(ch for ch in text.lower() if ch not in set(string.punctuation))"
_ARTICLES = "        text = re.sub(r\"\\b(a|an|the)\\b\", \" \", text)\n"

EM_MISTAKES = (
    Mistake(key="case_sensitive", title="case is not folded",
            hint="lowercase both strings before comparing",
            patch={"text.lower() if": "text if"}),
    Mistake(key="keeps_articles", title="articles are not removed",
            hint="replace the whole words a, an and the by a space",
            patch={_ARTICLES: ""}),
    Mistake(key="keeps_punctuation", title="punctuation is not removed",
            hint="delete every character of string.punctuation",
            patch={_PUNCT: "text = text.lower()"}),
    Mistake(key="articles_inside_words", title="articles removed inside words",
            hint="remove a, an, the only as whole words (\\b on both sides): 'theory' keeps its "
                 "'the'",
            patch={"r\"\\b(a|an|the)\\b\"": "r\"(a|an|the)\""}),
)

F1_MISTAKES = (
    Mistake(key="set_overlap", title="overlap counted with sets, not multisets",
            hint="a word counts as often as it occurs in both answers: Counter(pred) & "
                 "Counter(ref)",
            patch={"common = sum((Counter(pred) & Counter(ref)).values())":
                   "common = len(set(pred) & set(ref))"}),
    Mistake(key="characters", title="F1 over characters instead of words",
            hint="split the normalised answers on whitespace: F1 is over word tokens",
            patch={"pred, ref = normalise(prediction).split(), normalise(reference).split()":
                   "pred, ref = list(normalise(prediction)), list(normalise(reference))"}),
    Mistake(key="no_normalisation", title="answers compared without normalisation",
            hint="lowercase, strip punctuation and articles, collapse whitespace, then split",
            patch={"pred, ref = normalise(prediction).split(), normalise(reference).split()":
                   "pred, ref = prediction.split(), reference.split()"}),
    Mistake(key="empty_is_zero", title="two empty answers score 0",
            hint="if either side is empty, F1 is 1.0 when both are empty and 0.0 otherwise",
            patch={"return float(pred == ref)": "return 0.0"}),
)

ROUGE_N_MISTAKES = (
    Mistake(key="unclipped", title="n-gram matches not clipped",
            hint="an n-gram matches at most as often as it occurs in the reference: "
                 "min(count_cand, count_ref)",
            patch={"overlap = sum((cand & ref).values())":
                   "overlap = sum(count for gram, count in cand.items() if gram in ref)"}),
    Mistake(key="swapped", title="precision and recall swapped",
            hint="precision divides by the CANDIDATE's n-grams, recall by the reference's",
            patch={"precision = overlap / sum(cand.values()) if cand else 0.0\n"
                   "    recall = overlap / sum(ref.values()) if ref else 0.0":
                   "precision = overlap / sum(ref.values()) if ref else 0.0\n"
                   "    recall = overlap / sum(cand.values()) if cand else 0.0"}),
    Mistake(key="distinct_ngrams", title="distinct n-grams counted instead of all",
            hint="the denominators count every n-gram, repeats included: sum(counter.values())",
            patch={"overlap / sum(cand.values()) if cand": "overlap / len(cand) if cand",
                   "overlap / sum(ref.values()) if ref else": "overlap / len(ref) if ref else"}),
    Mistake(key="arithmetic_mean", title="F1 as the arithmetic mean of P and R",
            hint="F1 is the harmonic mean 2PR / (P + R)",
            patch={"return precision, recall, 2 * precision * recall / (precision + recall)":
                   "return precision, recall, (precision + recall) / 2"}),
)

ROUGE_L_MISTAKES = (
    Mistake(key="substring", title="longest common substring (contiguous) instead of subsequence",
            hint="the LCS allows gaps: when tokens differ, carry max(ℓ(i−1, j), ℓ(i, j−1))",
            patch={"table[i][j] = max(table[i - 1][j], table[i][j - 1])": "table[i][j] = 0",
                   "lcs = table[rows][cols]": "lcs = max(max(row) for row in table)"}),
    Mistake(key="swapped", title="precision and recall swapped",
            hint="precision divides by the candidate's length, recall by the reference's",
            patch={"precision = lcs / rows if rows else 0.0": "precision = lcs / cols if cols else 0.0",
                   "recall = lcs / cols if cols else 0.0": "recall = lcs / rows if rows else 0.0"}),
    Mistake(key="characters", title="LCS of the characters of the joined texts",
            hint="ROUGE-L works on token lists: compare tokens, not characters",
            patch={"    rows, cols = len(candidate), len(reference)\n":
                            "    candidate, reference = \" \".join(candidate), \" \".join(reference)\n"
                            "    rows, cols = len(candidate), len(reference)\n"}),
    Mistake(key="unordered_overlap", title="bag-of-words overlap instead of an in-order match",
            hint="the LCS counts tokens that appear in the same ORDER in both",
            patch={"lcs = table[rows][cols]":
                   "lcs = sum(min(candidate.count(w), reference.count(w)) for w in set(candidate))"}),
)

BLEU_MISTAKES = (
    Mistake(key="unclipped", title="n-gram matches not clipped",
            hint="an n-gram matches at most as often as it occurs in the reference",
            patch={"matches += sum((grams(cand, n) & grams(ref, n)).values())":
                   "matches += sum(c for g, c in grams(cand, n).items() if g in grams(ref, n))"}),
    Mistake(key="no_brevity_penalty", title="no brevity penalty",
            hint="multiply by BP = exp(1 − r/c) when the candidates are not longer than the "
                 "references",
            patch={"brevity = 1.0 if c > r else math.exp(1 - r / c)": "brevity = 1.0"}),
    Mistake(key="sentence_average", title="the average of sentence-level BLEU scores",
            hint="pool the n-gram matches and totals over the whole corpus before dividing",
            patch={
                "    log_precision = 0.0\n":
                "    if len(candidates) > 1:\n"
                "        return sum(corpus_bleu([c], [r], max_n) for c, r in "
                "zip(candidates, references)) / len(candidates)\n"
                "    log_precision = 0.0\n"}),
    Mistake(key="arithmetic_mean", title="arithmetic mean of the n-gram precisions",
            hint="BLEU takes the geometric mean: exp of the mean of log p_n",
            patch={"log_precision += math.log(matches / total) / max_n":
                   "log_precision += matches / total / max_n",
                   "return 100 * brevity * math.exp(log_precision)":
                   "return 100 * brevity * log_precision"}),
    Mistake(key="inverted_penalty", title="brevity penalty exp(1 − c/r)",
            hint="BP = exp(1 − r/c): reference length over candidate length",
            patch={"math.exp(1 - r / c)": "math.exp(1 - c / r)"}),
)
