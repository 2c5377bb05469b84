"""Chapter 12, real checkpoints: GPT-2's weights in the course GPT.

A GPT-2 checkpoint (``transformers``' ``GPT2LMHeadModel.state_dict()``) is the course GPT with
three options set: LayerNorm, a GELU feed-forward network (the tanh approximation, "gelu_new")
and learned position embeddings (``GPT(norm="layer", ffn="gelu_tanh", positions="learned")``).
Loading it is a renaming, with two changes of layout:

* **Conv1D.** GPT-2's projections are ``Conv1D`` modules, which compute ``x @ W + b`` with W
  stored as (in, out): the transpose of ``nn.Linear``'s (out, in). Every projection weight is
  transposed on the way in (its bias is not). For the square attention output projection a
  forgotten transpose loads without complaint and gives wrong logits.
* **Fused q, k, v.** ``attn.c_attn`` is one (D, 3D) projection whose output columns are the
  queries, then the keys, then the values; each is split into heads as D // H contiguous
  features, as ``split_heads`` does. Its transpose (3D, D) is cut into three (D, D) blocks of
  rows, in that order, and its (3D,) bias into three.

The names, with i the block (GPT-2's prefix ``transformer.`` left out)::

    wte.weight  -> tok_emb.weight             h.i.attn.c_attn  -> q_proj, k_proj, v_proj
    wpe.weight  -> pos_emb.weight             h.i.attn.c_proj  -> attn.out_proj
    h.i.ln_1    -> blocks.i.norm1             h.i.mlp.c_fc     -> ffn.fc1
    h.i.ln_2    -> blocks.i.norm2             h.i.mlp.c_proj   -> ffn.fc2
    ln_f        -> norm_f                     lm_head.weight   -> lm_head.weight (unless tied)

Supported configurations: those of the GPT-2 checkpoints (``n_inner`` None means 4·D; the
activations "gelu_new"/"gelu_pytorch_tanh", "gelu", "relu", "silu"), without
``scale_attn_by_inverse_layer_idx`` or ``reorder_and_upcast_attn``; dropout plays no part in
evaluation.
"""

from __future__ import annotations

import torch

from reference.blocks import GPT

# transformers' names of GPT-2's activations -> the course's FeedForward activations
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu",
               "relu": "relu", "silu": "silu", "swish": "silu"}


def gpt2_model_config(config) -> dict:
    """The course GPT's constructor arguments for a ``GPT2Config`` (or any object with its
    attribute names: vocab_size, n_positions, n_embd, n_layer, n_head, n_inner,
    layer_norm_epsilon, activation_function, tie_word_embeddings)."""
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if getattr(config, flag, False):
            raise ValueError(f"GPT-2 configurations with {flag}=True are not supported")
    activation = config.activation_function
    if activation not in ACTIVATIONS:
        raise ValueError(f"unsupported activation_function {activation!r} "
                         f"(one of {', '.join(ACTIVATIONS)})")
    d_model = config.n_embd
    return dict(vocab_size=config.vocab_size, context_length=config.n_positions, d_model=d_model,
                n_layers=config.n_layer, n_heads=config.n_head,
                d_ff=config.n_inner if config.n_inner is not None else 4 * d_model,
                tie_embeddings=getattr(config, "tie_word_embeddings", True), norm="layer",
                ffn=ACTIVATIONS[activation], positions="learned",
                norm_eps=config.layer_norm_epsilon)


def _strip_prefix(state_dict) -> dict:
    """GPT-2 checkpoints name their tensors with or without ``transformer.``."""
    return {k.removeprefix("transformer."): v for k, v in state_dict.items()}


@torch.no_grad()
def load_gpt2_weights(state_dict, config):
    """The course GPT holding GPT-2's weights: the same logits as ``GPT2LMHeadModel`` with this
    ``state_dict`` and ``config`` (conventions in the module docstring).

    Returns a ``GPT`` in eval mode, with the dtype of the state dict's tensors; with
    ``tie_word_embeddings`` its head is the embedding's Parameter, as in GPT-2.

    Shape:
        state_dict: GPT-2's tensors, e.g. "transformer.h.0.attn.c_attn.weight": (D, 3D)
        the model's output: (B, T, V) logits for (B, T) ids, T <= n_positions
    """
    sd = _strip_prefix(state_dict)
    model_config = gpt2_model_config(config)
    model = GPT(**model_config).to(sd["wte.weight"].dtype)  # before the copies: none is rounded
    D = model_config["d_model"]

    def put(param, value):
        if param.shape != value.shape:
            raise ValueError(f"shape {tuple(value.shape)} where {tuple(param.shape)} is needed")
        param.copy_(value)

    put(model.tok_emb.weight, sd["wte.weight"])
    put(model.pos_emb.weight, sd["wpe.weight"])
    for i, block in enumerate(model.blocks):
        h = f"h.{i}."
        for ours, theirs in ((block.norm1, "ln_1"), (block.norm2, "ln_2")):
            put(ours.weight, sd[h + theirs + ".weight"])
            put(ours.bias, sd[h + theirs + ".bias"])
        qkv_weight = sd[h + "attn.c_attn.weight"].t()  # Conv1D (D, 3D) -> (3D, D): rows q, k, v
        qkv_bias = sd[h + "attn.c_attn.bias"]  # (3D,)
        attn = block.attn
        for j, proj in enumerate((attn.q_proj, attn.k_proj, attn.v_proj)):
            put(proj.weight, qkv_weight[j * D:(j + 1) * D])
            put(proj.bias, qkv_bias[j * D:(j + 1) * D])
        for ours, theirs in ((attn.out_proj, "attn.c_proj"), (block.ffn.fc1, "mlp.c_fc"),
                             (block.ffn.fc2, "mlp.c_proj")):
            put(ours.weight, sd[h + theirs + ".weight"].t())  # Conv1D (in, out) -> (out, in)
            put(ours.bias, sd[h + theirs + ".bias"])
    put(model.norm_f.weight, sd["ln_f.weight"])
    put(model.norm_f.bias, sd["ln_f.bias"])
    if not model_config["tie_embeddings"]:
        put(model.lm_head.weight, sd["lm_head.weight"])
    return model.eval()
