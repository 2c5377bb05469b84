# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 12 — Practical knowledge: real checkpoints, formats and what to read next
#
# Everything in this course so far ran on models and tokenizers we built ourselves. The models
# people actually use were trained by someone else, are stored in someone else's file format,
# and come with someone else's tokenizer. This chapter connects the course's code to that
# ecosystem, and it shows that the mathematics carries over unchanged: only names and layouts
# differ.
#
# 1. **Real checkpoints.** GPT-2 is the course GPT with three options switched (LayerNorm, a
#    GELU feed-forward layer, learned position embeddings). You load its weights, as stored by
#    Hugging Face `transformers`, into the course's model, and get the same logits.
# 2. **Real tokenizers.** A tokenizer is a vocabulary and a list of merges. Ours from Chapter 9
#    loads a vocabulary it did not create, streams a file in bounded memory, and produces the
#    same ids as `tiktoken`, the tokenizer of OpenAI's models, given the same merges.
# 3. **Formats.** Weights are data, and a pickle file is a program. `safetensors` stores tensors
#    as a JSON header and raw bytes, so opening a file cannot run code. You write the course
#    GPT to it and read it back, tied embeddings and all.
# 4. **What to read and use next** (sections 12.1 and 12.2): a dated list of the papers behind
#    each chapter and of the tools that people use in practice.
#
# ## How to work through it
#
# - Each exercise has an **answer cell** with a function, its signature and a docstring that says
#   exactly what to compute. Replace `raise NotImplementedError()` with your implementation.
# - Below each answer cell a **check cell** runs `self_check(...)` on a few quick cases and says
#   what went wrong, if anything. Do not edit or delete check cells.
# - Cells titled **Try it** call your functions; until you implement them they print a reminder.
# - Some cells use `transformers`, `tokenizers`, `tiktoken` or `safetensors`. They belong to the
#   optional extra `practice` (`pip install 'llmcourse[practice]'`: CPU-only wheels, no
#   downloads at run time). Where one is missing, the cell says so and moves on; an exercise that
#   needs it is reported "ungraded on this machine", never as passed.
#
# ## How grading works
#
# - **Only code inside answer cells is graded.** Define helpers in the same answer cell.
# - `load_gpt2_weights` is graded on GPT-2 checkpoints the grader draws at random, in
#   `transformers`' names and layout, with several configurations (tied and untied heads,
#   another feed-forward width, other activations and LayerNorm eps). Every tensor is random,
#   biases and LayerNorm gains included, so a tensor that is not loaded changes the logits.
#   The logits of your model are compared with the reference's, with a tolerance that follows
#   the dtype (`float64`, `float32`, `bfloat16`). While it is graded, `GPT` is a built-in
#   stand-in with the same constructor and parameter names as the course's.
#
# ## Conventions
#
# - A `GPT2Config` is read through its attributes: `vocab_size`, `n_positions`, `n_embd`,
#   `n_layer`, `n_head`, `n_inner` (None means $4 \cdot$ `n_embd`), `layer_norm_epsilon`,
#   `activation_function` and `tie_word_embeddings`. The grader passes an object with exactly
#   these attributes; a real `transformers.GPT2Config` has them too.
# - State-dict keys may carry the prefix `transformer.` (as `GPT2LMHeadModel` writes them) or
#   not (as `GPT2Model` does).

# %% llmcourse={"role": "setup"}
import importlib.util
import io
import json
import math
import time

import matplotlib.pyplot as plt
import torch

from autograder.kernel import self_check
from reference.blocks import GPT

torch.manual_seed(0)


def have(package):
    """Whether an optional package is installed (the extra 'practice')."""
    if importlib.util.find_spec(package) is None:
        print(f"{package} is not installed: pip install 'llmcourse[practice]' to run this cell.")
        return False
    return True


