"""Chapter 4's attention exercises: their stand-ins, built from PyTorch's own kernels, and the
driver of multi-head attention (its refusal of a width that the heads do not divide)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import driver, standin


@standin("ch04.softmax")
def softmax(x, dim=-1, temperature=1.0):
    return torch.softmax(x / temperature, dim=dim)


@standin("ch04.scaled_dot_product_attention")
def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                          scale=scale)


@driver
def drive_module_or_refuse(module, *args, refuse_init=None, **kwargs):
    """``module(*args, **kwargs)`` as it is; in a case with ``refuse_init`` (constructor arguments
    the statement says must be refused, e.g. a width that the number of heads does not divide),
    the module's own class built from them must raise ValueError instead: returns a 0-dim int64,
    1 if it did, 0 if it built a module (another exception goes to the student as it is)."""
    if refuse_init is None:
        return module(*args, **kwargs)
    try:
        type(module)(*refuse_init)
    except ValueError:
        return torch.tensor(1)
    return torch.tensor(0)
