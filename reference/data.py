"""Chapter 9, Training at scale: the data the course owns, byte-level BPE, packing and batching.

No corpus can be downloaded at run time, so the course generates its own:

* a synthetic "language": a k-th order Markov chain over a small vocabulary whose transition
  probabilities are drawn once from a seeded Dirichlet distribution. Its entropy rate (the best
  loss any model can reach, in nats per token) is computed exactly from the stationary
  distribution of the chain, so every training curve can be drawn against the true floor;
* small structured tasks (copying, addition, sorting) that test what a model can express;
* multilingual pseudo-text (several scripts, marks, emoji, numbers, runs of whitespace) to train
  tokenizers on and to compare them with tokenizer libraries.

A user can point any of it at their own UTF-8 text with :func:`read_text`.

Conventions, stated once:

* BPE is byte-level: ids 0..255 are the single bytes, merge i (counting from 0) creates id 256 + i,
  and special tokens take the ids after the merges, in the order given. That is the layout
  :func:`train_bpe` makes; :class:`BPETokenizer` assumes none and looks every token up by its
  bytes, so it also takes vocabularies numbered otherwise (GPT-2's).
* Pre-tokenization splits text with :data:`PRETOKENIZE` (contractions, an optional space followed
  by letters/digits, an optional space followed by punctuation, runs of whitespace); merges never
  cross a pre-token boundary or a special token.
* Tie-breaking: among pairs with the highest count, the merge chosen is the pair whose
  (bytes of left token, bytes of right token) is lexicographically GREATEST.
* A merge is applied left to right without overlap: with the merge (a, a), "aaa" becomes (aa, a).

Dimension letters are those of ``reference/notation.py`` (V the vocabulary size, B the batch size,
T the context length); the number of tokens in a stream is written n (it is none of them).
"""

from __future__ import annotations

import bisect
import heapq
import random
import re
from collections import Counter, defaultdict, deque
from dataclasses import dataclass

import torch

from reference import information

PRETOKENIZE = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\w+| ?[^\s\w]+|\s+(?!\S)|\s+""")
# PRETOKENIZE for the regex engines of tiktoken (Rust's regex crate) and Hugging Face tokenizers
# (Oniguruma), whose \w and \s are other sets than Python's: their \w adds combining marks,
# connector punctuation (‿), the joiners ZWJ/ZWNJ and circled letters (Ⓐ), and lacks the digits
# that are not decimal (², ½); their \s lacks the separators \x1c-\x1f. Spelled out, Python's \w
# is [\p{L}\p{N}_] and its \s is [\s\x1c-\x1f] in both engines, for every character the Unicode
# tables of this Python know (tests/reference/test_bpe_parity.py checks every code point).
PRETOKENIZE_PORTABLE = (r"""'(?:[sdmt]|ll|ve|re)| ?[\p{L}\p{N}_]+| ?[^\s\x1c-\x1f\p{L}\p{N}_]+"""
                        r"""|[\s\x1c-\x1f]+(?![^\s\x1c-\x1f])|[\s\x1c-\x1f]+""")


# --------------------------------------------------------------------------- the Markov "language"
def markov_chain(vocab_size, order, seed=0, concentration=0.2):
    """Transition probabilities of a random k-th order Markov chain.

    Row ``P[c_1, ..., c_k]`` is the distribution of the next token after the context
    (c_1, ..., c_k), drawn from a symmetric Dirichlet(concentration): small concentrations give
    peaked rows, hence a low entropy rate and a language a small model can learn.

    Shape:
        output: (V,) * order + (V,) float64, each last-axis row sums to 1
    """
    g = torch.Generator().manual_seed(seed)
    n_contexts = vocab_size ** order
    # A Dirichlet sample is a normalised vector of Gamma(concentration) variables.
    gamma = torch._standard_gamma(torch.full((n_contexts, vocab_size), float(concentration),
                                             dtype=torch.float64), generator=g)
    gamma = gamma.clamp_min(1e-300)  # tiny concentrations can round a whole row to 0
    probs = gamma / gamma.sum(-1, keepdim=True)  # (V^k, V)
    return probs.reshape((vocab_size,) * order + (vocab_size,))


