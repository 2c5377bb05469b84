"""Chapter 7 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points (and only those) and is named in the feedback. The alternative correct
implementations are test fixtures: ``tests/chapters/alternatives/ch07.py``. (The Triton exercise's
catalog is ``ch07_triton_catalog.py``.)
"""

from __future__ import annotations

from autograder.spec import Mistake


# =========================================================================== attention_flops
ATTN_FLOPS_MISTAKES = (
    Mistake(key="counts_macs", title="multiply-adds counted once (or only one of the two matmuls)",
            hint="an (a, b) @ (b, c) product costs 2·a·b·c FLOPs, and attention has two: q kᵀ "
                 "and p v", patch={"return 4 *": "return 2 *"}),
    Mistake(key="causal_half", title="causal cost taken as exactly half of the full cost",
            hint="count the (query, key) pairs the mask keeps: query i sees min(i + 1, S) keys, so "
                 "the diagonal is included",
            patch={"n_heads * pairs * head_dim":
                   "n_heads * q_len * k_len * head_dim // (1 + causal)"}),
    Mistake(key="causal_ignored", title="causal=True ignored",
            hint="only unmasked pairs are computed", patch={"    if causal:\n": "    if False:\n"}),
    Mistake(key="bottom_right", title="causal mask aligned bottom-right",
            hint="the mask is top-left aligned, as torch's is_causal: query i sees keys j ≤ i",
            patch={"min(i + 1, k_len)": "max(0, min(i + 1 + k_len - q_len, k_len))"}),
)


# =========================================================================== transformer FLOPs
TF_FLOPS_MISTAKES = (
    Mistake(key="no_attention", title="attention scores left out (the 2N rule of thumb)",
            hint="q kᵀ and p v add 4·T·D FLOPs per token and layer, which dominate at long context",
            patch={" + 4 * T * D": ""}),
    Mistake(key="two_matrix_ffn", title="FFN counted with two matrices",
            hint="this model's SwiGLU FFN has three D × F matrices (w1, w3, w2), F = d_ff",
            patch={"3 * D * d_ff": "2 * D * d_ff"}),
    Mistake(key="no_head", title="output head left out",
            hint="the last layer multiplies by a D × V matrix: 2·D·V",
            patch={" + 2 * D * vocab_size": ""}),
    Mistake(key="one_head", title="attention counted for one head only",
            hint="all H heads together have width D, so attention costs 4·T·D, not 4·T·D/H",
            patch={"4 * T * D": "4 * T * (D // n_heads)"}),
)


# =========================================================================== bytes
_BYTES = "(torch.finfo(dtype).bits // 8)"

PARAM_BYTES_MISTAKES = (
    Mistake(key="bits", title="bits instead of bytes", hint="divide the dtype's bits by 8",
            patch={_BYTES: "torch.finfo(dtype).bits"}),
    Mistake(key="always_float32", title="4 bytes whatever the dtype",
            hint="the size depends on the dtype: 8 for float64, 2 for bfloat16/float16",
            patch={f"n_params * {_BYTES}": "4 * n_params"}),
    Mistake(key="mebibytes", title="result in MiB instead of bytes",
            hint="return the number of bytes; convert units only when you print",
            patch={_BYTES: f"{_BYTES} / 2**20"}),
)


TRAIN_MEM_MISTAKES = (
    Mistake(key="no_master_copy", title="float32 master copy of the weights forgotten",
            hint="with master_weights the optimizer updates a float32 copy: 4 more bytes per "
                 "parameter", patch={"per_param += 4": "pass"}),
    Mistake(key="states_in_param_dtype",
            title="optimizer state kept in the parameters' dtype under mixed precision",
            hint="with master weights, m and v are float32 (4 bytes each)",
            patch={"torch.float32 if master_weights else param_dtype": "param_dtype"}),
    Mistake(key="grads_like_params", title="gradients sized like the parameters",
            hint="use grad_dtype for the gradients",
            patch={"nbytes(grad_dtype)": "nbytes(param_dtype)"}),
    Mistake(key="adam_one_state", title="AdamW counted with one state tensor",
            hint="AdamW keeps two moments per parameter, m and v",
            patch={'{"adamw": 2,': '{"adamw": 1,'}),
)