# %% [markdown]
# ## 12.A Real checkpoints: GPT-2 in the course GPT
#
# ### One architecture, two sets of names
#
# GPT-2 (Radford et al., 2019) is a decoder-only Transformer of the kind built in Chapter 6, with
# three differences from the course's default GPT:
#
# | | course GPT (default) | GPT-2 | option of `GPT(...)` |
# |---|---|---|---|
# | norm | RMSNorm | LayerNorm with bias, eps $10^{-5}$ | `norm="layer"`, `norm_eps=...` |
# | feed-forward | SwiGLU | $W_2\,\mathrm{GELU}(W_1 x + b_1) + b_2$, width $4d$ | `ffn="gelu_tanh"` |
# | positions | RoPE inside attention | a learned table $P \in \mathbb{R}^{T_{\max} \times d}$ added to the token embeddings | `positions="learned"` |
#
# GPT-2's GELU is the tanh approximation of Chapter 6,
# $\mathrm{GELU}(x) \approx \tfrac{x}{2}\bigl(1 + \tanh\bigl(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\bigr)\bigr)$,
# which `transformers` calls `"gelu_new"`. Everything else is what you built: pre-norm blocks
# $h = x + \mathrm{attn}(\mathrm{LN}_1(x))$, $y = h + \mathrm{ffn}(\mathrm{LN}_2(h))$, causal
# multi-head attention with biases, a final norm, and a head tied to the token embedding, so that
# the logit of token $v$ is $\langle h_t, E_v \rangle$.
#
# With learned positions the input to the first block is
#
# $$x_t = E_{\text{id}_t} + P_t, \qquad t = 0, \dots, T-1,$$
#
# so a model can only read sequences up to $T_{\max}$ = `n_positions` (1024 for GPT-2), and the
# table costs $T_{\max} d$ parameters. RoPE has no parameters and no such table.
#
# ### Two changes of layout
#
# **Conv1D.** GPT-2's projections are not `nn.Linear` layers but a module called `Conv1D` (a
# 1×1 convolution, written as a matrix product). It computes $y = xW + b$ with $W$ stored as
# `(in, out)`. `nn.Linear` computes $y = xW^\top + b$ with $W$ stored as `(out, in)`. So every
# projection weight must be **transposed** on the way in. Biases are vectors and stay as they
# are. For the feed-forward matrices, `(d, 4d)` versus `(4d, d)`, a forgotten transpose fails
# with a shape error. For the square attention output projection `c_proj`, `(d, d)`, nothing
# complains: the model loads, runs, and computes garbage.
#
# **Fused q, k, v.** `attn.c_attn` is one projection of width $3d$, whose output is the queries,
# then the keys, then the values: $[q \mid k \mid v] = x W_{qkv} + b_{qkv}$ with
# $W_{qkv} \in \mathbb{R}^{d \times 3d}$. Its transpose, `(3d, d)`, is three `(d, d)` blocks of
# rows, one per projection, in that order; its bias is three blocks of $d$. Each of $q$, $k$,
# $v$ is then split into $H$ heads of $d/H$ consecutive features, exactly as `split_heads` did
# in Chapter 4, so no further reordering is needed.
#
# The names, with `i` the block index (`GPT2LMHeadModel` adds the prefix `transformer.` to all
# but the head):
#
# | GPT-2 | course GPT | layout change |
# |---|---|---|
# | `wte.weight` (V, d) | `tok_emb.weight` | — |
# | `wpe.weight` (n_positions, d) | `pos_emb.weight` | — |
# | `h.i.ln_1.weight`, `.bias` | `blocks[i].norm1.weight`, `.bias` | — |
# | `h.i.attn.c_attn.weight` (d, 3d), `.bias` (3d) | `blocks[i].attn.q_proj`, `k_proj`, `v_proj` | transpose, split in three |
# | `h.i.attn.c_proj.weight` (d, d), `.bias` | `blocks[i].attn.out_proj` | transpose |
# | `h.i.ln_2.weight`, `.bias` | `blocks[i].norm2` | — |
# | `h.i.mlp.c_fc.weight` (d, 4d), `.bias` | `blocks[i].ffn.fc1` | transpose |
# | `h.i.mlp.c_proj.weight` (4d, d), `.bias` | `blocks[i].ffn.fc2` | transpose |
# | `ln_f.weight`, `.bias` | `norm_f.weight`, `.bias` | — |
# | `lm_head.weight` (V, d) | `lm_head.weight` | only if the head is untied |
#
# With a tied head, `lm_head.weight` in a GPT-2 state dict is the same tensor as `wte.weight`;
# the course GPT built with `tie_embeddings=True` already shares the embedding's parameter.

# %% [markdown]
# ### Exercise 1: `load_gpt2_weights` (3 points)
#
# Build the course `GPT` with the options GPT-2 needs, read off the configuration, and copy
# every tensor into it. Build the model in the checkpoint's dtype *before* copying: a `float64`
# checkpoint copied into `float32` parameters is silently rounded. Copy under
# `torch.no_grad()` (the parameters require gradients) with `param.copy_(value)`, which also
# checks that the shapes agree.