def context_transition_matrix(probs):
    """The chain on contexts: state s = (c_1, ..., c_k) moves to (c_2, ..., c_k, v) with
    probability P[s, v]. States are numbered in base V, c_1 most significant.

    Shape:
        probs: (V,) * k + (V,)
        output: (V^k, V^k)
    """
    V, k = probs.shape[-1], probs.dim() - 1
    S = V ** k
    flat = probs.reshape(S, V)  # (S, V)
    nxt = (torch.arange(S).unsqueeze(1) * V + torch.arange(V)) % S  # (S, V) next-state index
    M = torch.zeros(S, S, dtype=probs.dtype)
    M.scatter_add_(1, nxt, flat)
    return M


def stationary_distribution(probs):
    """The stationary distribution pi of the context chain (pi M = pi, sum(pi) = 1), in float64.
    The Dirichlet rows are strictly positive, so the chain is irreducible and aperiodic and pi
    unique (see ``reference.information.stationary_distribution``).

    Shape:
        probs: (V,) * k + (V,)
        output: (V^k,)
    """
    return information.stationary_distribution(context_transition_matrix(probs).double())


def entropy_rate(probs):
    """Entropy rate of the stationary chain in nats per token, exactly:
    H = sum_s pi(s) * H(P[s, :]) = -sum_s pi(s) sum_v P[s, v] log P[s, v] (Chapter 2's
    ``markov_entropy_rate`` of the context chain, whose row s holds P[s, :] in other columns).
    It is the lowest expected next-token cross-entropy any predictor can reach (the loss floor).
    """
    return float(information.markov_entropy_rate(context_transition_matrix(probs).double()))


