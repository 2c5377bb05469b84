"""Chapter 9 — Training at scale: the graded exercises and the cases they are graded on.

Cases declare inputs only; expected outputs come from the live reference (``reference/data.py``,
``reference/train.py``, ``reference/distributed.py``). Drivers of the grading library
(``gradelib.tokens``, ``gradelib.training``; two ranks by ``gradelib.ranks``) exercise the
student's code and turn what it returns (bytes, dicts, histories) into tensors.
"""

from __future__ import annotations

import math

import torch

from autograder.chapters import ch09_catalog as catalog
from autograder.gradelib.training import TRAIN_OUTPUTS
from autograder.spec import Case, CaseBuilder, Cell, Chapter, Exercise, Kind
from autograder.symbolic import Derivation, Domain
from reference import formulas
from reference.data import (BPETokenizer, entropy_rate, get_batch, markov_chain, pack_documents,
                            sample_markov, train_bpe)
from reference.distributed import all_reduce_gradients, ddp_train_step
from reference.train import accumulate_gradients, estimate_mfu, train

F32, F64, BF16 = torch.float32, torch.float64, torch.bfloat16
CPU_ONLY = ("cpu",)  # the drivers build their models on the CPU


def _exact(rows, **common) -> list[Case]:
    """The cases ``rows(case)`` declares for an exercise computed on integers and compared exactly:
    the dtype changes nothing, but the platform asks every exercise for float64, float32 and
    bfloat16 cases, so they are labelled round-robin (the label is all that differs)."""
    cases: list[Case] = []

    def case(name, *args, tags=(), **fields):
        cases.append(Case(name=name, args=list(args), dtype=(F32, F64, BF16)[len(cases) % 3],
                          tags=tuple(tags), **{**common, **fields}))
    rows(case)
    return cases


# =========================================================================== tokenizers
BPE_TEXTS = {
    "English sentences": ("the cat sat on the mat. the dog sat on the log! "
                          "low lower lowest newer newest wider widest ") * 3,
    "ties everywhere": "ab cd ab cd ef gh ef gh",
    "Unicode": "héllo wörld, ünïcödé ünïcödé 日本語の文 日本語 🙂🙂 🙂 naïve naïve ",
    "repeated letters": "aaaa aaa aa a bbbb bbb aaaa",
}


def bpe_cases(b: CaseBuilder) -> list[Case]:
    def rows(case):
        def bpe(name, vocab_size, text=None, special=(), **kw):
            case(f"{name}, vocab {vocab_size}", text or BPE_TEXTS[name], vocab_size, list(special),
                 **kw)
        bpe("English sentences", 300, public=True)
        bpe("ties everywhere", 262, tags=("ties",), public=True)
        bpe("Unicode", 290, tags=("multi-byte characters",))
        bpe("repeated letters", 262, tags=("overlapping pairs",))
        bpe("with a special token", 264, "one two<|eot|>two three<|eot|>one one two three " * 3,
            special=("<|eot|>",), tags=("special tokens",), public=True)
        bpe("runs out of pairs", 300, "ab ab", tags=("fewer merges than asked",))
        bpe("two special tokens, ids in the order given", 266,
            "one<|pad|>two<|eot|>three two one<|pad|> " * 3, special=("<|pad|>", "<|eot|>"),
            tags=("special tokens", "order of the special tokens"))
    return _exact(rows, n_outputs=2)


