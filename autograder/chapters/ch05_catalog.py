"""Chapter 5 catalog: plausible wrong implementations (common mistakes) and correct ones written
differently.

Mistakes are patches on the solution's answer cell (``{old: new}``, see ``spec.Mistake``).
Alternatives are written out; each is also pasted, as source, into a notebook's answer cell by the
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
from reference.positional import alibi_slopes, encoding_spectrum, rope_cache  # noqa: F401


# =========================================================================== sinusoidal PE
_PE_STACK = "pe = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)"
_PAIRS = "torch.arange(0, d_model, 2, dtype=dtype"

SINUSOIDAL_MISTAKES = (
    Mistake(key="sin_cos_swapped", title="cos in the even columns and sin in the odd ones",
            hint="PE[p, 2i] = sin(p·w_i) and PE[p, 2i+1] = cos(p·w_i): row 0 is (0, 1, 0, 1, ...)",
            patch={"[angle.sin(), angle.cos()]": "[angle.cos(), angle.sin()]"}),
    Mistake(key="exponent_i_over_d", title="frequency exponent i/d instead of 2i/d",
            hint="w_i = base^(-2i/d) with i the pair index: the exponent runs over the even "
                 "numbers 0, 2, 4, ... divided by d",
            patch={_PAIRS: "torch.arange(0, (d_model + 1) // 2, dtype=dtype"}),
    Mistake(key="exponent_column_index", title="each column gets its own frequency base^(-c/d)",
            hint="the sin and the cos of a pair share one frequency, base^(-2i/d) for "
                 "columns 2i and 2i+1",
            patch={_PAIRS: "torch.arange(0, d_model, dtype=dtype", _PE_STACK: "pe = torch.where("
                   "torch.arange(d_model, device=device) % 2 == 0, angle.sin(), angle.cos())"}),
    Mistake(key="halves_layout", title="sines in the first half and cosines in the second half",
            hint="this table interleaves: column 2i is sin, column 2i+1 is the cos of the "
                 "same frequency",
            patch={_PE_STACK: "pe = torch.cat([angle.sin(), angle.cos()], dim=-1)"}),
    Mistake(key="positions_from_one", title="positions counted from 1",
            hint="positions are 0 .. n_positions-1, so row 0 is sin(0) = 0, cos(0) = 1",
            patch={"torch.arange(n_positions,": "torch.arange(1, n_positions + 1,"}),
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
_KW = "c, s = torch.cos(k * w), torch.sin(k * w)"

SHIFT_MISTAKES = (
    Mistake(key="rotation_sign_flipped", title="the 2×2 blocks are transposed (they shift by −k)",
            hint="from sin((p+k)w) = cos(kw)·sin(pw) + sin(kw)·cos(pw), the sin row of a block is "
                 "[cos kw, +sin kw] and the cos row is [−sin kw, cos kw]",
            patch={_KW: "c, s = torch.cos(k * w), -torch.sin(k * w)"}),
    Mistake(key="exponent_i_over_d", title="frequency exponent i/d instead of 2i/d",
            hint="use the encoding's frequencies w_i = base^(-2i/d)",
            patch={"torch.arange(0, d_model, 2, dtype": "torch.arange(0, d_model // 2, dtype"}),
    Mistake(key="halves_layout", title="column i paired with column i + d/2",
            hint="the encoding interleaves sin and cos: pair i is columns (2i, 2i+1), so M_k is "
                 "block diagonal with 2×2 blocks",
            patch={"even = torch.arange(0, d_model, 2, device=device)":
                   "even, half = torch.arange(d_model // 2, device=device), d_model // 2"}
            | {line: line.replace("even + 1", "even + half") for line in (
                "M[even, even + 1] = s", "M[even + 1, even] = -s", "M[even + 1, even + 1] = c")}),
    Mistake(key="ignores_k", title="the angle is w_i instead of k·w_i",
            hint="M_k rotates each pair by k·w_i: shifting by k positions adds k·w_i to the angle",
            patch={_KW: "c, s = torch.cos(w), torch.sin(w)"}),
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
T5_MISTAKES = (
    Mistake(key="not_bidirectional",
            title="buckets not bidirectional: keys to the right all land in bucket 0",
            hint="with bidirectional=True, use |relative position| and put keys to the right (> 0) "
                 "in the upper half of the buckets",
            patch={"if bidirectional:": "if False:  # the causal form, whatever the flag"}),
    Mistake(key="sign_reversed", title="left and right swapped",
            hint="the relative position is key − query: positive means the key is to the right, "
                 "and those keys get the upper half (bidirectional) or count as distance 0 "
                 "(causal)",
            patch={"(r > 0)": "(r < 0)", "torch.clamp(-r, min=0)": "torch.clamp(r, min=0)"}),
    Mistake(key="log_bucket_off_by_one", title="logarithmic buckets start one id too high",
            hint="a distance of exactly max_exact falls in bucket max_exact: the log term is "
                 "0 there",
            patch={"(max_exact + (frac": "(max_exact + 1 + (frac"}),
    Mistake(key="no_clamp",
            title="distances beyond max_distance get bucket ids past the last bucket",
            hint="clamp the logarithmic bucket to num_buckets − 1 (per direction)",
            patch={".clamp(max=num_buckets - 1)": ""}),
    Mistake(key="buckets_not_halved", title="num_buckets not halved when bidirectional",
            hint="each direction gets num_buckets // 2 buckets, and half of those are exact",
            patch={"        num_buckets //= 2\n": ""}),
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
_EXTRA = "geometric(2 * p)[0::2][: n_heads - p]"

SLOPES_MISTAKES = (
    Mistake(key="geometric_for_any_n",
            title="slopes wrong for a head count that is not a power of two",
            hint="2^(-8h/n) is the rule only when n is a power of two; otherwise take the p slopes "
                 "of the largest power of two p < n, then every other slope (h = 1, 3, 5, ...) of "
                 "2p heads",
            patch={f"torch.cat([geometric(p), {_EXTRA}])": "geometric(n_heads)"}),
    Mistake(key="starts_at_one", title="the first slope is 1 (h counted from 0)",
            hint="h runs from 1 to n: for 8 heads the slopes are 1/2, 1/4, ..., 1/256",
            patch={"torch.arange(1, count + 1,": "torch.arange(0, count,"}),
    Mistake(key="extra_not_interleaved",
            title="the extra slopes are the first ones of the 2p-head sequence",
            hint="take every other slope of the 2p-head sequence, starting with the first "
                 "(h = 1, 3, 5, ...): those are the ones that interleave with the p-head slopes",
            patch={_EXTRA: "geometric(2 * p)[: n_heads - p]"}),
    Mistake(key="reversed", title="slopes in increasing order",
            hint="head 0 gets the largest slope, 2^(-8/p), and the slopes then decrease",
            patch={f"{_EXTRA}])": f"{_EXTRA}]).flip(0)"}),
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
_BIAS = "return -m[:, None, None] * (i - j).abs()"

BIAS_MISTAKES = (
    Mistake(key="sign_flipped", title="the bias is +m·|i − j|",
            hint="ALiBi penalises distance: bias = −m_h·|i − j| ≤ 0, largest (0) on the diagonal",
            patch={_BIAS: "return m[:, None, None] * (i - j).abs()"}),
    Mistake(key="causal_form", title="m·(j − i) without the absolute value",
            hint="that form is right only under a causal mask; this function's bias is "
                 "−m_h·|i − j|, so keys on the right are penalised too",
            patch={_BIAS: "return m[:, None, None] * (j - i)"}),
    Mistake(key="slopes_reversed", title="head h uses the slope of head H−1−h",
            hint="head h gets alibi_slopes(n_heads)[h]",
            patch={"device=device)  # (H,)": "device=device).flip(0)"}),
    Mistake(key="bottom_right_aligned", title="query i placed at position i + (k_len − q_len)",
            hint="query i sits at position i and key j at position j, also when q_len ≠ k_len",
            patch={"(i - j).abs()": "(i + (k_len - q_len) - j).abs()"}),
    Mistake(key="no_slope", title="the distance is not multiplied by the head's slope",
            hint="bias[h] = −m_h·|i − j|: every head has its own slope",
            patch={_BIAS: "return -(i - j).abs().expand(n_heads, q_len, k_len).clone()"}),
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
ROPE_CACHE_MISTAKES = (
    Mistake(key="exponent_i_over_d", title="frequency exponent i/d instead of 2i/d",
            hint="θ_i = base^(-2i/head_dim) for i = 0 .. head_dim/2 − 1",
            patch={"torch.arange(0, head_dim, 2,": "torch.arange(head_dim // 2,"}),
    Mistake(key="cos_sin_swapped", title="returned (sin, cos) instead of (cos, sin)",
            hint="return the cosines first",
            patch={"return angle.cos(), angle.sin()": "return angle.sin(), angle.cos()"}),
    Mistake(key="positions_from_one", title="positions counted from 1",
            hint="positions are 0 .. seq_len − 1: row 0 is cos = 1, sin = 0",
            patch={"torch.arange(seq_len,": "torch.arange(1, seq_len + 1,"}),
    Mistake(key="duplicated_columns", title="cos and sin repeated to head_dim columns",
            hint="this cache has one column per pair, head_dim // 2 columns; apply_rope pairs "
                 "them up",
            patch={"    return angle.cos()": "    angle = torch.cat([angle, angle], dim=-1)\n"
                                             "    return angle.cos()"}),
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
# (the same edit in apply_rope and rope_complex)
_POSITIONS_FROM_ONE = {"arange(T, device=x.device)": "arange(1, T + 1, device=x.device)"}

ROPE_MISTAKES = (
    Mistake(key="always_half_split",
            title="the interleaved flag is ignored (always the half-split layout)",
            hint="interleaved=True pairs adjacent features (2i, 2i+1); interleaved=False pairs i "
                 "with i + head_dim/2",
            patch={"if interleaved:": "if False:"}),
    Mistake(key="pairing_swapped", title="RoPE pairing mixed up: halves and adjacent pairs swapped",
            hint="interleaved=False (GPT-NeoX/Llama) rotates x[..., i] with "
                 "x[..., i + head_dim/2]; interleaved=True (RoFormer) rotates x[..., 2i] with "
                 "x[..., 2i+1]",
            patch={"if interleaved:": "if not interleaved:"}),
    Mistake(key="rotation_sign_flipped", title="rotation sign flipped (rotates by −m·θ_i)",
            hint="the first feature of a pair becomes x1·cos − x2·sin and the second "
                 "x1·sin + x2·cos (multiplication by e^{+i m θ})",
            patch={"cos, sin = angle.cos(), angle.sin()": "cos, sin = angle.cos(), -angle.sin()"}),
    Mistake(key="positions_off_by_one",
            title="default positions off by one (1 .. T instead of 0 .. T−1)",
            hint="with positions=None the first token is at position 0 and is not rotated",
            patch=_POSITIONS_FROM_ONE),
    Mistake(key="exponent_i_over_d", title="frequency exponent i/d instead of 2i/d",
            hint="θ_i = base^(-2i/head_dim) for pair i = 0 .. head_dim/2 − 1",
            patch={"torch.arange(0, Dh, 2,": "torch.arange(0, Dh // 2,"}),
    Mistake(key="ignores_positions", title="the positions argument is ignored",
            hint="when positions is given, token t is rotated by positions[..., t]·θ_i, not t·θ_i",
            patch={"angle = positions.to(": "angle = torch.arange(T, device=x.device).to("}),
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
COMPLEX_MISTAKES = (
    Mistake(key="conjugate", title="multiplied by e^{−i m θ} (rotation sign flipped)",
            hint="rotate counter-clockwise: z · e^{+i m θ_i}",
            patch={"torch.ones_like(angle), angle)": "torch.ones_like(angle), -angle)"}),
    Mistake(key="halves_as_complex", title="complex numbers built from the two halves",
            hint="this function uses the RoFormer layout: z_i = x[..., 2i] + i·x[..., 2i+1] "
                 "(adjacent features), the layout torch.view_as_complex gives",
            patch={"torch.view_as_complex(work.unflatten(-1, (Dh // 2, 2)).contiguous())":
                   "torch.complex(work[..., : Dh // 2], work[..., Dh // 2:])",
                   "torch.view_as_real(rotated).flatten(-2)":
                   "torch.cat([rotated.real, rotated.imag], dim=-1)"}),
    Mistake(key="positions_off_by_one",
            title="default positions off by one (1 .. T instead of 0 .. T−1)",
            hint="with positions=None the first token is at position 0", patch=_POSITIONS_FROM_ONE),
    Mistake(key="returns_complex", title="returned the complex tensor",
            hint="turn the rotated complex numbers back into real pairs (torch.view_as_real), "
                 "flatten them to head_dim features and return x's dtype",
            patch={"torch.view_as_real(rotated).flatten(-2).to(x.dtype)": "rotated"}),
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
_MAGNITUDE = "return (re * re + im * im).sqrt()"

SPECTRUM_MISTAKES = (
    Mistake(key="no_mean_removal", title="the column mean is not removed",
            hint="subtract each column's mean over the positions first, so that bin 0 is 0",
            patch={"centred = pe - pe.mean(dim=0, keepdim=True)": "centred = pe"}),
    Mistake(key="all_bins", title="all P bins returned",
            hint="for a real signal bins k and P − k have the same magnitude: return "
                 "k = 0 .. P // 2",
            patch={"torch.arange(P // 2 + 1,": "torch.arange(P,"}),
    Mistake(key="power_spectrum", title="squared magnitudes (the power spectrum)",
            hint="return |X_k| = sqrt(Re² + Im²)", patch={_MAGNITUDE: "return re * re + im * im"}),
    Mistake(key="along_features", title="the DFT taken along the features instead of the positions",
            hint="transform each column pe[:, d] over the positions p (dim 0)",
            patch={"    P = pe.shape[0]": "    pe = pe.T\n    P = pe.shape[0]"}),
    Mistake(key="normalised", title="divided by P",
            hint="no normalisation: X_k = Σ_p x_p e^{−2πi k p / P}",
            patch={_MAGNITUDE: f"{_MAGNITUDE} / P"}),
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
_FREQUENCY = "return k.to(pe.dtype) / pe.shape[0]"

DOMINANT_MISTAKES = (
    Mistake(key="bin_index", title="returned the bin index k instead of the frequency k / P",
            hint="bin k of a length-P DFT is k / P cycles per position",
            patch={_FREQUENCY: "return k.to(pe.dtype)"}),
    Mistake(key="divided_by_bins", title="divided by the number of bins (P // 2 + 1) instead of P",
            hint="bin k of a length-P DFT is k / P cycles per position",
            patch={_FREQUENCY: "return k.to(pe.dtype) / spectrum.shape[0]"}),
    Mistake(key="angular_frequency", title="returned the angular frequency 2πk / P",
            hint="return cycles per position, k / P (the angular frequency w_i is 2π times that)",
            patch={_FREQUENCY: "return 2 * math.pi * k.to(pe.dtype) / pe.shape[0]"}),
    Mistake(key="forgot_dc_offset", title="index shifted by one after skipping bin 0",
            hint="argmax over spectrum[1:] counts from bin 1: add 1 before dividing by P",
            patch={"argmax(dim=0) + 1": "argmax(dim=0)"}),
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
