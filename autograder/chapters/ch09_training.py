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
from reference.distributed import all_reduce_gradients, ddp_train_step
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
BUILTIN_ALL_REDUCE = (
    "lambda model: [(__import__('torch.distributed').distributed.all_reduce(p.grad), "
    "p.grad.div_(__import__('torch.distributed').distributed.get_world_size())) "
    "for p in model.parameters() if p.grad is not None] and None")


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


def drive_train(fn, train_tokens, val_tokens, emb, w, b, settings, stop_at_step=None,
                observe=False, time_it=False):
    """Run ``fn(model, train_tokens, val_tokens, config)`` on a bigram model with the given
    weights; ``config`` is a frozen dataclass with the fields in ``settings``. With
    ``stop_at_step`` the run is interrupted there and resumed from its checkpoint into a model
    whose weights were zeroed (and with a different global RNG state). Returns the training-loss,
    learning-rate and validation-loss histories and the final weights.

    With ``observe`` it returns measurements instead: how many forward passes of the model it
    was given ran under autocast, and how many did not, during one run (a forward hook on the
    model's head, its Linear, sees each output: under autocast it has the configured dtype,
    e.g. bfloat16, although the weights stay float32; float32 logits, or weights cast to the low
    precision, count as not under autocast). Only the given model's own computations count:
    low-precision work elsewhere in the process earns nothing. Then, with ``time_it``, the tokens
    per second of ``fn`` and of a plain baseline loop doing the same work on the same model and
    data (autocast, cross-entropy, backward, clipping, an AdamW step), timed alternately in this
    process, best of two each (0, 0 without ``time_it``); the timed runs carry no hook."""
    import dataclasses
    import os
    import tempfile
    import time

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

    if observe:
        compute = getattr(torch, fields["dtype"])  # the configured low precision, e.g. bfloat16
        counts = [0, 0]  # forward passes [under autocast, not under autocast]

        def count(head, inputs, output):
            autocast = output.dtype == compute and head.weight.dtype != compute
            counts[0 if autocast else 1] += 1

        model = model_with(emb, w, b)
        hook = model[1].register_forward_hook(count)
        try:
            fn(model, train_tokens, val_tokens, config(checkpoint_path=None))
        finally:
            hook.remove()
        seen = torch.tensor(counts, dtype=torch.long)
        if not time_it:
            return seen, torch.zeros(2, dtype=torch.float64)
        cfg = config(checkpoint_path=None)
        dev = torch.device(cfg.device)
        low = getattr(torch, cfg.dtype)
        tokens = cfg.max_steps * cfg.grad_accum_steps * cfg.batch_size * cfg.context_length

        def baseline(model):
            model.to(dev).train()
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas,
                                    weight_decay=cfg.weight_decay, foreach=False)
            gen = torch.Generator().manual_seed(cfg.seed)
            data = train_tokens.cpu()
            for step in range(cfg.max_steps):
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
                opt.zero_grad(set_to_none=True)
                for _ in range(cfg.grad_accum_steps):
                    i = torch.randint(0, len(data) - cfg.context_length, (cfg.batch_size,),
                                      generator=gen)
                    rows = i[:, None] + torch.arange(cfg.context_length + 1)
                    xy = data[rows].to(dev, non_blocking=True)
                    with torch.autocast(dev.type, dtype=low):
                        logits = model(xy[:, :-1])
                    loss = torch.nn.functional.cross_entropy(
                        logits.float().reshape(-1, V), xy[:, 1:].reshape(-1))
                    (loss / cfg.grad_accum_steps).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
            float(loss)  # one synchronisation at the end, like a loop that logs rarely

        def timed(run):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            start = time.perf_counter()
            run()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            return tokens / (time.perf_counter() - start)

        theirs, ours = [], []
        for _ in range(2):
            theirs.append(timed(lambda: fn(model_with(emb, w, b), train_tokens, val_tokens, cfg)))
            ours.append(timed(lambda: baseline(model_with(emb, w, b))))
        return seen, torch.tensor([max(theirs), max(ours)], dtype=torch.float64)

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


