"""Chapter 11 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F``, imports made inside the function, and the
names of earlier exercises (``quantize_absmax``, ``int8_matmul``), which resolve to the reference
here and to the student's own functions in a notebook.
"""

from __future__ import annotations

import torch

from reference.quantization import int8_matmul, quantize_absmax


# =========================================================================== cost
def cost_per_token_first(n_params, n_layers, d_model, context, n_tokens, peak_flops, mfu,
                         price_per_hour):
    per_token = 2.0 * n_params + 2.0 * 2.0 * n_layers * context * d_model  # weights, QKᵀ and AV
    flops = per_token * n_tokens
    seconds = flops / peak_flops / mfu
    return {"cost": price_per_hour * seconds / 3600.0, "seconds": seconds, "flops": flops}


COST_ALTERNATIVES = (cost_per_token_first,)


def intensity_from_totals(n_params, batch_size, bytes_per_param):
    flops = 2.0 * n_params * batch_size
    bytes_read = float(n_params) * bytes_per_param
    return flops / bytes_read


INTENSITY_ALTERNATIVES = (intensity_from_totals,)


# =========================================================================== quantization
def absmax_max_values(x, bits=8, dim=None):
    levels = (1 << (bits - 1)) - 1
    if dim is None:
        amax = x.abs().reshape(-1).max()
    else:
        amax = x.abs().max(dim=dim, keepdim=True).values
    scale = amax / levels
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(x / scale), min=-levels, max=levels)
    return q.to(torch.int8), scale


ABSMAX_ALTERNATIVES = (absmax_max_values,)


def zero_point_aminmax(x, bits=8, dim=None):
    top = 2 ** bits - 1
    if dim is None:
        lo, hi = torch.aminmax(x)
    else:
        lo, hi = torch.aminmax(x, dim=dim, keepdim=True)
    lo, hi = torch.minimum(lo, torch.zeros_like(lo)), torch.maximum(hi, torch.zeros_like(hi))
    width = hi - lo
    scale = torch.where(width > 0, width / top, torch.ones_like(width))
    zp = torch.round(-lo / scale).clamp(0, top).long()
    q = torch.round(x / scale).long() + zp
    return q.clamp(0, top).to(torch.uint8), scale, zp


ZERO_POINT_ALTERNATIVES = (zero_point_aminmax,)


def dequantize_float_first(q, scale, zero_point=None):
    values = q.to(torch.int64)
    if zero_point is not None:
        values = values - torch.as_tensor(zero_point, device=q.device)
    return scale * values.to(scale.dtype)


DEQUANTIZE_ALTERNATIVES = (dequantize_float_first,)