def tokenizer_cases(b: CaseBuilder) -> list[Case]:
    def rows(case):
        def tok(name, corpus, vocab_size, texts, special=(), renumber=False, **kw):
            vocab, merges = train_bpe(BPE_TEXTS.get(corpus, corpus), vocab_size, special)
            if renumber:  # the same tokens under other ids, single bytes included
                new_id = torch.randperm(len(vocab), generator=b.gen).tolist()
                vocab = {new_id[i]: token for i, token in vocab.items()}
            case(name, [[i, list(v)] for i, v in sorted(vocab.items())],
                 [[list(x), list(y)] for x, y in merges], list(special), texts, **kw)
        tok("English: training text and new text", "English sentences", 300,
            ["the cat sat on the mat.", "the newest lowest mat sat", ""], public=True)
        tok("Unicode round trip", "Unicode", 290, ["héllo 日本語 🙂", "never seen: Ωμέγα ∑ 𝔘𝔫𝔦",
            "\x00\t\n  spaces  "], tags=("multi-byte characters",), public=True)
        tok("merge order matters", "ab abc abcd bcd bcd cd cd cd", 264,
            ["abcd", "bcd abc", "cdab"], tags=("merge priority",))
        tok("repeated letters", "repeated letters", 262, ["aaaaa", "aaa a"],
            tags=("overlapping pairs",))
        tok("spaces between pre-tokens", "x    the   cat  the    hat   " * 4, 266,
            ["x  the", "cat    hat", "  the  "], tags=("whitespace runs",))
        tok("special tokens", "one two<|eot|>two three " * 4, 275, ["one<|eot|>two",
            "<|eot|><|eot|>three", "<|eot"], special=("<|eot|>",), tags=("special tokens",),
            public=True)
        tok("ids in another order (a vocabulary it did not train)", "English sentences", 300,
            ["the cat sat on the mat.", "new: Ωμέγα 🙂", ""], renumber=True,
            tags=("foreign vocabulary",), public=True)
        tok("another order, with a special token", "one two<|eot|>two three " * 4, 275,
            ["one<|eot|>two", "three two one"], special=("<|eot|>",), renumber=True,
            tags=("foreign vocabulary", "special tokens"))
        # ids 0..255 are the bytes here: a character cut short decodes to U+FFFD
        tok("decoding bytes that are not valid UTF-8", "Unicode", 290, ["日本語"],
            kwargs={"decode": [[0xE6], [0xE6, 0x97], [0x61, 0xF0, 0x9F], [0xE6, 0x61],
                               [0xE6, 0x97, 0xA5]]},
            n_outputs=3, output_names=("ids of each text", "decode(encode(t)) == t",
                                       "code points of each decoded id list"),
            tags=("invalid UTF-8",), public=True)
    return _exact(rows, n_outputs=2)


# =========================================================================== packing, batches
def pack_cases(b: CaseBuilder) -> list[Case]:
    def rows(case):
        case("3 short documents, rows of 3", [[1, 2, 3], [4, 5], [6]], 3, 0, public=True)
        case("exact fit", [[5, 6, 7], [8, 9, 10]], 4, 99, tags=("no tail",), public=True)
        case("tail dropped", [[1] * 5, [2] * 7, [3] * 2], 4, 0, tags=("tail",))
        case("empty document", [[1, 2], [], [3, 4, 5]], 2, 7, tags=("empty document",))
        docs = [b.randint(1, 50, (int(n),)).tolist() for n in b.randint(0, 20, (12,))]
        case("12 random documents, rows of 16", docs, 16, 0, tags=("random",))
        case("documents as uint8 tensors, EOS 255", [[1, 2, 3], [], [4, 5, 6, 7, 8], [9]], 3, 255,
             kwargs={"as_tensors": "uint8"}, tags=("tensor documents",))
    return _exact(rows)


def _uniform_offsets_check(n, t):
    """Every admissible starting offset 0..n-T-1 is drawn with probability 1/(n-T): each count
    within 5 binomial standard deviations (so feedback can say *how* a draw is wrong), and none
    outside the range."""
    def check(outputs, case):
        x = outputs[0].long().cpu()
        draws, k = x.shape[0], n - t
        start = x[:, 0]  # tokens are arange(n): the first token is the offset
        if int(start.min()) < 0 or int(start.max()) > k - 1:
            return f"a window starts at {int(start.max())}, past the last admissible offset {k - 1}"
        counts = torch.bincount(start, minlength=k).double()
        p = 1 / k
        sd = math.sqrt(draws * p * (1 - p))
        worst = int((counts - draws * p).abs().argmax())
        if abs(float(counts[worst]) - draws * p) > 5 * sd:
            return (f"offset {worst} was drawn {int(counts[worst])} times in {draws}, expected "
                    f"{draws * p:.0f} ± {sd:.0f}: the offsets are not uniform on 0..n−T−1")
        return None
    return check