def sample_markov(probs, n_tokens, generator=None):
    """``n_tokens`` tokens of the chain, started from its stationary distribution (so the stream
    is stationary from its first token and its per-token entropy is the entropy rate).

    Shape:
        output: (n_tokens,) int64
    """
    V, k = probs.shape[-1], probs.dim() - 1
    flat = probs.reshape(-1, V)  # (S, V)
    pi = stationary_distribution(probs).clamp_min(0)
    state = int(torch.multinomial(pi, 1, generator=generator))
    out = [(state // V ** (k - 1 - i)) % V for i in range(k)]  # the first context's tokens
    # Draw every step's uniform at once; inverting the row's CDF (bisect) is a categorical draw.
    cdf = flat.cumsum(-1).tolist()  # S lists of V increasing numbers
    u = torch.rand(max(n_tokens - k, 0), generator=generator, dtype=torch.float64).tolist()
    S = flat.shape[0]
    for ui in u:
        row = cdf[state]
        v = min(bisect.bisect_right(row, ui * row[-1]), V - 1)
        out.append(v)
        state = (state * V + v) % S
    return torch.tensor(out[:n_tokens], dtype=torch.long)


@dataclass(frozen=True)
class SyntheticCorpus:
    """A train/validation split of one Markov language and its loss floor."""

    train: torch.Tensor  # (n_train,) int64 token stream
    val: torch.Tensor  # (n_val,) int64, drawn independently
    vocab_size: int
    entropy_rate: float  # nats per token: the best achievable loss


def synthetic_corpus(vocab_size=32, order=2, n_train=200_000, n_val=20_000, seed=0,
                     concentration=0.2):
    """The bundled corpus of the course: a seeded k-th order Markov language."""
    probs = markov_chain(vocab_size, order, seed, concentration)
    g = torch.Generator().manual_seed(seed + 1)
    return SyntheticCorpus(sample_markov(probs, n_train, g), sample_markov(probs, n_val, g),
                           vocab_size, entropy_rate(probs))


# --------------------------------------------------------------------------- structured tasks
def copy_task(n, length, n_symbols, generator=None):
    """Sequences "s_1 .. s_L SEP s_1 .. s_L": the second half copies the first. Symbols are
    0..n_symbols-1 and SEP is n_symbols. Only the copied half is predictable; the returned mask
    marks the targets (of next-token prediction on the row) that are.

    Shape:
        output: tokens (n, 2L + 1) int64, mask (n, 2L) bool over the targets tokens[:, 1:]
    """
    s = torch.randint(0, n_symbols, (n, length), generator=generator)
    sep = torch.full((n, 1), n_symbols, dtype=torch.long)
    tokens = torch.cat([s, sep, s], dim=1)  # (n, 2L + 1)
    mask = torch.zeros(n, 2 * length, dtype=torch.bool)
    mask[:, length:] = True  # targets at positions L+1 .. 2L of the row: the copy
    return tokens, mask


def sort_task(n, length, n_symbols, generator=None):
    """Sequences "s_1 .. s_L SEP sorted(s)"; SEP = n_symbols; mask as in :func:`copy_task`."""
    s = torch.randint(0, n_symbols, (n, length), generator=generator)
    sep = torch.full((n, 1), n_symbols, dtype=torch.long)
    tokens = torch.cat([s, sep, s.sort(dim=1).values], dim=1)
    mask = torch.zeros(n, 2 * length, dtype=torch.bool)
    mask[:, length:] = True
    return tokens, mask


def addition_task(n, n_digits, generator=None):
    """Sequences "a + b = c" in decimal digits, every number padded to a fixed width and c written
    least-significant digit first (the order in which carries are computed). Tokens: 0-9 digits,
    10 "+", 11 "=". The mask marks the targets that are digits of c.

    Shape:
        output: tokens (n, 3 * n_digits + 3) int64, mask (n, 3 * n_digits + 2) bool
    """
    a = torch.randint(0, 10 ** n_digits, (n,), generator=generator)
    b = torch.randint(0, 10 ** n_digits, (n,), generator=generator)

    def digits(x, width, reverse=False):  # (n,) -> (n, width), most significant first
        pw = 10 ** torch.arange(width - 1, -1, -1)
        d = (x.unsqueeze(1) // pw) % 10
        return d.flip(1) if reverse else d

    plus = torch.full((n, 1), 10, dtype=torch.long)
    eq = torch.full((n, 1), 11, dtype=torch.long)
    tokens = torch.cat([digits(a, n_digits), plus, digits(b, n_digits), eq,
                        digits(a + b, n_digits + 1, reverse=True)], dim=1)
    mask = torch.zeros(n, tokens.shape[1] - 1, dtype=torch.bool)
    mask[:, 2 * n_digits + 1:] = True  # targets after "=": the n_digits + 1 digits of c
    return tokens, mask


def read_text(path):
    """A user's own corpus: the whole file as text, decoded as UTF-8 (errors raise)."""
    with open(path, encoding="utf-8") as f:
        return f.read()


@dataclass
class TextCorpus:
    """A user's text as token streams: the first 90% for training, the rest for validation."""

    train: torch.Tensor  # (n_train,) int64 token ids
    val: torch.Tensor  # (n_val,)
    vocab_size: int
    bytes_per_token: float  # UTF-8 bytes per token over the whole text (compression)
    merges: list | None = None  # the byte-level BPE's merges (None: raw bytes)
    vocab: dict | None = None  # the BPE's id -> bytes (None: raw bytes)


def text_corpus(path, vocab_size=256, max_chars=1_000_000, val_fraction=0.1):
    """Tokenize the first ``max_chars`` characters of a UTF-8 file: raw bytes when
    ``vocab_size`` is 256, else byte-level BPE with ``vocab_size`` ids trained on that text.
    A loss of l nats per token is l / (ln 2 · bytes_per_token) bits per byte, the number to
    compare across tokenizers."""
    text = read_text(path)[:max_chars]
    n_bytes = len(text.encode("utf-8"))
    if n_bytes < 1000:
        raise ValueError(f"{path}: {n_bytes} bytes of text; at least 1000 are needed")
    vocab = merges = None
    if vocab_size == 256:
        ids = list(text.encode("utf-8"))
    elif vocab_size > 256:
        vocab, merges = train_bpe(text, vocab_size)
        ids = BPETokenizer(vocab, merges).encode(text)
    else:
        raise ValueError("vocab_size must be 256 (bytes) or more (byte-level BPE)")
    ids = torch.tensor(ids, dtype=torch.long)
    cut = int(len(ids) * (1 - val_fraction))
    return TextCorpus(ids[:cut], ids[cut:], vocab_size, n_bytes / len(ids), merges, vocab)


# --------------------------------------------------------------------------- a multilingual text
_ALPHABETS = {  # script -> (letters its invented words are spelled with, relative frequency)
    "Latin": ("abcdefghijklmnopqrstuvwxyzàâäçéèêëîïñôöœßûüÿ", 5),
    "Greek": ("αβγδεζηθικλμνξοπρστυφχψωάέήίόύώ", 2),
    "Cyrillic": ("абвгдежзийклмнопрстуфхцчшщъыьэюяё", 2),
    "Arabic": ("ابتثجحخدذرزسشصضطظعغفقكلمنهوي", 1),
    "CJK": ("".join(map(chr, range(0x4E00, 0x4E00 + 300))), 2),
}
_MARKS = {"Latin": "\u0301\u0308", "Arabic": "\u064e\u0650"}  # combining marks words may carry
_EMOJI = ("🙂", "😀", "🎉", "👍", "👍🏽", "❤️", "👩‍💻", "🇫🇷", "✨")  # skin tone, VS16, ZWJ, flag
_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL")
_ENDINGS = (".", ".", ".", "!", "?", "…", ":", " —", "...")
_GAPS = (" ", " ", " ", " ", "  ", "\n", "\n\n", " \n", "\n\t", "\n    ", "   ")


def _invented_word(rng, script):
    letters, _ = _ALPHABETS[script]
    word = "".join(rng.choices(letters, k=rng.randint(1, 3 if script == "CJK" else 9)))
    if script in _MARKS and rng.random() < 0.2:  # a decomposed accent or vowel mark
        cut = rng.randint(1, len(word))
        word = word[:cut] + rng.choice(_MARKS[script]) + word[cut:]
    return word


def _sentence(rng, lexicons, zipf):
    script = rng.choices(list(_ALPHABETS), weights=[f for _, f in _ALPHABETS.values()])[0]
    words = rng.choices(lexicons[script], weights=zipf, k=rng.randint(2, 12))
    if script == "Latin":
        words[0] = words[0].capitalize()
        if rng.random() < 0.3:
            i = rng.randrange(len(words))
            words[i] += rng.choice(_CONTRACTIONS)
        extra = rng.choice([str(rng.randint(0, 3000)), f"{rng.uniform(0, 100):.2f}", "1,000",
                            "_".join(rng.sample(lexicons[script], 2)), "x²", "(" + words[-1] + ")"])
        words.insert(rng.randrange(len(words) + 1), extra)
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_EMOJI))
    if script == "CJK":
        return "".join(words[:3]) + "，" + "".join(words[3:]) + "。" + rng.choice(("", "\n"))
    return " ".join(words) + rng.choice(_ENDINGS) + rng.choice(_GAPS)


def multilingual_text(n_chars, seed=0):
    """``n_chars`` characters of seeded pseudo-text in several scripts, to train and test
    tokenizers on more than English: invented words (300 per script, drawn with Zipf
    frequencies) in Latin with accents, Greek, Cyrillic, Arabic and CJK (written without
    spaces), some carrying combining marks; numbers, punctuation, English contractions, emoji
    (a skin tone, a variation selector, a ZWJ sequence, a flag), snake_case names, "x²"; runs of
    spaces, tabs and newlines."""
    rng = random.Random(seed)
    lexicons = {script: [_invented_word(rng, script) for _ in range(300)] for script in _ALPHABETS}
    zipf = [1 / rank for rank in range(1, 301)]
    parts, size = [], 0
    while size < n_chars:
        parts.append(_sentence(rng, lexicons, zipf))
        size += len(parts[-1])
    return "".join(parts)[:n_chars]


# --------------------------------------------------------------------------- byte-level BPE
def _special_pattern(special_tokens):
    """A regex matching any special token, the longest first (so one that contains another wins)."""
    alternatives = sorted(special_tokens, key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in alternatives)) if alternatives else None


