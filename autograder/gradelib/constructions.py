"""Drivers of Chapter 6's constructions: exercises that return weights, which are not unique, so
the driver runs the network they define and returns what is (its values, the head's output),
together with whether the weights have the dtype (and layout) that the statement asks for. The
network is run on the weights converted to that dtype and layout, so that a wrong dtype or layout
is reported as itself, not as wrong values."""

from __future__ import annotations

import torch

from .registry import driver


@driver
def drive_relu_network(build, xs, ys, x_eval):
    """Build f(x) = W2 relu(W1 x + b1) + b2 from the points, then evaluate it at ``x_eval``.

    Returns the values and a (2,) int64 tensor: [1 if every weight has xs's dtype and device,
    1 if W1, b1, W2, b2 have the layouts (u, 1), (u,), (1, u), (1,) of nn.Linear(1, u) and
    nn.Linear(u, 1)]."""
    W1, b1, W2, b2 = build(xs, ys)
    weights = (W1, b1, W2, b2)
    follows_xs = all(w.dtype == xs.dtype and w.device == xs.device for w in weights)
    u = W1.shape[0] if W1.dim() else -1
    layouts = [w.shape for w in weights] == [(u, 1), (u,), (1, u), (1,)]
    W1, b1, W2, b2 = (w.to(xs).reshape(shape) for w, shape in
                      zip(weights, [(-1, 1), (-1,), (1, -1), (1,)]))
    hidden = torch.relu(x_eval[:, None] @ W1.mT + b1)  # (n_eval, u)
    flags = torch.tensor([int(follows_xs), int(layouts)], device=xs.device)
    return (hidden @ W2.mT + b2)[:, 0], flags  # (n_eval,), (2,)


@driver
def drive_previous_token_head(build, content):
    """Embed positions (one-hot) and content, run one causal head with the built weights.

    Returns the head's output and a 0-dim int64 tensor, 1 if the weights were float32."""
    B, T, d_c = content.shape
    weights = build(T, T + d_c)
    is_float32 = torch.tensor(int(all(w.dtype == torch.float32 for w in weights)),
                              device=content.device)
    W_q, W_k, W_v = (w.to(device=content.device, dtype=content.dtype) for w in weights)
    pos = torch.eye(T, dtype=content.dtype, device=content.device).expand(B, T, T)
    x = torch.cat([pos, content], dim=-1)  # (B, T, T + d_c)
    q, k, v = x @ W_q, x @ W_k, x @ W_v
    scores = q @ k.mT / (q.shape[-1] ** 0.5)  # (B, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=content.device).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return weights @ v, is_float32  # (B, T, T + d_c), ()
