"""reference.metrics against the libraries people use (sacrebleu for corpus BLEU, rouge-score for
ROUGE-1/2/L, and a transcription of the official SQuAD evaluation script for exact match and
token F1) on generated sentence pairs, against numbers worked out by hand, and through the
identities the metrics must satisfy.

What the libraries do at the edges, checked on the installed versions (sacrebleu 2.6.0,
rouge-score 0.1.2), and why the generated data may contain empty sentences:

* sacrebleu gives an empty hypothesis line no special treatment: it adds 0 to the candidate
  length and to every n-gram total, and its reference's length to r, which is our rule. A corpus
  whose candidates are all empty scores 0 in both (sacrebleu sets BP = 0 when c = 0), an order
  with no candidate n-grams (t_n = 0) makes both 0 (sacrebleu floors log 0 to −9999999999), and
  with one reference the "closest reference length" is that reference's length.
* rouge-score scores an empty side as 0 (P = R = F = 0, also when both are empty), which is our
  rule too; only the type differs (ROUGE-L returns the int 0), so the comparison is by value.
  ``score`` takes the target (reference) first and the prediction second; we pass both by keyword.
* With ``use_stemmer=False`` and our own whitespace tokenizer rouge-score never touches nltk's
  data (none is installed here), so these tests run offline.
"""

import math
import random
import re
import string
from collections import Counter

import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from reference.metrics import (
    corpus_bleu,
    exact_match,
    lcs_length,
    ngrams,
    normalize_answer,
    rouge_l,
    rouge_n,
    token_f1,
)

UNIT_TOLERANCE = 1e-9  # scores in [0, 1]: both sides are a few float operations on small counts
BLEU_TOLERANCE = 1e-9 * 100  # BLEU is on a 0–100 scale

# 30 lowercase alphanumeric words: few enough that random sentences repeat tokens (clipping
# matters) and share n-grams by chance; the halves are disjoint for the no-overlap pairs.
VOCAB = ("the a cat dog sat ran on in mat red big small house tree 1 "
         "2 3 42 x9 b7 and of to is was it fox jumps over lazy").split()
OUT_OF_VOCAB = "zz0"


def _assert_close(ours, theirs, tolerance, what):
    assert abs(ours - theirs) <= tolerance, (
        f"{what}: reference.metrics gives {ours!r}, the library {theirs!r} "
        f"(difference {abs(ours - theirs):.3g} > {tolerance:g})"
    )


# --------------------------------------------------------------------------- generated data
def _edited(tokens, rng, edits, operations=("substitute", "delete", "insert", "swap")):
    """``tokens`` after ``edits`` random edits, so that the result shares most n-grams with it."""
    out = list(tokens)
    for _ in range(edits):
        operation = rng.choice(operations)
        if operation == "insert" and len(out) < 25:
            out.insert(rng.randint(0, len(out)), rng.choice(VOCAB))
        elif not out:
            continue
        elif operation == "substitute":
            out[rng.randrange(len(out))] = rng.choice(VOCAB)
        elif operation == "delete":
            del out[rng.randrange(len(out))]
        elif operation == "swap" and len(out) > 1:
            i = rng.randrange(len(out) - 1)
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _sentence(rng, low=0, high=25, words=VOCAB):
    return [rng.choice(words) for _ in range(rng.randint(low, high))]


def _sentence_pairs(count, seed):
    """(candidate, reference) pairs of 0–25 tokens: one in five identical, one in five with
    disjoint vocabularies, the rest the candidate after 1–6 random edits."""
    rng = random.Random(seed)
    pairs = []
    for i in range(count):
        if i % 5 == 0:
            candidate = _sentence(rng)
            pairs.append((candidate, list(candidate)))
        elif i % 5 == 1:
            pairs.append((_sentence(rng, words=VOCAB[:15]), _sentence(rng, words=VOCAB[15:])))
        else:
            candidate = _sentence(rng)
            pairs.append((candidate, _edited(candidate, rng, rng.randint(1, 6))))
    return pairs


def _mixed_corpus(size, seed):
    pairs = _sentence_pairs(size, seed)
    pairs[-1] = ([], pairs[-1][1])  # an empty candidate ...
    pairs[-2] = (pairs[-2][0], [])  # ... and an empty reference in every mixed corpus
    return pairs


