"""Chapter 4 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points (and only those) and is named in the feedback. The alternative correct
implementations are test fixtures: ``tests/chapters/alternatives/ch04.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake


# =========================================================================== softmax
SOFTMAX_MISTAKES = (
    Mistake(key="no_max_subtraction", title="exponentials taken without subtracting the max",
            hint="exp overflows for large logits (inf/inf = NaN); subtract the max along `dim` "
                 "first — softmax is shift-invariant, so the result is unchanged",
            patch={"    z = z - z.amax(dim=dim, keepdim=True).detach()\n": ""}),
    Mistake(key="ignores_dim", title="softmax always over the last axis",
            hint="use the `dim` argument for the max and the sum",
            patch={"z.amax(dim=dim,": "z.amax(dim=-1,", "e.sum(dim=dim,": "e.sum(dim=-1,"}),
    Mistake(key="temperature_multiplied",
            title="logits multiplied by the temperature instead of divided",
            hint="softmax(x / T): a large T must flatten the distribution",
            patch={"z = x / temperature": "z = x * temperature"}),
    Mistake(key="global_max",
            title="the max of the whole tensor subtracted instead of the max of each row",
            hint="rows far below the global max underflow to 0/0; take the max along `dim` with "
                 "keepdim=True",
            patch={"z.amax(dim=dim, keepdim=True)": "z.amax()"}),
    Mistake(key="global_sum", title="normalised by the sum of the whole tensor",
            hint="each row must sum to 1: sum along `dim` with keepdim=True",
            patch={"e / e.sum(dim=dim, keepdim=True)": "e / e.sum()"}),
    Mistake(key="upcast_not_cast_back",
            title="computed in float32 and returned in float32 whatever the input dtype",
            hint="the output must have the dtype of x: cast back with .to(x.dtype) if you compute "
                 "in a wider dtype",
            patch={"z = x / temperature": "z = x.float() / temperature"}),
)


# =========================================================================== softmax Jacobian
JACOBIAN_MISTAKES = (
    Mistake(key="missing_diag", title="the diag(p) term is missing",
            hint="∂p_i/∂x_j = p_i(δ_ij − p_j): the diagonal has p_i − p_i²",
            patch={"torch.diag_embed(p) - p": "-p"}),
    Mistake(key="inner_product", title="p·p (a scalar) used instead of the outer product p pᵀ",
            hint="the second term is the n×n matrix p[..., :, None] * p[..., None, :]",
            patch={"p.unsqueeze(-1) * p.unsqueeze(-2)": "(p * p).sum(-1)[..., None, None]"}),
    Mistake(key="diag_only", title="only the diagonal p − p² is filled in",
            hint="off-diagonal entries are −p_i p_j, not 0",
            patch={"torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)":
                   "torch.diag_embed(p - p * p)"}),
    Mistake(key="sign", title="p pᵀ added instead of subtracted",
            hint="the Jacobian is diag(p) − p pᵀ; its rows sum to 0",
            patch={"torch.diag_embed(p) - p": "torch.diag_embed(p) + p"}),
)


# =========================================================================== SDPA
SDPA_MISTAKES = (
    Mistake(key="no_scale", title="scores not divided by √E",
            hint="without 1/√E the score variance grows with E and the softmax saturates",
            patch={"scale = 1.0 / math.sqrt(q.size(-1))": "scale = 1.0"}),
    Mistake(key="scale_by_d", title="scores divided by E instead of √E",
            hint="q·k has variance E, so its standard deviation is √E",
            patch={"scale = 1.0 / math.sqrt(q.size(-1))": "scale = 1.0 / q.size(-1)"}),
    Mistake(key="softmax_wrong_axis", title="softmax over the queries axis (dim=-2)",
            hint="each query's weights over the keys must sum to 1: softmax over the last axis",
            patch={"0.0), dim=-1)": "0.0), dim=-2)"}),
    Mistake(key="mask_after_softmax", title="mask applied after the softmax",
            hint="masked weights must be removed before normalising: add −inf to the scores, "
                 "then softmax",
            patch={'scores = scores.masked_fill(~attn_mask, float("-inf"))': "pass",
                   "    return weights @ v": "    if attn_mask is not None and attn_mask.dtype == "
                                            "torch.bool:\n        weights = weights * attn_mask\n"
                                            "    return weights @ v"}),
    Mistake(key="mask_polarity", title="boolean mask polarity inverted",
            hint="True means 'may attend' (as in F.scaled_dot_product_attention); fill −inf where "
                 "the mask is False",
            patch={"masked_fill(~attn_mask,": "masked_fill(attn_mask if not is_causal else "
                                              "~attn_mask,"}),
    Mistake(key="causal_hides_diagonal", title="the causal mask hides the diagonal",
            hint="query i may attend to keys j ≤ i, itself included: torch.ones(L, S).tril(diagonal=0)",
            patch={".tril()": ".tril(-1)"}),
    Mistake(key="causal_bottom_right", title="the causal mask aligned to the bottom-right corner",
            hint="is_causal is top-left aligned: query i sees keys 0..i even when L ≠ S",
            patch={".tril()": ".tril(S - L)"}),
    Mistake(key="scale_from_value_dim", title="scale computed from v's feature size",
            hint="the scale is 1/√E with E the size of q and k, not of v",
            patch={"math.sqrt(q.size(-1))": "math.sqrt(v.size(-1))"}),
    Mistake(key="nan_for_a_query_with_no_key", title="NaN for a query that may attend to no key",
            hint="a row of scores that is all −inf gives 0/0 in the softmax: give such a row "
                 "harmless scores, then zero its weights (its output row is 0)",
            patch={"    weights = torch.softmax(scores.masked_fill(~visible, 0.0), dim=-1)"
                   "  # (..., L, S)\n"
                   "    weights = weights.masked_fill(~visible, 0.0)\n":
                   "    weights = torch.softmax(scores, dim=-1)  # (..., L, S)\n"}),
)


# =========================================================================== multi-head attention
_SPLIT = "{0} = self.{0}_proj(x).view(B, T, H, E).transpose(1, 2)"
_MERGE = "y = y.transpose(1, 2).reshape(B, T, D)"


def _per_projection(new: str) -> dict[str, str]:
    """The same edit of the q, k and v lines (``new`` has a ``{0}`` for the projection's name)."""
    return {_SPLIT.format(n): new.format(n) for n in "qkv"}


MHA_MISTAKES = (
    Mistake(key="heads_wrong_order", title="heads split in the wrong order (D → (E, H))",
            hint="head h owns the contiguous columns h·E:(h+1)·E: view(B, T, H, E).transpose(1, 2)",
            patch=_per_projection("{0} = self.{0}_proj(x).view(B, T, E, H).permute(0, 3, 1, 2)")
            | {_MERGE: "y = y.permute(0, 2, 3, 1).reshape(B, T, D)"}),
    Mistake(key="view_without_transpose", title="(B, T, D) reshaped straight to (B, H, T, E)",
            hint="that mixes tokens across heads; view(B, T, H, E) first, then transpose(1, 2)",
            patch=_per_projection("{0} = self.{0}_proj(x).reshape(B, H, T, E)")
            | {_MERGE: "y = y.reshape(B, T, D)"}),
    Mistake(key="scale_by_model_width",
            title="scores scaled by 1/√d_model instead of 1/√(d_model/H)",
            hint="each head works in its own subspace of E = d_model/H dimensions",
            patch={"is_causal=is_causal)": "is_causal=is_causal, scale=1.0 / math.sqrt(D))"}),
    Mistake(key="no_out_proj", title="the output projection is missing",
            hint="after merging the heads, apply out_proj",
            patch={"return self.out_proj(y)": "return y"}),
    Mistake(key="merge_without_transpose", title="heads merged without transposing back",
            hint="(B, H, T, E) → transpose(1, 2) → (B, T, H, E) → reshape(B, T, D)",
            patch={_MERGE: "y = y.reshape(B, T, D)"}),
    Mistake(key="no_divisibility_check",
            title="no ValueError when d_model is not divisible by n_heads",
            hint="check d_model % n_heads in __init__ and raise ValueError: otherwise the heads "
                 "cannot split the width evenly",
            patch={"        if d_model % n_heads != 0:\n"
                   "            raise ValueError(f\"d_model={d_model} is not divisible by "
                   "n_heads={n_heads}\")\n": ""}),
    Mistake(key="float_mask_as_bool", title="a float mask turned into a boolean one",
            hint="pass attn_mask through unchanged: a float mask is added to the scores (0 = "
                 "attend, −inf = hidden); .bool() makes every non-zero entry, −inf included, "
                 "'may attend'",
            patch={"y = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,":
                   "if attn_mask is not None:\n"
                   "            attn_mask = attn_mask.bool()\n"
                   "        y = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,"}),
)


# =========================================================================== LayerNorm
_TWO_PASS = "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)"

LAYER_NORM_MISTAKES = (
    Mistake(key="unbiased_variance", title="unbiased variance (divides by D − 1)",
            hint="LayerNorm uses the biased variance: mean((x − μ)²), i.e. var(unbiased=False)",
            patch={_TWO_PASS: "var = x.var(dim=-1, keepdim=True)"}),
    Mistake(key="eps_outside_sqrt", title="eps added outside the square root",
            hint="normalise by sqrt(var + eps), not sqrt(var) + eps",
            patch={"* torch.rsqrt(var + eps)": "/ (torch.sqrt(var) + eps)"}),
    Mistake(key="no_sqrt", title="divided by the variance instead of the standard deviation",
            hint="normalise by sqrt(var + eps)",
            patch={"* torch.rsqrt(var + eps)": "/ (var + eps)"}),
    Mistake(key="wrong_axis", title="statistics over the first axis instead of the last",
            hint="mean and variance are over the features: dim=-1, keepdim=True",
            patch={"mean = x.mean(dim=-1,": "mean = x.mean(dim=0,", _TWO_PASS:
                   "var = ((x - mean) ** 2).mean(dim=0, keepdim=True)"}),
    # before no_affine: where it fails (weight or bias None) no_affine gives the same output,
    # and a tie goes to the earlier mistake
    Mistake(key="affine_needs_both",
            title="the affine step skipped unless weight and bias are both given",
            hint="weight and bias are independent: with bias=None still multiply by weight, and "
                 "with weight=None still add bias",
            patch={"    if weight is not None:\n        y = y * weight\n"
                   "    if bias is not None:\n        y = y + bias\n":
                   "    if weight is not None and bias is not None:\n"
                   "        y = y * weight + bias\n"}),
    Mistake(key="no_affine", title="weight and bias not applied", hint="finish with · weight + bias",
            patch={"y = y * weight": "pass", "y = y + bias": "pass"}),
    Mistake(key="one_pass_variance", title="variance computed as E[x²] − E[x]²",
            hint="that difference cancels catastrophically when the mean is large; use "
                 "mean((x − μ)²)",
            patch={_TWO_PASS: "var = (x * x).mean(dim=-1, keepdim=True) - mean * mean"}),
)


# =========================================================================== RMSNorm
RMS_NORM_MISTAKES = (
    Mistake(key="centered", title="the mean subtracted (that is LayerNorm without bias)",
            hint="RMSNorm does not centre: x / sqrt(mean(x²) + eps) · weight",
            patch={"    y = x * torch.rsqrt": "    x = x - x.mean(dim=-1, keepdim=True)\n"
                                            "    y = x * torch.rsqrt"}),
    Mistake(key="eps_outside_sqrt", title="eps added outside the square root",
            hint="normalise by sqrt(mean(x²) + eps)",
            patch={"x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps)":
                   "x / (torch.sqrt((x * x).mean(dim=-1, keepdim=True)) + eps)"}),
    Mistake(key="l2_norm", title="divided by the L2 norm instead of the root mean square",
            hint="the RMS is sqrt(mean(x²)) = ‖x‖/√D",
            patch={"(x * x).mean(dim=-1,": "(x * x).sum(dim=-1,"}),
    Mistake(key="no_weight", title="weight not applied", hint="multiply by weight at the end",
            patch={"y = y * weight": "pass"}),
    Mistake(key="unnormalised_without_weight", title="with weight=None, x returned unnormalised",
            hint="weight=None skips only the scaling by weight: still return x / RMS(x)",
            patch={"    if weight is not None:\n        y = y * weight\n    return y":
                   "    return y * weight if weight is not None else x"}),
)


# =========================================================================== kernel smoother
_WEIGHTS = "weights = softmax(-sq_dist / (2 * bandwidth**2), dim=-1)"

SMOOTHER_MISTAKES = (
    Mistake(key="missing_two", title="kernel exp(−‖q−k‖²/h²): the factor 2 is missing",
            hint="the Gaussian kernel is exp(−‖q−k‖² / (2h²))",
            patch={"(2 * bandwidth**2)": "(bandwidth**2)"}),
    Mistake(key="h_not_squared", title="divided by 2h instead of 2h²",
            hint="the bandwidth enters squared: exp(−‖q−k‖² / (2h²))",
            patch={"(2 * bandwidth**2)": "(2 * bandwidth)"}),
    Mistake(key="distance_not_squared", title="distance not squared",
            hint="use the squared Euclidean distance ‖q−k‖²",
            patch={"** 2).sum(-1)": "** 2).sum(-1).sqrt()"}),
    Mistake(key="unstable",
            title="weights computed as exp(·)/Σexp(·) without the log-domain shift",
            hint="far queries underflow to 0/0; use a stable softmax of −‖q−k‖²/(2h²)",
            patch={_WEIGHTS: "e = torch.exp(-sq_dist / (2 * bandwidth**2))\n"
                             "    weights = e / e.sum(-1, keepdim=True)"}),
    Mistake(key="unnormalised", title="kernel weights not normalised",
            hint="Nadaraya–Watson divides by Σ_j K(q, k_j): the weights of each query sum to 1",
            patch={_WEIGHTS: "weights = torch.exp(-sq_dist / (2 * bandwidth**2))"}),
    Mistake(key="expanded_distance",
            title="squared distances expanded as |q|² − 2 q·k + |k|²",
            hint="that expansion cancels when q and k are close and far from the origin; square "
                 "the differences: ((q[..., :, None, :] − k[..., None, :, :]) ** 2).sum(-1)",
            patch={"sq_dist = ((queries[..., :, None, :] - keys[..., None, :, :]) ** 2).sum(-1)":
                   "sq_dist = ((queries**2).sum(-1)[..., :, None] - 2 * queries @ keys.mT\n"
                   "               + (keys**2).sum(-1)[..., None, :])"}),
    Mistake(key="normalised_over_queries",
            title="weights normalised over the queries instead of the keys",
            hint="normalise each query's weights over the keys (the last axis of the score matrix)",
            patch={"bandwidth**2), dim=-1)": "bandwidth**2), dim=-2)"}),
)




# =========================================================================== derivations
DOT_VARIANCE_MISTAKES = (
    Mistake(key="standard_deviations", title="the standard deviations multiplied, not the variances",
            hint="Var(q_i k_i) = E[q_i²] E[k_i²] = s_q² s_k²: square each standard deviation",
            patch={"return E * s_q**2 * s_k**2": "return E * s_q * s_k"}),
    Mistake(key="sqrt_width", title="√E instead of E",
            hint="variances of uncorrelated terms add: E terms give E times one term's variance "
                 "(√E is the standard deviation)",
            patch={"return E * s_q**2 * s_k**2": "return E**0.5 * s_q**2 * s_k**2"}),
    Mistake(key="variances_added", title="the two variances added instead of multiplied",
            hint="for independent zero-mean factors, Var(xy) = Var(x) Var(y)",
            patch={"return E * s_q**2 * s_k**2": "return E * (s_q**2 + s_k**2)"}),
)

SELF_SCORE_MISTAKES = (
    Mistake(key="product_rule", title="Var(q_i q_i) taken as Var(q_i)² = s⁴",
            hint="q_i · q_i is not a product of independent factors: Var(q_i²) = E[q_i⁴] − "
                 "E[q_i²]² with E[q_i⁴] = 3s⁴",
            patch={"return 2 * E * s**4": "return E * s**4"}),
    Mistake(key="no_mean_subtracted", title="E[q_i⁴] used as the variance of q_i²",
            hint="Var(x) = E[x²] − E[x]²: subtract (E[q_i²])² = s⁴ from E[q_i⁴] = 3s⁴",
            patch={"return 2 * E * s**4": "return 3 * E * s**4"}),
    Mistake(key="variance_not_squared", title="s² where s⁴ belongs",
            hint="q_i² has units of s², so its variance has units of s⁴",
            patch={"return 2 * E * s**4": "return 2 * E * s**2"}),
)
