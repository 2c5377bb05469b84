"""reference.data's pack_documents and get_batch: layout, the shift by one, and a 5-sigma test
that starting offsets are uniform."""

import math

import torch

from reference.data import get_batch, pack_documents


def test_pack_documents_layout():
    rows = pack_documents([[1, 2, 3], [4, 5], [6]], 3, eos_id=0)
    assert torch.equal(rows, torch.tensor([[1, 2, 3], [0, 4, 5], [0, 6, 0]]))


def test_pack_documents_drops_tail_only():
    docs = [list(range(1, n + 1)) for n in (5, 7, 2)]
    rows = pack_documents(docs, 4, eos_id=99)
    stream = [t for d in docs for t in d + [99]]
    assert rows.shape == (len(stream) // 4, 4)
    assert rows.flatten().tolist() == stream[: rows.numel()]


def test_get_batch_shift_and_windows():
    tokens = torch.arange(100) * 3
    x, y = get_batch(tokens, 8, 10, "cpu", torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 10) and x.dtype == torch.long
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert ((x[:, 1:] - x[:, :-1]) == 3).all()  # contiguous windows
    assert int(y.max()) <= 99 * 3


def test_get_batch_offsets_match_stated_draw():
    tokens = torch.arange(50)
    x, _ = get_batch(tokens, 6, 7, "cpu", torch.Generator().manual_seed(5))
    expected = torch.randint(0, 50 - 7, (6,), generator=torch.Generator().manual_seed(5))
    assert torch.equal(x[:, 0], expected)


def test_offsets_uniform_5_sigma():
    """Each of the K = N - T admissible offsets is drawn with probability 1/K: every count is
    within 5 binomial standard deviations, the last window (ending at the last token) occurs,
    and chi-square is within 5 sigma of its mean K - 1."""
    n, t, draws = 40, 8, 64_000
    tokens = torch.arange(n)
    x, y = get_batch(tokens, draws, t, "cpu", torch.Generator().manual_seed(0))
    k = n - t
    counts = torch.bincount(x[:, 0], minlength=n).double()
    assert counts[k:].sum() == 0 and counts[k - 1] > 0 and int(y.max()) == n - 1
    p = 1 / k
    sd = math.sqrt(draws * p * (1 - p))
    assert ((counts[:k] - draws * p).abs() < 5 * sd).all()
    chi2 = float(((counts[:k] - draws * p) ** 2 / (draws * p)).sum())
    assert abs(chi2 - (k - 1)) < 5 * math.sqrt(2 * (k - 1))