KV_BYTES_MISTAKES = (
    Mistake(key="keys_only", title="only the keys counted",
            hint="the cache holds keys and values: factor 2",
            patch={"return 2 * n_layers": "return n_layers"}),
    Mistake(key="one_layer", title="one layer only",
            hint="every layer has its own cache: multiply by n_layers",
            patch={"2 * n_layers * ": "2 * "}),
    Mistake(key="bits", title="bits instead of bytes", hint="divide the dtype's bits by 8",
            patch={_BYTES: "torch.finfo(dtype).bits"}),
)


# =========================================================================== flash forward
FLASH_MISTAKES = (
    Mistake(key="no_rescale", title="running sums not rescaled when the running max grows",
            hint="when m increases to m_new, multiply l and acc by exp(m − m_new) before adding "
                 "the new tile",
            patch={"l = alpha * l +": "l = l +",
                   "acc = alpha.unsqueeze(-1) * acc +": "acc = acc +"}),
    Mistake(key="lse_without_max", title="lse returned as log(l), without the running max",
            hint="the exponentials were taken relative to m, so the log-sum-exp is m + log(l)",
            patch={"lses.append(m + torch.log(l))": "lses.append(torch.log(l))"}),
    Mistake(key="strict_causal", title="causal mask also hides the diagonal",
            hint="query i may attend to key i itself: hide only keys j > i",
            patch={"j1 - 1 > i0:": "j1 > i0:", "cols > rows": "cols >= rows"}),
    Mistake(key="no_scale", title="default scale 1/√E not applied",
            hint="when scale is None, multiply the scores by 1/√E",
            patch={"scale = 1.0 / math.sqrt(E)": "scale = 1.0"}),
    # The budget: right values, computed the way FlashAttention avoids (caught by FORWARD_BUDGET)
    Mistake(key="whole_matrix", title="the whole L × S score matrix at once (block sizes ignored)",
            hint="that is naive attention: loop over block_q queries and block_k keys at a time, "
                 "holding one tile of scores and the running max, sum and output",
            patch={"outs, lses = [], []": "outs, lses = [], []\n    block_q, block_k = L, S"}),
    Mistake(key="row_block", title="all S keys of a query block at once (block_k ignored)",
            hint="a block_q × S row of scores breaks the memory budget as S grows: take block_k "
                 "keys at a time and combine the tiles with the online softmax",
            patch={"outs, lses = [], []": "outs, lses = [], []\n    block_k = S"}),
    Mistake(key="no_tile_skip", title="tiles that the causal mask hides completely computed, then "
                                      "masked",
            hint="a tile whose first key comes after its last query (j0 > i1 − 1) contributes "
                 "nothing: skip it (and every later tile of the row) before any matmul",
            patch={"break  # this tile and all later ones are fully masked":
                   "pass  # computed, then masked below"}),
    Mistake(key="blocks_joined_on_dim_2", title="query blocks joined along dim 2, as if q were "
                                                "always (B, H, L, E)",
            hint="q may have any number of leading dimensions, (..., L, E): join the blocks "
                 "along dim=-2",
            patch={"torch.cat(outs, dim=-2)": "torch.cat(outs, dim=2)"}),
)


# =========================================================================== flash backward
FLASH_BWD_MISTAKES = (
    Mistake(key="local_d", title="δ_i = rowsum(P ∘ dP) taken over one tile only",
            hint="δ_i sums over the whole row; compute it once as rowsum(dO ∘ O)",
            patch={"(dp - delta[..., i0:i1].unsqueeze(-1))":
                   "(dp - (p * dp).sum(-1, keepdim=True))"}),
    Mistake(key="no_scale", title="scale left out of dQ and dK",
            hint="Z = scale · Q Kᵀ, so dQ = scale · dZ K and dK = scale · dZᵀ Q",
            patch={"(dz @ kj) * scale": "(dz @ kj)", "@ qi) * scale": "@ qi)"}),
    Mistake(key="tile_softmax", title="P recomputed with a softmax over one tile",
            hint="rebuild the probabilities of the whole row: P = exp(Z − lse)",
            patch={"torch.exp(z - lse[..., i0:i1].unsqueeze(-1))": "softmax(z, dim=-1)"}),
    # The budget (caught by BACKWARD_BUDGET)
    Mistake(key="whole_matrix", title="P and dZ for the whole L × S matrix at once (block sizes "
                                      "ignored)",
            hint="that is the backward of naive attention: recompute P one block_q × block_k tile "
                 "at a time from lse",
            patch={"    delta = (grad_out * out)": "    block_q, block_k = L, S\n"
                                                 "    delta = (grad_out * out)"}),
    Mistake(key="row_block", title="all S keys at once (block_k ignored): a block_q × S tile of P",
            hint="recompute P one block_q × block_k tile at a time; a row block of width S "
                 "breaks the memory budget as S grows",
            patch={"dk_tiles, dv_tiles = [], []": "dk_tiles, dv_tiles = [], []\n    block_k = S"}),
    Mistake(key="no_tile_skip", title="tiles that the causal mask hides completely recomputed",
            hint="P is exactly 0 on a tile whose first key comes after its last query: skip it "
                 "before its five matmuls",
            patch={"            if is_causal and j0 > i1 - 1:\n                continue\n": ""}),
    Mistake(key="blocks_joined_on_dim_2", title="blocks joined along dim 2, as if q were always "
                                                "(B, H, L, E)",
            hint="q, k, v may have any number of leading dimensions: join the blocks along "
                 "dim=-2",
            patch={"torch.cat(dq_tiles, dim=-2), torch.cat(dk_tiles, dim=-2), "
                   "torch.cat(dv_tiles, dim=-2)":
                   "torch.cat(dq_tiles, dim=2), torch.cat(dk_tiles, dim=2), "
                   "torch.cat(dv_tiles, dim=2)"}),
)


