"""Chapter 9, Training at scale: gradient accumulation, MFU, and the training loop of the course.

``train`` is the loop every later chapter reuses: device chosen automatically, mixed precision
(``torch.autocast``; a ``GradScaler`` for float16), gradient accumulation, clipping, warmup +
cosine learning rate, periodic evaluation, a progress line with tokens/s and MFU, and checkpoints
that resume a run exactly (model, optimizer, scaler, step, history and the batch generator).
``main_job``'s checkpoints also record the model's constructor arguments and the tokenizer, so
that :func:`load_for_generation` can rebuild the model and turn text into ids and back
(``llmcourse generate``).

Conventions, stated once:

* Step s (counting from 0) uses the learning rate ``cosine_schedule(s, lr, min_lr, warmup_steps,
  max_steps)`` and draws its ``grad_accum_steps`` micro-batches, in order, from one
  ``torch.Generator`` seeded with ``config.seed`` (``get_batch`` on the training stream).
* The model is initialised by the caller; ``train`` never re-initialises it.
* Evaluation at step s (after its update, when (s + 1) % eval_interval == 0 or at the last step)
  averages ``eval_batches`` batches drawn from a generator seeded with ``seed + 1`` afresh each
  time, so evaluating never changes the training trajectory and every evaluation sees the same
  batches.
* Weight decay applies to matrices (dim >= 2) only, not to norms' gains or biases.
* Mixed precision: only the model's forward passes run under ``torch.autocast``; the loss and the
  backward pass run outside it, as PyTorch advises (backward ops run in the dtype autocast chose
  for their forward ops anyway). ``accumulate_gradients`` does both the forward and the backward,
  so it is given the model wrapped in :class:`AutocastForward`.
* Throughput: tokens/s over the steps since the previous log, each step timed from its start to
  the end of its update (after a CUDA synchronisation; evaluation and saving not counted); MFU
  uses :func:`flops_per_token` and the peak ``config.peak_flops`` or :func:`measure_peak_flops`.

* Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) ``train`` is data-parallel: it joins
  the process group (NCCL on CUDA, gloo on CPU; each rank on ``cuda:LOCAL_RANK``), wraps the model
  in ``DistributedDataParallel``, and every rank draws the same global batches from the same
  generator and trains on its own contiguous ``batch_size / world`` rows of each. The gradients
  DDP averages are then those of the global batch, so a run on R ranks follows the single-process
  run with the same ``batch_size`` (within float32 rounding). The logged loss is averaged over the
  ranks; only rank 0 prints and writes checkpoints, and every rank resumes from them.

Notation (``reference/notation.py``): N parameters, n_layer layers, D the model width, T the
context length, n the tokens of a stream.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from reference.blocks import GPT
from reference.data import BPETokenizer, get_batch, synthetic_corpus, text_corpus
from reference.losses import cross_entropy
from reference.optim import AdamW, clip_grad_norm, cosine_schedule


# --------------------------------------------------------------------------- pieces
def accumulate_gradients(model, micro_batches, loss_fn):
    """Gradients of the mean loss over the concatenation of ``micro_batches``, one micro-batch at a
    time (so only one micro-batch's activations are in memory).

    ``loss_fn(logits, y)`` is a mean over the targets of one micro-batch. Micro-batch i holds
    n_i = y_i.numel() targets, so the mean over all n_total = sum n_i targets is
    sum_i (n_i / n_total) * loss_i: each micro-batch's loss is weighted by n_i / n_total before
    ``backward``, and the gradients add up in ``.grad``. Gradients present before the call are
    discarded.

    Shape:
        micro_batches: a list of (x, y), x and y (B_i, T)
        output: the mean loss over all targets, a detached 0-dim tensor
    """
    for p in model.parameters():
        p.grad = None
    n_total = sum(y.numel() for _, y in micro_batches)
    total = 0.0
    for x, y in micro_batches:
        loss = loss_fn(model(x), y) * (y.numel() / n_total)  # (,)
        loss.backward()
        total = total + loss.detach()
    return total


def estimate_mfu(flops_per_token, tokens_per_second, peak_flops):
    """Model FLOPs utilisation: the fraction of the hardware's peak FLOP/s that the model's own
    arithmetic uses, (flops_per_token * tokens_per_second) / peak_flops. Returns a float."""
    return flops_per_token * tokens_per_second / peak_flops


def flops_per_token(model, context_length):
    """Training FLOPs per token of a GPT: 6 N for the matrix products of the forward (2 N) and
    backward (4 N) passes, plus the attention scores and values, 12 n_layer T D (Kaplan et al.
    2020, table 1, times 3 for the backward), T = ``context_length``. N counts every parameter
    (the tied head does its matmul, so with tied embeddings every parameter counts); n_layer is
    ``len(model.blocks)`` and D ``model.tok_emb.embedding_dim``, each 0 for a model without them
    (a bigram has no attention)."""
    n_params = sum(p.numel() for p in model.parameters())
    blocks = getattr(model, "blocks", [])
    d_model = getattr(getattr(model, "tok_emb", None), "embedding_dim", 0)
    return 6 * n_params + 12 * len(blocks) * context_length * d_model


def measure_peak_flops(device="cpu", dtype=torch.float32, n=1024, repeats=20):
    """The machine's matmul FLOP/s measured now, in the training ``dtype`` (float32 for float16 on
    a CPU, which has no float16 matrix units): one warm-up product, then the fastest of
    ``repeats`` n x n products, each timed between synchronisations. The peak that MFU is
    relative to when no datasheet figure is given. The matrices come from a generator of their
    own: measuring draws nothing from PyTorch's global one."""
    if dtype == torch.float16 and not str(device).startswith("cuda"):
        dtype = torch.float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first product warms up
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the model and the data."""

    max_steps: int = 200  # optimizer steps; also the length of the cosine schedule
    batch_size: int = 16  # sequences per micro-batch (what fits in memory at once)
    grad_accum_steps: int = 1  # micro-batches per step: the effective batch is their product
    context_length: int = 64  # tokens per sequence
    lr: float = 3e-3  # peak learning rate, reached at the end of warmup
    min_lr: float = 3e-4  # floor of the cosine decay (1/10 of the peak, as Chinchilla)
    warmup_steps: int = 20  # linear warmup: Adam's second moments need a few steps to settle
    weight_decay: float = 0.1  # decoupled decay on matrices, keeps weights from growing
    betas: tuple = (0.9, 0.95)  # beta2 < 0.999 adapts faster to the changing gradient scale
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    eval_interval: int = 50  # steps between evaluations on the validation stream
    eval_batches: int = 8  # batches averaged per evaluation (its noise falls as 1/sqrt)
    dtype: str = "auto"  # autocast dtype: "float32", "bfloat16", "float16"; auto: bf16 on CUDA
    device: str = "auto"  # "cpu", "cuda", ...; auto picks CUDA when present
    seed: int = 0  # seeds the batch order (and evaluation batches, seed + 1)
    checkpoint_path: str | None = None  # where to save/resume; None: no checkpoints
    checkpoint_interval: int = 100  # steps between checkpoints (and one at the end)
    resume: bool = True  # continue from checkpoint_path when it exists
    stop_at_step: int | None = None  # end early after this many steps (a preempted job's slot)
    peak_flops: float | None = None  # hardware peak for MFU; None: measured matmul peak
    log_interval: int = 10  # steps between progress lines
    progress: bool = True  # print a progress bar to stderr


def resolve_device(name="auto"):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def resolve_dtype(name, device):
    if name == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return getattr(torch, name)


# --------------------------------------------------------------------------- checkpoints
@contextlib.contextmanager
def open_for_writing(file):
    """A binary file object to write a whole file into. ``file`` is a path (str or os.PathLike)
    or a writable binary file object; an object is used as it is (its owner closes it), a path
    gets a temporary file next to it that replaces it only once everything is written
    (``os.replace`` is atomic), so a crash mid-write leaves the previous file intact."""
    if not isinstance(file, (str, os.PathLike)):
        yield file
        return
    tmp = f"{os.fspath(file)}.tmp"
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, file)
    finally:
        if os.path.exists(tmp):  # the write failed: leave no partial file behind
            os.remove(tmp)


def save_checkpoint(file, model, optimizer, scaler, step, history, batch_gen, config, meta=None):
    """Everything needed to continue exactly: weights, optimizer moments, loss scale, the step,
    the history so far, and the state of ``batch_gen``, the one generator the loop draws from.

    The global RNG (``torch.get_rng_state()``, and CUDA's) is not saved: training draws nothing
    from it (the batches come from ``batch_gen``, evaluation and :func:`measure_peak_flops` from
    generators of their own, and the model has no dropout), so a resumed run does not depend on
    it, and loading a checkpoint need not overwrite the caller's. A model that drew from it in
    training (dropout) would need a generator of its own, saved here.

    ``file``: a path (replaced atomically, see :func:`open_for_writing`) or a writable binary file
    object. ``meta``: further entries stored as they are, for readers other than
    :func:`load_checkpoint` (``main_job`` passes "model_config" and "tokenizer", what
    :func:`load_for_generation` needs); plain values only, so that ``torch.load(weights_only=True)``
    reads the file."""
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(), "step": step, "history": history,
        "batch_rng": batch_gen.get_state(), "config": asdict(config),
    }
    clash = state.keys() & (meta or {}).keys()
    if clash:
        raise ValueError(f"meta may not replace the checkpoint's own entries: {sorted(clash)}")
    state.update(meta or {})
    with open_for_writing(file) as f:
        torch.save(state, f)


def load_checkpoint(file, model, optimizer, scaler, batch_gen):
    """Restore what :func:`save_checkpoint` wrote to ``file`` (a path or a readable binary file
    object) into the model, optimizer, scaler and ``batch_gen``; returns (step, history). The
    global RNG state is left as it is (see :func:`save_checkpoint`); entries "torch_rng" and
    "cuda_rng" of older checkpoints are ignored. The file is read with ``weights_only=True``: a
    checkpoint is data, and loading it runs no code from it."""
    state = torch.load(file, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    batch_gen.set_state(state["batch_rng"])
    return state["step"], state["history"]


# --------------------------------------------------------------------------- the loop
def make_optimizer(model, config):
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return AdamW([g for g in groups if g["params"]], lr=config.lr, betas=config.betas)


class AutocastForward(torch.nn.Module):
    """``model`` whose forward pass, and nothing else, runs under ``autocast()`` (a function that
    returns a context manager): what :func:`accumulate_gradients` is given, so that the loss and
    the backward pass it runs on the output stay outside autocast. It holds ``model`` itself, so
    its parameters are the model's."""

    def __init__(self, model, autocast):
        super().__init__()
        self.model = model
        self.autocast = autocast

    def forward(self, x):
        with self.autocast():
            return self.model(x)


@torch.no_grad()
def evaluate(model, tokens, config, device, autocast):
    """Mean loss over ``eval_batches`` batches of ``get_batch(tokens, batch_size, context_length,
    device, gen)``, gen a generator seeded with ``seed + 1`` afresh (the same batches at every
    evaluation); the forward under ``autocast()``, the loss (on float32 logits) outside it; in
    eval mode without gradients, the model's mode restored after."""
    gen = torch.Generator().manual_seed(config.seed + 1)
    was_training = model.training
    model.eval()
    losses = []
    for _ in range(config.eval_batches):
        x, y = get_batch(tokens, config.batch_size, config.context_length, device, gen)
        with autocast():
            logits = model(x)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        losses.append(float(cross_entropy(logits, y)))
    model.train(was_training)
    return sum(losses) / len(losses)


def _progress(step, total, loss, tok_s, mfu, eta_s, width=24):
    done = int(width * step / total)
    bar = "#" * done + "." * (width - done)
    sys.stderr.write(f"\r[{bar}] {step}/{total} loss {loss:.4f} | {tok_s:,.0f} tok/s | "
                     f"MFU {100 * mfu:.2f}% | {_duration(eta_s)} left ")
    sys.stderr.flush()


def _duration(seconds: float) -> str:
    """"42 s", "3 min 05 s"."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def launched_ranks() -> tuple[int, int]:
    """(rank, world size) of a ``torchrun`` launch (its environment variables); (0, 1) when the
    process was not launched as one of several ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else (0, 1)


def join_process_group(device) -> str:
    """Initialise the default process group of a torchrun launch (idempotent), and return the
    device this rank trains on: ``cuda:LOCAL_RANK`` on CUDA (NCCL), the CPU otherwise (gloo)."""
    on_cuda = str(device).startswith("cuda")
    if on_cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if on_cuda else "gloo")
    return device


