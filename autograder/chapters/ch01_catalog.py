"""Chapter 1 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points and is named in the feedback. The alternative correct implementations are test
fixtures: ``tests/chapters/alternatives/ch01.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake

# =========================================================================== counting
COUNTS_MISTAKES = (
    Mistake(key="misses_last", title="the last n-gram is not counted",
            hint="a stream of T tokens has T − n + 1 n-grams: range(T − n + 1)",
            patch={"range(tokens.numel() - n + 1)": "range(tokens.numel() - n)"}),
    Mistake(key="reversed_order", title="the n-gram's tokens indexed in reverse order",
            hint="counts[a, b] counts a followed by b: the context first, the next token last",
            patch={"tokens[start:start + n].tolist()": "tokens[start:start + n].flip(0).tolist()"}),
    Mistake(key="float_counts", title="counts returned as floats",
            hint="counts are integers: return an int64 tensor",
            patch={"dtype=torch.int64)": "dtype=torch.float32)"}),
)


# =========================================================================== the model
MODEL_MISTAKES = (
    Mistake(key="numerator_only", title="α added to the numerator only",
            hint="each of the V outcomes gets α, so the denominator grows by α·V",
            patch={"c.sum(dim=-1, keepdim=True) + alpha * V": "c.sum(dim=-1, keepdim=True)"}),
    Mistake(key="alpha_once", title="α added to the denominator once instead of α·V times",
            hint="the row must sum to 1: Σ_w (c_w + α) = c + α·V",
            patch={"+ alpha * V": "+ alpha"}),
    Mistake(key="wrong_axis", title="normalised over the first axis instead of the last",
            hint="model[context] is a distribution over the NEXT token: sum over the last axis",
            patch={"c.sum(dim=-1, keepdim=True)": "c.sum(dim=0, keepdim=True)"}),
    Mistake(key="nan_unseen", title="unseen contexts give 0/0 = NaN",
            hint="a context never seen (with α = 0) gets the uniform distribution 1/V",
            patch={"return torch.where(denominator > 0, probs, uniform)": "return probs"}),
)


# =========================================================================== scoring
LOG_PROB_MISTAKES = (
    Mistake(key="skips_first", title="the first predicted token left out",
            hint="the first n − 1 tokens are context; every token from position n − 1 on is "
                 "predicted (T − n + 1 terms)",
            patch={"windows = tokens.unfold(0, n, 1)": "windows = tokens[1:].unfold(0, n, 1)"}),
    Mistake(key="reversed_index", title="the table indexed with the n-gram reversed",
            hint="model[context..., next]: the token being predicted is the LAST index",
            patch={"tuple(windows.T)": "tuple(windows.flip(-1).T)"}),
    Mistake(key="mean", title="averaged instead of summed",
            hint="the log-probability of a sequence is a SUM of the log-probabilities",
            patch={".sum()": ".mean()"}),
    Mistake(key="log2", title="log base 2 (bits) instead of natural log",
            hint="the log-probability is in nats: torch.log",
            patch={"torch.log(": "torch.log2("}),
)

PERPLEXITY_MISTAKES = (
    Mistake(key="divides_by_n_tokens", title="divided by all T tokens",
            hint="only T − n + 1 tokens are predicted: average over those",
            patch={"tokens.numel() - model.dim() + 1": "tokens.numel()"}),
    Mistake(key="no_minus", title="the minus sign left out",
            hint="perplexity = exp(−mean log-probability) ≥ 1",
            patch={"torch.exp(-sequence_log_prob": "torch.exp(sequence_log_prob"}),
    Mistake(key="clamped_zeros", title="zero probabilities clamped to a tiny number",
            hint="a text with an n-gram of probability 0 has perplexity inf: do not clamp the "
                 "model's zeros",
            patch={"sequence_log_prob(model, tokens)":
                   "sequence_log_prob(model.clamp_min(1e-12), tokens)"}),
    Mistake(key="base2", title="2^(…) with a natural-log likelihood",
            hint="the log-probability is in nats: exponentiate with e, or convert both to bits",
            patch={"torch.exp(-": "torch.exp2(-"}),
)


# =========================================================================== Kneser–Ney
KN_MISTAKES = (
    Mistake(key="no_continuation", title="unigram frequencies instead of continuation counts",
            hint="P_cont(w) counts the DISTINCT words seen before w, N₁₊(• w), not how often w "
                 "occurs",
            patch={"seen.sum(dim=0) / seen.sum()": "c.sum(dim=0) / c.sum()"}),
    Mistake(key="continuation_wrong_side", title="continuation counted from the words AFTER w",
            hint="N₁₊(• w) counts distinct left neighbours of w: sum the seen-matrix over axis 0",
            patch={"seen.sum(dim=0) / seen.sum()": "seen.sum(dim=-1) / seen.sum()"}),
    Mistake(key="no_clamp", title="discount subtracted without clamping at 0",
            hint="max(c(v, w) − d, 0): an unseen bigram must not get a negative count",
            patch={"(c - discount).clamp_min(0.0)": "(c - discount)"}),
    Mistake(key="lambda_constant", title="λ(v) = d instead of d · N₁₊(v •) / c(v)",
            hint="the interpolation weight is the mass the discount removed from row v: d times "
                 "the number of distinct words after v, over c(v)",
            patch={"lam = discount * seen.sum(dim=-1, keepdim=True) / safe": "lam = discount"}),
)


# =========================================================================== sampling
SAMPLING_MISTAKES = (
    Mistake(key="no_cumsum", title="searched in the probabilities instead of their cumulative sum",
            hint="inverse CDF: search u in cdf = cumsum(p), not in p itself",
            patch={"cdf = probs.double().cumsum(dim=-1)": "cdf = probs.double()"}),
    Mistake(key="no_normalise", title="the CDF not divided by its last entry",
            hint="weights need not sum to 1: divide the cumulative sums by the total",
            patch={"    cdf = cdf / cdf[..., -1:]\n": ""}),
    Mistake(key="float32_uniforms", title="uniforms drawn in float32, not the stated float64",
            hint="follow the recipe exactly: torch.rand(..., dtype=torch.float64) draws a "
                 "different stream than float32",
            patch={"num_samples, generator=generator, dtype=torch.float64,":
                   "num_samples, generator=generator, dtype=torch.float32,"}),
)


# =========================================================================== neural bigram
NEURAL_BIGRAM_MISTAKES = (
    Mistake(key="no_step", title="the optimizer never steps",
            hint="call optimizer.step() after loss.backward()",
            patch={"        optimizer.step()\n": ""}),
    Mistake(key="targets_swapped", title="previous token predicted from the next",
            hint="row v of W holds the logits of the token AFTER v: inputs tokens[:-1], "
                 "targets tokens[1:]",
            patch={"x, y = tokens[:-1], tokens[1:]": "x, y = tokens[1:], tokens[:-1]"}),
    Mistake(key="probabilities_returned", title="softmax probabilities returned instead of logits",
            hint="return W itself: the grader applies the softmax",
            patch={"return W.detach()": "return torch.softmax(W.detach(), dim=-1)"}),
)
