"""reference/flash.py against PyTorch: SDPA values, logsumexp of the scores, tile-size invariance,
autograd gradients, and the two complexity claims (no N x N tensor, causal tiles skipped)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from reference.efficiency import attention_flops
from reference.flash import FlashAttentionFunction, flash_attention_backward, flash_attention_forward

F64 = torch.float64


def _qkv(gen, dtype, B=2, H=3, L=37, S=37, E=8, Ev=8):
    q = torch.randn(B, H, L, E, generator=gen, dtype=F64)
    k = torch.randn(B, H, S, E, generator=gen, dtype=F64)
    v = torch.randn(B, H, S, Ev, generator=gen, dtype=F64)
    return q.to(dtype), k.to(dtype), v.to(dtype)


def _scores(q, k, causal):
    s = (q.double() @ k.double().mT) / math.sqrt(q.size(-1))
    if causal:
        s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    return s


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("L,S", [(37, 37), (20, 45), (45, 20)], ids=["L=S", "L<S", "L>S"])
def test_forward_matches_sdpa_and_logsumexp(dtype, gen, assert_matches_truth, causal, L, S):
    q, k, v = _qkv(gen, dtype, L=L, S=S)
    out, lse = flash_attention_forward(q, k, v, is_causal=causal, block_q=16, block_k=8)
    truth = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal)
    s = _scores(q, k, causal)
    amp = 1 + s[torch.isfinite(s)].abs().max()
    assert_matches_truth(out, truth, dtype, v.abs().max() * amp, k=4)
    assert_matches_truth(lse, torch.logsumexp(s, dim=-1), dtype, amp * math.log(S + 1), k=4)


@pytest.mark.parametrize("blocks", [(1, 1), (7, 5), (64, 64), (16, 100)],
                         ids=["1x1", "7x5", "64x64", "16x100"])
def test_forward_invariant_to_block_size(gen, blocks):
    q, k, v = _qkv(gen, F64, L=33, S=33)
    base = flash_attention_forward(q, k, v, is_causal=True, block_q=33, block_k=33)
    got = flash_attention_forward(q, k, v, is_causal=True, block_q=blocks[0], block_k=blocks[1])
    for a, b in zip(got, base):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_backward_matches_autograd(gen, causal):
    q, k, v = (t.requires_grad_(True) for t in _qkv(gen, F64, L=29, S=29 if causal else 19, Ev=5))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    g = torch.randn(out.shape, generator=gen, dtype=F64)
    truth = torch.autograd.grad(out, (q, k, v), g)
    o, lse = flash_attention_forward(q.detach(), k.detach(), v.detach(), causal, None, 8, 6)
    got = flash_attention_backward(q.detach(), k.detach(), v.detach(), o, lse, g, causal, None, 8, 6)
    for a, b in zip(got, truth):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    via_fn = torch.autograd.grad(FlashAttentionFunction.apply(q, k, v, causal, None, 8, 6), (q, k, v), g)
    for a, b in zip(via_fn, truth):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_autograd_function_gradcheck(gen):
    q, k, v = (t.requires_grad_(True) for t in _qkv(gen, F64, B=1, H=1, L=6, S=6, E=3, Ev=2))
    assert torch.autograd.gradcheck(lambda a, b, c: FlashAttentionFunction.apply(a, b, c, True, None, 4, 4),
                                    (q, k, v))


class _Largest(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.numel = max(self.numel, t.numel())
        return out


def test_forward_and_backward_never_create_an_n_by_n_tensor(gen):
    q, k, v = _qkv(gen, torch.float32, B=1, H=2, L=256, S=256, E=8, Ev=8)
    with _Largest() as mode:
        out, lse = flash_attention_forward(q, k, v, is_causal=True, block_q=32, block_k=32)
        flash_attention_backward(q, k, v, out, lse, torch.ones_like(out), True, None, 32, 32)
    assert mode.numel <= 2 * 256 * 8  # one (B, H, N, E) tensor; N x N per head would be 2 * 65536
    with _Largest() as naive:
        F.scaled_dot_product_attention(q, k, v, is_causal=True, attn_mask=None)
        torch.softmax(q @ k.mT, dim=-1)
    assert naive.numel >= 2 * 256 * 256  # the detector does see a score matrix


def test_causal_tiles_are_skipped(gen):
    q, k, v = _qkv(gen, torch.float32, B=1, H=1, L=128, S=128)
    counts = {}
    for causal in (False, True):
        with FlopCounterMode(display=False) as fc:
            flash_attention_forward(q, k, v, is_causal=causal, block_q=16, block_k=16)
        counts[causal] = fc.get_total_flops()
    assert counts[False] == attention_flops(1, 1, 128, 128, 8)
    tiles = 8 * 9 // 2  # lower triangle of an 8 x 8 grid of tiles, diagonal included
    assert counts[True] == tiles * 4 * 16 * 16 * 8


def test_block_one_counts_exactly_the_unmasked_pairs(gen):
    q, k, v = _qkv(gen, F64, B=1, H=2, L=9, S=13, E=4, Ev=4)
    with FlopCounterMode(display=False) as fc:
        flash_attention_forward(q, k, v, is_causal=True, block_q=1, block_k=1)
    assert fc.get_total_flops() == attention_flops(1, 2, 9, 13, 4, causal=True)


@pytest.mark.cuda
@pytest.mark.parametrize("dt", [torch.float32, torch.bfloat16, torch.float16], ids=["f32", "bf16", "f16"])
def test_cuda_forward_and_backward_match_sdpa(dt):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (t.to("cuda") for t in _qkv(gen, dt, B=2, H=4, L=300, S=300, E=64, Ev=64))
    out, lse = flash_attention_forward(q, k, v, is_causal=True, block_q=64, block_k=128)
    truth = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=True)
    naive = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # within 4x the error of torch's own kernel in the same dtype, plus a rounding floor
    tol = 4 * (naive.double() - truth).abs().max().item() + 8 * torch.finfo(dt).eps
    assert (out.double() - truth).abs().max().item() <= tol
    g = torch.randn_like(out)
    dq, dk, dv = flash_attention_backward(q, k, v, out, lse, g, True, None, 64, 128)
    q64, k64, v64 = (t.double().requires_grad_(True) for t in (q, k, v))
    ref = torch.autograd.grad(F.scaled_dot_product_attention(q64, k64, v64, is_causal=True),
                              (q64, k64, v64), g.double())
    for a, b in zip((dq, dk, dv), ref):
        scale = b.abs().max().item()
        assert (a.double() - b).abs().max().item() <= 64 * torch.finfo(dt).eps * max(scale, 1.0)


@pytest.mark.cuda
def test_cuda_flash_peak_memory_is_linear_in_n():
    peaks = []
    for N in (1024, 2048):
        q, k, v = (torch.randn(1, 8, N, 64, device="cuda") for _ in range(3))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        flash_attention_forward(q, k, v, block_q=128, block_k=128)
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated() - base)
    assert peaks[1] < 3 * peaks[0]  # quadratic would be 4x