# %% llmcourse={"role": "answer", "exercise": "ch12.load_gpt2_weights"}
def load_gpt2_weights(state_dict, config):
    """The course GPT holding a GPT-2 checkpoint: the same logits as transformers'
    GPT2LMHeadModel with these weights.

    Args:
        state_dict: GPT-2's tensors by name, e.g. "transformer.h.0.attn.c_attn.weight" (the
            prefix "transformer." may be absent). Conv1D weights are (in, out).
        config: a GPT2Config (or an object with its attributes: vocab_size, n_positions, n_embd,
            n_layer, n_head, n_inner, layer_norm_epsilon, activation_function,
            tie_word_embeddings). activation_function is "gelu_new" (GELU, tanh approximation:
            ffn="gelu_tanh"), "gelu" (exact) or "relu".

    Returns:
        GPT(vocab_size, n_positions, n_embd, n_layer, n_head, d_ff, tie_embeddings=...,
        norm="layer", ffn=..., positions="learned", norm_eps=layer_norm_epsilon), in the dtype of
        the state dict's tensors, in eval mode, with d_ff = n_inner or 4 * n_embd.

    Shape:
        state_dict["transformer.wte.weight"]: (V, D); "...c_attn.weight": (D, 3D)
        the model: (B, T) ids -> (B, T, V) logits, T <= n_positions
    """
    ### BEGIN SOLUTION
    sd = {k.removeprefix("transformer."): v for k, v in state_dict.items()}
    D = config.n_embd
    d_ff = config.n_inner if config.n_inner is not None else 4 * D
    activation = {"gelu_new": "gelu_tanh", "gelu": "gelu", "relu": "relu"}[
        config.activation_function]
    model = GPT(config.vocab_size, config.n_positions, D, config.n_layer, config.n_head, d_ff,
                tie_embeddings=config.tie_word_embeddings, norm="layer", ffn=activation,
                positions="learned", norm_eps=config.layer_norm_epsilon)
    model = model.to(sd["wte.weight"].dtype)

    def conv1d(w):  # Conv1D stores (in, out); nn.Linear wants (out, in)
        return w.t()

    with torch.no_grad():
        model.tok_emb.weight.copy_(sd["wte.weight"])
        model.pos_emb.weight.copy_(sd["wpe.weight"])
        for i, block in enumerate(model.blocks):
            h = f"h.{i}."
            block.norm1.weight.copy_(sd[h + "ln_1.weight"])
            block.norm1.bias.copy_(sd[h + "ln_1.bias"])
            block.norm2.weight.copy_(sd[h + "ln_2.weight"])
            block.norm2.bias.copy_(sd[h + "ln_2.bias"])
            q_w, k_w, v_w = conv1d(sd[h + "attn.c_attn.weight"]).split(D, dim=0)
            q_b, k_b, v_b = sd[h + "attn.c_attn.bias"].split(D)
            attn = block.attn
            for proj, w, b in ((attn.q_proj, q_w, q_b), (attn.k_proj, k_w, k_b),
                               (attn.v_proj, v_w, v_b)):
                proj.weight.copy_(w)
                proj.bias.copy_(b)
            attn.out_proj.weight.copy_(conv1d(sd[h + "attn.c_proj.weight"]))
            attn.out_proj.bias.copy_(sd[h + "attn.c_proj.bias"])
            block.ffn.fc1.weight.copy_(conv1d(sd[h + "mlp.c_fc.weight"]))
            block.ffn.fc1.bias.copy_(sd[h + "mlp.c_fc.bias"])
            block.ffn.fc2.weight.copy_(conv1d(sd[h + "mlp.c_proj.weight"]))
            block.ffn.fc2.bias.copy_(sd[h + "mlp.c_proj.bias"])
        model.norm_f.weight.copy_(sd["ln_f.weight"])
        model.norm_f.bias.copy_(sd["ln_f.bias"])
        if not config.tie_word_embeddings:
            model.lm_head.weight.copy_(sd["lm_head.weight"])
    return model.eval()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch12.load_gpt2_weights"}
self_check("ch12.load_gpt2_weights", load_gpt2_weights)

# %%
# Try it: a small GPT-2 built by transformers (random weights, nothing downloaded), loaded into
# the course GPT. The logits agree to float64 rounding.
if have("transformers"):
    import transformers

    config = transformers.GPT2Config(vocab_size=100, n_positions=32, n_embd=48, n_layer=2,
                                     n_head=4, bos_token_id=0, eos_token_id=0)
    hf_gpt2 = transformers.GPT2LMHeadModel(config).double().eval()
    with torch.no_grad():  # fresh models have LayerNorm gains 1 and biases 0: move them
        for name, p in hf_gpt2.named_parameters():
            if "ln_" in name or name.endswith(".bias"):
                p.add_(0.3 * torch.randn_like(p))
    ids = torch.randint(0, 100, (2, 32))
    try:
        ours = load_gpt2_weights(hf_gpt2.state_dict(), config)
        with torch.no_grad():
            diff = (ours(ids) - hf_gpt2(ids).logits).abs().max().item()
        print(f"largest difference of the logits from transformers': {diff:.2e}")
    except NotImplementedError:
        print("Implement Exercise 1 first, then re-run this cell.")