# =========================================================================== autograd Function
FLASH_FN_MISTAKES = (
    Mistake(key="causal_dropped", title="is_causal not passed to the backward",
            hint="the backward must recompute the same masked probabilities as the forward",
            patch={"ctx.options = (is_causal,": "ctx.options = (False,"}),
    Mistake(key="dk_dv_swapped", title="gradients returned in the wrong order",
            hint="backward returns the gradients in the order of forward's inputs: dq, dk, dv, "
                 "then None for is_causal, scale, block_q, block_k",
            patch={"return dq, dk, dv,": "return dq, dv, dk,"}),
    Mistake(key="scale_dropped", title="scale not passed to the backward",
            hint="save scale in ctx and pass it on",
            patch={"(is_causal, scale, block_q, block_k)": "(is_causal, None, block_q, block_k)"}),
    # right gradients, quadratic memory between the passes (caught by gradelib.flash.saved_check)
    Mistake(key="keeps_probabilities", title="the L × S probability matrix kept in ctx",
            hint="keep q, k, v, out and lse only: the backward recomputes each tile of P from lse, "
                 "so nothing of size L × S lives between the two passes",
            patch={"ctx.save_for_backward(q, k, v, out, lse)":
                   "ctx.save_for_backward(q, k, v, out, lse)\n"
                   "        s = q @ k.transpose(-2, -1) * (q.size(-1) ** -0.5 if scale is None "
                   "else scale)\n"
                   "        ctx.p = torch.exp(s - lse.unsqueeze(-1))  # kept in case it helps"}),
)


# =========================================================================== GQA
GQA_MISTAKES = (
    Mistake(key="tiled_heads",
            title="key/value heads tiled (repeat) instead of grouped (repeat_interleave)",
            hint="query heads g·j … g·j + g − 1 share KV head j: head h uses KV head "
                 "h // (H / Hkv)",
            patch={f"{t} = {t}.repeat_interleave(group, dim=1)": f"{t} = {t}.repeat(1, group, 1, 1)"
                   for t in "kv"}),
    Mistake(key="first_kv_head", title="every query head uses the first key/value head",
            hint="that is multi-query attention; with Hkv > 1 each group has its own KV head",
            patch={"group = q.size(1) // k.size(1)":
                   "group, k, v = q.size(1), k[:, :1], v[:, :1]"}),
    Mistake(key="ignores_mask", title="attn_mask / is_causal not passed on",
            hint="forward attn_mask and is_causal to the attention",
            patch={"(q, k, v, attn_mask=attn_mask, is_causal=is_causal)": "(q, k, v)"}),
)


# =========================================================================== KV cache
def _per_buffer(new: str) -> dict[str, str]:
    """The same edit of the lines that store keys and values (``{0}``: "k" or "v")."""
    return {f"self.{t}[:, :, self.pos:self.pos + t] = {t}": new.format(t) for t in "kv"}


KV_CACHE_MISTAKES = (
    Mistake(key="no_offset", title="new entries written at position 0 every time",
            hint="write the new keys and values at positions pos … pos + t − 1, after those stored",
            patch=_per_buffer("self.{0}[:, :, :t] = {0}")),
    Mistake(key="keys_in_both", title="keys stored in the value buffer too",
            hint="the value cache must receive v, not k",
            patch={"self.pos + t] = v": "self.pos + t] = k"}),
    Mistake(key="newest_first", title="new positions put before the old ones",
            hint="keep positions in order: append the new entries at the end",
            patch=_per_buffer("self.{0}[:, :, t:self.pos + t] = self.{0}[:, :, :self.pos].clone()"
                              "\n        self.{0}[:, :, :t] = {0}")),
)


