"""reference.layer_norm, rms_norm and the residual wrappers against F.layer_norm and F.rms_norm."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reference import PostNormResidual, PreNormResidual, layer_norm, rms_norm

SHAPES = {"vector": (16,), "rows": (4, 16), "3d-odd-N": (2, 3, 33), "N1": (3, 1)}
# id: (use weight, use bias)
AFFINE = {"plain": (False, False), "weight": (True, False), "weight-bias": (True, True)}


def make_affine(n, use_weight, use_bias, dtype, gen):
    weight = (1 + 0.5 * torch.randn(n, generator=gen)).to(dtype) if use_weight else None
    bias = torch.randn(n, generator=gen).to(dtype) if use_bias else None
    return weight, bias


def wide(t):
    return None if t is None else t.double()


def max_abs(t):
    return 1.0 if t is None else t.double().abs().max().item()


@pytest.mark.parametrize("affine", AFFINE.values(), ids=AFFINE.keys())
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("offset", [0.0, 10.0], ids=["centred", "offset10"])
def test_layer_norm_matches_torch(shape, affine, offset, dtype, gen, assert_matches_truth):
    x = (torch.randn(shape, generator=gen) + offset).to(dtype)
    weight, bias = make_affine(shape[-1], *affine, dtype, gen)
    truth = F.layer_norm(x.double(), shape[-1:], wide(weight), wide(bias), eps=1e-5)
    # Rounding x - mean costs u * |x| before the division by sigma: the condition is |x| / sigma.
    sigma = (x.double().var(-1, unbiased=False) + 1e-5).sqrt()
    condition = (x.double().abs().amax(-1) / sigma).max().item()
    magnitude = (1 + condition) * max_abs(weight) + (0.0 if bias is None else max_abs(bias))
    # k = 4: twice attention's rounding steps (two reductions, sqrt, divide, scale and shift).
    assert_matches_truth(layer_norm(x, weight, bias), truth, dtype, magnitude, k=4.0)


@pytest.mark.parametrize("use_weight", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("eps", [1e-6, 1e-2], ids=["eps1e-6", "eps1e-2"])
def test_rms_norm_matches_torch(shape, use_weight, eps, dtype, gen, assert_matches_truth):
    x = torch.randn(shape, generator=gen).to(dtype)
    weight, _ = make_affine(shape[-1], use_weight, False, dtype, gen)
    truth = F.rms_norm(x.double(), shape[-1:], wide(weight), eps=eps)
    # Every step is a product or quotient: relative errors of a few u on outputs of size |y|.
    assert_matches_truth(rms_norm(x, weight, eps=eps), truth, dtype, 1 + truth.abs().max().item())


def test_rms_norm_default_eps_is_1e_6(gen):
    x = 1e-3 * torch.randn(4, 8, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(rms_norm(x), F.rms_norm(x, (8,), eps=1e-6))


def test_layer_norm_uses_biased_variance_and_eps_inside_sqrt():
    x = torch.tensor([[1.0, 3.0]], dtype=torch.float64)  # mean 2, biased variance 1
    expected = torch.tensor([[-1.0, 1.0]], dtype=torch.float64) / (1 + 0.25) ** 0.5
    torch.testing.assert_close(layer_norm(x, eps=0.25), expected)


def test_constant_rows_give_the_bias_not_nan():
    x = torch.full((2, 5), 7.0, dtype=torch.float64)
    bias = torch.arange(5, dtype=torch.float64)
    weight = torch.ones(5, dtype=torch.float64)
    torch.testing.assert_close(layer_norm(x, weight, bias), bias.expand(2, 5))
    assert (rms_norm(torch.zeros(2, 5)) == 0).all()


# Residual wrappers -------------------------------------------------------------------------------

D = 8
NORMS = {"layer": "layer", "rms": "rms"}


def randomise(module, gen):
    """Move the norm away from its identity initialisation so the tests see weight and bias."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return module


def torch_norm(module, x):
    if module.norm_kind == "layer":
        return F.layer_norm(x, (D,), module.weight, module.bias, eps=1e-5)
    return F.rms_norm(x, (D,), module.weight, eps=1e-6)


