"""Drivers for Chapter 9's tokenizer and data-pipeline exercises, which return bytes, dicts and
lists: each turns what the student's code returns into int64 tensors to compare exactly. And the
built-in ``get_batch`` that the training loop's grading uses in place of the student's."""

from __future__ import annotations

import torch

from .registry import driver, standin


@driver
def drive_train_bpe(fn, text, vocab_size, special_tokens):
    """Train on ``text``; returns the merges and the vocabulary, each flattened to int64 as
    (length, bytes...) records: merges in order, the vocabulary sorted by id (id, length, bytes)."""
    vocab, merges = fn(text, vocab_size, tuple(special_tokens))
    flat_merges = []
    for a, b in merges:
        for part in (bytes(a), bytes(b)):
            flat_merges += [len(part), *part]
    flat_vocab = []
    for i in sorted(vocab):
        flat_vocab += [int(i), len(vocab[i]), *bytes(vocab[i])]
    return torch.tensor(flat_merges, dtype=torch.long), torch.tensor(flat_vocab, dtype=torch.long)


@driver
def drive_tokenizer(cls, vocab_items, merge_items, special_tokens, texts, decode=()):
    """Build ``cls(vocab, merges, special_tokens)`` from JSON-friendly lists, encode each text;
    returns every text's ids (-1 between texts) and, per text, whether decode(encode(t)) == t.
    With ``decode`` (lists of ids, e.g. a multi-byte character cut short), also the code points
    of each list's decoded text (-1 between them)."""
    vocab = {int(i): bytes(b) for i, b in vocab_items}
    merges = [(bytes(a), bytes(b)) for a, b in merge_items]
    tok = cls(vocab, merges, tuple(special_tokens))
    ids, ok = [], []
    for t in texts:
        enc = [int(i) for i in tok.encode(t)]
        ids += enc + [-1]
        ok.append(int(tok.decode(enc) == t))
    out = (torch.tensor(ids, dtype=torch.long), torch.tensor(ok, dtype=torch.long))
    if not decode:
        return out
    points = [p for seq in decode for p in (*map(ord, tok.decode(list(seq))), -1)]
    return (*out, torch.tensor(points, dtype=torch.long))


@driver
def drive_pack_documents(fn, docs, seq_len, eos_id, as_tensors=None):
    """``fn(docs, seq_len, eos_id)`` with the documents (JSON lists of ids) passed as they are,
    or, with ``as_tensors`` a dtype name (e.g. "int32"), each as a 1-D tensor of that dtype."""
    if as_tensors is not None:
        docs = [torch.tensor(d, dtype=getattr(torch, as_tensors)) for d in docs]
    return fn(docs, seq_len, eos_id)


@driver
def drive_get_batch(fn, tokens, batch_size, context_length, seed):
    """Call the student's function with a freshly seeded CPU generator."""
    return fn(tokens, batch_size, context_length, "cpu", torch.Generator().manual_seed(seed))


@standin("ch09.get_batch")
def get_batch(tokens, batch_size, context_length, device="cpu", generator=None):
    starts = torch.randint(0, tokens.shape[0] - context_length, (batch_size,), generator=generator)
    x = torch.stack([tokens[i:i + context_length] for i in starts.tolist()])
    y = torch.stack([tokens[i + 1:i + 1 + context_length] for i in starts.tolist()])
    return x.long().to(device), y.long().to(device)