def batch_cases(b: CaseBuilder) -> list[Case]:
    def rows(case):
        case("tokens arange(50), B=4, T=8", torch.arange(50), 4, 8, 0, public=True)
        case("random int32 tokens, B=8, T=16", b.randint(0, 100, (300,)).int(), 8, 16, 1,
             tags=("int32 token storage",), public=True)
        case("uint8 tokens, B=5, T=3", b.randint(0, 250, (40,)).to(torch.uint8), 5, 3, 4,
             tags=("uint8 token storage",))
        case("n = T + 1 (one window)", torch.arange(9), 3, 8, 2, tags=("one admissible window",))
        case("30000 draws (uniformity)", torch.arange(24), 30000, 4, 3, tags=("statistics",),
             checks=(_uniform_offsets_check(24, 4),))
    return _exact(rows, n_outputs=2)


# =========================================================================== accumulation, MFU
ACCUMULATE_OUTPUTS = ("loss", "embedding gradient", "head weight gradient", "head bias gradient",
                      "the returned loss is attached to a graph (1) or detached (0)")


def accumulate_cases(b: CaseBuilder) -> list[Case]:
    def rows(c: Cell):
        def acc(name, sizes, t=6, v=11, d=8, **kw):
            ids = [b.randint(0, v, (sum(sizes), t)) for _ in "xy"]
            c(name, c.randn(v, d), c.randn(v, d, scale=0.3), c.randn(v, scale=0.1), *ids,
              list(sizes), attached=True, n_outputs=5, output_names=ACCUMULATE_OUTPUTS, **kw)
        acc("4 micro-batches of 3", (3, 3, 3, 3), public=True)
        acc("one micro-batch", (5,), tags=("k = 1",), public=True)
        acc("unequal micro-batches 1, 4, 2", (1, 4, 2), tags=("unequal sizes",))
    return b.grid(rows, devices=CPU_ONLY)


MFU_ROWS = (("124M model at 1e5 tok/s on 312 TFLOP/s", 6 * 124e6, 1e5, 312e12),
            ("small model on a CPU", 6 * 2e6 + 12 * 2 * 64 * 128, 2.5e4, 2e11),
            ("perfect utilisation", 1e9, 1e3, 1e12))


def mfu_cases(b: CaseBuilder) -> list[Case]:
    """Python numbers (the usual way to call it), then 0-dim tensors (one bfloat16 case)."""
    def rows(c: Cell):
        for i, (name, *values) in enumerate(MFU_ROWS[:1] if c.low else MFU_ROWS):
            if c.dtype == F64:
                c(f"Python floats, {name}", *values, public=i < 2)
            c(f"tensors, {name}", *(torch.tensor(v, dtype=F64).to(c.dtype) for v in values),
              tags=("tensors",))
    return b.grid(rows, devices=CPU_ONLY, public_dtype=F64)


# =========================================================================== training loop
TRAIN_SETTINGS = dict(max_steps=24, batch_size=4, grad_accum_steps=2, context_length=8, lr=3e-2,
                      min_lr=3e-3, warmup_steps=4, weight_decay=0.1, betas=(0.9, 0.95),
                      grad_clip=1.0, eval_interval=8, eval_batches=2, dtype="float32",
                      device="cpu", seed=0, checkpoint_path=None, checkpoint_interval=100,
                      resume=True, stop_at_step=None, peak_flops=1e12, log_interval=8,
                      progress=False)
