"""Chapter 9 — Training at scale: the graded exercises and the cases they are graded on.

Each ``*_cases`` function declares inputs only; expected outputs come from the live reference
(``reference/data.py``, ``reference/train.py``). Tokenizers, batching, accumulation and the
training loop are exercised by ``driver`` programs (run in the worker around the student's code)
that turn what they return (bytes, dicts, histories) into tensors. ``get_batch`` also carries a
5-sigma check that its starting offsets are uniform, so feedback can say *how* a draw is wrong.
"""

from __future__ import annotations

import math

import torch

from autograder.chapters import ch09_catalog as catalog
from autograder.spec import Case, CaseBuilder, Chapter, Exercise
from reference.data import BPETokenizer, get_batch, pack_documents, train_bpe
from reference.train import accumulate_gradients, estimate_mfu, train

F32, F64, BF16 = torch.float32, torch.float64, torch.bfloat16


def _spread(cases):
    """Tokenizers, packing and batching compute on integers and are compared exactly, so a case's
    dtype changes nothing for them; the platform asks every exercise for float64, float32 and
    bfloat16 cases, so those cases are labelled round-robin (the label is all that differs)."""
    for i, c in enumerate(cases):
        c.dtype = (F32, F64, BF16)[i % 3]
    return cases

BUILTIN_GET_BATCH = (
    "lambda tokens, batch_size, context_length, device='cpu', generator=None: (lambda o: ("
    "torch.stack([tokens[i:i + context_length] for i in o.tolist()]).long().to(device), "
    "torch.stack([tokens[i + 1:i + 1 + context_length] for i in o.tolist()]).long().to(device)))("
    "torch.randint(0, tokens.shape[0] - context_length, (batch_size,), generator=generator))")
BUILTIN_ACCUMULATE = (
    "lambda model, micro_batches, loss_fn: (lambda x, y: (lambda loss: ([setattr(p, 'grad', None)"
    " for p in model.parameters()], loss.backward(), loss.detach())[-1])(loss_fn(model(x), y)))("
    "torch.cat([a for a, _ in micro_batches]), torch.cat([b for _, b in micro_batches]))")


# =========================================================================== drivers
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
    return (torch.tensor(flat_merges, dtype=torch.long), torch.tensor(flat_vocab, dtype=torch.long))


def drive_tokenizer(cls, vocab_items, merge_items, special_tokens, texts):
    """Build ``cls(vocab, merges, special_tokens)`` from JSON-friendly lists, encode each text;
    returns every text's ids (-1 between texts) and, per text, whether decode(encode(t)) == t."""
    vocab = {int(i): bytes(b) for i, b in vocab_items}
    merges = [(bytes(a), bytes(b)) for a, b in merge_items]
    tok = cls(vocab, merges, tuple(special_tokens))
    ids, ok = [], []
    for t in texts:
        enc = [int(i) for i in tok.encode(t)]
        ids += enc + [-1]
        ok.append(int(tok.decode(enc) == t))
    return torch.tensor(ids, dtype=torch.long), torch.tensor(ok, dtype=torch.long)


def drive_get_batch(fn, tokens, batch_size, context_length, seed):
    """Call the student's function with a freshly seeded CPU generator."""
    return fn(tokens, batch_size, context_length, "cpu", torch.Generator().manual_seed(seed))


def drive_accumulate(fn, emb, w, b, xs, ys, sizes):
    """Split (xs, ys) into micro-batches of ``sizes`` rows, start from stale gradients (ones), and
    accumulate; returns the loss and the gradients of the embedding, head weight and bias."""
    V, D = emb.shape
    model = torch.nn.Sequential(torch.nn.Embedding(V, D), torch.nn.Linear(D, V)).to(emb.dtype)
    with torch.no_grad():
        model[0].weight.copy_(emb)
        model[1].weight.copy_(w)
        model[1].bias.copy_(b)
    for p in model.parameters():
        p.grad = torch.ones_like(p)

    def loss_fn(logits, y):
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))

    micro = list(zip(torch.split(xs, sizes), torch.split(ys, sizes)))
    loss = fn(model, micro, loss_fn)
    return (torch.as_tensor(loss).detach().reshape(()).to(emb.dtype), model[0].weight.grad,
            model[1].weight.grad, model[1].bias.grad)


