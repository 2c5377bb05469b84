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
