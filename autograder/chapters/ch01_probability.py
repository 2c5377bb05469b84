"""Chapter 1 — Probability and language models: the graded exercises and the cases they are graded on.

Token streams are drawn from small Markov chains (so that n-gram counts have structure) and
integer inputs are never cast. Exercises whose inputs are all integers declare each row once:
integer counts (compared exactly) with the grid's dtypes labelling the rows in turn; Kneser–Ney,
a float32 ratio of counts, in the default dtype's cell (``Precision.DEFAULT_FLOAT32``), whose
tolerance is float32's. The sampler is graded twice: exactly, against the stated
inverse-CDF recipe with the same seeded generator, and in distribution, by a chi-square test whose
false-fail rate is at most 1e-6. The neural bigram is a measured case: its softmax must reach the
count estimate on every context seen in training.
"""

from __future__ import annotations

import torch

from autograder import forbidden
from autograder.properties import FALSE_FAIL, frequency_violation
from autograder.chapters import ch01_catalog as catalog
from autograder.spec import CaseBuilder, Cell, Chapter, Exercise, Precision
from reference.data import sample_markov
from reference.probability import (
    kneser_ney_bigram,
    ngram_counts,
    ngram_model,
    perplexity,
    sample_categorical,
    sequence_log_prob,
    train_neural_bigram,
)

F32, F64, BF16 = torch.float32, torch.float64, torch.bfloat16


def _stream(b: CaseBuilder, n_tokens: int, vocab_size: int, sharp: float = 2.0):
    """``n_tokens`` ids from a random Markov chain over ``vocab_size`` states (int64)."""
    P = torch.softmax(b.randn(vocab_size, vocab_size) * sharp, dim=-1)
    return sample_markov(P, n_tokens, b.gen)


# =========================================================================== counting
def counts_cases(b: CaseBuilder):
    def rows(c):
        c("unigrams, V=6, 50 tokens", _stream(b, 50, 6), 1, 6, tags=("n = 1",), public=True)
        c("bigrams, V=5, 200 tokens", _stream(b, 200, 5), 2, 5, public=True)
        c("trigrams, V=4, 120 tokens", _stream(b, 120, 4), 3, 4, tags=("n = 3",), public=True)
        c("4-grams, V=3, 80 tokens", _stream(b, 80, 3), 4, 3, tags=("n = 4",))
        c("exactly one n-gram: 3 tokens, n=3", _stream(b, 3, 5), 3, 5, tags=("T = n",))
        c("stream shorter than n (no n-grams)", _stream(b, 2, 4), 3, 4, tags=("T < n",))
        c("one token repeated", torch.full((30,), 2, dtype=torch.int64), 2, 4,
          tags=("repeats",))
    return b.exact_grid(rows)


def model_cases(b: CaseBuilder):
    def rows(c: Cell):
        def counts(*shape, unseen=0):
            table = b.randint(0, 6, shape)
            table.reshape(-1, shape[-1])[:unseen] = 0  # whole contexts never seen
            return table.to(c.dtype)

        c("bigram MLE (alpha=0)", counts(5, 5), public=True)
        c("bigram, 2 unseen contexts, alpha=0", counts(6, 6, unseen=2),
          tags=("unseen context",), public=True)
        c("Laplace, alpha=1", counts(4, 7, unseen=1), tags=("smoothing",), public=True, alpha=1.0)
        c("alpha=0.1", counts(5, 5), tags=("smoothing",), alpha=0.1)
        c("trigram, alpha=0.5", counts(3, 4, 4, unseen=3), tags=("n = 3", "smoothing"),
          alpha=0.5)
        if c.dtype == F32:  # the output's dtype (the default), whatever the cell
            c("integer counts (int64 in, default dtype out)", b.randint(0, 9, (4, 4)),
              tags=("int64 counts",))
    return b.grid(rows, exclude=(torch.float16,))


