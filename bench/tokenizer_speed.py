"""Speed of the course's byte-level BPE against the libraries people use (ratios within one run).

On seeded multilingual text (``reference.data.multilingual_text``; 5 MB by default), trains a
vocabulary of 1000 with ``reference.data.train_bpe`` and with Hugging Face ``tokenizers``'
BpeTrainer (the same pre-tokenizer, ``PRETOKENIZE_PORTABLE``, then ByteLevel's 256-byte
alphabet; the whole text given as one string, as to ours), then encodes a second text of the same
size with ``BPETokenizer.encode`` (a fresh tokenizer: its pre-token cache starts empty) and with
tiktoken given the same merges and pattern (the ids must be identical: see
tests/reference/test_bpe_parity.py). One thread everywhere: torch.set_num_threads(1),
RAYON_NUM_THREADS=1 for tokenizers (set before it is imported), tiktoken's plain ``encode``.

Run: python bench/tokenizer_speed.py [--mb 5] [--vocab-size 1000]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from reference.data import PRETOKENIZE_PORTABLE, BPETokenizer, multilingual_text, train_bpe


def text_of(megabytes, seed):
    """Seeded multilingual text cut to ``megabytes`` MB of UTF-8 (at a character boundary)."""
    n_bytes = int(megabytes * 1e6)
    text = multilingual_text(n_bytes // 2 + 1, seed)  # at least 2 bytes per character here
    while len(text.encode("utf-8")) < n_bytes:
        text += multilingual_text(len(text) // 4 + 1, seed + 1000)
    return text.encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")


def seconds(fn):
    """Wall-clock seconds of ``fn()``, its result, and the process's CPU seconds over the wall
    seconds (about 1 when a single thread did the work)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, result, cpu / wall


def train_hf(text, vocab_size):
    """Hugging Face's trainer on our pre-tokens: split with our pattern, then bytes as
    ByteLevel's characters; vocab_size counts the 256 bytes, as ours does."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_PORTABLE), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([text], trainer)
    return tokenizer


def tiktoken_encoding(vocab, merges):
    import tiktoken

    return tiktoken.Encoding(name="llmcourse-bpe", pat_str=PRETOKENIZE_PORTABLE, special_tokens={},
                             mergeable_ranks={vocab[i]: i for i in range(256 + len(merges))})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=5.0, help="megabytes of text to train on "
                        "(and as many to encode)")
    parser.add_argument("--vocab-size", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ["RAYON_NUM_THREADS"] = "1"  # read by tokenizers' thread pool, imported later
    train_text, encode_text = text_of(args.mb, seed=0), text_of(args.mb, seed=1)
    mb = len(encode_text.encode("utf-8")) / 1e6

    ours_train, (vocab, merges), _ = seconds(lambda: train_bpe(train_text, args.vocab_size))
    hf_train, hf, hf_cores = seconds(lambda: train_hf(train_text, args.vocab_size))
    tokenizer, encoding = BPETokenizer(vocab, merges), tiktoken_encoding(vocab, merges)
    ours_encode, ours_ids, _ = seconds(lambda: tokenizer.encode(encode_text))
    tiktoken_encode, tiktoken_ids, _ = min(seconds(lambda: encoding.encode(encode_text))
                                           for _ in range(3))

    print(f"text: {len(train_text.encode('utf-8')) / 1e6:.2f} MB to train on "
          f"({len(train_text):,} characters), {mb:.2f} MB to encode; vocabulary "
          f"{args.vocab_size} ({len(merges)} merges; Hugging Face: {hf.get_vocab_size()} ids)")
    print(f"threads: torch {torch.get_num_threads()}, RAYON_NUM_THREADS="
          f"{os.environ['RAYON_NUM_THREADS']} (tokenizers; its CPU/wall time while training "
          f"{hf_cores:.2f}), tiktoken encode (one thread)")
    print(f"identical ids from tiktoken: {'yes' if ours_ids == tiktoken_ids else 'NO'}")
    print(f"{'':<22}{'ours':>12}{'library':>12}{'ours/library':>14}   library")
    print(f"{'train (s)':<22}{ours_train:>12.2f}{hf_train:>12.2f}"
          f"{ours_train / hf_train:>14.2f}   tokenizers BpeTrainer (target: ratio <= 3)")
    print(f"{'encode (MB/s)':<22}{mb / ours_encode:>12.2f}{mb / tiktoken_encode:>12.2f}"
          f"{tiktoken_encode / ours_encode:>14.3f}   tiktoken (throughput ratio)")


if __name__ == "__main__":
    main()
