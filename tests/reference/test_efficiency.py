"""reference/efficiency.py against PyTorch: FLOP formulas against FlopCounterMode on the reference
modules, byte counts against tensors actually allocated, GQA against SDPA's enable_gqa, the KV
cache against full causal attention, GLU against F.glu, Eckart–Young, Linformer and Performer
against closed forms and statistics."""

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from reference.attention import scaled_dot_product_attention
from reference.blocks import GPT
from reference.efficiency import (KVCache, attention_flops, gated_attention_output, glu,
                                  grouped_query_attention, kv_cache_bytes, linformer_attention,
                                  low_rank_approximation, parameter_bytes, performer_attention,
                                  performer_features, training_memory_bytes,
                                  transformer_flops_per_token)

F64 = torch.float64


def test_attention_flops_match_flop_counter():
    q, k, v = torch.randn(2, 3, 10, 8), torch.randn(2, 3, 14, 8), torch.randn(2, 3, 14, 8)
    with FlopCounterMode(display=False) as fc:
        scaled_dot_product_attention(q, k, v)
    assert fc.get_total_flops() == attention_flops(2, 3, 10, 14, 8)
    # (torch's own SDPA is not used here: FlopCounterMode has no formula for its CPU flash kernel
    # and reports 0.) The naive composition of two matmuls, through the same counter:
    with FlopCounterMode(display=False) as fc:
        torch.softmax(q @ k.mT, dim=-1) @ v
    assert fc.get_total_flops() == attention_flops(2, 3, 10, 14, 8)


def test_causal_attention_flops_count_the_lower_triangle():
    assert attention_flops(1, 1, 4, 4, 1, causal=True) == 4 * (1 + 2 + 3 + 4)
    assert attention_flops(1, 1, 6, 3, 1, causal=True) == 4 * (1 + 2 + 3 + 3 + 3 + 3)
    n = 64  # close to half of the full count for a square mask
    assert attention_flops(1, 1, n, n, 1, True) * 2 == attention_flops(1, 1, n, n, 1) + 4 * n


@pytest.mark.parametrize("cfg", [(50, 12, 16, 2, 4, 40), (31, 7, 24, 3, 2, 64)],
                         ids=["V50-T12", "V31-T7"])
def test_transformer_flops_match_flop_counter(cfg):
    V, T, D, n_layers, H, d_ff = cfg
    model = GPT(V, T, D, n_layers, H, d_ff)
    idx = torch.randint(0, V, (2, T))
    with FlopCounterMode(display=False) as fc:
        model(idx)
    assert fc.get_total_flops() == 2 * T * transformer_flops_per_token(*cfg)


def test_attention_share_of_a_layer_is_t_over_t_plus_6d():
    """The notebook's figures: with F = 8D/3, attention is T / (T + 6D) of a layer's FLOPs (1/7
    at T = D, one half at T = 6D, 91 % at T = 32 768 with D = 512)."""
    D, V = 768, 1000
    d_ff = 8 * D // 3  # F, exactly: D is a multiple of 3
    for T, share in ((D, Fraction(1, 7)), (6 * D, Fraction(1, 2)),
                     (32768, Fraction(32768, 32768 + 6 * D))):
        per_layer = transformer_flops_per_token(V, T, D, 1, 12, d_ff) - 2 * D * V
        assert Fraction(4 * T * D, per_layer) == share
    assert round(32768 / (32768 + 6 * 512), 2) == 0.91


@pytest.mark.parametrize("dt", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_parameter_bytes_match_allocated_storage(dt):
    t = torch.zeros(1234, dtype=dt)
    assert parameter_bytes(1234, dt) == t.untyped_storage().nbytes()


def test_training_memory_matches_the_tensors_adamw_allocates():
    model = torch.nn.Linear(30, 20)
    n = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 30)).sum().backward()
    opt.step()
    held = sum(p.untyped_storage().nbytes() + p.grad.untyped_storage().nbytes()
               for p in model.parameters())
    held += sum(s.untyped_storage().nbytes() for st in opt.state.values()
                for name, s in st.items() if name != "step")
    assert training_memory_bytes(n, torch.float32, torch.float32, "adamw") == held
    assert training_memory_bytes(n, torch.bfloat16, torch.bfloat16, "adamw", True) == 16 * n
    assert training_memory_bytes(n, torch.float32, torch.float32, "sgd") == 8 * n
    assert training_memory_bytes(n, torch.bfloat16, torch.float32, "sgd_momentum") == 8 * n
    with pytest.raises(ValueError):
        training_memory_bytes(n, torch.float32, torch.float32, "adam")


def test_kv_cache_bytes_match_the_cache_buffers():
    for dt in (torch.float32, torch.bfloat16):
        caches = [KVCache(3, 2, 17, 8, dt, "cpu") for _ in range(4)]
        held = sum(b.untyped_storage().nbytes() for c in caches for b in c.buffers())
        assert kv_cache_bytes(4, 2, 8, 17, 3, dt) == held


