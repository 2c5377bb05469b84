"""gradelib.ranks: a function run on two forked ranks in one gloo group; every failure (an error,
a skipped collective, a hang) becomes one error naming the rank, and no child outlives the call."""

from __future__ import annotations

import os
import time

import pytest
import torch
import torch.distributed as dist

from autograder.gradelib.ranks import run_ranks


def _no_child_left() -> bool:
    """No child of this process remains, running or unreaped."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_each_rank_returns_its_tensors_after_a_collective():
    def rank_main(rank):
        x = torch.tensor([float(rank + 1)])
        dist.all_reduce(x)
        return [x, torch.tensor([rank, dist.get_world_size()])]

    outs = run_ranks(rank_main, 2, deadline_s=20.0)
    assert [[t.tolist() for t in out] for out in outs] == [[[3.0], [0, 2]], [[3.0], [1, 2]]]
    assert _no_child_left()


def test_a_rank_error_names_the_rank():
    def rank_main(rank):
        if rank == 1:
            raise ValueError("bad shape")
        return [torch.zeros(1)]

    with pytest.raises(RuntimeError, match=r"^rank 1 raised ValueError: bad shape$"):
        run_ranks(rank_main, 2, deadline_s=20.0)
    assert _no_child_left()


def test_not_implemented_everywhere_stays_not_implemented():
    def rank_main(rank):
        raise NotImplementedError

    with pytest.raises(NotImplementedError, match="rank 0 and 1 raised NotImplementedError"):
        run_ranks(rank_main, 2, deadline_s=20.0)


def test_a_skipped_collective_is_explained():
    def rank_main(rank):
        x = torch.zeros(1)
        if rank == 0:
            dist.all_reduce(x)
        return [x]

    with pytest.raises(RuntimeError, match="rank 0 failed inside a collective because the other "
                                           "rank never joined it: every rank must call the same"):
        run_ranks(rank_main, 2, deadline_s=3.0)
    assert _no_child_left()


def test_hung_ranks_are_killed_at_the_deadline():
    def rank_main(rank):
        time.sleep(600)

    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"rank\(s\) 0, 1 still running after 2 s and killed"):
        run_ranks(rank_main, 2, deadline_s=2.0)
    assert time.monotonic() - start < 8
    assert _no_child_left()
