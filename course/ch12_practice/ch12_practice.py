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
# 4. **A capstone.** Your model, training loop and sampler from Chapters 6, 9 and 10, assembled
#    into one run under a time budget, must get within 0.15 nats of the data's entropy floor.
# 5. **What to read and use next** (sections 12.1 and 12.2): a dated list of the papers behind
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
# - `save_safetensors` and `load_safetensors` are graded on the course GPT (tied and untied
#   heads, and GPT-2's options) in the same dtypes. A file you save is read back by the grader's
#   own safetensors reader into a fresh model; a loader gets a file the grader wrote. Besides the
#   logits, these are compared exactly: the number of tensors stored, the metadata, the tie after
#   loading, eval mode, and the global random number generator's state, which loading must
#   leave as it was. They need the package `safetensors`.
# - The capstone is graded by what it achieves, measured by the grader: the loss of your model on
#   held-out text, the wall time, the key/value cache, and the report (details at Exercise 4).
#
# ## Conventions
#
# - A `GPT2Config` is read through its attributes: `vocab_size`, `n_positions`, `n_embd`,
#   `n_layer`, `n_head`, `n_inner` (None means $4 \cdot$ `n_embd`), `layer_norm_epsilon`,
#   `activation_function` and `tie_word_embeddings`. The grader passes an object with exactly
#   these attributes; a real `transformers.GPT2Config` has them too.
# - State-dict keys may carry the prefix `transformer.` (as `GPT2LMHeadModel` writes them) or
#   not (as `GPT2Model` does).
# - Letters follow the course's [notation](../../docs/NOTATION.md): $V$ the vocabulary, $D$ the
#   model width (`n_embd`), $H$ heads of size $E = D/H$, $P$ positions of a learned table
#   (`n_positions`), $T$ a sequence length, $W_E$ the token embedding. Any other count is written
#   in lower case and defined where it is used.

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

_ = torch.manual_seed(0)  # the figures and "Try it" cells draw the same numbers every run


def have(package):
    """Whether an optional package is installed (the extra 'practice')."""
    if importlib.util.find_spec(package) is None:
        print(f"{package} is not installed: pip install 'llmcourse[practice]' to run this cell.")
        return False
    return True


