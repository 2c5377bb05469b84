"""Where a worker runs: an OS sandbox (strict) or a plain subprocess (portable fallback).

Strict mode (Linux, Debian's ``bubblewrap``): the worker gets new pid/net/ipc/uts(/cgroup)
namespaces and a mount namespace that holds only the system libraries, the Python environment
(read-only), the job's inputs (read-only, at /job) and two small private tmpfs folders (/tmp and
/scratch); there is no network, no view of the course, the reference, other jobs or other
students, and the whole process tree dies with the sandbox. When the grader runs as root, the
worker then drops to an unprivileged user id of its own (one per concurrent slot: ``RLIMIT_NPROC``
counts per uid) with no capabilities and ``no_new_privs``; otherwise bubblewrap's user namespace
keeps the caller's uid. ``prlimit`` bounds host memory (address space for CPU jobs, private
writable data for CUDA jobs, see ``rlimits``), CPU time, processes, open files and file size. The
parent's wall clock still owns the deadline (``runner.py``).

Plain mode: the same protocol in a subprocess with resource limits, timeouts and bounded reads —
for machines without bubblewrap (a student's laptop, macOS). Results then say so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
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
    address_space: int = 8 << 30  # bytes of virtual memory, CPU jobs only (see ``rlimits``)
    data: int = 32 << 30  # bytes of private writable memory, CUDA jobs only (see ``rlimits``)
    cpu_seconds: int = 600
    file_size: int = 64 << 20


# The prlimit option for each resource limit (util-linux names them after the RLIMIT_ suffix).
_PRLIMIT_FLAGS = {resource.RLIMIT_CPU: "cpu", resource.RLIMIT_FSIZE: "fsize",
                  resource.RLIMIT_CORE: "core", resource.RLIMIT_NOFILE: "nofile",
                  resource.RLIMIT_AS: "as", resource.RLIMIT_DATA: "data",
                  resource.RLIMIT_NPROC: "nproc"}


def rlimits(limits: Limits, use_cuda: bool) -> list[tuple[int, int]]:
    """The per-process resource limits of a worker, as ``(resource.RLIMIT_*, value)``: the one
    list that the strict mode passes to prlimit and the plain mode sets in its preexec
    (``apply_rlimits``). ``RLIMIT_NPROC`` is not here: it counts every process of the uid on the
    host, so only the strict mode, whose slot has a uid of its own, adds it.

    Host memory: a CPU job gets ``RLIMIT_AS`` (all virtual memory). A CUDA job cannot: the driver
    reserves huge ranges of address space (PROT_NONE, for unified addressing) that never
    hold a byte, so it gets ``RLIMIT_DATA`` instead, which since Linux 4.7 counts only private
    writable mappings (heap, anonymous mmap, tensors on the host), not those reservations nor the
    device's shared mappings. Its GPU memory is bounded by the one GPU it is given (runner.py).
    Untested without a GPU here: ``.ci/cuda-check`` runs a CUDA job under this limit to confirm."""
    memory = ((resource.RLIMIT_DATA, limits.data) if use_cuda
              else (resource.RLIMIT_AS, limits.address_space))
    return [(resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_FSIZE, limits.file_size),
            (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, MAX_OPEN_FILES), memory]


def apply_rlimits(limits: Limits, use_cuda: bool) -> None:
    """Set ``rlimits(limits, use_cuda)`` on this process (for a preexec, between fork and exec).
    Each value is capped at the current hard limit (a process may lower, never raise, it)."""
    for res, value in rlimits(limits, use_cuda):
        _soft, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(res, (value, value))


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
        rules = [*rlimits(limits, use_cuda), (resource.RLIMIT_NPROC, MAX_PROCESSES)]
        prlimit = ["prlimit", *(f"--{_PRLIMIT_FLAGS[res]}={value}" for res, value in rules)]
        drop = []
        if os.geteuid() == 0:
            uid = BASE_UID + slot
            drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return [*_bwrap_args(job_in, use_cuda), "--", *drop, *prlimit, "--", *inner]


MAX_SLOTS = 256
# Per effective uid, so that no other local user can own (and so block or redirect) the grader's
# locks; where another user planted it first, slot_lease refuses to use it. In /tmp, not $TMPDIR:
# every grader of this uid on the machine must find the same locks, whatever its environment.
SLOT_LOCKS = Path("/tmp") / f"llmcourse-slots-{os.geteuid()}"


def _private_dir(path: Path) -> int:
    """An fd of ``path``, created 0700 if missing; it must be a real directory (not a symbolic
    link) owned by our euid that no other user may enter or write. Else RuntimeError."""
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # whatever the umask
    except FileExistsError:
        pass
    st = os.lstat(path)
    problem = None
    if stat.S_ISLNK(st.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        problem = "is not a directory"
    elif st.st_uid != os.geteuid():
        problem = f"is owned by uid {st.st_uid}, not by the grader's uid {os.geteuid()}"
    elif st.st_mode & 0o077:
        problem = f"has mode {stat.S_IMODE(st.st_mode):04o}: other users may use it (0700 needed)"
    if problem is None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) == (st.st_dev, st.st_ino):
            return fd
        os.close(fd)
        problem = "was replaced while it was checked"
    raise RuntimeError(f"refusing the sandbox slot-lock folder {path}: it {problem}; remove it "
                       "(another user may have planted it) and grade again")


def _lock_file(folder_fd: int, name: str, folder: Path) -> int:
    """An fd of the lock file ``name`` in the folder: opened without truncating and without
    following a symbolic link, and only if it is a regular file of our own."""
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=folder_fd)
    except OSError as e:
        raise RuntimeError(f"refusing the sandbox slot lock {folder / name}: {e.strerror} "
                           "(a symbolic link?); remove it and grade again") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise RuntimeError(f"refusing the sandbox slot lock {folder / name}: not a regular file "
                           "owned by the grader; remove it and grade again")
    return fd


@contextlib.contextmanager
def slot_lease(preferred: int = 0):
    """An exclusive sandbox slot on this machine (an flock held while the job runs), starting the
    search at ``preferred``: two graders running at once (two `llmcourse grade`, or a test suite
    beside a batch) never share a uid, so neither can kill or starve the other's processes."""
    import fcntl

    folder = SLOT_LOCKS
    folder_fd = _private_dir(folder)
    try:
        for k in range(MAX_SLOTS):
            slot = (preferred + k) % MAX_SLOTS
            fd = _lock_file(folder_fd, f"slot-{slot}.lock", folder)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:
                yield slot
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
    finally:
        os.close(folder_fd)
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
        for lib in ("/etc/nvidia",):  # /usr/local/cuda, /usr/local/nvidia: already in /usr
            if os.path.isdir(lib):  # (binding them again fails where they are symbolic links)
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