@pytest.mark.parametrize("hkv", [1, 2, 6], ids=["MQA", "GQA", "MHA"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_gqa_matches_sdpa_enable_gqa(dtype, gen, assert_matches_truth, hkv, causal):
    q = torch.randn(2, 6, 9, 4, generator=gen, dtype=F64).to(dtype)
    k = torch.randn(2, hkv, 9, 4, generator=gen, dtype=F64).to(dtype)
    v = torch.randn(2, hkv, 9, 5, generator=gen, dtype=F64).to(dtype)
    got = grouped_query_attention(q, k, v, is_causal=causal)
    truth = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal,
                                           enable_gqa=True)
    amp = 1 + 4 * q.abs().max().item() * k.abs().max().item() / 2
    assert_matches_truth(got, truth, dtype, v.abs().max() * amp, k=4)


def test_gqa_with_as_many_kv_heads_is_mha_and_with_one_is_mqa(gen):
    q, k, v = (torch.randn(1, 4, 5, 3, generator=gen, dtype=F64) for _ in range(3))
    torch.testing.assert_close(grouped_query_attention(q, k, v), scaled_dot_product_attention(q, k, v))
    one = grouped_query_attention(q, k[:, :1], v[:, :1])
    torch.testing.assert_close(one, scaled_dot_product_attention(q, k[:, :1], v[:, :1]))


def test_kv_cache_decoding_equals_full_causal_attention(gen):
    q, k, v = (torch.randn(2, 4, 7, 3, generator=gen, dtype=F64) for _ in range(3))
    k, v = k[:, :2], v[:, :2]  # 2 KV heads
    cache = KVCache(2, 2, 10, 3, F64, "cpu")
    outs = []
    for t in range(7):
        kc, vc = cache.update(k[:, :, t:t + 1], v[:, :, t:t + 1])
        outs.append(grouped_query_attention(q[:, :, t:t + 1], kc, vc))
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    torch.testing.assert_close(torch.cat(outs, dim=-2), full)
    with pytest.raises(ValueError):
        cache.update(k[:, :, :4], v[:, :, :4])


def test_glu_and_gate(dtype, gen, assert_matches_truth):
    x = torch.randn(3, 8, 6, generator=gen, dtype=F64).to(dtype)
    assert_matches_truth(glu(x, dim=1), F.glu(x.double(), dim=1), dtype, 2 * x.abs().max())
    g = torch.randn(3, 8, 1, generator=gen, dtype=F64).to(dtype)
    assert_matches_truth(gated_attention_output(x, g), x.double() * torch.sigmoid(g.double()),
                         dtype, 2 * x.abs().max())


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_low_rank_error_is_the_eckart_young_bound(gen, rank):
    a = torch.randn(2, 8, 6, generator=gen, dtype=F64)
    approx = low_rank_approximation(a, rank)
    sigma = torch.linalg.svdvals(a)
    assert (torch.linalg.matrix_rank(approx) == rank).all()
    err = torch.linalg.matrix_norm(a - approx)
    torch.testing.assert_close(err, sigma[:, rank:].square().sum(-1).sqrt(), rtol=1e-10, atol=1e-10)
    # any other rank-r matrix (here: projection onto a random r-dimensional row space) does worse
    Q = torch.linalg.qr(torch.randn(6, rank, generator=gen, dtype=F64)).Q  # (6, r)
    assert (torch.linalg.matrix_norm(a - a @ Q @ Q.mT) >= err - 1e-12).all()


def test_linformer_with_identity_projections_is_attention(gen):
    q, k, v = (torch.randn(2, 5, 4, generator=gen, dtype=F64) for _ in range(3))
    eye = torch.eye(5, dtype=F64)
    torch.testing.assert_close(linformer_attention(q, k, v, eye, eye), scaled_dot_product_attention(q, k, v))
    e, f = torch.randn(3, 5, generator=gen, dtype=F64), torch.randn(3, 5, generator=gen, dtype=F64)
    torch.testing.assert_close(linformer_attention(q, k, v, e, f),
                               F.scaled_dot_product_attention(q, e @ k, f @ v))


def test_performer_features_are_unbiased_within_five_sigma():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, generator=gen, dtype=F64) * 0.5
    q, k = x[0], x[1]
    M = 200_000
    omega = torch.randn(4, M, generator=gen, dtype=F64)
    phi = performer_features(x, omega)
    est = float(phi[0] @ phi[1])
    # each feature term z = exp(w.(q+k) - |q|^2/2 - |k|^2/2) has E z = e^{q.k}, E z^2 = e^{2|q+k|^2 - |q|^2 - |k|^2}
    var = math.exp(2 * float((q + k) @ (q + k)) - float(q @ q) - float(k @ k)) - math.exp(2 * float(q @ k))
    assert abs(est - math.exp(float(q @ k))) <= 5 * math.sqrt(var / M)


def test_performer_attention_converges_to_softmax_attention():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 6, 4, generator=gen, dtype=F64) * 0.5 for _ in range(3))
    truth = F.scaled_dot_product_attention(q, k, v)
    errs = [(performer_attention(q, k, v, m, torch.Generator().manual_seed(3)) - truth).abs().max()
            for m in (16, 4096)]
    assert errs[1] < errs[0] and errs[1] < 0.05


@pytest.mark.cuda
def test_cuda_training_memory_matches_max_memory_allocated():
    """After one AdamW step, what the allocator holds for the model equals the estimate (within
    the allocator's 512-byte rounding per tensor); activations are freed after backward."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Linear(512, 256)).cuda()
    opt = torch.optim.AdamW(model.parameters(), foreach=False)
    model(torch.randn(8, 256, device="cuda")).sum().backward()
    opt.step()
    torch.cuda.synchronize()
    n = sum(p.numel() for p in model.parameters())
    held = torch.cuda.memory_allocated() - base
    n_tensors = 4 * len(list(model.parameters())) + len(list(model.parameters()))  # p, g, m, v, step
    expected = training_memory_bytes(n, torch.float32, torch.float32, "adamw")
    assert expected <= held <= expected + 512 * n_tensors