@pytest.mark.parametrize("norm", NORMS.values(), ids=NORMS.keys())
def test_pre_norm_with_zero_sublayer_is_identity(norm, gen):
    block = randomise(PreNormResidual(D, lambda h: torch.zeros_like(h), norm=norm), gen)
    x = torch.randn(3, 4, D, generator=gen)
    assert torch.equal(block(x), x)


@pytest.mark.parametrize("norm", NORMS.values(), ids=NORMS.keys())
def test_pre_norm_matches_torch_composition(norm, gen):
    block = randomise(PreNormResidual(D, nn.Linear(D, D), norm=norm).double(), gen)
    x = torch.randn(3, 4, D, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(block(x), x + block.sublayer(torch_norm(block, x)))


@pytest.mark.parametrize("norm", NORMS.values(), ids=NORMS.keys())
def test_post_norm_matches_torch_composition(norm, gen):
    block = randomise(PostNormResidual(D, nn.Linear(D, D), norm=norm).double(), gen)
    x = torch.randn(3, 4, D, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(block(x), torch_norm(block, x + block.sublayer(x)))


def test_post_norm_output_is_normalised_but_pre_norm_output_is_not(gen):
    """With default parameters post-norm rows have mean 0 and variance var / (var + eps), about 1;
    pre-norm keeps the scale and offset of x."""
    x = 5 + 3 * torch.randn(4, D, generator=gen, dtype=torch.float64)
    sublayer = nn.Linear(D, D).double()
    post = PostNormResidual(D, sublayer).double()(x)
    pre = PreNormResidual(D, sublayer).double()(x)
    var = (x + sublayer(x)).var(-1, unbiased=False)
    torch.testing.assert_close(post.mean(-1), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(post.var(-1, unbiased=False), var / (var + 1e-5))
    assert pre.mean(-1).abs().min() > 1


@pytest.mark.parametrize(
    "norm, names", [("layer", {"weight", "bias"}), ("rms", {"weight"})], ids=["layer", "rms"]
)
def test_norm_parameters(norm, names):
    block = PreNormResidual(D, nn.Identity(), norm=norm)
    assert {n for n, _ in block.named_parameters()} == names
    assert (block.weight == 1).all()


def test_unknown_norm_raises():
    with pytest.raises(ValueError, match="norm"):
        PreNormResidual(D, nn.Identity(), norm="batch")


@pytest.mark.parametrize("norm", NORMS.values(), ids=NORMS.keys())
def test_blocks_compute_in_the_dtype_they_are_moved_to(norm, gen):
    block = PreNormResidual(D, nn.Linear(D, D), norm=norm).to(torch.bfloat16)
    x = torch.randn(2, D, generator=gen).to(torch.bfloat16)
    assert block(x).dtype == torch.bfloat16


@pytest.mark.cuda
@pytest.mark.parametrize("dtype_", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_cuda_norms_match_torch(dtype_, assert_matches_truth):
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(8, 256, generator=gen, device="cuda").to(dtype_)
    weight = (1 + 0.5 * torch.randn(256, generator=gen, device="cuda")).to(dtype_)
    bias = torch.randn(256, generator=gen, device="cuda").to(dtype_)
    truth = F.layer_norm(x.double(), (256,), weight.double(), bias.double())
    magnitude = (1 + x.double().abs().max().item()) * max_abs(weight) + max_abs(bias)
    assert_matches_truth(layer_norm(x, weight, bias), truth, dtype_, magnitude, k=4.0)
    assert_matches_truth(F.layer_norm(x, (256,), weight, bias), truth, dtype_, magnitude, k=4.0)
    truth = F.rms_norm(x.double(), (256,), weight.double(), eps=1e-6)
    magnitude = 1 + truth.abs().max().item()
    assert_matches_truth(rms_norm(x, weight), truth, dtype_, magnitude)
    assert_matches_truth(F.rms_norm(x, (256,), weight, eps=1e-6), truth, dtype_, magnitude)
