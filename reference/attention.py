"""Chapter 4, Attention: scaled dot-product attention (section 4.1), multi-head attention (4.2),
the softmax and its Jacobian (4.3), and attention as a kernel smoother (4.4).

Dimension letters: ``reference/notation.py``; mask conventions: ``reference/__init__.py``.
"""

import math

import torch
from torch import nn


def softmax(x, dim=-1, temperature=1.0):
    """Numerically stable softmax of ``x / temperature`` along ``dim``.

    softmax(x)_i = exp(x_i / tau) / sum_j exp(x_j / tau), with tau the temperature. Subtracting
    the row maximum first leaves the result unchanged (softmax is shift-invariant) but keeps every
    exponent <= 0, so nothing overflows, even for logits around 1e4.

    Entries equal to -inf get weight 0. A row that is entirely -inf (a query that may attend to
    nothing) returns all zeros, not NaN: this is what torch's ``scaled_dot_product_attention`` does
    for a fully masked row, whereas ``torch.softmax`` returns NaN there. A +inf or NaN entry gives
    NaN, as in ``torch.softmax``.

    Args:
        x: logits, any floating dtype; the result has the same dtype.
        dim: dimension to normalise over.
        temperature: tau > 0. tau -> 0 tends to the one-hot argmax, tau -> infinity to uniform
            weights.

    Shape:
        x: any shape; the normalised dimension is ``dim``
        output: same shape as x; sums to 1 along ``dim`` (or to 0 on fully -inf rows)
    """
    if not temperature > 0:
        raise ValueError(f"softmax temperature must be > 0, got {temperature}")
    if x.size(dim) == 0:  # an empty row has nothing to normalise (and amax would fail)
        return x.clone()
    x = x / temperature
    # The shift is a constant as far as the gradient goes (shift invariance), so detach it.
    m = x.detach().amax(dim=dim, keepdim=True)
    m = m.masked_fill(m == float("-inf"), 0.0)  # fully masked row: avoid (-inf) - (-inf) = NaN
    e = torch.exp(x - m)
    total = e.sum(dim=dim, keepdim=True)  # >= 1 unless the row is fully masked, then 0
    return e / total.masked_fill(total == 0, 1.0)  # fully masked row: 0 / 1 = 0


def softmax_jacobian(p):
    """Jacobian of the softmax at the point where it outputs p: J = diag(p) - p p^T.

    J[..., i, j] = d softmax(x)_i / d x_j. J is symmetric and each row sums to 0, since shifting all
    logits by the same amount does not change the output.

    Shape:
        p: (..., n), probabilities over n items along the last dimension
        output: (..., n, n)
    """
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)  # (..., n, n)


def _causal_mask(L, S, device):
    """Top-left aligned causal mask: True where key j <= query i (as torch's ``is_causal``).

    Shape:
        output: (L, S), bool
    """
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()  # (L, S)