def drive_data_parallel(fn, mode, emb, w, b, xs, ys, lr, unused_param=False, deadline_s=30.0):
    """Run the student's function on two processes, as data parallelism runs it.

    The worker forks two ranks (gloo over loopback, a ``file://`` rendezvous in a fresh temporary
    folder, so no network and nothing importable by name is needed). Rank r owns rows
    ``r::2`` of every batch in ``xs``/``ys`` (shape (steps, 2·B, T)) and a bigram model
    (embedding ``emb``, head ``w``, ``b``; with ``unused_param`` also a parameter the forward
    never touches, so its gradient stays None).

    mode "all_reduce": each rank computes the mean loss of its rows of ``xs[0]``, backpropagates
        and calls ``fn(model)``; returns each rank's gradients (flattened), rank 0 then rank 1.
    mode "step": each rank starts from stale gradients (ones) and calls
        ``fn(model, optimizer, x, y, loss_fn)`` once per batch with SGD (lr, momentum 0.9);
        returns each rank's losses, then each rank's final weights (flattened).
    A rank that raises, or a pair of ranks still running after ``deadline_s`` (one rank waiting
    in a collective the other never calls), becomes an error that names the rank.
    """
    import datetime
    import os
    import sys
    import tempfile
    import time
    import traceback

    import torch.distributed as dist

    V, D = emb.shape

    def rank_main(rank, folder):
        torch.set_num_threads(1)  # no thread pool inherited across fork
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"
        dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
                                world_size=2, timeout=datetime.timedelta(seconds=deadline_s / 3))
        model = torch.nn.Sequential(torch.nn.Embedding(V, D), torch.nn.Linear(D, V)).to(emb.dtype)
        if unused_param:
            model.register_parameter("unused", torch.nn.Parameter(torch.zeros(3, dtype=emb.dtype)))
        with torch.no_grad():
            model[0].weight.copy_(emb)
            model[1].weight.copy_(w)
            model[1].bias.copy_(b)

        def loss_fn(logits, y):
            return torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))

        if mode == "all_reduce":
            loss_fn(model(xs[0][rank::2]), ys[0][rank::2]).backward()
            fn(model)
            out = [torch.cat([p.grad.reshape(-1) for p in model.parameters()
                              if p.grad is not None])]
        else:
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
            for p in model.parameters():
                p.grad = torch.ones_like(p)
            losses = [torch.as_tensor(fn(model, opt, x[rank::2], y[rank::2], loss_fn)).detach()
                      .reshape(()).to(emb.dtype) for x, y in zip(xs, ys)]
            out = [torch.stack(losses),
                   torch.cat([p.detach().reshape(-1) for p in model.parameters()])]
        dist.destroy_process_group()
        torch.save([t.contiguous() for t in out], f"{folder}/rank{rank}.pt")

    warm = torch.nn.Parameter(torch.zeros(1))  # the first optimizer step imports torch._dynamo
    warm.grad = torch.zeros(1)  # (about a second): pay it once here, not in every forked rank
    torch.optim.SGD([warm], lr=0.1, momentum=0.9).step()
    with tempfile.TemporaryDirectory() as folder:
        pids = []
        for rank in range(2):
            pid = os.fork()
            if pid == 0:  # the child never returns into the caller's stack
                code = 1
                try:
                    rank_main(rank, folder)
                    code = 0
                except BaseException as e:  # noqa: BLE001 - reported by the parent
                    frames = traceback.extract_tb(e.__traceback__)
                    where = next((f" (line {f.lineno} of your answer cell)"
                                  for f in reversed(frames) if f.filename.startswith("<answer")),
                                 "")
                    text = f"{type(e).__name__}: {e}".rstrip(": ") + where
                    with open(f"{folder}/rank{rank}.err", "w") as fh:
                        fh.write(text[:600])
                finally:
                    for stream in (sys.stdout, sys.stderr):
                        try:
                            stream.flush()
                        except Exception:  # noqa: BLE001
                            pass
                    os._exit(code)
            pids.append(pid)
        end, codes = time.monotonic() + deadline_s, {}
        while len(codes) < 2 and time.monotonic() < end:
            for pid in pids:
                if pid not in codes:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        codes[pid] = status
            if any(status != 0 for status in codes.values()):
                end = min(end, time.monotonic() + 1.0)  # the other rank gets a second to fail too
            time.sleep(0.005)
        hung = [r for r, pid in enumerate(pids) if pid not in codes]
        for r in hung:
            os.kill(pids[r], 9)
            os.waitpid(pids[r], 0)
        errors = {}
        for r in range(2):
            if os.path.exists(f"{folder}/rank{r}.err"):
                with open(f"{folder}/rank{r}.err") as fh:
                    errors[r] = fh.read()
        hint = ("every rank must call the same collectives (all_reduce, broadcast, barrier, ...) "
                "in the same order; a rank waiting in one the other rank never calls hangs")
        if errors:
            collective = ("timed out", "connection closed", "connection reset", "by peer")
            own = {r: e for r, e in errors.items() if not any(k in e.lower() for k in collective)}
            if not own:
                raise RuntimeError(
                    f"rank {min(errors)} failed inside a collective because the other rank never "
                    f"joined it: {hint}")
            texts = sorted(set(own.values()))
            ranks = " and ".join(str(r) for r in own)
            message = (f"rank {ranks} raised {texts[0]}" if len(texts) == 1 else
                       "; ".join(f"rank {r} raised {e}" for r, e in own.items()))
            if all(e.startswith("NotImplementedError") for e in own.values()):
                raise NotImplementedError(message)
            raise RuntimeError(message)
        if hung:
            raise RuntimeError(f"rank(s) {', '.join(map(str, hung))} still running after "
                               f"{deadline_s:.0f} s and killed: {hint}")
        outs = [torch.load(f"{folder}/rank{r}.pt", weights_only=True) for r in range(2)]
    if mode == "all_reduce":
        return outs[0][0], outs[1][0]
    return outs[0][0], outs[1][0], outs[0][1], outs[1][1]


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


