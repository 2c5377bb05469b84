"""reference.data's byte-level BPE: exact round trip on arbitrary Unicode (hypothesis), merges
checked by hand on small corpora, the stated tie-breaking, and special tokens; the fast trainer
against the plain one (recount every pair for every merge); vocabularies the tokenizer did not
make; streaming encoding equal to encoding the joined text."""

import io
import itertools
import random
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from reference.data import (PRETOKENIZE, BPETokenizer, _merge_word, _split_special,
                            multilingual_text, train_bpe)

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


def test_multilingual_text_is_seeded_and_covers_its_scripts():
    text = multilingual_text(20_000, seed=3)
    assert text == multilingual_text(20_000, seed=3) != multilingual_text(20_000, seed=4)
    assert len(text) == 20_000
    ranges = {"accented Latin": "àÿ", "Greek": "αω", "Cyrillic": "ая", "Arabic": "اي",
              "CJK": "\u4e00\u9fff", "combining marks": "\u0300\u036f", "emoji": "😀🙏"}
    for script, (lo, hi) in ranges.items():
        assert any(lo <= c <= hi for c in text), script
    for sample in ("'s", "'ll", "👩\u200d💻", "❤\ufe0f", "\n\n", "  ", "x²", "_", "1,000"):
        assert sample in text, sample


# --------------------------------------------------------------------------- the fast trainer
def recounting_train_bpe(text, vocab_size, special_tokens=()):
    """The oracle: train_bpe as it was before pair counts were kept up to date, recounting every
    pair of every word for every merge."""
    vocab = {i: bytes([i]) for i in range(256)}
    words = Counter()
    for piece in _split_special(text, special_tokens):
        if piece not in special_tokens:
            for pre in PRETOKENIZE.findall(piece):
                words[tuple(pre.encode("utf-8"))] += 1
    merges = []
    for _ in range(vocab_size - 256 - len(special_tokens)):
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], vocab[p[0]], vocab[p[1]]))
        new_id = len(vocab)
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        merges.append((vocab[best[0]], vocab[best[1]]))
        merged = Counter()
        for word, count in words.items():
            merged[_merge_word(word, best, new_id)] += count
        words = merged
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, merges


# Small pieces that make many equal counts (ties), overlapping pairs ("aaaa"), contractions,
# multi-byte characters and whitespace runs.
PIECES = ["a", "a", "b", "c", "aa", "ab", " ", " ", "  ", "\n", "\t", "'s", "'", "l", "é", "日",
          "!", "7", "<|eot|>"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=120).map("".join), st.integers(0, 60),
       st.booleans())
def test_train_bpe_equals_recounting_on_random_texts(text, n_merges, with_special):
    special = ("<|eot|>",) if with_special else ()
    vocab_size = 256 + len(special) + n_merges
    assert train_bpe(text, vocab_size, special) == recounting_train_bpe(text, vocab_size, special)


@pytest.mark.parametrize("text, vocab_size, special", [
    (CORPUS, 400, ("<|endoftext|>",)),
    ("low lower lowest<|a|>newer newest<|b|>" * 20 + "aaaaaaa aaaa", 300, ("<|a|>", "<|b|>")),
    (multilingual_text(12_000, seed=11), 600, ("<|endoftext|>",)),
], ids=["English corpus", "two special tokens, overlapping pairs", "multilingual, 343 merges"])
def test_train_bpe_equals_recounting_on_fixed_texts(text, vocab_size, special):
    assert train_bpe(text, vocab_size, special) == recounting_train_bpe(text, vocab_size, special)


# --------------------------------------------------------------------------- foreign vocabularies
PERMUTATION = list(range(len(VOCAB)))
random.Random(0).shuffle(PERMUTATION)  # old id -> new id
PERMUTED = BPETokenizer({PERMUTATION[i]: b for i, b in VOCAB.items()}, MERGES,
                        special_tokens=("<|endoftext|>",))


@settings(max_examples=100, deadline=None)
@given(st.text() | st.sampled_from([CORPUS, "the cat<|endoftext|>sat"]))
def test_permuted_ids_give_the_same_segmentation(text):
    """Ids in another order, single bytes included: the same tokens, each under its new id."""
    ids = PERMUTED.encode(text)
    assert ids == [PERMUTATION[i] for i in TOK.encode(text)]
    assert PERMUTED.decode(ids) == text


