"""Where a worker runs: an OS sandbox (strict) or a plain subprocess (portable fallback).

Strict mode (Linux, Debian's ``bubblewrap``): the worker gets new pid/net/ipc/uts(/cgroup)
namespaces and a mount namespace that holds only the system libraries, the Python environment
(read-only), the job's inputs (read-only, at /job) and two small private tmpfs folders (/tmp and
/scratch); there is no network, no view of the course, the reference, other jobs or other
students, and the whole process tree dies with the sandbox. When the grader runs as root, the
worker then drops to an unprivileged user id of its own (one per concurrent slot: ``RLIMIT_NPROC``
counts per uid) with no capabilities and ``no_new_privs``; otherwise bubblewrap's user namespace
keeps the caller's uid. ``prlimit`` bounds address space (CPU jobs), CPU time, processes, open
files and file size. The parent's wall clock still owns the deadline (``runner.py``).

Plain mode: the same protocol in a subprocess with resource limits, timeouts and bounded reads —
for machines without bubblewrap (a student's laptop, macOS). Results then say so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BASE_UID = 60001  # slot k runs as uid/gid BASE_UID + k
TMP_BYTES = 64 << 20
SCRATCH_BYTES = 64 << 20
MAX_PROCESSES = 64  # threads count too; workers run torch with one thread
MAX_OPEN_FILES = 256
PLAIN_NOTE = ("sandbox: plain subprocess ({reason}), with time, memory and output limits but no "
              "filesystem or network isolation")


@dataclass(frozen=True)
class Limits:
    address_space: int = 8 << 30  # bytes; not applied to CUDA jobs (they reserve huge ranges)
    cpu_seconds: int = 600
    file_size: int = 64 << 20


@dataclass(frozen=True)
class Sandbox:
    mode: str  # "strict" or "plain"
    reason: str = ""  # why plain

    @property
    def note(self) -> str | None:
        return PLAIN_NOTE.format(reason=self.reason) if self.mode == "plain" else None

    def worker_paths(self, job_in: Path) -> Path:
        """Where the worker sees its job folder."""
        return Path("/job") if self.mode == "strict" else job_in

    def command(self, job_in: Path, worker_args: list[str], *, slot: int = 0,
                use_cuda: bool = False, limits: Limits = Limits()) -> list[str]:
        python = str(Path(sys.executable).absolute())
        inner = [python, "-I", "-B", str(self.worker_paths(job_in) / "worker.py"), *worker_args]
        if self.mode != "strict":
            return inner
        prlimit = ["prlimit", f"--cpu={limits.cpu_seconds}", f"--nproc={MAX_PROCESSES}",
                   f"--fsize={limits.file_size}", f"--nofile={MAX_OPEN_FILES}", "--core=0"]
        if not use_cuda:
            prlimit.append(f"--as={limits.address_space}")
        drop = []
        if os.geteuid() == 0:
            uid = BASE_UID + slot
            drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return [*_bwrap_args(job_in, use_cuda), "--", *drop, *prlimit, "--", *inner]


MAX_SLOTS = 256
SLOT_LOCKS = Path("/tmp/llmcourse-slots")


@contextlib.contextmanager
def slot_lease(preferred: int = 0):
    """An exclusive sandbox slot on this machine (an flock held while the job runs), starting the
    search at ``preferred``: two graders running at once (two `llmcourse grade`, or a test suite
    beside a batch) never share a uid, so neither can kill or starve the other's processes."""
    import fcntl

    SLOT_LOCKS.mkdir(mode=0o700, exist_ok=True)
    for k in range(MAX_SLOTS):
        slot = (preferred + k) % MAX_SLOTS
        f = open(SLOT_LOCKS / f"slot-{slot}.lock", "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        try:
            yield slot
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
        return
    raise RuntimeError(f"all {MAX_SLOTS} sandbox slots are busy")


def slot_uid(slot: int) -> int | None:
    """The uid a strict job of this slot runs as (None when the grader is not root)."""
    return BASE_UID + slot if os.geteuid() == 0 else None


def processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                pids.append(int(entry))
                            break
            except OSError:
                pass
    return pids


def reap_uid(uid: int, timeout: float = 10.0) -> list[int]:
    """Kill every process of a slot's uid and wait until they are gone (a killed sandbox's pid
    namespace dies asynchronously; the next job of the slot must not inherit its processes,
    which would count against its RLIMIT_NPROC). Returns what is still alive (normally [])."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while True:
        pids = processes_of(uid)
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


def _python_roots() -> list[Path]:
    roots = {Path(p).resolve() for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    roots.add(Path(sys.executable).resolve().parent.parent)
    return sorted(r for r in roots if r != Path("/usr") and not _under(r, Path("/usr")))


def _under(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


def _bwrap_args(job_in: Path, use_cuda: bool) -> list[str]:
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if os.geteuid() != 0:
        args += ["--unshare-user"]
    args += ["--size", str(TMP_BYTES), "--perms", "01777", "--tmpfs", "/tmp",
             "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):  # merged-/usr symlinks, or real folders
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    for etc in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                "/etc/localtime"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    made = set()
    for root in _python_roots():
        for parent in reversed(root.parents):  # traversable parents, whatever the host's modes
            if parent != Path("/") and parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(root), str(root)]
    if use_cuda:  # the GPU device nodes and driver libraries outside /usr (untested without a GPU)
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(dev), str(dev)]
        for lib in ("/usr/local/nvidia", "/usr/local/cuda", "/etc/nvidia"):
            if os.path.isdir(lib):
                args += ["--ro-bind", lib, lib]
    args += ["--ro-bind", str(job_in), "/job",
             "--size", str(SCRATCH_BYTES), "--perms", "01777", "--tmpfs", "/scratch",
             "--chdir", "/scratch"]
    return args


@functools.cache
def _probe() -> str:
    """'' when strict mode works on this machine, else the reason it does not."""
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})"
    for tool in ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ()):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    import tempfile

    with tempfile.TemporaryDirectory(prefix="llmcourse-probe-") as tmp:
        job_in = Path(tmp) / "in"
        job_in.mkdir()
        job_in.chmod(0o755)
        (job_in / "worker.py").write_text("import sys\nprint('ok')\n")
        (job_in / "worker.py").chmod(0o644)
        try:
            with slot_lease(0) as slot:
                cmd = Sandbox("strict").command(job_in, [], slot=slot)
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            return f"bubblewrap failed to start ({e})"
        if proc.returncode != 0 or proc.stdout.strip() != "ok":
            return f"bubblewrap failed: {proc.stderr.strip()[:200]}"
    return ""


def detect(requested: str = "auto") -> Sandbox:
    """``auto``: strict where it works, else plain. ``strict``: strict or an error. ``plain``."""
    if requested == "plain":
        return Sandbox("plain", "plain mode requested")
    reason = _probe()
    if not reason:
        return Sandbox("strict")
    if requested == "strict":
        raise RuntimeError(f"strict sandbox unavailable: {reason}")
    return Sandbox("plain", reason)
