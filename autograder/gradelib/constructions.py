"""Drivers of Chapter 6's constructions: exercises that return weights, which are not unique, so
the driver runs the network they define and returns what is (its values, the head's output)."""

from __future__ import annotations

import torch

from .registry import driver


@driver
def drive_relu_network(build, xs, ys, x_eval):
    """Build f(x) = W2 relu(W1 x + b1) + b2 from the points, then evaluate it at ``x_eval``."""
    W1, b1, W2, b2 = build(xs, ys)
    hidden = torch.relu(x_eval[:, None] @ W1.mT + b1)  # (M, Hd)
    return (hidden @ W2.mT + b2)[:, 0]  # (M,)


@driver
def drive_previous_token_head(build, content):
    """Embed positions (one-hot) and content, run one causal head with the built weights."""
    B, T, C = content.shape
    W_q, W_k, W_v = (w.to(device=content.device, dtype=content.dtype) for w in build(T, T + C))
    pos = torch.eye(T, dtype=content.dtype, device=content.device).expand(B, T, T)
    x = torch.cat([pos, content], dim=-1)  # (B, T, T + C)
    q, k, v = x @ W_q, x @ W_k, x @ W_v
    scores = q @ k.mT / (q.shape[-1] ** 0.5)  # (B, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=content.device).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return weights @ v  # (B, T, T + C)
