"""Runs the student's code in worker processes and collects their reports, one exercise at a time.

One worker (a "zygote", see ``worker.py``) is started per submission; for each exercise the
parent asks it for a fresh process, with its own report socket and output file, that loads the
trusted given cells and that exercise's own answer cells, and only then receives that exercise's
hidden inputs. The parent owns every clock: the
answer cells of one process must load within ``CELL_TIMEOUT_S`` and its cases finish within a
deadline set from the reference's measured time, both absolute (nothing the worker sends moves
them). Every frame is checked by ``protocol.py`` before it is believed. When an exercise hangs,
crashes, floods its output or breaks the protocol, that exercise alone is charged with a clear
reason. A process locked against new threads and processes (as its first frame says, sent before
any student code ran in it) cannot have started anything: it is ended alone and the worker serves
the rest. Where the worker may be in an unknown state (an unlocked process, a worker that stopped
answering) it is killed (its whole sandbox) and a fresh one continues with the rest, so nothing
already graded is lost. A cell that hangs or crashes while loading is skipped from then on and the
exercise is tried again without it.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import protocol, wire
from autograder.cases import Prepared, exercise_job, to_wire
from autograder.sandbox import (Limits, Sandbox, apply_rlimits, detect, reap_uid, slot_lease,
                                slot_uid)
from autograder.spec import Chapter, Exercise

HERE = Path(__file__).parent
CELL_TIMEOUT_S = 30.0  # loading the answer cells, in each exercise's process (defining is instant)
STARTUP_S = 30.0  # interpreter + torch import, generous for a loaded 2-core machine
TIMEOUT_FACTOR = 50.0  # student's time budget = factor × the reference's own time (+ floor)
OUTPUT_CAP = 64 << 10  # bytes of the student's stdout/stderr kept for messages
OUTPUT_LIMIT_PER_EXERCISE = 1 << 20  # printing more than this while graded fails the exercise
FILE_SIZE_LIMIT = 64 << 20
ADDRESS_SPACE_LIMIT = 8 << 30
EXERCISE_BYTES = 1 << 30  # what one exercise may send besides twice its outputs' size
EXIT_REPORT_S = 10.0  # the zygote's report that an exercise process exited
WORKER_FILES = ("worker.py", "wire.py", "nospawn.py")
WORKER_PACKAGES = ("gradelib",)  # copied whole (its modules only), imported by worker.py


class _Dead(Exception):
    """The worker stopped talking: its channel closed."""


class _Timeout(Exception):
    pass


class _TooMuch(Exception):
    """An exercise's process sent more bytes than its cap (``_Channel.cap``)."""


@dataclass
class RunReport:
    """Everything the worker reported, keyed by exercise id."""

    cases: dict = field(default_factory=dict)  # ex id -> {case index: (header, tensors)}
    failures: dict = field(default_factory=dict)  # ex id -> (status, message): timeout/crash/...
    cell_errors: dict = field(default_factory=dict)  # cell index -> why it hung/crashed (skipped after)
    cell_exceptions: dict = field(default_factory=dict)  # cell index -> exception it raised
    lock_errors: dict = field(default_factory=dict)  # ex id -> why its process was not locked
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


def default_budget(plan) -> float:
    """The most one submission can take when every exercise uses its whole time and one fresh
    worker: the default ``budget_s`` of a class grading (the clocks are absolute, so this is a
    bound, not a guess)."""
    return STARTUP_S + sum(STARTUP_S + CELL_TIMEOUT_S + exercise_deadline(ex, prepared)
                           for ex, prepared in plan)


def _plain_preexec(limits: Limits, use_cuda: bool):
    """The plain mode's preexec: a session of its own (so the parent can kill the whole group)
    and the same limits the strict mode sets with prlimit (``sandbox.rlimits``)."""
    def preexec():  # runs in the child between fork and exec
        os.setsid()
        apply_rlimits(limits, use_cuda)
    return preexec