def rank_rows(batch, rank: int, world: int):
    """This rank's contiguous share of a global batch (x, y): rows rank·b .. (rank+1)·b − 1 with
    b = B / world.

    Shape:
        batch: (x, y), each (B, T); output: (x, y), each (B / world, T)
    """
    x, y = batch
    b = x.shape[0] // world
    return x[rank * b:(rank + 1) * b], y[rank * b:(rank + 1) * b]


def train(model, train_tokens, val_tokens, config=TrainConfig(), meta=None):
    """Train ``model`` (logits = model(x)) on next-token prediction over ``train_tokens``.

    Returns the history, a dict of lists: "step", "lr", "train_loss" (per step, the mean over its
    micro-batches), "val_step", "val_loss", and "tokens_per_s", "mfu" (per logged interval).
    ``meta`` goes into every checkpoint as it is (see :func:`save_checkpoint`).

    Shape:
        train_tokens, val_tokens: (n,) integer token streams
    """
    device = resolve_device(config.device)
    rank, world = launched_ranks()
    if world > 1:
        if config.batch_size % world:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by the "
                             f"{world} ranks of this launch")
        device = join_process_group(device)
    dtype = resolve_dtype(config.dtype, device)
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"
    model.to(device)
    model.train()
    lead = rank == 0  # prints and saves

    def autocast():  # float32 needs no autocast at all
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device_type, dtype=dtype)

    # Only float16 has too few exponent bits for small gradients: scale the loss up, unscale after.
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)
    optimizer = make_optimizer(model, config)
    batch_gen = torch.Generator().manual_seed(config.seed)
    history = {"step": [], "lr": [], "train_loss": [], "val_step": [], "val_loss": [],
               "tokens_per_s": [], "mfu": []}
    start = 0
    if (config.checkpoint_path and config.resume and os.path.exists(config.checkpoint_path)):
        start, history = load_checkpoint(config.checkpoint_path, model, optimizer, scaler, batch_gen)

    fpt = flops_per_token(model, config.context_length)
    # the peak of all the ranks' devices: tokens/s below counts the global batch
    peak = (config.peak_flops or measure_peak_flops(device, dtype)) * world
    replica = model
    if world > 1:  # gradients averaged over the ranks in backward (the same weights everywhere)
        replica = DistributedDataParallel(model, device_ids=[device] if device_type == "cuda"
                                          else None)
    forward = AutocastForward(replica, autocast)  # the forward under autocast, backward outside
    tokens_per_step = config.batch_size * config.context_length * config.grad_accum_steps
    end = config.max_steps if config.stop_at_step is None else min(config.max_steps,
                                                                   config.stop_at_step)

    def loss_fn(logits, y):  # the loss in (at least) float32 whatever the compute dtype
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return scaler.scale(cross_entropy(logits, y))  # scaled up for float16 only

    busy, steps_since = 0.0, 0  # seconds spent in training steps only (not eval or saving)
    began = time.perf_counter()  # for the time left: steps, evaluations and saving alike
    for step in range(start, end):
        _sync(device)
        t0 = time.perf_counter()
        lr = cosine_schedule(step, config.lr, config.min_lr, config.warmup_steps, config.max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        micro = [get_batch(train_tokens, config.batch_size, config.context_length, device,
                           batch_gen) for _ in range(config.grad_accum_steps)]
        if world > 1:
            micro = [rank_rows(b, rank, world) for b in micro]
        loss = accumulate_gradients(forward, micro, loss_fn)
        if world > 1:  # the mean over the global batch: every rank holds as many targets
            dist.all_reduce(loss, op=dist.ReduceOp.SUM)
            loss = loss / world
        loss = float(loss) / scaler.get_scale() if scaler.is_enabled() else float(loss)
        scaler.unscale_(optimizer)  # clipping must see the true gradients
        if config.grad_clip > 0:
            clip_grad_norm(list(model.parameters()), config.grad_clip)
        scaler.step(optimizer)  # skipped (and the scale lowered) if a gradient overflowed
        scaler.update()
        _sync(device)
        busy += time.perf_counter() - t0
        history["step"].append(step)
        history["lr"].append(lr)
        history["train_loss"].append(loss)
        steps_since += 1
        last = step == config.max_steps - 1
        if (step + 1) % config.log_interval == 0 or step + 1 == end:
            tok_s = steps_since * tokens_per_step / busy
            mfu = estimate_mfu(fpt, tok_s, peak)
            history["tokens_per_s"].append(tok_s)
            history["mfu"].append(mfu)
            if config.progress and lead:
                per_step = (time.perf_counter() - began) / (step + 1 - start)
                _progress(step + 1, config.max_steps, loss, tok_s, mfu,
                          per_step * (end - step - 1))
            busy, steps_since = 0.0, 0
        if (step + 1) % config.eval_interval == 0 or last:
            history["val_step"].append(step)
            history["val_loss"].append(evaluate(model, val_tokens, config, device, autocast))
        if config.checkpoint_path and ((step + 1) % config.checkpoint_interval == 0
                                       or step + 1 == end):
            if lead:
                save_checkpoint(config.checkpoint_path, model, optimizer, scaler, step + 1,
                                history, batch_gen, config, meta)
            if world > 1:  # no rank runs ahead of a checkpoint it may have to resume from
                dist.barrier()
    if config.progress and lead:
        sys.stderr.write("\n")
    return history


# --------------------------------------------------------------------------- generation
TEXT_MAX_CHARS = 1_000_000  # main_job trains on the first this many characters of a text file


class TokenizerKind(enum.Enum):
    """How a checkpoint's token ids map to text; the checkpoint stores the value string."""

    BYTES = "bytes"  # a text's UTF-8 bytes, ids 0..255
    BPE = "bpe"  # byte-level BPE learned on the text (reference.data.train_bpe)
    SYNTHETIC = "synthetic"  # the Markov corpus: ids have no text, they are written as integers


def text_tokenizer_record(corpus):
    """The "tokenizer" entry of a checkpoint of ``main_job`` on a text file (a ``TextCorpus``):
    plain ints, lists and bytes, which ``torch.load(weights_only=True)`` reads back. BPE: "vocab"
    lists each id's bytes, in id order, and "merges" the merged pairs in the order they were
    learned. (The synthetic corpus's entry is {"kind": "synthetic", "vocab_size": V}.)"""
    if corpus.merges is None:
        return {"kind": TokenizerKind.BYTES.value}
    return {"kind": TokenizerKind.BPE.value,
            "vocab": [corpus.vocab[i] for i in range(len(corpus.vocab))],
            "merges": [tuple(m) for m in corpus.merges]}


def text_functions(record):
    """(encode, decode) for a checkpoint's "tokenizer" entry: encode(str) -> list of ids,
    decode(list of ids) -> str. Bytes that are not valid UTF-8 (a character cut short) decode
    to U+FFFD. The synthetic corpus reads and writes its ids as space-separated integers."""
    kind = TokenizerKind(record["kind"])
    if kind is TokenizerKind.BYTES:
        return (lambda text: list(text.encode("utf-8")),
                lambda ids: bytes(ids).decode("utf-8", errors="replace"))
    if kind is TokenizerKind.BPE:
        bpe = BPETokenizer(dict(enumerate(record["vocab"])), record["merges"])
        # a text can run out of pairs before the vocabulary is full: the model's ids beyond the
        # BPE's never occurred in training, and stand for no bytes
        return bpe.encode, lambda ids: bpe.decode([i for i in ids if i in bpe.vocab])

    n = record["vocab_size"]

    def encode(text):
        words = text.split()
        if not all(w.isascii() and w.isdigit() and int(w) < n for w in words):
            raise ValueError(f"the synthetic corpus's tokens are the integers 0..{n - 1}, "
                             f"separated by spaces; got {text!r}")
        return [int(w) for w in words]

    return encode, lambda ids: " ".join(str(int(i)) for i in ids)


def load_for_generation(path, device="auto"):
    """The model a ``main_job`` checkpoint holds, in eval mode on ``device`` ("auto": CUDA when
    present), and the text <-> ids functions of its tokenizer: returns (model, encode, decode)
    as :func:`text_functions` describes them. The file is read with ``weights_only=True``: a
    checkpoint is data, and loading it runs no code from it. Raises ValueError for a file that is
    not such a checkpoint, for one written before checkpoints recorded the model, and for a
    device this machine lacks."""
    try:
        device = torch.device(resolve_device(device))
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r} (auto, cpu or cuda)") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("no CUDA device on this machine (use --device cpu)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as e:  # the unpickler fails in many ways on a file that is not a checkpoint
        raise ValueError(f"{path}: not a checkpoint of llmcourse train (torch.load cannot read "
                         f"it as plain data: {type(e).__name__})") from e
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path}: not a checkpoint of llmcourse train")
    if "model_config" not in state or "tokenizer" not in state:
        raise ValueError(f"{path}: this checkpoint was written before checkpoints recorded the "
                         "model's shape and tokenizer; retrain with llmcourse train --checkpoint")
    model = GPT(**state["model_config"])
    model.load_state_dict(state["model"])
    model.to(device).eval()
    encode, decode = text_functions(state["tokenizer"])
    return model, encode, decode