TOWARDS_FLOOR = dict(max_steps=120, lr=5e-2, batch_size=8, context_length=16, warmup_steps=5,
                     eval_interval=40, eval_batches=8)
CUDA_RUN = dict(device="cuda", dtype="bfloat16", max_steps=60, batch_size=32, context_length=128,
                eval_interval=60, log_interval=60)
FLOAT16_RUN = dict(dtype="float16", max_steps=8, eval_interval=4, log_interval=4)
# Evaluations after steps 3, 7, 11, 15, ... (2 passes each) and checkpoints after steps 4, 9, 14:
# evaluation pass 7 is the first of step 15's, after the checkpoint of step 14 and before any other.
PREEMPTED_RUN = dict(eval_interval=4, checkpoint_interval=5)


def _approaches_floor(floor: float, margin: float):
    """The run learns the language: its last validation loss is within ``margin`` nats of the
    language's entropy rate (a bigram model can represent an order-1 chain exactly; the margin
    leaves room for a finite run and validation sample). Judged on its own, so a loop that learns
    but differs in details from the reference still earns this case."""
    def check(outputs, case):
        val = outputs[2].double()
        if val.numel() == 0 or not torch.isfinite(val).all():
            return "the validation-loss history is empty or not finite"
        if float(val[-1]) > floor + margin:
            return (f"the validation loss ends at {float(val[-1]):.3f} nats (it started at "
                    f"{float(val[0]):.3f}): not within {margin} of the entropy floor {floor:.3f} "
                    "after the step budget, so the loop does not learn what it should")
        return None
    return check


def _autocast_used(steps: int, backward: bool = False) -> tuple:
    """Under ``dtype="bfloat16"`` every forward pass of the model the loop was given (training and
    evaluation) runs under autocast: bfloat16 logits from float32 weights. Only that model's
    forward passes are counted (``run="autocast"``), so low-precision work elsewhere earns
    nothing. Three checks, so that a catalogued mistake is named only for the same failure: the
    model is trained (at least one forward pass per step), some passes are autocast, all are.
    With ``backward`` (``run="autocast_all"``) a fourth: no backward pass runs under autocast."""
    def rule(ok, message):
        def check(outputs, case):
            low, full, *rest = (int(v) for v in outputs[0])
            back = rest[0] if rest else 0
            return None if ok(low, full, back) else message.format(low=low, full=full,
                                                                  all=low + full, back=back)
        return check
    rules = (rule(lambda low, full, back: low + full >= steps, "the model given to train ran "
                  f"{{all}} forward passes in {steps} steps: the loop must train that model, "
                  "calling model(x) for every micro-batch"),
             rule(lambda low, full, back: low > 0, "none of the model's {full} forward passes ran "
                  "under autocast (its logits were not bfloat16 from float32 weights): with "
                  "config.dtype 'bfloat16' the forward passes must run under "
                  "torch.autocast(device_type, dtype=torch.bfloat16), with the weights left in "
                  "float32"),
             rule(lambda low, full, back: full == 0, "{full} of the model's {all} forward passes "
                  "ran outside autocast (float32 logits, or weights cast to low precision): every "
                  "forward pass, training and evaluation, must run under "
                  "torch.autocast(device_type, dtype=torch.bfloat16)"))
    if not backward:
        return rules
    return (*rules, rule(lambda low, full, back: back == 0, "{back} backward passes ran under "
                         "autocast: only the forward pass belongs under torch.autocast; call "
                         "accumulate_gradients (which runs backward) outside it, on the model "
                         "wrapped so that its forward alone enters autocast"))


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


