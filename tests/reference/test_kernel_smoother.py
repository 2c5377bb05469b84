"""reference.kernel_smoother (Gaussian Nadaraya-Watson, section 4.4) against closed forms."""

import pytest
import torch
import torch.nn.functional as F

from reference import kernel_smoother

# id: (queries shape, keys shape, values shape)
SHAPES = {
    "1d-regression": ((9, 1), (12, 1), (12, 1)),
    "no-batch": ((5, 3), (7, 3), (7, 2)),
    "batch": ((2, 5, 4), (2, 7, 4), (2, 7, 3)),
    "broadcast-batch": ((2, 1, 5, 4), (1, 3, 7, 4), (1, 3, 7, 3)),
    "M1": ((1, 4), (6, 4), (6, 4)),
}
BANDWIDTHS = {"h0.3": 0.3, "h1": 1.0, "h3": 3.0}


def truth_smoother(queries, keys, values, h):
    """The formula of section 4.4 in float64 (cdist without the |q|^2 + |k|^2 - 2 q.k trick)."""
    dist = torch.cdist(queries.double(), keys.double(), compute_mode="donot_use_mm_for_euclid_dist")
    return torch.softmax(-(dist**2) / (2 * h**2), dim=-1) @ values.double()


def smoother_magnitude(queries, keys, values, h):
    """Rounding q - k, squaring and summing E terms perturbs a log-weight
    l_j = |q - k_j|^2 / (2 h^2) by up to (E + 2) u l_j, which moves the output by
    max|v| * (E + 2) u * sum_j p_j l_j (to first order)."""
    dist = torch.cdist(queries.double(), keys.double(), compute_mode="donot_use_mm_for_euclid_dist")
    log_kernel = dist**2 / (2 * h**2)  # (..., L, S)
    expected_log_kernel = (torch.softmax(-log_kernel, dim=-1) * log_kernel).sum(-1).max().item()
    return values.double().abs().max().item() * (1 + (queries.shape[-1] + 2) * expected_log_kernel)


@pytest.mark.parametrize("h", BANDWIDTHS.values(), ids=BANDWIDTHS.keys())
@pytest.mark.parametrize("shapes", SHAPES.values(), ids=SHAPES.keys())
def test_matches_formula(shapes, h, dtype, gen, assert_matches_truth):
    q, k, v = (torch.randn(s, generator=gen).to(dtype) for s in shapes)
    out = kernel_smoother(q, k, v, h)
    assert out.shape == truth_smoother(q, k, v, h).shape
    assert_matches_truth(out, truth_smoother(q, k, v, h), dtype, smoother_magnitude(q, k, v, h))


def test_is_softmax_attention_with_negative_squared_distance_scores(gen):
    """Scores -|q - k|^2 / (2 h^2) given to torch's SDPA as an additive mask (with scale 0)."""
    q, k, v = (torch.randn(2, n, 3, generator=gen, dtype=torch.float64) for n in (5, 7, 7))
    h = 0.8
    scores = -torch.cdist(q, k) ** 2 / (2 * h**2)  # (2, 5, 7)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=scores, scale=0.0)
    torch.testing.assert_close(kernel_smoother(q, k, v, h), expected)


def test_is_dot_product_attention_with_key_norm_bias(gen):
    """-|q - k|^2 / (2 h^2) = q.k / h^2 - |k|^2 / (2 h^2) - |q|^2 / (2 h^2), and softmax ignores
    the last term (constant along each row): SDPA with scale 1 / h^2 and a key bias."""
    q, k, v = (torch.randn(2, n, 3, generator=gen, dtype=torch.float64) for n in (5, 7, 7))
    h = 1.3
    key_bias = -(k**2).sum(-1)[:, None, :] / (2 * h**2)  # (2, 1, 7)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias, scale=1 / h**2)
    torch.testing.assert_close(kernel_smoother(q, k, v, h), expected)


def test_huge_bandwidth_gives_mean_of_values(gen):
    q, k, v = (torch.randn(n, 3, generator=gen, dtype=torch.float64) for n in (4, 6, 6))
    h = 1e4
    # Every weight is 1/N * (1 + O(max|q - k|^2 / (2 h^2))), so the error is below this bound.
    bound = 2 * v.abs().max().item() * torch.cdist(q, k).max().item() ** 2 / (2 * h**2)
    mean = v.mean(0).expand(4, 3)
    torch.testing.assert_close(kernel_smoother(q, k, v, h), mean, rtol=0, atol=bound)