def _one_sided_corpus(size, seed, operations):
    """Each reference is its candidate after edits of one kind only: deletions make every
    candidate at least as long as its reference (c > r), insertions the opposite (c < r)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(size):
        candidate = _sentence(rng, low=4, high=20)
        reference = _edited(candidate, rng, rng.randint(1, 4), operations)
        pairs.append((candidate, reference))
    return pairs


def _no_four_gram_match_corpus(size, seed):
    """Candidates are their references with every fourth token (positions 3, 7, 11, ...) replaced
    by a word no reference has: every candidate 4-gram contains one, most trigrams do not."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(size):
        reference = _sentence(rng, low=5, high=25)
        candidate = [OUT_OF_VOCAB if i % 4 == 3 else t for i, t in enumerate(reference)]
        pairs.append((candidate, reference))
    return pairs


def _corpora():
    rng = random.Random(7)
    identical = [(s, list(s)) for s in (_sentence(rng, low=4) for _ in range(10))]
    return {
        "mixed-5": _mixed_corpus(5, seed=1),
        "mixed-20": _mixed_corpus(20, seed=2),
        "mixed-40": _mixed_corpus(40, seed=3),
        "mixed-50": _mixed_corpus(50, seed=4),
        "candidate-longer": _one_sided_corpus(25, seed=5, operations=("delete", "substitute")),
        "candidate-shorter": _one_sided_corpus(25, seed=6, operations=("insert", "substitute")),
        "identical": identical,
        "no-4gram-match": _no_four_gram_match_corpus(15, seed=8),
        "too-short-for-4grams": [(_sentence(rng, 1, 3), _sentence(rng, 1, 3)) for _ in range(8)],
        "no-overlap": [(_sentence(rng, 1, 25, VOCAB[:15]), _sentence(rng, 1, 25, VOCAB[15:]))
                       for _ in range(6)],
        "all-candidates-empty": [([], _sentence(rng, 1, 25)) for _ in range(5)],
    }


CORPORA = _corpora()


# --------------------------------------------------------------------------- BLEU vs sacrebleu
def _sacrebleu(pairs, max_n):
    bleu = BLEU(tokenize="none", smooth_method="none", max_ngram_order=max_n,
                effective_order=False)
    return bleu.corpus_score([" ".join(c) for c, _ in pairs], [[" ".join(r) for _, r in pairs]])


@pytest.mark.parametrize("max_n", [1, 2, 4], ids=["bleu1", "bleu2", "bleu4"])
@pytest.mark.parametrize("name", list(CORPORA))
def test_corpus_bleu_matches_sacrebleu(name, max_n):
    pairs = CORPORA[name]
    theirs = _sacrebleu(pairs, max_n)
    ours = corpus_bleu([c for c, _ in pairs], [r for _, r in pairs], max_n=max_n)
    assert isinstance(ours, float)
    _assert_close(ours, theirs.score, BLEU_TOLERANCE, f"BLEU-{max_n} on corpus {name!r}")


def test_the_bleu_corpora_cover_both_sides_of_the_brevity_penalty_and_the_zero_cases():
    """The premises of the comparison above, so that a change to the generators cannot quietly
    drop a case."""
    c_and_r = {name: (sum(map(len, (c for c, _ in p))), sum(map(len, (r for _, r in p))))
               for name, p in CORPORA.items()}
    assert c_and_r["candidate-longer"][0] > c_and_r["candidate-longer"][1]  # BP = 1
    assert c_and_r["candidate-shorter"][0] < c_and_r["candidate-shorter"][1]  # BP < 1
    four_gram = _sacrebleu(CORPORA["no-4gram-match"], 4)
    assert four_gram.counts[3] == 0 < four_gram.totals[3] and four_gram.counts[2] > 0
    assert _sacrebleu(CORPORA["too-short-for-4grams"], 4).totals[3] == 0
    for name in ("no-4gram-match", "too-short-for-4grams", "no-overlap", "all-candidates-empty"):
        assert corpus_bleu(*zip(*CORPORA[name])) == 0.0, name
    mixed = [name for name in CORPORA if name.startswith("mixed")]
    assert all(corpus_bleu(*zip(*CORPORA[name])) > 0 for name in mixed)


# --------------------------------------------------------------------------- ROUGE vs rouge-score
class _WhitespaceTokenizer:
    """rouge-score's tokenizer interface; splitting on whitespace gives back our token lists."""

    def tokenize(self, text):
        return text.split()


ROUGE_PAIRS = _sentence_pairs(400, seed=11)


