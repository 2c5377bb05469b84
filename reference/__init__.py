"""Reference implementations for the course, the source of truth the hidden tests grade against.

Every function computes on the device and in the floating dtype of its inputs, without upcasting:
a bfloat16 input is computed naively in bfloat16, because the grader measures the reference's own
low-precision error to set its tolerances.

Notation: ``reference/notation.py`` holds the course's one glossary (dimension letters of every
``Shape:`` section and ``# (B, H, L, E)`` comment, and the symbols of the formulas), rendered to
``docs/NOTATION.md``; a test keeps every shape in course/ and reference/ to its letters.

Conventions, stated once:

* Boolean attention masks use True = "may attend", exactly as
  ``torch.nn.functional.scaled_dot_product_attention``. Beware that ``torch.nn.MultiheadAttention``
  uses the opposite polarity (True = "masked out") for both ``attn_mask`` and ``key_padding_mask``.
* Float attention masks are added to the scores before the softmax (use ``-inf`` to forbid).
* A mask broadcasts to the score shape (..., L, S).
* Causal masks are top-left aligned, as torch's ``is_causal=True``: query i may attend to key j iff
  j <= i, counting both from 0, also when L != S.
* Default attention scale is 1 / sqrt(E).
* A query row whose keys are all masked out gets all-zero attention weights and therefore an
  all-zero output, which is what torch 2.13's ``scaled_dot_product_attention`` returns on CPU
  (``torch.softmax`` itself would give NaN for such a row).
* RoPE pairing (``reference/positional.py``): ``interleaved=False`` rotates the two halves of the
  head dimension (pairs (i, i + E/2), GPT-NeoX/Llama layout), ``interleaved=True`` adjacent pairs
  (2i, 2i + 1) (RoFormer layout); a pair (x1, x2) at position m becomes
  (x1 cos mθ − x2 sin mθ, x1 sin mθ + x2 cos mθ), i.e. multiplication by e^{+imθ}.
* Multi-head attention splits heads as ``.view(B, T, H, E).transpose(1, 2)``: head h owns feature
  columns ``h * E : (h + 1) * E`` of each projection (the layout of ``nn.MultiheadAttention``).
"""

from reference.attention import (
    MultiHeadAttention,
    kernel_smoother,
    merge_heads,
    scaled_dot_product_attention,
    softmax,
    softmax_jacobian,
    split_heads,
)
from reference.norms import PostNormResidual, PreNormResidual, layer_norm, rms_norm

__all__ = [
    "MultiHeadAttention",
    "PostNormResidual",
    "PreNormResidual",
    "kernel_smoother",
    "layer_norm",
    "merge_heads",
    "rms_norm",
    "scaled_dot_product_attention",
    "softmax",
    "softmax_jacobian",
    "split_heads",
]
