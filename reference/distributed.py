"""Chapter 9, Training at scale: data parallelism with ``torch.distributed``.

Every worker holds a copy of the model and its own micro-batch. After ``backward`` each worker's
gradients are replaced by their average over the workers (an all-reduce); because every worker's
micro-batch holds the same number of targets, the average is the gradient of the mean loss over
the concatenated batch, so one data-parallel step equals one single-process step on it. All
workers then apply the same update to the same weights, and the copies stay identical.

``run_workers`` starts the processes (gloo on CPU, NCCL on CUDA) and joins them before it returns.
The rendezvous is a ``file://`` store in a fresh temporary directory, which needs no network
(it works inside sandboxes that have no loopback networking).
"""

from __future__ import annotations

import datetime
import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def all_reduce_gradients(model):
    """Average every parameter's gradient over all processes of the default group, in place.
    Parameters without a gradient are skipped (they must be the same on every worker)."""
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(world)


def ddp_train_step(model, optimizer, x, y, loss_fn):
    """One data-parallel step on this worker's micro-batch (x, y): forward, backward, average the
    gradients across workers, update. Returns this worker's (local) loss, detached.

    Shape:
        x, y: (B_local, T), the same B_local on every worker
    """
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    all_reduce_gradients(model)
    optimizer.step()
    return loss.detach()


def _entry(rank, world_size, init_file, backend, fn, args):
    # A forked child must not use the thread pool it inherited (OpenMP's threads are not copied
    # by fork, and waiting for them hangs): one thread per worker, which is also what several
    # workers sharing a CPU want. gloo finds its peers on the loopback interface, without DNS.
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=60))
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def run_workers(fn, world_size=2, args=(), backend=None):
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` processes with the default process
    group initialised, and wait for all of them (an exception in one is raised here; a rank left
    waiting in a collective that another rank never calls fails after 60 s).

    gloo workers are forked (``fn`` may then be any function, e.g. one defined in a notebook);
    NCCL workers are spawned, as CUDA cannot be used in a forked child, and ``fn`` must then be
    importable by name."""
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size \
            else "gloo"
    method = "spawn" if backend == "nccl" else "fork"
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        mp.start_processes(_entry, args=(world_size, init_file, backend, fn, args),
                           nprocs=world_size, join=True, start_method=method)
