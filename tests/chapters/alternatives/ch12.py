"""Chapter 12 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F``, imports made inside the function, and the
names the notebook provides (``GPT``), which resolve to the reference here and to the grader's
stand-in in a notebook.
"""

from __future__ import annotations

import torch

from reference.blocks import GPT


# =========================================================================== GPT-2 checkpoints
def load_by_renaming(state_dict, config):
    """A renamed state dict, loaded strictly: every parameter must be named exactly once."""
    sd = {(k[len("transformer."):] if k.startswith("transformer.") else k): v
          for k, v in state_dict.items()}
    acts = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu",
            "relu": "relu"}
    width = config.n_inner or 4 * config.n_embd
    model = GPT(vocab_size=config.vocab_size, context_length=config.n_positions,
                d_model=config.n_embd, n_layers=config.n_layer, n_heads=config.n_head, d_ff=width,
                tie_embeddings=config.tie_word_embeddings, norm="layer",
                ffn=acts[config.activation_function], positions="learned",
                norm_eps=config.layer_norm_epsilon)
    new = {"tok_emb.weight": sd["wte.weight"], "pos_emb.weight": sd["wpe.weight"],
           "norm_f.weight": sd["ln_f.weight"], "norm_f.bias": sd["ln_f.bias"],
           "lm_head.weight": sd["wte.weight"] if config.tie_word_embeddings
           else sd["lm_head.weight"]}
    for i in range(config.n_layer):
        ours, theirs = f"blocks.{i}.", f"h.{i}."
        for a, b in (("norm1", "ln_1"), ("norm2", "ln_2")):
            for kind in ("weight", "bias"):
                new[f"{ours}{a}.{kind}"] = sd[f"{theirs}{b}.{kind}"]
        w = sd[theirs + "attn.c_attn.weight"]
        bias = sd[theirs + "attn.c_attn.bias"]
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            cols = slice(j * config.n_embd, (j + 1) * config.n_embd)
            new[f"{ours}attn.{name}.weight"] = w[:, cols].transpose(0, 1)
            new[f"{ours}attn.{name}.bias"] = bias[cols]
        for a, b in (("attn.out_proj", "attn.c_proj"), ("ffn.fc1", "mlp.c_fc"),
                     ("ffn.fc2", "mlp.c_proj")):
            new[f"{ours}{a}.weight"] = sd[f"{theirs}{b}.weight"].transpose(0, 1)
            new[f"{ours}{a}.bias"] = sd[f"{theirs}{b}.bias"]
    model.to(sd["wte.weight"].dtype).load_state_dict(new, strict=True)
    return model.eval()


def load_with_chunks(state_dict, config):
    """Parameters and checkpoint tensors paired in lists; q, k, v by torch.chunk and .mT."""
    def get(name):
        return state_dict[name] if name in state_dict else state_dict["transformer." + name]

    d_ff = 4 * config.n_embd if config.n_inner is None else config.n_inner
    ffn = "gelu" if config.activation_function == "gelu" else (
        "relu" if config.activation_function == "relu" else "gelu_tanh")
    model = GPT(config.vocab_size, config.n_positions, config.n_embd, config.n_layer,
                config.n_head, d_ff, config.tie_word_embeddings, "layer", ffn, "learned",
                config.layer_norm_epsilon).to(dtype=get("wte.weight").dtype)
    pairs = [(model.tok_emb.weight, get("wte.weight")), (model.pos_emb.weight, get("wpe.weight")),
             (model.norm_f.weight, get("ln_f.weight")), (model.norm_f.bias, get("ln_f.bias"))]
    if not config.tie_word_embeddings:
        pairs.append((model.lm_head.weight, state_dict["lm_head.weight"]))
    for i, blk in enumerate(model.blocks):
        p = f"h.{i}."
        qkv = torch.chunk(get(p + "attn.c_attn.weight"), 3, dim=-1)
        qkv_bias = torch.chunk(get(p + "attn.c_attn.bias"), 3)
        projs = (blk.attn.q_proj, blk.attn.k_proj, blk.attn.v_proj)
        pairs += [(lin.weight, w.mT) for lin, w in zip(projs, qkv)]
        pairs += [(lin.bias, b) for lin, b in zip(projs, qkv_bias)]
        pairs += [(blk.norm1.weight, get(p + "ln_1.weight")), (blk.norm1.bias, get(p + "ln_1.bias")),
                  (blk.norm2.weight, get(p + "ln_2.weight")), (blk.norm2.bias, get(p + "ln_2.bias")),
                  (blk.attn.out_proj.weight, get(p + "attn.c_proj.weight").mT),
                  (blk.attn.out_proj.bias, get(p + "attn.c_proj.bias")),
                  (blk.ffn.fc1.weight, get(p + "mlp.c_fc.weight").mT),
                  (blk.ffn.fc1.bias, get(p + "mlp.c_fc.bias")),
                  (blk.ffn.fc2.weight, get(p + "mlp.c_proj.weight").mT),
                  (blk.ffn.fc2.bias, get(p + "mlp.c_proj.bias"))]
    with torch.no_grad():
        for param, value in pairs:
            param.copy_(value)
    return model.eval()


GPT2_ALTERNATIVES = (load_by_renaming, load_with_chunks)

ALTERNATIVES = {
    "ch12.load_gpt2_weights": GPT2_ALTERNATIVES,
}