def test_rouge_matches_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False,
                                      tokenizer=_WhitespaceTokenizer())
    for candidate, reference in ROUGE_PAIRS:
        theirs = scorer.score(target=" ".join(reference), prediction=" ".join(candidate))
        ours = {"rouge1": rouge_n(candidate, reference, 1),
                "rouge2": rouge_n(candidate, reference, 2),
                "rougeL": rouge_l(candidate, reference)}
        for kind, (precision, recall, f1) in ours.items():
            for field, value in zip(("precision", "recall", "fmeasure"), (precision, recall, f1)):
                _assert_close(value, getattr(theirs[kind], field), UNIT_TOLERANCE,
                              f"{kind} {field} of {candidate} against {reference}")


def test_rouge_of_empty_sides_is_zero_as_stated():
    for candidate, reference in [([], []), ([], ["a", "cat"]), (["a", "cat"], [])]:
        assert rouge_n(candidate, reference, 1) == (0.0, 0.0, 0.0)
        assert rouge_l(candidate, reference) == (0.0, 0.0, 0.0)
    assert rouge_n(["cat"], ["cat"], 2) == (0.0, 0.0, 0.0)  # no bigrams on either side


# --------------------------------------------------------------------------- SQuAD vs the script
def _squad_normalize(s):
    """The official SQuAD v1.1 evaluation script's answer normalisation, its four steps in its
    order, written out independently of reference.metrics."""
    s = s.lower()  # lower
    s = "".join(ch for ch in s if ch not in set(string.punctuation))  # remove_punc
    s = re.sub(r"\b(a|an|the)\b", " ", s)  # remove_articles: the article becomes a space
    return " ".join(s.split())  # white_space_fix


def _squad_exact_match(prediction, ground_truth):
    return _squad_normalize(prediction) == _squad_normalize(ground_truth)


def _squad_f1(prediction, ground_truth):
    """The v1.1 script's F1, with the rule the v2.0 script adds for empty answers."""
    prediction_tokens = _squad_normalize(prediction).split()
    ground_truth_tokens = _squad_normalize(ground_truth).split()
    if len(prediction_tokens) == 0 or len(ground_truth_tokens) == 0:
        return float(prediction_tokens == ground_truth_tokens)
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


# Articles in several cases, words that merely contain one ("another", "theory", "then",
# "anthem" must stay), words with punctuation inside, and non-ASCII letters and an em dash, which
# are not in string.punctuation (the em dash is why the article becomes a space, not nothing).
ANSWER_WORDS = ["a", "an", "the", "The", "A", "AN", "THE", "another", "theory", "then", "anthem",
                "Cat", "sat", "MAT", "on", "42", "x9", "don't", "U.S.", "e.g.", "café", "naïve"]
SEPARATORS = [" ", " ", " ", "  ", "\t", " \t ", "\n", "", "-", "—", ", "]


def _decorated(words, rng):
    """Render words as an answer string with random case, punctuation and whitespace."""
    pieces = []
    for word in words:
        word = rng.choice([word, word.upper(), word.lower(), word.capitalize()])
        if rng.random() < 0.3:
            word = rng.choice(string.punctuation) + word
        if rng.random() < 0.3:
            word = word + rng.choice(string.punctuation)
        pieces.append(word)
        pieces.append(rng.choice(SEPARATORS))
    return rng.choice(["", " ", "\t"]) + "".join(pieces[:-1])


def _answer_pairs(count, seed):
    """(prediction, reference) strings of 0–8 words: a third the same words decorated twice,
    a third the words after edits, a third unrelated."""
    rng = random.Random(seed)
    pairs = []
    for i in range(count):
        words = [rng.choice(ANSWER_WORDS) for _ in range(rng.randint(0, 8))]
        if i % 3 == 0:
            other = words
        elif i % 3 == 1:
            other = [rng.choice(ANSWER_WORDS) if rng.random() < 0.3 else w for w in words]
            other = other[:rng.randint(0, len(other))] + rng.sample(ANSWER_WORDS, rng.randint(0, 2))
        else:
            other = [rng.choice(ANSWER_WORDS) for _ in range(rng.randint(0, 8))]
        pairs.append((_decorated(words, rng), _decorated(other, rng)))
    return pairs


ANSWER_PAIRS = _answer_pairs(400, seed=12)


def test_squad_metrics_match_the_official_rules():
    for prediction, reference in ANSWER_PAIRS:
        for text in (prediction, reference):
            assert normalize_answer(text) == _squad_normalize(text), repr(text)
        em = exact_match(prediction, reference)
        assert isinstance(em, float) and em == float(_squad_exact_match(prediction, reference))
        _assert_close(token_f1(prediction, reference), _squad_f1(prediction, reference),
                      UNIT_TOLERANCE, f"token F1 of {prediction!r} against {reference!r}")


