"""Forbid new threads and processes in this process from now on (a seccomp filter).

The grader observes the student's code from inside the worker (the forbidden-call monitor, the
memory and FLOP modes of Chapter 7 drivers). Those observers are per thread, and a forked child is
not observed at all, so code that moved its work to a thread or a child process would escape them.
Once :func:`forbid_new_tasks` has run, ``clone``/``clone3``/``fork``/``vfork`` fail with EPERM
for this process and everything it runs (Python raises ``RuntimeError: can't start new thread`` or
``PermissionError``); the filter cannot be removed, and ``no_new_privs`` (set here) keeps it across
``execve``. Threads that already exist keep running, so the worker starts what it needs first.

Linux only (x86_64 and aarch64); elsewhere the function says why it could not apply the filter.
This module is standalone (stdlib only): it is copied next to the worker.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
import sys

# audit arch, syscall numbers that create a task: clone, fork, vfork, clone3 (x86_64); clone,
# clone3 (aarch64 has no fork/vfork system calls)
_ARCHES = {"x86_64": (0xC000003E, (56, 57, 58, 435)), "aarch64": (0xC00000B7, (220, 435))}
_X32_BIT = 0x40000000  # x86_64's x32 ABI numbers: refused as a whole
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _stmt(code: int, k: int) -> bytes:
    return struct.pack("HBBI", code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def filter_program(machine: str) -> list[bytes]:
    """The classic-BPF program: wrong architecture -> kill; a task-creating call -> EPERM."""
    arch, numbers = _ARCHES[machine]
    prog = [_stmt(_LD_W_ABS, 4),  # seccomp_data.arch
            _jump(_JEQ_K, arch, 1, 0),
            _stmt(_RET_K, _KILL),
            _stmt(_LD_W_ABS, 0)]  # seccomp_data.nr
    if machine == "x86_64":
        prog.append(_jump(_JGE_K, _X32_BIT, len(numbers) + 1, 0))
    for i, nr in enumerate(numbers):
        prog.append(_jump(_JEQ_K, nr, len(numbers) - i, 0))
    prog += [_stmt(_RET_K, _ALLOW), _stmt(_RET_K, _ERRNO | errno.EPERM)]
    return prog


def forbid_new_tasks() -> str | None:
    """Apply the filter to this process. Returns None when applied, else why it could not be."""
    machine = platform.machine()
    if not sys.platform.startswith("linux") or machine not in _ARCHES:
        return f"no seccomp filter for {sys.platform}/{machine}"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as e:
        return f"libc not loadable ({e})"
    prog = b"".join(filter_program(machine))
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"prctl(NO_NEW_PRIVS) failed (errno {ctypes.get_errno()})"
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return f"seccomp filter refused by the kernel (errno {ctypes.get_errno()})"
    return None


def forbid_ptrace_of_self() -> None:
    """Make this process non-dumpable: processes of the same uid (the exercise runs it forks)
    cannot ptrace it or read its memory through /proc."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except OSError:
            pass