@pytest.mark.parametrize("E", [1, 2], ids=["E1", "E2"])
def test_tiny_bandwidth_gives_nearest_neighbour_value(E, gen):
    # Keys on a unit grid, queries within 0.3 of a key: the runner-up is at least 0.4 further in
    # squared distance, so its weight is below exp(-0.4 / (2 * 0.01^2)) = exp(-2000) = 0.
    grid = torch.stack(torch.meshgrid(*[torch.arange(3.0)] * E, indexing="ij"), -1).reshape(-1, E)
    keys = grid.double()
    values = torch.randn(len(keys), 2, generator=gen, dtype=torch.float64)
    nearest = torch.randint(len(keys), (10,), generator=gen)
    jitter = 2 * torch.rand(10, E, generator=gen, dtype=torch.float64) - 1  # in [-1, 1)^E
    queries = keys[nearest] + 0.3 / E**0.5 * jitter
    out = kernel_smoother(queries, keys, values, 0.01)
    torch.testing.assert_close(out, values[nearest], rtol=0, atol=0)


def test_far_away_queries_do_not_give_nan(gen):
    """At distance 1e3 every kernel value exp(-5e5) underflows to 0; the log domain avoids 0 / 0."""
    q = 1e3 + torch.randn(4, 2, generator=gen)
    k, v = torch.randn(6, 2, generator=gen), torch.randn(6, 3, generator=gen)
    naive_w = torch.exp(-torch.cdist(q, k) ** 2 / 2)
    assert (naive_w / naive_w.sum(-1, keepdim=True)).isnan().all(), "the naive formula gives 0 / 0"
    out = kernel_smoother(q, k, v, 1.0)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), truth_smoother(q, k, v, 1.0))


def test_distances_do_not_cancel_for_close_points_far_from_the_origin(gen, assert_matches_truth):
    """Points near 1e3 with neighbours ~0.1 apart: the differences are exact in float32, whereas
    |q|^2 + |k|^2 - 2 q.k loses everything below the spacing of float32 at 1e6 (about 0.06)."""
    centre = torch.full((3,), 1e3)
    q = centre + 0.1 * torch.randn(5, 3, generator=gen)
    k = centre + 0.1 * torch.randn(8, 3, generator=gen)
    v = torch.randn(8, 2, generator=gen)
    h = 0.1
    truth = truth_smoother(q, k, v, h)
    out = kernel_smoother(q, k, v, h)
    assert_matches_truth(out, truth, torch.float32, smoother_magnitude(q, k, v, h))
    expanded = (q**2).sum(-1, keepdim=True) + (k**2).sum(-1) - 2 * q @ k.T  # (L, S)
    naive = torch.softmax(-expanded / (2 * h**2), dim=-1) @ v
    error = lambda t: (t.double() - truth).abs().max()
    assert error(naive) > 10 * error(out), "the expanded distance should have cancelled here"


@pytest.mark.parametrize(
    "h", [0.0, -1.0, torch.tensor(0.0)], ids=["zero", "negative", "tensor-zero"]
)
def test_nonpositive_bandwidth_raises(h):
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="bandwidth"):
        kernel_smoother(x, x, x, h)


def test_tensor_bandwidth_is_differentiable_and_does_not_upcast(gen):
    q, k, v = (torch.randn(n, 2, generator=gen, dtype=torch.float64) for n in (4, 6, 6))
    h = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(kernel_smoother(q, k, v, h), kernel_smoother(q, k, v, 0.7))
    q.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q, h: kernel_smoother(q, k, v, h), (q, h))
    assert kernel_smoother(q.float(), k.float(), v.float(), h).dtype == torch.float32


@pytest.mark.cuda
@pytest.mark.parametrize("dtype_", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_cuda_matches_formula(dtype_, assert_matches_truth):
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(2, n, 4, generator=gen, device="cuda") for n in (64, 128, 128))
    q, k, v = q.to(dtype_), k.to(dtype_), v.to(dtype_)
    out = kernel_smoother(q, k, v, 1.0)
    assert out.device == q.device
    truth, magnitude = truth_smoother(q, k, v, 1.0), smoother_magnitude(q, k, v, 1.0)
    assert_matches_truth(out, truth, dtype_, magnitude)
