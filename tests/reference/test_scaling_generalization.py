"""reference.generalization: GD from zero converges to the minimum-norm solution; random-features
regression is the minimum-norm least-squares fit (interpolates when F >= N)."""

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
    torch.testing.assert_close(pred_train, y)  # F > N: interpolation
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
