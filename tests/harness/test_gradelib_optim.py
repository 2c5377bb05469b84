"""gradelib.optim: the optimizer driver feeds the given gradients step by step (missing
gradients, two parameter groups) and refuses torch.optim's own SGD/Adam/AdamW while it runs; the
schedule and clipping drivers return what the exercises compare."""

import importlib

import pytest
import torch

from autograder.gradelib.optim import (drive_clip, drive_optimizer, drive_schedule,
                                       torch_optimizers_refused)
from reference.optim import AdamW, SGDMomentum, clip_grad_norm, cosine_schedule

F64 = torch.float64
SGD_MODULE = importlib.import_module(torch.optim.SGD.__module__)
ADAM_MODULE = importlib.import_module(torch.optim.Adam.__module__)


def _inputs(steps=6):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=g, dtype=F64) for shape in
            ((3, 4), (4,), (steps, 3, 4), (steps, 4))]


def _by_hand(torch_cls, w0, b0, grads_w, grads_b, b_from=0, b_lr=None, **hyper):
    """The trajectories of torch's own optimizer, stepped outside the driver."""
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    params = [w, b] if b_lr is None else [{"params": [w]}, {"params": [b], "lr": b_lr}]
    opt, traj = torch_cls(params, **hyper), []
    for t in range(len(grads_w)):
        w.grad, b.grad = grads_w[t].clone(), grads_b[t].clone() if t >= b_from else None
        opt.step()
        traj.append((w.detach().clone(), b.detach().clone()))
    return torch.stack([w for w, _ in traj]), torch.stack([b for _, b in traj])


@pytest.mark.parametrize("ours,theirs,hyper", [
    (SGDMomentum, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, b_from=2)),
    (SGDMomentum, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.1, b_lr=0.2)),
    (AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1, b_from=3, b_lr=0.05)),
], ids=["sgd-b-from", "sgd-groups", "adamw"])
def test_trajectories_match_torch_stepped_by_hand(ours, theirs, hyper):
    w, b = drive_optimizer(ours, *_inputs(), **hyper)
    ew, eb = _by_hand(theirs, *_inputs(), **hyper)
    assert w.shape == (6, 3, 4) and b.shape == (6, 4)
    torch.testing.assert_close(w, ew)
    torch.testing.assert_close(b, eb)
    assert torch.equal(b[0], _inputs()[1]) == ("b_from" in hyper)  # no gradient yet: not moved


class _CallsTorchSGD(torch.optim.Optimizer):
    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))
        self.inner = torch.optim.SGD(self.param_groups[0]["params"], lr=lr)

    def step(self):
        self.inner.step()


class _CallsFunctionalAdam(_CallsTorchSGD):
    def step(self):
        params = self.param_groups[0]["params"]
        zeros = [torch.zeros_like(p) for p in params]
        ADAM_MODULE.adam(params, [p.grad for p in params], zeros, list(zeros), [],
                         [torch.tensor(1.0)] * 2, beta1=0.9, beta2=0.999, lr=0.1,
                         weight_decay=0.0, eps=1e-8, maximize=False)


@pytest.mark.parametrize("cls", [_CallsTorchSGD, _CallsFunctionalAdam], ids=["SGD.step", "adam"])
def test_torch_optimizers_raise_while_the_driver_runs_and_work_after(cls):
    with pytest.raises(RuntimeError, match="your own tensor operations"):
        drive_optimizer(cls, *_inputs(), lr=0.1)
    _by_hand(torch.optim.SGD, *_inputs(), lr=0.1)  # restored
    _by_hand(torch.optim.AdamW, *_inputs(), lr=0.1)


def test_subclassing_a_torch_optimizer_is_refused():
    with pytest.raises(TypeError, match="subclass torch.optim.Optimizer"):
        drive_optimizer(type("Mine", (torch.optim.AdamW,), {}), *_inputs(), lr=0.1)


def test_refusal_restores_every_patched_name():
    before = (vars(torch.optim.SGD)["step"], SGD_MODULE.sgd, ADAM_MODULE.adam)
    adamw_own_step = "step" in vars(torch.optim.AdamW)
    with torch_optimizers_refused():
        assert SGD_MODULE.sgd is not before[1] and ADAM_MODULE.adam is not before[2]
        assert "step" in vars(torch.optim.AdamW)
    assert (vars(torch.optim.SGD)["step"], SGD_MODULE.sgd, ADAM_MODULE.adam) == before
    assert ("step" in vars(torch.optim.AdamW)) == adamw_own_step


def test_schedule_driver_returns_every_step_in_float64():
    lrs = drive_schedule(cosine_schedule, 25, 1.0, 0.1, 4, 20)
    assert lrs.dtype == F64 and lrs.shape == (25,)
    assert lrs[0] == 0.0 and lrs[4] == 1.0 and torch.all(lrs[20:] == 0.1)
    assert lrs.tolist() == [float(cosine_schedule(s, 1.0, 0.1, 4, 20)) for s in range(25)]


@pytest.mark.parametrize("max_norm,third", [(1.0, False), (100.0, False), (1.0, True)],
                         ids=["clipped", "not-clipped", "no-grad-param"])
def test_clip_driver_matches_torch(max_norm, third):
    g = torch.Generator().manual_seed(1)
    g1, g2 = torch.randn(3, 4, generator=g, dtype=F64), torch.randn(5, generator=g, dtype=F64)
    total, c1, c2 = drive_clip(clip_grad_norm, g1, g2, max_norm, third_without_grad=third)
    ps = [torch.zeros_like(t, requires_grad=True) for t in (g1, g2)]
    ps[0].grad, ps[1].grad = g1.clone(), g2.clone()
    expected = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    assert total.dtype == F64 and total.dim() == 0
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(c1, ps[0].grad)
    torch.testing.assert_close(c2, ps[1].grad)
    assert torch.equal(g1, torch.randn(3, 4, generator=torch.Generator().manual_seed(1),
                                       dtype=F64))  # the inputs are not modified