# =========================================================================== gates
GLU_MISTAKES = (
    Mistake(key="halves_swapped", title="gate and value halves swapped",
            hint="the first half is the value, the second half goes through the sigmoid",
            patch={"a * torch.sigmoid(b)": "b * torch.sigmoid(a)"}),
    Mistake(key="always_last_dim", title="split along the last dimension whatever dim says",
            hint="split along dim", patch={"chunk(2, dim=dim)": "chunk(2, dim=-1)"}),
    Mistake(key="tanh_gate", title="tanh instead of sigmoid", hint="GLU gates with σ(b) ∈ (0, 1)",
            patch={"torch.sigmoid(b)": "torch.tanh(b)"}),
)


GATE_MISTAKES = (
    Mistake(key="tanh_gate", title="tanh instead of sigmoid", hint="the gate is σ(g) ∈ (0, 1)",
            patch={"torch.sigmoid(gate_logits)": "torch.tanh(gate_logits)"}),
    Mistake(key="added", title="gate added instead of multiplied",
            hint="multiply the output by σ(g)", patch={"attn_out * torch": "attn_out + torch"}),
    Mistake(key="silu_gate", title="SiLU g·σ(g) instead of σ(g)",
            hint="use the sigmoid alone as the gate",
            patch={"* torch.sigmoid(": "* gate_logits * torch.sigmoid("}),
)


# =========================================================================== low rank
LOW_RANK_MISTAKES = (
    Mistake(key="smallest", title="the smallest singular values kept",
            hint="torch.linalg.svd sorts singular values in decreasing order: keep the first rank",
            patch={"full_matrices=False)": "full_matrices=False)\n"
                   "    U, sigma, Vh = U.flip(-1), sigma.flip(-1), Vh.flip(-2)"}),
    Mistake(key="off_by_one", title="rank + 1 terms kept",
            hint="keep exactly rank terms: [..., :rank]",
            patch={"full_matrices=False)": "full_matrices=False)\n    rank = rank + 1"}),
    Mistake(key="no_sigma", title="singular values left out", hint="a_r = U_r diag(σ_r) V_rᵀ",
            patch={"U[..., :rank] * sigma[..., None, :rank]": "U[..., :rank]"}),
    Mistake(key="float32_result", title="the float32 result of a bfloat16 input not cast back",
            hint="the SVD runs in float32 for a bfloat16 input, but the result must have the "
                 "input's dtype: .to(a.dtype)",
            patch={"@ Vh[..., :rank, :]).to(a.dtype)": "@ Vh[..., :rank, :])"}),
)


# =========================================================================== Linformer
LINFORMER_MISTAKES = (
    Mistake(key="values_with_e", title="values projected with the keys' P_K (e_proj) instead of "
                                       "P_V (f_proj)",
            hint="keys use e_proj, values use f_proj", patch={"f_proj @ v": "e_proj @ v"}),
    Mistake(key="scale_by_p", title="scores scaled by 1/√p, p the projected length",
            hint="the scale is 1/√E, the feature size of q and k",
            patch={"math.sqrt(q.size(-1))": "math.sqrt(e_proj.size(0))"}),
    Mistake(key="softmax_wrong_dim", title="softmax over the queries",
            hint="normalise each query's row: softmax over the last (projected key) dimension",
            patch={"softmax(scores, dim=-1)": "softmax(scores, dim=-2)"}),
)


# =========================================================================== Performer
PERF_FEATURES_MISTAKES = (
    Mistake(key="no_norm_term", title="the −|x|²/2 term left out",
            hint="E[e^(ωᵀq) e^(ωᵀk)] = e^(|q+k|²/2); subtracting |q|²/2 and |k|²/2 leaves e^(qᵀk)",
            patch={"x @ omega - sq": "x @ omega"}),
    Mistake(key="no_sqrt_m", title="features not divided by √m",
            hint="φ(q)·φ(k) is a mean over m samples: each feature carries 1/√m",
            patch={" / math.sqrt(omega.size(-1))": ""}),
    Mistake(key="divide_by_m", title="features divided by m instead of √m",
            hint="the 1/m of the mean is split between φ(q) and φ(k): 1/√m each",
            patch={"math.sqrt(omega.size(-1))": "omega.size(-1)"}),
)


