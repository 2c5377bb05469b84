"""Chapter 6 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points (and only those) and is named in the feedback. The alternative correct
implementations are test fixtures: ``tests/chapters/alternatives/ch06.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake


# =========================================================================== GELU
_EXACT = "return 0.5 * x * (1.0 + torch.erf("
_TANH = "return 0.5 * x * (1.0 + torch.tanh("

GELU_MISTAKES = (
    Mistake(key="modes_swapped", title="exact and tanh forms swapped",
            hint='approximate="none" is the exact x·Φ(x) with erf; approximate="tanh" is the tanh '
                 "formula",
            patch={f'"none":\n        {_EXACT}': f'"tanh":\n        {_EXACT}',
                   f'"tanh":\n        {_TANH}': f'"none":\n        {_TANH}'}),
    Mistake(key="tanh_constant_wrong", title="√(π/2) instead of √(2/π) in the tanh approximation",
            hint="the tanh form is ½x(1 + tanh(√(2/π)(x + 0.044715x³)))",
            patch={"math.sqrt(2.0 / math.pi)": "math.sqrt(math.pi / 2.0)"}),
    Mistake(key="erf_without_sqrt2", title="erf(x) instead of erf(x/√2)",
            hint="the standard normal CDF is Φ(x) = ½(1 + erf(x/√2))",
            patch={"torch.erf(x / math.sqrt(2.0))": "torch.erf(x)"}),
    Mistake(key="missing_half", title="the factor ½ is missing",
            hint="Φ(x) = ½(1 + erf(x/√2)) lies in [0, 1]; GELU(x) = x·Φ(x)",
            patch={old: old.replace("0.5 * ", "") for old in (_EXACT, _TANH)}),
    # before sigmoid_shortcut, which (returning early) accepts any mode as well: a submission
    # that fails only the refusal case is this mistake
    Mistake(key="unknown_mode_accepted",
            title='an unknown `approximate` silently treated as "tanh"',
            hint='only "none" and "tanh" are forms of GELU: anything else (a typo such as "tahn") '
                 "must raise ValueError, as F.gelu does, instead of quietly picking a form",
            patch={'if approximate == "tanh":': 'if approximate != "none":'}),
    Mistake(key="sigmoid_shortcut", title="x·sigmoid(1.702x) used for GELU",
            hint="that is a third, cruder approximation; implement the two forms the docstring "
                 "gives",
            patch={'    if approximate == "none":': "    return x * torch.sigmoid(1.702 * x)\n"
                                                    '    if approximate == "none":'}),
)


# =========================================================================== SiLU
SILU_MISTAKES = (
    Mistake(key="tanh_instead_of_sigmoid", title="x·tanh(x) instead of x·sigmoid(x)",
            hint="SiLU(x) = x·σ(x) with σ(x) = 1/(1 + e^(−x)); tanh goes from −1 to 1, σ from 0 "
                 "to 1",
            patch={"x * torch.sigmoid(x)": "x * torch.tanh(x)"}),
    Mistake(key="missing_x", title="sigmoid(x) without the factor x",
            hint="SiLU gates x by σ(x): multiply by x",
            patch={"x * torch.sigmoid(x)": "torch.sigmoid(x)"}),
    Mistake(key="sign_error", title="x/(1 + e^x): the sign of the exponent flipped",
            hint="σ(x) = 1/(1 + e^(−x)); with e^(+x) you get σ(−x)",
            patch={"x * torch.sigmoid(x)": "x / (1 + torch.exp(x))"}),
)


# =========================================================================== FeedForward
_FC1 = "        h = self.fc1(x)  # (..., F)\n"

FFN_MISTAKES = (
    Mistake(key="activation_after_fc2", title="the activation applied after fc2 as well",
            hint="the FFN is fc2(act(fc1(x))): its output is linear in the hidden activations",
            patch={_FC1: _FC1 + "        return self.act(self.fc2(self.act(h)))\n\n"
                                "    def act(self, h):\n",
                   "return self.fc2(h)  # (..., D)": "return h"}),
    Mistake(key="no_activation", title="no nonlinearity between fc1 and fc2",
            hint="without the activation the FFN collapses to one linear map",
            patch={_FC1: "        return self.fc2(self.fc1(x))\n"}),
    Mistake(key="always_relu", title="ReLU used whatever `activation` says",
            hint='dispatch on activation: "relu", "gelu", "gelu_tanh" or "silu"',
            patch={'if self.activation == "relu":': "if True:"}),
    Mistake(key="gelu_tanh_as_exact", title='"gelu_tanh" treated as the exact GELU',
            hint='pass approximate="tanh" for "gelu_tanh"',
            patch={'h = F.gelu(h, approximate="tanh")': "h = F.gelu(h)"}),
)


# =========================================================================== SwiGLU
_GATED = "silu(self.w1(x)) * self.w3(x)"

SWIGLU_MISTAKES = (
    Mistake(key="gate_up_swapped", title="gate and up projections swapped (silu(w3 x)·w1 x)",
            hint="w1 is the gate: w2(silu(w1 x) * w3 x)",
            patch={_GATED: "silu(self.w3(x)) * self.w1(x)"}),
    Mistake(key="sigmoid_gate", title="sigmoid gate instead of SiLU (that is GLU, not SwiGLU)",
            hint="the gate is silu(w1 x) = w1 x · σ(w1 x)",
            patch={_GATED: "torch.sigmoid(self.w1(x)) * self.w3(x)"}),
    Mistake(key="silu_of_product", title="SiLU applied to the product of the two projections",
            hint="only the gate goes through SiLU, then it multiplies w3 x",
            patch={_GATED: "silu(self.w1(x) * self.w3(x))"}),
    Mistake(key="added_not_multiplied", title="gate and up added instead of multiplied",
            hint="gating is elementwise multiplication: silu(w1 x) * w3 x",
            patch={_GATED: "silu(self.w1(x)) + self.w3(x)"}),
)


# =========================================================================== TransformerBlock
_ATTN = "h = x + self.attn(self.norm1(x))"
_FFN = "return h + self.ffn(self.norm2(h))"
_ROPE_K = "            k = apply_rope(k, base=self.rope_base)\n"

BLOCK_MISTAKES = (
    Mistake(key="post_norm", title="post-norm (norm(x + sublayer(x))) instead of pre-norm",
            hint="this block is pre-norm: h = x + attn(norm1(x)); y = h + ffn(norm2(h))",
            patch={_ATTN: "h = self.norm1(x + self.attn(x))",
                   _FFN: "return self.norm2(h + self.ffn(h))"}),
    Mistake(key="no_residual", title="the attention's residual connection is missing",
            hint="add the input back: h = x + attn(norm1(x))",
            patch={_ATTN: "h = self.attn(self.norm1(x))"}),
    Mistake(key="future_leak", title="attention is not causal: tokens see the future",
            hint="pass is_causal=True (query t may attend only to keys ≤ t)",
            patch={"is_causal=True)": "is_causal=False)"}),
    Mistake(key="rope_on_v", title="RoPE applied to the values as well",
            hint="rotate only q and k: RoPE changes the scores, the values stay as they are",
            patch={_ROPE_K: _ROPE_K + "            v = apply_rope(v, base=self.rope_base)\n"}),
    Mistake(key="rope_q_only", title="RoPE applied to the queries but not the keys",
            hint="rotate both q and k, so that the score depends on the offset m − n",
            patch={_ROPE_K: ""}),
    Mistake(key="parallel_sublayers", title="attention and FFN applied in parallel to x",
            hint="the FFN reads the updated stream: h = x + attn(norm1(x)), then "
                 "h + ffn(norm2(h))",
            patch={_ATTN: _ATTN + " + self.ffn(self.norm2(x))", _FFN: "return h"}),
)


# =========================================================================== GPT
GPT_MISTAKES = (
    Mistake(key="untied_embeddings", title="embeddings not tied although tie_embeddings=True",
            hint="share the Parameter itself: self.lm_head.weight = self.tok_emb.weight (copying "
                 "the values is not tying: the two would drift apart in training)",
            patch={"self.lm_head.weight = self.tok_emb.weight":
                   "self.lm_head.weight.data.copy_(self.tok_emb.weight.data)"}),
    Mistake(key="no_final_norm", title="the final norm_f is missing",
            hint="pre-norm blocks leave the residual stream unnormalised: apply norm_f before "
                 "lm_head",
            patch={"self.lm_head(self.norm_f(x))": "self.lm_head(x)"}),
    Mistake(key="scaled_embedding", title="embeddings multiplied by √d_model",
            hint="this GPT feeds tok_emb(idx) to the first block unscaled",
            patch={"x = self.tok_emb(idx)":
                   "x = self.tok_emb(idx) * math.sqrt(self.tok_emb.embedding_dim)"}),
    Mistake(key="no_length_check", title="a sequence longer than context_length is accepted",
            hint="raise ValueError when idx.shape[1] > context_length: with RoPE nothing else "
                 "fails, and the model would run on contexts it was never trained for",
            patch={"        if idx.shape[1] > self.context_length:\n": "        if False:\n"}),
)


# =========================================================================== count_parameters
COUNT_MISTAKES = (
    Mistake(key="forgets_norms", title="the norm weights are not counted",
            hint="each block has two RMSNorm weights (D each) and there is a final norm_f (D)",
            patch={"per_block = 2 * D + ": "per_block = ",
                   "per_block + D + head": "per_block + head"}),
    Mistake(key="forgets_biases", title="the attention biases are not counted",
            hint="q_proj, k_proj, v_proj and out_proj each have a bias of size D",
            patch={"4 * (D * D + D)": "4 * D * D"}),
    Mistake(key="head_counted_when_tied", title="the output head counted although it is tied",
            hint="a tied lm_head shares tok_emb's V·D parameters: count them once",
            patch={"head = 0 if tie_embeddings else V * D": "head = V * D"}),
    Mistake(key="position_table", title="a learned position table (context_length × D) counted",
            hint="this GPT uses RoPE, which has no parameters: context_length does not change the "
                 "count",
            patch={"+ D + head": "+ D + head + context_length * D"}),
    Mistake(key="two_ffn_matrices", title="the FFN counted with two matrices (2·D·d_ff)",
            hint="SwiGLU has three: w1, w3 (D → d_ff) and w2 (d_ff → D)",
            patch={"3 * D * F_": "2 * D * F_"}),
)


# =========================================================================== ReLU network
RELU_NET_MISTAKES = (
    Mistake(key="slopes_not_differenced", title="each unit weighted by its segment's slope",
            hint="unit k adds to the slopes of all later segments, so its weight is the change of "
                 "slope s_k − s_(k−1)",
            patch={"jumps[None, :]": "slopes[None, :]"}),
    Mistake(key="no_intercept", title="the output bias b2 = ys[0] is missing",
            hint="every unit is 0 at xs[0], so f(xs[0]) = b2 must be ys[0]",
            patch={"ys[:1].clone()": "torch.zeros_like(ys[:1])"}),
    Mistake(key="kinks_at_right_ends", title="units switch on at the right end of each segment",
            hint="unit k must switch on at xs[k]: b1[k] = −xs[k] for k = 0..N−2",
            patch={"-xs[:-1].clone()": "-xs[1:].clone()"}),
    Mistake(key="bias_sign", title="b1 = +xs instead of −xs",
            hint="relu(x − xs[k]) is zero left of xs[k]: the bias is −xs[k]",
            patch={"-xs[:-1].clone()": "xs[:-1].clone()"}),
    Mistake(key="default_dtype_weights", title="W1 created in PyTorch's default dtype, not xs's",
            hint="torch.ones(u, 1) is float32 on the CPU whatever xs is: pass dtype=xs.dtype, "
                 "device=xs.device",
            patch={"torch.ones(len(jumps), 1, dtype=xs.dtype, device=xs.device)":
                   "torch.ones(len(jumps), 1)"}),
    Mistake(key="scalar_intercept", title="b2 returned as a 0-dim scalar instead of shape (1,)",
            hint="b2 is the bias of nn.Linear(u, 1): a tensor of shape (1,), e.g. ys[:1]",
            patch={"ys[:1].clone()": "ys[0].clone()"}),
)


# =========================================================================== previous-token head
_ASKS = "W_q[1:T, : T - 1] = gain * torch.eye(T - 1)"

HEAD_MISTAKES = (
    Mistake(key="attends_to_self", title="the head attends to the current token",
            hint="query t must match key t − 1: put the gain at W_q[t, t − 1]",
            patch={_ASKS: "W_q[:T, :T] = gain * torch.eye(T)"}),
    Mistake(key="copies_positions", title="W_v copies the position one-hot as well",
            hint="the output's position part must be 0: W_v keeps only the content block",
            patch={"W_v = torch.zeros(d_model, d_model)": "W_v = torch.eye(d_model)"}),
    Mistake(key="soft_scores", title="score gap too small: attention is a blur, not a copy",
            hint="scale W_q so that the previous token's score exceeds the others by ≳ 50 after "
                 "the 1/√d_k scaling; then its softmax weight is 1 to float64 precision",
            patch={"gain = 100.0 * math.sqrt(d_model)": "gain = 1.0 * math.sqrt(d_model)"}),
    Mistake(key="looks_ahead", title="query t matches key t + 1, which the causal mask hides",
            hint="the previous token is t − 1: W_q[t, t − 1], not W_q[t, t + 1]",
            patch={_ASKS: "W_q[: T - 1, 1:T] = gain * torch.eye(T - 1)"}),
    Mistake(key="float64_weights", title="weights returned in float64 instead of float32",
            hint="the statement asks for float32 weights; the float64 precision it asks for is "
                 "the output's, which a score gap of 50 or more delivers from float32 weights",
            patch={"    return W_q, W_k, W_v":
                   "    return W_q.double(), W_k.double(), W_v.double()"}),
)


# =========================================================================== derivations
_SILU_SLOPE = "return sigma + x * sigma * (1 - sigma)"

SILU_DERIVATIVE_MISTAKES = (
    Mistake(key="product_rule_second_term", title="σ(x) alone: the product rule's second term is "
                                                  "missing",
            hint="(x σ(x))' = 1 · σ(x) + x σ'(x): the factor σ(x) depends on x too",
            patch={_SILU_SLOPE: "return sigma"}),
    Mistake(key="sigmoid_derivative", title="σ'(x) = σ(x)(1 − σ(x)), the sigmoid's derivative",
            hint="that is the slope of σ, not of x σ(x): apply the product rule to x · σ(x)",
            patch={_SILU_SLOPE: "return sigma * (1 - sigma)"}),
    Mistake(key="product_rule_first_term", title="x σ'(x) alone: the product rule's first term is "
                                                 "missing",
            hint="(x σ(x))' = 1 · σ(x) + x σ'(x): add σ(x), the derivative of x times σ(x)",
            patch={_SILU_SLOPE: "return x * sigma * (1 - sigma)"}),
    Mistake(key="inner_derivative_sign", title="σ'(x) with the wrong sign",
            hint="d/dx (1 + e^{−x})^{−1} = e^{−x} / (1 + e^{−x})² > 0 (the chain rule's inner "
                 "derivative of e^{−x} is −e^{−x}): σ is increasing, σ' = σ(1 − σ)",
            patch={_SILU_SLOPE: "return sigma - x * sigma * (1 - sigma)"}),
)