# =========================================================================== scoring
def _model(b: CaseBuilder, c: Cell, n: int, V: int, alpha: float = 0.3):
    return ngram_model(ngram_counts(_stream(b, 400, V), n, V).double(), alpha).to(c.dtype)


def log_prob_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("bigram model, 40 tokens", _model(b, c, 2, 5), _stream(b, 40, 5), public=True)
        c("trigram model, 30 tokens", _model(b, c, 3, 4), _stream(b, 30, 4), tags=("n = 3",),
          public=True)
        c("unigram model: every token predicted", _model(b, c, 1, 6), _stream(b, 25, 6),
          tags=("n = 1",))
        c("exactly n tokens: one prediction", _model(b, c, 2, 5), _stream(b, 2, 5),
          tags=("T = n",))
        model = ngram_model(ngram_counts(_stream(b, 60, 4), 2, 4).double()).to(c.dtype)
        tokens = _stream(b, 20, 4)
        model[tokens[3], tokens[4]] = 0.0  # an unseen bigram of the scored text
        c("a bigram of probability 0 (−inf)", model, tokens, tags=("zero probability",),
          public=True)
    return b.grid(rows)


def perplexity_cases(b: CaseBuilder):
    def rows(c: Cell):
        c("bigram model, 50 tokens", _model(b, c, 2, 6), _stream(b, 50, 6), public=True)
        c("trigram model, 40 tokens", _model(b, c, 3, 4), _stream(b, 40, 4), tags=("n = 3",),
          public=True)
        c("uniform bigram model (perplexity V = 7)",
          torch.full((7, 7), 1 / 7, dtype=F64).to(c.dtype), _stream(b, 30, 7),
          tags=("uniform",))
        c("unigram model", _model(b, c, 1, 5), _stream(b, 35, 5), tags=("n = 1",))
        model = ngram_model(ngram_counts(_stream(b, 60, 4), 2, 4).double()).to(c.dtype)
        tokens = _stream(b, 20, 4)
        model[tokens[5], tokens[6]] = 0.0  # an unseen bigram of the scored text
        c("a bigram of probability 0: perplexity inf", model, tokens, tags=("zero probability",))
    return b.grid(rows)


# =========================================================================== Kneser–Ney
def kn_cases(b: CaseBuilder):
    def rows(c):
        c("V=6, 300 tokens, d=0.75", _stream(b, 300, 6), 6, public=True)
        c("V=5, 40 tokens (sparse counts), d=0.75", _stream(b, 40, 5), 5, public=True,
          tags=("sparse",))
        tokens = _stream(b, 100, 6)
        tokens[tokens == 5] = 4  # token 5 never occurs: an unseen context
        c("a token that never occurs (row = continuation)", tokens, 6, tags=("unseen context",),
          public=True)
        c("discount 0.5", _stream(b, 150, 4), 4, tags=("discount ≠ 0.75",), discount=0.5)
        c("discount 1.0", _stream(b, 150, 4, sharp=4.0), 4, tags=("discount ≠ 0.75",),
          discount=1.0)
        c("discount 0 (the count estimate on seen contexts)", _stream(b, 120, 5), 5,
          tags=("discount ≠ 0.75",), discount=0.0)
    return b.default_grid(rows)


# =========================================================================== sampling
def _chi_square_check(outputs, case):
    """Pearson's test of the counts of each category against num_samples · p, for each
    distribution, at a false-fail rate of FALSE_FAIL over the whole case (Bonferroni over rows)."""
    draws = outputs[0]
    n = case.args[1]
    if not isinstance(draws, torch.Tensor) or draws.dtype != torch.int64:
        return f"return int64 category indices, got {getattr(draws, 'dtype', type(draws).__name__)}"
    if tuple(draws.shape) != tuple(case.args[0].shape[:-1]) + (n,):
        return (f"expected shape {tuple(case.args[0].shape[:-1]) + (n,)} (the batch shape, then "
                f"num_samples), got {tuple(draws.shape)}")
    V = case.args[0].shape[-1]
    draws = draws.cpu().reshape(-1, n)
    if (draws < 0).any() or (draws >= V).any():
        return f"indices must lie in [0, {V})"
    counts = torch.stack([torch.bincount(row, minlength=V) for row in draws])  # (R, V)
    return frequency_violation(counts, case.args[0], false_fail=FALSE_FAIL)


