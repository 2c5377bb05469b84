"""Runs the student's code in a separate worker process and collects its reports, per exercise.

The parent owns the clock: every answer cell has a load deadline and every exercise a deadline set
from the reference's measured time. When a cell or an exercise hangs, crashes the interpreter,
calls ``os._exit`` or floods the channel, the worker is killed (its whole process group), that one
cell or exercise is charged with a clear reason, and a fresh worker continues with the rest — so
nothing already graded is lost.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import wire
from autograder.cases import Prepared, exercise_job, to_wire
from autograder.sandbox import Limits, Sandbox, detect, reap_uid, slot_lease, slot_uid
from autograder.spec import Chapter, Exercise

HERE = Path(__file__).parent
CELL_TIMEOUT_S = 30.0  # loading one answer cell (defining functions is instant)
STARTUP_S = 30.0  # interpreter + torch import, generous for a loaded 2-core machine
TIMEOUT_FACTOR = 50.0  # student's time budget = factor × the reference's own time (+ floor)
OUTPUT_CAP = 64 << 10  # bytes of the student's stdout/stderr kept for messages
OUTPUT_LIMIT_PER_EXERCISE = 1 << 20  # printing more than this while graded fails the exercise
FILE_SIZE_LIMIT = 64 << 20
ADDRESS_SPACE_LIMIT = 8 << 30


class _Dead(Exception):
    """The worker stopped talking: it exited, was killed, or broke the protocol."""


class _Timeout(Exception):
    pass


@dataclass
class RunReport:
    """Everything the worker reported, keyed by exercise id."""

    cases: dict = field(default_factory=dict)  # ex id -> {case index: (header, tensors)}
    failures: dict = field(default_factory=dict)  # ex id -> (status, message) for timeout/crash
    cell_errors: dict = field(default_factory=dict)  # cell index -> why it hung/crashed (skipped after)
    cell_exceptions: dict = field(default_factory=dict)  # cell index -> exception it raised
    output_tail: str = ""

    def shift_cells(self, n: int) -> None:
        """Renumber cells after ``n`` leading trusted cells (a hang there blames no exercise)."""
        self.cell_errors = {i - n: m for i, m in self.cell_errors.items()}
        self.cell_exceptions = {i - n: m for i, m in self.cell_exceptions.items()}


def gpu_for_slot(slot: int) -> str:
    """The one GPU a CUDA job of this slot may use (among those visible to the grader)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() != "":
        ids = [d.strip() for d in visible.split(",") if d.strip()]
    else:
        import torch

        ids = [str(i) for i in range(torch.cuda.device_count())]
    return ids[slot % len(ids)] if ids else ""


def exercise_deadline(ex: Exercise, prepared: list[Prepared]) -> float:
    return max(ex.timeout_floor_s, TIMEOUT_FACTOR * sum(p.ref_seconds for p in prepared))


def _plain_limits(limits: Limits, use_cuda: bool):
    """The plain mode's preexec: a session of its own (so the parent can kill the whole group)
    and the same limits the strict mode sets with prlimit (no RLIMIT_AS for CUDA jobs: they
    reserve huge virtual ranges; their memory is bounded by the GPU they are given)."""
    def preexec():  # runs in the child between fork and exec
        os.setsid()
        rules = [(resource.RLIMIT_FSIZE, limits.file_size), (resource.RLIMIT_CORE, 0),
                 (resource.RLIMIT_CPU, limits.cpu_seconds)]
        if not use_cuda:
            rules.append((resource.RLIMIT_AS, limits.address_space))
        for res, value in rules:
            try:
                resource.setrlimit(res, (value, value))
            except (ValueError, OSError):
                pass
    return preexec


