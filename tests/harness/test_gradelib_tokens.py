"""gradelib.tokens: the drivers of Chapter 9's tokenizer and batching exercises flatten what the
code returns without losing anything, and the built-in get_batch draws what the reference draws."""

from __future__ import annotations

import torch

from autograder.gradelib.tokens import (drive_get_batch, drive_tokenizer, drive_train_bpe,
                                        get_batch)
from reference import data

TEXT = "the cat sat on the mat<|eot|>the dog sat on the log " * 2


def test_train_bpe_records_hold_the_merges_and_the_vocabulary():
    vocab, merges = data.train_bpe(TEXT, 270, ("<|eot|>",))
    flat_merges, flat_vocab = drive_train_bpe(data.train_bpe, TEXT, 270, ["<|eot|>"])
    records, i, m = [], 0, flat_merges.tolist()
    while i < len(m):
        records.append(bytes(m[i + 1:i + 1 + m[i]]))
        i += 1 + m[i]
    assert list(zip(records[::2], records[1::2])) == merges
    entries, i, v = {}, 0, flat_vocab.tolist()
    while i < len(v):
        entries[v[i]] = bytes(v[i + 2:i + 2 + v[i + 1]])
        i += 2 + v[i + 1]
    assert entries == vocab and len(vocab) == 270


def test_tokenizer_ids_and_round_trips():
    vocab, merges = data.train_bpe(TEXT, 270, ("<|eot|>",))
    texts = ["the cat<|eot|>", "héllo", ""]
    ids, ok = drive_tokenizer(data.BPETokenizer, [[i, list(b)] for i, b in vocab.items()],
                              [[list(a), list(b)] for a, b in merges], ["<|eot|>"], texts)
    tok = data.BPETokenizer(vocab, merges, ("<|eot|>",))
    assert ids.tolist() == [i for t in texts for i in tok.encode(t) + [-1]]
    assert ok.tolist() == [1, 1, 1]


def test_get_batch_driver_seeds_a_fresh_generator():
    tokens = torch.arange(40)
    x, y = drive_get_batch(data.get_batch, tokens, 6, 5, seed=3)
    x2, y2 = data.get_batch(tokens, 6, 5, "cpu", torch.Generator().manual_seed(3))
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_builtin_get_batch_equals_the_reference():
    tokens = torch.randint(0, 90, (200,), generator=torch.Generator().manual_seed(1)).int()
    for seed in range(3):
        got = get_batch(tokens, 7, 9, "cpu", torch.Generator().manual_seed(seed))
        want = data.get_batch(tokens, 7, 9, "cpu", torch.Generator().manual_seed(seed))
        for g, w in zip(got, want):
            assert g.dtype == torch.int64 and torch.equal(g, w)