# %% [markdown]
# ## A. Real checkpoints: GPT-2 in the course GPT
#
# ### One architecture, two sets of names
#
# GPT-2 (Radford et al., 2019) is a decoder-only Transformer of the kind built in Chapter 6, with
# three differences from the course's default GPT:
#
# | | course GPT (default) | GPT-2 | option of `GPT(...)` |
# |---|---|---|---|
# | norm | RMSNorm | LayerNorm with bias, eps $10^{-5}$ | `norm="layer"`, `norm_eps=...` |
# | feed-forward | SwiGLU | $W_2\,\mathrm{GELU}(W_1 x + b_1) + b_2$, width $4D$ | `ffn="gelu_tanh"` |
# | positions | RoPE inside attention | a learned table $W_{\text{pos}} \in \mathbb{R}^{P \times D}$ added to the token embeddings | `positions="learned"` |
#
# GPT-2's GELU is the tanh approximation of Chapter 6,
# $\mathrm{GELU}(x) \approx \tfrac{x}{2}\bigl(1 + \tanh\bigl(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\bigr)\bigr)$,
# which `transformers` calls `"gelu_new"`. Everything else is what you built: pre-norm blocks
# $h = x + \mathrm{attn}(\mathrm{LN}_1(x))$, $y = h + \mathrm{ffn}(\mathrm{LN}_2(h))$, causal
# multi-head attention with biases, a final norm, and a head tied to the token embedding, so that
# the logit of token $v$ is $\langle h_t, (W_E)_v \rangle$, row $v$ of the embedding $W_E$.
#
# With learned positions the input to the first block is
#
# $$x_t = (W_E)_{\text{id}_t} + (W_{\text{pos}})_t, \qquad t = 0, \dots, T-1,$$
#
# so a model can only read sequences of $T \le P$ = `n_positions` tokens (1024 for GPT-2), and
# the table costs $P D$ parameters. RoPE has no parameters and no such table.
#
# ### Two changes of layout
#
# **Conv1D.** GPT-2's projections are not `nn.Linear` layers but a module called `Conv1D` (a
# 1×1 convolution, written as a matrix product). It computes $y = xW + b$ with $W$ stored as
# `(in, out)`. `nn.Linear` computes $y = xW^\top + b$ with $W$ stored as `(out, in)`. So every
# projection weight must be **transposed** on the way in. Biases are vectors and stay as they
# are. For the feed-forward matrices, `(D, 4D)` versus `(4D, D)`, a forgotten transpose fails
# with a shape error. For the square attention output projection `c_proj`, `(D, D)`, nothing
# complains: the model loads, runs, and computes garbage.
#
# **Fused q, k, v.** `attn.c_attn` is one projection of width $3D$, whose output is the queries,
# then the keys, then the values: $[q \mid k \mid v] = x W_{qkv} + b_{qkv}$ with
# $W_{qkv} \in \mathbb{R}^{D \times 3D}$. Its transpose, `(3D, D)`, is three `(D, D)` blocks of
# rows, one per projection, in that order; its bias is three blocks of $D$. Each of $q$, $k$,
# $v$ is then split into $H$ heads of $E = D/H$ consecutive features, exactly as `split_heads` did
# in Chapter 4, so no further reordering is needed.
#
# The names, with `i` the block index (`GPT2LMHeadModel` adds the prefix `transformer.` to all
# but the head):
#
# | GPT-2 | course GPT | layout change |
# |---|---|---|
# | `wte.weight` (V, D) | `tok_emb.weight` | — |
# | `wpe.weight` (P, D) | `pos_emb.weight` | — |
# | `h.i.ln_1.weight`, `.bias` | `blocks[i].norm1.weight`, `.bias` | — |
# | `h.i.attn.c_attn.weight` (D, 3D), `.bias` (3D) | `blocks[i].attn.q_proj`, `k_proj`, `v_proj` | transpose, split in three |
# | `h.i.attn.c_proj.weight` (D, D), `.bias` | `blocks[i].attn.out_proj` | transpose |
# | `h.i.ln_2.weight`, `.bias` | `blocks[i].norm2` | — |
# | `h.i.mlp.c_fc.weight` (D, 4D), `.bias` | `blocks[i].ffn.fc1` | transpose |
# | `h.i.mlp.c_proj.weight` (4D, D), `.bias` | `blocks[i].ffn.fc2` | transpose |
# | `ln_f.weight`, `.bias` | `norm_f.weight`, `.bias` | — |
# | `lm_head.weight` (V, D) | `lm_head.weight` | only if the head is untied |
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
# in `float32`, and the perplexity of a paragraph of ordinary English is far lower than that of
# the same paragraph with its words shuffled: the model has learned word order, not only which
# words are frequent.

# %% [markdown]
# ## B. Real tokenizers: a vocabulary is data
#
# Chapter 9's byte-level BPE is two tables: a **vocabulary**, id → byte string, and a ranked list
# of **merges**, pairs of byte strings. Encoding splits the text into pre-tokens with a regular
# expression, writes each pre-token as the ids of its single bytes, and then repeatedly merges
# the adjacent pair of lowest rank. Nothing in this depends on who trained the tables, with one
# trap: which id does a single byte have?
#
# Our own `train_bpe` gives byte $b$ the id $b$, so an encoder could simply start from the byte
# values. A foreign vocabulary need not. GPT-2's gives the 188 printable bytes the ids 0 to
# 187, in byte order, and the 68 others the ids 188 to 255: the space, byte 32, has id 220, and
# "!", byte 33, has id 0. An encoder that
# starts from raw byte values then looks up pairs that do not exist and returns the byte ids:
# "the cat" as seven tokens instead of two. The fix is to look each byte up in the vocabulary,
# `bytes_to_id[bytes([b])]`, as Chapter 9's statement now asks.
#
# ### Two definitions of "apply the merges"
#
# Our encoder merges the adjacent **pair** of lowest merge rank. `tiktoken` (the tokenizer of
# OpenAI's models) stores no merges at all: it ranks **byte strings**, and merges the adjacent
# pair whose *concatenation* has the lowest rank. The two agree when every token is produced by
# exactly one merge, which holds for every vocabulary `train_bpe` learns (the platform's tests
# check it on many texts and vocabulary sizes). A hand-made merge list can break it: with the
# merges $(b, c)$, $(a, b)$, $(ab, c)$, our rule turns "abc" into $[a, bc]$, while tiktoken sees
# that $a + bc$ spells the ranked string "abc" and returns one token.
#
# ### One pattern, two regex engines
#
# A tokenizer is also its pre-tokenization pattern, and a pattern means what its regex engine
# says. Our `PRETOKENIZE` runs in Python's `re`; tiktoken runs patterns in a Rust engine. Their
# `\w` differ: Rust's includes combining marks (the accent of a "é" written as "e" + U+0301),
# zero-width joiners and a few others, while Python's includes digits such as "²" and "½". Passed
# verbatim, the same pattern splits "café" written with a combining accent differently in the
# two. `reference.data.PRETOKENIZE_PORTABLE` spells Python's classes out (`[\p{L}\p{N}_]` for
# `\w`), and with it tiktoken reproduces our ids exactly.
#
# ### Streaming
#
# A tokenizer for a corpus cannot read the corpus into memory. `BPETokenizer.encode_iterable`
# takes an iterable of strings (an open file yields its lines) and yields ids as it goes. The
# subtle part is the boundary between chunks: the last pre-token of a chunk may continue in the
# next one, and `\s+(?!\S)` decides where a run of spaces ends by looking at the character after
# it. So the encoder only emits the pre-tokens that the rest of the input can no longer change,
# and keeps the tail. The result equals `encode` of the whole text, with memory bounded by one
# chunk plus the longest pre-token.

