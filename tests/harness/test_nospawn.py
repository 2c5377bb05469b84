"""The lock against new threads and processes (autograder/nospawn.py), tried in a forked child so
that the test process itself stays unlocked."""

from __future__ import annotations

import json
import os
import platform
import sys

import pytest

from autograder import nospawn

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "aarch64"),
    reason="the seccomp filter is for Linux on x86_64/aarch64")


def _in_locked_child(probe) -> dict:
    """Run ``probe()`` (-> JSON-able) in a forked child after locking it."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's result travels through the pipe
        os.close(r)
        out = {"lock": "not reached"}
        try:
            import torch

            torch.set_num_threads(1)
            with torch.autograd.profiler.profile():  # its thread exists before the lock
                torch.zeros(1).add_(1)
            out = {"lock": nospawn.forbid_new_tasks()} | probe()
        except BaseException as e:  # noqa: BLE001
            out["error"] = f"{type(e).__name__}: {e}"
        finally:
            os.write(w, json.dumps(out).encode())
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def _attempt(fn) -> str:
    try:
        fn()
        return "started"
    except BaseException as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"


def test_threads_and_processes_are_refused_after_the_lock():
    def probe():
        import subprocess
        import threading

        import torch

        x = torch.randn(8, 8, requires_grad=True)
        (x @ x).softmax(-1).sum().backward()  # autograd on CPU needs no new thread
        with torch.autograd.profiler.profile() as prof:
            torch.softmax(x, -1)
        return {"thread": _attempt(lambda: threading.Thread(target=print).start()),
                "fork": _attempt(os.fork),
                "subprocess": _attempt(lambda: subprocess.run(["true"])),
                "grad_ok": x.grad is not None,
                "profiled": [e.name for e in prof.function_events]}

    out = _in_locked_child(probe)
    assert out["lock"] is None and "error" not in out, out
    assert out["thread"] == "RuntimeError: can't start new thread"
    assert out["fork"].startswith("PermissionError") and out["subprocess"].startswith(
        "PermissionError")
    assert out["grad_ok"] and "aten::softmax" in out["profiled"]


def test_the_filter_program_refuses_only_task_creation():
    prog = nospawn.filter_program(platform.machine())
    assert all(len(insn) == 8 for insn in prog)
    # arch check, load nr, one jump per refused call (+ x32 on x86_64), allow, refuse
    refused = {"x86_64": 4, "aarch64": 2}[platform.machine()]
    assert len(prog) == 4 + (platform.machine() == "x86_64") + refused + 2


CUDA_UNDER_THE_LOCK = """
import json, torch, torch.nn.functional as F
from autograder import nospawn, worker
torch.set_num_threads(1)
worker._warm_up(use_cuda=True)  # what an exercise process does before the lock
lock = nospawn.forbid_new_tasks()
q = torch.randn(2, 4, 128, 64, device="cuda", requires_grad=True)
out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
out.sum().backward()
with torch.autocast("cuda", dtype=torch.bfloat16):
    y = torch.nn.Linear(64, 64).cuda()(q.detach())
torch.cuda.synchronize()
print(json.dumps({"lock": lock, "grad": q.grad is not None, "dtype": str(y.dtype)}))
"""


@pytest.mark.cuda
def test_cuda_work_runs_under_the_lock_after_the_warm_up():
    """Whether CUDA exercise processes could be locked too (today they are not: runner.py). A
    fresh interpreter, since CUDA does not survive a fork."""
    import subprocess

    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: ungraded on this machine")
    out = subprocess.run([sys.executable, "-c", CUDA_UNDER_THE_LOCK], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"lock": None, "grad": True, "dtype": "torch.bfloat16"}, result
