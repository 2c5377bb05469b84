"""CaseBuilder's grids: ``grid`` declares each row in every device × dtype cell with the grid's
policies; ``exact_grid`` declares each row of an integer exercise once, the dtypes in turn."""

import torch

from autograder.spec import CaseBuilder


def _rows(cell):
    cell("first, public", torch.arange(3), public=True)
    for i in range(5):
        cell(f"row {i}", torch.arange(i + 1))


def test_grid_declares_every_row_in_every_dtype_with_the_public_rule():
    b = CaseBuilder("chXX.example")
    cases = b.grid(_rows)
    assert len(cases) == 6 * len(b.dtypes())
    public = [c for c in cases if c.public]
    assert [c.name for c in public] == ["float32, first, public"]


def test_exact_grid_declares_each_row_once_and_labels_every_dtype():
    b = CaseBuilder("chXX.example")
    cases = b.exact_grid(_rows)
    names = sorted(c.name.split(", ", 1)[1] for c in cases)
    assert names == sorted(["first, public"] + [f"row {i}" for i in range(5)])
    assert {c.dtype for c in cases} == set(b.dtypes())
    [public] = [c for c in cases if c.public]
    assert public.dtype == torch.float32 and public.name == "float32, first, public"


def test_float64_grid_declares_each_row_once_in_float64_on_the_cpu_with_its_public_rows():
    b = CaseBuilder("chXX.example", devices=("cpu", "cuda"))
    cases = b.float64_grid(_rows)
    assert len(cases) == 6
    assert {(c.dtype, c.device) for c in cases} == {(torch.float64, "cpu")}
    [public] = [c for c in cases if c.public]
    assert public.name == "float64, first, public"


def test_default_grid_declares_each_row_once_in_float32_on_the_cpu():
    b = CaseBuilder("chXX.example", devices=("cpu", "cuda"))
    cases = b.default_grid(_rows)
    assert len(cases) == 6 and {(c.dtype, c.device) for c in cases} == {(torch.float32, "cpu")}
    assert [c.name for c in cases if c.public] == ["float32, first, public"]
