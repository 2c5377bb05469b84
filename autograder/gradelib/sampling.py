"""Exercises that draw random numbers: the driver that hands the student's function a freshly
seeded generator, and the stand-ins for Chapter 1's counting and scoring while later exercises
that call them are graded."""

from __future__ import annotations

import torch

from .registry import driver, standin


@driver
def drive_with_generator(fn, *args, seed, **kwargs):
    """``fn(*args, generator=<a CPU generator seeded with seed>, **kwargs)``: the student's draws
    are reproducible, and the reference draws the same numbers when it follows the same recipe."""
    return fn(*args, generator=torch.Generator().manual_seed(seed), **kwargs)


@standin("ch01.ngram_counts")
def ngram_counts(tokens, n, vocab_size):
    """Counts of each n-gram: one bincount over the windows' base-V numbers."""
    counts = torch.zeros(vocab_size ** n, dtype=torch.int64, device=tokens.device)
    if tokens.numel() >= n:
        code = torch.zeros(tokens.numel() - n + 1, dtype=torch.int64, device=tokens.device)
        for k in range(n):
            code = code * vocab_size + tokens[k:tokens.numel() - n + 1 + k]
        counts += torch.bincount(code, minlength=vocab_size ** n)
    return counts.reshape((vocab_size,) * n)


@standin("ch01.sequence_log_prob")
def sequence_log_prob(model, tokens):
    """Σ log model[n-gram] over the stream's n-grams, gathered from the flattened table."""
    n, V = model.dim(), model.shape[-1]
    code = torch.zeros(tokens.numel() - n + 1, dtype=torch.int64, device=tokens.device)
    for k in range(n):
        code = code * V + tokens[k:tokens.numel() - n + 1 + k]
    return model.reshape(-1)[code].log().sum()