def _split_special(text, special_tokens):
    """Split ``text`` into pieces, each either a special token or ordinary text."""
    if not special_tokens:
        return [text]
    return [p for p in re.split(f"({_special_pattern(special_tokens).pattern})", text) if p]


def _merge_word(word, pair, new_id):
    """Replace every occurrence of ``pair`` in ``word`` (a tuple of ids), left to right."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def _pretoken_counts(text, special_tokens=()):
    """How often each pre-token occurs in ``text``, special tokens cut out first."""
    counts = Counter()
    for piece in _split_special(text, special_tokens):
        if piece not in special_tokens:
            counts.update(PRETOKENIZE.findall(piece))
    return counts


class _MergeCandidate:
    """A pair in the heap of :func:`train_bpe`. ``heapq`` pops the smallest entry, so "smaller"
    here means "merged first": a higher count, then the greater (left bytes, right bytes)."""

    __slots__ = ("key", "pair")

    def __init__(self, count, left, right, pair):
        self.key, self.pair = (count, left, right), pair

    def __lt__(self, other):
        return self.key > other.key


def train_bpe(text, vocab_size, special_tokens=()):
    """Learn byte-level BPE merges on ``text`` (conventions in the module docstring).

    Repeatedly merge the most frequent adjacent pair of tokens inside the pre-tokens (each
    pre-token weighted by how often it occurs; ties: lexicographically greatest bytes) into a new
    token, until the vocabulary (256 bytes + merges + special tokens) has ``vocab_size`` entries or
    no pair is left.

    The pair counts are kept up to date instead of recounted for every merge: a merge changes only
    the words (distinct pre-tokens) that contain its pair, ``where[pair]``, and in each only the
    pairs around the merged tokens. The next pair to merge is the top of a heap; a pair whose
    count changes is pushed again, and an entry whose count is out of date is dropped when it
    reaches the top (lazy deletion).

    Returns:
        vocab: dict id -> bytes
        merges: list of (bytes, bytes), in the order they were learned
    """
    n_merges = vocab_size - 256 - len(special_tokens)
    if n_merges < 0:
        raise ValueError("vocab_size must be at least 256 + len(special_tokens)")
    vocab = {i: bytes([i]) for i in range(256)}
    counts = _pretoken_counts(text, special_tokens)
    words = [tuple(pre.encode("utf-8")) for pre in counts]  # distinct pre-tokens, as token ids
    weights = list(counts.values())  # how often each word occurs
    pairs = Counter()  # (left id, right id) -> occurrences in the text
    where = defaultdict(set)  # pair -> indices of the words it occurs in
    for w, word in enumerate(words):
        for pair in zip(word, word[1:]):
            pairs[pair] += weights[w]
            where[pair].add(w)

    def candidate(pair):
        return _MergeCandidate(pairs[pair], vocab[pair[0]], vocab[pair[1]], pair)

    heap = [candidate(pair) for pair in pairs]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        top = heapq.heappop(heap)
        if pairs.get(top.pair) != top.key[0]:
            continue  # out of date: the pair's count changed (or it was merged) since the push
        best, new_id = top.pair, len(vocab)
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        merges.append((vocab[best[0]], vocab[best[1]]))
        change = defaultdict(int)
        for w in list(where[best]):
            old = words[w]
            new = words[w] = _merge_word(old, best, new_id)
            # The word is unchanged before its first merged token and after its last, so only
            # the pairs from the token before the first to the token after the last change.
            head, tail = new.index(new_id), new[::-1].index(new_id)  # unchanged tokens
            old_span = old[max(head - 1, 0):len(old) - tail + 1]
            new_span = new[max(head - 1, 0):len(new) - tail + 1]
            for pair in zip(old_span, old_span[1:]):
                change[pair] -= weights[w]
            for pair in zip(new_span, new_span[1:]):
                change[pair] += weights[w]
                where[pair].add(w)
            for pair in set(zip(old_span, old_span[1:])) - set(zip(new, new[1:])):
                where[pair].discard(w)  # gone from the word (best among them)
        for pair, delta in change.items():
            if delta == 0:
                continue
            pairs[pair] += delta
            if pairs[pair] == 0:
                del pairs[pair], where[pair]
            else:
                heapq.heappush(heap, candidate(pair))
    for s in special_tokens:
        vocab[len(vocab)] = s.encode("utf-8")
    return vocab, merges


class BPETokenizer:
    """Encode text to ids and back with a byte-level BPE: merges learned by :func:`train_bpe`, or
    a vocabulary and merges made elsewhere (GPT-2's, say), whose ids need not follow this module's
    layout: every token, single bytes included, is looked up in ``vocab`` by its bytes.

    ``encode`` applies the merges to each pre-token in the order they were learned (always the
    lowest-ranked pair present first), which reproduces the segmentation seen in training.
    ``decode(encode(text)) == text`` for every string when the vocabulary has all 256 single bytes
    (encoding text that needs a missing byte raises ValueError).
    """

    CACHE_SIZE = 1 << 16  # pre-tokens whose ids are remembered (the cache is emptied when full)

    def __init__(self, vocab, merges, special_tokens=()):
        self.vocab = dict(vocab)
        self.special_tokens = tuple(special_tokens)
        self.bytes_to_id = {b: i for i, b in self.vocab.items()}
        self.byte_ids = [self.bytes_to_id.get(bytes([b])) for b in range(256)]  # None: missing
        self.special_ids = {s: self._id(s.encode("utf-8"), "special token") for s in
                            self.special_tokens}
        self._special = _special_pattern(self.special_tokens)
        # rank of a merge as a pair of ids -> (rank, id of the merged token)
        self.ranks = {(self._id(a, f"merge {r}"), self._id(b, f"merge {r}")):
                      (r, self._id(a + b, f"merge {r}")) for r, (a, b) in enumerate(merges)}
        self._cache = {}

    def _id(self, token, what):
        if token not in self.bytes_to_id:
            raise ValueError(f"{what}: the vocabulary has no token {token!r}")
        return self.bytes_to_id[token]

    def _encode_pretoken(self, pre):
        if pre in self._cache:
            return self._cache[pre]
        word = []
        for b in pre.encode("utf-8"):
            if self.byte_ids[b] is None:
                raise ValueError(f"the vocabulary has no token for the byte 0x{b:02x} "
                                 f"(in {pre!r}), so this text cannot be encoded")
            word.append(self.byte_ids[b])
        while len(word) > 1:
            ranked = [self.ranks[p] for p in zip(word, word[1:]) if p in self.ranks]
            if not ranked:
                break
            rank, new_id = min(ranked)
            pair = next(p for p in zip(word, word[1:]) if self.ranks.get(p, (None,))[0] == rank)
            word = _merge_word(word, pair, new_id)
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[pre] = list(word)
        return self._cache[pre]

    def encode(self, text):
        """Text -> list of token ids."""
        ids = []
        for piece in _split_special(text, self.special_tokens):
            if piece in self.special_ids:
                ids.append(self.special_ids[piece])
                continue
            for pre in PRETOKENIZE.findall(piece):
                ids.extend(self._encode_pretoken(pre))
        return ids

    def encode_iterable(self, chunks):
        """Yield the ids of ``"".join(chunks)``, exactly those of ``encode``, reading the chunks
        (strings, e.g. the lines of an open text file) one at a time.

        Memory: the chunks are never joined. What is kept between chunks is the tail that later
        text can still change: the last two pre-tokens read (see :meth:`_final_length`) and,
        where the text read ends with the beginning of a special token, that beginning. So at
        any time this holds one chunk, two pre-tokens and fewer characters than the longest
        special token, plus the ids of one chunk. (A pre-token is unbounded: a file made of one
        run of whitespace is held whole, and rescanned with every chunk.)
        """
        tail = ""
        for chunk in chunks:
            tail += chunk
            n = self._final_length(tail)
            if n:
                yield from self.encode(tail[:n])
                tail = tail[n:]
        yield from self.encode(tail)

    def _final_length(self, text):
        """The length of a prefix of ``text`` that ``encode`` splits the same way (special
        tokens and pre-tokens) whatever text follows, cut at a boundary between pieces.

        Special tokens: a match of the special-token regex is final unless the text, from a
        position at or before it, ends with a proper prefix of a special token (which more text
        could complete: an earlier or a longer special token then wins). Pre-tokens: only the
        last two of the ordinary text after the last final special token can change. The last
        can grow ("\\w+" continues) or shrink ("\\s+(?!\\S)" gives its last space to a word that
        follows); the one before it only when it is "'" and the last is "l", "v" or "r", which a
        following "l" or "e" turns into a contraction. Every earlier one has looked at the
        character after it and no further.
        """
        end = len(text)  # where ordinary text could still turn into a special token
        start = 0  # where the ordinary text after the last final special token begins
        if self._special is not None:
            longest = max(map(len, self.special_tokens))
            pending = [p for p in range(max(0, len(text) - longest + 1), len(text))
                       if any(len(s) > len(text) - p and s.startswith(text[p:])
                              for s in self.special_tokens)]
            for match in self._special.finditer(text):
                if any(start <= p <= match.start() for p in pending):
                    break
                start = match.end()
            end = next((p for p in pending if p >= start), len(text))
        last_two = deque((m.start() for m in PRETOKENIZE.finditer(text, start, end)), maxlen=2)
        return last_two[0] if len(last_two) == 2 else start

    def decode(self, ids):
        """List of token ids -> text (invalid UTF-8 from a partial sequence becomes U+FFFD)."""
        return b"".join(self.vocab[int(i)] for i in ids).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- packing and batches
def pack_documents(docs, seq_len, eos_id):
    """Pack documents into rows of exactly ``seq_len`` tokens, with no padding.

    The stream doc_1, EOS, doc_2, EOS, ... is cut into consecutive rows; the incomplete tail is
    dropped. A row may span a document boundary: the EOS token tells the model that what follows
    is unrelated (attention still crosses it, as in GPT-2-style packing).

    Shape:
        docs: a list of 1-D sequences of token ids (lists or int tensors)
        output: (n_rows, seq_len) int64, n_rows = (sum(len(d) + 1)) // seq_len
    """
    parts = []
    for d in docs:
        parts.append(torch.as_tensor(d, dtype=torch.long).reshape(-1))
        parts.append(torch.tensor([eos_id], dtype=torch.long))
    stream = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)  # (n,)
    n_rows = stream.numel() // seq_len
    return stream[: n_rows * seq_len].reshape(n_rows, seq_len)  # (n_rows, T)


def get_batch(tokens, batch_size, context_length, device="cpu", generator=None):
    """A random batch of next-token-prediction examples from a 1-D token stream.

    Starting offsets are drawn uniformly from {0, ..., n - T - 1} (every window whose target fits)
    by exactly ``torch.randint(0, n - T, (B,), generator=generator)`` on the CPU; row b is
    x = tokens[o_b : o_b + T] and y = tokens[o_b + 1 : o_b + T + 1] (y is x shifted by one).
    The mean loss of such a batch is an unbiased estimate of the mean loss over the n - T windows,
    not of a mean over the stream's targets: tokens 1..T-1 and n-T+1..n-1 lie in fewer than T
    windows (tokens 1 and n - 1 in one), every other target in exactly T.

    Shape:
        tokens: (n,) integer, n > T
        output: x (B, T) int64 and y (B, T) int64, on ``device``
    """
    n = tokens.shape[0]
    if n <= context_length:
        raise ValueError(f"need more than context_length={context_length} tokens, got {n}")
    offsets = torch.randint(0, n - context_length, (batch_size,), generator=generator)  # (B,)
    idx = offsets.unsqueeze(1) + torch.arange(context_length + 1)  # (B, T + 1)
    window = torch.as_tensor(tokens)[idx].long()  # (B, T + 1)
    return window[:, :-1].to(device), window[:, 1:].to(device)
