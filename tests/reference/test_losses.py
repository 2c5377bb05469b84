"""reference.losses against torch's logsumexp, log_softmax, cross_entropy and autograd."""

import pytest
import torch
import torch.nn.functional as F

from reference.losses import cross_entropy, cross_entropy_grad, log_softmax, logsumexp

SHAPES = [((7,), -1), ((4, 9), -1), ((4, 9), 0), ((2, 3, 5), 1)]
SHAPE_IDS = ["vector", "rows", "columns", "3d-middle"]


@pytest.mark.parametrize("shape, dim", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["x1", "x1000"])
def test_logsumexp_and_log_softmax_match_torch(shape, dim, scale, dtype, gen, assert_matches_truth):
    x = (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)
    # x - max is exact (Sterbenz); the log of a sum in [1, C] and the final add round at |output|.
    mag_lse = x.double().abs().max().item() + 4
    assert_matches_truth(logsumexp(x, dim=dim), torch.logsumexp(x.double(), dim=dim), dtype, mag_lse)
    assert_matches_truth(log_softmax(x, dim=dim), torch.log_softmax(x.double(), dim=dim), dtype,
                         2 * mag_lse)


def test_minus_inf_entries_and_rows(dtype, assert_matches_truth):
    x = torch.tensor([[0.0, float("-inf"), 1.0], [float("-inf")] * 3], dtype=dtype)
    out = logsumexp(x)
    assert out[1] == float("-inf") and torch.isfinite(out[0])
    assert_matches_truth(out[0], torch.logsumexp(x[0].double(), 0), dtype, 2, k=4)
    lsm = log_softmax(x[:1])
    assert lsm[0, 1] == float("-inf")


def test_log_softmax_gradient_matches_autograd_of_torch(gen):
    x = torch.randn(3, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    (mine,) = torch.autograd.grad(log_softmax(x), x, g)
    (theirs,) = torch.autograd.grad(torch.log_softmax(x, -1), x, g)
    torch.testing.assert_close(mine, theirs)


CE_SETTINGS = [
    dict(),
    dict(label_smoothing=0.1),
    dict(reduction="sum"),
    dict(reduction="none", label_smoothing=0.3),
    dict(ignore_index=2),
]


@pytest.mark.parametrize("kw", CE_SETTINGS, ids=["mean", "smooth", "sum", "none-smooth", "ignore2"])
@pytest.mark.parametrize("shape", [(8, 5), (2, 4, 5)], ids=["NC", "BTC"])
@pytest.mark.parametrize("scale", [2.0, 1000.0], ids=["x2", "x1000"])
def test_cross_entropy_matches_torch(kw, shape, scale, dtype, gen, assert_matches_truth):
    logits = (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)
    targets = torch.randint(0, shape[-1], shape[:-1], generator=gen)
    targets.view(-1)[1] = kw.get("ignore_index", -100)
    flat_logits = logits.double().reshape(-1, shape[-1])
    truth = F.cross_entropy(flat_logits, targets.reshape(-1), **kw)
    if kw.get("reduction") == "none":
        truth = truth.reshape(targets.shape)
    out = cross_entropy(logits, targets, **kw)
    # Per prediction the loss is a difference of logits and a log-sum-exp, each of size ~ max|z|.
    magnitude = 4 * (logits.double().abs().max().item() + 4) * (targets.numel() if kw.get(
        "reduction") == "sum" else 1)
    assert_matches_truth(out, truth, dtype, magnitude)


def test_all_targets_ignored_gives_nan_as_torch():
    logits = torch.randn(3, 4, dtype=torch.float64)
    targets = torch.full((3,), -100)
    assert torch.isnan(cross_entropy(logits, targets))
    assert torch.isnan(F.cross_entropy(logits, targets))


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 6), (1, 7)], ids=["NC", "BTC", "single"])
@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["x1", "x1000"])
def test_cross_entropy_grad_matches_autograd(shape, scale, gen):
    logits = (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).requires_grad_(True)
    targets = torch.randint(0, shape[-1], shape[:-1], generator=gen)
    F.cross_entropy(logits.reshape(-1, shape[-1]), targets.reshape(-1)).backward()
    torch.testing.assert_close(cross_entropy_grad(logits.detach(), targets), logits.grad)


def test_cross_entropy_grad_rows_sum_to_zero(dtype, gen):
    logits = torch.randn(6, 9, generator=gen).to(dtype)
    g = cross_entropy_grad(logits, torch.randint(0, 9, (6,), generator=gen))
    assert g.dtype == dtype
    assert g.double().sum(-1).abs().max() <= 8 * torch.finfo(dtype).eps


@pytest.mark.cuda
def test_cross_entropy_on_cuda():
    logits = torch.randn(4, 3, 7, device="cuda") * 100
    targets = torch.randint(0, 7, (4, 3), device="cuda")
    targets[0, 0] = -100
    truth = F.cross_entropy(logits.double().reshape(-1, 7), targets.reshape(-1), label_smoothing=0.1)
    torch.testing.assert_close(cross_entropy(logits, targets, label_smoothing=0.1).double(), truth,
                               rtol=0, atol=1e-3)
