"""Chapter 8 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F`` and the names of earlier exercises
(``logsumexp``, ``log_softmax``), which resolve to the reference here and to the student's own
functions in a notebook.
"""

from __future__ import annotations

import math
import torch

from autograder.symbolic import Answer
from reference.losses import log_softmax, logsumexp


def lse_with_helper(x, dim=-1):
    def _shifted(t):
        top = t.amax(dim=-1, keepdim=True).detach()
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        return top.squeeze(-1) + (t - top).exp().sum(-1).log()
    return _shifted(x.movedim(dim, -1))


def lse_log1p(x, dim=-1):
    # m + log(1 + Σ_{others} exp(x - m)): the max term contributes exactly 1.
    m = x.amax(dim=dim, keepdim=True).detach()
    safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = torch.exp(x - safe).sum(dim=dim, keepdim=True)
    return (safe + torch.log(s)).squeeze(dim)


LSE_ALTERNATIVES = (lse_with_helper, lse_log1p)


def logsm_keepdim_lse(x, dim=-1):
    m = x.amax(dim=dim, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    z = x - m
    return z - torch.log(torch.exp(z).sum(dim=dim, keepdim=True))


def logsm_in_float64(x, dim=-1):
    z = x.double()
    return (z - logsumexp(z, dim=dim).unsqueeze(dim)).to(x.dtype)


LOG_SOFTMAX_ALTERNATIVES = (logsm_keepdim_lse, logsm_in_float64)


def ce_onehot_target(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    C = logits.shape[-1]
    keep = targets != ignore_index
    onehot = torch.zeros_like(logits).scatter(-1, torch.where(keep, targets, 0).unsqueeze(-1), 1.0)
    q = (1 - label_smoothing) * onehot + label_smoothing / C  # the mixture target
    loss = -(q * log_softmax(logits, dim=-1)).sum(-1) * keep
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / keep.sum()


def ce_flattened(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    shape = targets.shape
    z = logits.reshape(-1, logits.shape[-1])  # (N, C)
    t = targets.reshape(-1)
    keep = t != ignore_index
    lse = logsumexp(z, dim=-1)
    z_y = z[torch.arange(len(t), device=z.device), torch.where(keep, t, 0)]
    per = (1 - label_smoothing) * (lse - z_y) + label_smoothing * (lse - z.mean(-1))
    per = torch.where(keep, per, torch.zeros_like(per))
    if reduction == "none":
        return per.reshape(shape)
    if reduction == "sum":
        return per.sum()
    return per.sum() / keep.sum()


CE_ALTERNATIVES = (ce_onehot_target, ce_flattened)


def ceg_softmax_inline(logits, targets):
    e = torch.exp(logits - logits.amax(-1, keepdim=True))
    g = e / e.sum(-1, keepdim=True)
    g = g.clone()
    flat = g.view(-1, g.shape[-1])
    flat[torch.arange(flat.shape[0], device=g.device), targets.reshape(-1)] -= 1
    return g / targets.numel()


def ceg_float64(logits, targets):
    z = logits.double()
    p = torch.exp(z - logsumexp(z, dim=-1).unsqueeze(-1))
    onehot = torch.nn.functional.one_hot(targets, z.shape[-1]).double()
    return ((p - onehot) / targets.numel()).to(logits.dtype)


CE_GRAD_ALTERNATIVES = (ceg_softmax_inline, ceg_float64)


class SGDFunctional(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    def step(self):
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    d_p = p.grad.add(p, alpha=group["weight_decay"])
                    if group["momentum"]:
                        old = self.state[p].get("v")
                        v = d_p.clone() if old is None else (
                            group["momentum"] * old + (1 - group["dampening"]) * d_p)
                        self.state[p]["v"] = v
                        d_p = d_p.add(v, alpha=group["momentum"]) if group["nesterov"] else v
                    p.copy_(p - group["lr"] * d_p)


SGD_ALTERNATIVES = (SGDFunctional,)


class AdamWExplicit(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def step(self):
        with torch.no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    t = state.get("t", 0) + 1
                    m = beta1 * state.get("m", torch.zeros_like(p)) + (1 - beta1) * p.grad
                    v = beta2 * state.get("v", torch.zeros_like(p)) + (1 - beta2) * p.grad ** 2
                    state.update(t=t, m=m, v=v)
                    m_hat = m / (1 - beta1 ** t)
                    v_hat = v / (1 - beta2 ** t)
                    new = p * (1 - group["lr"] * group["weight_decay"])
                    p.copy_(new - group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))


class AdamWLerp(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                s = self.state[p]
                if len(s) == 0:
                    s["step"], s["m"], s["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                s["step"] += 1
                s["m"].lerp_(p.grad, 1 - b1)
                s["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                denom = (s["v"].sqrt() / math.sqrt(1 - b2 ** s["step"])).add_(group["eps"])
                p.addcdiv_(s["m"], denom, value=-group["lr"] / (1 - b1 ** s["step"]))


ADAMW_ALTERNATIVES = (AdamWExplicit, AdamWLerp)


def sched_piecewise(step, max_lr, min_lr, warmup_steps, total_steps):
    warm = step / warmup_steps if warmup_steps > 0 else 1.0
    if warm < 1.0:
        return max_lr * warm
    r = min(max((step - warmup_steps) / (total_steps - warmup_steps), 0.0), 1.0)
    return max_lr - (max_lr - min_lr) * (1 - math.cos(math.pi * r)) / 2


SCHEDULE_ALTERNATIVES = (sched_piecewise,)


def clip_vector_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
    total = torch.linalg.vector_norm(norms)
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in grads:
            g.mul_(scale)
    return total


CLIP_ALTERNATIVES = (clip_vector_norm,)


def gd_residual_form(x, y, lr, steps):
    n, d = x.shape
    gram, xty = x.T @ x / n, x.T @ y / n
    w = x.new_zeros(d)
    for _ in range(steps):
        w = w - lr * (gram @ w - xty)
    return w


GD_ALTERNATIVES = (gd_residual_form,)


def rf_lstsq(x_train, y_train, x_test, n_features, generator):
    d = x_train.shape[1]
    w = torch.randn(d, n_features, generator=generator, dtype=torch.float64).to(x_train)
    feats = [torch.relu(t @ w / math.sqrt(d)).double().cpu() for t in (x_train, x_test)]
    coef = torch.linalg.lstsq(feats[0], y_train.double().cpu().unsqueeze(-1),
                              driver="gelsd").solution.squeeze(-1)
    return (feats[1] @ coef).to(device=x_train.device, dtype=x_train.dtype)


def rf_svd(x_train, y_train, x_test, n_features, generator):
    d = x_train.shape[1]
    w = torch.randn(d, n_features, generator=generator, dtype=torch.float64).to(x_train)
    phi = torch.relu(x_train @ w / math.sqrt(d)).double()
    phi_t = torch.relu(x_test @ w / math.sqrt(d)).double()
    u, s, vh = torch.linalg.svd(phi, full_matrices=False)
    keep = s > s.max() * max(phi.shape) * torch.finfo(torch.float64).eps
    coef = vh[keep].T @ ((u[:, keep].T @ y_train.double()) / s[keep])  # pinv via the SVD
    return (phi_t @ coef).to(x_train.dtype)


RF_ALTERNATIVES = (rf_lstsq, rf_svd)


def pl_lstsq(x, y):
    design = torch.stack([torch.ones_like(x), torch.log(x)], dim=-1).double()
    sol = torch.linalg.lstsq(design, torch.log(y).double().unsqueeze(-1)).solution.squeeze(-1)
    return math.exp(sol[0].item()), -sol[1].item()


def pl_log2(x, y):
    lx, ly = torch.log2(x.double()), torch.log2(y.double())
    cov = ((lx - lx.mean()) * (ly - ly.mean())).mean()
    slope = cov / lx.var(unbiased=False)
    return 2.0 ** (ly.mean() - slope * lx.mean()).item(), -slope.item()


POWER_LAW_ALTERNATIVES = (pl_lstsq, pl_log2)


def chin_hand_huber(n, d, loss):
    ln, ld, ll = (t.double().log() for t in (n, d, loss))

    def obj(th):
        a, b, e, al, be = th
        pred = torch.logaddexp(torch.logaddexp(a - al * ln, b - be * ld), e)
        r = (pred - ll).abs()
        return torch.where(r <= 1e-3, 0.5 * r ** 2, 1e-3 * (r - 5e-4)).sum()

    best = None
    for a0, b0, al0 in [(5.0, 5.0, 0.4), (6.0, 4.0, 0.5)]:
        th = torch.tensor([a0, b0, 0.5, al0, al0], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([th], max_iter=1000, tolerance_grad=1e-13, tolerance_change=1e-16,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            v = obj(th)
            v.backward()
            return v

        opt.step(closure)
        v = obj(th).item()
        if best is None or v < best[0]:
            best = (v, th.detach().tolist())
    a, b, e, al, be = best[1]
    return math.exp(e), math.exp(a), math.exp(b), al, be


CHINCHILLA_ALTERNATIVES = (chin_hand_huber,)


def alloc_log_space(compute, E, A, B, alpha, beta):
    log_c6 = torch.log(compute / 6) if torch.is_tensor(compute) else math.log(compute / 6)
    log_g = (math.log(alpha * A) - math.log(beta * B)) / (alpha + beta)
    exp = torch.exp if torch.is_tensor(compute) else math.exp
    n = exp(log_g + beta / (alpha + beta) * log_c6)
    return n, compute / (6 * n)


ALLOCATION_ALTERNATIVES = (alloc_log_space,)


# =========================================================================== derivations
# Formulas are graded as text (read, never run): the alternatives are answer-cell texts.
ADAM_MOMENT_ALTERNATIVES = (
    Answer("closed_form", "def adam_first_moment(beta1, t, g):\n    return g - g * beta1**t\n"),
    Answer("through_exp_log", "def adam_first_moment(beta1, t, g):\n"
                              "    decay = exp(t * log(beta1))  # beta1 ** t\n"
                              "    return g * (1 - decay)\n"),
)
OPTIMAL_EXPONENT_ALTERNATIVES = (
    Answer("complement", "def optimal_parameters_exponent(alpha, beta):\n"
                         "    return 1 - alpha / (alpha + beta)\n"),
    Answer("ratio_form", "optimal_parameters_exponent = 1 / (1 + alpha / beta)\n"),
)

ALTERNATIVES = {
    "ch08.logsumexp": LSE_ALTERNATIVES,
    "ch08.log_softmax": LOG_SOFTMAX_ALTERNATIVES,
    "ch08.cross_entropy": CE_ALTERNATIVES,
    "ch08.cross_entropy_grad": CE_GRAD_ALTERNATIVES,
    "ch08.sgd_momentum": SGD_ALTERNATIVES,
    "ch08.adamw": ADAMW_ALTERNATIVES,
    "ch08.adam_first_moment": ADAM_MOMENT_ALTERNATIVES,
    "ch08.cosine_schedule": SCHEDULE_ALTERNATIVES,
    "ch08.clip_grad_norm": CLIP_ALTERNATIVES,
    "ch08.gd_least_squares": GD_ALTERNATIVES,
    "ch08.random_features_regression": RF_ALTERNATIVES,
    "ch08.fit_power_law": POWER_LAW_ALTERNATIVES,
    "ch08.fit_chinchilla": CHINCHILLA_ALTERNATIVES,
    "ch08.optimal_parameters_exponent": OPTIMAL_EXPONENT_ALTERNATIVES,
    "ch08.compute_optimal_allocation": ALLOCATION_ALTERNATIVES,
}