def train_cases(b: CaseBuilder) -> list[Case]:
    """Histories, bookkeeping (steps, evaluation steps, the FLOPs per token behind the MFU, the
    modes of the forward passes outside training, the loss scale) and final weights compared with
    the reference (bfloat16: one run, in the model's own dtype); resuming after a planned stop
    and after a kill mid-run; the loss floor judged on its own; autocast in use with backward
    outside it (CPU, CUDA) and the throughput against a plain loop (CUDA) measured and judged by
    checks."""
    probs = markov_chain(8, 1, seed=5)
    g = torch.Generator().manual_seed(5)
    tokens, val = sample_markov(probs, 3000, g), sample_markov(probs, 600, g)

    def rows(c: Cell):
        def run(name, changes=(), v=8, d=6, scale=0.4, run="once_all", **kw):
            c(name, tokens, val, c.randn(v, d), c.randn(v, d, scale=scale), c.randn(v, scale=0.1),
              {**TRAIN_SETTINGS, **dict(changes)}, run=run, n_outputs=len(TRAIN_OUTPUTS[run]),
              output_names=TRAIN_OUTPUTS[run], **kw)
        if c.device != "cpu" and c.dtype == F32:
            run("dtype 'bfloat16' on CUDA: autocast in use, throughput", CUDA_RUN, 256, 512,
                512 ** -0.5, run="throughput", tags=("autocast", "throughput"), compared=(),
                checks=(*_autocast_used(CUDA_RUN["max_steps"]), _fast_enough(0.8)))
        if c.device != "cpu":
            return
        run("24 steps, accumulation 2", public=True)
        if c.low:
            return
        run("no clipping, no accumulation, a log every 5 steps, an evaluation every 10",
            {"grad_clip": 0.0, "grad_accum_steps": 1, "log_interval": 5, "eval_interval": 10},
            tags=("no clipping",))
        run("tight clipping, long warmup", {"grad_clip": 0.05, "warmup_steps": 12},
            tags=("clipping active",))
        run("interrupted at step 11 and resumed", tags=("resume",), public=True,
            run="resumed_all", stop_at_step=11)
        run("120 steps towards the entropy floor", TOWARDS_FLOOR, tags=("loss floor",),
            run="once", checks=(_approaches_floor(entropy_rate(probs), 0.1),), compared=())
        if c.dtype != F32:
            return
        run("dtype 'bfloat16' on CPU: autocast in use, backward outside it",
            {"dtype": "bfloat16", "max_steps": 4}, tags=("autocast",), compared=(),
            run="autocast_all", checks=_autocast_used(4, backward=True))
        run("dtype 'auto' on the CPU (float32)", {"dtype": "auto", "max_steps": 8},
            tags=("dtype auto",))
        run("dtype 'float16' on the CPU: loss scaling", FLOAT16_RUN, tags=("float16",))
        run("killed during an evaluation, resumed from the last periodic checkpoint",
            PREEMPTED_RUN, tags=("periodic checkpoints",), run="preempted",
            preempt_at_eval_pass=7)
        run("resume=False over an existing checkpoint: a fresh start", tags=("resume=False",),
            run="fresh_start", stop_at_step=11)
    return b.grid(rows)


# =========================================================================== data parallelism
def _ranks_cases(b: CaseBuilder, rows, **common) -> list[Case]:
    """Cases of two ranks, from ``(name, steps, rows per rank, fields)`` rows: a bigram model
    (V=7, D=5) and ``steps`` batches of 2 × rows per rank sequences of 4 tokens."""
    def declare(c: Cell):
        for name, steps, per_rank, fields in rows:
            ids = [c.randint(0, 7, (steps, 2 * per_rank, 4)) for _ in "xy"]
            c(name, c.randn(7, 5), c.randn(7, 5, scale=0.4), c.randn(7, scale=0.1), *ids,
              **common, **fields)
    return b.grid(declare, devices=CPU_ONLY)


def all_reduce_cases(b: CaseBuilder) -> list[Case]:
    return _ranks_cases(b, [("2 ranks, 3 rows each", 1, 3, dict(public=True)),
                            ("2 ranks, one row each", 1, 1, dict(tags=("one row per rank",))),
                            ("a parameter without a gradient", 1, 3,
                             dict(tags=("grad is None",), unused_param=True))], n_outputs=2)


