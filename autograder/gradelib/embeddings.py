"""Stand-ins for Chapter 3's exercises that later ones call, built from PyTorch's own functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import standin


@standin("ch03.cosine_similarity_matrix")
def cosine_similarity_matrix(a, b):
    return F.normalize(a, dim=-1, eps=1e-12) @ F.normalize(b, dim=-1, eps=1e-12).transpose(-2, -1)


@standin("ch03.sgns_loss")
def sgns_loss(center, context, negatives, w_in, w_out):
    v = w_in[center]  # (B, D)
    scores = torch.cat([(w_out[context] * v).sum(-1, keepdim=True),
                        -(w_out[negatives] @ v.unsqueeze(-1)).squeeze(-1)], dim=-1)  # (B, 1 + K)
    return -F.logsigmoid(scores).sum(-1).mean()