def drive_train(fn, train_tokens, val_tokens, emb, w, b, settings, stop_at_step=None):
    """Run ``fn(model, train_tokens, val_tokens, config)`` on a bigram model with the given
    weights; ``config`` is a frozen dataclass with the fields in ``settings``. With
    ``stop_at_step`` the run is interrupted there and resumed from its checkpoint into a model
    whose weights were zeroed (and with a different global RNG state). Returns the training-loss,
    learning-rate and validation-loss histories and the final weights."""
    import dataclasses
    import os
    import tempfile

    V, D = emb.shape
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}  # JSON lists

    def config(**extra):
        values = {**fields, **extra}
        cls = dataclasses.make_dataclass(
            "TrainConfig", [(k, object, dataclasses.field(default=v)) for k, v in values.items()],
            frozen=True)
        return cls()

    def model_with(e, ww, bb):
        m = torch.nn.Sequential(torch.nn.Embedding(V, D), torch.nn.Linear(D, V)).to(emb.dtype)
        with torch.no_grad():
            m[0].weight.copy_(e)
            m[1].weight.copy_(ww)
            m[1].bias.copy_(bb)
        return m

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ckpt.pt")
        model = model_with(emb, w, b)
        if stop_at_step is None:
            hist = fn(model, train_tokens, val_tokens, config(checkpoint_path=None))
        else:
            fn(model, train_tokens, val_tokens, config(checkpoint_path=path,
                                                       stop_at_step=stop_at_step))
            torch.manual_seed(1234)
            model = model_with(torch.zeros_like(emb), torch.zeros_like(w), torch.zeros_like(b))
            hist = fn(model, train_tokens, val_tokens, config(checkpoint_path=path))
    as_t = lambda xs: torch.tensor([float(x) for x in xs], dtype=emb.dtype)  # noqa: E731
    return (as_t(hist["train_loss"]), as_t(hist["lr"]), as_t(hist["val_loss"]),
            torch.cat([p.detach().reshape(-1) for p in model.parameters()]))


# =========================================================================== BPE
BPE_TEXTS = {
    "English sentences": ("the cat sat on the mat. the dog sat on the log! "
                          "low lower lowest newer newest wider widest ") * 3,
    "ties everywhere": "ab cd ab cd ef gh ef gh",
    "Unicode": "héllo wörld, ünïcödé ünïcödé 日本語の文 日本語 🙂🙂 🙂 naïve naïve ",
    "repeated letters": "aaaa aaa aa a bbbb bbb aaaa",
}


def bpe_cases(b: CaseBuilder) -> list[Case]:
    cases = []

    def case(name, text, vocab_size, special=(), tags=(), public=False):
        cases.append(Case(f"{name}, vocab {vocab_size}", [text, vocab_size, list(special)], {},
                          F32, tags, public, n_outputs=2))
    case("English sentences", BPE_TEXTS["English sentences"], 300, public=True)
    case("ties everywhere", BPE_TEXTS["ties everywhere"], 262, tags=("ties",), public=True)
    case("Unicode", BPE_TEXTS["Unicode"], 290, tags=("multi-byte characters",))
    case("repeated letters", BPE_TEXTS["repeated letters"], 262, tags=("overlapping pairs",))
    case("with a special token", "one two<|eot|>two three<|eot|>one one two three " * 3, 264,
         special=("<|eot|>",), tags=("special tokens",), public=True)
    case("runs out of pairs", "ab ab", 300, tags=("fewer merges than asked",))
    return _spread(cases)


def tokenizer_cases(b: CaseBuilder) -> list[Case]:
    cases = []

    def case(name, corpus, vocab_size, texts, special=(), tags=(), public=False):
        vocab, merges = train_bpe(corpus, vocab_size, special)
        args = [[[i, list(v)] for i, v in sorted(vocab.items())],
                [[list(x), list(y)] for x, y in merges], list(special), texts]
        cases.append(Case(name, args, {}, F32, tags, public, n_outputs=2))
    eng = BPE_TEXTS["English sentences"]
    case("English: training text and new text", eng, 300,
         ["the cat sat on the mat.", "the newest lowest mat sat", ""], public=True)
    case("Unicode round trip", BPE_TEXTS["Unicode"], 290,
         ["héllo 日本語 🙂", "never seen: Ωμέγα ∑ 𝔘𝔫𝔦", "\x00\t\n  spaces  "],
         tags=("multi-byte characters",), public=True)
    case("merge order matters", "ab abc abcd bcd bcd cd cd cd", 264,
         ["abcd", "bcd abc", "cdab"], tags=("merge priority",))
    case("repeated letters", BPE_TEXTS["repeated letters"], 262, ["aaaaa", "aaa a"],
         tags=("overlapping pairs",))
    case("spaces between pre-tokens", "x    the   cat  the    hat   " * 4, 266,
         ["x  the", "cat    hat", "  the  "], tags=("whitespace runs",))
    case("special tokens", "one two<|eot|>two three " * 4, 275,
         ["one<|eot|>two", "<|eot|><|eot|>three", "<|eot"], special=("<|eot|>",),
         tags=("special tokens",), public=True)
    return _spread(cases)


