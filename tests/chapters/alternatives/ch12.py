"""Chapter 12 alternatives: correct implementations written differently from the solution. They are
test fixtures: the grader never runs them, and tests/chapters/test_catalogs.py proves each gets
full marks. Each is also pasted, as source, into a notebook's answer cell by the platform's tests,
so it may use only ``math``, ``torch``, ``nn``, ``F``, imports made inside the function, and the
names the notebook provides (``GPT``, ``TrainConfig``, ``train``, ``generate``), which resolve to
the reference here and to the grader's stand-ins in a notebook.
"""

from __future__ import annotations

import torch

from reference.blocks import GPT
from reference.decoding import generate
from reference.train import TrainConfig, train


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


# =========================================================================== safetensors
def save_by_hand(model, file, model_config):
    """The format written without the package: header JSON padded to 8 bytes, then the bytes;
    ties found by storage address."""
    import json
    import os
    import struct

    codes = {torch.float64: "F64", torch.float32: "F32", torch.bfloat16: "BF16",
             torch.float16: "F16"}
    header, chunks, seen, tied, offset = {}, [], {}, {}, 0
    for name, t in model.state_dict().items():
        key = (t.data_ptr(), tuple(t.shape))
        if key in seen:
            tied[name] = seen[key]
            continue
        seen[key] = name
        t = t.detach().cpu().contiguous()
        raw = (t.view(torch.int16) if t.dtype in (torch.bfloat16, torch.float16) else t)
        data = raw.numpy().tobytes()
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt", "llmcourse.tied": json.dumps(tied),
                              "llmcourse.model_config": json.dumps(model_config)}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    blob = struct.pack("<Q", len(text)) + text + b"".join(chunks)
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            f.write(blob)
    else:
        file.write(blob)


def save_with_safe_open_metadata(model, file, model_config):
    """safetensors.torch.save on a dict built from named_parameters (which lists a tied Parameter
    once), the alias found by comparing with state_dict's names."""
    import json

    from safetensors.torch import save

    stored = {name: p.detach().to("cpu").contiguous() for name, p in model.named_parameters()}
    params = dict(model.named_parameters())
    keep = model.state_dict(keep_vars=True)
    tied = {name: next(n for n, p in params.items() if p is t)
            for name, t in keep.items() if name not in stored}
    blob = save(stored, metadata={"llmcourse.model_config": json.dumps(model_config),
                                  "llmcourse.tied": json.dumps(tied), "format": "pt"})
    if hasattr(file, "write"):
        file.write(blob)
    else:
        with open(file, "wb") as f:
            f.write(blob)


def load_under_fork_rng(file):
    """A normal build whose random draws are undone by fork_rng, then copies in the file's dtype."""
    import json

    from safetensors.torch import load

    data = file.read() if hasattr(file, "read") else open(file, "rb").read()
    size = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8:8 + size].decode())["__metadata__"]
    tensors = load(data)
    with torch.random.fork_rng(devices=[]):
        model = GPT(**json.loads(meta["llmcourse.model_config"]))
    model = model.to(next(iter(tensors.values())).dtype)
    model.load_state_dict(tensors, strict=False)
    for alias, name in json.loads(meta["llmcourse.tied"]).items():
        assert alias == "lm_head.weight" and name == "tok_emb.weight"
        model.lm_head.weight = model.tok_emb.weight
    model.eval()
    return model


def load_by_hand(file):
    """The header parsed and each tensor viewed with torch.frombuffer; no safetensors import."""
    import json
    import struct

    data = file.read() if hasattr(file, "read") else open(file, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    dtypes = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16,
              "F16": torch.float16}
    tensors = {}
    for name, entry in header.items():
        b, e = entry["data_offsets"]
        buf = bytearray(data[8 + n + b:8 + n + e])
        tensors[name] = torch.frombuffer(buf, dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    with torch.device("meta"):
        model = GPT(**json.loads(meta["llmcourse.model_config"]))
    tied = json.loads(meta["llmcourse.tied"])
    model.load_state_dict({**tensors, **{a: tensors[n_] for a, n_ in tied.items()}}, assign=True)
    if tied:
        model.lm_head.weight = model.tok_emb.weight
    return model.train(False)


ALTERNATIVES["ch12.save_safetensors"] = (save_by_hand, save_with_safe_open_metadata)
ALTERNATIVES["ch12.load_safetensors"] = (load_under_fork_rng, load_by_hand)


# =========================================================================== capstone
def capstone_timed_by_hand(train_tokens, val_tokens, budget_seconds):
    """A wider model, smaller batches; the step time measured by the clock around a 10-step
    probe (evaluation included: an overestimate, on the safe side), and 70% of what is left."""
    import math
    import time

    t_start = time.perf_counter()
    vocab = 1 + max(int(train_tokens.max()), int(val_tokens.max()))
    net = GPT(vocab, 48, 48, 2, 6, 96, tie_embeddings=False)

    def cfg(n):
        return TrainConfig(max_steps=n, batch_size=16, context_length=48, lr=5e-3, min_lr=5e-4,
                           warmup_steps=n // 20 + 1, eval_interval=n, eval_batches=2,
                           device="cpu", dtype="float32", peak_flops=math.inf, progress=False)

    scratch = GPT(vocab, 48, 48, 2, 6, 96, tie_embeddings=False)
    t0 = time.perf_counter()
    train(scratch, train_tokens, val_tokens, cfg(10))
    per_step = (time.perf_counter() - t0) / 10
    n_steps = max(20, int(0.7 * (budget_seconds - (time.perf_counter() - t_start)) / per_step))
    t0 = time.perf_counter()
    hist = train(net, train_tokens, val_tokens, cfg(n_steps))
    rate = n_steps * 16 * 48 / (time.perf_counter() - t0)
    net.train(False)
    out = generate(net, val_tokens[:24].view(3, 8), 20, temperature=0.8,
                   generator=torch.Generator().manual_seed(1))
    return dict(model=net, history=hist, samples=out, tokens_per_second=float(rate))


ALTERNATIVES["ch12.capstone"] = (capstone_timed_by_hand,)