# %%
# Try it: our BPE, trained on a generated multilingual text, against tiktoken built from the same
# ranks; a streamed encoding; and encoding speed.
from reference.data import (  # noqa: E402
    PRETOKENIZE_PORTABLE,
    BPETokenizer,
    multilingual_text,
    train_bpe,
)

text = multilingual_text(200_000, seed=0)
vocab, merges = train_bpe(text, 600)
bpe = BPETokenizer(vocab, merges)
sample = multilingual_text(20_000, seed=1)
ids = bpe.encode(sample)
print(f"{len(sample):,} characters -> {len(ids):,} tokens; first: {ids[:12]}")
print("streamed line by line, the same ids:",
      list(bpe.encode_iterable(io.StringIO(sample))) == ids)
if have("tiktoken"):
    import tiktoken

    enc = tiktoken.Encoding(name="course-bpe", pat_str=PRETOKENIZE_PORTABLE,
                            mergeable_ranks={vocab[i]: i for i in range(len(vocab))},
                            special_tokens={})
    print("tiktoken, same ranks and the portable pattern, the same ids:",
          enc.encode_ordinary(sample) == ids)
    big = multilingual_text(1_000_000, seed=2)
    for name, encode in (("ours", BPETokenizer(vocab, merges).encode),
                         ("tiktoken", enc.encode_ordinary)):
        t0 = time.perf_counter()
        encode(big)
        print(f"{name:9s} {len(big.encode()) / (time.perf_counter() - t0) / 1e6:5.2f} MB/s")

# %%
# Try it: what a text costs in tokens. The same BPE with only its first m merges (vocabulary
# 256 + m), on the words of each script of the sample: characters per token. With bytes alone a
# token is a whole Latin letter but half a Greek, Cyrillic or Arabic one and a third of a CJK
# character. Merges win some of that back, but not all: the same sentence costs more tokens,
# hence more compute and money (Chapter 11), in some languages than in others.
import unicodedata  # noqa: E402


def script_of(word):
    for ch in word:
        name = unicodedata.name(ch, "")
        for script in ("LATIN", "GREEK", "CYRILLIC", "ARABIC", "CJK"):
            if name.startswith(script):
                return script
    return None


words_by_script = {}
for word in sample.split():
    if script_of(word):
        words_by_script.setdefault(script_of(word), []).append(word)
merge_counts = [0, 25, 50, 100, 200, 344]  # 344: every merge of the 600-token vocabulary
fig, ax = plt.subplots(figsize=(7, 3.4))
for script, words in sorted(words_by_script.items()):
    piece = " ".join(words)
    costs = []
    for m in merge_counts:
        sub = {i: vocab[i] for i in range(256 + m)}
        costs.append(len(piece) / len(BPETokenizer(sub, merges[:m]).encode(piece)))
    name = {"LATIN": "Latin, with accents", "CJK": "CJK"}.get(script, script.title())
    ax.plot([256 + m for m in merge_counts], costs, "o-", label=f"{name} "
            f"({len(piece.encode()) / len(piece):.1f} bytes/char)")