# =========================================================================== packing, batches
def pack_cases(b: CaseBuilder) -> list[Case]:
    cases = []

    def case(name, docs, seq_len, eos, tags=(), public=False):
        cases.append(Case(name, [docs, seq_len, eos], {}, F32, tags, public))
    case("3 short documents, rows of 3", [[1, 2, 3], [4, 5], [6]], 3, 0, public=True)
    case("exact fit", [[5, 6, 7], [8, 9, 10]], 4, 99, ("no tail",), public=True)
    case("tail dropped", [[1] * 5, [2] * 7, [3] * 2], 4, 0, ("tail",))
    case("empty document", [[1, 2], [], [3, 4, 5]], 2, 7, ("empty document",))
    docs = [b.randint(1, 50, (int(n),)).tolist() for n in b.randint(0, 20, (12,))]
    case("12 random documents, rows of 16", docs, 16, 0, ("random",))
    return _spread(cases)


def _uniform_offsets_check(n, t):
    """Every admissible starting offset 0..N-T-1 is drawn with probability 1/(N-T): each count
    within 5 binomial standard deviations, and none outside the range."""
    def check(outputs, case):
        x = outputs[0].long().cpu()
        draws, k = x.shape[0], n - t
        start = x[:, 0]  # tokens are arange(N): the first token is the offset
        if int(start.min()) < 0 or int(start.max()) > k - 1:
            return f"a window starts at {int(start.max())}, past the last admissible offset {k - 1}"
        counts = torch.bincount(start, minlength=k).double()
        p = 1 / k
        sd = math.sqrt(draws * p * (1 - p))
        worst = int((counts - draws * p).abs().argmax())
        if abs(float(counts[worst]) - draws * p) > 5 * sd:
            return (f"offset {worst} was drawn {int(counts[worst])} times in {draws}, expected "
                    f"{draws * p:.0f} ± {sd:.0f}: the offsets are not uniform on 0..N−T−1")
        return None
    return check


def batch_cases(b: CaseBuilder) -> list[Case]:
    cases = []

    def case(name, tokens, bs, t, seed, tags=(), public=False, checks=()):
        cases.append(Case(name, [tokens, bs, t, seed], {}, F32, tags, public, n_outputs=2,
                          checks=checks))
    case("tokens arange(50), B=4, T=8", torch.arange(50), 4, 8, 0, public=True)
    case("random int32 tokens, B=8, T=16", b.randint(0, 100, (300,)).int(), 8, 16, 1,
         ("int32 token storage",), public=True)
    case("uint8 tokens, B=5, T=3", b.randint(0, 250, (40,)).to(torch.uint8), 5, 3, 4,
         ("uint8 token storage",))
    case("N = T + 1 (one window)", torch.arange(9), 3, 8, 2, ("one admissible window",))
    case("30000 draws (uniformity)", torch.arange(24), 30000, 4, 3, ("statistics",),
         checks=(_uniform_offsets_check(24, 4),))
    return _spread(cases)


# =========================================================================== accumulation
def accumulate_cases(b: CaseBuilder) -> list[Case]:
    cases = []
    for dtype in (F64, F32, BF16):
        def case(name, sizes, t=6, v=11, d=8, tags=(), public=False):
            n = sum(sizes)
            args = [b.randn(v, d, dtype=dtype), b.randn(v, d, dtype=dtype, scale=0.3),
                    b.randn(v, dtype=dtype, scale=0.1), b.randint(0, v, (n, t)),
                    b.randint(0, v, (n, t)), list(sizes)]
            cases.append(Case(f"{str(dtype)[6:]}, {name}", args, {}, dtype, tags,
                              public and dtype == F32, n_outputs=4))
        case("4 micro-batches of 3", (3, 3, 3, 3), public=True)
        case("one micro-batch", (5,), tags=("k = 1",), public=True)
        case("unequal micro-batches 1, 4, 2", (1, 4, 2), tags=("unequal sizes",))
    return cases


# =========================================================================== MFU
def mfu_cases(b: CaseBuilder) -> list[Case]:
    cases = []

    for dtype in (F64, F32):
        def case(name, fpt, tps, peak, public=False):
            if dtype == F64:  # plain Python numbers, the usual way to call it
                cases.append(Case(f"Python floats, {name}", [fpt, tps, peak], {}, dtype, (),
                                  public))
            t = [torch.tensor(v, dtype=F64).to(dtype) for v in (fpt, tps, peak)]
            cases.append(Case(f"{str(dtype)[6:]} tensors, {name}", t, {}, dtype, ("tensors",)))
        case("124M model at 1e5 tok/s on 312 TFLOP/s", 6 * 124e6, 1e5, 312e12, public=True)
        case("small model on a CPU", 6 * 2e6 + 12 * 2 * 64 * 128, 2.5e4, 2e11, public=True)
        case("perfect utilisation", 1e9, 1e3, 1e12)
    t = [torch.tensor(v, dtype=F64).to(BF16) for v in (6 * 124e6, 1e5, 312e12)]
    cases.append(Case("bfloat16 tensors, 124M model at 1e5 tok/s", t, {}, BF16, ("tensors",)))
    return cases


