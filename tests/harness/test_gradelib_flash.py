"""gradelib.flash: the FlashAttention drivers return a pass's outputs followed by its measurements
(largest tensor, matmul FLOPs); the budget checks pass a correct tiled pass and fail, with a message,
one that materialises L × S, a row block of width S, or computes the tiles a causal mask hides; the
stand-ins agree with the reference passes."""

import math

import pytest
import torch

from autograder.gradelib.flash import (BACKWARD_BUDGET, FORWARD_BUDGET, drive_flash_backward,
                                       drive_flash_forward, drive_flash_function,
                                       flash_attention_backward, flash_attention_forward,
                                       saved_check, tensor_budget)
from autograder.spec import Case
from reference import flash as ref

F64 = torch.float64


def _qkv(L=40, S=40, E=8, Ev=6, dtype=F64):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, 2, n, d, generator=g).to(dtype) for n, d in ((L, E), (S, E), (S, Ev))]


def _naive(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if is_causal:
        s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    lse = torch.logsumexp(s, -1)
    return torch.exp(s - lse[..., None]) @ v, lse


def _every_tile(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """Tiled, but every key tile is computed and then masked: right values, too many FLOPs."""
    outs, lses = [], []
    for i0 in range(0, q.size(-2), block_q):
        qi = q[..., i0:i0 + block_q, :]
        rows = torch.arange(i0, i0 + qi.size(-2))[:, None]
        tiles = []
        for j0 in range(0, k.size(-2), block_k):
            s = qi @ k[..., j0:j0 + block_k, :].transpose(-2, -1) / math.sqrt(q.size(-1))
            hidden = torch.arange(j0, j0 + s.size(-1)) > rows
            tiles.append(s.masked_fill(hidden, float("-inf")) if is_causal else s)
        lse = torch.logsumexp(torch.cat(tiles, -1), -1)
        outs.append(sum(torch.exp(s - lse[..., None]) @ v[..., j:j + block_k, :]
                        for j, s in zip(range(0, k.size(-2), block_k), tiles)))
        lses.append(lse)
    return torch.cat(outs, -2), torch.cat(lses, -1)


def _autograd_backward(q, k, v, out, lse, grad_out, is_causal=False, scale=None, block_q=64,
                       block_k=64):
    q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
    return torch.autograd.grad(_naive(q, k, v, is_causal)[0], (q, k, v), grad_out)


def _case(*args, **kwargs):
    return Case(name="test", args=list(args), kwargs=kwargs)


@pytest.mark.parametrize("is_causal", [False, True])
def test_forward_driver_returns_the_outputs_then_the_measurements(is_causal):
    q, k, v = _qkv()
    *got, largest, flops = drive_flash_forward(ref.flash_attention_forward, q, k, v, is_causal,
                                               None, 16, 8)
    want = ref.flash_attention_forward(q, k, v, is_causal, None, 16, 8)
    assert all(torch.equal(g, w) for g, w in zip(got, want))
    assert largest.dtype == flops.dtype == torch.int64 and largest.shape == (3,)
    numel, rows, cols = largest.tolist()
    assert numel <= tensor_budget(40, 40, 8, 6, 4, 16, 8) and rows * cols <= numel
    assert flops > 0
    case = _case(q, k, v, is_causal=is_causal, block_q=16, block_k=8)
    assert FORWARD_BUDGET([*got, largest, flops], case) is None


def test_forward_budget_names_the_l_by_s_matrix():
    q, k, v = _qkv()
    outputs = drive_flash_forward(_naive, q, k, v, block_q=16, block_k=16)
    said = FORWARD_BUDGET(outputs, _case(q, k, v, block_q=16, block_k=16))
    assert "6,400 elements" in said and "40 × 40" in said and "an L × S score" in said, said


def test_forward_budget_names_a_row_block_of_width_s():
    q, k, v = _qkv(L=96, S=96, E=4, Ev=4)

    def row_block(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        return ref.flash_attention_forward(q, k, v, is_causal, scale, block_q, k.size(-2))

    outputs = drive_flash_forward(row_block, q, k, v, block_q=32, block_k=32)
    said = FORWARD_BUDGET(outputs, _case(q, k, v, block_q=32, block_k=32))
    assert "32 × 96" in said and "row block" in said, said


def test_forward_budget_counts_the_flops_of_hidden_tiles():
    q, k, v = _qkv()
    outputs = drive_flash_forward(_every_tile, q, k, v, False, None, 16, 16)
    assert torch.allclose(outputs[0], _naive(q, k, v)[0])  # no causal mask: every tile is needed
    assert FORWARD_BUDGET(outputs, _case(q, k, v, block_q=16, block_k=16)) is None
    outputs = drive_flash_forward(_every_tile, q, k, v, True, None, 16, 16)
    said = FORWARD_BUDGET(outputs, _case(q, k, v, is_causal=True, block_q=16, block_k=16))
    assert "matmul FLOPs" in said and "hides completely" in said, said


def test_backward_budget_passes_a_tiled_backward_and_fails_a_full_one():
    q, k, v = _qkv()
    out, lse = ref.flash_attention_forward(q, k, v, True)
    grad_out = torch.randn_like(out)
    args = (q, k, v, out, lse, grad_out, True, None, 16, 8)
    case = _case(*args[:6], is_causal=True, block_q=16, block_k=8)
    *got, largest, flops = drive_flash_backward(ref.flash_attention_backward, *args)
    assert all(torch.equal(g, w) for g, w in zip(got, ref.flash_attention_backward(*args)))
    assert BACKWARD_BUDGET([*got, largest, flops], case) is None
    said = BACKWARD_BUDGET(drive_flash_backward(_autograd_backward, *args), case)
    assert "recompute P one tile at a time" in said, said


def test_function_driver_returns_output_and_gradients():
    q, k, v = _qkv(L=9, S=13)
    grad_out = torch.randn(2, 2, 9, 6, dtype=F64)
    out, dq, dk, dv, kept = drive_flash_function(ref.FlashAttentionFunction, q, k, v, grad_out,
                                                 True, 0.3, 4, 4)
    assert kept.tolist() == [2 * 2 * 13 * 8, 13, 8]  # the largest of q, k, v, out, lse: k
    q_, k_, v_ = (t.clone().requires_grad_(True) for t in (q, k, v))
    s = (q_ @ k_.transpose(-2, -1) * 0.3).masked_fill(~torch.ones(9, 13).tril().bool(), -math.inf)
    want = torch.softmax(s, -1) @ v_
    assert torch.allclose(out, want)
    for got, exp in zip((dq, dk, dv), torch.autograd.grad(want, (q_, k_, v_), grad_out)):
        assert torch.allclose(got, exp)
    with pytest.raises(TypeError, match="torch.autograd.Function"):
        drive_flash_function(ref.flash_attention_forward, q, k, v, grad_out)


class _KeepsP(ref.FlashAttentionFunction):
    """Right gradients, but the forward keeps the L × S probabilities in an attribute of ctx."""

    @staticmethod
    def forward(ctx, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
        out = ref.FlashAttentionFunction.forward(ctx, q, k, v, is_causal, scale, block_q, block_k)
        ctx.kept = {"p": torch.softmax(q @ k.transpose(-2, -1), -1)}
        return out


def test_saved_check_measures_what_ctx_keeps():
    q, k, v = _qkv(L=20, S=20, E=4, Ev=4)
    grad_out = torch.randn(2, 2, 20, 4, dtype=F64)
    case = _case(q, k, v, grad_out, block_q=8, block_k=8)
    fine = drive_flash_function(ref.FlashAttentionFunction, q, k, v, grad_out, False, None, 8, 8)
    assert saved_check(fine, case) is None
    said = saved_check(drive_flash_function(_KeepsP, q, k, v, grad_out, False, None, 8, 8), case)
    assert "1,600 elements" in said and "20 × 20" in said and "L × S" in said, said


def test_a_pass_must_return_the_tuple_it_states():
    q, k, v = _qkv()
    with pytest.raises(TypeError, match=r"tuple of 2 values \(out, lse\), got Tensor"):
        drive_flash_forward(lambda q, k, v, **kw: q, q, k, v)
    with pytest.raises(TypeError, match=r"tuple of 3 values \(dq, dk, dv\), got tuple of 2"):
        drive_flash_backward(lambda *a, **kw: a[:2], q, k, v, q, q[..., 0], q)


@pytest.mark.parametrize("is_causal,scale,L,S", [(False, None, 7, 11), (True, None, 9, 5),
                                                 (True, 0.4, 6, 6)])
def test_stand_ins_agree_with_the_reference_in_float64(is_causal, scale, L, S):
    q, k, v = _qkv(L, S)
    out, lse = flash_attention_forward(q, k, v, is_causal, scale)
    want_out, want_lse = ref.flash_attention_forward(q, k, v, is_causal, scale)
    assert torch.allclose(out, want_out) and torch.allclose(lse, want_lse)
    grad_out = torch.randn_like(out)
    grads = flash_attention_backward(q, k, v, out, lse, grad_out, is_causal, scale)
    want = ref.flash_attention_backward(q, k, v, out, lse, grad_out, is_causal, scale)
    assert all(torch.allclose(g, w) for g, w in zip(grads, want))


def test_stand_ins_compute_in_float32_and_return_the_input_dtype():
    q, k, v = _qkv(5, 5, dtype=torch.bfloat16)
    out, lse = flash_attention_forward(q, k, v)
    assert out.dtype == lse.dtype == torch.bfloat16
    dq, dk, dv = flash_attention_backward(q, k, v, out, lse, torch.ones_like(out))
    assert dq.dtype == dk.dtype == dv.dtype == torch.bfloat16
