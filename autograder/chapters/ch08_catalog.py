"""Chapter 8 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently. Every function here is also pasted, as source, into a notebook's answer cell by the
platform's tests, so each must be self-contained: it may use only ``math``, ``torch``, ``nn``,
``F`` and the names of earlier exercises (``logsumexp``, ``log_softmax``), which resolve to the
reference here and to the student's own functions in a notebook.

tests/ prove that each mistake loses its exercise's points (and only those) and is named in the
feedback, and that each alternative gets full marks.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn  # noqa: F401 (available to pasted code)

from autograder.spec import Mistake
from reference.losses import log_softmax, logsumexp  # noqa: F401 (used by pasted code)


# =========================================================================== logsumexp
def lse_no_max(x, dim=-1):
    return torch.log(torch.exp(x).sum(dim=dim))


def lse_forgets_max(x, dim=-1):
    m = x.amax(dim=dim, keepdim=True)
    return torch.log(torch.exp(x - m).sum(dim=dim))


def lse_global_max(x, dim=-1):
    m = x.max()
    return m + torch.log(torch.exp(x - m).sum(dim=dim))


def lse_last_dim(x, dim=-1):
    m = x.amax(dim=-1, keepdim=True)
    return (m + torch.log(torch.exp(x - m).sum(dim=-1, keepdim=True))).squeeze(-1)


LSE_MISTAKES = (
    Mistake("no_max_subtraction", "exp taken without subtracting the max",
            "exp(1000) overflows to inf; use logsumexp(x) = m + log Σ exp(x − m) with m the max "
            "along `dim`", lse_no_max),
    Mistake("max_not_added_back", "the max is subtracted but not added back",
            "log Σ exp(x − m) is logsumexp(x) − m: add m to the result", lse_forgets_max),
    Mistake("global_max", "the max of the whole tensor instead of each row's max",
            "rows far below the global max underflow to log(0) = −inf; take amax along `dim`",
            lse_global_max),
    Mistake("ignores_dim", "always reduces the last dimension",
            "use `dim` for the max, the sum and the squeeze", lse_last_dim),
)


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


# =========================================================================== log_softmax
def logsm_of_softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return torch.log(e / e.sum(dim=dim, keepdim=True))


def logsm_no_max(x, dim=-1):
    return x - torch.log(torch.exp(x).sum(dim=dim, keepdim=True))


def logsm_only_max(x, dim=-1):
    return x - x.amax(dim=dim, keepdim=True)


def logsm_last_dim(x, dim=-1):
    return x - logsumexp(x, dim=-1).unsqueeze(-1)


LOG_SOFTMAX_MISTAKES = (
    Mistake("log_of_softmax", "log taken of the softmax probabilities",
            "probabilities below ~1e-38 (float32) underflow to 0 and log(0) = −inf; compute "
            "x − logsumexp(x) instead", logsm_of_softmax),
    Mistake("no_max_subtraction", "log Σ exp(x) without subtracting the max",
            "exp overflows for large logits; subtract logsumexp(x), which is stable",
            logsm_no_max),
    Mistake("max_instead_of_logsumexp", "only the max is subtracted",
            "x − max(x) is not normalised: subtract the log of the sum of exponentials",
            logsm_only_max),
    Mistake("ignores_dim", "normalises over the last dimension whatever `dim` is",
            "pass `dim` to logsumexp and unsqueeze at `dim`", logsm_last_dim),
)


def logsm_keepdim_lse(x, dim=-1):
    m = x.amax(dim=dim, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    z = x - m
    return z - torch.log(torch.exp(z).sum(dim=dim, keepdim=True))


def logsm_in_float64(x, dim=-1):
    z = x.double()
    return (z - logsumexp(z, dim=dim).unsqueeze(dim)).to(x.dtype)


LOG_SOFTMAX_ALTERNATIVES = (logsm_keepdim_lse, logsm_in_float64)


# =========================================================================== cross_entropy
def ce_counts_ignored(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    logp = log_softmax(logits, dim=-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)
    nll = (1 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
    loss = torch.where(keep, nll, torch.zeros_like(nll))
    return {"none": loss, "sum": loss.sum()}.get(reduction, loss.mean())


def ce_smoothing_other_classes(logits, targets, ignore_index=-100, label_smoothing=0.0,
                               reduction="mean"):
    logp = log_softmax(logits, dim=-1)
    C = logits.shape[-1]
    keep = targets != ignore_index
    lp_y = logp.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)
    others = (logp.sum(-1) - lp_y) / (C - 1)  # smoothing mass spread over the C - 1 wrong classes
    nll = -(1 - label_smoothing) * lp_y - label_smoothing * others
    loss = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / keep.sum()


def ce_naive_log(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    p = torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True)
    logp = torch.log(p)
    keep = targets != ignore_index
    nll = -logp.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)
    nll = (1 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
    loss = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / keep.sum()


def ce_no_smoothing(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    logp = log_softmax(logits, dim=-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)
    loss = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / keep.sum()


def ce_smoothing_sum(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    logp = log_softmax(logits, dim=-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)
    nll = (1 - label_smoothing) * nll - label_smoothing * logp.sum(-1)  # forgot the 1/C
    loss = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / keep.sum()


CE_MISTAKES = (
    Mistake("mean_counts_ignored", "ignored targets counted in the mean",
            "reduction='mean' divides by the number of targets that are NOT ignore_index",
            ce_counts_ignored),
    Mistake("smoothing_over_other_classes", "label smoothing spread over the C − 1 wrong classes",
            "PyTorch's target is (1 − s)·onehot + s/C on every class, the true one included",
            ce_smoothing_other_classes),
    Mistake("log_of_softmax", "log-probabilities computed as log(exp(z) / Σ exp(z))",
            "at 1000× logits exp overflows and log(0) appears; use log_softmax (z − logsumexp z)",
            ce_naive_log),
    Mistake("label_smoothing_ignored", "label_smoothing has no effect",
            "mix in s times the cross-entropy with the uniform distribution, −mean_c log p_c",
            ce_no_smoothing),
    Mistake("smoothing_not_divided_by_C", "the uniform part sums log p_c instead of averaging",
            "the uniform target puts mass s/C on each class: use the mean over classes",
            ce_smoothing_sum),
)


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


# =========================================================================== cross_entropy_grad
def ceg_no_mean(logits, targets):
    p = torch.exp(log_softmax(logits, dim=-1))
    return p - torch.zeros_like(p).scatter(-1, targets.unsqueeze(-1), 1.0)


def ceg_sign(logits, targets):
    p = torch.exp(log_softmax(logits, dim=-1))
    return (torch.zeros_like(p).scatter(-1, targets.unsqueeze(-1), 1.0) - p) / targets.numel()


def ceg_first_dim(logits, targets):
    p = torch.exp(log_softmax(logits, dim=-1))
    return (p - torch.zeros_like(p).scatter(-1, targets.unsqueeze(-1), 1.0)) / logits.shape[0]


def ceg_no_onehot(logits, targets):
    return torch.exp(log_softmax(logits, dim=-1)) / targets.numel()


CE_GRAD_MISTAKES = (
    Mistake("sum_not_mean", "gradient of the summed loss, not the mean",
            "the mean over N predictions divides every row by N", ceg_no_mean),
    Mistake("sign", "onehot(y) − softmax(z) instead of softmax(z) − onehot(y)",
            "the loss falls when z_y grows, so ∂L/∂z_y = p_y − 1 < 0", ceg_sign),
    Mistake("divides_by_first_dim", "divided by the first dimension only",
            "with (B, T, C) logits the mean runs over all B·T predictions", ceg_first_dim),
    Mistake("missing_onehot", "the one-hot term is missing",
            "∂(−log p_y)/∂z_c = p_c − [c = y]", ceg_no_onehot),
)


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


# =========================================================================== SGD with momentum
class _SGDBase(torch.optim.Optimizer):
    """Shared constructor of the SGD catalog entries (pasted with them)."""

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))


class SGDIgnoresNesterov(_SGDBase):
    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                if mu != 0:
                    st = self.state[p]
                    if "buf" not in st:
                        st["buf"] = g.clone()
                    else:
                        st["buf"].mul_(mu).add_(g, alpha=1 - group["dampening"])
                    g = st["buf"]
                p.add_(g, alpha=-group["lr"])


class SGDZeroBuffer(_SGDBase):
    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                if mu != 0:
                    st = self.state[p]
                    buf = st.setdefault("buf", torch.zeros_like(p))  # dampened from the first step
                    buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
                    g = g + mu * buf if group["nesterov"] else buf
                p.add_(g, alpha=-group["lr"])


class SGDDecayOutsideMomentum(_SGDBase):
    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if mu != 0:
                    st = self.state[p]
                    if "buf" not in st:
                        st["buf"] = g.clone()
                    else:
                        st["buf"].mul_(mu).add_(g, alpha=1 - group["dampening"])
                    g = g + mu * st["buf"] if group["nesterov"] else st["buf"]
                p.add_(g + group["weight_decay"] * p, alpha=-group["lr"])


class SGDNoDampening(_SGDBase):
    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                if mu != 0:
                    st = self.state[p]
                    if "buf" not in st:
                        st["buf"] = g.clone()
                    else:
                        st["buf"].mul_(mu).add_(g)
                    g = g + mu * st["buf"] if group["nesterov"] else st["buf"]
                p.add_(g, alpha=-group["lr"])


class SGDFirstGroupLr(_SGDBase):
    @torch.no_grad()
    def step(self):
        lr = self.param_groups[0]["lr"]  # one learning rate for every group
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                if mu != 0:
                    st = self.state[p]
                    if "buf" not in st:
                        st["buf"] = g.clone()
                    else:
                        st["buf"].mul_(mu).add_(g, alpha=1 - group["dampening"])
                    g = g + mu * st["buf"] if group["nesterov"] else st["buf"]
                p.add_(g, alpha=-lr)


SGD_MISTAKES = (
    Mistake("ignores_nesterov", "nesterov=True has no effect",
            "Nesterov steps along g + momentum · buffer, not along the buffer", SGDIgnoresNesterov),
    Mistake("zero_initial_buffer", "the momentum buffer starts at zero and is dampened at step 1",
            "torch's buffer starts as a copy of the first gradient (no dampening on step 1)",
            SGDZeroBuffer),
    Mistake("decay_outside_momentum", "weight decay added after the momentum buffer",
            "SGD's weight_decay is an L2 term: add weight_decay · p to the gradient before the "
            "momentum update", SGDDecayOutsideMomentum),
    Mistake("ignores_dampening", "dampening has no effect",
            "buffer ← momentum · buffer + (1 − dampening) · g", SGDNoDampening),
    Mistake("one_lr_for_all_groups", "the first group's learning rate used for every group",
            "read lr (and every hyperparameter) from the group being updated", SGDFirstGroupLr),
)


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


# =========================================================================== AdamW
class _AdamBase(torch.optim.Optimizer):
    """Shared constructor of the AdamW catalog entries (pasted with them)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _moments(self, p, g, b1, b2, first_step=1):
        st = self.state[p]
        if not st:
            st["t"], st["m"], st["v"] = first_step - 1, torch.zeros_like(p), torch.zeros_like(p)
        st["t"] += 1
        st["m"].mul_(b1).add_(g, alpha=1 - b1)
        st["v"].mul_(b2).add_(g * g, alpha=1 - b2)
        return st["t"], st["m"], st["v"]