def ddp_step_cases(b: CaseBuilder) -> list[Case]:
    return _ranks_cases(b, [("2 ranks, 3 steps of SGD with momentum", 3, 3, dict(public=True)),
                            ("2 ranks, one step from stale gradients", 1, 3,
                             dict(tags=("stale gradients",))),
                            ("a parameter the forward never uses", 2, 3,
                             dict(tags=("grad is None",), unused_param=True))],
                        lr=0.1, attached=True, n_outputs=5, output_names=DDP_OUTPUTS)


DDP_OUTPUTS = ("rank 0's losses", "rank 1's losses", "rank 0's weights", "rank 1's weights",
               "returned losses still attached to a graph, both ranks")


# =========================================================================== the chapter
CHAPTER = Chapter(
    id="ch09",
    title="Training at scale: tokenization, data pipelines, the training loop",
    notebook="ch09_training/ch09_training.py",
    book_sections=("9.1 Data", "9.2 Mini-batch"),
    warm_ups=("dynamo",),  # optimizers import torch._dynamo: once per worker, not per exercise
    exercises=[
        Exercise(id="ch09.train_bpe", name="train_bpe", points=2.0, reference=train_bpe,
                 cases=bpe_cases, driver="drive_train_bpe",
                 mistakes=catalog.BPE_MISTAKES),
        Exercise(id="ch09.BPETokenizer", name="BPETokenizer", points=2.0, reference=BPETokenizer,
                 cases=tokenizer_cases, driver="drive_tokenizer",
                 mistakes=catalog.TOKENIZER_MISTAKES),
        Exercise(id="ch09.pack_documents", name="pack_documents", points=1.0,
                 reference=pack_documents, cases=pack_cases, driver="drive_pack_documents",
                 mistakes=catalog.PACK_MISTAKES),
        Exercise(id="ch09.get_batch", name="get_batch", points=1.0, reference=get_batch,
                 cases=batch_cases, driver="drive_get_batch",
                 mistakes=catalog.BATCH_MISTAKES),
        Exercise(id="ch09.accumulate_gradients", name="accumulate_gradients", points=1.5,
                 reference=accumulate_gradients, cases=accumulate_cases, driver="drive_accumulate",
                 mistakes=catalog.ACCUMULATE_MISTAKES),
        Exercise(id="ch09.linear_training_flops", name="linear_training_flops", points=0.5,
                 reference=formulas.linear_training_flops, kind=Kind.SYMBOLIC,
                 derivation=Derivation(symbols=("m", "n"),
                                       domains={"m": Domain(1, 8192, integer=True),
                                                "n": Domain(1, 8192, integer=True)}),
                 mistakes=catalog.LINEAR_FLOPS_MISTAKES),
        Exercise(id="ch09.estimate_mfu", name="estimate_mfu", points=0.5, reference=estimate_mfu,
                 cases=mfu_cases, mistakes=catalog.MFU_MISTAKES),
        Exercise(id="ch09.train", name="train", points=3.0, reference=train, cases=train_cases,
                 driver="drive_train", standins=("ch09.get_batch", "ch09.accumulate_gradients"),
                 timeout_floor_s=60.0,
                 mistakes=catalog.TRAIN_MISTAKES),
        Exercise(id="ch09.all_reduce_gradients", name="all_reduce_gradients", points=1.0,
                 reference=all_reduce_gradients, cases=all_reduce_cases,
                 driver="drive_all_reduce", timeout_floor_s=60.0, spawns=True,
                 mistakes=catalog.ALL_REDUCE_MISTAKES),
        Exercise(id="ch09.ddp_train_step", name="ddp_train_step", points=1.5,
                 reference=ddp_train_step, cases=ddp_step_cases, driver="drive_ddp_step",
                 timeout_floor_s=60.0, spawns=True, standins=("ch09.all_reduce_gradients",),
                 mistakes=catalog.DDP_MISTAKES),
    ],
)
