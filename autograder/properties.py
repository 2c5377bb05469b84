"""Statistical properties that grade random outputs: Pearson's chi-square test of observed counts
against the probabilities a correct sampler draws from, at a stated false-fail rate.

A case that draws at random cannot be compared with the reference draw for draw; it is judged by
its frequencies instead. The test's threshold is the (1 − false_fail) quantile of the chi-square
distribution with (categories − 1) degrees of freedom, divided among the rows tested together
(Bonferroni), so a correct answer fails a whole case with probability at most ``false_fail``.
Categories expected fewer than 5 times are pooled into one, where the approximation holds. A
category of probability 0 must never be drawn.
"""

from __future__ import annotations

import functools

import torch

FALSE_FAIL = 1e-6  # a correct sampler fails a case at most this often
MIN_EXPECTED = 5.0  # the usual validity rule of Pearson's approximation


@functools.lru_cache(maxsize=None)
def chi_square_threshold(df: int, false_fail: float) -> float:
    """x with Pr(χ²_df > x) = false_fail: bisection on the regularized upper incomplete gamma
    function Q(df/2, x/2), the chi-square survival function."""
    lo, hi = 0.0, 10.0 * df + 200.0
    for _ in range(200):
        mid = (lo + hi) / 2
        tail = torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                       torch.tensor(mid / 2, dtype=torch.float64)).item()
        lo, hi = (mid, hi) if tail > false_fail else (lo, mid)
    return hi


def frequency_violation(counts, probs, *, what="category", false_fail=FALSE_FAIL) -> str | None:
    """Why ``counts`` (R, C) do not follow ``probs`` (R, C) (each row a distribution; rows with
    no draws are skipped), or None. The message names the worst category of the first failing
    row."""
    counts = counts.double().cpu().reshape(-1, counts.shape[-1])
    probs = probs.double().cpu().reshape(-1, probs.shape[-1])
    probs = probs / probs.sum(-1, keepdim=True)
    rows = [r for r in range(counts.shape[0]) if counts[r].sum() > 0]
    for r in rows:
        n = float(counts[r].sum())
        observed, p = counts[r], probs[r]
        impossible = (observed > 0) & (p == 0)
        if impossible.any():
            c = int(impossible.nonzero()[0])
            return (f"{what} {c} has probability 0 but was drawn {int(observed[c])} times"
                    + (f" (row {r})" if len(rows) > 1 else ""))
        # categories expected fewer than MIN_EXPECTED times are pooled into one, so that the
        # chi-square approximation (and with it the stated false-fail rate) holds
        live = p > 0
        small = live & (n * p < MIN_EXPECTED)
        obs = torch.cat([observed[live & ~small], observed[small].sum().reshape(1)])
        exp = torch.cat([n * p[live & ~small], (n * p[small]).sum().reshape(1)])
        keep = exp > 0
        obs, exp = obs[keep], exp[keep]
        if obs.numel() < 2:
            continue  # one possible outcome: checked exactly above
        stat = float(((obs - exp) ** 2 / exp).sum())
        limit = chi_square_threshold(obs.numel() - 1, false_fail / len(rows))
        if stat > limit:
            worst = int((observed - n * p).abs().argmax())
            return (f"the draws do not follow the probabilities (chi-square {stat:.1f} > "
                    f"{limit:.1f}, which a correct sampler exceeds with probability "
                    f"{false_fail:g}): {what} {worst} was drawn {int(observed[worst])} times in "
                    f"{int(n)}, expected about {n * float(p[worst]):.0f}"
                    + (f" (row {r})" if len(rows) > 1 else ""))
    return None
