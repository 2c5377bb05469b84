"""`train` and `llmcourse train` under torchrun: two CPU ranks (gloo) follow the single-process run
with the same global batch, resume exactly from a checkpoint, and print once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

RUN = """
import json, os, sys, torch
torch.set_num_threads(1)
from reference.blocks import GPT
from reference.data import synthetic_corpus
from reference.train import TrainConfig, train

corpus = synthetic_corpus(vocab_size=16, order=2, n_train=20_000, n_val=2_000, seed=0)
torch.manual_seed(0)
model = GPT(vocab_size=16, context_length=16, d_model=32, n_layers=1, n_heads=2, d_ff=64)
stop = int(sys.argv[3]) if len(sys.argv) > 3 else None
config = TrainConfig(max_steps=6, batch_size=8, grad_accum_steps=2, context_length=16,
                     eval_interval=3, eval_batches=2, log_interval=3, progress=False,
                     dtype="float32", device="cpu", peak_flops=1e12, warmup_steps=2,
                     checkpoint_path=sys.argv[2] or None, checkpoint_interval=3,
                     stop_at_step=stop)
history = train(model, corpus.train, corpus.val, config)
if int(os.environ.get("RANK", "0")) == 0:
    with open(sys.argv[1], "w") as f:
        json.dump(history, f)
"""


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")


def torchrun(*args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", *args]


def run(cmd, tmp_path):
    done = subprocess.run(cmd, env=env(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The single-process run (here), and a two-rank run stopped after 3 of its 6 steps and
    resumed from its checkpoint (two launches of torchrun)."""
    tmp = tmp_path_factory.mktemp("torchrun")
    script = tmp / "run.py"
    script.write_text(RUN)
    run(torchrun(str(script), "first.json", "ck.pt", "3"), tmp)
    run(torchrun(str(script), "resumed.json", "ck.pt"), tmp)
    out = {name: json.loads((tmp / f"{name}.json").read_text()) for name in ("first", "resumed")}
    old = sys.argv
    try:
        sys.argv = ["run.py", str(tmp / "single.json"), ""]
        exec(compile(RUN, "run.py", "exec"), {"__name__": "single"})  # noqa: S102 - ours
    finally:
        sys.argv = old
    return out | {"single": json.loads((tmp / "single.json").read_text())}


def test_two_ranks_follow_the_single_process_run_and_resume_exactly(runs):
    """Stopped and resumed on two ranks, the run is the single-process run with the same global
    batch, step for step (within float32 rounding)."""
    single, first, resumed = runs["single"], runs["first"], runs["resumed"]
    assert first["step"] == [0, 1, 2] and resumed["step"] == single["step"] == list(range(6))
    assert first["train_loss"] == resumed["train_loss"][:3]  # the resumed history is the first's
    assert resumed["train_loss"] == pytest.approx(single["train_loss"], rel=1e-5)
    assert resumed["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)
    assert single["train_loss"][-1] < single["train_loss"][0]  # it did train


def test_llmcourse_train_runs_unchanged_under_torchrun(tmp_path):
    done = run(torchrun("-m", "autograder.cli", "train", "--steps", "4", "--quiet"), tmp_path)
    assert done.stdout.count("model: GPT") == 1, done.stdout  # rank 0 alone prints
    assert "entropy floor" in done.stdout and "throughput" in done.stdout