# --------------------------------------------------------------------------- the main job
def main_job(max_steps=1000, vocab_size=16, order=2, d_model=64, n_layers=2, n_heads=4,
             context_length=32, batch_size=16, device="auto", dtype="auto", seed=0,
             checkpoint_path=None, progress=True, text_path=None, text_vocab_size=256):
    """Train the reference GPT on the bundled synthetic corpus and report the loss against the
    corpus's entropy floor, tokens/s and MFU (what ``llmcourse train`` runs). Returns the history
    and the floor. The MFU is against the matmul peak measured on this machine in this run.

    With ``text_path`` it trains on the user's own UTF-8 text instead (bytes, or byte-level BPE
    with ``text_vocab_size`` ids); no floor is known then (None is returned), and the loss is
    also reported in bits per byte, which does not depend on the tokenizer.

    Its checkpoints record the model's constructor arguments ("model_config") and the tokenizer
    ("tokenizer", see :func:`text_tokenizer_record`): enough for :func:`load_for_generation`."""
    if text_path is not None:
        corpus = text_corpus(text_path, text_vocab_size, max_chars=TEXT_MAX_CHARS)
        vocab_size, floor = corpus.vocab_size, None
        source = (f"{text_path}, {len(corpus.train) + len(corpus.val):,} tokens "
                  f"({corpus.bytes_per_token:.2f} bytes per token, vocabulary {vocab_size})")
    else:
        corpus = synthetic_corpus(vocab_size=vocab_size, order=order, n_train=100_000,
                                  n_val=10_000, seed=seed)
        floor = corpus.entropy_rate
        source = f"order-{order} Markov chain over {vocab_size} symbols"
    model_config = dict(vocab_size=vocab_size, context_length=context_length, d_model=d_model,
                        n_layers=n_layers, n_heads=n_heads, d_ff=4 * d_model)
    meta = None
    if checkpoint_path is not None:
        tokenizer = ({"kind": TokenizerKind.SYNTHETIC.value, "vocab_size": vocab_size}
                     if text_path is None else text_tokenizer_record(corpus))
        meta = {"model_config": model_config, "tokenizer": tokenizer}
    torch.manual_seed(seed)
    model = GPT(**model_config)
    with torch.no_grad():  # small embeddings: the tied head starts near uniform predictions
        model.tok_emb.weight.normal_(0.0, 0.02)
    config = TrainConfig(max_steps=max_steps, batch_size=batch_size, context_length=context_length,
                         lr=3e-3, min_lr=3e-4, warmup_steps=max(1, max_steps // 20),
                         eval_interval=max(1, max_steps // 6), eval_batches=8, device=device,
                         dtype=dtype, seed=seed, checkpoint_path=checkpoint_path,
                         log_interval=max(1, max_steps // 50), progress=progress)
    dev = resolve_device(device)
    say = print if launched_ranks()[0] == 0 else (lambda *args, **kwargs: None)  # rank 0 only
    say(f"model: GPT, {sum(p.numel() for p in model.parameters()):,} parameters, on {dev} "
          f"({resolve_dtype(dtype, dev)}); corpus: {source}", flush=True)
    history = train(model, corpus.train, corpus.val, config, meta)
    if floor is None:
        bits = 1 / (math.log(2) * corpus.bytes_per_token)  # nats per token -> bits per byte
        say(f"{'step':>6} {'val loss':>9} {'bits/byte':>10}")
        for step, loss in zip(history["val_step"], history["val_loss"]):
            say(f"{step + 1:>6} {loss:>9.4f} {loss * bits:>10.4f}")
        say(f"no known floor for your own text (uniform guess {math.log(vocab_size):.4f} "
              "nats/token, 8 bits/byte for raw bytes)")
    else:
        say(f"{'step':>6} {'val loss':>9} {'above floor':>12}")
        for step, loss in zip(history["val_step"], history["val_loss"]):
            say(f"{step + 1:>6} {loss:>9.4f} {loss - floor:>12.4f}")
        say(f"entropy floor {floor:.4f} nats/token (uniform guess {math.log(vocab_size):.4f})")
    tps = sorted(history["tokens_per_s"])[len(history["tokens_per_s"]) // 2]
    mfu = sorted(history["mfu"])[len(history["mfu"]) // 2]
    say(f"throughput {tps:,.0f} tokens/s, MFU {100 * mfu:.2f}% (medians over the run)")
    return history, floor
