"""reference.optim against torch.optim.SGD / AdamW (trajectories over 120 steps), the schedule
against its closed-form anchor points, and clip_grad_norm against torch.nn.utils.clip_grad_norm_."""

import math

import pytest
import torch

from reference.optim import AdamW, SGDMomentum, clip_grad_norm, cosine_schedule

STEPS = 120


def _trajectory(make, dtype, gen, b_from=0, device="cpu"):
    w0 = torch.randn(3, 4, generator=gen).to(dtype)
    b0 = torch.randn(4, generator=gen).to(dtype)
    gw = (torch.randn(STEPS, 3, 4, generator=gen) + 0.3).to(dtype)
    gb = (torch.randn(STEPS, 4, generator=gen) - 0.3).to(dtype)
    out = []
    for opt_cls in make:
        w = w0.clone().to(device).requires_grad_(True)
        b = b0.clone().to(device).requires_grad_(True)
        opt = opt_cls([w, b])
        traj = []
        for t in range(STEPS):
            w.grad = gw[t].clone().to(device)
            b.grad = gb[t].clone().to(device) if t >= b_from else None
            opt.step()
            traj.append(torch.cat([w.detach().flatten(), b.detach().flatten()]))
        out.append(torch.stack(traj))
    return out


SGD_SETTINGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.5),
                dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05),
                dict(lr=0.05, momentum=0.9, weight_decay=0.1)]
ADAM_SETTINGS = [dict(), dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1),
                 dict(lr=0.01, eps=1e-6, weight_decay=0.0), dict(lr=0.02, weight_decay=0.5)]


def _tolerance(dtype):
    # 120 steps, each rounding a handful of operations at the scale of the parameters (~3).
    return {torch.float64: 1e-12, torch.float32: 1e-4, torch.bfloat16: 0.5}[dtype]


@pytest.mark.parametrize("hyper", SGD_SETTINGS, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
@pytest.mark.parametrize("b_from", [0, 10], ids=["all-grads", "b-late"])
def test_sgd_trajectory_matches_torch(hyper, b_from, dtype, gen):
    mine, theirs = _trajectory([lambda ps: SGDMomentum(ps, **hyper),
                                lambda ps: torch.optim.SGD(ps, foreach=False, **hyper)],
                               dtype, gen, b_from)
    torch.testing.assert_close(mine.double(), theirs.double(), rtol=0, atol=_tolerance(dtype))


@pytest.mark.parametrize("hyper", ADAM_SETTINGS, ids=["defaults", "betas-wd", "eps", "wd0.5"])
@pytest.mark.parametrize("b_from", [0, 10], ids=["all-grads", "b-late"])
def test_adamw_trajectory_matches_torch(hyper, b_from, dtype, gen):
    mine, theirs = _trajectory([lambda ps: AdamW(ps, **hyper),
                                lambda ps: torch.optim.AdamW(ps, foreach=False, **hyper)],
                               dtype, gen, b_from)
    torch.testing.assert_close(mine.double(), theirs.double(), rtol=0, atol=_tolerance(dtype))


def test_adamw_in_float64_equals_torch_in_float64_to_rounding(gen):
    mine, theirs = _trajectory([lambda ps: AdamW(ps, lr=0.03), lambda ps: torch.optim.AdamW(
        ps, lr=0.03, foreach=False)], torch.float64, gen)
    assert (mine - theirs).abs().max() < 1e-13


def test_param_groups_use_their_own_lr():
    w = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    opt = SGDMomentum([{"params": [w]}, {"params": [b], "lr": 1.0}], lr=0.1)
    w.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert torch.equal(w.detach(), torch.full((2,), -0.1)) and torch.equal(b.detach(), -torch.ones(2))


@pytest.mark.cuda
def test_adamw_on_cuda_matches_torch():
    gen = torch.Generator().manual_seed(0)
    mine, theirs = _trajectory([lambda ps: AdamW(ps, lr=0.01),
                                lambda ps: torch.optim.AdamW(ps, lr=0.01)], torch.float32, gen,
                               device="cuda")
    torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-4)


def test_schedule_anchor_points():
    f = lambda s: cosine_schedule(s, 1.0, 0.1, 10, 110)  # noqa: E731
    assert f(0) == 0.0
    assert f(5) == pytest.approx(0.5)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55)  # half-way down the cosine: the mean of max and min
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    values = [f(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone decay


def test_schedule_matches_torch_lambda_lr():
    """Against torch's LambdaLR driven by the same warmup and CosineAnnealingLR's formula."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=2.0)
    warm, total, min_lr = 7, 50, 0.2
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warm, eta_min=min_lr)
    expected = [cos.get_last_lr()[0]]
    for _ in range(total - warm):
        opt.step()
        cos.step()
        expected.append(cos.get_last_lr()[0])
    got = [cosine_schedule(s, 2.0, min_lr, warm, total) for s in range(warm, total + 1)]
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("max_norm", [0.5, 1.0, 100.0], ids=["clip-hard", "clip", "no-clip"])
def test_clip_grad_norm_matches_torch(max_norm, dtype, gen, assert_matches_truth):
    grads = [(torch.randn(3, 4, generator=gen) * 2).to(dtype), torch.randn(5, generator=gen).to(dtype)]
    mine = [torch.zeros_like(g, requires_grad=True) for g in grads]
    theirs = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, q, g in zip(mine, theirs, grads):
        p.grad, q.grad = g.clone(), g.clone()
    extra = torch.zeros(2, requires_grad=True)  # no gradient: skipped
    total = clip_grad_norm(mine + [extra], max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs + [extra], max_norm)
    tol = 8 * torch.finfo(dtype).eps * float(expected.double())
    assert abs(float(total) - float(expected)) <= tol
    for p, q in zip(mine, theirs):
        assert_matches_truth(p.grad, q.grad, dtype, q.grad.abs().max(), k=8)
    after = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in mine))
    assert after <= max_norm * (1 + 8 * torch.finfo(dtype).eps)