def _approaches_floor(floor: float, margin: float):
    """The run learns the language: its last validation loss is within ``margin`` nats of the
    language's entropy rate (a bigram model can represent an order-1 chain exactly, so the floor
    is reachable; the margin leaves room for a finite run and a finite validation sample).
    Judged on its own (the case's outputs are not compared with the reference), so a loop that
    learns but differs in details from the reference still earns this case."""
    def check(outputs, case):
        val = outputs[2].double()
        if val.numel() == 0 or not torch.isfinite(val).all():
            return "the validation-loss history is empty or not finite"
        last = float(val[-1])
        if last > floor + margin:
            return (f"the validation loss ends at {last:.3f} nats (it started at "
                    f"{float(val[0]):.3f}): not within {margin} of the entropy floor {floor:.3f} "
                    "after the step budget, so the loop does not learn what it should")
        return None
    return check


def _autocast_used(steps: int) -> tuple:
    """Under ``dtype="bfloat16"`` every forward pass of the model the loop was given (training
    and evaluation) runs under autocast: its logits are bfloat16 while its weights stay float32.
    The measurement (``drive_train`` with ``observe``) counts that model's forward passes under
    autocast and not, so low-precision work outside the model counts for nothing. Three checks,
    so that a catalogued mistake is named only for the same failure: the model given is trained
    (a run of ``steps`` steps calls it at least once per step), some forward passes run under
    autocast, all of them do."""
    def model_trained(outputs, case):
        low, full = (int(v) for v in outputs[0])
        if low + full < steps:
            return (f"the model given to train ran {low + full} forward passes in {steps} steps: "
                    "the loop must train that model, calling model(x) for every micro-batch")
        return None

    def some(outputs, case):
        low, full = (int(v) for v in outputs[0])
        if low == 0:
            return (f"none of the model's {full} forward passes ran under autocast (its logits "
                    "were not bfloat16 from float32 weights): with config.dtype 'bfloat16' the "
                    "forward passes must run under torch.autocast(device_type, "
                    "dtype=torch.bfloat16), with the weights left in float32")
        return None

    def every(outputs, case):
        low, full = (int(v) for v in outputs[0])
        if full > 0:
            return (f"{full} of the model's {low + full} forward passes ran outside autocast "
                    "(float32 logits, or weights cast to low precision): every forward pass, "
                    "training and evaluation, must run under torch.autocast(device_type, "
                    "dtype=torch.bfloat16)")
        return None
    return model_trained, some, every


def _fast_enough(ratio: float):
    """The student's loop keeps up with a plain loop doing the same work on the same model."""
    def check(outputs, case):
        theirs, plain = (float(v) for v in outputs[1])
        if theirs < ratio * plain:
            return (f"{theirs:,.0f} tokens/s, below {ratio} × the {plain:,.0f} tokens/s of a plain "
                    "loop doing the same work on the same model: look for a synchronisation "
                    "every step (.item(), float(loss), print), data built on the CPU each "
                    "micro-step, or work repeated every step")
        return None
    return check


def _observed_cases(b: CaseBuilder, tokens, val) -> list[Case]:
    """Measurements rather than values: autocast in use (CPU and CUDA), and on CUDA the
    throughput against a plain loop timed in the same process."""
    cpu = {**TRAIN_SETTINGS, "dtype": "bfloat16", "max_steps": 4}
    cases = [Case("float32 weights, dtype 'bfloat16' on CPU: autocast in use",
                  [tokens, val, b.randn(8, 6, dtype=F32), b.randn(8, 6, dtype=F32, scale=0.4),
                   b.randn(8, dtype=F32, scale=0.1), cpu],
                  {"observe": True}, F32, ("autocast",), n_outputs=2, compared=(),
                  checks=_autocast_used(cpu["max_steps"]))]
    if any(d.startswith("cuda") for d in b.devices):
        v, d = 256, 512
        cuda = {**TRAIN_SETTINGS, "device": "cuda", "dtype": "bfloat16", "max_steps": 60,
                "batch_size": 32, "context_length": 128, "eval_interval": 60, "log_interval": 60}
        cases.append(Case(
            "CUDA, float32 weights, dtype 'bfloat16': autocast in use, throughput",
            [tokens, val, b.randn(v, d, dtype=F32), b.randn(v, d, dtype=F32, scale=d ** -0.5),
             b.randn(v, dtype=F32, scale=0.1), cuda],
            {"observe": True, "time_it": True}, F32, ("autocast", "throughput"), device="cuda",
            n_outputs=2, compared=(),
            checks=(*_autocast_used(cuda["max_steps"]), _fast_enough(0.8))))
    return cases


