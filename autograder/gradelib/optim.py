"""Drivers of Chapter 8's optimization exercises: optimizer steps, a learning-rate schedule,
gradient clipping. Each runs the student's class or function as a training loop would."""

from __future__ import annotations

import contextlib
import importlib

import torch

from .registry import driver

# torch.optim's code for what the exercises build: the classes' step and the functional kernels.
_OPTIMIZERS = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)
_KERNELS = ("sgd", "adam", "adamw", "_single_tensor_sgd", "_multi_tensor_sgd",
            "_single_tensor_adam", "_multi_tensor_adam", "_fused_adam", "_fused_sgd")


def _refuse(*args, **kwargs):
    raise RuntimeError("torch.optim's SGD/Adam/AdamW code is what this exercise asks you to "
                       "write: update the parameters with your own tensor operations")


@contextlib.contextmanager
def torch_optimizers_refused():
    """torch.optim's SGD, Adam and AdamW (their ``step`` and functional kernels) raise inside."""
    patched = [(owner, "step", owner.__dict__.get("step")) for owner in _OPTIMIZERS]
    modules = [importlib.import_module(c.__module__) for c in _OPTIMIZERS]
    for module in modules + [getattr(torch.optim, "_functional", None)]:
        patched += [(module, name, getattr(module, name)) for name in _KERNELS
                    if module is not None and hasattr(module, name)]
    for owner, name, _ in patched:
        setattr(owner, name, _refuse)
    try:
        yield
    finally:
        for owner, name, original in reversed(patched):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


@driver
def drive_optimizer(cls, w0, b0, grads_w, grads_b, b_from=0, b_lr=None, **hyper):
    """Build ``cls([w, b], **hyper)`` and take one step per row of ``grads_w``/``grads_b``, feeding
    those gradients; ``b`` has no gradient before step ``b_from``; ``b_lr`` puts ``b`` in a second
    parameter group with its own learning rate. Returns the trajectories of w and b.

    torch.optim's own SGD/Adam/AdamW are what the exercise builds: while the steps run, they
    raise."""
    if issubclass(cls, (torch.optim.SGD, torch.optim.Adam)):
        raise TypeError("subclass torch.optim.Optimizer itself, not one of torch.optim's "
                        "optimizers")
    with torch_optimizers_refused():
        w = w0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        params = [w, b] if b_lr is None else [{"params": [w]}, {"params": [b], "lr": b_lr}]
        opt = cls(params, **hyper)
        traj_w, traj_b = [], []
        for t in range(grads_w.shape[0]):
            w.grad = grads_w[t].clone()
            b.grad = grads_b[t].clone() if t >= b_from else None
            opt.step()
            traj_w.append(w.detach().clone())
            traj_b.append(b.detach().clone())
    return torch.stack(traj_w), torch.stack(traj_b)


@driver
def drive_schedule(fn, n_steps, max_lr, min_lr, warmup_steps, total_steps):
    """The learning rate at every step 0 .. n_steps - 1, as a float64 tensor."""
    return torch.tensor([float(fn(s, max_lr, min_lr, warmup_steps, total_steps))
                         for s in range(n_steps)], dtype=torch.float64)


@driver
def drive_clip(fn, g1, g2, max_norm, third_without_grad=False):
    """Clip the gradients of two (or three, one without a gradient) parameters; returns the total
    norm (as float64) and both gradients after clipping.

    The gradients returned are the tensors that ``p.grad`` held *before* the call: clipping is in
    place (as ``torch.nn.utils.clip_grad_norm_``), and a training loop (or an optimizer with
    gradient hooks) may hold those very tensors. A function that assigns new tensors to ``p.grad``
    leaves them unclipped, and that is what the comparison sees."""
    p1 = torch.zeros_like(g1, requires_grad=True)
    p2 = torch.zeros_like(g2, requires_grad=True)
    p1.grad, p2.grad = g1.clone(), g2.clone()
    held = (p1.grad, p2.grad)
    params = [p1, p2] + ([torch.zeros_like(g2, requires_grad=True)] if third_without_grad else [])
    total = fn(params, max_norm)
    return torch.as_tensor(total).detach().to(torch.float64), *held