TINY_VOCAB = {7: b"the", 3: b" cat", 0: b"t", 1: b"h", 2: b"e", 4: b" ", 5: b"c", 6: b"a",
              8: b"th", 9: b"at", 10: b" c"}
TINY_MERGES = [(b"t", b"h"), (b"th", b"e"), (b"a", b"t"), (b" ", b"c"), (b" c", b"at")]


def test_hand_written_vocabulary():
    """Byte values are not ids here: "t" is 0, "h" is 1."""
    tok = BPETokenizer(TINY_VOCAB, TINY_MERGES)
    assert tok.encode("the cat") == [7, 3]
    assert tok.decode([7, 3]) == "the cat"
    assert tok.encode("hat") == [1, 9]
    assert tok.encode("a  tea") == [6, 4, 4, 0, 2, 6]


def test_a_byte_missing_from_the_vocabulary_is_named():
    tok = BPETokenizer(TINY_VOCAB, TINY_MERGES)
    with pytest.raises(ValueError, match="0x64"):  # "d"
        tok.encode("the dog")
    with pytest.raises(ValueError, match="merge 1"):
        BPETokenizer({k: v for k, v in TINY_VOCAB.items() if v != b"the"}, TINY_MERGES)


# --------------------------------------------------------------------------- streaming
STREAM_SPECIAL = ("<|eot|>", "<|eot|><|eot|>", "<s>")  # one special token contains another
# Pieces that end pre-tokens late: word and whitespace runs, "'" + "l" + "l" (a contraction only
# when complete), special tokens and their beginnings.
STREAM_PIECES = ["a", "b", "l", "v", "e", "r", "s", "'", " ", " ", "  ", "\n", "\t", "é", "日",
                 "!", "?", "1", "<|eot|>", "<|eot|><|eot|>", "<|", "|>", "<s", ">", "'ll", "'re"]
STREAM_TEXT = "".join(random.Random(1).choices(STREAM_PIECES, k=3000))
STREAM_TOKENIZERS = {
    "with special tokens": BPETokenizer(*train_bpe(STREAM_TEXT, 330, STREAM_SPECIAL),
                                        STREAM_SPECIAL),
    "without": BPETokenizer(*train_bpe(STREAM_TEXT.replace("<", ""), 320)),
}


@pytest.mark.parametrize("kind", STREAM_TOKENIZERS)
@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(STREAM_PIECES), max_size=40).map("".join),
       cuts=st.lists(st.integers(0, 10**6), max_size=10))
def test_encode_iterable_equals_encode(kind, text, cuts):
    """Chunks cut anywhere (empty ones too): the ids of the joined text."""
    tok = STREAM_TOKENIZERS[kind]
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    chunks = [text[i:j] for i, j in zip(bounds, bounds[1:])]
    assert list(tok.encode_iterable(chunks)) == tok.encode(text)


def test_encode_iterable_reads_a_file_line_by_line():
    text = multilingual_text(20_000, seed=5).replace("😀", "<|endoftext|>")
    assert list(TOK.encode_iterable(io.StringIO(text))) == TOK.encode(text)


def test_encode_iterable_never_needs_the_whole_input():
    """An endless input: ids come out as the lines are read."""
    lines = itertools.cycle(["the cat sat on the mat.\n", "   \n", "ünïcödé 🙂<|endoftext|>\n"])
    ids = list(itertools.islice(TOK.encode_iterable(lines), 10_000))
    assert TOK.decode(ids).startswith("the cat sat on the mat.\n   \nünïcödé 🙂<|endoftext|>\n")


@pytest.mark.parametrize("kind", STREAM_TOKENIZERS)
@settings(max_examples=200, deadline=None)
@given(text=st.lists(st.sampled_from(STREAM_PIECES), max_size=40).map("".join))
def test_streaming_holds_back_two_pre_tokens_and_a_special_token_beginning(kind, text):
    """The memory bound of encode_iterable's docstring: between chunks it keeps the last two
    pre-tokens, and the longest end of the text that could still grow into a special token."""
    tok = STREAM_TOKENIZERS[kind]
    held = text[tok._final_length(text):]
    beginning = next((held[i:] for i in range(len(held)) if any(
        len(s) > len(held) - i and s.startswith(held[i:]) for s in tok.special_tokens)), "")
    assert len(PRETOKENIZE.findall(held[:len(held) - len(beginning)])) <= 2
