"""Chapter 11 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points and is named in the feedback. The alternative correct implementations are test
fixtures: ``tests/chapters/alternatives/ch11.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake

# =========================================================================== cost
COST_MISTAKES = (
    Mistake(key="no_attention", title="the attention FLOPs are left out",
            hint="each token also pays 4·n_layers·context·d_model FLOPs for QKᵀ and AV",
            patch={"(2 * n_params + 4 * n_layers * context * d_model)": "(2 * n_params)"}),
    Mistake(key="training_flops", title="6N per token (training) instead of 2N (inference)",
            hint="a forward pass costs 2 FLOPs per parameter per token; 6N adds the backward pass",
            patch={"(2 * n_params + 4": "(6 * n_params + 4"}),
    Mistake(key="mfu_multiplied", title="time computed as FLOPs · MFU / peak",
            hint="only the fraction MFU of the peak is achieved: seconds = FLOPs / (peak · MFU)",
            patch={"seconds = flops / (peak_flops * mfu)": "seconds = flops * mfu / peak_flops"}),
    Mistake(key="price_per_second", title="the hourly price charged per second",
            hint="convert seconds to hours before multiplying by the price per hour",
            patch={"cost = seconds / 3600 * price_per_hour": "cost = seconds * price_per_hour"}),
)

INTENSITY_MISTAKES = (
    Mistake(key="one_flop", title="one FLOP per parameter per token",
            hint="a multiply-add is 2 FLOPs: 2·N per token", patch={"flops = 2 * n_params": "flops = n_params"}),
    Mistake(key="batch_in_bytes", title="the weights read once per sequence of the batch",
            hint="a decoding step reads each weight once for the whole batch",
            patch={"bytes_read = n_params * bytes_per_param":
                   "bytes_read = n_params * bytes_per_param * batch_size"}),
    Mistake(key="bits_not_bytes", title="bytes per parameter taken as bits",
            hint="bytes_per_param is already in bytes (2 for bfloat16, 1 for int8)",
            patch={"bytes_read = n_params * bytes_per_param": "bytes_read = n_params * bytes_per_param * 8"}),
)

# =========================================================================== quantization
ABSMAX_MISTAKES = (
    Mistake(key="qmax_128", title="scale = max|x| / 2^(bits−1) instead of / (2^(bits−1) − 1)",
            hint="the symmetric range is [−127, 127]: divide max|x| by 127 so that it maps to 127",
            patch={"scale = (amax / qmax)": "scale = (amax / (qmax + 1))"}),
    Mistake(key="rounds_half_up", title="ties rounded up (floor(x / scale + 0.5))",
            hint="torch.round rounds half to even: 2.5 → 2, 3.5 → 4, −2.5 → −2",
            patch={"torch.round(x / scale)": "torch.floor(x / scale + 0.5)"}),
    Mistake(key="truncates", title="codes truncated towards zero instead of rounded",
            hint="round to the nearest integer (torch.round), which halves the worst error",
            patch={"torch.round(x / scale)": "torch.trunc(x / scale)"}),
    Mistake(key="scale_over_wrong_axis", title="max|x| taken over every axis but dim",
            hint="dim is the axis the maximum is taken along: x.abs().amax(dim=dim, keepdim=True)",
            patch={"amax = x.abs().amax(dim=dim, keepdim=True)":
                   "amax = x.abs().amax(dim=[d for d in range(x.dim()) if d != dim % x.dim()], "
                   "keepdim=True)"}),
    Mistake(key="per_tensor_always", title="one scale for the whole tensor whatever dim says",
            hint="with dim given, each slice along dim gets its own scale (keepdim shape)",
            patch={"    if dim is None:\n        amax = x.abs().max()\n":
                   "    if True:\n        amax = x.abs().max()\n"}),
)

ZERO_POINT_MISTAKES = (
    Mistake(key="range_not_widened", title="the range [min x, max x] not widened to contain 0",
            hint="use lo = min(min x, 0) and hi = max(max x, 0), so that 0 is exactly representable",
            patch={"    lo, hi = lo.clamp(max=0), hi.clamp(min=0)\n": ""}),
    Mistake(key="zero_point_not_rounded", title="the zero point is not rounded to an integer",
            hint="zero_point = round(−lo / scale): an integer code, as q is",
            patch={"zero_point = torch.round(-lo / scale)": "zero_point = torch.floor(-lo / scale)"}),
    Mistake(key="signed_range", title="2^(bits−1) − 1 levels, the signed range's",
            hint="the unsigned range [0, 2^bits − 1] has 2^bits − 1 steps",
            patch={"top = 2**bits - 1": "top = 2 ** (bits - 1) - 1"}),
    Mistake(key="rounds_after_zero_point",
            title="round(x / scale + zero_point): the zero point added before rounding",
            hint="round x / scale first, then add the integer zero point: with an odd zero point "
                 "the two differ on exact ties (round(129.5) = 130, but 2 + 127 = 129)",
            patch={"torch.round(x / scale).to(torch.int64) + zero_point":
                   "torch.round(x / scale + zero_point).to(torch.int64)"}),
    Mistake(key="zero_range_nan", title="an all-zero slice divides by a range of 0",
            hint="where hi == lo (an all-zero slice) use scale 1, so that nothing divides by 0",
            patch={"scale = ((hi - lo) / top).masked_fill(hi == lo, 1.0)":
                   "scale = (hi - lo) / top"}),
    Mistake(key="zero_point_subtracted", title="the zero point subtracted instead of added",
            hint="q = round(x / scale) + zero_point, so that x = 0 maps to zero_point",
            patch={"torch.round(x / scale).to(torch.int64) + zero_point":
                   "torch.round(x / scale).to(torch.int64) - zero_point"}),
)

DEQUANTIZE_MISTAKES = (
    Mistake(key="zero_point_added", title="the zero point added back instead of subtracted",
            hint="x ≈ (q − zero_point) · scale",
            patch={"q = q.to(torch.int64) - zero_point": "q = q.to(torch.int64) + zero_point"}),
    Mistake(key="divides", title="codes divided by the scale",
            hint="quantizing divided by the scale; dequantizing multiplies by it",
            patch={"return q.to(scale.dtype) * scale": "return q.to(scale.dtype) / scale"}),
    Mistake(key="uint8_wraparound", title="the zero point subtracted in uint8, which wraps around",
            hint="convert the codes to a signed type first (q.to(torch.int64)): in uint8, "
                 "3 − 5 is 254",
            patch={"q = q.to(torch.int64) - zero_point": "q = q - zero_point"}),
    Mistake(key="ignores_zero_point", title="the zero point is ignored",
            hint="subtract the zero point before scaling when one is given",
            patch={"    if zero_point is not None:\n": "    if False:\n"}),
)

GROUPWISE_MISTAKES = (
    Mistake(key="strided_groups",
            title="groups taken every n/g entries instead of consecutive runs",
            hint="a group is group_size CONSECUTIVE entries of the last axis: "
                 "reshape(..., n // g, g)",
            patch={"groups = x.reshape(*x.shape[:-1], x.shape[-1] // group_size, group_size)":
                   "groups = x.reshape(*x.shape[:-1], group_size, x.shape[-1] // group_size)"
                   ".transpose(-1, -2)",
                   "return q.reshape(x.shape), scales.squeeze(-1)":
                   "return q.transpose(-1, -2).reshape(x.shape), scales.squeeze(-1)"}),
    Mistake(key="per_row", title="one scale per row instead of per group",
            hint="each group of group_size entries gets its own scale",
            patch={"q, scales = quantize_absmax(groups, bits, dim=-1)":
                   "q, scales = quantize_absmax(groups, bits, dim=(-2, -1))",
                   "return q.reshape(x.shape), scales.squeeze(-1)":
                   "return q.reshape(x.shape), scales.squeeze(-1).expand(groups.shape[:-1])"}),
    Mistake(key="eight_bits", title="the bits argument is ignored (8 bits used)",
            hint="pass bits to the quantizer: 4-bit groups have codes in [−7, 7]",
            patch={"quantize_absmax(groups, bits, dim=-1)": "quantize_absmax(groups, 8, dim=-1)"}),
)

INT8_MATMUL_MISTAKES = (
    Mistake(key="float32_accumulation", title="the integer products summed in float32",
            hint="float32 holds integers exactly only up to 2^24: accumulate in int32/int64 "
                 "(or float64)",
            patch={"exact = a_q.double() @ b_q.double()": "exact = a_q.float() @ b_q.float()"}),
    Mistake(key="b_scale_missing", title="only a's scales applied",
            hint="each code product stands for (a_q · a_scale)(b_q · b_scale): multiply by both",
            patch={"return exact.to(a_scale.dtype) * a_scale * b_scale":
                   "return exact.to(a_scale.dtype) * a_scale"}),
    Mistake(key="scale_divided", title="the result divided by the scales",
            hint="dequantized values are code · scale: multiply the accumulated product by both",
            patch={"return exact.to(a_scale.dtype) * a_scale * b_scale":
                   "return exact.to(a_scale.dtype) / a_scale / b_scale"}),
    Mistake(key="no_overflow_guard", title="no refusal of an inner dimension above 133 144",
            hint="beyond D = 133 144, D · 127² passes 2^31 − 1: raise ValueError as the "
                 "docstring says, since an int32 accumulator could overflow",
            patch={"    if a_q.shape[-1] > (2**31 - 1) // 127**2:\n"
                   "        raise ValueError(\"inner dimension too large: an int32 accumulator "
                   "could overflow\")\n": ""}),
)

OUTLIER_MISTAKES = (
    Mistake(key="threshold_ignored", title="every feature quantized (no outlier path)",
            hint="features with some |x| ≥ threshold stay in the float product",
            patch={"outliers = (x.abs() >= threshold).any(dim=0)":
                   "outliers = (x.abs() >= float('inf')).any(dim=0)"}),
    Mistake(key="per_tensor_scales", title="one scale for all of x and all of w",
            hint="quantize x per row (dim=-1) and w per column (dim=0)",
            patch={"quantize_absmax(x[:, rest], 8, dim=-1)": "quantize_absmax(x[:, rest], 8)",
                   "quantize_absmax(w[rest], 8, dim=0)": "quantize_absmax(w[rest], 8)",
                   "out = out + int8_matmul(x_q, x_scale, w_q, w_scale)":
                   "out = out + int8_matmul(x_q, x_scale.reshape(1, 1), w_q, w_scale.reshape(1, 1))"}),
    Mistake(key="strict_threshold", title="|x| > threshold instead of ≥",
            hint="a feature reaching the threshold exactly is an outlier too",
            patch={"(x.abs() >= threshold)": "(x.abs() > threshold)"}),
)

# =========================================================================== bias
WEAT_EFFECT_MISTAKES = (
    Mistake(key="population_std", title="population standard deviation (divide by n)",
            hint="the effect size uses the sample standard deviation (n − 1) over X ∪ Y",
            patch={"torch.cat([s_x, s_y]).std()": "torch.cat([s_x, s_y]).std(correction=0)"}),
    Mistake(key="pooled_within_std", title="std of the differences within each set, averaged",
            hint="divide by the standard deviation of s(w) over all words of X ∪ Y together",
            patch={"torch.cat([s_x, s_y]).std()": "((s_x.std() + s_y.std()) / 2)"}),
    Mistake(key="dot_products", title="dot products instead of cosine similarities",
            hint="normalise the embeddings: s(w, A, B) is built from cosines",
            patch={"unit = F.normalize(W, dim=-1, eps=1e-12)": "unit = W",
                   "to_a = unit @ F.normalize(A, dim=-1, eps=1e-12).T": "to_a = unit @ A.T",
                   "to_b = unit @ F.normalize(B, dim=-1, eps=1e-12).T": "to_b = unit @ B.T"}),
    Mistake(key="no_norm_clamp", title="norms not clamped: a zero vector gives NaN",
            hint="divide by the norm clamped at 1e-12 (F.normalize(..., eps=1e-12)), so that a "
                 "zero vector has cosine 0 with everything",
            patch={"unit = F.normalize(W, dim=-1, eps=1e-12)":
                   "unit = W / torch.linalg.vector_norm(W, dim=-1, keepdim=True)"}),
    Mistake(key="sums_not_means", title="summed similarities instead of means",
            hint="s(w, A, B) compares MEAN cosines, so sets of different sizes weigh the same",
            patch={"return to_a.mean(-1) - to_b.mean(-1)": "return to_a.sum(-1) - to_b.sum(-1)"}),
)

WEAT_P_MISTAKES = (
    Mistake(key="no_add_one", title="p = #{S_perm ≥ S_obs} / n, without the add-one rule",
            hint="count the observed split too: p = (1 + #) / (1 + n_permutations)",
            patch={"return (1 + exceed) / (1 + n_permutations)":
                   "return exceed / n_permutations"}),
    Mistake(key="wrong_tail", title="the lower tail: S_perm ≤ S_obs",
            hint="a large S means X is closer to A; the p-value counts re-splits at least as "
                 "large: S_perm ≥ S_obs",
            patch={"stats[1:] >= stats[0]": "stats[1:] <= stats[0]"}),
    Mistake(key="two_sided", title="a two-sided comparison of |S|",
            hint="the test is one-sided: S_perm ≥ S_obs, the direction X is closer to A",
            patch={"stats[1:] >= stats[0]": "stats[1:].abs() >= stats[0].abs()"}),
)

PARITY_MISTAKES = (
    Mistake(key="counts_not_rates", title="positive counts compared instead of rates",
            hint="compare P(ŷ = 1 | group): divide each group's positives by its size",
            patch={"predictions[groups == g].double().mean().item()":
                   "predictions[groups == g].double().sum().item()"}),
    Mistake(key="overall_rate", title="each group's rate compared with the overall rate",
            hint="the gap is max over groups minus min over groups",
            patch={"return max(rates) - min(rates)":
                   "return max(rates) - predictions.double().mean().item()"}),
    Mistake(key="ids_0_and_1", title="the group ids taken to be 0 and 1",
            hint="take the groups present, torch.unique(groups): ids may be any integers, and a "
                 "single group gives a gap of 0.0",
            patch={"for g in torch.unique(groups)]": "for g in (0, 1)]"}),
    Mistake(key="divided_by_everyone", title="each group's positives divided by the whole population",
            hint="P(ŷ = 1 | group) divides by the size of the GROUP",
            patch={"predictions[groups == g].double().mean().item()":
                   "predictions[groups == g].double().sum().item() / len(predictions)"}),
)

ODDS_MISTAKES = (
    Mistake(key="tpr_only", title="only the true-positive-rate gap",
            hint="equalized odds also requires equal false-positive rates: take the larger gap",
            patch={"return max(gap(labels == 1), gap(labels == 0))": "return gap(labels == 1)"}),
    Mistake(key="mean_of_gaps", title="the mean of the two gaps instead of the larger",
            hint="the difference is max(TPR gap, FPR gap)",
            patch={"return max(gap(labels == 1), gap(labels == 0))":
                   "return (gap(labels == 1) + gap(labels == 0)) / 2"}),
    Mistake(key="parity_instead", title="rates compared without conditioning on the true label",
            hint="equalized odds compares P(ŷ = 1 | y, group) within each true label y",
            patch={"return max(gap(labels == 1), gap(labels == 0))":
                   "return gap(labels == labels)"}),
)
