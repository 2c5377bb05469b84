"""Chapter 8 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points (and only those) and is named in the feedback. The alternative correct
implementations are test fixtures: ``tests/chapters/alternatives/ch08.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake


# =========================================================================== logsumexp
LSE_MISTAKES = (
    Mistake(key="no_max_subtraction", title="exp taken without subtracting the max",
            hint="exp(1000) overflows to inf; use logsumexp(x) = m + log Σ exp(x − m) with m the "
                 "max along `dim`",
            patch={"(m + torch.log(torch.exp(x - m)": "(torch.log(torch.exp(x)"}),
    Mistake(key="max_not_added_back", title="the max is subtracted but not added back",
            hint="log Σ exp(x − m) is logsumexp(x) − m: add m to the result",
            patch={"(m + torch.log(": "(torch.log("}),
    Mistake(key="global_max", title="the max of the whole tensor instead of each row's max",
            hint="rows far below the global max underflow to log(0) = −inf; take amax along `dim`",
            patch={"amax(dim=dim, keepdim=True)": "amax()"}),
    Mistake(key="ignores_dim", title="always reduces the last dimension",
            hint="use `dim` for the max, the sum and the squeeze",
            patch={"amax(dim=dim,": "amax(dim=-1,", "sum(dim=dim,": "sum(dim=-1,",
                   ".squeeze(dim)": ".squeeze(-1)"}),
    Mistake(key="unguarded_max", title="the max of an all −inf slice is used as the shift",
            hint="on a slice that is entirely −inf, x − max is (−inf) − (−inf) = NaN; shift such "
                 "slices by 0 instead (torch.where(isfinite(m), m, 0)), so the result is −inf",
            patch={"    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf "
                   "slice: shift by 0\n": ""}),
)


# =========================================================================== log_softmax
_LSE_TERM = "logsumexp(x, dim=dim).unsqueeze(dim)"

LOG_SOFTMAX_MISTAKES = (
    Mistake(key="log_of_softmax", title="log taken of the softmax probabilities",
            hint="probabilities below ~1e-38 (float32) underflow to 0 and log(0) = −inf; compute "
                 "x − logsumexp(x) instead",
            patch={"return x - " + _LSE_TERM:
                   "e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
                   "    return torch.log(e / e.sum(dim=dim, keepdim=True))"}),
    Mistake(key="no_max_subtraction", title="log Σ exp(x) without subtracting the max",
            hint="exp overflows for large logits; subtract logsumexp(x), which is stable",
            patch={_LSE_TERM: "torch.log(torch.exp(x).sum(dim=dim, keepdim=True))"}),
    Mistake(key="max_instead_of_logsumexp", title="only the max is subtracted",
            hint="x − max(x) is not normalised: subtract the log of the sum of exponentials",
            patch={_LSE_TERM: "x.amax(dim=dim, keepdim=True)"}),
    Mistake(key="ignores_dim", title="normalises over the last dimension whatever `dim` is",
            hint="pass `dim` to logsumexp and unsqueeze at `dim`",
            patch={_LSE_TERM: "logsumexp(x, dim=-1).unsqueeze(-1)"}),
)


# =========================================================================== cross_entropy
_SMOOTHING = "label_smoothing * logp.mean(dim=-1)"

CE_MISTAKES = (
    # Before mean_counts_ignored: on the all-ignored case both give 0, and ties go to the first.
    Mistake(key="empty_mean_is_zero", title="the mean over no kept target is 0, not NaN",
            hint="when every target is ignore_index the mean is 0/0 = NaN, as in PyTorch; do not "
                 "clamp the count of kept targets",
            patch={"loss.sum() / keep.sum().to(loss.dtype)":
                   "loss.sum() / keep.sum().clamp_min(1).to(loss.dtype)"}),
    Mistake(key="mean_counts_ignored", title="ignored targets counted in the mean",
            hint="reduction='mean' divides by the number of targets that are NOT ignore_index",
            patch={"return loss.sum() / keep.sum().to(loss.dtype)": "return loss.mean()"}),
    Mistake(key="smoothing_over_other_classes",
            title="label smoothing spread over the V − 1 wrong classes",
            hint="PyTorch's target is (1 − s)·onehot + s/V on every class, the true one included",
            patch={_SMOOTHING: "label_smoothing * (logp.sum(dim=-1) + nll) / "
                               "(logp.shape[-1] - 1)"}),
    Mistake(key="log_of_softmax", title="log-probabilities computed as log(exp(z) / Σ exp(z))",
            hint="at 1000× logits exp overflows and log(0) appears; use log_softmax "
                 "(z − logsumexp z)",
            patch={"logp = log_softmax(logits, dim=-1)":
                   "logp = torch.log(torch.exp(logits) / torch.exp(logits).sum(-1, "
                   "keepdim=True))"}),
    Mistake(key="label_smoothing_ignored", title="label_smoothing has no effect",
            hint="mix in s times the cross-entropy with the uniform distribution, −mean_c log p_c",
            patch={"    if label_smoothing > 0:\n        nll = (1 - label_smoothing) * nll - "
                   + _SMOOTHING + "\n": ""}),
    Mistake(key="smoothing_not_divided_by_C",
            title="the uniform part sums log p_c instead of averaging",
            hint="the uniform target puts mass s/V on each class: use the mean over classes",
            patch={_SMOOTHING: "label_smoothing * logp.sum(dim=-1)"}),
)


# =========================================================================== cross_entropy_grad
CE_GRAD_MISTAKES = (
    Mistake(key="sum_not_mean", title="gradient of the summed loss, not the mean",
            hint="the mean over n predictions divides every row by n",
            patch={"return (p - onehot) / targets.numel()": "return p - onehot"}),
    Mistake(key="sign", title="onehot(y) − softmax(z) instead of softmax(z) − onehot(y)",
            hint="the loss falls when z_y grows, so ∂L/∂z_y = p_y − 1 < 0",
            patch={"(p - onehot)": "(onehot - p)"}),
    Mistake(key="divides_by_first_dim", title="divided by the first dimension only",
            hint="with (B, T, V) logits the mean runs over all B·T predictions",
            patch={"targets.numel()": "logits.shape[0]"}),
    Mistake(key="missing_onehot", title="the one-hot term is missing",
            hint="∂(−log p_y)/∂z_c = p_c − [c = y]", patch={"(p - onehot)": "p"}),
)


# =========================================================================== SGD with momentum
_SGD_UPDATE = 'p.add_(g, alpha=-group["lr"])'

SGD_MISTAKES = (
    Mistake(key="ignores_nesterov", title="nesterov=True has no effect",
            hint="Nesterov steps along g + momentum · buffer, not along the buffer",
            patch={'g = g + mu * buf if group["nesterov"] else buf': "g = buf"}),
    Mistake(key="zero_initial_buffer",
            title="the momentum buffer starts at zero and is dampened at step 1",
            hint="torch's buffer starts as a copy of the first gradient (no dampening on step 1)",
            patch={"= g.clone()": '= (1 - group["dampening"]) * g  # zero buffer, dampened'}),
    Mistake(key="decay_outside_momentum", title="weight decay added after the momentum buffer",
            hint="SGD's weight_decay is an L2 term: add weight_decay · p to the gradient before "
                 "the momentum update",
            patch={'g = g + group["weight_decay"] * p': "pass",
                   _SGD_UPDATE: 'p.add_(g + group["weight_decay"] * p, alpha=-group["lr"])'}),
    Mistake(key="ignores_dampening", title="dampening has no effect",
            hint="buffer ← momentum · buffer + (1 − dampening) · g",
            patch={'.add_(g, alpha=1 - group["dampening"])': ".add_(g)"}),
    Mistake(key="one_lr_for_all_groups",
            title="the first group's learning rate used for every group",
            hint="read lr (and every hyperparameter) from the group being updated",
            patch={_SGD_UPDATE: 'p.add_(g, alpha=-self.param_groups[0]["lr"])'}),
)


# =========================================================================== AdamW
_DENOM = "denom = v.sqrt() / math.sqrt(1 - beta2 ** t) + eps"
_ADAM_UPDATE = "p.add_(m / denom, alpha=-lr / (1 - beta1 ** t))"

ADAMW_MISTAKES = (
    Mistake(key="missing_bias_correction", title="no bias correction of the moments",
            hint="m and v start at 0, so divide them by 1 − β1^t and 1 − β2^t",
            patch={_DENOM: "denom = v.sqrt() + eps", _ADAM_UPDATE: "p.add_(m / denom, alpha=-lr)"}),
    Mistake(key="coupled_weight_decay",
            title="weight decay added to the gradient (L2, Adam) instead of decoupled",
            hint="AdamW shrinks the weights directly, p ← p·(1 − lr·λ), outside the moments",
            patch={'p.mul_(1 - lr * group["weight_decay"])':
                   'g = p.grad + group["weight_decay"] * p  # L2: decay goes through the moments',
                   "add_(p.grad, alpha": "add_(g, alpha", "add_(p.grad * p.grad,": "add_(g * g,"}),
    Mistake(key="eps_inside_sqrt", title="eps added inside the square root",
            hint="the denominator is sqrt(v̂) + eps, not sqrt(v̂ + eps)",
            patch={_DENOM: "denom = (v / (1 - beta2 ** t) + eps).sqrt()"}),
    Mistake(key="wrong_moment",
            title="the raw gradient used in the update instead of the first moment",
            hint="the step is lr · m̂ / (sqrt(v̂) + eps), with m̂ the bias-corrected first moment",
            patch={_ADAM_UPDATE: "p.add_(p.grad / denom, alpha=-lr)"}),
    Mistake(key="step_count_off_by_one", title="the step count starts at 2 (off by one)",
            hint="the first update uses t = 1 in the bias corrections 1 − β^t",
            patch={'state["step"] = 0': 'state["step"] = 1'}),
    Mistake(key="global_step_count", title="one step counter for all parameters",
            hint="count steps per parameter (in self.state[p]): a parameter that got no gradient "
                 "has not taken those steps",
            patch={"        for group in self.param_groups:":
                   '        self.t = getattr(self, "t", 0) + 1  # one counter for the optimizer\n'
                   "        for group in self.param_groups:",
                   't, m, v = state["step"],': "t, m, v = self.t,"}),
)


# =========================================================================== cosine schedule
SCHEDULE_MISTAKES = (
    Mistake(key="warmup_off_by_one", title="warmup off by one: (step + 1) / warmup_steps",
            hint="the warmup starts at 0 at step 0 and reaches max_lr exactly at step = "
                 "warmup_steps",
            patch={"max_lr * step / warmup_steps": "max_lr * (step + 1) / warmup_steps"}),
    Mistake(key="decay_ignores_warmup",
            title="the cosine progress measured from step 0, not from the end of warmup",
            hint="r = (step − warmup_steps) / (total_steps − warmup_steps)",
            patch={"r = (step - warmup_steps) / (total_steps - warmup_steps)":
                   "r = step / total_steps"}),
    Mistake(key="decays_to_zero", title="the cosine decays to 0 instead of min_lr",
            hint="lr = min_lr + (max_lr − min_lr)·(1 + cos πr)/2",
            patch={"return float(min_lr)": "return 0.0",
                   "return min_lr + (max_lr - min_lr) * 0.5": "return max_lr * 0.5"}),
    Mistake(key="no_floor_after_total",
            title="after total_steps the cosine continues (and rises again)",
            hint="for step ≥ total_steps return min_lr",
            patch={"    if step >= total_steps:\n        return float(min_lr)\n": ""}),
)


# =========================================================================== gradient clipping
_TOTAL = "torch.sqrt(sum((g * g).sum() for g in grads))"

CLIP_MISTAKES = (
    Mistake(key="per_tensor", title="each gradient clipped on its own",
            hint="clip by the global norm sqrt(Σ ||g||²) so the overall direction is kept",
            patch={"g.mul_(coef)": "g.mul_(torch.clamp(max_norm / (g.norm() + 1e-6), max=1.0))"}),
    Mistake(key="scales_up", title="gradients rescaled even when the norm is below max_norm",
            hint="clamp the coefficient max_norm / (total + 1e-6) at 1",
            patch={"torch.clamp(max_norm / (total + 1e-6), max=1.0)": "max_norm / (total + 1e-6)"}),
    Mistake(key="returns_clipped_norm", title="the norm after clipping is returned",
            hint="return the total norm measured before scaling (it is what you log)",
            patch={"    return total": "    return " + _TOTAL}),
    Mistake(key="sum_of_norms", title="the norms of the tensors added instead of their squares",
            hint="total = sqrt(Σ_p ||g_p||²), the norm of all entries together",
            patch={_TOTAL: "sum(g.norm() for g in grads)"}),
    Mistake(key="not_in_place", title="new tensors assigned to p.grad instead of scaling in place",
            hint="the training loop holds the gradient tensors p.grad had; scale those "
                 "(g.mul_(coef)), do not replace them",
            patch={"    for g in grads:\n        g.mul_(coef)":
                   "    for p in parameters:\n"
                   "        if p.grad is not None:\n"
                   "            p.grad = p.grad * coef  # a new tensor: the old one is unchanged"}),
)


# =========================================================================== GD least squares
GD_MISTAKES = (
    Mistake(key="sum_not_mean", title="gradient of the summed loss (no 1/n)",
            hint="the loss is (1/2n)||xw − y||², so the gradient is xᵀ(xw − y)/n",
            patch={" / x.shape[0]": ""}),
    Mistake(key="nonzero_start", title="GD started from w = 1 instead of 0",
            hint="from a nonzero start GD keeps the start's component outside the row space of x, "
                 "so it does not reach the minimum-norm solution",
            patch={"torch.zeros(": "torch.ones("}),
    Mistake(key="one_step_short", title="one step fewer than `steps`",
            hint="loop exactly `steps` times", patch={"range(steps)": "range(steps - 1)"}),
    Mistake(key="gradient_ascent", title="the gradient is added instead of subtracted",
            hint="w ← w − lr · gradient", patch={"w = w - lr": "w = w + lr"}),
)


# =========================================================================== random features
RF_MISTAKES = (
    Mistake(key="no_relu", title="features without the ReLU",
            hint="linear random features only span linear functions: use relu(x @ W / sqrt(d))",
            patch={"torch.relu(x_train @ w / math.sqrt(d))": "x_train @ w / math.sqrt(d)",
                   "torch.relu(x_test @ w / math.sqrt(d))": "x_test @ w / math.sqrt(d)"}),
    Mistake(key="draw_transposed", title="the weights drawn as (m, d) and transposed",
            hint="draw torch.randn(d, m, ...) exactly: the same generator then gives the same "
                 "features",
            patch={"torch.randn(d, n_features, generator=generator, dtype=torch.float64)":
                   "torch.randn(n_features, d, generator=generator, dtype=torch.float64).T"}),
    Mistake(key="ridge_not_min_norm", title="a ridge penalty instead of the minimum-norm solution",
            hint="use the pseudo-inverse (or lstsq): the minimum-norm least-squares fit",
            patch={"coef = torch.linalg.pinv(phi.to(dt)) @ y_train.to(dt)":
                   "phi = phi.to(dt)\n"
                   "    eye = torch.eye(n_features, dtype=dt, device=phi.device)\n"
                   "    gram = phi.T @ phi + 0.1 * eye\n"
                   "    coef = torch.linalg.solve(gram, phi.T @ y_train.to(dt))"}),
    Mistake(key="drawn_in_input_dtype", title="the weights drawn in the input dtype",
            hint="draw in float64 and then cast: randn gives different numbers in each dtype",
            patch={"generator=generator, dtype=torch.float64)": "generator=generator, "
                                                                "dtype=x_train.dtype)"}),
    Mistake(key="lstsq_gels", title="lstsq with the \"gels\" driver, which assumes full rank",
            hint="repeated training points make the features rank-deficient, and \"gels\" (the "
                 "only lstsq driver on CUDA) then returns huge coefficients; use pinv, or lstsq "
                 "with driver=\"gelsd\" on the CPU: the minimum-norm fit whatever the rank",
            patch={"coef = torch.linalg.pinv(phi.to(dt)) @ y_train.to(dt)":
                   "coef = torch.linalg.lstsq(phi.to(dt), y_train.to(dt).unsqueeze(-1),\n"
                   "                              driver=\"gels\").solution.squeeze(-1)"}),
)


# =========================================================================== power law
_SLOPE = "slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()"

POWER_LAW_MISTAKES = (
    Mistake(key="returns_log_a", title="log a returned instead of a",
            hint="the fit's intercept is log a: return exp(intercept)",
            patch={"math.exp(intercept.item())": "intercept.item()"}),
    Mistake(key="slope_sign", title="the slope returned as alpha",
            hint="y = a·x^(−alpha), so alpha is minus the slope on log-log axes",
            patch={"-slope.item()": "slope.item()"}),
    Mistake(key="log10_then_exp", title="logs in base 10 but the intercept exponentiated with e",
            hint="use the same base throughout: a = 10^intercept if you fit in log10",
            patch={"torch.log(x), torch.log(y)": "torch.log10(x), torch.log10(y)"}),
    Mistake(key="reversed_regression", title="log x regressed on log y",
            hint="regress log y on log x: the noise is in y",
            patch={_SLOPE: "slope = ((ly - ly.mean()) ** 2).sum() / ((lx - lx.mean()) * "
                           "(ly - ly.mean())).sum()  # 1 / (slope of log x on log y)"}),
)


# =========================================================================== Chinchilla fit
_HUBER = 'F.huber_loss(pred, ll, reduction="sum", delta=1e-3)'

CHINCHILLA_MISTAKES = (
    # First: in bfloat16 its fit is as far off as squared_loss's, and ties go to the first.
    Mistake(key="fit_in_input_dtype", title="the fit run in the data's dtype, not in float64",
            hint="L-BFGS needs float64 to converge, and bfloat16 logs are coarse: take the logs "
                 "of float64 copies of the data and fit float64 parameters, whatever the input "
                 "dtype",
            patch={"(t.detach().double().log() for t in (n, d, loss))":
                   "(t.detach().log() for t in (n, d, loss))",
                   "theta = torch.tensor(start, dtype=torch.float64,":
                   "theta = torch.tensor(start, dtype=n.dtype,"}),
    Mistake(key="squared_loss", title="squared residuals instead of the Huber loss",
            hint="Hoffmann et al. minimise Σ Huber_δ(residual) with δ = 1e-3, robust to outlying "
                 "runs",
            patch={_HUBER: "0.5 * ((pred - ll) ** 2).sum()"}),
    Mistake(key="residuals_not_logs", title="residuals of the losses, not of their logs",
            hint="the residual is log L̂ − log L = LSE(log a_N − α log N, log a_D − β log D_tok, "
                 "log L_∞) − log L",
            patch={"F.huber_loss(pred, ll,": "F.huber_loss(pred.exp(), loss.double(),"}),
    Mistake(key="returns_logs",
            title="log L_∞, log a_N, log a_D returned instead of the constants (E, A, B)",
            hint="the fit's variables are the logs of the three constants: exponentiate them",
            patch={"return math.exp(e), math.exp(a), math.exp(b),": "return e, a, b,"}),
    Mistake(key="swapped_exponents", title="alpha and beta swapped",
            hint="alpha is the exponent of N (parameters), beta that of D_tok (training tokens)",
            patch={"math.exp(b), alpha, beta": "math.exp(b), beta, alpha"}),
)


# =========================================================================== compute-optimal split
_ALLOC = "return g * c6 ** (beta / (alpha + beta)), c6 ** (alpha / (alpha + beta)) / g"

ALLOCATION_MISTAKES = (
    Mistake(key="swapped_exponents", title="the exponents of N and D_tok swapped",
            hint="N_opt ∝ C^(β/(α+β)): the larger the data exponent β, the more compute goes to N",
            patch={_ALLOC: "return g * c6 ** (alpha / (alpha + beta)), "
                           "c6 ** (beta / (alpha + beta)) / g"}),
    Mistake(key="budget_not_divided_by_6", title="C used in place of C/6 for N",
            hint="from C = 6 N D_tok, N·D_tok = C/6: use C/6 in both formulas",
            patch={"c6 = compute / 6": "c6 = compute",
                   "(alpha + beta)) / g": "(alpha + beta)) / g / 6"}),
    Mistake(key="inverted_coefficient", title="G = (β a_D / (α a_N))^(1/(α+β)) (inverted)",
            hint="setting dL/dN = 0 gives α a_N N^(−α) = β a_D D_tok^(−β), so "
                 "G = (α a_N / (β a_D))^(1/(α+β))",
            patch={"(alpha * A / (beta * B))": "(beta * B / (alpha * A))"}),
    Mistake(key="equal_split", title="N = D_tok = sqrt(C/6) whatever the fit",
            hint="minimise L along the constraint: the split depends on a_N, a_D, α and β",
            patch={_ALLOC: "return c6 ** 0.5, c6 ** 0.5"}),
    Mistake(key="number_made_float32_tensor",
            title="a Python-number budget turned into a float32 tensor",
            hint="torch.as_tensor(1e21) is float32 (the default dtype): compute with the number "
                 "itself, so a number gives float64 numbers and a tensor keeps its dtype",
            patch={"c6 = compute / 6": "c6 = torch.as_tensor(compute) / 6"}),
)


# =========================================================================== derivations
_ADAM_SUM = "geometric_sum = (1 - beta1**t) / (1 - beta1)  # 1 + beta1 + ... + beta1^(t-1)"
_ADAM_MOMENT = "return (1 - beta1) * geometric_sum * g"

ADAM_MOMENT_MISTAKES = (
    Mistake(key="start_weight", title="β1^t g: the weight left on the zero start, not m_t",
            hint="unrolled, m_t = (1 − β1)(g_t + β1 g_{t−1} + ... + β1^{t−1} g_1) + β1^t m_0: the "
                 "gradients carry the weights (1 − β1)β1^k, and β1^t is the part of the weight "
                 "that is missing",
            patch={_ADAM_MOMENT: "return beta1**t * g"}),
    Mistake(key="compounded_one_minus_beta", title="(1 − β1)^t g: the factor (1 − β1) compounded",
            hint="each step multiplies the *old* average by β1 and adds (1 − β1) g: unroll the "
                 "recursion into a geometric sum",
            patch={_ADAM_MOMENT: "return (1 - beta1)**t * g"}),
    Mistake(key="off_by_one", title="one term too many: (1 − β1^{t+1}) g",
            hint="after t steps the sum has t terms, β1^0 ... β1^{t−1} (check t = 1: "
                 "m_1 = (1 − β1) g)",
            patch={_ADAM_SUM: "geometric_sum = (1 - beta1**(t + 1)) / (1 - beta1)"}),
    Mistake(key="already_corrected", title="g: the bias-corrected m̂_t, not m_t",
            hint="before the correction m_t is smaller than g in the first steps (m_1 = (1 − β1) "
                 "g); the question is by how much",
            patch={_ADAM_MOMENT: "return g"}),
    Mistake(key="no_one_minus_beta", title="the geometric sum without the factor (1 − β1)",
            hint="every gradient enters with the factor (1 − β1): m_1 = (1 − β1) g",
            patch={_ADAM_MOMENT: "return geometric_sum * g"}),
)

_EXPONENT = "return beta / (alpha + beta)"

OPTIMAL_EXPONENT_MISTAKES = (
    Mistake(key="data_exponent", title="α/(α + β): the exponent of D_tok,opt, not of N_opt",
            hint="at the optimum α a_N / N^α = β a_D / D_tok^β; with D_tok ∝ C/N this gives "
                 "N^{α+β} ∝ C^β. The larger β (the faster the data penalty falls), the more of "
                 "the budget goes to N",
            patch={_EXPONENT: "return alpha / (alpha + beta)"}),
    Mistake(key="one_half", title="1/2, the Chinchilla rule of thumb",
            hint="1/2 holds only when α = β; keep α and β apart: N^{α+β} ∝ C^β",
            patch={_EXPONENT: "return 1 / 2"}),
    Mistake(key="ratio_of_exponents", title="β/α",
            hint="α a_N / N^α = β a_D / D_tok^β with D_tok = C/(6N) gives N^α · N^β ∝ C^β: divide "
                 "by α + β, "
                 "not by α",
            patch={_EXPONENT: "return beta / alpha"}),
)