class AdamNoBiasCorrection(_AdamBase):
    @torch.no_grad()
    def step(self):
        for gr in self.param_groups:
            b1, b2 = gr["betas"]
            for p in gr["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - gr["lr"] * gr["weight_decay"])
                t, m, v = self._moments(p, p.grad, b1, b2)
                p.sub_(gr["lr"] * m / (v.sqrt() + gr["eps"]))


class AdamCoupledDecay(_AdamBase):
    @torch.no_grad()
    def step(self):
        for gr in self.param_groups:
            b1, b2 = gr["betas"]
            for p in gr["params"]:
                if p.grad is None:
                    continue
                g = p.grad + gr["weight_decay"] * p  # L2: decay goes through the moments
                t, m, v = self._moments(p, g, b1, b2)
                m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
                p.sub_(gr["lr"] * m_hat / (v_hat.sqrt() + gr["eps"]))


class AdamEpsInsideSqrt(_AdamBase):
    @torch.no_grad()
    def step(self):
        for gr in self.param_groups:
            b1, b2 = gr["betas"]
            for p in gr["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - gr["lr"] * gr["weight_decay"])
                t, m, v = self._moments(p, p.grad, b1, b2)
                m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
                p.sub_(gr["lr"] * m_hat / (v_hat + gr["eps"]).sqrt())


class AdamWrongMoment(_AdamBase):
    @torch.no_grad()
    def step(self):
        for gr in self.param_groups:
            b1, b2 = gr["betas"]
            for p in gr["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - gr["lr"] * gr["weight_decay"])
                t, m, v = self._moments(p, p.grad, b1, b2)
                v_hat = v / (1 - b2 ** t)
                p.sub_(gr["lr"] * p.grad / (v_hat.sqrt() + gr["eps"]))  # g instead of m_hat


class AdamStepOffByOne(_AdamBase):
    @torch.no_grad()
    def step(self):
        for gr in self.param_groups:
            b1, b2 = gr["betas"]
            for p in gr["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - gr["lr"] * gr["weight_decay"])
                t, m, v = self._moments(p, p.grad, b1, b2, first_step=2)  # counts from 2
                m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
                p.sub_(gr["lr"] * m_hat / (v_hat.sqrt() + gr["eps"]))


class AdamGlobalStep(_AdamBase):
    @torch.no_grad()
    def step(self):
        self.t = getattr(self, "t", 0) + 1  # one counter for the optimizer, not per parameter
        for gr in self.param_groups:
            b1, b2 = gr["betas"]
            for p in gr["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - gr["lr"] * gr["weight_decay"])
                _, m, v = self._moments(p, p.grad, b1, b2)
                m_hat, v_hat = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
                p.sub_(gr["lr"] * m_hat / (v_hat.sqrt() + gr["eps"]))


ADAMW_MISTAKES = (
    Mistake("missing_bias_correction", "no bias correction of the moments",
            "m and v start at 0, so divide them by 1 − β1^t and 1 − β2^t", AdamNoBiasCorrection),
    Mistake("coupled_weight_decay", "weight decay added to the gradient (L2, Adam) instead of "
            "decoupled", "AdamW shrinks the weights directly, p ← p·(1 − lr·λ), outside the moments",
            AdamCoupledDecay),
    Mistake("eps_inside_sqrt", "eps added inside the square root",
            "the denominator is sqrt(v̂) + eps, not sqrt(v̂ + eps)", AdamEpsInsideSqrt),
    Mistake("wrong_moment", "the raw gradient used in the update instead of the first moment",
            "the step is lr · m̂ / (sqrt(v̂) + eps), with m̂ the bias-corrected first moment",
            AdamWrongMoment),
    Mistake("step_count_off_by_one", "the step count starts at 2 (off by one)",
            "the first update uses t = 1 in the bias corrections 1 − β^t", AdamStepOffByOne),
    Mistake("global_step_count", "one step counter for all parameters",
            "count steps per parameter (in self.state[p]): a parameter that got no gradient has "
            "not taken those steps", AdamGlobalStep),
)


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


# =========================================================================== cosine schedule
def sched_warmup_off_by_one(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * r))


def sched_progress_from_zero(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    r = step / total_steps  # ignores that the decay starts after warmup
    return min_lr + (max_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * r))


def sched_to_zero(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return 0.0
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return max_lr * 0.5 * (1 + math.cos(math.pi * r))


def sched_no_floor(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * r))


SCHEDULE_MISTAKES = (
    Mistake("warmup_off_by_one", "warmup off by one: (step + 1) / warmup_steps",
            "the warmup starts at 0 at step 0 and reaches max_lr exactly at step = warmup_steps",
            sched_warmup_off_by_one),
    Mistake("decay_ignores_warmup", "the cosine progress measured from step 0, not from the end "
            "of warmup", "r = (step − warmup_steps) / (total_steps − warmup_steps)",
            sched_progress_from_zero),
    Mistake("decays_to_zero", "the cosine decays to 0 instead of min_lr",
            "lr = min_lr + (max_lr − min_lr)·(1 + cos πr)/2", sched_to_zero),
    Mistake("no_floor_after_total", "after total_steps the cosine continues (and rises again)",
            "for step ≥ total_steps return min_lr", sched_no_floor),
)


def sched_piecewise(step, max_lr, min_lr, warmup_steps, total_steps):
    warm = step / warmup_steps if warmup_steps > 0 else 1.0
    if warm < 1.0:
        return max_lr * warm
    r = min(max((step - warmup_steps) / (total_steps - warmup_steps), 0.0), 1.0)
    return max_lr - (max_lr - min_lr) * (1 - math.cos(math.pi * r)) / 2


SCHEDULE_ALTERNATIVES = (sched_piecewise,)


# =========================================================================== gradient clipping
def clip_per_tensor(parameters, max_norm):
    total = 0.0
    for p in parameters:
        if p.grad is None:
            continue
        n = p.grad.norm()
        total = total + n ** 2
        if n > max_norm:
            p.grad.mul_(max_norm / (n + 1e-6))
    return total ** 0.5


def clip_scales_up(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(max_norm / (total + 1e-6))  # also when the norm is already small
    return total


def clip_returns_after(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return torch.sqrt(sum((g ** 2).sum() for g in grads))


def clip_sum_of_norms(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = sum(g.norm() for g in grads)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total


CLIP_MISTAKES = (
    Mistake("per_tensor", "each gradient clipped on its own",
            "clip by the global norm sqrt(Σ ||g||²) so the overall direction is kept",
            clip_per_tensor),
    Mistake("scales_up", "gradients rescaled even when the norm is below max_norm",
            "clamp the coefficient max_norm / (total + 1e-6) at 1", clip_scales_up),
    Mistake("returns_clipped_norm", "the norm after clipping is returned",
            "return the total norm measured before scaling (it is what you log)",
            clip_returns_after),
    Mistake("sum_of_norms", "the norms of the tensors added instead of their squares",
            "total = sqrt(Σ_p ||g_p||²), the norm of all entries together", clip_sum_of_norms),
)


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


# =========================================================================== GD least squares
def gd_sum_gradient(x, y, lr, steps):
    w = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    for _ in range(steps):
        w = w - lr * x.T @ (x @ w - y)  # gradient of the sum, not the mean
    return w


def gd_from_ones(x, y, lr, steps):
    w = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    for _ in range(steps):
        w = w - lr * x.T @ (x @ w - y) / x.shape[0]
    return w


def gd_one_short(x, y, lr, steps):
    w = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    for _ in range(steps - 1):
        w = w - lr * x.T @ (x @ w - y) / x.shape[0]
    return w


def gd_ascent(x, y, lr, steps):
    w = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    for _ in range(steps):
        w = w + lr * x.T @ (x @ w - y) / x.shape[0]
    return w


GD_MISTAKES = (
    Mistake("sum_not_mean", "gradient of the summed loss (no 1/N)",
            "the loss is (1/2N)||xw − y||², so the gradient is xᵀ(xw − y)/N", gd_sum_gradient),
    Mistake("nonzero_start", "GD started from w = 1 instead of 0",
            "from a nonzero start GD keeps the start's component outside the row space of x, so "
            "it does not reach the minimum-norm solution", gd_from_ones),
    Mistake("one_step_short", "one step fewer than `steps`", "loop exactly `steps` times",
            gd_one_short),
    Mistake("gradient_ascent", "the gradient is added instead of subtracted",
            "w ← w − lr · gradient", gd_ascent),
)


def gd_residual_form(x, y, lr, steps):
    n, d = x.shape
    gram, xty = x.T @ x / n, x.T @ y / n
    w = x.new_zeros(d)
    for _ in range(steps):
        w = w - lr * (gram @ w - xty)
    return w


GD_ALTERNATIVES = (gd_residual_form,)


# =========================================================================== random features
def rf_linear_features(x_train, y_train, x_test, n_features, generator):
    w = torch.randn(x_train.shape[1], n_features, generator=generator, dtype=torch.float64)
    w = w.to(x_train)
    phi, phi_test = x_train @ w / math.sqrt(x_train.shape[1]), x_test @ w / math.sqrt(x_train.shape[1])
    dt = torch.float32 if x_train.dtype == torch.bfloat16 else x_train.dtype
    return (phi_test.to(dt) @ (torch.linalg.pinv(phi.to(dt)) @ y_train.to(dt))).to(x_train.dtype)


def rf_transposed_draw(x_train, y_train, x_test, n_features, generator):
    w = torch.randn(n_features, x_train.shape[1], generator=generator, dtype=torch.float64).T
    w = w.to(x_train)
    phi = torch.relu(x_train @ w / math.sqrt(x_train.shape[1]))
    phi_test = torch.relu(x_test @ w / math.sqrt(x_train.shape[1]))
    dt = torch.float32 if x_train.dtype == torch.bfloat16 else x_train.dtype
    return (phi_test.to(dt) @ (torch.linalg.pinv(phi.to(dt)) @ y_train.to(dt))).to(x_train.dtype)


def rf_ridge(x_train, y_train, x_test, n_features, generator):
    w = torch.randn(x_train.shape[1], n_features, generator=generator, dtype=torch.float64)
    w = w.to(x_train)
    phi = torch.relu(x_train @ w / math.sqrt(x_train.shape[1]))
    phi_test = torch.relu(x_test @ w / math.sqrt(x_train.shape[1]))
    dt = torch.float32 if x_train.dtype == torch.bfloat16 else x_train.dtype
    phi, phi_test, yt = phi.to(dt), phi_test.to(dt), y_train.to(dt)
    gram = phi.T @ phi + 0.1 * torch.eye(n_features, dtype=dt, device=phi.device)
    return (phi_test @ torch.linalg.solve(gram, phi.T @ yt)).to(x_train.dtype)


def rf_drawn_in_dtype(x_train, y_train, x_test, n_features, generator):
    w = torch.randn(x_train.shape[1], n_features, generator=generator, dtype=x_train.dtype)
    w = w.to(x_train.device)
    phi = torch.relu(x_train @ w / math.sqrt(x_train.shape[1]))
    phi_test = torch.relu(x_test @ w / math.sqrt(x_train.shape[1]))
    dt = torch.float32 if x_train.dtype == torch.bfloat16 else x_train.dtype
    return (phi_test.to(dt) @ (torch.linalg.pinv(phi.to(dt)) @ y_train.to(dt))).to(x_train.dtype)


RF_MISTAKES = (
    Mistake("no_relu", "features without the ReLU",
            "linear random features only span linear functions: use relu(x @ W / sqrt(D))",
            rf_linear_features),
    Mistake("draw_transposed", "the weights drawn as (F, D) and transposed",
            "draw torch.randn(D, F, ...) exactly: the same generator then gives the same features",
            rf_transposed_draw),
    Mistake("ridge_not_min_norm", "a ridge penalty instead of the minimum-norm solution",
            "use the pseudo-inverse (or lstsq): the minimum-norm least-squares fit", rf_ridge),
    Mistake("drawn_in_input_dtype", "the weights drawn in the input dtype",
            "draw in float64 and then cast: randn gives different numbers in each dtype",
            rf_drawn_in_dtype),
)


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


# =========================================================================== power law
def pl_returns_log_a(x, y):
    lx, ly = torch.log(x), torch.log(y)
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()
    return (ly.mean() - slope * lx.mean()).item(), -slope.item()


def pl_slope_sign(x, y):
    lx, ly = torch.log(x), torch.log(y)
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()
    return math.exp((ly.mean() - slope * lx.mean()).item()), slope.item()


def pl_log10_intercept(x, y):
    lx, ly = torch.log10(x), torch.log10(y)
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()
    return math.exp((ly.mean() - slope * lx.mean()).item()), -slope.item()


def pl_reversed_regression(x, y):
    lx, ly = torch.log(x), torch.log(y)
    inv = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((ly - ly.mean()) ** 2).sum()
    slope = 1 / inv  # regresses log x on log y and inverts: biased towards steeper slopes
    return math.exp((ly.mean() - slope * lx.mean()).item()), -slope.item()


POWER_LAW_MISTAKES = (
    Mistake("returns_log_a", "log a returned instead of a",
            "the fit's intercept is log a: return exp(intercept)", pl_returns_log_a),
    Mistake("slope_sign", "the slope returned as alpha",
            "y = a·x^(−alpha), so alpha is minus the slope on log-log axes", pl_slope_sign),
    Mistake("log10_then_exp", "logs in base 10 but the intercept exponentiated with e",
            "use the same base throughout: a = 10^intercept if you fit in log10", pl_log10_intercept),
    Mistake("reversed_regression", "log x regressed on log y",
            "regress log y on log x: the noise is in y", pl_reversed_regression),
)


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


# =========================================================================== Chinchilla fit
def _lbfgs_fit(n, d, loss, huber_delta, log_residuals=True, starts=None):
    """L-BFGS from a grid of starts on sum Huber(pred - obs); (a, b, e, alpha, beta) of the best."""
    ln, ld, ll = (t.double().log() for t in (n, d, loss))
    starts = starts or [(5.0, 5.0, 0.5, 0.3, 0.3), (5.0, 5.0, 0.5, 0.6, 0.6)]
    best, best_v = None, math.inf
    for s in starts:
        th = torch.tensor(s, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([th], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                                history_size=20, line_search_fn="strong_wolfe")

        def objective():
            a, b, e, al, be = th
            pred = torch.logsumexp(torch.stack([a - al * ln, b - be * ld, e.expand_as(ln)]), 0)
            r = pred - ll if log_residuals else pred.exp() - loss.double()
            if huber_delta is None:
                return 0.5 * (r * r).sum()
            return torch.nn.functional.huber_loss(r, torch.zeros_like(r), reduction="sum",
                                                  delta=huber_delta)

        def closure():
            opt.zero_grad()
            v = objective()
            v.backward()
            return v

        opt.step(closure)
        v = objective().item()
        if v < best_v:
            best, best_v = th.detach().tolist(), v
    return best


def chin_mse(n, d, loss):
    a, b, e, al, be = _lbfgs_fit(n, d, loss, None)
    return math.exp(e), math.exp(a), math.exp(b), al, be


def chin_linear_residuals(n, d, loss):
    a, b, e, al, be = _lbfgs_fit(n, d, loss, 1e-3, log_residuals=False)
    return math.exp(e), math.exp(a), math.exp(b), al, be


def chin_returns_logs(n, d, loss):
    a, b, e, al, be = _lbfgs_fit(n, d, loss, 1e-3)
    return e, a, b, al, be


def chin_swapped_exponents(n, d, loss):
    a, b, e, al, be = _lbfgs_fit(n, d, loss, 1e-3)
    return math.exp(e), math.exp(a), math.exp(b), be, al


CHINCHILLA_MISTAKES = (
    Mistake("squared_loss", "squared residuals instead of the Huber loss",
            "Hoffmann et al. minimise Σ Huber_δ(residual) with δ = 1e-3, robust to outlying runs",
            chin_mse),
    Mistake("residuals_not_logs", "residuals of the losses, not of their logs",
            "the residual is log L̂ − log L = LSE(a − α log N, b − β log D, e) − log L",
            chin_linear_residuals),
    Mistake("returns_logs", "log E, log A, log B returned instead of E, A, B",
            "the fit's variables are a = log A, b = log B, e = log E: exponentiate them",
            chin_returns_logs),
    Mistake("swapped_exponents", "alpha and beta swapped",
            "alpha is the exponent of N (parameters), beta that of D (tokens)",
            chin_swapped_exponents),
)


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


# =========================================================================== compute-optimal allocation
def alloc_swapped(compute, E, A, B, alpha, beta):
    g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    return g * (compute / 6) ** (alpha / (alpha + beta)), (compute / 6) ** (beta / (alpha + beta)) / g


def alloc_no_six(compute, E, A, B, alpha, beta):
    g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    return g * compute ** (beta / (alpha + beta)), compute ** (alpha / (alpha + beta)) / g / 6


def alloc_inverted_g(compute, E, A, B, alpha, beta):
    g = (beta * B / (alpha * A)) ** (1 / (alpha + beta))
    c = compute / 6
    return g * c ** (beta / (alpha + beta)), c ** (alpha / (alpha + beta)) / g


def alloc_equal_split(compute, E, A, B, alpha, beta):
    c = compute / 6
    return c ** 0.5, c ** 0.5


ALLOCATION_MISTAKES = (
    Mistake("swapped_exponents", "the exponents of N and D swapped",
            "N_opt ∝ C^(β/(α+β)): the larger the data exponent β, the more compute goes to N",
            alloc_swapped),
    Mistake("budget_not_divided_by_6", "C used in place of C/6 for N",
            "from C = 6ND, N·D = C/6: use C/6 in both formulas", alloc_no_six),
    Mistake("inverted_coefficient", "G = (βB / αA)^(1/(α+β)) (inverted)",
            "setting dL/dN = 0 gives α A N^(−α) = β B D^(−β), so G = (αA/(βB))^(1/(α+β))",
            alloc_inverted_g),
    Mistake("equal_split", "N = D = sqrt(C/6) whatever the fit",
            "minimise L along the constraint: the split depends on A, B, α and β",
            alloc_equal_split),
)


def alloc_log_space(compute, E, A, B, alpha, beta):
    log_c6 = torch.log(compute / 6) if torch.is_tensor(compute) else math.log(compute / 6)
    log_g = (math.log(alpha * A) - math.log(beta * B)) / (alpha + beta)
    exp = torch.exp if torch.is_tensor(compute) else math.exp
    n = exp(log_g + beta / (alpha + beta) * log_c6)
    return n, compute / (6 * n)


ALLOCATION_ALTERNATIVES = (alloc_log_space,)
