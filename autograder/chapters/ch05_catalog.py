"""Chapter 5 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently. Every function here is also pasted, as source, into a notebook's answer cell by the
platform's tests, so each must be self-contained: it may use only ``math``, ``torch``, ``nn``,
``F`` and the names of earlier exercises (``alibi_slopes``, ``rope_cache``, ``encoding_spectrum``),
which resolve to the reference here and to the student's own functions in a notebook.

tests/ prove that each mistake loses its exercise's points (and only those) and is named in the
feedback, and that each alternative gets full marks.
"""

from __future__ import annotations

import math

import torch

from autograder.spec import Mistake
from reference.positional import alibi_slopes, encoding_spectrum, rope_cache  # noqa: F401 (pasted code)


# =========================================================================== sinusoidal PE
def pe_sin_cos_swapped(n_positions, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    two_i = torch.arange(0, d_model, 2, dtype=dtype, device=device)
    angle = torch.arange(n_positions, dtype=dtype, device=device)[:, None] * base ** (-two_i / d_model)
    return torch.stack([angle.cos(), angle.sin()], dim=-1).flatten(-2)[:, :d_model]


def pe_exponent_pair_index(n_positions, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    i = torch.arange(0, (d_model + 1) // 2, dtype=dtype, device=device)
    angle = torch.arange(n_positions, dtype=dtype, device=device)[:, None] * base ** (-i / d_model)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)[:, :d_model]


def pe_exponent_column_index(n_positions, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    c = torch.arange(d_model, dtype=dtype, device=device)
    angle = torch.arange(n_positions, dtype=dtype, device=device)[:, None] * base ** (-c / d_model)
    pe = angle.sin()
    pe[:, 1::2] = angle[:, 1::2].cos()
    return pe


def pe_halves(n_positions, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    two_i = torch.arange(0, d_model, 2, dtype=dtype, device=device)
    angle = torch.arange(n_positions, dtype=dtype, device=device)[:, None] * base ** (-two_i / d_model)
    return torch.cat([angle.sin(), angle.cos()], dim=-1)[:, :d_model]


def pe_positions_from_one(n_positions, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    two_i = torch.arange(0, d_model, 2, dtype=dtype, device=device)
    angle = torch.arange(1, n_positions + 1, dtype=dtype, device=device)[:, None] * base ** (-two_i / d_model)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)[:, :d_model]


SINUSOIDAL_MISTAKES = (
    Mistake("sin_cos_swapped", "cos in the even columns and sin in the odd ones",
            "PE[p, 2i] = sin(p·w_i) and PE[p, 2i+1] = cos(p·w_i): row 0 is (0, 1, 0, 1, ...)",
            pe_sin_cos_swapped),
    Mistake("exponent_i_over_d", "frequency exponent i/d instead of 2i/d",
            "w_i = base^(-2i/d) with i the pair index: the exponent runs over the even numbers "
            "0, 2, 4, ... divided by d", pe_exponent_pair_index),
    Mistake("exponent_column_index", "each column gets its own frequency base^(-c/d)",
            "the sin and the cos of a pair share one frequency, base^(-2i/d) for columns 2i and 2i+1",
            pe_exponent_column_index),
    Mistake("halves_layout", "sines in the first half and cosines in the second half",
            "this table interleaves: column 2i is sin, column 2i+1 is the cos of the same frequency",
            pe_halves),
    Mistake("positions_from_one", "positions counted from 1",
            "positions are 0 .. n_positions-1, so row 0 is sin(0) = 0, cos(0) = 1",
            pe_positions_from_one),
)


def pe_column_loop(n_positions, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    pe = torch.empty(n_positions, d_model, dtype=dtype, device=device)
    pos = torch.arange(n_positions, dtype=dtype, device=device)
    for c in range(d_model):
        w = 1.0 / base ** ((c - c % 2) / d_model)
        pe[:, c] = torch.sin(pos * w) if c % 2 == 0 else torch.cos(pos * w)
    return pe


def pe_log_space_float64(n_positions, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    pos = torch.arange(n_positions, dtype=torch.float64, device=device).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64, device=device)
                    * (-math.log(base) / d_model))
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe.to(dtype)


SINUSOIDAL_ALTERNATIVES = (pe_column_loop, pe_log_space_float64)


# =========================================================================== shift matrix
def shift_transposed(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    w = base ** (-torch.arange(0, d_model, 2, dtype=dtype, device=device) / d_model)
    c, s = torch.cos(k * w), torch.sin(k * w)
    blocks = [torch.stack([torch.stack([ci, -si]), torch.stack([si, ci])]) for ci, si in zip(c, s)]
    return torch.block_diag(*blocks)


def shift_exponent_i_over_d(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    w = base ** (-torch.arange(0, d_model // 2, dtype=dtype, device=device) / d_model)
    c, s = torch.cos(k * w), torch.sin(k * w)
    blocks = [torch.stack([torch.stack([ci, si]), torch.stack([-si, ci])]) for ci, si in zip(c, s)]
    return torch.block_diag(*blocks)


def shift_halves_layout(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    half = d_model // 2
    w = base ** (-torch.arange(0, d_model, 2, dtype=dtype, device=device) / d_model)
    c, s = torch.cos(k * w), torch.sin(k * w)
    M = torch.zeros(d_model, d_model, dtype=dtype, device=device)
    idx = torch.arange(half, device=device)
    M[idx, idx] = c
    M[idx, idx + half] = s
    M[idx + half, idx] = -s
    M[idx + half, idx + half] = c
    return M


def shift_ignores_k(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    w = base ** (-torch.arange(0, d_model, 2, dtype=dtype, device=device) / d_model)
    c, s = torch.cos(w), torch.sin(w)
    blocks = [torch.stack([torch.stack([ci, si]), torch.stack([-si, ci])]) for ci, si in zip(c, s)]
    return torch.block_diag(*blocks)


SHIFT_MISTAKES = (
    Mistake("rotation_sign_flipped", "the 2×2 blocks are transposed (they shift by −k)",
            "from sin((p+k)w) = cos(kw)·sin(pw) + sin(kw)·cos(pw), the sin row of a block is "
            "[cos kw, +sin kw] and the cos row is [−sin kw, cos kw]", shift_transposed),
    Mistake("exponent_i_over_d", "frequency exponent i/d instead of 2i/d",
            "use the encoding's frequencies w_i = base^(-2i/d)", shift_exponent_i_over_d),
    Mistake("halves_layout", "column i paired with column i + d/2",
            "the encoding interleaves sin and cos: pair i is columns (2i, 2i+1), so M_k is block "
            "diagonal with 2×2 blocks", shift_halves_layout),
    Mistake("ignores_k", "the angle is w_i instead of k·w_i",
            "M_k rotates each pair by k·w_i: shifting by k positions adds k·w_i to the angle",
            shift_ignores_k),
)


def shift_by_entries(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    M = torch.zeros(d_model, d_model, dtype=dtype, device=device)
    for i in range(d_model // 2):
        a = torch.tensor(k * base ** (-2 * i / d_model), dtype=dtype, device=device)
        M[2 * i, 2 * i] = torch.cos(a)
        M[2 * i, 2 * i + 1] = torch.sin(a)
        M[2 * i + 1, 2 * i] = -torch.sin(a)
        M[2 * i + 1, 2 * i + 1] = torch.cos(a)
    return M


def shift_by_diagonals(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    w = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(base) / d_model))
    c, s = torch.cos(k * w), torch.sin(k * w)
    diag = torch.stack([c, c], -1).flatten()
    upper = torch.stack([s, torch.zeros_like(s)], -1).flatten()[:-1]
    M = torch.diag(diag) + torch.diag(upper, 1) - torch.diag(upper, -1)
    return M.to(dtype=dtype, device=device)


SHIFT_ALTERNATIVES = (shift_by_entries, shift_by_diagonals)


# =========================================================================== T5 buckets
def _t5_large(n, max_exact, num_buckets, max_distance, extra=0):
    ratio = torch.log(n.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    return (max_exact + extra + (ratio * (num_buckets - max_exact)).long()).clamp(max=num_buckets - 1)


def t5_not_bidirectional(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    n = (-relative_position.long()).clamp(min=0)
    max_exact = num_buckets // 2
    return torch.where(n < max_exact, n, _t5_large(n, max_exact, num_buckets, max_distance))


def t5_sign_reversed(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    rel = relative_position.long()
    out = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        out = out + (rel < 0).long() * num_buckets
        n = rel.abs()
    else:
        n = rel.clamp(min=0)
    max_exact = num_buckets // 2
    return out + torch.where(n < max_exact, n, _t5_large(n, max_exact, num_buckets, max_distance))


def t5_log_bucket_off_by_one(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    rel = relative_position.long()
    out = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        out = out + (rel > 0).long() * num_buckets
        n = rel.abs()
    else:
        n = (-rel).clamp(min=0)
    max_exact = num_buckets // 2
    large = _t5_large(n, max_exact, num_buckets, max_distance, extra=1)
    return out + torch.where(n < max_exact, n, large)


def t5_no_clamp(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    rel = relative_position.long()
    out = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        out = out + (rel > 0).long() * num_buckets
        n = rel.abs()
    else:
        n = (-rel).clamp(min=0)
    max_exact = num_buckets // 2
    ratio = torch.log(n.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (ratio * (num_buckets - max_exact)).long()
    return out + torch.where(n < max_exact, n, large)


def t5_buckets_not_halved(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    rel = relative_position.long()
    out = torch.zeros_like(rel)
    if bidirectional:
        out = out + (rel > 0).long() * num_buckets
        n = rel.abs()
    else:
        n = (-rel).clamp(min=0)
    max_exact = num_buckets // 2
    return out + torch.where(n < max_exact, n, _t5_large(n, max_exact, num_buckets, max_distance))


T5_MISTAKES = (
    Mistake("not_bidirectional", "buckets not bidirectional: keys to the right all land in bucket 0",
            "with bidirectional=True, use |relative position| and put keys to the right (> 0) in "
            "the upper half of the buckets", t5_not_bidirectional),
    Mistake("sign_reversed", "left and right swapped",
            "the relative position is key − query: positive means the key is to the right, and "
            "those keys get the upper half (bidirectional) or count as distance 0 (causal)",
            t5_sign_reversed),
    Mistake("log_bucket_off_by_one", "logarithmic buckets start one id too high",
            "a distance of exactly max_exact falls in bucket max_exact: the log term is 0 there",
            t5_log_bucket_off_by_one),
    Mistake("no_clamp", "distances beyond max_distance get bucket ids past the last bucket",
            "clamp the logarithmic bucket to num_buckets − 1 (per direction)", t5_no_clamp),
    Mistake("buckets_not_halved", "num_buckets not halved when bidirectional",
            "each direction gets num_buckets // 2 buckets, and half of those are exact",
            t5_buckets_not_halved),
)


def t5_python_loop(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    flat = []
    for r in relative_position.reshape(-1).tolist():
        nb, off = num_buckets, 0
        if bidirectional:
            nb //= 2
            off = nb if r > 0 else 0
            n = abs(r)
        else:
            n = max(-r, 0)
        exact = nb // 2
        if n < exact:
            flat.append(off + n)
        else:
            b = exact + int(math.log(n / exact) / math.log(max_distance / exact) * (nb - exact))
            flat.append(off + min(b, nb - 1))
    return torch.tensor(flat, dtype=torch.int64, device=relative_position.device).reshape(
        relative_position.shape)


def t5_float64_where(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    rel = relative_position.to(torch.int64)
    half = num_buckets // 2 if bidirectional else num_buckets
    offset = torch.where(rel > 0, half, 0) if bidirectional else torch.zeros_like(rel)
    n = rel.abs() if bidirectional else torch.clamp(-rel, min=0)
    exact = half // 2
    scaled = torch.log(torch.clamp(n, min=1).double() / exact) / math.log(max_distance / exact)
    large = torch.minimum(exact + torch.floor(scaled * (half - exact)).long(),
                          torch.full_like(n, half - 1))
    return offset + torch.where(n < exact, n, large)


T5_ALTERNATIVES = (t5_python_loop, t5_float64_where)


# =========================================================================== ALiBi slopes
def slopes_geometric_any_n(n_heads, *, dtype=torch.float32, device=None):
    h = torch.arange(1, n_heads + 1, dtype=dtype, device=device)
    return 2.0 ** (-8.0 * h / n_heads)


def slopes_start_at_one(n_heads, *, dtype=torch.float32, device=None):
    p = 2 ** int(math.floor(math.log2(n_heads)))
    def geo(count):
        return 2.0 ** (-8.0 * torch.arange(0, count, dtype=dtype, device=device) / count)
    return torch.cat([geo(p), geo(2 * p)[0::2][: n_heads - p]])


def slopes_extra_not_interleaved(n_heads, *, dtype=torch.float32, device=None):
    p = 2 ** int(math.floor(math.log2(n_heads)))
    def geo(count):
        return 2.0 ** (-8.0 * torch.arange(1, count + 1, dtype=dtype, device=device) / count)
    return torch.cat([geo(p), geo(2 * p)[: n_heads - p]])


def slopes_reversed(n_heads, *, dtype=torch.float32, device=None):
    p = 2 ** int(math.floor(math.log2(n_heads)))
    def geo(count):
        return 2.0 ** (-8.0 * torch.arange(1, count + 1, dtype=dtype, device=device) / count)
    return torch.cat([geo(p), geo(2 * p)[0::2][: n_heads - p]]).flip(0)


SLOPES_MISTAKES = (
    Mistake("geometric_for_any_n", "slopes wrong for a head count that is not a power of two",
            "2^(-8h/n) is the rule only when n is a power of two; otherwise take the p slopes of the "
            "largest power of two p < n, then every other slope (h = 1, 3, 5, ...) of 2p heads",
            slopes_geometric_any_n),
    Mistake("starts_at_one", "the first slope is 1 (h counted from 0)",
            "h runs from 1 to n: for 8 heads the slopes are 1/2, 1/4, ..., 1/256",
            slopes_start_at_one),
    Mistake("extra_not_interleaved", "the extra slopes are the first ones of the 2p-head sequence",
            "take every other slope of the 2p-head sequence, starting with the first "
            "(h = 1, 3, 5, ...): those are the ones that interleave with the p-head slopes",
            slopes_extra_not_interleaved),
    Mistake("reversed", "slopes in increasing order",
            "head 0 gets the largest slope, 2^(-8/p), and the slopes then decrease",
            slopes_reversed),
)


def slopes_python_list(n_heads, *, dtype=torch.float32, device=None):
    def power_of_two(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]
    if math.log2(n_heads).is_integer():
        values = power_of_two(n_heads)
    else:
        p = 2 ** math.floor(math.log2(n_heads))
        values = power_of_two(p) + power_of_two(2 * p)[0::2][: n_heads - p]
    return torch.tensor(values, dtype=dtype, device=device)


def slopes_ratio_powers(n_heads, *, dtype=torch.float32, device=None):
    p = 1 << (n_heads.bit_length() - 1)
    first = torch.pow(torch.tensor(2.0 ** (-8.0 / p), dtype=torch.float64), torch.arange(1, p + 1))
    odd = 2 * torch.arange(n_heads - p) + 1
    second = torch.pow(torch.tensor(2.0 ** (-4.0 / p), dtype=torch.float64), odd)
    return torch.cat([first, second]).to(dtype=dtype, device=device)


SLOPES_ALTERNATIVES = (slopes_python_list, slopes_ratio_powers)


# =========================================================================== ALiBi bias
def _distance(q_len, k_len, dtype, device):
    i = torch.arange(q_len, dtype=dtype, device=device)[:, None]
    j = torch.arange(k_len, dtype=dtype, device=device)[None, :]
    return i, j


def bias_sign_flipped(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    i, j = _distance(q_len, k_len, dtype, device)
    return alibi_slopes(n_heads, dtype=dtype, device=device)[:, None, None] * (i - j).abs()


def bias_causal_form(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    i, j = _distance(q_len, k_len, dtype, device)
    return alibi_slopes(n_heads, dtype=dtype, device=device)[:, None, None] * (j - i)


def bias_slopes_reversed(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    i, j = _distance(q_len, k_len, dtype, device)
    m = alibi_slopes(n_heads, dtype=dtype, device=device).flip(0)
    return -m[:, None, None] * (i - j).abs()


def bias_bottom_right(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    i, j = _distance(q_len, k_len, dtype, device)
    m = alibi_slopes(n_heads, dtype=dtype, device=device)
    return -m[:, None, None] * (i + (k_len - q_len) - j).abs()


def bias_no_slope(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    i, j = _distance(q_len, k_len, dtype, device)
    return -(i - j).abs().expand(n_heads, q_len, k_len).clone()


BIAS_MISTAKES = (
    Mistake("sign_flipped", "the bias is +m·|i − j|",
            "ALiBi penalises distance: bias = −m_h·|i − j| ≤ 0, largest (0) on the diagonal",
            bias_sign_flipped),
    Mistake("causal_form", "m·(j − i) without the absolute value",
            "that form is right only under a causal mask; this function's bias is −m_h·|i − j|, "
            "so keys on the right are penalised too", bias_causal_form),
    Mistake("slopes_reversed", "head h uses the slope of head H−1−h",
            "head h gets alibi_slopes(n_heads)[h]", bias_slopes_reversed),
    Mistake("bottom_right_aligned", "query i placed at position i + (k_len − q_len)",
            "query i sits at position i and key j at position j, also when q_len ≠ k_len",
            bias_bottom_right),
    Mistake("no_slope", "the distance is not multiplied by the head's slope",
            "bias[h] = −m_h·|i − j|: every head has its own slope", bias_no_slope),
)


def bias_loops(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    m = alibi_slopes(n_heads, dtype=dtype, device=device)
    out = torch.empty(n_heads, q_len, k_len, dtype=dtype, device=device)
    for i in range(q_len):
        for j in range(k_len):
            out[:, i, j] = -m * abs(i - j)
    return out


def bias_einsum(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    pos_q = torch.arange(q_len, device=device).unsqueeze(1)
    pos_k = torch.arange(k_len, device=device).unsqueeze(0)
    dist = torch.abs(pos_k - pos_q).to(dtype)
    return -torch.einsum("h,lj->hlj", alibi_slopes(n_heads, dtype=dtype, device=device), dist)


BIAS_ALTERNATIVES = (bias_loops, bias_einsum)


# =========================================================================== RoPE cache
def cache_exponent_i_over_d(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    theta = base ** (-torch.arange(head_dim // 2, dtype=dtype, device=device) / head_dim)
    a = torch.arange(seq_len, dtype=dtype, device=device)[:, None] * theta
    return a.cos(), a.sin()


def cache_swapped(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=dtype, device=device) / head_dim)
    a = torch.arange(seq_len, dtype=dtype, device=device)[:, None] * theta
    return a.sin(), a.cos()


def cache_positions_from_one(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=dtype, device=device) / head_dim)
    a = torch.arange(1, seq_len + 1, dtype=dtype, device=device)[:, None] * theta
    return a.cos(), a.sin()


def cache_duplicated(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=dtype, device=device) / head_dim)
    a = torch.arange(seq_len, dtype=dtype, device=device)[:, None] * theta
    a = torch.cat([a, a], dim=-1)
    return a.cos(), a.sin()


ROPE_CACHE_MISTAKES = (
    Mistake("exponent_i_over_d", "frequency exponent i/d instead of 2i/d",
            "θ_i = base^(-2i/head_dim) for i = 0 .. head_dim/2 − 1", cache_exponent_i_over_d),
    Mistake("cos_sin_swapped", "returned (sin, cos) instead of (cos, sin)",
            "return the cosines first", cache_swapped),
    Mistake("positions_from_one", "positions counted from 1",
            "positions are 0 .. seq_len − 1: row 0 is cos = 1, sin = 0", cache_positions_from_one),
    Mistake("duplicated_columns", "cos and sin repeated to head_dim columns",
            "this cache has one column per pair, head_dim // 2 columns; apply_rope pairs them up",
            cache_duplicated),
)


def cache_outer_float64(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    a = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv)
    return a.cos().to(dtype=dtype, device=device), a.sin().to(dtype=dtype, device=device)


def cache_polar(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    work = dtype if dtype in (torch.float32, torch.float64) else torch.float32  # polar: no bf16
    i = torch.arange(head_dim // 2, dtype=work, device=device)
    theta = torch.exp(-2 * i / head_dim * math.log(base))
    a = torch.arange(seq_len, dtype=work, device=device).unsqueeze(-1) * theta
    z = torch.polar(torch.ones_like(a), a)
    return z.real.to(dtype).contiguous(), z.imag.to(dtype).contiguous()


ROPE_CACHE_ALTERNATIVES = (cache_outer_float64, cache_polar)


# =========================================================================== apply_rope
def _rope_angle(x, positions, base, exponent=2, offset=0, sign=1.0):
    T, Dh = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(offset, T + offset, device=x.device)
    theta = base ** (-torch.arange(0, Dh // 2, dtype=x.dtype, device=x.device) * exponent / Dh)
    return sign * positions.to(x.dtype)[..., None] * theta


def _rotate(x, angle, adjacent):
    cos, sin = angle.cos(), angle.sin()
    if adjacent:
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def rope_always_half_split(x, positions=None, base=10000.0, interleaved=False):
    return _rotate(x, _rope_angle(x, positions, base), adjacent=False)


def rope_pairing_swapped(x, positions=None, base=10000.0, interleaved=False):
    return _rotate(x, _rope_angle(x, positions, base), adjacent=not interleaved)


def rope_sign_flipped(x, positions=None, base=10000.0, interleaved=False):
    return _rotate(x, _rope_angle(x, positions, base, sign=-1.0), adjacent=interleaved)


def rope_positions_off_by_one(x, positions=None, base=10000.0, interleaved=False):
    return _rotate(x, _rope_angle(x, positions, base, offset=1), adjacent=interleaved)


def rope_exponent_i_over_d(x, positions=None, base=10000.0, interleaved=False):
    return _rotate(x, _rope_angle(x, positions, base, exponent=1), adjacent=interleaved)


def rope_ignores_positions(x, positions=None, base=10000.0, interleaved=False):
    return _rotate(x, _rope_angle(x, None, base), adjacent=interleaved)


ROPE_MISTAKES = (
    Mistake("always_half_split", "the interleaved flag is ignored (always the half-split layout)",
            "interleaved=True pairs adjacent features (2i, 2i+1); interleaved=False pairs i with "
            "i + head_dim/2", rope_always_half_split),
    Mistake("pairing_swapped", "RoPE pairing mixed up: halves and adjacent pairs swapped",
            "interleaved=False (GPT-NeoX/Llama) rotates x[..., i] with x[..., i + head_dim/2]; "
            "interleaved=True (RoFormer) rotates x[..., 2i] with x[..., 2i+1]",
            rope_pairing_swapped),
    Mistake("rotation_sign_flipped", "rotation sign flipped (rotates by −m·θ_i)",
            "the first feature of a pair becomes x1·cos − x2·sin and the second x1·sin + x2·cos "
            "(multiplication by e^{+i m θ})", rope_sign_flipped),
    Mistake("positions_off_by_one", "default positions off by one (1 .. T instead of 0 .. T−1)",
            "with positions=None the first token is at position 0 and is not rotated",
            rope_positions_off_by_one),
    Mistake("exponent_i_over_d", "frequency exponent i/d instead of 2i/d",
            "θ_i = base^(-2i/head_dim) for pair i = 0 .. head_dim/2 − 1", rope_exponent_i_over_d),
    Mistake("ignores_positions", "the positions argument is ignored",
            "when positions is given, token t is rotated by positions[..., t]·θ_i, not t·θ_i",
            rope_ignores_positions),
)


def rope_rotate_half(x, positions=None, base=10000.0, interleaved=False):
    T, Dh = x.shape[-2], x.shape[-1]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32  # HF computes in float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    inv_freq = 1.0 / (base ** (torch.arange(0, Dh, 2, device=x.device).to(work) / Dh))
    freqs = pos.to(work)[..., None] * inv_freq
    if interleaved:
        emb = freqs.repeat_interleave(2, dim=-1)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        rotated = torch.stack([-x2, x1], dim=-1).flatten(-2)
    else:
        emb = torch.cat([freqs, freqs], dim=-1)
        x1, x2 = x[..., : Dh // 2], x[..., Dh // 2:]
        rotated = torch.cat([-x2, x1], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    return x * cos + rotated * sin


def rope_via_complex(x, positions=None, base=10000.0, interleaved=False):
    T, Dh = x.shape[-2], x.shape[-1]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    theta = base ** (-torch.arange(0, Dh, 2, device=x.device, dtype=work) / Dh)
    rot = torch.polar(torch.ones((), dtype=work, device=x.device), pos.to(work)[..., None] * theta)
    xw = x.to(work)
    if interleaved:
        z = torch.view_as_complex(xw.reshape(*x.shape[:-1], Dh // 2, 2).contiguous())
        return torch.view_as_real(z * rot).reshape(x.shape).to(x.dtype)
    z = torch.complex(xw[..., : Dh // 2], xw[..., Dh // 2:]) * rot
    return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)


def rope_from_cache(x, positions=None, base=10000.0, interleaved=False):
    T, Dh = x.shape[-2], x.shape[-1]
    pos = torch.arange(T, device=x.device) if positions is None else positions
    cos, sin = rope_cache(int(pos.max()) + 1, Dh, base, dtype=x.dtype, device=x.device)
    cos, sin = cos[pos], sin[pos]
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).reshape(x.shape)
    a, b = x.chunk(2, dim=-1)
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


ROPE_ALTERNATIVES = (rope_rotate_half, rope_via_complex, rope_from_cache)


# =========================================================================== rope_complex
def _complex_angle(x, positions, base, offset=0):
    T, Dh = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(offset, T + offset, device=x.device)
    theta = base ** (-torch.arange(0, Dh, 2, dtype=x.dtype, device=x.device) / Dh)
    return positions.to(x.dtype)[..., None] * theta


def _wide(x):  # no bfloat16 complex tensors: rotate those in complex64
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def complex_conjugate(x, positions=None, base=10000.0):
    w = _wide(x)
    a = _complex_angle(w, positions, base)
    z = torch.view_as_complex(w.reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(a), -a)).flatten(-2).to(x.dtype)


def complex_halves(x, positions=None, base=10000.0):
    w = _wide(x)
    a = _complex_angle(w, positions, base)
    h = x.shape[-1] // 2
    z = torch.complex(w[..., :h], w[..., h:]) * torch.polar(torch.ones_like(a), a)
    return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)


def complex_positions_off_by_one(x, positions=None, base=10000.0):
    w = _wide(x)
    a = _complex_angle(w, positions, base, offset=1)
    z = torch.view_as_complex(w.reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(a), a)).flatten(-2).to(x.dtype)


def complex_not_viewed_as_real(x, positions=None, base=10000.0):
    w = _wide(x)
    a = _complex_angle(w, positions, base)
    z = torch.view_as_complex(w.reshape(*x.shape[:-1], -1, 2).contiguous())
    return z * torch.polar(torch.ones_like(a), a)


COMPLEX_MISTAKES = (
    Mistake("conjugate", "multiplied by e^{−i m θ} (rotation sign flipped)",
            "rotate counter-clockwise: z · e^{+i m θ_i}", complex_conjugate),
    Mistake("halves_as_complex", "complex numbers built from the two halves",
            "this function uses the RoFormer layout: z_i = x[..., 2i] + i·x[..., 2i+1] (adjacent "
            "features), the layout torch.view_as_complex gives", complex_halves),
    Mistake("positions_off_by_one", "default positions off by one (1 .. T instead of 0 .. T−1)",
            "with positions=None the first token is at position 0", complex_positions_off_by_one),
    Mistake("returns_complex", "returned the complex tensor",
            "turn the rotated complex numbers back into real pairs (torch.view_as_real), flatten "
            "them to head_dim features and return x's dtype", complex_not_viewed_as_real),
)


def complex_exp_1j(x, positions=None, base=10000.0):
    T, Dh = x.shape[-2], x.shape[-1]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    theta = torch.exp(torch.arange(0, Dh, 2, dtype=work, device=x.device) * (-math.log(base) / Dh))
    rot = torch.exp(1j * (pos.to(work)[..., None] * theta))
    xw = x.to(work)
    z = torch.complex(xw[..., ::2].contiguous(), xw[..., 1::2].contiguous())
    out = z * rot
    return torch.stack([out.real, out.imag], dim=-1).reshape(x.shape).to(x.dtype)


def complex_from_cache(x, positions=None, base=10000.0):
    T, Dh = x.shape[-2], x.shape[-1]
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    cos, sin = rope_cache(int(pos.max()) + 1, Dh, base, dtype=work, device=x.device)
    rot = torch.complex(cos[pos], sin[pos])
    z = torch.view_as_complex(x.to(work).unflatten(-1, (Dh // 2, 2)).contiguous())
    return torch.view_as_real(z * rot).flatten(-2).to(x.dtype)


COMPLEX_ALTERNATIVES = (complex_exp_1j, complex_from_cache)


# =========================================================================== spectrum
def _dft(P, K, dtype, device):
    k = torch.arange(K, device=device)[:, None]
    p = torch.arange(P, device=device)[None, :]
    a = (2 * math.pi / P) * ((k * p) % P).to(dtype)
    return a.cos(), a.sin()


def spectrum_no_mean_removal(pe):
    c, s = _dft(pe.shape[0], pe.shape[0] // 2 + 1, pe.dtype, pe.device)
    return ((c @ pe) ** 2 + (s @ pe) ** 2).sqrt()


def spectrum_all_bins(pe):
    x = pe - pe.mean(0)
    c, s = _dft(pe.shape[0], pe.shape[0], pe.dtype, pe.device)
    return ((c @ x) ** 2 + (s @ x) ** 2).sqrt()


def spectrum_power(pe):
    x = pe - pe.mean(0)
    c, s = _dft(pe.shape[0], pe.shape[0] // 2 + 1, pe.dtype, pe.device)
    return (c @ x) ** 2 + (s @ x) ** 2


def spectrum_along_features(pe):
    x = (pe - pe.mean(-1, keepdim=True)).T
    c, s = _dft(x.shape[0], x.shape[0] // 2 + 1, pe.dtype, pe.device)
    return ((c @ x) ** 2 + (s @ x) ** 2).sqrt()


def spectrum_normalised(pe):
    x = pe - pe.mean(0)
    c, s = _dft(pe.shape[0], pe.shape[0] // 2 + 1, pe.dtype, pe.device)
    return ((c @ x) ** 2 + (s @ x) ** 2).sqrt() / pe.shape[0]


SPECTRUM_MISTAKES = (
    Mistake("no_mean_removal", "the column mean is not removed",
            "subtract each column's mean over the positions first, so that bin 0 is 0",
            spectrum_no_mean_removal),
    Mistake("all_bins", "all P bins returned",
            "for a real signal bins k and P − k have the same magnitude: return k = 0 .. P // 2",
            spectrum_all_bins),
    Mistake("power_spectrum", "squared magnitudes (the power spectrum)",
            "return |X_k| = sqrt(Re² + Im²)", spectrum_power),
    Mistake("along_features", "the DFT taken along the features instead of the positions",
            "transform each column pe[:, d] over the positions p (dim 0)", spectrum_along_features),
    Mistake("normalised", "divided by P",
            "no normalisation: X_k = Σ_p x_p e^{−2πi k p / P}", spectrum_normalised),
)


def spectrum_complex_matrix(pe):
    P = pe.shape[0]
    work = torch.complex128 if pe.dtype == torch.float64 else torch.complex64
    k = torch.arange(P // 2 + 1, device=pe.device)
    p = torch.arange(P, device=pe.device)
    W = torch.exp(-2j * math.pi * ((torch.outer(k, p) % P).double() / P)).to(work)
    X = W @ (pe - pe.mean(dim=0)).to(work)
    return X.abs().to(pe.dtype)


def spectrum_float64_angles(pe):
    P = pe.shape[0]
    k = torch.arange(P // 2 + 1, dtype=torch.float64, device=pe.device)
    p = torch.arange(P, dtype=torch.float64, device=pe.device)
    a = 2 * math.pi * torch.outer(k, p) / P
    x = pe - pe.mean(dim=0, keepdim=True)
    re = a.cos().to(pe.dtype) @ x
    im = -(a.sin().to(pe.dtype) @ x)
    return torch.hypot(re, im)


SPECTRUM_ALTERNATIVES = (spectrum_complex_matrix, spectrum_float64_angles)


# =========================================================================== dominant frequencies
def dominant_bin_index(pe):
    return (encoding_spectrum(pe)[1:].argmax(0) + 1).to(pe.dtype)


def dominant_divided_by_bins(pe):
    X = encoding_spectrum(pe)
    return (X[1:].argmax(0) + 1).to(pe.dtype) / X.shape[0]


def dominant_angular(pe):
    k = encoding_spectrum(pe)[1:].argmax(0) + 1
    return 2 * math.pi * k.to(pe.dtype) / pe.shape[0]


def dominant_forgot_plus_one(pe):
    return encoding_spectrum(pe)[1:].argmax(0).to(pe.dtype) / pe.shape[0]


DOMINANT_MISTAKES = (
    Mistake("bin_index", "returned the bin index k instead of the frequency k / P",
            "bin k of a length-P DFT is k / P cycles per position", dominant_bin_index),
    Mistake("divided_by_bins", "divided by the number of bins (P // 2 + 1) instead of P",
            "bin k of a length-P DFT is k / P cycles per position", dominant_divided_by_bins),
    Mistake("angular_frequency", "returned the angular frequency 2πk / P",
            "return cycles per position, k / P (the angular frequency w_i is 2π times that)",
            dominant_angular),
    Mistake("forgot_dc_offset", "index shifted by one after skipping bin 0",
            "argmax over spectrum[1:] counts from bin 1: add 1 before dividing by P",
            dominant_forgot_plus_one),
)


def dominant_topk(pe):
    X = encoding_spectrum(pe)
    X = torch.cat([torch.full_like(X[:1], -1.0), X[1:]])
    k = X.topk(1, dim=0).indices[0]
    return k.to(pe.dtype) / pe.shape[0]


def dominant_max_loop(pe):
    X = encoding_spectrum(pe)
    out = torch.empty(pe.shape[1], dtype=pe.dtype, device=pe.device)
    for d in range(pe.shape[1]):
        best = int(torch.max(X[1:, d], dim=0).indices) + 1
        out[d] = best / pe.shape[0]
    return out


DOMINANT_ALTERNATIVES = (dominant_topk, dominant_max_loop)