def sampling_cases(b: CaseBuilder):
    def rows(c: Cell):
        def probs(*shape, zeros=0.0):
            p = torch.softmax(b.randn(*shape) * 1.5, dim=-1)
            if zeros:
                p = p * (b.rand(*shape) >= zeros)
                p[..., 0] += 0.05  # never an empty row
                p = p / p.sum(-1, keepdim=True)
            return p.to(c.dtype)

        # exact: the stated recipe with the same seeded generator
        c("exact: p (6,), 20 samples", probs(6), 20, public=True, seed=1)
        c("exact: batch of 3 distributions, 15 samples", probs(3, 5), 15, public=True,
          tags=("batch dims",), seed=2)
        c("exact: some probabilities 0", probs(2, 8, zeros=0.4), 25, tags=("zero probabilities",),
          public=True, seed=3)
        weights = (b.rand(7) * 5).to(c.dtype)
        c("exact: unnormalised weights", weights, 30, tags=("unnormalised",), seed=4)
        # in distribution: whatever recipe, the frequencies must follow p
        c("distribution: p (8,), 40 000 samples", probs(8), 40_000, tags=("distribution",),
          public=True, seed=5, checks=(_chi_square_check,), compared=())
        c("distribution: 2 × 5 with zeros, 20 000 samples", probs(2, 5, zeros=0.3), 20_000,
          tags=("distribution", "zero probabilities"), seed=6, checks=(_chi_square_check,),
          compared=())
    return b.grid(rows, exclude=(torch.float16,))


# =========================================================================== neural bigram
TV_LIMIT = 0.02


def _logits(outputs, case):
    """The student's table as float64 on the CPU, or why it is not a finite (V, V) tensor."""
    V, logits = case.args[1], outputs[0]
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (V, V):
        return f"return a ({V}, {V}) tensor of logits, got {getattr(logits, 'shape', type(logits))}"
    logits = logits.detach().double().cpu()
    if not torch.isfinite(logits).all():
        return "the logits are not all finite: is the learning rate too large?"
    return logits


# One property per check, so that a mistake is recognised by the first one it breaks.
def _is_finite_table(outputs, case):
    logits = _logits(outputs, case)
    return logits if isinstance(logits, str) else None


def _are_logits(outputs, case):
    logits = _logits(outputs, case)
    if ((logits >= 0) & (logits <= 1)).all() and torch.allclose(
            logits.sum(-1), torch.ones(logits.shape[0], dtype=F64), atol=1e-4):
        return ("every row is non-negative and sums to 1: these are probabilities; return the "
                "logits W (the grader applies the softmax)")
    return None


def _has_learned(outputs, case):
    logits = _logits(outputs, case)
    if float(logits.abs().max()) < 0.5:
        return (f"the model did not learn: after {case.args[2]} steps every logit is still below "
                "0.5 in size, as at the start (0.01 · N(0, 1)); is the optimizer stepping, and "
                "are the gradients zeroed each step?")
    return None


def _tv_to_counts(outputs, case, reverse=False):
    """Largest total variation between softmax(W[v]) and the count estimate of what follows v
    (``reverse``: of what precedes v), over the contexts v that occur."""
    tokens, V = case.args[0].cpu(), case.args[1]
    counts = ngram_counts(tokens.flip(0) if reverse else tokens, 2, V)
    seen = counts.sum(-1) > 0
    tv = 0.5 * (torch.softmax(_logits(outputs, case), -1) - ngram_model(counts.double())).abs().sum(-1)
    return torch.where(seen, tv, torch.zeros_like(tv))


