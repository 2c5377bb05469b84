"""Appendix A catalog: plausible wrong implementations (common mistakes), as patches on the
solution's answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses
its exercise's points and is named in the feedback. The alternative correct implementations are
test fixtures: ``tests/chapters/alternatives/appA.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake

# =========================================================================== projection
PROJECT_MISTAKES = (
    Mistake(key="unit_v_assumed", title="v treated as a unit vector: (u·v) v",
            hint="divide by v·v = |v|²: the projection (u·v / v·v) v depends on the line of v, "
                 "not on its length",
            patch={"return uv / safe * v": "return uv * v"}),
    Mistake(key="divides_by_norm", title="divided by |v| instead of |v|²",
            hint="u·v / |v| is the length of the projection along the unit vector v / |v|; "
                 "along v itself divide by v·v = |v|²",
            patch={"return uv / safe * v": "return uv / safe.sqrt() * v"}),
    Mistake(key="roles_swapped", title="v projected onto u (the arguments' roles swapped)",
            hint="project(u, v) projects the FIRST argument onto the line of the SECOND: "
                 "(u·v / v·v) v",
            patch={"vv = (v * v)": "vv = (u * u)", "return uv / safe * v": "return uv / safe * u"}),
    Mistake(key="nan_at_zero", title="v = 0 gives 0 / 0 = NaN",
            hint="where v = 0, u·v = 0 as well: return 0 there (divide by 1 instead of v·v)",
            patch={"safe = torch.where(vv > 0, vv, torch.ones_like(vv))": "safe = vv"}),
    Mistake(key="sums_the_batch", title="dot products summed over the whole batch",
            hint="each vector has its own dot products: sum over the last axis only, "
                 ".sum(dim=-1, keepdim=True)",
            patch={"(u * v).sum(dim=-1, keepdim=True)": "(u * v).sum()",
                   "(v * v).sum(dim=-1, keepdim=True)": "(v * v).sum()"}),
)


# =========================================================================== Gram–Schmidt
GRAM_SCHMIDT_MISTAKES = (
    Mistake(key="not_normalised", title="the residuals kept without normalising them",
            hint="divide each kept residual by its norm: the rows must be unit vectors (and the "
                 "update r − (q·r) q assumes |q| = 1)",
            patch={"basis.append(r / norm)": "basis.append(r)"}),
    Mistake(key="last_direction_only", title="only the previous direction removed",
            hint="remove the component along EVERY basis row found so far, not just the last "
                 "one",
            patch={"for q in basis:": "for q in basis[-1:]:"}),
    Mistake(key="divides_by_row_norm", title="divided by the input row's norm, not the residual's",
            hint="normalise what is left: q = r / |r|; r / |a| is shorter than 1 whenever a had "
                 "a component along earlier rows",
            patch={"basis.append(r / norm)": "basis.append(r / torch.linalg.vector_norm(a))"}),
    Mistake(key="absolute_tolerance", title="an absolute tolerance |r| ≤ tol",
            hint="the test is relative, |r| ≤ tol · |a|: rounding noise grows with the row, and "
                 "rows of tiny length can still be independent",
            patch={"if norm > tol * torch.linalg.vector_norm(a):": "if norm > tol:"}),
    Mistake(key="tolerance_ignores_dtype", title="a default tolerance that ignores the dtype",
            hint="an exactly dependent row keeps a residual of a few eps of its dtype (about 0.008 "
                 "in bfloat16): the default tol is sqrt(torch.finfo(dtype).eps)",
            patch={"tol = torch.finfo(vectors.dtype).eps ** 0.5": "tol = 1e-10"}),
    Mistake(key="tol_argument_ignored", title="the tol argument ignored",
            hint="use the default sqrt(eps) only when tol is None; a given tol decides which "
                 "rows are dropped",
            patch={"if tol is None:": "if True:"}),
)


# =========================================================================== Eckart–Young
LOW_RANK_MISTAKES = (
    Mistake(key="spectral_error", title="σ_(k+1) alone: the spectral-norm error",
            hint="in the Frobenius norm every dropped singular value counts, sqrt(σ_(k+1)² + "
                 "σ_(k+2)² + …); σ_(k+1) alone is the error in the spectral (operator) norm",
            patch={"tail.square().sum(dim=-1).sqrt()": "s[..., k]"}),
    Mistake(key="no_squares", title="the dropped singular values summed without squares",
            hint="the Frobenius norm is the root of a sum of squares, sqrt(Σ_(i>k) σ_i²); the "
                 "plain sum is the error in the nuclear norm",
            patch={"tail.square().sum(dim=-1).sqrt()": "tail.sum(dim=-1)"}),
    Mistake(key="no_sqrt", title="the squared error (no square root)",
            hint="‖A − A_k‖_F is the square root of Σ_(i>k) σ_i²",
            patch={"tail.square().sum(dim=-1).sqrt()": "tail.square().sum(dim=-1)"}),
    Mistake(key="sigma_k_dropped", title="σ_k counted among the dropped values (off by one)",
            hint="a rank-k matrix keeps σ_1 … σ_k: the tail starts at σ_(k+1), which is "
                 "s[..., k] counting from 0",
            patch={"s[..., k:]": "s[..., k - 1:]"}),
    Mistake(key="kept_values", title="the kept singular values instead of the dropped ones",
            hint="the error is made of what a rank-k matrix throws away: s[..., k:]",
            patch={"s[..., k:]": "s[..., :k]"}),
    Mistake(key="subtracts_from_total", title="‖A‖_F² minus the kept σ², which cancels",
            hint="when the error is small, ‖A‖_F² and Σ_(i≤k) σ_i² agree in almost all their "
                 "digits and their difference is rounding noise (or negative: NaN); sum the "
                 "dropped σ_i² directly",
            patch={"tail.square().sum(dim=-1).sqrt()":
                   "(work.square().sum(dim=(-2, -1)) - s[..., :k].square().sum(dim=-1)).sqrt()"}),
)


# =========================================================================== derivations (A.3–A.6)
CE_GRAD_MISTAKES = (
    Mistake(key="target_not_subtracted", title="p₁ without the − y₁",
            hint="ℓ = −z_y + log Σ e^{z_k}: the linear term −z_y contributes −1 for the observed "
                 "class",
            patch={"    return p1 - 1": "    return p1"}),
    Mistake(key="sign_flipped", title="y − p instead of p − y",
            hint="the loss is −log p_y: increasing z₁ (the observed class) must lower it, so the "
                 "derivative is p₁ − 1 ≤ 0",
            patch={"    return p1 - 1": "    return 1 - p1"}),
    Mistake(key="softmax_jacobian", title="the softmax's own derivative p₁(1 − p₁)",
            hint="differentiate the loss −log p₁, not p₁: the chain rule through the log divides "
                 "by p₁",
            patch={"    return p1 - 1": "    return p1 * (1 - p1)"}),
)

COMPUTE_MISTAKES = (
    Mistake(key="forward_only", title="2ND: the forward pass only",
            hint="the backward pass computes two products per layer (gradients for the input and "
                 "for the weights), each as costly as the forward one",
            patch={"return 6 * N * D": "return 2 * N * D"}),
    Mistake(key="one_backward_product", title="4ND: one backward product left out",
            hint="the backward pass needs ∂ℓ/∂x (for the layer below) AND ∂ℓ/∂W (for the update)",
            patch={"return 6 * N * D": "return 4 * N * D"}),
    Mistake(key="multiply_adds", title="3ND: multiply-adds counted as one operation",
            hint="a multiply-add is 2 FLOPs: one multiply and one add per parameter per token",
            patch={"return 6 * N * D": "return 3 * N * D"}),
    Mistake(key="per_token", title="6N: the cost of one token, not of D tokens",
            hint="every one of the D training tokens goes through the forward and backward pass: "
                 "multiply by D",
            patch={"return 6 * N * D": "return 6 * N"}),
)

KL_MISTAKES = (
    Mistake(key="cross_entropy_only", title="the cross-entropy alone",
            hint="KL(p‖q) = H(p, q) − H(p): subtract the entropy (KL(p‖p) must be 0)",
            patch={"    return cross_entropy - entropy": "    return cross_entropy"}),
    Mistake(key="entropy_added", title="H(p, q) + H(p)",
            hint="KL = Σ p log(p/q) = Σ p log p − Σ p log q = −H(p) + H(p, q): the entropy is "
                 "subtracted",
            patch={"    return cross_entropy - entropy": "    return cross_entropy + entropy"}),
    Mistake(key="arguments_swapped", title="KL(q‖p) instead of KL(p‖q)",
            hint="the expectation is under p, the data: Σ p_i log(p_i / q_i)",
            patch={"    cross_entropy = -p * log(q) - (1 - p) * log(1 - q)\n"
                   "    entropy = -p * log(p) - (1 - p) * log(1 - p)\n":
                   "    cross_entropy = -q * log(p) - (1 - q) * log(1 - p)\n"
                   "    entropy = -q * log(q) - (1 - q) * log(1 - q)\n"}),
    Mistake(key="log2", title="bits instead of nats",
            hint="the natural logarithm gives nats; log₂ gives bits (a factor 1/ln 2)",
            patch={"    return cross_entropy - entropy":
                   "    return (cross_entropy - entropy) / log(2)"}),
)

MLE_MISTAKES = (
    Mistake(key="laplace", title="add-one smoothing (c₁ + 1)/(n + 3)",
            hint="that is the posterior mean under a uniform prior (Appendix B), not the maximum "
                 "likelihood: the Lagrange condition gives θ_w = c_w / λ",
            patch={"return c1 / (c1 + c2 + c3)": "return (c1 + 1) / (c1 + c2 + c3 + 3)"}),
    Mistake(key="odds", title="c₁ over the other counts",
            hint="λ is the sum of ALL counts, c₁ included (the constraint Σ θ_w = 1)",
            patch={"return c1 / (c1 + c2 + c3)": "return c1 / (c2 + c3)"}),
    Mistake(key="uniform", title="the uniform 1/3",
            hint="the estimate depends on the data: θ_w is proportional to c_w",
            patch={"return c1 / (c1 + c2 + c3)": "return 1 / 3"}),
)
