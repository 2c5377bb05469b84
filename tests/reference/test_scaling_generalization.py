"""reference.generalization: GD from zero converges to the minimum-norm solution; random-features
regression is the minimum-norm least-squares fit (interpolates when m >= n), also with more
features than points and repeated points (rank-deficient features), on the CPU and on CUDA."""

import pytest
import torch

from reference.generalization import gd_least_squares, random_features, random_features_regression


def test_gd_from_zero_reaches_pinv_on_underdetermined_problem(gen):
    x = torch.randn(6, 20, generator=gen, dtype=torch.float64)
    y = torch.randn(6, generator=gen, dtype=torch.float64)
    lr = 6 / torch.linalg.matrix_norm(x, ord=2).item() ** 2
    w = gd_least_squares(x, y, lr, 3000)
    torch.testing.assert_close(w, torch.linalg.pinv(x) @ y, rtol=0, atol=1e-10)


def test_gd_overdetermined_reaches_least_squares(gen):
    x = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(30, generator=gen, dtype=torch.float64)
    lr = 30 / torch.linalg.matrix_norm(x, ord=2).item() ** 2
    w = gd_least_squares(x, y, lr, 2000)
    torch.testing.assert_close(w, torch.linalg.lstsq(x, y.unsqueeze(-1)).solution.squeeze(-1))


def test_gd_one_step_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    # From 0 the gradient is -x^T y / N = -[(1 - 3) / 2, (2 - 4) / 2] = [1, 1].
    torch.testing.assert_close(gd_least_squares(x, y, 0.1, 1), torch.tensor([-0.1, -0.1],
                                                                            dtype=torch.float64))


def test_random_features_interpolate_and_are_min_norm(gen):
    x = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(10, generator=gen, dtype=torch.float64)
    pred_train = random_features_regression(x, y, x, 50, torch.Generator().manual_seed(0))
    torch.testing.assert_close(pred_train, y)  # m > n: interpolation
    w = torch.randn(3, 50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    phi = random_features(x, w)
    coef = torch.linalg.lstsq(phi, y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    x_test = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(random_features_regression(x, y, x_test, 50,
                                                          torch.Generator().manual_seed(0)),
                               random_features(x_test, w) @ coef)


def test_random_features_low_precision_returns_input_dtype(dtype, gen):
    x = torch.randn(12, 3, generator=gen).to(dtype)
    y = torch.randn(12, generator=gen).to(dtype)
    out = random_features_regression(x, y, x[:5], 4, torch.Generator().manual_seed(1))
    assert out.dtype == dtype and out.shape == (5,)


# ------------------------------------------------------------------ more features than points
# (n, m, repeated points): m > n, so the minimum-norm solution is one interpolant among many;
# with repeated points the features also lose rank (rank n - repeats), which a solver that assumes
# full rank gets wrong: torch.linalg.lstsq on CUDA has only the "gels" driver, which does.
WIDE = [(12, 40, 0), (20, 80, 0), (16, 40, 4), (12, 300, 3)]


def _min_norm_truth(x, y, x_test, w):
    """Test predictions of the minimum-norm least-squares fit, in float64 on the CPU by LAPACK's
    SVD-based gelsd (right whatever the rank), and the magnitude of their rounding error: the
    least-squares perturbation bound, max_i sum_j |phi_test[i, j] c_j| times
    (kappa + kappa^2 |r| / (|phi| |c|)), with kappa the condition number of phi on its numerical
    range and r the residual (see tests/reference/conftest.py for k * eps * magnitude)."""
    phi, phi_test = random_features(x, w), random_features(x_test, w)
    coef = torch.linalg.lstsq(phi, y.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    s = torch.linalg.svdvals(phi)
    s = s[s > s[0] * max(phi.shape) * torch.finfo(torch.float64).eps]
    kappa = (s[0] / s[-1]).item()
    resid = (phi @ coef - y).norm() / (s[0] * coef.norm())
    scale = (phi_test.abs() @ coef.abs()).max()  # what the predictions sum up, in absolute value
    return phi_test @ coef, scale * (kappa + kappa ** 2 * resid)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("dtype_", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("n,m,repeats", WIDE, ids=[f"n{n}-m{m}-rep{r}" for n, m, r in WIDE])
def test_random_features_minimum_norm_with_more_features_than_points(
        n, m, repeats, dtype_, device, gen, assert_matches_truth):
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64).to(dtype_)
    if repeats:
        x[n - repeats:] = x[:repeats]  # the same inputs again, with their own noise below
    y = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype_)
    x_test = torch.randn(6, 3, generator=gen, dtype=torch.float64).to(dtype_)
    # the truth on the inputs as rounded to dtype_, with the weights as the function draws them
    w = torch.randn(3, m, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    truth, magnitude = _min_norm_truth(x.double(), y.double(), x_test.double(),
                                       w.to(dtype_).double())
    out = random_features_regression(x.to(device), y.to(device), x_test.to(device), m,
                                     torch.Generator().manual_seed(7))
    assert out.device.type == device
    assert_matches_truth(out.cpu(), truth, dtype_, magnitude)