PERF_ATTN_MISTAKES = (
    Mistake(key="no_input_scaling", title="q and k not scaled by E^(-1/4)",
            hint="softmax attention uses exp(q·k/√E): scale q and k by E^(-1/4) before the "
                 "features",
            patch={"c = E ** -0.25": "c = 1.0"}),
    Mistake(key="no_normaliser", title="output not divided by φ(q)·Σ_j φ(k_j)",
            hint="attention weights sum to 1: divide by the estimated softmax denominator",
            patch={"return (phi_q @ kv) / norm": "return phi_q @ kv"}),
    Mistake(key="two_omegas", title="different random projections for queries and keys",
            hint="draw ω once and use it for both: the estimate is unbiased only with shared ω",
            patch={"performer_features(k * c, omega)": "performer_features(k * c, torch.randn("
                   "E, n_features, generator=generator).to(q))"}),
    # right values, quadratic memory (caught by gradelib.random_features.LINEAR_MEMORY)
    Mistake(key="kernel_matrix", title="the L × S matrix φ(q) φ(k)ᵀ formed",
            hint="multiply right to left: φ(q) (φ(k)ᵀ v) and φ(q) Σ_j φ(k_j) never hold more "
                 "than (L + S) · m numbers per head",
            patch={"return (phi_q @ kv) / norm":
                   "a = phi_q @ phi_k.transpose(-2, -1)  # (..., L, S)\n"
                   "    return (a @ v) / a.sum(dim=-1, keepdim=True)"}),
)


# =========================================================================== derivations
_RESCALED = "return l_old * exp(m_old - m_new) + exp(x - m_new)"

ONLINE_SOFTMAX_MISTAKES = (
    Mistake(key="no_rescaling", title="the old sum not rescaled to the new maximum",
            hint="ℓ_old holds terms e^{s − m_old}; measured against m_new each is e^{s − m_new} = "
                 "e^{s − m_old} e^{m_old − m_new}: multiply ℓ_old by that factor (it is 1 only "
                 "while the maximum does not change)",
            patch={_RESCALED: "return l_old + exp(x - m_new)"}),
    Mistake(key="inverted_factor", title="the rescaling factor inverted, e^{m_new − m_old}",
            hint="the factor is e^{m_old − m_new} ≤ 1: a larger maximum makes every old term "
                 "smaller, never larger",
            patch={_RESCALED: "return l_old * exp(m_new - m_old) + exp(x - m_new)"}),
    Mistake(key="new_term_unshifted", title="the new term e^{x} not shifted by the maximum",
            hint="every term of ℓ_new is measured against m_new, the new score's too: "
                 "e^{x − m_new}",
            patch={_RESCALED: "return l_old * exp(m_old - m_new) + exp(x)"}),
    Mistake(key="old_maximum_kept", title="everything measured against the old maximum",
            hint="ℓ_old + e^{x − m_old} is the sum relative to m_old, which is no longer the "
                 "maximum when x > m_old (its exponent is then positive): ℓ_new is relative to "
                 "m_new = max(m_old, x)",
            patch={_RESCALED: "return l_old + exp(x - m_old)"}),
)

_KEPT = "kept = T * (T + 1) / 2  # 1 + 2 + ... + T"

CAUSAL_FRACTION_MISTAKES = (
    Mistake(key="exactly_half", title="exactly one half",
            hint="the triangle includes the diagonal (each query sees its own key): "
                 "1 + 2 + ... + T = T(T + 1)/2 entries of T², a little more than half",
            patch={"return kept / T**2": "return 1 / 2"}),
    Mistake(key="diagonal_excluded", title="the diagonal left out, T(T − 1)/2 entries",
            hint="query i may attend to key j for j ≤ i: key i itself is kept, so query i sees "
                 "i + 1 keys",
            patch={_KEPT: "kept = T * (T - 1) / 2"}),
    Mistake(key="count_not_fraction", title="the number of kept entries, not their fraction",
            hint="divide the count T(T + 1)/2 by all T² entries of the score matrix",
            patch={"return kept / T**2": "return kept"}),
    Mistake(key="per_query_average", title="divided by T instead of T²",
            hint="T(T + 1)/2 divided by T is the average number of keys a query sees; the "
                 "fraction divides by all T² entries",
            patch={"return kept / T**2": "return kept / T"}),
)
