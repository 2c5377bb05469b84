"""Chapter 5 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points (and only those) and is named in the feedback. The alternative correct
implementations are test fixtures: ``tests/chapters/alternatives/ch05.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake


# =========================================================================== sinusoidal PE
_PE_STACK = "pe = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)"
_PAIRS = "torch.arange(0, d_model, 2, dtype=dtype"

SINUSOIDAL_MISTAKES = (
    Mistake(key="sin_cos_swapped", title="cos in the even columns and sin in the odd ones",
            hint="PE[p, 2i] = sin(p·θ_i) and PE[p, 2i+1] = cos(p·θ_i): row 0 is (0, 1, 0, 1, ...)",
            patch={"[angle.sin(), angle.cos()]": "[angle.cos(), angle.sin()]"}),
    Mistake(key="exponent_i_over_d", title="frequency exponent i/d instead of 2i/d",
            hint="θ_i = base^(-2i/d) with i the pair index: the exponent runs over the even "
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


# =========================================================================== shift matrix
_KW = "c, s = torch.cos(k * theta), torch.sin(k * theta)"

SHIFT_MISTAKES = (
    Mistake(key="rotation_sign_flipped", title="the 2×2 blocks are transposed (they shift by −k)",
            hint="from sin((p+k)θ) = cos(kθ)·sin(pθ) + sin(kθ)·cos(pθ), the sin row of a block "
                 "is [cos kθ, +sin kθ] and the cos row is [−sin kθ, cos kθ]",
            patch={_KW: "c, s = torch.cos(k * theta), -torch.sin(k * theta)"}),
    Mistake(key="exponent_i_over_d", title="frequency exponent i/d instead of 2i/d",
            hint="use the encoding's frequencies θ_i = base^(-2i/d)",
            patch={"torch.arange(0, d_model, 2, dtype": "torch.arange(0, d_model // 2, dtype"}),
    Mistake(key="halves_layout", title="column i paired with column i + d/2",
            hint="the encoding interleaves sin and cos: pair i is columns (2i, 2i+1), so M_k is "
                 "block diagonal with 2×2 blocks",
            patch={"even = torch.arange(0, d_model, 2, device=device)":
                   "even, half = torch.arange(d_model // 2, device=device), d_model // 2"}
            | {line: line.replace("even + 1", "even + half") for line in (
                "M[even, even + 1] = s", "M[even + 1, even] = -s", "M[even + 1, even + 1] = c")}),
    Mistake(key="ignores_k", title="the angle is θ_i instead of k·θ_i",
            hint="M_k rotates each pair by k·θ_i: shifting by k positions adds k·θ_i to the angle",
            patch={_KW: "c, s = torch.cos(theta), torch.sin(theta)"}),
)


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
    Mistake(key="float_positions_kept",
            title="relative positions given as floats are not converted to integers",
            hint="relative positions may come in a float tensor of whole numbers: convert them "
                 "(.long()) so that the bucket ids are int64",
            patch={"r = relative_position.long()": "r = relative_position"}),
    Mistake(key="buckets_not_halved", title="num_buckets not halved when bidirectional",
            hint="each direction gets num_buckets // 2 buckets, and half of those are exact",
            patch={"        num_buckets //= 2\n": ""}),
)


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
    Mistake(key="reversed", title="slopes in reverse order (head 0 gets the last slope)",
            hint="head 0 gets 2^(-8/p), the largest of the p slopes of the largest power of two "
                 "p ≤ H; they decrease to 2^(-8), then the extra slopes follow, also decreasing "
                 "(6 heads: 2^-2, 2^-4, 2^-6, 2^-8, 2^-1, 2^-3)",
            patch={f"{_EXTRA}])": f"{_EXTRA}]).flip(0)"}),
    Mistake(key="sorted_decreasing", title="slopes sorted from largest to smallest",
            hint="when H is not a power of two the list is not sorted: the p slopes of the "
                 "largest power of two p < H come first, then the extra ones (6 heads: 2^-2, "
                 "2^-4, 2^-6, 2^-8, 2^-1, 2^-3; the largest slope belongs to head 4)",
            patch={f"{_EXTRA}])": f"{_EXTRA}]).sort(descending=True).values"}),
)


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
            patch={"torch.arange(0, E, 2,": "torch.arange(0, E // 2,"}),
    Mistake(key="ignores_positions", title="the positions argument is ignored",
            hint="when positions is given, token t is rotated by positions[..., t]·θ_i, not t·θ_i",
            patch={"angle = positions.to(": "angle = torch.arange(T, device=x.device).to("}),
)


# =========================================================================== rope_complex
COMPLEX_MISTAKES = (
    Mistake(key="conjugate", title="multiplied by e^{−i m θ} (rotation sign flipped)",
            hint="rotate counter-clockwise: z · e^{+i m θ_i}",
            patch={"torch.ones_like(angle), angle)": "torch.ones_like(angle), -angle)"}),
    Mistake(key="halves_as_complex", title="complex numbers built from the two halves",
            hint="this function uses the RoFormer layout: z_i = x[..., 2i] + i·x[..., 2i+1] "
                 "(adjacent features), the layout torch.view_as_complex gives",
            patch={"torch.view_as_complex(work.unflatten(-1, (E // 2, 2)).contiguous())":
                   "torch.complex(work[..., : E // 2], work[..., E // 2:])",
                   "torch.view_as_real(rotated).flatten(-2)":
                   "torch.cat([rotated.real, rotated.imag], dim=-1)"}),
    Mistake(key="positions_off_by_one",
            title="default positions off by one (1 .. T instead of 0 .. T−1)",
            hint="with positions=None the first token is at position 0", patch=_POSITIONS_FROM_ONE),
    Mistake(key="not_cast_back", title="a bfloat16 input comes back as float32",
            hint="after the float32 detour, cast the rotated features back to x's dtype "
                 "(.to(x.dtype))",
            patch={"torch.view_as_real(rotated).flatten(-2).to(x.dtype)":
                   "torch.view_as_real(rotated).flatten(-2)"}),
    Mistake(key="complex64_for_every_dtype",
            title="every input rotated in complex64, float64 included",
            hint="only bfloat16/float16 need the float32 detour (no complex type of their own); "
                 "a float64 input is rotated in complex128 and keeps float64 precision",
            patch={"work = x if x.dtype in (torch.float32, torch.float64) else x.float()":
                   "work = x.float()"}),
    Mistake(key="returns_complex", title="returned the complex tensor",
            hint="turn the rotated complex numbers back into real pairs (torch.view_as_real), "
                 "flatten them to head_dim features and return x's dtype",
            patch={"torch.view_as_real(rotated).flatten(-2).to(x.dtype)": "rotated"}),
)


# =========================================================================== spectrum
_MAGNITUDE = "return (re * re + im * im).sqrt()"

SPECTRUM_MISTAKES = (
    Mistake(key="angle_not_reduced", title="the angle 2πkp/P is not reduced modulo 2π",
            hint="k·p reaches about P²/2, and an angle of hundreds of radians is rounded before "
                 "its cosine is taken (by up to a radian in bfloat16): take (k * p) % P in "
                 "integers before multiplying by 2π/P (or compute the angles in float64)",
            patch={"((k * p) % P).to(pe.dtype)": "(k * p).to(pe.dtype)"}),
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
            hint="return cycles per position, k / P (the angular frequency θ_i is 2π times that)",
            patch={_FREQUENCY: "return 2 * math.pi * k.to(pe.dtype) / pe.shape[0]"}),
    Mistake(key="dtype_not_kept", title="k / P returned in the default dtype (float32)",
            hint="dividing an integer tensor by P gives float32 whatever pe's dtype: convert k to "
                 "pe.dtype first, k.to(pe.dtype) / P",
            patch={_FREQUENCY: "return k / pe.shape[0]"}),
    Mistake(key="forgot_dc_offset", title="index shifted by one after skipping bin 0",
            hint="argmax over spectrum[1:] counts from bin 1: add 1 before dividing by P",
            patch={"argmax(dim=0) + 1": "argmax(dim=0)"}),
)


# =========================================================================== derivations
_ROPE_SCORE = "return aligned * cos(delta) + crossed * sin(delta)"

ROPE_SCORE_MISTAKES = (
    Mistake(key="sin_sign_flipped", title="the sin term with the opposite sign",
            hint="R(mθ)ᵀ R(nθ) = R((n − m)θ), and R(δ)k = (k₁ cos δ − k₂ sin δ, "
                 "k₁ sin δ + k₂ cos δ): the sin term is (q₂k₁ − q₁k₂) sin δ for δ = (n − m)θ (the sign flips if δ is "
                 "taken as (m − n)θ)",
            patch={"crossed = q2 * k1 - q1 * k2": "crossed = q1 * k2 - q2 * k1"}),
    Mistake(key="cos_only", title="only (q · k) cos δ",
            hint="rotating k by δ also mixes its two coordinates: the term (q₂k₁ − q₁k₂) sin δ "
                 "remains, and vanishes only when q and k are parallel",
            patch={_ROPE_SCORE: "return aligned * cos(delta)"}),
    Mistake(key="sin_cos_swapped", title="sin and cos swapped",
            hint="at δ = 0 nothing is rotated and the score must be the plain q · k: q · k goes "
                 "with cos δ",
            patch={_ROPE_SCORE: "return aligned * sin(delta) + crossed * cos(delta)"}),
)
