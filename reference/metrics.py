"""Chapter 10, Evaluation: the metrics of question answering (SQuAD exact match and token F1),
summarisation (ROUGE-N, ROUGE-L) and translation (corpus BLEU), in plain Python.

Conventions, stated once:

* Input. The question-answering metrics take raw strings and normalise them first, as the SQuAD
  evaluation script does (``normalize_answer``): lowercase; delete every ``string.punctuation``
  character; replace the articles matching ``\\b(a|an|the)\\b`` by a space (so "another" and
  "theory" stay); collapse whitespace with ``" ".join(s.split())``. Their tokens are the
  normalised string split on whitespace. ROUGE and BLEU take text already tokenised, lists of
  string tokens, and compare tokens exactly: no lowercasing, no stemming, no tokeniser of their own.
* n-grams. A window of n consecutive tokens, kept as a tuple and counted with multiplicity; a
  sequence of T tokens has max(T − n + 1, 0) of them.
* Clipped overlap. Σ_g min(count_candidate(g), count_reference(g)): a candidate n-gram earns
  credit at most as often as the reference has it, so "the the the the" against "the cat" has one
  unigram match, not four. Token F1 uses the same overlap on the normalised tokens.
* Precision divides a match count by the candidate's (prediction's) count, recall by the
  reference's. F1 = 2PR / (P + R), and 0.0 when P + R = 0.
* Empty inputs. ROUGE: a side with no n-grams (or, for ROUGE-L, no tokens) gives 0.0 for its ratio.
  Token F1 follows SQuAD 2.0: if either side has no tokens after normalisation the score is 1.0
  when both have none and 0.0 otherwise (an empty answer is right exactly when no answer is).
* BLEU (Papineni et al., 2002) is a corpus statistic on a 0–100 scale, with ONE reference per
  candidate and NO smoothing. For n = 1..max_n, pool over the corpus the clipped matches m_n and
  the candidate n-gram totals t_n, and set p_n = m_n / t_n. With c the total candidate length and
  r the total reference length, the brevity penalty is BP = 1 if c > r else exp(1 − r / c), and
      BLEU = 100 · BP · exp((1 / max_n) Σ_n log p_n).
  Any m_n or t_n equal to 0 makes BLEU 0.0 (the geometric mean of a zero is zero; c = 0 is the
  case t_1 = 0). Because the counts are pooled before dividing, corpus BLEU is not the mean of
  sentence BLEUs: one sentence without a 4-gram match does not zero the corpus.
* Every score is a Python float: F1 and ROUGE in [0, 1], BLEU in [0, 100].
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLE = re.compile(r"\b(a|an|the)\b")


# --------------------------------------------------------------------------- question answering
def normalize_answer(text: str) -> str:
    """The SQuAD normalisation: lowercase, drop punctuation, drop the articles a/an/the as whole
    words, collapse whitespace. The article becomes a space rather than nothing, as in the
    official script, so that "x—the—y" splits into two tokens (the em dash is not ASCII
    punctuation, and is not whitespace)."""
    text = text.lower().translate(_PUNCTUATION)
    text = _ARTICLE.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 if the two answers are equal after ``normalize_answer``, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """F1 of the clipped overlap between the normalised tokens of the two answers; SQuAD 2.0's
    rule (1.0 if both are empty, 0.0 if only one is) when either has no tokens."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    overlap = _clipped_overlap(Counter(predicted), Counter(expected))
    if overlap == 0:
        return 0.0
    return _f1(overlap / len(predicted), overlap / len(expected))


# --------------------------------------------------------------------------- shared pieces
def ngrams(tokens: list[str], n: int) -> Counter:
    """Counts of the n-grams (tuples of n consecutive tokens) of ``tokens``; empty when there are
    fewer than n tokens."""
    if n < 1:
        raise ValueError(f"n-grams need n >= 1, got n = {n}")
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _clipped_overlap(candidate: Counter, reference: Counter) -> int:
    """Σ_g min(candidate[g], reference[g]): Counter's & keeps the smaller count of each key."""
    return sum((candidate & reference).values())


def _ratio(matches: int, total: int) -> float:
    """matches / total, and 0.0 for a side with nothing to count."""
    return matches / total if total else 0.0


def _f1(precision: float, recall: float) -> float:
    """The harmonic mean 2PR / (P + R), 0.0 when both are 0."""
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- summarisation
def rouge_n(candidate: list[str], reference: list[str], n: int) -> tuple[float, float, float]:
    """ROUGE-N (precision, recall, F1) from the clipped n-gram overlap of two token lists."""
    candidate_grams, reference_grams = ngrams(candidate, n), ngrams(reference, n)
    overlap = _clipped_overlap(candidate_grams, reference_grams)
    precision = _ratio(overlap, sum(candidate_grams.values()))
    recall = _ratio(overlap, sum(reference_grams.values()))
    return precision, recall, _f1(precision, recall)


def lcs_length(a: list, b: list) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (not necessarily contiguous),
    by the O(len(a)·len(b)) dynamic programme, keeping one row: after reading a[:i], ``row[j]``
    is the LCS length of a[:i] and b[:j]."""
    row = [0] * (len(b) + 1)
    for x in a:
        next_row = [0]
        for j, y in enumerate(b):
            # x == y extends the LCS of a[:i−1], b[:j]; otherwise drop the last of a or of b
            next_row.append(row[j] + 1 if x == y else max(row[j + 1], next_row[j]))
        row = next_row
    return row[-1]


def rouge_l(candidate: list[str], reference: list[str]) -> tuple[float, float, float]:
    """ROUGE-L (precision, recall, F1): the LCS length over the candidate's and the reference's
    length."""
    common = lcs_length(candidate, reference)
    precision, recall = _ratio(common, len(candidate)), _ratio(common, len(reference))
    return precision, recall, _f1(precision, recall)


# --------------------------------------------------------------------------- translation
def corpus_bleu(candidates: list[list[str]], references: list[list[str]], max_n: int = 4) -> float:
    """Corpus BLEU in [0, 100], one reference per candidate, no smoothing (module docstring)."""
    if len(candidates) != len(references):
        raise ValueError(
            f"corpus_bleu takes one reference per candidate: got {len(candidates)} candidates "
            f"and {len(references)} references"
        )
    if max_n < 1:
        raise ValueError(f"BLEU needs max_n >= 1, got max_n = {max_n}")
    matches, totals = [0] * max_n, [0] * max_n
    for candidate, reference in zip(candidates, references):
        for n in range(1, max_n + 1):
            matches[n - 1] += _clipped_overlap(ngrams(candidate, n), ngrams(reference, n))
            totals[n - 1] += max(len(candidate) - n + 1, 0)
    if 0 in matches or 0 in totals:
        return 0.0
    c = sum(len(candidate) for candidate in candidates)
    r = sum(len(reference) for reference in references)
    brevity_penalty = 1.0 if c > r else math.exp(1 - r / c)
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    return 100.0 * brevity_penalty * math.exp(log_precision)