class _Worker:
    def __init__(self, job_dir: Path, use_cuda: bool, sandbox: Sandbox, slot: int,
                 limits: Limits):
        r, w = os.pipe()
        self.log = open(job_dir / "output.log", "ab")
        inside = sandbox.worker_paths(job_dir / "in")
        home = "/scratch" if sandbox.mode == "strict" else str(job_dir)
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "MPLCONFIGDIR": home, "PYTHONHASHSEED": "0",
               "LC_ALL": "C.UTF-8"}
        if use_cuda:  # one GPU per job, chosen by slot: its memory bounds the job, not RLIMIT_AS
            env["CUDA_VISIBLE_DEVICES"] = gpu_for_slot(slot)
            if "LD_LIBRARY_PATH" in os.environ:  # where the driver's libcuda may live
                env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        else:
            env["CUDA_VISIBLE_DEVICES"] = ""  # CPU jobs see no GPU at all
        if os.environ.get("TRITON_INTERPRET") == "1":  # Triton kernels on CPU (platform tests)
            env["TRITON_INTERPRET"] = "1"
        # strict: limits are applied inside the sandbox by prlimit
        preexec = os.setsid if sandbox.mode == "strict" else _plain_limits(limits, use_cuda)
        cmd = sandbox.command(job_dir / "in", [str(inside / "job.bin"), str(w)], slot=slot,
                              use_cuda=use_cuda, limits=limits)
        self.proc = subprocess.Popen(
            cmd, cwd=job_dir, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(w,), preexec_fn=preexec,
        )
        os.close(w)
        self.fd = r
        self.buf = bytearray()
        self.deadline = time.monotonic() + STARTUP_S
        self.uid = slot_uid(slot) if sandbox.mode == "strict" else None

    def printed(self) -> int:
        """Bytes the worker has written to stdout/stderr so far."""
        try:
            return os.fstat(self.log.fileno()).st_size
        except (OSError, ValueError):
            return 0

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise _Timeout()
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                raise _Timeout()
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise _Dead()
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def next_message(self):
        try:
            return wire.read_frame(self._read_exact)
        except wire.WireError as e:
            raise _Dead(f"broke the result protocol ({e})") from None

    def kill(self) -> int | None:
        """Kill the whole process group (idempotent); returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        if self.uid is not None:
            reap_uid(self.uid)  # the sandbox's processes die with it, but asynchronously
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.log.close()
        return code


def _exit_text(code) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _tail(job_dir: Path) -> str:
    try:
        with open(job_dir / "output.log", "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - OUTPUT_CAP))
            data = f.read(OUTPUT_CAP)
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def run_in_worker(chapter: Chapter, cells: list[dict], plan: list[tuple[Exercise, list[Prepared]]],
                  *, seed: int = 0, sandbox: Sandbox | None = None, slot: int = 0,
                  budget_s: float | None = None) -> RunReport:
    """Grade ``plan`` (exercises with their prepared cases) against ``cells`` in worker processes.
    ``budget_s`` caps the whole submission: when it runs out, the running and remaining exercises
    fail with a message saying so."""
    end = time.monotonic() + budget_s if budget_s else None
    sandbox = sandbox or detect("auto")
    report = RunReport()
    tensors: list = []
    exercises = []
    deadlines = {}
    for ex, prepared in plan:
        cases = [to_wire(p.case, p.index, tensors, grad_outputs=p.grad_outputs) for p in prepared]
        exercises.append(exercise_job(ex) | {"cases": cases})
        deadlines[ex.id] = exercise_deadline(ex, prepared)
        report.cases[ex.id] = {}
    use_cuda = any(p.case.device.startswith("cuda") for _, prep in plan for p in prep)
    job = {"prelude": chapter.prelude, "cells": cells, "exercises": exercises, "seed": seed,
           "skip_cells": [], "skip_exercises": [], "sandboxed": sandbox.mode == "strict"}
    budget = STARTUP_S + CELL_TIMEOUT_S * len(cells) + sum(deadlines.values())
    limits = Limits(address_space=ADDRESS_SPACE_LIMIT, cpu_seconds=int(2 * budget),
                    file_size=FILE_SIZE_LIMIT)

    job_dir = Path(tempfile.mkdtemp(prefix="llmcourse-job-"))
    job_in = job_dir / "in"
    job_in.mkdir(mode=0o755)
    job_in.chmod(0o755)  # readable by the sandbox's unprivileged uid; job_dir itself stays private
    try:
        for name in ("worker.py", "wire.py"):
            shutil.copy(HERE / name, job_in / name)
        pending = [e["id"] for e in exercises]
        lease = slot_lease(slot) if sandbox.mode == "strict" else contextlib.nullcontext(slot)
        with lease as slot:
            _run_pending(job, job_dir, exercises, pending, tensors, report, deadlines, use_cuda,
                         sandbox, slot, limits, end, budget_s)
        report.output_tail = _tail(job_dir)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    return report


def _run_pending(job, job_dir, exercises, pending, tensors, report, deadlines, use_cuda, sandbox,
                 slot, limits, end, budget_s) -> None:
    """Start workers until every exercise is graded or charged (each restart settles one)."""
    job_in = job_dir / "in"
    while pending:
        if end is not None and time.monotonic() >= end:
            for ex_id in pending:
                report.failures[ex_id] = ("timeout", f"not graded: the submission's time "
                                          f"budget of {budget_s:g} s ran out")
            break
        job["skip_exercises"] = [e["id"] for e in exercises if e["id"] not in pending]
        job["skip_cells"] = sorted(report.cell_errors)
        wire.write_file(job_in / "job.bin", job, tensors)
        for f in job_in.iterdir():
            f.chmod(0o644)
        _one_worker(_Worker(job_dir, use_cuda, sandbox, slot, limits), deadlines, pending,
                    report, end)


def _one_worker(w: _Worker, deadlines, pending: list, report: RunReport, end=None) -> None:
    """Run one worker until it finishes or must be killed; updates ``pending`` and ``report``."""
    def until(seconds):  # a deadline, never past the submission's budget
        t = time.monotonic() + seconds
        return min(t, end) if end is not None else t

    cell = None
    current = None
    printed_before = 0
    try:
        while True:
            header, ts = w.next_message()
            event = header.get("event")
            if event == "cell_start":
                cell = header.get("index")
                w.deadline = until(CELL_TIMEOUT_S)
            elif event == "cell_end":
                if header.get("error") and isinstance(cell, int):
                    report.cell_exceptions[cell] = str(header["error"])
                cell = None
            elif event == "exercise_start" and header.get("id") in pending:
                current = header["id"]
                w.deadline = until(deadlines[current])
                printed_before = w.printed()
            elif event == "case" and header.get("id") == current:
                report.cases[current][header.get("case")] = (header, ts)
            elif event == "exercise_end" and header.get("id") == current:
                printed = w.printed() - printed_before
                if printed > OUTPUT_LIMIT_PER_EXERCISE:
                    report.failures[current] = (
                        "output", f"printed {printed / 2**20:.1f} MiB while being graded (limit "
                        f"{OUTPUT_LIMIT_PER_EXERCISE / 2**20:.0f} MiB): remove the prints from your code")
                pending.remove(current)
                current = None
            elif event == "done":
                pending.clear()
                return
    except _Timeout:
        code = w.kill()
        if cell is not None:
            report.cell_errors[cell] = f"loading this answer cell did not finish within {CELL_TIMEOUT_S:.0f} s"
        elif current is not None and end is not None and time.monotonic() >= end:
            report.failures[current] = ("timeout", "not finished when the submission's time "
                                        "budget ran out")
        elif current is not None:
            report.failures[current] = ("timeout", f"did not finish within {deadlines[current]:.0f} s "
                                        "— is there an endless loop, or is it far slower than needed?")
        else:
            report.failures.update({e: ("timeout", "the worker did not start") for e in pending})
            pending.clear()
        _settle(current, pending)
        return
    except _Dead as e:
        try:  # it closed the channel: let it finish exiting, to report its own exit status
            w.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        code = w.kill()
        why = str(e) or f"the grading process {_exit_text(code)}"
        if cell is not None:
            report.cell_errors[cell] = f"loading this answer cell ended the process ({why})"
        elif current is not None:
            report.failures[current] = ("crash", f"your code ended the grading process ({why}): "
                                        "sys.exit/os._exit, a crash, or output on the result channel?")
        else:
            report.failures.update({e: ("crash", f"the worker failed to start ({why})") for e in pending})
            pending.clear()
        _settle(current, pending)
        return
    finally:
        w.kill()  # also reaps anything the student's code left running in its process group


def _settle(current, pending: list) -> None:
    if current is not None and current in pending:
        pending.remove(current)
