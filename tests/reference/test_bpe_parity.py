"""reference.data's BPE against tiktoken: the same ids from the same merges, and the two places
where the two can differ, each shown and tested.

tiktoken is given our vocabulary as ``mergeable_ranks`` (token bytes -> id; merged token i has id
256 + i, so ranks order the merges as we learned them) and our special tokens. Two things differ
by design:

(a) The rule that picks the next merge. Ours merges the adjacent pair of tokens that is the
    earliest-learned *merge*; tiktoken merges the adjacent pair whose *concatenated bytes* have the
    lowest rank, and returns a pre-token that is itself a token whole. Both agree when the only
    adjacent pairs met while encoding whose bytes form a token are that token's own merge. Nothing
    forces that for a hand-made merge list (``test_concatenation_ranks_can_differ``); for
    vocabularies trained by ``train_bpe`` we found no counterexample: every merged token has bytes
    of its own, encodes alone to itself, and the ids agree on every text below (a search over
    600,000 random concatenations of 2 to 4 tokens, against four trained vocabularies, found none
    either).
(b) The regex engine. Python's ``re`` and tiktoken's (Rust) do not give ``\\w`` and ``\\s`` the same
    meaning, so ``PRETOKENIZE.pattern`` read by tiktoken cuts some texts elsewhere
    (``test_verbatim_pattern_*``). ``PRETOKENIZE_PORTABLE`` spells Python's classes out; it is what
    tiktoken gets here, on text that keeps every kind of character the generator writes.
"""

import functools
import re
import unicodedata

import pytest

from reference.data import (PRETOKENIZE, PRETOKENIZE_PORTABLE, BPETokenizer, multilingual_text,
                            train_bpe)

tiktoken = pytest.importorskip(
    "tiktoken", reason="tiktoken is not installed: parity with its BPE encoder is not checked")

SPECIAL = ("<|endoftext|>", "<|pad|>")
VOCAB, MERGES = train_bpe(multilingual_text(100_000, seed=1), 1000, SPECIAL)
OURS = BPETokenizer(VOCAB, MERGES, SPECIAL)
N_MERGED = 256 + len(MERGES)
# A text the merges were not learned on, with special tokens at the ends and inside.
TEXT = ("<|pad|>" + multilingual_text(60_000, seed=2) + "<|endoftext|>"
        + multilingual_text(20_000, seed=3) + "<|endoftext|><|pad|>")
CODE_POINTS = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def tiktoken_encoding(vocab, n_merged, special_tokens, pattern):
    return tiktoken.Encoding(
        name="llmcourse-bpe", pat_str=pattern,
        mergeable_ranks={vocab[i]: i for i in range(n_merged)},
        special_tokens={s: n_merged + k for k, s in enumerate(special_tokens)})


PORTABLE = tiktoken_encoding(VOCAB, N_MERGED, SPECIAL, PRETOKENIZE_PORTABLE)
VERBATIM = tiktoken_encoding(VOCAB, N_MERGED, SPECIAL, PRETOKENIZE.pattern)


def test_same_ids_as_tiktoken():
    assert OURS.encode(TEXT) == PORTABLE.encode(TEXT, allowed_special="all")


def test_same_ids_on_the_training_text():
    text = multilingual_text(100_000, seed=1)
    assert OURS.encode(text) == PORTABLE.encode_ordinary(text)


# --------------------------------------------------------------------------- (a) the merge rule
def test_every_merged_token_has_one_merge_and_encodes_to_itself():
    """What (a) needs of a trained vocabulary: mergeable_ranks loses nothing (no two merges make
    the same bytes), and tiktoken's shortcut (a pre-token that is a token is returned whole) is
    what our merges give too."""
    assert len({VOCAB[i] for i in range(N_MERGED)}) == N_MERGED
    for i in range(256, N_MERGED):
        try:
            text = VOCAB[i].decode("utf-8")
        except UnicodeDecodeError:
            continue  # a piece of a character: never a pre-token on its own
        if PRETOKENIZE.findall(text) == [text]:
            assert OURS.encode(text) == [i], VOCAB[i]


def test_concatenation_ranks_can_differ():
    """A hand-made merge list where "abc" is made as (ab, c), but "bc" is learned before "ab":
    encoding "abc" merges (b, c) first. Then (a, bc) is no merge for us, while tiktoken sees that
    a + bc spells the token "abc" (and returns the pre-token whole anyway)."""
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"bc", 257: b"ab", 258: b"abc"}
    merges = [(b"b", b"c"), (b"a", b"b"), (b"ab", b"c")]
    theirs = tiktoken_encoding(vocab, 259, (), PRETOKENIZE_PORTABLE)
    assert BPETokenizer(vocab, merges).encode("abc") == [ord("a"), 256]
    assert theirs.encode_ordinary("abc") == [258]