def groupwise_unflatten(x, bits=4, group_size=64):
    levels = 2 ** (bits - 1) - 1
    groups = x.unflatten(-1, (x.shape[-1] // group_size, group_size))  # (..., G, group_size)
    amax = groups.abs().amax(-1)  # (..., G)
    scales = torch.where(amax == 0, torch.ones_like(amax), amax / levels)
    q = torch.round(groups / scales.unsqueeze(-1)).clamp(-levels, levels)
    return q.flatten(-2).to(torch.int8), scales


GROUPWISE_ALTERNATIVES = (groupwise_unflatten,)


def int8_matmul_int64(a_q, a_scale, b_q, b_scale):
    """Exact integer accumulation in int64 (on the CPU, where integer matmul exists); the
    refusal tested on the worst-case sum itself."""
    if a_q.size(1) * 127 * 127 >= 2**31:
        raise ValueError(f"{a_q.size(1)} terms of up to 127² may overflow an int32 accumulator")
    acc = (a_q.cpu().long() @ b_q.cpu().long()).to(a_q.device)
    return acc.to(a_scale.dtype) * a_scale * b_scale


INT8_MATMUL_ALTERNATIVES = (int8_matmul_int64,)


def outlier_by_masks(x, w, threshold=6.0):
    """Masks instead of indexing: zeroed outlier features contribute 0 to the int8 product, and
    zeros change no absmax."""
    outlier = (x.abs() >= threshold).any(dim=0)  # (D,)
    keep = (~outlier).to(x.dtype)
    exact = (x * outlier.to(x.dtype)) @ w
    x_q, x_s = quantize_absmax(x * keep, bits=8, dim=-1)
    w_q, w_s = quantize_absmax(w * keep[:, None], bits=8, dim=0)
    return exact + int8_matmul(x_q, x_s, w_q, w_s)


OUTLIER_ALTERNATIVES = (outlier_by_masks,)


# =========================================================================== bias
def weat_normalised_first(X, Y, A, B):
    import torch.nn.functional as F

    def unit(m):
        return F.normalize(m, dim=-1)

    def s(W):
        W = unit(W)
        return (W @ unit(A).T).mean(-1) - (W @ unit(B).T).mean(-1)

    sx, sy = s(X), s(Y)
    both = torch.cat([sx, sy])
    n = both.numel()
    std = ((both - both.mean()) ** 2).sum().div(n - 1).sqrt()
    return (sx.mean() - sy.mean()) / std


WEAT_EFFECT_ALTERNATIVES = (weat_normalised_first,)


def weat_p_loop(X, Y, A, B, n_permutations, generator=None):
    import torch.nn.functional as F

    W = torch.cat([X, Y])
    s = (F.normalize(W, dim=-1) @ F.normalize(A, dim=-1).T).mean(-1) \
        - (F.normalize(W, dim=-1) @ F.normalize(B, dim=-1).T).mean(-1)
    n_x = X.shape[0]
    sign = torch.full_like(s, -1.0)
    sign[:n_x] = 1.0
    observed = (sign * s).sum()
    count = 0
    for _ in range(n_permutations):
        perm = torch.randperm(W.shape[0], generator=generator)
        sign = torch.full_like(s, -1.0)
        sign[perm[:n_x].to(s.device)] = 1.0
        count += int((sign * s).sum() >= observed)
    return (count + 1) / (n_permutations + 1)


WEAT_P_ALTERNATIVES = (weat_p_loop,)


def parity_loop(predictions, groups):
    rates = {}
    for pred, g in zip(predictions.tolist(), groups.tolist()):
        hits, total = rates.get(g, (0, 0))
        rates[g] = (hits + int(pred), total + 1)
    values = [hits / total for hits, total in rates.values()]
    return max(values) - min(values)


PARITY_ALTERNATIVES = (parity_loop,)


def odds_loop(predictions, labels, groups):
    gaps = []
    for label in (1, 0):
        rates = []
        for g in sorted(set(groups.tolist())):
            sel = (groups == g) & (labels == label)
            rates.append(float(predictions[sel].float().mean()))
        gaps.append(max(rates) - min(rates))
    return max(gaps)


ODDS_ALTERNATIVES = (odds_loop,)


ALTERNATIVES = {
    "ch11.inference_cost": COST_ALTERNATIVES,
    "ch11.decode_arithmetic_intensity": INTENSITY_ALTERNATIVES,
    "ch11.quantize_absmax": ABSMAX_ALTERNATIVES,
    "ch11.quantize_zero_point": ZERO_POINT_ALTERNATIVES,
    "ch11.dequantize": DEQUANTIZE_ALTERNATIVES,
    "ch11.quantize_groupwise": GROUPWISE_ALTERNATIVES,
    "ch11.int8_matmul": INT8_MATMUL_ALTERNATIVES,
    "ch11.outlier_decomposed_matmul": OUTLIER_ALTERNATIVES,
    "ch11.weat_effect_size": WEAT_EFFECT_ALTERNATIVES,
    "ch11.weat_p_value": WEAT_P_ALTERNATIVES,
    "ch11.demographic_parity_difference": PARITY_ALTERNATIVES,
    "ch11.equalized_odds_difference": ODDS_ALTERNATIVES,
}
