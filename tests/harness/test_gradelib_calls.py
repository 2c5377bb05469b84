"""gradelib.calls: ``drive_table`` builds a table in the dtype and on the device of its ``like``
tensor and passes every other argument through; dtype names become torch dtypes; a count must be
an exact Python int."""

import pytest
import torch

from autograder import gradelib
from autograder.gradelib.calls import drive_dtype_args, drive_table, dtype_named
from reference.positional import alibi_bias, sinusoidal_positional_encoding


def test_drive_table_is_registered():
    assert gradelib.DRIVERS["drive_table"] is drive_table


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=str)
def test_drive_table_takes_dtype_and_device_from_like(dtype):
    like = torch.tensor(10.0, dtype=dtype)
    got = drive_table(sinusoidal_positional_encoding, like, 10, 6, base=100.0)
    assert got.dtype == dtype and got.device == like.device
    assert torch.equal(got, sinusoidal_positional_encoding(10, 6, 100.0, dtype=dtype))
    assert torch.equal(drive_table(alibi_bias, like, 4, 3, 5), alibi_bias(4, 3, 5, dtype=dtype))


def test_drive_table_refuses_a_target_without_dtype():
    with pytest.raises(TypeError):
        drive_table(lambda n: torch.zeros(n), torch.tensor(1.0), 3)


def test_dtype_names_become_dtypes_and_other_values_stay():
    assert dtype_named("bfloat16") is torch.bfloat16
    assert dtype_named("float64") is torch.float64
    for value in ("adamw", "nn", 3, None):  # torch.nn is not a dtype
        assert dtype_named(value) == value


def test_driver_converts_positional_and_keyword_arguments():
    seen = drive_dtype_args(lambda *a, **kw: (a, kw), 10, "float16", "sgd", grad="float32")
    assert seen == ((10, torch.float16, "sgd"), {"grad": torch.float32})


def test_drive_or_refuse_passes_through_and_reports_a_refusal():
    from autograder.gradelib.calls import drive_or_refuse

    def guarded(x, limit=3):
        if x.numel() > limit:
            raise ValueError("too long")
        return x * 2

    x = torch.arange(3.0)
    assert torch.equal(drive_or_refuse(guarded, x), x * 2)
    assert int(drive_or_refuse(guarded, torch.zeros(5), refuse="ValueError")) == 1
    assert int(drive_or_refuse(guarded, x, refuse="ValueError")) == 0  # returned: not refused
    with pytest.raises(TypeError):  # another exception reaches the student as it is
        drive_or_refuse(lambda x: x + "s", x, refuse="ValueError")
