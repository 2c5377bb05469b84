"""reference.data's byte-level BPE: exact round trip on arbitrary Unicode (hypothesis), merges
checked by hand on small corpora, the stated tie-breaking, and special tokens."""

from collections import Counter

from hypothesis import given, settings, strategies as st

from reference.data import PRETOKENIZE, BPETokenizer, train_bpe

CORPUS = ("the cat sat on the mat. the cat ate the rat! Ünïcödé, 日本語の文章, emoji 🙂🙂 "
          "low lower lowest newer newest widest ") * 5
VOCAB, MERGES = train_bpe(CORPUS, 330, special_tokens=("<|endoftext|>",))
TOK = BPETokenizer(VOCAB, MERGES, special_tokens=("<|endoftext|>",))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_arbitrary_unicode(text):
    assert TOK.decode(TOK.encode(text)) == text


@settings(max_examples=50, deadline=None)
@given(st.text(), st.text())
def test_round_trip_with_special_tokens(a, b):
    text = a + "<|endoftext|>" + b
    ids = TOK.encode(text)
    assert TOK.decode(ids) == text
    assert ids.count(VOCAB_ID_EOT) >= 1


VOCAB_ID_EOT = max(VOCAB)


def test_pretokenizer_covers_everything():
    text = "Hello,  world!\n\tIt's 2024 — ok?  "
    assert "".join(PRETOKENIZE.findall(text)) == text


def test_vocab_layout():
    assert len(VOCAB) == 330 and len(MERGES) == 330 - 256 - 1
    assert all(VOCAB[i] == bytes([i]) for i in range(256))
    assert VOCAB[VOCAB_ID_EOT] == b"<|endoftext|>"
    for i, (a, b) in enumerate(MERGES):
        assert VOCAB[256 + i] == a + b


def test_first_merge_is_most_frequent_pair_by_hand():
    """Count byte pairs inside pre-tokens directly; the first merge must be the top pair."""
    pairs = Counter()
    for pre in PRETOKENIZE.findall(CORPUS):
        b = pre.encode()
        pairs.update(zip(b, b[1:]))
    top = max(pairs.values())
    best = max((bytes([x]), bytes([y])) for (x, y), c in pairs.items() if c == top)
    assert MERGES[0] == best


def test_tie_break_is_lexicographically_greatest():
    """'ab' and 'cd' both occur twice: (c, d) wins the tie, then (a, b)."""
    _, merges = train_bpe("ab cd ab cd", 258)
    assert merges == [(b"c", b"d"), (b"a", b"b")]


def test_merges_do_not_overlap():
    """'aaa' with the merge (a, a) is (aa, a), left to right."""
    vocab, merges = train_bpe("aaa", 257)
    assert merges == [(b"a", b"a")]
    tok = BPETokenizer(vocab, merges)
    assert tok.encode("aaa") == [256, ord("a")]


def test_merges_never_cross_pretokens():
    _, merges = train_bpe("a b a b a b", 300)
    assert all(b" " not in a + b or (a + b).startswith(b" ") for a, b in merges)
    assert (b"a", b" ") not in merges


def test_encode_compresses_training_text():
    ids = TOK.encode(CORPUS)
    assert len(ids) < 0.6 * len(CORPUS.encode())


def test_deterministic():
    assert train_bpe(CORPUS, 300) == train_bpe(CORPUS, 300)
