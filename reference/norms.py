"""Normalisation layers and the two ways of wrapping a sublayer in a residual connection.

Dimension letters: ``reference/notation.py`` (``D`` is the normalised feature dimension here).
"""

import torch
from torch import nn


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias.

    The variance is the biased one (divide by D), and eps sits inside the square root, as in
    ``F.layer_norm``. ``weight`` and ``bias`` may be None (no scaling, no shift).

    Shape:
        x: (..., D)
        weight, bias: (D,) or None
        output: (..., D)
    """
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased
    y = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(x, weight=None, eps=1e-6):
    """RMS normalisation over the last dimension: x / sqrt(mean(x^2) + eps) * weight.

    Unlike layer norm it neither centres nor shifts. Note the default eps is 1e-6 (as in Llama),
    whereas ``F.rms_norm`` defaults to ``torch.finfo(x.dtype).eps``.

    Shape:
        x: (..., D)
        weight: (D,) or None
        output: (..., D)
    """
    y = x / torch.sqrt((x**2).mean(dim=-1, keepdim=True) + eps)
    return y if weight is None else y * weight


class _NormResidual(nn.Module):
    """Shared parts of the residual wrappers: the sublayer and a learnable LayerNorm or RMSNorm."""

    def __init__(self, d_model, sublayer, norm="layer", eps=None):
        super().__init__()
        if norm not in ("layer", "rms"):
            raise ValueError(f'norm must be "layer" or "rms", got {norm!r}')
        self.sublayer = sublayer
        self.norm_kind = norm
        self.eps = eps if eps is not None else (1e-5 if norm == "layer" else 1e-6)
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if norm == "layer" else None

    def norm(self, x):
        if self.norm_kind == "layer":
            return layer_norm(x, self.weight, self.bias, self.eps)
        return rms_norm(x, self.weight, self.eps)


class PreNormResidual(_NormResidual):
    """Pre-norm residual block, y = x + sublayer(norm(x)) (GPT-2 onwards).

    The residual stream x itself is never normalised, so the identity path carries gradients
    unchanged through a deep stack.

    Args:
        d_model: D, size of the normalised last dimension.
        sublayer: a module or callable mapping (..., D) to (..., D), e.g. attention or an MLP.
        norm: "layer" (LayerNorm: parameters ``weight``, ``bias``) or "rms" (RMSNorm: ``weight``).
        eps: default 1e-5 for "layer", 1e-6 for "rms".

    Shape:
        x: (..., D)
        output: (..., D)
    """

    def forward(self, x):
        return x + self.sublayer(self.norm(x))


class PostNormResidual(_NormResidual):
    """Post-norm residual block, y = norm(x + sublayer(x)) (the original Transformer).

    Same arguments as ``PreNormResidual``; the norm now sits on the residual path itself.

    Shape:
        x: (..., D)
        output: (..., D)
    """

    def forward(self, x):
        return self.norm(x + self.sublayer(x))
