"""Chapter 8, How models learn: log-sum-exp, log-softmax, cross-entropy and its gradient.

Dimension letters are those of ``reference/notation.py``: V is the number of classes (the
vocabulary size for next-token prediction), B and T batch and sequence length; ``n`` (lower case)
counts the predictions of a flat batch.
"""

import torch


def logsumexp(x, dim=-1):
    """log(sum_i exp(x_i)) along ``dim``, computed without overflow.

    With m = max_i x_i, log sum_i exp(x_i) = m + log sum_i exp(x_i - m): every exponent is <= 0,
    so nothing overflows, and the largest term is exp(0) = 1, so the sum never underflows to 0.
    A row that is entirely -inf gives -inf (the log of an empty sum), as ``torch.logsumexp``.

    Shape:
        x: (..., V, ...) with V at position ``dim``
        output: x's shape without ``dim``
    """
    m = x.detach().amax(dim=dim, keepdim=True)  # a constant for the gradient (shift invariance)
    m = m.masked_fill(~torch.isfinite(m), 0.0)  # all -inf row: keep (-inf) - 0 = -inf, not NaN
    return (m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))).squeeze(dim)


def log_softmax(x, dim=-1):
    """log softmax(x) = x - logsumexp(x) along ``dim``: log-probabilities, finite even where the
    probability itself underflows to 0 (log(softmax(x)) would give -inf there).

    Shape:
        x: (..., V, ...) with V at position ``dim``
        output: same shape as x
    """
    return x - logsumexp(x, dim=dim).unsqueeze(dim)


def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy between softmax(logits) and class-index targets, with the semantics of
    ``torch.nn.functional.cross_entropy``.

    Per prediction: loss = -(1 - s) * log p_y - (s / V) * sum_c log p_c, the cross-entropy with the
    mixture target (1 - s) * onehot(y) + s * uniform (label smoothing s). Predictions whose target
    equals ``ignore_index`` get loss 0 and do not count in the mean: reduction="mean" divides by
    the number of predictions that are not ignored (NaN when all are ignored, as torch).

    Shape:
        logits: (n, V) or (B, T, V); class scores along the last dimension
        targets: (n,) or (B, T); integer class indices in [0, V), or ``ignore_index``
        output: scalar for reduction="mean"/"sum"; (n,) or (B, T) for "none"
    """
    logp = log_softmax(logits, dim=-1)  # (..., V)
    keep = targets != ignore_index  # (...,)
    safe = torch.where(keep, targets, torch.zeros_like(targets))  # any valid index: masked below
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (...,)
    if label_smoothing > 0:
        smooth = -logp.mean(dim=-1)  # (...,) cross-entropy with the uniform distribution
        nll = (1 - label_smoothing) * nll + label_smoothing * smooth
    loss = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / keep.sum().to(loss.dtype)
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def cross_entropy_grad(logits, targets):
    """Gradient of the mean cross-entropy with respect to the logits, in closed form.

    d/dz_c [-log softmax(z)_y] = softmax(z)_c - [c = y]; the mean over the n predictions divides
    by n = targets.numel(). (No label smoothing, no ignored targets.)

    Shape:
        logits: (..., V)
        targets: (...,) integer class indices
        output: same shape as logits
    """
    p = torch.exp(log_softmax(logits, dim=-1))  # (..., V)
    onehot = torch.zeros_like(p).scatter_(-1, targets.unsqueeze(-1), 1.0)  # (..., V)
    n = targets.numel()
    return (p - onehot) / n