class _Channel:
    """A socket read with absolute deadlines owned by the parent."""

    def __init__(self, sock: socket.socket, cap: int | None = None):
        self.sock = sock
        self.buf = bytearray()
        self.deadline = time.monotonic()
        self.cap, self.received = cap, 0  # bytes this channel may carry in all

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill(n - len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _fill(self, want: int) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Timeout()
        ready, _, _ = select.select([self.sock], [], [], left)
        if not ready:
            raise _Timeout()
        chunk = self.sock.recv(max(want, 1 << 16))
        if not chunk:
            raise _Dead()
        self.received += len(chunk)
        if self.cap is not None and self.received > self.cap:
            raise _TooMuch()
        self.buf += chunk

    def header(self, deadline: float) -> dict:
        self.deadline = deadline
        try:
            return wire.read_header(self.read_exact)
        except wire.WireError as e:
            raise protocol.ProtocolError(f"sent a malformed frame ({e})") from None

    def frame(self, deadline: float) -> dict:
        """A frame that must carry no tensors."""
        header = self.header(deadline)
        if header.get("tensors"):
            raise protocol.ProtocolError(f"sent tensors with '{str(header.get('event'))[:40]}'")
        return header

    def expect_eof(self, deadline: float) -> None:
        self.deadline = deadline
        if self.buf:
            raise protocol.ProtocolError("sent more after its end")
        try:
            self._fill(1)
        except _Dead:
            return
        raise protocol.ProtocolError("sent more after its end")

    def close(self) -> None:
        self.sock.close()


class _Zygote:
    """One sandboxed worker process that forks a fresh process per exercise."""

    def __init__(self, job_dir: Path, use_cuda: bool, sandbox: Sandbox, slot: int,
                 limits: Limits):
        ours, theirs = socket.socketpair()
        self.job_dir = job_dir
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
        preexec = os.setsid if sandbox.mode == "strict" else _plain_preexec(limits, use_cuda)
        cmd = sandbox.command(job_dir / "in", [str(inside / "job.bin"), str(theirs.fileno())],
                              slot=slot, use_cuda=use_cuda, limits=limits)
        self.proc = subprocess.Popen(
            cmd, cwd=job_dir, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(theirs.fileno(),), preexec_fn=preexec,
        )
        theirs.close()
        self.control = _Channel(ours)
        self.uid = slot_uid(slot) if sandbox.mode == "strict" else None
        self.plain = sandbox.mode != "strict"
        self.child_pid = None
        self.alive = True

    def wait_ready(self) -> None:
        protocol.expect_event(self.control.frame(time.monotonic() + STARTUP_S), "ready")

    def fork(self, request: dict, fds: list[int]) -> None:
        """Ask for the process of one exercise, handing it ``fds`` (socket, output file)."""
        try:
            wire.send_fds(self.control.sock, fds)
            self.control.sock.sendall(wire.encode(request))
        except OSError:  # the zygote is gone
            raise _Dead() from None
        forked = protocol.expect_event(self.control.frame(time.monotonic() + EXIT_REPORT_S),
                                       "forked", index=request["index"])
        self.child_pid = forked.get("pid") if isinstance(forked.get("pid"), int) else None

    def exited(self, index: int) -> int | None:
        """The exercise process's exit status, as the zygote saw it."""
        header = protocol.expect_event(self.control.frame(time.monotonic() + EXIT_REPORT_S),
                                       "exited", index=index)
        self.child_pid = None
        code = header.get("code")
        return code if isinstance(code, int) else None

    def stop(self, index: int) -> None:
        """End the running exercise process ``index`` alone, keeping the worker: only for a process
        locked against new threads and processes (it can have started nothing). When the zygote
        does not confirm, the whole worker is killed instead."""
        try:
            self.control.sock.sendall(wire.STOP_MARKER)
            self.exited(index)
        except (OSError, _Timeout, _Dead, protocol.ProtocolError):
            self.kill()

    def kill(self) -> None:
        """Kill the worker and everything it started (idempotent)."""
        if not self.alive:
            return
        self.alive = False
        if self.plain and self.child_pid:  # it may have left the process group (setsid)
            with contextlib.suppress(OSError):
                os.kill(self.child_pid, signal.SIGKILL)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.uid is not None:
            reap_uid(self.uid)  # the sandbox's processes die with it, but asynchronously
        self.control.close()
        self.log.close()

    def close(self) -> None:
        """Normal end: closing the channel makes the zygote return."""
        if not self.alive:
            return
        with contextlib.suppress(OSError):
            self.control.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.kill()


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


@dataclass
class _Job:
    """What stays the same for every exercise process of one submission."""

    job_dir: Path
    use_cuda: bool
    sandbox: Sandbox
    slot: int
    limits: Limits
    cells: dict[str, list[int]]  # exercise id -> the cells its process loads
    end: float | None  # the submission's budget, as a monotonic time
    budget_s: float | None

    def until(self, seconds: float) -> float:
        t = time.monotonic() + seconds
        return min(t, self.end) if self.end is not None else t

    def out_of_budget(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end


JOB_PREFIX = "llmcourse-job-"  # + the grading process's pid: its job folders in the temp dir


def remove_stale_job_dirs() -> int:
    """Delete the job folders (students' code, hidden inputs) that graders killed before their
    cleanup left in the temporary directory: those whose process no longer runs. Returns how many
    were removed."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{JOB_PREFIX}*"):
        pid = path.name[len(JOB_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not path.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += not path.exists()
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def run_in_worker(chapter: Chapter, cells: list[dict], plan: list[tuple[Exercise, list[Prepared]]],
                  *, cells_for: dict[str, list[int]] | None = None, sandbox: Sandbox | None = None,
                  slot: int = 0, budget_s: float | None = None) -> RunReport:
    """Grade ``plan`` (exercises with their prepared cases) against ``cells`` in worker processes.
    ``cells_for`` says which cells each exercise's process loads (default: all): the grader gives
    each exercise its own answer cells and the trusted given cells only, so that no other answer
    cell's code runs where it is graded. ``budget_s`` caps the whole submission: when it runs
    out, the running and remaining exercises fail with a message saying so."""
    sandbox = sandbox or detect("auto")
    report = RunReport()
    use_cuda = any(p.case.device.startswith("cuda") for _, prep in plan for p in prep)
    budget = STARTUP_S + sum(CELL_TIMEOUT_S + exercise_deadline(ex, prep) for ex, prep in plan)
    limits = Limits(address_space=ADDRESS_SPACE_LIMIT, cpu_seconds=int(2 * budget),
                    file_size=FILE_SIZE_LIMIT)
    job_dir = Path(tempfile.mkdtemp(prefix=f"{JOB_PREFIX}{os.getpid()}-"))
    job_in = job_dir / "in"
    job_in.mkdir(mode=0o755)
    job_in.chmod(0o755)  # readable by the sandbox's unprivileged uid; job_dir itself stays private
    try:
        for name in WORKER_FILES:
            shutil.copy(HERE / name, job_in / name)
        for name in WORKER_PACKAGES:
            (job_in / name).mkdir(mode=0o755)
            for module in (HERE / name).glob("*.py"):
                shutil.copy(module, job_in / name / module.name)
                (job_in / name / module.name).chmod(0o644)
            (job_in / name).chmod(0o755)
        # the student's own cells only: hidden inputs go to one exercise process at a time
        wire.write_file(job_in / "job.bin", {"prelude": chapter.prelude, "cells": cells,
                                             "warm_ups": list(chapter.warm_ups),
                                             "sandboxed": sandbox.mode == "strict"}, [])
        for f in job_in.iterdir():
            if f.is_file():
                f.chmod(0o644)
        lease = slot_lease(slot) if sandbox.mode == "strict" else contextlib.nullcontext(slot)
        with lease as slot:
            every = list(range(len(cells)))
            job = _Job(job_dir, use_cuda, sandbox, slot, limits,
                       {ex.id: (cells_for or {}).get(ex.id, every) for ex, _ in plan},
                       time.monotonic() + budget_s if budget_s else None, budget_s)
            _run_plan(job, plan, report)
        report.output_tail = _tail(job_dir)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    return report


def _run_plan(job: _Job, plan, report: RunReport) -> None:
    zygote = None
    try:
        for k, (ex, prepared) in enumerate(plan):
            report.cases[ex.id] = {}
            # (an exercise without cases, e.g. ungraded on this machine, needs no process)
            while prepared and ex.id not in report.failures:  # again only after a cell was skipped
                if job.out_of_budget():
                    report.failures[ex.id] = ("timeout", f"not graded: the submission's time "
                                              f"budget of {job.budget_s:g} s ran out")
                    break
                if zygote is None or not zygote.alive:
                    zygote = _start(job, report, [e for e, _ in plan[k:]])
                    if zygote is None:
                        return  # no student code has run in it: the rest cannot start either
                if not _run_exercise(job, zygote, k, ex, prepared, report):
                    break
    finally:
        if zygote is not None:
            zygote.close()


def _start(job: _Job, report: RunReport, pending: list[Exercise]):
    """A fresh worker, or None after charging every pending exercise with why it did not start."""
    zygote = _Zygote(job.job_dir, job.use_cuda, job.sandbox, job.slot, job.limits)
    try:
        zygote.wait_ready()
        return zygote
    except (_Timeout, _Dead, protocol.ProtocolError) as e:
        zygote.kill()
        why = "did not start in time" if isinstance(e, _Timeout) else f"failed to start ({e})"
        for ex in pending:
            report.cases.setdefault(ex.id, {})
            report.failures[ex.id] = ("crash", f"the grading worker {why}")
        return None


def _run_exercise(job: _Job, zygote: _Zygote, k: int, ex: Exercise, prepared: list[Prepared],
                  report: RunReport) -> bool:
    """One exercise in its own process. True when it must be tried again (a cell was skipped)."""
    ours, theirs = socket.socketpair()
    out_path = job.job_dir / f"output-{k}.log"
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    # a wrong output larger than the reference's is skipped unread, but not without end
    outputs_size = protocol.expected_bytes(prepared)
    channel = _Channel(ours, cap=EXERCISE_BYTES + 2 * outputs_size)
    load = [i for i in job.cells[ex.id] if i not in report.cell_errors]
    ex_cuda = any(p.case.device.startswith("cuda") for p in prepared)
    request = {"index": k, "exercise": exercise_job(ex), "cells": load,
               "cuda": ex_cuda, "lock": not ex.spawns and not ex_cuda}
    loading = None
    phase = "cells"
    locked = False  # as its first frame says, sent before any student code ran in it

    def end_process():
        """A process that must not go on: alone when it is locked, else with its whole worker."""
        if locked:
            zygote.stop(k)
        else:
            zygote.kill()

    try:
        try:
            zygote.fork(request, [theirs.fileno(), out_fd])
        finally:
            theirs.close()
            os.close(out_fd)
        # 1. the answer cells, in order, within CELL_TIMEOUT_S in all
        load_until = job.until(CELL_TIMEOUT_S)
        locked, lock_error = protocol.check_started(channel.frame(load_until))
        locked = locked and request["lock"]
        if request["lock"] and not locked:
            report.lock_errors[ex.id] = lock_error or "not applied"
        for i in load:
            protocol.expect_event(channel.frame(load_until), "cell_start", index=i)
            loading = i
            error = protocol.check_cell_end(channel.frame(load_until), i)
            loading = None
            if error:
                report.cell_exceptions.setdefault(i, error)
        protocol.expect_event(channel.frame(load_until), "loaded")
        # 2. the hidden inputs, handed over only now; every case reported once, in order
        phase = "cases"
        printed_before = out_path.stat().st_size
        _send_inputs(job, channel, prepared)
        until = job.until(exercise_deadline(ex, prepared))
        expectations = protocol.expectations(prepared)
        for expected in expectations:
            header = channel.header(until)
            protocol.check_case(header, expected)
            tensors = protocol.read_tensors(header, expected, channel.read_exact)
            header.pop("tensors")
            report.cases[ex.id][expected.index] = (header, tensors)
        ops = protocol.check_end(channel.frame(until), expectations)
        for index, names in ops.items():
            header, tensors = report.cases[ex.id][index]
            report.cases[ex.id][index] = (protocol.add_forbidden_ops(header, names), tensors)
        channel.expect_eof(job.until(EXIT_REPORT_S))
        zygote.exited(k)
        printed = out_path.stat().st_size - printed_before
        if printed > OUTPUT_LIMIT_PER_EXERCISE:
            report.failures[ex.id] = (
                "output", f"printed {printed / 2**20:.1f} MiB while being graded (limit "
                f"{OUTPUT_LIMIT_PER_EXERCISE / 2**20:.0f} MiB): remove the prints from your code")
        return False
    except _Timeout:
        end_process()
        if loading is not None:
            report.cell_errors[loading] = ("loading this answer cell did not finish within "
                                           f"{CELL_TIMEOUT_S:.0f} s")
            return True
        report.failures[ex.id] = ("timeout", _timeout_text(job, phase, ex, prepared))
        return False
    except _Dead:
        code = _exit_code(zygote, k)
        if loading is not None:
            report.cell_errors[loading] = f"loading this answer cell ended the process " \
                                          f"(the grading process {_exit_text(code)})"
            return True
        report.failures[ex.id] = ("crash", f"your code ended the grading process (it "
                                  f"{_exit_text(code)}): sys.exit/os._exit, or a crash?")
        return False
    except _TooMuch:
        end_process()
        report.failures[ex.id] = (
            "output", f"returned more than {channel.cap / 2**20:.0f} MiB of tensors in all "
            f"(the reference's outputs take {outputs_size / 2**20:.1f} MiB): is an output far larger "
            "than it should be?")
        return False
    except protocol.ProtocolError as e:
        end_process()
        if loading is not None:  # frames written by a cell's own code while it loads
            report.cell_errors[loading] = f"loading this answer cell broke the grading protocol " \
                                          f"(the grading process {e})"
            return True
        report.cases[ex.id].clear()  # none of its reports is believed
        report.failures[ex.id] = ("protocol", f"broke the grading protocol: the grading process "
                                  f"{e}. Only the grader may write to its channels")
        return False
    finally:
        channel.close()
        with contextlib.suppress(OSError):
            out_path.unlink()


def _send_inputs(job: _Job, channel: _Channel, prepared: list[Prepared]) -> None:
    tensors: list = []
    cases = [to_wire(p.case, p.index, tensors, grad_outputs=p.grad_outputs) for p in prepared]
    path = job.job_dir / "inputs.bin"
    wire.write_file(path, {"cases": cases}, tensors)
    fd = os.open(path, os.O_RDONLY)
    try:
        path.unlink()
        wire.send_fds(channel.sock, [fd])
    except OSError:  # the exercise process is gone
        raise _Dead() from None
    finally:
        os.close(fd)


def _exit_code(zygote: _Zygote, k: int):
    """After an exercise process closed its socket early: its exit status (killing the worker
    when the zygote does not say)."""
    try:
        return zygote.exited(k)
    except (_Timeout, _Dead, protocol.ProtocolError):
        zygote.kill()
        return None


def _timeout_text(job: _Job, phase: str, ex: Exercise, prepared) -> str:
    if job.out_of_budget():
        return "not finished when the submission's time budget ran out"
    if phase == "cells":
        return f"its process did not finish loading the answer cells within {CELL_TIMEOUT_S:.0f} s"
    return (f"did not finish within {exercise_deadline(ex, prepared):.0f} s — is there an "
            "endless loop, or is it far slower than needed?")