def test_the_answer_pairs_exercise_every_rule():
    """Premises of the comparison above: exact matches, partial F1, empty answers after
    normalisation, and kept words that contain an article."""
    ems = [_squad_exact_match(p, r) for p, r in ANSWER_PAIRS]
    f1s = [_squad_f1(p, r) for p, r in ANSWER_PAIRS]
    normalised = [_squad_normalize(t) for pair in ANSWER_PAIRS for t in pair]
    assert sum(ems) >= 50 and sum(0 < f < 1 for f in f1s) >= 50 and f1s.count(0.0) >= 20
    assert normalised.count("") >= 10
    assert any("another" in n.split() for n in normalised)
    assert any("theory" in n.split() for n in normalised)


# --------------------------------------------------------------------------- hand-worked numbers
def test_normalize_answer_by_hand():
    # lower -> "  the quick-brown fox, an another theory!\t"; punctuation -> "  the quickbrown
    # fox an another theory\t"; articles -> "    quickbrown fox   another theory\t"; whitespace
    assert normalize_answer("  The Quick-Brown fox, an ANOTHER theory!\t") == \
        "quickbrown fox another theory"
    assert normalize_answer("The-cat") == "thecat"  # punctuation goes first: no article left
    assert normalize_answer("(the) a. AN") == ""
    assert normalize_answer("x—the—y") == "x— —y"  # the article becomes a space


def test_exact_match_and_token_f1_by_hand():
    assert exact_match("The Cat!", "cat") == 1.0 and exact_match("cat", "cats") == 0.0
    # "cat sat" against "cat sat down": overlap 2, P = 2/2, R = 2/3, F1 = 2·(2/3) / (5/3) = 4/5
    assert token_f1("The cat sat.", "a cat sat down") == pytest.approx(0.8, abs=1e-15)
    # "cat cat cat" against "cat dog": clipped overlap 1, P = 1/3, R = 1/2, F1 = (1/3) / (5/6) = 2/5
    assert token_f1("cat cat cat", "cat dog") == pytest.approx(0.4, abs=1e-15)
    assert token_f1("", "") == 1.0 and token_f1("the", "An.") == 1.0  # both empty after normalising
    assert token_f1("cat", "the") == 0.0 and token_f1("", "cat") == 0.0
    assert token_f1("cat", "dog") == 0.0


def test_ngrams_by_hand():
    assert ngrams(["a", "b", "a", "b"], 2) == Counter({("a", "b"): 2, ("b", "a"): 1})
    assert ngrams(["a", "b"], 3) == Counter()
    with pytest.raises(ValueError):
        ngrams(["a"], 0)


def test_rouge_n_clips_repeated_tokens():
    # unigram "the": min(4, 1) = 1 match; P = 1/4, R = 1/2, F1 = 2·(1/8) / (3/4) = 1/3
    precision, recall, f1 = rouge_n("the the the the".split(), "the cat".split(), 1)
    assert (precision, recall) == (0.25, 0.5) and f1 == pytest.approx(1 / 3, abs=1e-15)
    # bigrams: candidate (the cat)(cat sat)(sat on)(on the)(the mat); the reference's 6 bigrams
    # share 3: P = 3/5, R = 3/6, F1 = 2·0.3 / 1.1 = 6/11
    precision, recall, f1 = rouge_n("the cat sat on the mat".split(),
                                    "the cat sat on a red mat".split(), 2)
    assert (precision, recall) == (0.6, 0.5) and f1 == pytest.approx(6 / 11, abs=1e-15)


@pytest.mark.parametrize("a, b, length", [
    ("ABCBDAB", "BDCABA", 4),  # BCBA (the textbook example)
    ("AGGTAB", "GXTXAYB", 4),  # GTAB
    ("abc", "abc", 3),
    ("abc", "cba", 1),
    ("abc", "def", 0),
    ("", "abc", 0),
], ids=["clrs", "gtab", "equal", "reversed", "disjoint", "empty"])
def test_lcs_length_by_hand(a, b, length):
    assert lcs_length(list(a), list(b)) == length == lcs_length(list(b), list(a))


def test_rouge_l_by_hand():
    # Lin (2004): against "police killed the gunman", "police kill the gunman" keeps the in-order
    # "police the gunman" (LCS 3 of 4), "the gunman kill police" only "the gunman" (2 of 4)
    reference = "police killed the gunman".split()
    assert rouge_l("police kill the gunman".split(), reference) == (0.75, 0.75, 0.75)
    assert rouge_l("the gunman kill police".split(), reference) == (0.5, 0.5, 0.5)