def train_cases(b: CaseBuilder) -> list[Case]:
    from reference.data import entropy_rate, markov_chain, sample_markov

    probs = markov_chain(8, 1, seed=5)
    floor = entropy_rate(probs)
    g = torch.Generator().manual_seed(5)
    tokens, val = sample_markov(probs, 3000, g), sample_markov(probs, 600, g)
    cases = []
    for dtype in (F64, F32, BF16):
        def case(name, tags=(), public=False, stop=None, checks=(), compared=None, **changes):
            settings = {**TRAIN_SETTINGS, **changes}
            args = [tokens, val, b.randn(8, 6, dtype=dtype), b.randn(8, 6, dtype=dtype, scale=0.4),
                    b.randn(8, dtype=dtype, scale=0.1), settings]
            cases.append(Case(f"{str(dtype)[6:]}, {name}", args, {"stop_at_step": stop}, dtype,
                              tags, public and dtype == F32, n_outputs=4, checks=checks,
                              compared=compared))
        case("24 steps, accumulation 2", public=True)
        if dtype == BF16:  # one bfloat16 run: the loop computes in the model's own dtype
            continue
        case("no clipping, no accumulation", ("no clipping",), grad_clip=0.0, grad_accum_steps=1)
        case("tight clipping, long warmup", ("clipping active",), grad_clip=0.05, warmup_steps=12)
        case("interrupted at step 11 and resumed", ("resume",), public=True, stop=11)
        case("120 steps towards the entropy floor", ("loss floor",), max_steps=120, lr=5e-2,
             batch_size=8, context_length=16, warmup_steps=5, eval_interval=40, eval_batches=8,
             checks=(_approaches_floor(floor, 0.1),), compared=())
    return cases + _observed_cases(b, tokens, val)


# =========================================================================== data parallelism
def _dp_cases(b: CaseBuilder, mode: str, public_name: str) -> list[Case]:
    cases = []
    for dtype in (F64, F32, BF16):
        def case(name, steps=1, rows=3, v=7, d=5, tags=(), public=False, unused=False, lr=0.1):
            args = [mode, b.randn(v, d, dtype=dtype), b.randn(v, d, dtype=dtype, scale=0.4),
                    b.randn(v, dtype=dtype, scale=0.1), b.randint(0, v, (steps, 2 * rows, 4)),
                    b.randint(0, v, (steps, 2 * rows, 4)), lr]
            n_out = 2 if mode == "all_reduce" else 4
            cases.append(Case(f"{str(dtype)[6:]}, {name}", args, {"unused_param": unused}, dtype,
                              tags, public and dtype == F32, n_outputs=n_out))
        if mode == "all_reduce":
            case(public_name, public=True)
            case("2 ranks, one row each", rows=1, tags=("one row per rank",))
            case("a parameter without a gradient", tags=("grad is None",), unused=True)
        else:
            case(public_name, steps=3, public=True)
            case("2 ranks, one step from stale gradients", tags=("stale gradients",))
            case("a parameter the forward never uses", steps=2, unused=True,
                 tags=("grad is None",))
    return cases


def all_reduce_cases(b: CaseBuilder) -> list[Case]:
    return _dp_cases(b, "all_reduce", "2 ranks, 3 rows each")


def ddp_step_cases(b: CaseBuilder) -> list[Case]:
    return _dp_cases(b, "step", "2 ranks, 3 steps of SGD with momentum")


# =========================================================================== the chapter
CHAPTER = Chapter(
    id="ch09",
    title="Training at scale: tokenization, data pipelines, the training loop",
    notebook="ch09_training/ch09_training.py",
    warm_ups=("dynamo",),  # optimizers import torch._dynamo: once per worker, not per exercise
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
        Exercise(
            "ch09.all_reduce_gradients", "all_reduce_gradients", 1.0, all_reduce_gradients,
            all_reduce_cases, driver=drive_data_parallel, timeout_floor_s=60.0, spawns=True,
            mistakes=catalog.ALL_REDUCE_MISTAKES, alternatives=catalog.ALL_REDUCE_ALTERNATIVES),
        Exercise(
            "ch09.ddp_train_step", "ddp_train_step", 1.5, ddp_train_step, ddp_step_cases,
            driver=drive_data_parallel, timeout_floor_s=60.0, spawns=True,
            substitutes={"all_reduce_gradients": BUILTIN_ALL_REDUCE},
            mistakes=catalog.DDP_MISTAKES, alternatives=catalog.DDP_ALTERNATIVES),
    ],
)
