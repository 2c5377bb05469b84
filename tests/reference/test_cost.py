"""reference/cost.py against hand-worked numbers, against Chapter 7's FLOP formulas and
FlopCounterMode on the course GPT, against ``reference.train.flops_per_token``, and against the
two regimes of the roofline."""

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from reference.blocks import GPT, count_parameters
from reference.cost import (decode_arithmetic_intensity, inference_cost,
                            inference_flops_per_token, ridge_point, roofline_time,
                            training_flops)
from reference.efficiency import dtype_bytes, parameter_bytes, transformer_flops_per_token
from reference.train import flops_per_token

# A 124M-parameter model with GPT-2 small's shape: 12 layers, width 768, context 1024.
N_124M, L_12, D_768, T_1024 = 124_000_000, 12, 768, 1024


# --------------------------------------------------------------------------- FLOPs and money
def test_inference_cost_by_hand():
    # per token: 2 N = 248 000 000 for the weights; 4 L T D = 4 * 12 * 1024 * 768 = 37 748 736 for
    # q k^T and the weighted sum of the values; together 285 748 736 FLOPs.
    assert inference_flops_per_token(N_124M, L_12, D_768, T_1024) == 285_748_736
    # 1000 tokens on 100 TFLOP/s at 50% MFU, 3.60 per hour:
    #   flops   = 2.85748736e11
    #   seconds = 2.85748736e11 / (1e14 * 0.5) = 5.71497472e-3
    #   cost    = 5.71497472e-3 / 3600 * 3.6 = 5.71497472e-6
    out = inference_cost(N_124M, L_12, D_768, T_1024, 1000, peak_flops=1e14, mfu=0.5,
                         price_per_hour=3.6)
    assert set(out) == {"flops", "seconds", "cost"}
    assert all(type(v) is float for v in out.values()), "Python floats, not tensors or ints"
    assert out["flops"] == 2.85748736e11
    assert out["seconds"] == pytest.approx(5.71497472e-3, rel=1e-12)
    assert out["cost"] == pytest.approx(5.71497472e-6, rel=1e-12)


def test_inference_flops_match_chapter_7_up_to_the_parameters_without_a_matmul():
    """Chapter 7's ``transformer_flops_per_token`` counts only matrix products; "2 N" with N from
    ``count_parameters`` also counts 2 FLOPs for each parameter that multiplies no activation:
    per block two RMSNorm gains (2 D) and four projection biases (4 D), plus the final norm (D).
    Untied, the embedding table (V D) is looked up, not multiplied, and adds 2 V D more."""
    V, T, D, L, H, Dff = 50257, 1024, 768, 12, 12, 3072
    chapter_7 = transformer_flops_per_token(V, T, D, L, H, Dff)
    without_matmul = L * (2 * D + 4 * D) + D
    tied = count_parameters(V, T, D, L, H, Dff, tie_embeddings=True)
    assert inference_flops_per_token(tied, L, D, T) - chapter_7 == 2 * without_matmul
    untied = count_parameters(V, T, D, L, H, Dff, tie_embeddings=False)
    assert inference_flops_per_token(untied, L, D, T) - chapter_7 == 2 * (without_matmul + V * D)


def test_inference_flops_match_the_flop_counter_on_the_course_gpt():
    """With N = the matmul weights only, the formula is exact for a forward pass over B * T
    tokens of full context T (each position's attention computed densely, as the GPT does)."""
    V, T, D, L, H, Dff, B = 37, 12, 16, 2, 4, 40, 3
    model = GPT(V, T, D, L, H, Dff)
    with FlopCounterMode(display=False) as fc:
        model(torch.randint(0, V, (B, T)))
    matmul_weights = L * (4 * D * D + 3 * D * Dff) + V * D
    out = inference_cost(matmul_weights, L, D, T, B * T, peak_flops=1.0, mfu=1.0,
                         price_per_hour=0.0)
    assert out["flops"] == fc.get_total_flops()


def test_training_is_three_forward_passes_and_matches_train_flops_per_token():
    # 6 N D by hand: GPT-2 small's shape on 1e9 tokens, and a 70B model on 1.4T tokens
    assert training_flops(N_124M, 10**9) == 744 * 10**15
    assert training_flops(70 * 10**9, 1_400 * 10**9) == 588 * 10**21
    # without the attention term (context 0) training is 3x inference (2 forward + 4 backward)
    forward = inference_cost(N_124M, L_12, D_768, 0, 10**9, 1e14, 0.5, 1.0)["flops"]
    assert 3 * forward == training_flops(N_124M, 10**9)
    # with it, 3x inference is Chapter 8's training count 6 N + 12 L T D
    model = GPT(31, 8, 16, 2, 2, 24)
    n = sum(p.numel() for p in model.parameters())
    assert 3 * inference_flops_per_token(n, 2, 16, 8) == flops_per_token(model, 8)