def test_corpus_bleu_by_hand():
    # candidate "the cat sat on the mat" (6 tokens), reference "the cat sat on a red mat" (7):
    # p1 = 5/6 (the: min(2, 1)), p2 = 3/5, p3 = 2/4, p4 = 1/3 ("the cat sat on");
    # product 30/360 = 1/12; c = 6 <= r = 7, so BP = exp(1 − 7/6) = exp(−1/6)
    candidate, reference = "the cat sat on the mat".split(), "the cat sat on a red mat".split()
    expected = 100 * math.exp(-1 / 6) * (1 / 12) ** 0.25  # 45.48...
    assert corpus_bleu([candidate], [reference]) == pytest.approx(expected, rel=1e-14)
    assert 45.4 < expected < 45.5
    # Papineni's modified unigram precision: seven "the" against a reference with two: p1 = 2/7,
    # c = 7 > r = 6, BP = 1
    sevens = ["the"] * 7
    assert corpus_bleu([sevens], ["the cat is on the mat".split()], max_n=1) == \
        pytest.approx(100 * 2 / 7, rel=1e-14)


def test_corpus_bleu_pools_counts_before_dividing():
    # add "a dog ran" against "a dog ran far": alone it has no 4-grams (t4 = 0, BLEU 0), pooled it
    # adds 3/3, 2/2, 1/1, 0/0 matches/totals: p = 8/9, 5/7, 3/5, 1/3, product 8/63;
    # c = 9, r = 11, BP = exp(1 − 11/9) = exp(−2/9)
    candidates = ["the cat sat on the mat".split(), "a dog ran".split()]
    references = ["the cat sat on a red mat".split(), "a dog ran far".split()]
    assert corpus_bleu(candidates[1:], references[1:]) == 0.0
    expected = 100 * math.exp(-2 / 9) * (8 / 63) ** 0.25
    assert corpus_bleu(candidates, references) == pytest.approx(expected, rel=1e-14)


# --------------------------------------------------------------------------- identities
def test_identical_inputs_score_perfectly():
    for candidate, _ in ROUGE_PAIRS:
        if candidate:
            assert rouge_l(candidate, candidate) == (1.0, 1.0, 1.0)
        for n in (1, 2, 3):
            if len(candidate) >= n:
                assert rouge_n(candidate, candidate, n) == (1.0, 1.0, 1.0)
    for prediction, _ in ANSWER_PAIRS:
        assert exact_match(prediction, prediction) == 1.0 == token_f1(prediction, prediction)
    sentences = [c for c, _ in CORPORA["mixed-50"]]  # some have >= 4 tokens, so every t_n > 0
    assert corpus_bleu(sentences, sentences) == 100.0


def test_swapping_candidate_and_reference_swaps_precision_and_recall():
    for candidate, reference in ROUGE_PAIRS:
        for metric in (lambda c, r: rouge_n(c, r, 1), lambda c, r: rouge_n(c, r, 2), rouge_l):
            precision, recall, f1 = metric(candidate, reference)
            assert metric(reference, candidate) == (recall, precision, f1)
    for prediction, reference in ANSWER_PAIRS:
        assert token_f1(prediction, reference) == token_f1(reference, prediction)
        if exact_match(prediction, reference):
            assert token_f1(prediction, reference) == 1.0


def test_rouge_l_is_at_most_rouge_1_with_equality_for_a_subsequence():
    """An LCS is a clipped unigram match, so ROUGE-L <= ROUGE-1 term by term; when the candidate
    is a subsequence of the reference both count every candidate token."""
    rng = random.Random(13)
    for candidate, reference in ROUGE_PAIRS:
        assert all(l <= u for l, u in zip(rouge_l(candidate, reference),
                                          rouge_n(candidate, reference, 1)))
        subsequence = [t for t in reference if rng.random() < 0.6]
        assert rouge_l(subsequence, reference) == rouge_n(subsequence, reference, 1)


def test_corpus_bleu_ignores_the_order_of_the_sentence_pairs():
    pairs = list(CORPORA["mixed-40"])
    before = corpus_bleu(*zip(*pairs))
    random.Random(14).shuffle(pairs)
    assert corpus_bleu(*zip(*pairs)) == before


# --------------------------------------------------------------------------- errors
def test_corpus_bleu_needs_one_reference_per_candidate():
    with pytest.raises(ValueError, match="one reference per candidate"):
        corpus_bleu([["a", "cat"], ["a", "dog"]], [["a", "cat"]])