def _apply_mask(scores, attn_mask):
    """Bool mask: True = may attend, False -> score -inf. Float mask: added to the scores.

    Shape:
        scores: (..., L, S)
        attn_mask: broadcastable to (..., L, S)
        output: (..., L, S)
    """
    if attn_mask.dtype == torch.bool:
        return scores.masked_fill(~attn_mask, float("-inf"))
    if not attn_mask.is_floating_point():
        raise TypeError(
            f"attn_mask must be bool (True = may attend) or float (added to the scores), "
            f"got {attn_mask.dtype}; a 0/1 integer mask is ambiguous"
        )
    return scores + attn_mask.to(scores.dtype)  # no upcast of low-precision scores


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) v: the semantics of torch's ``F.scaled_dot_product_attention``
    without dropout and GQA.

    Args:
        q, k, v: queries, keys and values; leading dimensions broadcast against each other.
        attn_mask: bool (True = may attend) or float (added to the scores), broadcastable to
            (..., L, S). Must be None when ``is_causal`` is True.
        is_causal: apply the top-left aligned causal mask: query i attends to keys j <= i.
        scale: multiplies the scores; default 1 / sqrt(E).

    A query row with every key masked out returns zeros (torch 2.13 on CPU does the same).

    Shape:
        q: (..., L, E)
        k: (..., S, E)
        v: (..., S, Ev)
        output: (..., L, Ev)
    """
    if attn_mask is not None and is_causal:
        raise ValueError("pass either attn_mask or is_causal=True, not both (torch raises too)")
    L, S, E = q.size(-2), k.size(-2), q.size(-1)
    if scale is None:
        scale = 1.0 / math.sqrt(E)
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., L, S)
    if is_causal:
        attn_mask = _causal_mask(L, S, q.device)  # (L, S)
    if attn_mask is not None:
        scores = _apply_mask(scores, attn_mask)  # (..., L, S)
    # A query with no visible key: zeros, whatever softmax does with an all -inf row (this one
    # returns zeros; torch.softmax, which grading stands in for the student's, returns NaN).
    visible = (scores > float("-inf")).any(dim=-1, keepdim=True)  # (..., L, 1)
    weights = softmax(scores.masked_fill(~visible, 0.0), dim=-1)  # (..., L, S)
    return weights.masked_fill(~visible, 0.0) @ v  # (..., L, Ev)


def split_heads(x, n_heads):
    """Split the feature dimension into heads: head h owns columns h * E : (h + 1) * E.

    Shape:
        x: (B, T, D)
        output: (B, H, T, E), a view, with the head size E = D // H
    """
    B, T, D = x.shape
    return x.view(B, T, n_heads, D // n_heads).transpose(1, 2)  # (B, H, T, E)


def merge_heads(x):
    """Inverse of ``split_heads``: concatenate the heads along the feature dimension.

    Shape:
        x: (B, H, T, E)
        output: (B, T, D), with D = H * E
    """
    B, H, T, E = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, H * E)  # (B, T, H, E) -> (B, T, D)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: H scaled dot-product attentions on D // H-dimensional projections,
    concatenated and mixed by an output projection.

    Loads the weights of ``nn.MultiheadAttention(D, H, batch_first=True)`` via
    ``in_proj_weight = cat([q_proj.weight, k_proj.weight, v_proj.weight])`` (same for the biases);
    note that its boolean masks use the opposite polarity (True = masked out). ``attn_mask`` is
    boolean, True = may attend, or float, added to the scores. ``d_model`` not divisible by
    ``n_heads`` raises ValueError.

    Shape:
        x: (B, T, D)
        attn_mask: broadcastable to (B, H, T, T); e.g. a (T, T) mask, or a key padding mask of
            shape (B, T) passed as ``mask[:, None, None, :]``
        output: (B, T, D)
    """

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, attn_mask=None, is_causal=False):
        q = split_heads(self.q_proj(x), self.n_heads)  # (B, H, T, E)
        k = split_heads(self.k_proj(x), self.n_heads)  # (B, H, T, E)
        v = split_heads(self.v_proj(x), self.n_heads)  # (B, H, T, E)
        y = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        return self.out_proj(merge_heads(y))  # (B, H, T, E) -> (B, T, D)


def kernel_smoother(queries, keys, values, bandwidth):
    """Nadaraya-Watson regression with a Gaussian kernel: attention as a kernel method (sec. 4.4).

    output_i = sum_j w_ij values_j with w_ij = exp(-|q_i - k_j|^2 / (2 h^2)) / sum_j' exp(...),
    i.e. softmax attention of the L queries over the S keys (the data points) with scores
    -|q_i - k_j|^2 and temperature 2 h^2. Working with the
    log-weights (a stable softmax) keeps far-away queries from giving 0 / 0.

    The squared distances are formed from the differences, not as |q|^2 + |k|^2 - 2 q.k: that
    expansion cancels catastrophically when q and k are close compared with their norms.

    Args:
        bandwidth: h > 0, a float or a 0-dim tensor. h -> infinity gives the mean of the values,
            h -> 0 the value of the nearest key.

    Shape:
        queries: (..., L, E)
        keys: (..., S, E)
        values: (..., S, Ev)
        output: (..., L, Ev)
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    sq_dist = ((queries[..., :, None, :] - keys[..., None, :, :]) ** 2).sum(-1)  # (..., L, S)
    weights = softmax(-sq_dist, dim=-1, temperature=2 * bandwidth**2)  # (..., L, S)
    return weights @ values  # (..., L, Ev)