def test_units_scale_as_they_should():
    base = dict(n_params=N_124M, n_layers=L_12, d_model=D_768, context=T_1024, n_tokens=500,
                peak_flops=2e14, mfu=0.4, price_per_hour=2.0)
    ref = inference_cost(**base)
    twice_price = inference_cost(**{**base, "price_per_hour": 4.0})
    assert (twice_price["flops"], twice_price["seconds"]) == (ref["flops"], ref["seconds"])
    assert twice_price["cost"] == pytest.approx(2 * ref["cost"], rel=1e-15)
    twice_mfu = inference_cost(**{**base, "mfu": 0.8})
    assert twice_mfu["flops"] == ref["flops"]
    assert twice_mfu["seconds"] == pytest.approx(ref["seconds"] / 2, rel=1e-15)
    assert twice_mfu["cost"] == pytest.approx(ref["cost"] / 2, rel=1e-15)
    twice_peak = inference_cost(**{**base, "peak_flops": 4e14})
    assert twice_peak["seconds"] == pytest.approx(ref["seconds"] / 2, rel=1e-15)
    twice_tokens = inference_cost(**{**base, "n_tokens": 1000})
    for key in ref:
        assert twice_tokens[key] == pytest.approx(2 * ref[key], rel=1e-15), key
    # an hour of the hardware costs price_per_hour: 1e14 FLOP/s * 3600 s at full utilisation
    hour = inference_cost(10**14 * 3600 // 2, 0, 0, 0, 1, peak_flops=1e14, mfu=1.0,
                          price_per_hour=2.5)
    assert (hour["seconds"], hour["cost"]) == (3600.0, 2.5)


@pytest.mark.parametrize("mfu", [0.0, -0.1, 1.5, math.nan],
                         ids=["zero", "negative", "above-1", "nan"])
def test_mfu_outside_the_unit_interval_is_refused(mfu):
    with pytest.raises(ValueError, match="mfu"):
        inference_cost(N_124M, L_12, D_768, T_1024, 1, 1e14, mfu, 1.0)


@pytest.mark.parametrize("peak", [0.0, -1e12], ids=["zero", "negative"])
def test_non_positive_peak_is_refused(peak):
    with pytest.raises(ValueError, match="peak_flops"):
        inference_cost(N_124M, L_12, D_768, T_1024, 1, peak, 0.5, 1.0)
    assert inference_cost(N_124M, L_12, D_768, T_1024, 1, 1e14, 1.0, 1.0)["seconds"] > 0  # mfu 1


# --------------------------------------------------------------------------- the roofline
def test_decode_intensity_of_a_7b_model_in_bfloat16():
    n = 7 * 10**9
    bf16 = dtype_bytes(torch.bfloat16)
    assert decode_arithmetic_intensity(n, 1, bf16) == 1.0
    for batch in (2, 8, 64, 512):  # linear in the batch: every weight read serves B sequences
        assert decode_arithmetic_intensity(n, batch, bf16) == batch
        step_flops, weight_bytes = 2 * n * batch, parameter_bytes(n, torch.bfloat16)
        assert decode_arithmetic_intensity(n, batch, bf16) == step_flops / weight_bytes
    assert decode_arithmetic_intensity(n, 4, dtype_bytes(torch.float32)) == 2.0
    assert decode_arithmetic_intensity(13 * 10**9, 4, bf16) == 4.0  # independent of the size


def test_decode_intensity_matches_a_measured_decoding_step():
    """One token per sequence through a bias-free linear layer: FlopCounterMode's FLOPs over the
    bytes of the weight matrix."""
    layer = torch.nn.Linear(64, 96, bias=False, dtype=torch.bfloat16)
    n = layer.weight.numel()
    for batch in (1, 5):
        with FlopCounterMode(display=False) as fc:
            layer(torch.randn(batch, 1, 64, dtype=torch.bfloat16))
        measured = fc.get_total_flops() / layer.weight.untyped_storage().nbytes()
        assert decode_arithmetic_intensity(n, batch, dtype_bytes(torch.bfloat16)) == measured


@pytest.mark.parametrize("args", [(0, 1, 2), (10, 0, 2), (10, 1, 0)],
                         ids=["no-params", "batch-0", "bytes-0"])
def test_decode_intensity_refuses_degenerate_inputs(args):
    with pytest.raises(ValueError):
        decode_arithmetic_intensity(*args)


def test_roofline_has_a_memory_bound_and_a_compute_bound_regime():
    peak, bandwidth = 1e15, 4e12  # an accelerator with 1000 TFLOP/s and 4 TB/s
    ridge = ridge_point(peak, bandwidth)
    assert ridge == 250.0
    bytes_moved = 1e9
    below, at, above = 0.5 * ridge, ridge, 4 * ridge  # FLOPs per byte
    def time(intensity):
        return roofline_time(intensity * bytes_moved, bytes_moved, peak, bandwidth)

    assert time(below) == bytes_moved / bandwidth  # memory-bound: the FLOPs do not matter
    assert time(above) == above * bytes_moved / peak  # compute-bound: the bytes do not matter
    assert time(at) == pytest.approx(bytes_moved / bandwidth, rel=1e-15)  # the bounds meet


def test_decoding_is_memory_bound_until_the_batch_reaches_the_ridge():
    """A 7B bfloat16 model on the accelerator above: each step reads 14 GB of weights (3.5 ms),
    whatever the batch, until 2 B / 2 reaches the ridge at B = 250; beyond, the time grows
    linearly with the batch."""
    peak, bandwidth, n, bf16 = 1e15, 4e12, 7 * 10**9, 2
    weights = n * bf16

    def step_time(batch):
        return roofline_time(2 * n * batch, weights, peak, bandwidth)

    assert step_time(1) == pytest.approx(3.5e-3, rel=1e-15)
    crossover = ridge_point(peak, bandwidth) * bf16 / 2
    assert crossover == 250
    for batch in (1, 16, 128, 249):
        assert decode_arithmetic_intensity(n, batch, bf16) < ridge_point(peak, bandwidth)
        assert step_time(batch) == step_time(1)
    for batch in (251, 500, 1000):
        assert step_time(batch) == pytest.approx(2 * n * batch / peak, rel=1e-15)
        assert step_time(batch) > step_time(1)
