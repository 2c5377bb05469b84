"""gradelib.measure: the largest tensor a call creates, its matmul FLOPs, and the causal tile
budget of a tiled attention."""

import pytest
import torch

from autograder.gradelib.measure import LargestTensor, causal_tile_pairs, measured


def test_largest_tensor_records_shape_size_and_operation():
    with LargestTensor() as watch:
        a = torch.ones(3, 4)
        (a @ torch.ones(4, 5)).sum()  # the largest result is the (3, 5) product
        torch.zeros(2)
    assert (watch.numel, watch.shape) == (20, (4, 5))
    assert watch.op.startswith("aten.")


def test_measured_returns_result_largest_tensor_and_matmul_flops():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    result, watch, flops = measured(torch.matmul, a, b)
    assert torch.equal(result, a @ b)
    assert watch.shape == (8, 4)
    assert flops == 2 * 8 * 16 * 4


def _brute_force(L, S, bq, bk):
    """Pairs of the tiles that hold at least one visible pair (key j <= query i)."""
    total = 0
    for i0 in range(0, L, bq):
        for j0 in range(0, S, bk):
            rows, cols = range(i0, min(i0 + bq, L)), range(j0, min(j0 + bk, S))
            if any(j <= i for i in rows for j in cols):
                total += len(rows) * len(cols)
    return total


@pytest.mark.parametrize("L,S,bq,bk", [(37, 37, 16, 8), (45, 20, 8, 8), (20, 45, 8, 16),
                                       (6, 6, 1, 1), (9, 9, 64, 64), (64, 64, 16, 16)])
def test_causal_tile_pairs_counts_the_tiles_the_mask_does_not_hide(L, S, bq, bk):
    assert causal_tile_pairs(L, S, bq, bk) == _brute_force(L, S, bq, bk)


def test_causal_tile_pairs_limits():
    assert causal_tile_pairs(6, 6, 1, 1) == 6 * 7 // 2  # 1×1 tiles: exactly the kept pairs
    assert causal_tile_pairs(9, 7, 64, 64) == 9 * 7  # one tile: everything is computed