# %% [markdown]
# ### With internet: the real GPT-2
#
# Nothing in this course downloads anything. On your own machine, with internet, the same
# function loads the released GPT-2 small (124M parameters), and Chapter 10's `generate` writes
# with it. The tokenizer is GPT-2's byte-level BPE, which `tiktoken` ships as `"gpt2"`.
#
# ```python
# import tiktoken
# from transformers import GPT2LMHeadModel
#
# hf = GPT2LMHeadModel.from_pretrained("gpt2")            # downloads ~550 MB once
# model = load_gpt2_weights(hf.state_dict(), hf.config)
# enc = tiktoken.get_encoding("gpt2")
# prompt = torch.tensor([enc.encode("The meaning of attention is")])
# out = generate(model, prompt, max_new_tokens=40, temperature=0.8, top_p=0.95,
#                generator=torch.Generator().manual_seed(0))   # Chapter 10's generate
# print(enc.decode(out[0].tolist()))
# ```
#
# Two checks worth doing there: `model(prompt)` equals `hf(prompt).logits` to about $10^{-5}$
# in `float32`, and the perplexity of a paragraph of ordinary English is in the tens, while the
# same paragraph with its words shuffled scores in the thousands.

# %% [markdown]
# ## 12.C Formats: weights as data
#
# ### A pickle is a program
#
# `torch.save` writes a *pickle*: a little program for Python's unpickling machine, which
# rebuilds the objects by calling functions. A pickle can name any importable function and any
# arguments, so loading a file you did not write can run code you did not see.
# `torch.load(weights_only=True)` (the default since PyTorch 2.6) limits the unpickler to an
# allow-list of harmless types, which helps, but the format is still a program that must be
# interpreted with care.
#
# ### safetensors is data
#
# A safetensors file is three things in a row:
#
# 1. $N$, an unsigned 64-bit little-endian integer;
# 2. $N$ bytes of JSON: for each tensor its `dtype` (`"F32"`, `"BF16"`, ...), its `shape`, and
#    `data_offsets` $[b, e)$, plus an optional `"__metadata__"` object of string keys and string
#    values;
# 3. the tensors' raw bytes, each row-major in its own range $[b, e)$, counted from the end of
#    the header.
#
# Reading a tensor is a seek and a copy, or no copy at all: the file can be memory-mapped and
# each tensor viewed in place, which is how large checkpoints load in seconds. Nothing is
# executed.
#
# Two consequences for the course GPT:
#
# - **The model's shape is not in the weights.** A file of tensors does not say how to build the
#   module that holds them. We store the constructor's keyword arguments, as JSON, in the
#   metadata under `"llmcourse.model_config"`.
# - **Tied weights.** With `tie_embeddings=True`, `lm_head.weight` and `tok_emb.weight` are *one*
#   `Parameter`, listed under two names by `state_dict()`. Each name in a safetensors file owns
#   its own bytes, so the file cannot say "these two are the same tensor", and
#   `safetensors.torch.save` refuses tensors that share memory instead of writing the matrix
#   twice. We store it once, under its first name in `state_dict()` order, and record the alias
#   in `"llmcourse.tied"` as `{"lm_head.weight": "tok_emb.weight"}`. Cloning it to make the error
#   go away would double the size of the file, and the loaded model would have two matrices
#   that drift apart as soon as it is trained again.
#
# ### Loading without side effects
#
# `GPT(**config)` initialises every weight randomly, drawing from the global random number
# generator, only for the values to be overwritten a moment later. That is wasted work, and it
# changes the random state of the program that loads the file: a script that loads a model and
# then samples gives different samples depending on whether it loaded the model first. Building
# the model on the **meta device** avoids both. `with torch.device("meta"): model = GPT(...)`
# creates parameters that have shapes and dtypes but no data, so nothing is computed and nothing
# is drawn. Then `model.load_state_dict(tensors, assign=True)` makes the file's tensors the
# model's parameters, dtype included, instead of copying into the meta ones (which hold no memory
# to copy into). `assign` creates a separate `Parameter` for each name, so the tie must then be
# restored, e.g. `model.lm_head.weight = model.tok_emb.weight`.