# =========================================================================== training loop
TRAIN_SETTINGS = dict(max_steps=24, batch_size=4, grad_accum_steps=2, context_length=8, lr=3e-2,
                      min_lr=3e-3, warmup_steps=4, weight_decay=0.1, betas=(0.9, 0.95),
                      grad_clip=1.0, eval_interval=8, eval_batches=2, dtype="float32",
                      device="cpu", seed=0, checkpoint_path=None, checkpoint_interval=100,
                      resume=True, stop_at_step=None, peak_flops=1e12, log_interval=8,
                      progress=False)


def train_cases(b: CaseBuilder) -> list[Case]:
    from reference.data import markov_chain, sample_markov

    probs = markov_chain(8, 1, seed=5)
    g = torch.Generator().manual_seed(5)
    tokens, val = sample_markov(probs, 3000, g), sample_markov(probs, 600, g)
    cases = []
    for dtype in (F64, F32, BF16):
        def case(name, tags=(), public=False, stop=None, **changes):
            settings = {**TRAIN_SETTINGS, **changes}
            args = [tokens, val, b.randn(8, 6, dtype=dtype), b.randn(8, 6, dtype=dtype, scale=0.4),
                    b.randn(8, dtype=dtype, scale=0.1), settings]
            cases.append(Case(f"{str(dtype)[6:]}, {name}", args, {"stop_at_step": stop}, dtype,
                              tags, public and dtype == F32, n_outputs=4))
        case("24 steps, accumulation 2", public=True)
        if dtype == BF16:  # one bfloat16 run: the loop computes in the model's own dtype
            continue
        case("no clipping, no accumulation", ("no clipping",), grad_clip=0.0, grad_accum_steps=1)
        case("tight clipping, long warmup", ("clipping active",), grad_clip=0.05, warmup_steps=12)
        case("interrupted at step 11 and resumed", ("resume",), public=True, stop=11)
    return cases


# =========================================================================== the chapter
CHAPTER = Chapter(
    id="ch09",
    title="Training at scale: tokenization, data pipelines, the training loop",
    notebook="ch09_training/ch09_training.py",
    exercises=[
        Exercise(
            "ch09.train_bpe", "train_bpe", 2.0, train_bpe, bpe_cases, driver=drive_train_bpe,
            mistakes=catalog.BPE_MISTAKES, alternatives=catalog.BPE_ALTERNATIVES),
        Exercise(
            "ch09.BPETokenizer", "BPETokenizer", 2.0, BPETokenizer, tokenizer_cases,
            driver=drive_tokenizer,
            mistakes=catalog.TOKENIZER_MISTAKES, alternatives=catalog.TOKENIZER_ALTERNATIVES),
        Exercise(
            "ch09.pack_documents", "pack_documents", 1.0, pack_documents, pack_cases,
            mistakes=catalog.PACK_MISTAKES, alternatives=catalog.PACK_ALTERNATIVES),
        Exercise(
            "ch09.get_batch", "get_batch", 1.0, get_batch, batch_cases, driver=drive_get_batch,
            mistakes=catalog.BATCH_MISTAKES, alternatives=catalog.BATCH_ALTERNATIVES),
        Exercise(
            "ch09.accumulate_gradients", "accumulate_gradients", 1.5, accumulate_gradients,
            accumulate_cases, driver=drive_accumulate,
            mistakes=catalog.ACCUMULATE_MISTAKES, alternatives=catalog.ACCUMULATE_ALTERNATIVES),
        Exercise(
            "ch09.estimate_mfu", "estimate_mfu", 0.5, estimate_mfu, mfu_cases,
            mistakes=catalog.MFU_MISTAKES, alternatives=catalog.MFU_ALTERNATIVES),
        Exercise(
            "ch09.train", "train", 3.0, train, train_cases, driver=drive_train,
            substitutes={"get_batch": BUILTIN_GET_BATCH,
                         "accumulate_gradients": BUILTIN_ACCUMULATE},
            timeout_floor_s=60.0,
            mistakes=catalog.TRAIN_MISTAKES, alternatives=catalog.TRAIN_ALTERNATIVES),
    ],
)
