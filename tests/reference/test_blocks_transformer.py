"""reference.blocks TransformerBlock / GPT / count_parameters against an independent computation
from PyTorch built-ins (nn.RMSNorm, nn.LayerNorm, F.scaled_dot_product_attention, F.silu/F.gelu,
RoPE written with complex numbers), plus the causality and parameter-count properties."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reference.blocks import GPT, TransformerBlock, count_parameters

BUILTIN_ACT = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
               "silu": F.silu}


def rope_complex(x, base):
    """Half-split RoPE as a complex multiplication: (a + i b) * exp(i t theta_j)."""
    T, Dh = x.shape[-2:]
    theta = base ** (-torch.arange(0, Dh, 2, dtype=torch.float64) * 2 / Dh / 2)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * theta  # (T, Dh/2)
    z = torch.complex(x[..., : Dh // 2], x[..., Dh // 2 :]) * torch.polar(torch.ones_like(angle), angle)
    return torch.cat([z.real, z.imag], dim=-1)


def builtin_block(block, x, norm, ffn, rope, base=10000.0):
    D = x.shape[-1]
    if norm == "rms":
        n1, n2 = nn.RMSNorm(D, eps=1e-6).double(), nn.RMSNorm(D, eps=1e-6).double()
    else:
        n1, n2 = nn.LayerNorm(D).double(), nn.LayerNorm(D).double()
    n1.load_state_dict(block.norm1.state_dict())
    n2.load_state_dict(block.norm2.state_dict())
    a = block.attn
    H = a.n_heads
    B, T, _ = x.shape
    h = n1(x)
    q, k, v = (F.linear(h, p.weight, p.bias).view(B, T, H, D // H).transpose(1, 2)
               for p in (a.q_proj, a.k_proj, a.v_proj))
    if rope:
        q, k = rope_complex(q, base), rope_complex(k, base)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
    x = x + F.linear(y, a.out_proj.weight, a.out_proj.bias)
    h = n2(x)
    f = block.ffn
    if ffn == "swiglu":
        out = F.linear(F.silu(F.linear(h, f.w1.weight)) * F.linear(h, f.w3.weight), f.w2.weight)
    else:
        out = F.linear(BUILTIN_ACT[ffn](F.linear(h, f.fc1.weight, f.fc1.bias)), f.fc2.weight, f.fc2.bias)
    return x + out


def randomize(module, gen):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / math.sqrt(p.shape[-1]))
    return module


CONFIGS = [("rms", "swiglu", True), ("layer", "gelu", True), ("rms", "relu", False),
           ("layer", "silu", False), ("rms", "gelu_tanh", True)]


@pytest.mark.parametrize("norm,ffn,rope", CONFIGS, ids=["-".join(map(str, c)) for c in CONFIGS])
def test_block_matches_builtins(norm, ffn, rope, gen):
    block = randomize(TransformerBlock(16, 4, 24, norm=norm, ffn=ffn, rope=rope).double(), gen)
    x = torch.randn(2, 7, 16, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(block(x), builtin_block(block, x, norm, ffn, rope),
                               rtol=1e-10, atol=1e-12)


def test_block_rope_base_is_used(gen):
    block = randomize(TransformerBlock(8, 2, 8, rope_base=50.0).double(), gen)
    x = torch.randn(1, 6, 8, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(block(x), builtin_block(block, x, "rms", "swiglu", True, base=50.0))


def test_block_state_dict_names():
    names = set(TransformerBlock(8, 2, 16, norm="layer", ffn="gelu").state_dict())
    assert names == {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
                     "attn.q_proj.weight", "attn.q_proj.bias", "attn.k_proj.weight", "attn.k_proj.bias",
                     "attn.v_proj.weight", "attn.v_proj.bias", "attn.out_proj.weight",
                     "attn.out_proj.bias", "ffn.fc1.weight", "ffn.fc1.bias", "ffn.fc2.weight",
                     "ffn.fc2.bias"}


@pytest.mark.parametrize("t", [0, 3, 6])
def test_block_does_not_leak_the_future(dtype, gen, t):
    block = randomize(TransformerBlock(16, 4, 32).double(), gen).to(dtype)
    x = torch.randn(2, 8, 16, generator=gen, dtype=torch.float64).to(dtype)
    edited = x.clone()
    edited[:, t + 1:] = torch.randn(2, 7 - t, 16, generator=gen, dtype=torch.float64).to(dtype)
    y, y2 = block(x), block(edited)
    torch.testing.assert_close(y[:, : t + 1], y2[:, : t + 1], rtol=0, atol=0)
    assert not torch.allclose(y[:, t + 1:], y2[:, t + 1:])


def test_rope_scores_depend_only_on_relative_position(gen):
    """The same vector at every position: RoPE scores q_m . k_n are constant along diagonals."""
    from reference.positional import apply_rope

    q = torch.randn(1, 1, 1, 8, generator=gen, dtype=torch.float64).expand(1, 1, 10, 8)
    s = (apply_rope(q) @ apply_rope(q).transpose(-2, -1))[0, 0]  # (T, T)
    for d in range(-3, 4):
        diag = torch.diagonal(s, offset=d)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), rtol=1e-12, atol=1e-12)


CFGS = [(50, 8, 16, 2, 4, 24, True), (50, 8, 16, 2, 4, 24, False), (7, 3, 6, 1, 3, 5, True),
        (1000, 512, 64, 3, 8, 172, False)]


@pytest.mark.parametrize("cfg", CFGS, ids=[str(c) for c in CFGS])
def test_count_parameters_equals_module(cfg):
    model = GPT(*cfg)
    assert count_parameters(*cfg) == sum(p.numel() for p in model.parameters())


def test_count_ignores_context_length_and_heads():
    assert count_parameters(50, 8, 16, 2, 4, 24) == count_parameters(50, 4096, 16, 2, 2, 24)


def test_gpt_ties_embeddings():
    tied, untied = GPT(20, 8, 8, 1, 2, 16), GPT(20, 8, 8, 1, 2, 16, tie_embeddings=False)
    assert tied.lm_head.weight is tied.tok_emb.weight
    assert untied.lm_head.weight is not untied.tok_emb.weight
    assert [n for n, _ in tied.named_parameters()][0] == "tok_emb.weight"
    assert "lm_head.weight" not in dict(tied.named_parameters())


def test_gpt_matches_builtin_composition(gen):
    model = randomize(GPT(30, 8, 16, 2, 4, 24).double(), gen)
    idx = torch.randint(0, 30, (2, 6), generator=gen)
    x = F.embedding(idx, model.tok_emb.weight)
    for block in model.blocks:
        x = builtin_block(block, x, "rms", "swiglu", True)
    x = F.rms_norm(x, (16,), model.norm_f.weight, eps=1e-6)
    torch.testing.assert_close(model(idx), x @ model.tok_emb.weight.T, rtol=1e-10, atol=1e-12)


def test_gpt_is_causal_and_rejects_long_inputs(gen):
    model = randomize(GPT(30, 6, 16, 2, 4, 24).double(), gen)
    idx = torch.randint(0, 30, (1, 6), generator=gen)
    edited = idx.clone()
    edited[0, 4] = (idx[0, 4] + 1) % 30
    torch.testing.assert_close(model(idx)[:, :4], model(edited)[:, :4], rtol=0, atol=0)
    with pytest.raises(ValueError):
        model(torch.zeros(1, 7, dtype=torch.long))


@pytest.mark.cuda
def test_block_on_cuda_matches_cpu(gen):
    block = randomize(TransformerBlock(16, 4, 24).double(), gen)
    x = torch.randn(2, 7, 16, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(block.cuda()(x.cuda()).cpu(), block.cpu()(x), rtol=1e-10, atol=1e-12)