def _predicts_the_next_token(outputs, case):
    if float(_tv_to_counts(outputs, case, reverse=True).max()) <= TV_LIMIT < float(
            _tv_to_counts(outputs, case).max()):
        return ("softmax(W[v]) matches the tokens that come BEFORE v, not after: the inputs are "
                "tokens[:-1] and the targets tokens[1:]")
    return None


def _matches_counts(outputs, case):
    """softmax(logits) within TV_LIMIT (total variation) of the count estimate on every context
    that occurs in the training stream."""
    tv = _tv_to_counts(outputs, case)
    worst = int(tv.argmax())
    if tv[worst] > TV_LIMIT:
        return (f"softmax(W[{worst}]) is {float(tv[worst]):.3f} in total variation from the count "
                f"estimate of the tokens that follow {worst} (allowed {TV_LIMIT}): train the mean "
                "cross-entropy of all bigrams with full-batch Adam(lr) for the given steps")
    return None


BIGRAM_CHECKS = (_is_finite_table, _are_logits, _has_learned, _predicts_the_next_token,
                 _matches_counts)


def neural_bigram_cases(b: CaseBuilder):
    def rows(c):
        c("V=6, 1500 tokens, 300 steps, lr=0.1", _stream(b, 1500, 6), 6, 300, 0.1, public=True,
          seed=0, checks=BIGRAM_CHECKS, compared=())
        tokens = _stream(b, 1000, 8)
        tokens[tokens == 7] = 6  # context 7 never occurs
        c("V=8 with an unseen token, 300 steps, lr=0.1", tokens, 8, 300, 0.1,
          tags=("unseen context",), seed=1, checks=BIGRAM_CHECKS, compared=())
        c("V=5, 600 tokens, 300 steps, lr=0.1", _stream(b, 600, 5, sharp=3.0), 5, 300, 0.1,
          seed=2, checks=BIGRAM_CHECKS, compared=())
    return b.exact_grid(rows)


CHAPTER = Chapter(
    id="ch01",
    title="Probability and language models",
    notebook="ch01_probability/ch01_probability.py",
    exercises=[
        Exercise(id="ch01.ngram_counts", name="ngram_counts", points=1.0, reference=ngram_counts,
                 cases=counts_cases, mistakes=catalog.COUNTS_MISTAKES),
        Exercise(id="ch01.ngram_model", name="ngram_model", points=1.5, reference=ngram_model,
                 cases=model_cases, mistakes=catalog.MODEL_MISTAKES),
        Exercise(id="ch01.sequence_log_prob", name="sequence_log_prob", points=1.0,
                 reference=sequence_log_prob, cases=log_prob_cases,
                 mistakes=catalog.LOG_PROB_MISTAKES),
        Exercise(id="ch01.perplexity", name="perplexity", points=0.5, reference=perplexity,
                 cases=perplexity_cases, standins=("ch01.sequence_log_prob",),
                 mistakes=catalog.PERPLEXITY_MISTAKES),
        Exercise(id="ch01.kneser_ney_bigram", name="kneser_ney_bigram", points=2.0,
                 reference=kneser_ney_bigram, cases=kn_cases, standins=("ch01.ngram_counts",),
                 mistakes=catalog.KN_MISTAKES, precision=Precision.DEFAULT_FLOAT32),
        Exercise(id="ch01.sample_categorical", name="sample_categorical", points=2.0,
                 reference=sample_categorical, cases=sampling_cases,
                 driver="drive_with_generator", forbidden=forbidden.SAMPLING,
                 forbidden_hint="invert the CDF: cumulative sums and torch.searchsorted",
                 mistakes=catalog.SAMPLING_MISTAKES),
        Exercise(id="ch01.train_neural_bigram", name="train_neural_bigram", points=2.0,
                 reference=train_neural_bigram, cases=neural_bigram_cases,
                 driver="drive_with_generator", mistakes=catalog.NEURAL_BIGRAM_MISTAKES),
    ],
    warm_ups=("dynamo",),  # Adam's first step imports torch._dynamo: once per worker
)