# %% [markdown]
# ### Exercise 2: `save_safetensors` (1.5 points)
#
# Store every tensor of `model.state_dict()` once, from the CPU and contiguous, in its own dtype.
# `state_dict(keep_vars=True)` returns the `Parameter` objects themselves, so a tied matrix
# shows up as the same object under a second name. Write the metadata `"format": "pt"`,
# `"llmcourse.model_config"` (the JSON of `model_config`) and `"llmcourse.tied"` (the JSON of
# `{alias: stored name}`, `{}` when nothing is tied). `file` is a path or a binary file object:
# `safetensors.torch.save` returns the bytes, and `save_file` writes a path.

# %% llmcourse={"role": "answer", "exercise": "ch12.save_safetensors"}
def save_safetensors(model, file, model_config):
    """Write the course GPT `model` to `file` in the safetensors format.

    Args:
        model: a GPT(**model_config) with its weights.
        file: a path (str or os.PathLike) or a writable binary file object.
        model_config: the keyword arguments that build the model, plain JSON values.

    The file holds each distinct tensor of model.state_dict() once, under its first name, and
    the metadata (strings): "format": "pt", "llmcourse.model_config": json.dumps(model_config),
    "llmcourse.tied": json.dumps({alias: stored name}).
    """
    ### BEGIN SOLUTION
    import json
    import os

    from safetensors.torch import save

    tensors, tied, first = {}, {}, {}
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) in first:
            tied[name] = first[id(t)]
        else:
            first[id(t)] = name
            tensors[name] = t.detach().cpu().contiguous()
    metadata = {"format": "pt", "llmcourse.model_config": json.dumps(model_config),
                "llmcourse.tied": json.dumps(tied)}
    data = save(tensors, metadata=metadata)
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            f.write(data)
    else:
        file.write(data)
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch12.save_safetensors"}
self_check("ch12.save_safetensors", save_safetensors)

# %% [markdown]
# ### Exercise 3: `load_safetensors` (1.5 points)
#
# Read the bytes (`file.read()` for a file object), the tensors with
# `safetensors.torch.load(data)`, and the metadata from the header yourself: the first 8 bytes
# are $N$ (`int.from_bytes(data[:8], "little")`) and the next $N$ are the JSON. Build the model on
# the meta device, load with `assign=True` (give each alias its stored tensor), restore each tie,
# and return the model in eval mode.

# %% llmcourse={"role": "answer", "exercise": "ch12.load_safetensors"}
def load_safetensors(file):
    """The GPT that save_safetensors wrote to `file` (a path or a readable binary file object):
    GPT(**model_config) holding the file's tensors, in their dtypes, with its ties restored (the
    alias is the same Parameter as the stored name), in eval mode. Leaves the global random
    number generator's state as it was.
    """
    ### BEGIN SOLUTION
    import json
    import os

    from safetensors.torch import load

    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            data = f.read()
    else:
        data = file.read()
    n = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8:8 + n])["__metadata__"]
    model_config = json.loads(metadata["llmcourse.model_config"])
    tied = json.loads(metadata["llmcourse.tied"])
    tensors = load(data)
    with torch.device("meta"):
        model = GPT(**model_config)
    state = dict(tensors)
    for alias, name in tied.items():
        state[alias] = tensors[name]
    model.load_state_dict(state, assign=True)
    for alias, name in tied.items():
        module, _, attr = alias.rpartition(".")
        setattr(model.get_submodule(module), attr, model.get_parameter(name))
    return model.eval()
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch12.load_safetensors"}
self_check("ch12.load_safetensors", load_safetensors)

# %%
# Try it: a round trip through a file, the header as JSON, and the size of a tied model's file.
if have("safetensors"):
    config = dict(vocab_size=1000, context_length=64, d_model=64, n_layers=2, n_heads=4, d_ff=256)
    model = GPT(**config)
    buffer = io.BytesIO()
    try:
        save_safetensors(model, buffer, config)
        data = buffer.getvalue()
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + n])
        print(f"{len(data):,} bytes, {n} of them header; metadata: {header['__metadata__']}")
        print("first entries:", {k: v for k, v in list(header.items())[:3]})
        state = torch.get_rng_state()
        loaded = load_safetensors(io.BytesIO(data))
        ids = torch.randint(0, 1000, (1, 16))
        print("same logits:", torch.equal(loaded(ids), model.eval()(ids)),
              "| head tied:", loaded.lm_head.weight is loaded.tok_emb.weight,
              "| global RNG untouched:", torch.equal(state, torch.get_rng_state()))
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{n_params:,} distinct parameters × 4 bytes = {4 * n_params:,} bytes of tensors")
    except NotImplementedError:
        print("Implement Exercises 2 and 3 first, then re-run this cell.")