# --------------------------------------------------------------------------- (b) the regex engines
@functools.cache
def engine_set(pattern):
    """The characters a one-character class ``pattern`` matches in tiktoken's regex engine."""
    probe = tiktoken.Encoding(name="probe", pat_str=pattern, special_tokens={},
                              mergeable_ranks={bytes([i]): i for i in range(256)})
    return frozenset(bytes(probe.encode_ordinary(CODE_POINTS)).decode("utf-8"))


@functools.cache
def python_set(pattern):
    return frozenset(re.findall(pattern, CODE_POINTS))


def assigned(chars):
    """Those of ``chars`` that this Python's Unicode tables assign (Rust's tables are newer)."""
    return {c for c in chars if unicodedata.category(c) != "Cn"}


def engine_pretokens(text, pattern):
    """How tiktoken's engine cuts ``text`` with ``pattern``: every substring of the text is made a
    token, so each pre-token comes back whole (tiktoken's shortcut) as one token."""
    data = text.encode("utf-8")
    pieces = {bytes([i]) for i in range(256)} | {data[i:j] for i in range(len(data))
                                                  for j in range(i + 1, len(data) + 1)}
    probe = tiktoken.Encoding(name="probe", pat_str=pattern, special_tokens={},
                              mergeable_ranks={b: r for r, b in enumerate(sorted(pieces))})
    return [b.decode("utf-8") for b in probe.decode_tokens_bytes(probe.encode_ordinary(text))]


def test_portable_pattern_classes_equal_pythons_on_every_code_point():
    for python, portable in ((r"\w", r"[\p{L}\p{N}_]"), (r"\s", r"[\s\x1c-\x1f]"),
                             (r"[^\s\w]", r"[^\s\x1c-\x1f\p{L}\p{N}_]"),
                             (r"\S", r"[^\s\x1c-\x1f]")):
        assert portable in PRETOKENIZE_PORTABLE
        assert assigned(engine_set(portable) ^ python_set(python)) == set(), python


def test_verbatim_pattern_differs_on_a_known_class_of_characters():
    """Where Python's and Rust's \\w and \\s disagree, by Unicode category: Rust's \\w adds marks
    (Mn, Mc, Me), connector punctuation (Pc: ‿ ⁀ ＿), the joiners ZWNJ and ZWJ (Cf) and the
    letter-like symbols (So: Ⓐ ⓐ, which are Alphabetic); Python's \\w adds the digits that are not
    decimal (No: ² ½ ①); Python's \\s adds the separators \\x1c-\\x1f (Cc)."""
    rust_only = assigned(engine_set(r"\w") - python_set(r"\w"))
    category = unicodedata.category
    assert {category(c) for c in rust_only} == {"Mn", "Mc", "Me", "Pc", "Cf", "So"}
    assert {c for c in rust_only if category(c) == "Cf"} == {"\u200c", "\u200d"}
    assert {category(c) for c in assigned(python_set(r"\w") - engine_set(r"\w"))} == {"No"}
    assert python_set(r"\s") - engine_set(r"\s") == set("\x1c\x1d\x1e\x1f")
    assert engine_set(r"\s") <= python_set(r"\s")


@pytest.mark.parametrize("text", ["cafe\u0301 noir", "x² + y²", "snake‿case", "👩\u200d💻 ok",
                                  "I ❤\ufe0f it", "Ⓐbc", "a\x1c\x1cb"],
                         ids=["combining acute", "superscript two", "connector punctuation",
                              "zero-width joiner", "variation selector", "circled letter",
                              "file separator"])
def test_verbatim_pattern_cuts_these_elsewhere(text):
    assert engine_pretokens(text, PRETOKENIZE_PORTABLE) == PRETOKENIZE.findall(text)
    assert engine_pretokens(text, PRETOKENIZE.pattern) != PRETOKENIZE.findall(text)


def test_verbatim_pattern_agrees_without_those_characters():
    """The text less the characters of the known class: the ids agree, so only (b) separated
    them."""
    differ = (engine_set(r"\w") ^ python_set(r"\w")) | set("\x1c\x1d\x1e\x1f")
    text = "".join(c for c in TEXT if c not in differ)
    assert len(text) < len(TEXT)
    assert OURS.encode(text) == VERBATIM.encode(text, allowed_special="all")
    assert OURS.encode(TEXT) != VERBATIM.encode(TEXT, allowed_special="all")
