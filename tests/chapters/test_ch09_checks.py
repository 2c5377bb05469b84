"""Chapter 9's graders beyond value comparison: the two-process data-parallel driver (a rank that
skips a collective, a rank that hangs, a rank that raises) and the property checks on training
runs (the loss floor). The catalog tests prove the mistakes are named; these prove the failure
modes a catalog cannot express (hangs, errors) cost one exercise with a message that teaches."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
import torch

from autograder.gradelib.training import drive_all_reduce
from reference.distributed import all_reduce_gradients
from reference.train import train


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[1] == me:
                    found.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return found


def _inputs():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g), torch.randn(7, generator=g),
            torch.randint(0, 7, (1, 6, 4), generator=g), torch.randint(0, 7, (1, 6, 4), generator=g))


def rank0_only(model):
    import torch.distributed as dist
    if dist.get_rank() == 0:
        for p in model.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= 2


def no_none_check(model):
    import torch.distributed as dist
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()


def test_a_rank_that_skips_the_collective_is_explained(grade_inprocess):
    result = grade_inprocess("ch09.all_reduce_gradients", rank0_only)
    assert result.points == 0
    text = " ".join(result.messages)
    assert "same collectives" in text and "in the same order" in text, result.messages
    assert not _children()


def test_a_rank_error_names_the_rank_and_the_error(grade_inprocess):
    result = grade_inprocess("ch09.all_reduce_gradients", no_none_check)
    assert result.points == 0
    text = " ".join(result.messages)
    assert "fails only with: grad is None" in text, result.messages
    assert "rank 0 and 1 raised" in text, result.messages
    assert not _children()


def test_a_rank_that_never_joins_is_reported_and_killed():
    def sleepy(model):
        import torch.distributed as dist
        if dist.get_rank() == 1:
            time.sleep(600)
        all_reduce_gradients(model)

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="rank 0 failed inside a collective because the other "
                                           "rank never joined it"):
        drive_all_reduce(sleepy, *_inputs(), deadline_s=3.0)
    assert time.monotonic() - start < 10
    assert not _children()


def test_ranks_that_hang_outside_collectives_are_killed_at_the_deadline():
    def stuck(model):
        time.sleep(600)

    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"rank\(s\) 0, 1 still running after 2 s and killed"):
        drive_all_reduce(stuck, *_inputs(), deadline_s=2.0)
    assert time.monotonic() - start < 8
    assert not _children()


def test_the_reference_equals_one_process_on_the_concatenated_batch():
    """The driver itself: two ranks' averaged gradients are the single-process gradient."""
    emb, w, b, xs, ys = _inputs()
    g0, g1 = drive_all_reduce(all_reduce_gradients, emb, w, b, xs, ys)
    model = torch.nn.Sequential(torch.nn.Embedding(7, 5), torch.nn.Linear(5, 7))
    with torch.no_grad():
        model[0].weight.copy_(emb)
        model[1].weight.copy_(w)
        model[1].bias.copy_(b)
    # rank r owns rows r::2; the mean of the two halves' mean losses is the mean over all rows
    torch.nn.functional.cross_entropy(model(xs[0]).reshape(-1, 7), ys[0].reshape(-1)).backward()
    whole = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(g0, whole, rtol=1e-5, atol=1e-6)
    assert torch.equal(g0, g1)


def test_a_loop_that_barely_learns_misses_the_loss_floor(grade_inprocess):
    def timid(model, train_tokens, val_tokens, config):
        return train(model, train_tokens, val_tokens,
                     dataclasses.replace(config, lr=config.lr * 1e-3, min_lr=config.min_lr * 1e-3))

    result = grade_inprocess("ch09.train", timid, tag="loss floor")
    assert result.points == 0
    assert any("not within 0.1 of the entropy floor" in m for m in result.messages), result.messages
