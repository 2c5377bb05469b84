"""Chapter 8, How models learn: SGD with momentum, AdamW, the warmup + cosine learning-rate
schedule and gradient clipping.

The two optimizers follow the update rules of ``torch.optim.SGD`` and ``torch.optim.AdamW``
(decoupled weight decay, Loshchilov & Hutter 2019; Adam, Kingma & Ba 2015, Algorithm 1) step for
step, so their trajectories agree with torch's to rounding. They compute in each parameter's dtype.
"""

import math

import torch


class SGDMomentum(torch.optim.Optimizer):
    """Stochastic gradient descent with (heavy-ball or Nesterov) momentum and L2 weight decay.

    Per parameter p with gradient g, at step t = 1, 2, ...:
        g <- g + weight_decay * p                     (L2 penalty folded into the gradient)
        b <- g                                  if t = 1  (the buffer starts at the first gradient)
        b <- momentum * b + (1 - dampening) * g otherwise
        g <- g + momentum * b if nesterov else b
        p <- p - lr * g
    With momentum = 0 this is plain SGD (no buffer is kept).
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            mu, wd = group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:  # a parameter that received no gradient is left alone
                    continue
                g = p.grad
                if wd != 0:
                    g = g + wd * p
                if mu != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = g.clone()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
                    g = g + mu * buf if group["nesterov"] else buf
                p.add_(g, alpha=-group["lr"])


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay.

    Per parameter p with gradient g; t counts this parameter's own steps (1, 2, ...):
        p <- p * (1 - lr * weight_decay)          (decay the weights, not the gradient)
        m <- beta1 * m + (1 - beta1) * g          (first moment, m0 = 0)
        v <- beta2 * v + (1 - beta2) * g^2        (second moment, v0 = 0)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)   (bias correction)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - lr * group["weight_decay"])
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).add_(g * g, alpha=1 - beta2)
                bc1 = 1 - beta1 ** t
                bc2 = 1 - beta2 ** t
                denom = v.sqrt() / math.sqrt(bc2) + eps  # sqrt(v_hat) + eps
                p.add_(m / denom, alpha=-lr / bc1)


def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    """Learning rate at ``step`` (counting from 0): linear warmup, then half a cosine down to min_lr.

        step < warmup_steps:             max_lr * step / warmup_steps      (0 at step 0)
        warmup_steps <= step <= total:   min_lr + (max_lr - min_lr) * (1 + cos(pi * r)) / 2,
                                         r = (step - warmup_steps) / (total_steps - warmup_steps)
        step > total_steps:              min_lr
    Returns a Python float.
    """
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * r))


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    total = sqrt(sum over parameters of ||g||^2). When total > max_norm every gradient is
    multiplied by max_norm / (total + 1e-6) (the 1e-6 of ``torch.nn.utils.clip_grad_norm_``);
    otherwise nothing changes. Parameters without a gradient are skipped. The direction of the
    overall gradient is preserved. Returns the total norm before clipping, as a tensor.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.sqrt(sum((g * g).sum() for g in grads))  # 0-dim
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.to(g.dtype))
    return total
