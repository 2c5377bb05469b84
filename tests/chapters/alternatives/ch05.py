"""Chapter 5 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F`` and the names of earlier exercises
(``alibi_slopes``, ``rope_cache``, ``encoding_spectrum``), which resolve to the reference here and
to the student's own functions in a notebook.
"""

from __future__ import annotations

import math
import torch

from autograder.symbolic import Answer
from reference.positional import alibi_slopes, encoding_spectrum, rope_cache


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


def rope_rotate_half(x, positions=None, base=10000.0, interleaved=False):
    T, E = x.shape[-2], x.shape[-1]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32  # HF computes in float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    inv_freq = 1.0 / (base ** (torch.arange(0, E, 2, device=x.device).to(work) / E))
    freqs = pos.to(work)[..., None] * inv_freq
    if interleaved:
        emb = freqs.repeat_interleave(2, dim=-1)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        rotated = torch.stack([-x2, x1], dim=-1).flatten(-2)
    else:
        emb = torch.cat([freqs, freqs], dim=-1)
        x1, x2 = x[..., : E // 2], x[..., E // 2:]
        rotated = torch.cat([-x2, x1], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    return x * cos + rotated * sin


def rope_via_complex(x, positions=None, base=10000.0, interleaved=False):
    T, E = x.shape[-2], x.shape[-1]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    theta = base ** (-torch.arange(0, E, 2, device=x.device, dtype=work) / E)
    rot = torch.polar(torch.ones((), dtype=work, device=x.device), pos.to(work)[..., None] * theta)
    xw = x.to(work)
    if interleaved:
        z = torch.view_as_complex(xw.reshape(*x.shape[:-1], E // 2, 2).contiguous())
        return torch.view_as_real(z * rot).reshape(x.shape).to(x.dtype)
    z = torch.complex(xw[..., : E // 2], xw[..., E // 2:]) * rot
    return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)


def rope_from_cache(x, positions=None, base=10000.0, interleaved=False):
    T, E = x.shape[-2], x.shape[-1]
    pos = torch.arange(T, device=x.device) if positions is None else positions
    cos, sin = rope_cache(int(pos.max()) + 1, E, base, dtype=x.dtype, device=x.device)
    cos, sin = cos[pos], sin[pos]
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).reshape(x.shape)
    a, b = x.chunk(2, dim=-1)
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


ROPE_ALTERNATIVES = (rope_rotate_half, rope_via_complex, rope_from_cache)


def complex_exp_1j(x, positions=None, base=10000.0):
    T, E = x.shape[-2], x.shape[-1]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    theta = torch.exp(torch.arange(0, E, 2, dtype=work, device=x.device) * (-math.log(base) / E))
    rot = torch.exp(1j * (pos.to(work)[..., None] * theta))
    xw = x.to(work)
    z = torch.complex(xw[..., ::2].contiguous(), xw[..., 1::2].contiguous())
    out = z * rot
    return torch.stack([out.real, out.imag], dim=-1).reshape(x.shape).to(x.dtype)


def complex_from_cache(x, positions=None, base=10000.0):
    T, E = x.shape[-2], x.shape[-1]
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    pos = torch.arange(T, device=x.device) if positions is None else positions
    cos, sin = rope_cache(int(pos.max()) + 1, E, base, dtype=work, device=x.device)
    rot = torch.complex(cos[pos], sin[pos])
    z = torch.view_as_complex(x.to(work).unflatten(-1, (E // 2, 2)).contiguous())
    return torch.view_as_real(z * rot).flatten(-2).to(x.dtype)


COMPLEX_ALTERNATIVES = (complex_exp_1j, complex_from_cache)


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


# =========================================================================== derivations
# Formulas are graded as text (read, never run): the alternatives are answer-cell texts.
ROPE_SCORE_ALTERNATIVES = (
    Answer("key_rotated_by_delta", "def rope_score(q1, q2, k1, k2, delta):\n"
                                   "    r1 = k1 * cos(delta) - k2 * sin(delta)  # R(delta) k\n"
                                   "    r2 = k1 * sin(delta) + k2 * cos(delta)\n"
                                   "    return q1 * r1 + q2 * r2\n"),
    Answer("query_rotated_back", "def rope_score(q1, q2, k1, k2, delta):\n"
                                 "    # R(-delta) q, dotted with k\n"
                                 "    return (q1 * math.cos(delta) + q2 * math.sin(delta)) * k1 + "
                                 "(q2 * math.cos(delta) - q1 * math.sin(delta)) * k2\n"),
    Answer("expanded", "rope_score = q1*k1*cos(delta) - q1*k2*sin(delta) + q2*k1*sin(delta) "
                       "+ q2*k2*cos(delta)\n"),
)

ALTERNATIVES = {
    "ch05.sinusoidal_positional_encoding": SINUSOIDAL_ALTERNATIVES,
    "ch05.sinusoidal_shift_matrix": SHIFT_ALTERNATIVES,
    "ch05.t5_relative_position_bucket": T5_ALTERNATIVES,
    "ch05.alibi_slopes": SLOPES_ALTERNATIVES,
    "ch05.alibi_bias": BIAS_ALTERNATIVES,
    "ch05.rope_score": ROPE_SCORE_ALTERNATIVES,
    "ch05.rope_cache": ROPE_CACHE_ALTERNATIVES,
    "ch05.apply_rope": ROPE_ALTERNATIVES,
    "ch05.rope_complex": COMPLEX_ALTERNATIVES,
    "ch05.encoding_spectrum": SPECTRUM_ALTERNATIVES,
    "ch05.dominant_frequencies": DOMINANT_ALTERNATIVES,
}
