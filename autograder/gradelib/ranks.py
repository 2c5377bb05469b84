"""Multi-rank launch: one function run on several forked processes joined in a process group, as
data parallelism runs it, with every way it can go wrong (a rank raises, a rank hangs in a
collective the others never call, a rank never returns) turned into one error that names the rank.

An exercise whose driver uses this must be declared ``spawns=True``: its process is not locked
against new processes, so its verdict rests on outputs only.
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import time
import traceback

import torch
import torch.distributed as dist

HINT = ("every rank must call the same collectives (all_reduce, broadcast, barrier, ...) in the "
        "same order; a rank waiting in one the other rank never calls hangs")
# What gloo says in a rank whose partner left or never came: not that rank's own error.
_PARTNER_GONE = ("timed out", "connection closed", "connection reset", "by peer")


def run_ranks(rank_main, world_size: int = 2, deadline_s: float = 30.0) -> list[list[torch.Tensor]]:
    """``rank_main(rank) -> list of tensors`` on ``world_size`` forked processes in one gloo group
    (loopback, a ``file://`` rendezvous in a fresh temporary folder: no network, nothing
    importable by name is needed); returns each rank's tensors, rank 0 first.

    A rank that raises, or ranks still running after ``deadline_s`` (one waiting in a collective
    another never calls), become one error naming the rank(s): NotImplementedError when every
    failing rank raised it, RuntimeError otherwise. Hung ranks are killed; no child outlives the
    call."""
    with tempfile.TemporaryDirectory() as folder:
        pids = [_fork(rank_main, rank, world_size, folder, deadline_s)
                for rank in range(world_size)]
        hung = _wait(pids, deadline_s)
        errors = {}
        for rank in range(world_size):
            if os.path.exists(f"{folder}/rank{rank}.err"):
                with open(f"{folder}/rank{rank}.err") as fh:
                    errors[rank] = fh.read()
        _raise_for(errors, hung, deadline_s)
        return [torch.load(f"{folder}/rank{rank}.pt", weights_only=True)
                for rank in range(world_size)]


def _fork(rank_main, rank: int, world_size: int, folder: str, deadline_s: float) -> int:
    """Start one rank; in the child, run it and leave with os._exit (never returning into the
    caller's stack), its tensors or its error written to ``folder``."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        torch.set_num_threads(1)  # no thread pool inherited across fork
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"
        dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
                                world_size=world_size,
                                timeout=datetime.timedelta(seconds=deadline_s / 3))
        out = [t.contiguous() for t in rank_main(rank)]
        dist.destroy_process_group()
        torch.save(out, f"{folder}/rank{rank}.pt")
        code = 0
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        frames = traceback.extract_tb(e.__traceback__)
        where = next((f" (line {f.lineno} of your answer cell)" for f in reversed(frames)
                      if f.filename.startswith("<answer")), "")
        with open(f"{folder}/rank{rank}.err", "w") as fh:
            fh.write((f"{type(e).__name__}: {e}".rstrip(": ") + where)[:600])
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


FAIL_GRACE_S = 3.0


def _wait(pids: list[int], deadline_s: float) -> list[int]:
    """Reap the ranks as they exit, until all have or the deadline passes (once one has failed,
    the others get FAIL_GRACE_S more to fail too: one second was too short for a rank descheduled
    on a busy machine, which was then killed as hung and its own error lost); kill and reap the
    rest. Returns their ranks."""
    end, codes = time.monotonic() + deadline_s, {}
    while len(codes) < len(pids) and time.monotonic() < end:
        for pid in pids:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = status
        if any(status != 0 for status in codes.values()):
            end = min(end, time.monotonic() + FAIL_GRACE_S)
        time.sleep(0.005)
    hung = [rank for rank, pid in enumerate(pids) if pid not in codes]
    for rank in hung:
        os.kill(pids[rank], 9)
        os.waitpid(pids[rank], 0)
    return hung


def _raise_for(errors: dict[int, str], hung: list[int], deadline_s: float) -> None:
    """The one error that explains the ranks' failures: a rank's own error first; a failure that
    only says the partner left means a rank skipped a collective; then the hung ranks."""
    if errors:
        own = {r: e for r, e in errors.items() if not any(k in e.lower() for k in _PARTNER_GONE)}
        if not own:
            raise RuntimeError(f"rank {min(errors)} failed inside a collective because the other "
                               f"rank never joined it: {HINT}")
        texts = sorted(set(own.values()))
        ranks = " and ".join(str(r) for r in own)
        message = (f"rank {ranks} raised {texts[0]}" if len(texts) == 1 else
                   "; ".join(f"rank {r} raised {e}" for r, e in own.items()))
        if all(e.startswith("NotImplementedError") for e in own.values()):
            raise NotImplementedError(message)
        raise RuntimeError(message)
    if hung:
        raise RuntimeError(f"rank(s) {', '.join(map(str, hung))} still running after "
                           f"{deadline_s:.0f} s and killed: {HINT}")