ax.set(xlabel="vocabulary size (256 bytes + merges)", ylabel="characters per token",
       title="how much text a token carries, by script")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## C. Formats: weights as data
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
# 1. $n$, an unsigned 64-bit little-endian integer;
# 2. $n$ bytes of JSON: for each tensor its `dtype` (`"F32"`, `"BF16"`, ...), its `shape`, and
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
# are $n$ (`int.from_bytes(data[:8], "little")`) and the next $n$ are the JSON. Build the model on
# the meta device, load with `assign=True` (give each alias its stored tensor), restore the tie
# (the course GPT has one: `lm_head.weight` is `tok_emb.weight`), and return the model in eval
# mode.

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
    if tied:  # the course GPT's one tie: assign gave the head a Parameter of its own
        model.lm_head.weight = model.tok_emb.weight
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
        untouched = torch.equal(state, torch.get_rng_state())
        ids = torch.randint(0, 1000, (1, 16))
        print("same logits:", torch.equal(loaded(ids), model.eval()(ids)),
              "| head tied:", loaded.lm_head.weight is loaded.tok_emb.weight,
              "| global RNG untouched by loading:", untouched)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{n_params:,} distinct parameters × 4 bytes = {4 * n_params:,} bytes of tensors")
    except NotImplementedError:
        print("Implement Exercises 2 and 3 first, then re-run this cell.")

# %% [markdown]
# ## D. Capstone: one model, one loop, one sampler, one budget
#
# The capstone puts the course's parts together the way a real project does: a model (Chapter 6's
# GPT), a training loop (Chapter 9's `train`), a sampler (Chapter 10's `generate`), and a fixed
# amount of compute. The data is a Markov source of the kind used since Chapter 1, so the best
# possible loss is known exactly: the entropy rate $\mathcal{H}$ of the source (Chapter 2). A model
# that has learned the source gets a held-out loss close to $\mathcal{H}$; no model can go below it,
# except by chance on a finite sample.
#
# ### Planning a run to a budget
#
# A cosine schedule (Chapter 8) must know its length $n_{\text{steps}}$ before the first step, so
# a run under a time budget $t_{\text{budget}}$ has to predict how many steps fit. Measure it: run
# a few steps of a throwaway copy of the model, read the time per step $t_{\text{step}}$ from the
# loop's own throughput record (the first step pays one-time costs, so use the later ones), and
# plan
#
# $$n_{\text{steps}} = \Bigl\lfloor \rho \,
#   \frac{t_{\text{budget}} - t_{\text{spent}}}{t_{\text{step}}} \Bigr\rfloor,$$
#
# with a share $\rho < 1$ that leaves time for the evaluations inside the loop, for sampling, and
# for a machine that gets slower because a neighbour starts working. This is the small version of
# how large runs are planned: their compute $C \approx 6\,N D_{\text{tok}}$ (Chapter 11) is fixed in
# advance, and the model size and token count are chosen to fit it (Chapter 8's scaling laws).
#
# ### What the report contains
#
# `capstone` returns a dictionary: the trained `model`; the `history` that `train` returned (the
# training loss per step and the validation loss per evaluation); `samples`, continuations of a
# few prompts; and `tokens_per_second`, the training throughput: tokens processed (steps ×
# batch size × context) per second of training.
#
# ### Exercise 4: `capstone` (4 points)
#
# Use the names `GPT`, `TrainConfig`, `train` and `generate`. The cell below sets them to the
# course's reference implementations; paste your own from Chapters 6, 9 and 10 there to run the
# capstone on your own parts. While the capstone is graded, the grader's built-in versions stand
# in for all four, so a bug in an earlier chapter is not charged twice.
#
# **How it is graded.** The grader draws a Markov source (8 symbols, order 1), gives your function
# 100 000 training tokens, 10 000 validation tokens and a budget of 8 seconds, and then measures:
#
# - the loss of the returned model on 16 384 held-out tokens it never showed you, in windows of
#   32 tokens (the model must accept 32 positions), scoring the predictions from the fifth
#   position of each window on: it must be within **0.15 nats** of the entropy floor;
# - the wall time of the call: at most three times the budget (so that a machine that gets busy
#   does not fail a well-planned run, while a run that ignores the budget does fail);
# - greedy decoding from the returned model with and without the key/value cache: the same tokens;
# - the report: all four keys, `history` with finite `train_loss` and `val_loss` lists,
#   `samples` a 2-D `int64` tensor of valid ids, and `tokens_per_second` within a factor of 3 of
#   the loop's own measurement (`history["tokens_per_s"]`).

