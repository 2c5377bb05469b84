"""Chapter 12 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points and is named in the feedback. The alternative correct implementations are test
fixtures: ``tests/chapters/alternatives/ch12.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake

# =========================================================================== GPT-2 checkpoints
GPT2_MISTAKES = (
    Mistake(key="square_not_transposed", title="attn.c_proj loaded without the Conv1D transpose",
            hint="every Conv1D weight is (in, out): transpose it, the square attention output "
                 "projection too (a shape error warns only for the non-square ones)",
            patch={'attn.out_proj.weight.copy_(conv1d(sd[h + "attn.c_proj.weight"]))':
                   'attn.out_proj.weight.copy_(sd[h + "attn.c_proj.weight"])'}),
    Mistake(key="qkv_blocks_not_transposed",
            title="c_attn cut into q, k, v along its columns, each block left (in, out)",
            hint="transpose the (D, 3D) weight first, then cut the (3D, D) result into three "
                 "blocks of D rows",
            patch={'conv1d(sd[h + "attn.c_attn.weight"]).split(D, dim=0)':
                   'sd[h + "attn.c_attn.weight"].split(D, dim=1)'}),
    Mistake(key="qkv_order", title="the fused projection split as k, q, v",
            hint="c_attn's output is the queries, then the keys, then the values",
            patch={"q_w, k_w, v_w = conv1d": "k_w, q_w, v_w = conv1d",
                   "q_b, k_b, v_b = sd": "k_b, q_b, v_b = sd"}),
    Mistake(key="exact_gelu", title='"gelu_new" taken as the exact GELU',
            hint='"gelu_new" is the tanh approximation of GELU: ffn="gelu_tanh"',
            patch={'{"gelu_new": "gelu_tanh",': '{"gelu_new": "gelu",'}),
    Mistake(key="final_norm_skipped", title="ln_f not loaded",
            hint="the final LayerNorm (ln_f) has its own weight and bias: load them into norm_f",
            patch={'        model.norm_f.weight.copy_(sd["ln_f.weight"])\n'
                   '        model.norm_f.bias.copy_(sd["ln_f.bias"])\n': ""}),
    Mistake(key="default_eps", title="layer_norm_epsilon ignored",
            hint="pass the configuration's layer_norm_epsilon as norm_eps",
            patch={", norm_eps=config.layer_norm_epsilon)": ")"}),
    Mistake(key="always_tied", title="the head tied whatever the configuration says",
            hint="tie the head only when config.tie_word_embeddings is True; otherwise load "
                 "lm_head.weight into a head of its own",
            patch={"tie_embeddings=config.tie_word_embeddings,": "tie_embeddings=True,"}),
    Mistake(key="rounded_to_float32", title="the model left in float32 while the checkpoint is not",
            hint="build the model in the checkpoint's dtype before copying: copy_ into float32 "
                 "parameters rounds float64 weights",
            patch={'    model = model.to(sd["wte.weight"].dtype)\n': ""}),
)

# =========================================================================== safetensors
SAVE_MISTAKES = (
    Mistake(key="tie_stored_twice", title="the tied matrix stored under both names",
            hint="a tied Parameter appears twice in state_dict(): store it once and record the "
                 "alias in 'llmcourse.tied' (cloning it doubles the file and unties the model)",
            patch={"        if id(t) in first:\n": "        if False:\n",
                   "t.detach().cpu().contiguous()": "t.detach().cpu().clone()"}),
    Mistake(key="tie_not_recorded", title="the tied matrix stored once, but the tie not recorded",
            hint="record {alias: stored name} in 'llmcourse.tied', or a loader cannot know that "
                 "lm_head.weight is tok_emb.weight",
            patch={'"llmcourse.tied": json.dumps(tied)': '"llmcourse.tied": json.dumps({})'}),
    Mistake(key="no_model_config", title="the model's configuration not in the metadata",
            hint="the tensors do not say how to build the model: store json.dumps(model_config) "
                 "under 'llmcourse.model_config'",
            patch={'"llmcourse.model_config": json.dumps(model_config),\n                ': ""}),
)

LOAD_MISTAKES = (
    Mistake(key="built_with_random_init", title="the model built with its random initialisation",
            hint="GPT(**config) draws every initial weight from the global generator; build it "
                 "under torch.device('meta') and load with assign=True",
            patch={'    with torch.device("meta"):\n        model = GPT(**model_config)\n':
                   "    model = GPT(**model_config)\n"}),
    Mistake(key="tie_not_restored", title="the tie not restored after loading",
            hint="load_state_dict(assign=True) gives the alias a Parameter of its own: set "
                 "model.lm_head.weight = model.tok_emb.weight again",
            patch={"        model.lm_head.weight = model.tok_emb.weight\n": "        pass\n"}),
    Mistake(key="left_in_training_mode", title="the model returned in training mode",
            hint="return model.eval(): a loaded model is for inference",
            patch={"    return model.eval()": "    return model"}),
)

# =========================================================================== capstone
CAPSTONE_MISTAKES = (
    # 1e-4 was not wrong enough: on a quiet machine the planned run has steps enough to reach
    # the margin with it (seen once in CI); with 1e-5 Adam moves no weight by more than ~0.05
    Mistake(key="lr_too_small", title="a learning rate of 1e-5",
            hint="with a few hundred steps, a small model needs a peak learning rate around "
                 "1e-3 to 1e-2 (Chapter 8): watch the validation loss approach the floor",
            patch={"lr=1e-2, min_lr=1e-3": "lr=1e-5, min_lr=1e-6"}),
    Mistake(key="steps_per_second", title="the throughput counted in steps, not tokens",
            hint="tokens per second = steps × batch size × context / seconds",
            patch={"tokens_per_second = steps * batch_size * context / (time.perf_counter() - t0)":
                   "tokens_per_second = steps / (time.perf_counter() - t0)"}),
    Mistake(key="samples_as_list", title="the samples returned as a Python list",
            hint="return the tensor generate gave (2-D int64); convert to a list only to print",
            patch={'"samples": samples,': '"samples": samples.tolist(),'}),
)