# %%
# Your parts. By default the course's reference implementations: replace any of these lines by
# your own class or function from Chapters 6, 9 and 10 to run the capstone on your own parts.
from reference.blocks import GPT  # noqa: E402 - Chapter 6
from reference.decoding import generate  # noqa: E402 - Chapter 10
from reference.train import TrainConfig, train  # noqa: E402 - Chapter 9

# %% llmcourse={"role": "answer", "exercise": "ch12.capstone"}
def capstone(train_tokens, val_tokens, budget_seconds):
    """Train a GPT on `train_tokens` within `budget_seconds` of wall time, and report on it.

    Args:
        train_tokens, val_tokens: (n,) int64 token streams over ids 0 .. V-1.
        budget_seconds: the wall time the whole call should take (training, evaluation,
            sampling).

    Returns:
        {"model": the trained GPT (eval mode, context_length >= 32),
         "history": the dict train returned,
         "samples": a 2-D int64 tensor of generated ids,
         "tokens_per_second": training tokens per second (a float)}
    """
    ### BEGIN SOLUTION
    import copy
    import time

    start = time.perf_counter()
    context, batch_size = 32, 32
    vocab_size = int(max(train_tokens.max(), val_tokens.max())) + 1
    model = GPT(vocab_size, context, d_model=32, n_layers=2, n_heads=4, d_ff=128)

    def config(steps, eval_batches=4, log_interval=10):
        return TrainConfig(max_steps=steps, batch_size=batch_size, context_length=context,
                           lr=1e-2, min_lr=1e-3, warmup_steps=max(1, steps // 10),
                           eval_interval=max(1, steps // 4), eval_batches=eval_batches,
                           device="cpu", dtype="float32", log_interval=log_interval,
                           peak_flops=math.inf, progress=False)

    # time 6 steps of a copy; the second half of them, past the first step's one-time costs
    probe = train(copy.deepcopy(model), train_tokens, val_tokens,
                  config(6, eval_batches=1, log_interval=3))
    seconds_per_step = batch_size * context / probe["tokens_per_s"][-1]
    left = budget_seconds - (time.perf_counter() - start)
    steps = max(10, int(0.8 * left / seconds_per_step))

    t0 = time.perf_counter()
    history = train(model, train_tokens, val_tokens, config(steps))
    tokens_per_second = steps * batch_size * context / (time.perf_counter() - t0)
    model.eval()
    prompts = val_tokens[:16].reshape(2, 8)
    samples = generate(model, prompts, context - 8, temperature=1.0,
                       generator=torch.Generator().manual_seed(0))
    return {"model": model, "history": history, "samples": samples,
            "tokens_per_second": tokens_per_second}
    ### END SOLUTION


# %% llmcourse={"role": "check", "exercise": "ch12.capstone"}
self_check("ch12.capstone", capstone)

# %%
# Try it: the capstone on a harder source (16 symbols, order 2: the next token depends on the
# two before it, so the model must use attention), with a budget of 60 seconds, and its report.
from reference.data import synthetic_corpus  # noqa: E402

corpus = synthetic_corpus(vocab_size=16, order=2, n_train=200_000, n_val=20_000, seed=0)
try:
    t0 = time.perf_counter()
    report = capstone(corpus.train, corpus.val, budget_seconds=60)
    seconds = time.perf_counter() - t0
    model, history = report["model"], report["history"]
    with torch.no_grad():  # the held-out loss, as the grader measures it
        x = corpus.val[: 32 * 600].view(600, 32)
        y = corpus.val[1: 32 * 600 + 1].view(600, 32)
        logp = torch.log_softmax(model(x).double(), -1).gather(-1, y[..., None])[..., 0]
        held_out = -logp[:, 4:].mean().item()
    print(f"{seconds:.1f} s for a budget of 60 s; {len(history['train_loss'])} steps; "
          f"{report['tokens_per_second']:,.0f} tokens/s")
    print(f"held-out loss {held_out:.3f} nats; entropy floor {corpus.entropy_rate:.3f}; "
          f"excess {held_out - corpus.entropy_rate:.3f}")
    with torch.no_grad():
        prompt = corpus.val[:8][None]
        same = torch.equal(generate(model, prompt, 16, temperature=0, use_cache=True),
                           generate(model, prompt, 16, temperature=0, use_cache=False))
    print("greedy decoding with and without the cache agree:", same)
    for row in report["samples"]:
        print("sample:", " ".join(str(int(t)) for t in row))

    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.plot(history["step"], history["train_loss"], lw=0.8, label="training loss (per step)")
    ax.plot(history["val_step"], history["val_loss"], "o-", label="validation loss")
    ax.axhline(corpus.entropy_rate, color="k", ls="--", label="entropy floor")
    ax.axhline(corpus.entropy_rate + 0.15, color="gray", ls=":", label="floor + 0.15")
    ax.set(xlabel="step", ylabel="nats per token", ylim=(corpus.entropy_rate - 0.2, 3.0),
           title="the capstone's run")
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    print("Implement Exercise 4 first, then re-run this cell.")

# %% [markdown]
# ## 12.1 Next steps for deepening understanding
#
# *This list is dated December 2026. The versions named in 12.2 are the ones this course was
# tested with; newer releases usually work, but check their release notes where an API is named.*
#
# Each chapter of the course rests on a few papers or books. Below are one or two for each, cited
# by first author, year and title, with a line on what to take from them now that you have
# implemented the mathematics yourself. The originals are worth reading for what a course leaves
# out: the experiments, the alternatives their authors tried, and the arguments they found
# convincing at the time.
#
# **Chapter 1, probability and language models**
# - Bengio et al. (2003), *A Neural Probabilistic Language Model*. The step from counting n-grams
#   to learned word vectors and a softmax over the vocabulary, with the argument for why it
#   generalizes to word sequences never seen in training.
# - Kneser and Ney (1995), *Improved Backing-off for M-gram Language Modeling*. Where the
#   continuation count comes from: a lower-order model should predict words that follow many
#   different contexts, not words that are merely frequent.
#
# **Chapter 2, information theory**
# - Shannon (1948), *A Mathematical Theory of Communication*. Entropy, the entropy rate of a
#   Markov source and the source coding theorem in the paper that defined them; its sequence of
#   letter and word approximations to English is an early n-gram language model.
# - Cover and Thomas (2006), *Elements of Information Theory* (2nd edition). The proofs behind
#   Chapter 2: Gibbs' inequality, the chain rules, entropy rates, the optimality of Huffman codes.
#
# **Chapter 3, embeddings**
# - Mikolov et al. (2013), *Efficient Estimation of Word Representations in Vector Space*, and
#   Mikolov et al. (2013), *Distributed Representations of Words and Phrases and their
#   Compositionality*. Skip-gram and the analogy test in the first; negative sampling, the
#   subsampling of frequent words and the unigram$^{3/4}$ noise distribution in the second.
# - Levy and Goldberg (2014), *Neural Word Embedding as Implicit Matrix Factorization*. Why
#   skip-gram with $k$ negative samples factorizes PMI shifted by $\log k$: the bridge between the
#   chapter's count-based and trained embeddings.
#
# **Chapter 4, attention**
# - Bahdanau et al. (2015), *Neural Machine Translation by Jointly Learning to Align and
#   Translate*. Attention before the Transformer: a learned score, a softmax over source positions
#   and a weighted sum, added to a recurrent translation model.
# - Vaswani et al. (2017), *Attention Is All You Need*. Scaled dot-product and multi-head
#   attention, the variance argument for $1/\sqrt{d_k}$, and the encoder–decoder architecture of
#   which today's language models keep the decoder.
#
# **Chapter 5, positional encodings**
# - Su et al. (2021), *RoFormer: Enhanced Transformer with Rotary Position Embedding*. The
#   derivation of RoPE from the requirement that a score depend only on the offset, in the same
#   complex form the chapter uses.
# - Press et al. (2022), *Train Short, Test Long: Attention with Linear Biases Enables Input
#   Length Extrapolation*. ALiBi's geometric head slopes, and experiments on sequences longer
#   than any seen in training.
#
# **Chapter 6, Transformer blocks**
# - Ba et al. (2016), *Layer Normalization*, and Zhang and Sennrich (2019), *Root Mean Square
#   Layer Normalization*. The two norms of Chapter 6 that every block applies; the second argues
#   that re-centering can be dropped at little cost.
# - Shazeer (2020), *GLU Variants Improve Transformer*. SwiGLU and its relatives, compared at an
#   equal parameter count by shrinking the hidden width to two thirds of the usual one.
#
# **Chapter 7, efficiency**
# - Dao et al. (2022), *FlashAttention: Fast and Memory-Efficient Exact Attention with
#   IO-Awareness*. The tiling and online softmax you implemented, with the count of memory
#   accesses that explains why an algorithm doing the same FLOPs runs faster.
# - Shazeer (2019), *Fast Transformer Decoding: One Write-Head is All You Need*, and Ainslie et al.
#   (2023), *GQA: Training Generalized Multi-Query Transformer Models from Multi-Head
#   Checkpoints*. Why incremental decoding is limited by loading keys and values, and how sharing
#   them across heads shrinks the cache; GQA also converts a multi-head checkpoint.
# - Wang et al. (2020), *Linformer: Self-Attention with Linear Complexity*. Projecting keys and
#   values along the sequence axis, and the argument that the attention matrix is nearly low rank.
#
# **Chapter 8, loss, optimization and scaling laws**
# - Kingma and Ba (2015), *Adam: A Method for Stochastic Optimization*, and Loshchilov and Hutter
#   (2019), *Decoupled Weight Decay Regularization*. Adam's bias correction, and why weight decay
#   belongs outside the adaptive step: the difference between Adam with L2 and AdamW.
# - Kaplan et al. (2020), *Scaling Laws for Neural Language Models*, and Hoffmann et al. (2022),
#   *Training Compute-Optimal Large Language Models*. Power laws in parameters, data and compute,
#   and two different answers to how to split a budget between them; compare their methods.
# - Belkin et al. (2019), *Reconciling modern machine-learning practice and the classical
#   bias–variance trade-off*. The double-descent curve and the interpolation threshold behind it.
#
# **Chapter 9, training at scale**
# - Sennrich et al. (2016), *Neural Machine Translation of Rare Words with Subword Units*. BPE as
#   a vocabulary: merge the most frequent adjacent pair, repeat. Radford et al. (2019), *Language
#   Models are Unsupervised Multitask Learners* (the GPT-2 report), starts the merges from bytes.
# - Shoeybi et al. (2019), *Megatron-LM: Training Multi-Billion Parameter Language Models Using
#   Model Parallelism*, and Rajbhandari et al. (2020), *ZeRO: Memory Optimizations Toward Training
#   Trillion Parameter Models*. What to do when data parallelism is not enough: split each matrix
#   product across GPUs, or shard optimizer state, gradients and parameters, not copy them.
#
# **Chapter 10, applications: decoding and metrics**
# - Holtzman et al. (2020), *The Curious Case of Neural Text Degeneration*. Why the most likely
#   continuation reads badly, and the evidence for truncating to the nucleus before sampling.
# - Leviathan et al. (2023), *Fast Inference from Transformers via Speculative Decoding*. The
#   accept/reject rule that makes a draft model's proposals follow the target model exactly.
# - Papineni et al. (2002), *BLEU: a Method for Automatic Evaluation of Machine Translation*, and
#   Lin (2004), *ROUGE: A Package for Automatic Evaluation of Summaries*. The metrics as their
#   authors defined them, and how they checked them against human judgments.
#
# **Chapter 11, cost, quantization and bias**
# - Dettmers et al. (2022), *LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale*.
#   The outlier features that appear in large models and break plain absmax quantization, and the
#   mixed-precision decomposition you implemented to handle them.
# - Kwon et al. (2023), *Efficient Memory Management for Large Language Model Serving with
#   PagedAttention*. The key/value cache as the memory that limits serving, managed in pages.
# - Caliskan et al. (2017), *Semantics derived automatically from language corpora contain
#   human-like biases*, and Hardt et al. (2016), *Equality of Opportunity in Supervised Learning*.
#   WEAT and its permutation test; equalized odds, and a post-processing that achieves it.

# %% [markdown]
# ## 12.2 Tools, libraries and practical resources
#
# For each tool: what it is for, and when a student of this course would reach for it. Versions
# in parentheses are those the course was tested with (December 2026).
#
# - **PyTorch** (2.13). The whole course. Two functions to know next:
#   `torch.nn.functional.scaled_dot_product_attention`, the fused attention that Chapter 7 timed
#   your kernel against, which picks a FlashAttention-style or memory-efficient kernel where the
#   hardware allows; and `torch.compile`, which traces a model and generates fused kernels
#   (in Triton, on GPUs). Reach for it once a model is correct and you want it faster.
# - **Triton**. GPU kernels written in Python, at the level of blocks of a tensor rather than
#   single threads. Chapter 7's FlashAttention exercise is written in it; reach for it when an
#   operation you need is not fused by PyTorch. Its tutorials build up to a fused attention.
# - **FlashAttention** (the `flash-attn` library). Production CUDA kernels for the algorithm of
#   Chapter 7, forward and backward. Read it after your own tiled version to see what the last
#   factor of speed takes; install it when SDPA lacks a feature you need.
# - **Hugging Face `transformers`** (5.25). Model definitions and pretrained checkpoints for most
#   open models. This chapter loads GPT-2's weights into the course GPT; reading
#   `modeling_gpt2.py` next to `reference/blocks.py` shows the same block under other names (note
#   that GPT-2's checkpoint stores projections as `(in, out)`, the transpose of `nn.Linear`).
# - **`tokenizers`** (0.23). BPE and other subword tokenizers, trained and applied in Rust with
#   Python bindings. Reach for it when Chapter 9's BPE is too slow for a real corpus.
# - **`tiktoken`** (0.14). Fast BPE encoding with OpenAI's published vocabularies (`gpt2`,
#   `cl100k_base`, ...); built for encoding, not for training. This chapter checks our tokenizer
#   against an encoding that `tiktoken` builds from our own merges (Part B).
# - **`safetensors`** (0.8). A weight file format: a JSON header followed by raw tensor bytes,
#   loaded without unpickling, so opening a file cannot run code. Use it to save and share weights;
#   a pickled checkpoint from an unknown source is a program, not data.
# - **vLLM**. A serving engine: the paged key/value cache of Kwon et al. (2023) and continuous
#   batching, which admits and retires requests at every decoding step. Reach for it to serve a
#   model to many users, or to see Chapter 11's cost arithmetic on real hardware.
# - **`torch.distributed` and FSDP**. Chapter 9's `dist.all_reduce` is the primitive;
#   `DistributedDataParallel` overlaps it with the backward pass, and FSDP shards parameters,
#   gradients and optimizer state across ranks, as ZeRO does. Reach for them when a model or its
#   optimizer state no longer fits on one GPU.
#
# For teachers, the tools this course is graded with:
#
# - **JupyterHub**. A multi-user Jupyter server that gives each student their own JupyterLab; the
#   usual way to host the assignments for a class.
# - **nbgrader**. Release, collection, autograding, manual grading in formgrader, feedback and a
#   gradebook; `llmcourse course init` sets up its course directory, and `llmcourse grade` writes
#   sandboxed scores into the same gradebook.
# - **otter-grader**. Notebooks with `grader.check(...)` cells and a Gradescope autograder, both
#   generated by `llmcourse otter` from the same source.

# %% [markdown]
# ### How to keep going
#
# Pick one paper from 12.1 that the course did not implement in full, and re-implement it in the
# course's style. Write a plain reference first, in float64 where precision matters. Test it
# against a built-in or a library on many shapes and dtypes, with tolerances you can justify.
# Then write down the mistakes you expect a reader to make, and check that your tests catch each
# one. Separately, read the source of one library above, such as `modeling_gpt2.py` or the
# attention path of vLLM, until you can point to the line that does each step of the
# mathematics you implemented here.

# %% [markdown]
# ## Summary
#
# - GPT-2 is the course GPT with LayerNorm, a tanh-GELU feed-forward layer and learned position
#   embeddings. Loading its checkpoint is renaming plus two layout changes: Conv1D weights are
#   `(in, out)` and must be transposed, and `c_attn` holds the queries, keys and values side by
#   side. The logits then agree with `transformers` to rounding.
# - A tokenizer is data too: a vocabulary of byte strings and a ranked list of merges. Looking
#   the single bytes up in the vocabulary, instead of assuming that byte $b$ has id $b$, is what
#   lets one implementation load another's vocabulary.
# - safetensors stores tensors as a JSON header and raw bytes, so loading runs no code and can
#   map the file in place. Each name owns its bytes: a tied matrix is stored once and the tie
#   recorded. Building the model on the meta device loads it without drawing a single random
#   number.
# - A run under a budget is planned from a measured step time, with a margin; the loss it
#   reaches is judged against the entropy floor of the data, the one number no model can beat.
