"""gradelib.quantization and gradelib.records: Chapter 11's stand-ins give the reference's codes,
scales and products exactly; the record driver reads a dict's named numbers in order and says
what is missing or wrong."""

import pytest
import torch

from autograder import gradelib
from autograder.gradelib.quantization import int8_matmul, quantize_absmax
from autograder.gradelib.records import drive_record
from reference import quantization as ref


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("dim,bits", [(None, 8), (-1, 8), (0, 4), (1, 2)])
def test_stand_ins_are_the_reference(dtype, dim, bits):
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(bits), dtype=torch.float64)
    x[2] = 0.0
    x = x.to(dtype)
    q, s = quantize_absmax(x, bits, dim)
    q_ref, s_ref = ref.quantize_absmax(x, bits, dim)
    assert torch.equal(q, q_ref) and torch.equal(s, s_ref)
    a_q, a_s = ref.quantize_absmax(x, 8, -1)
    b_q, b_s = ref.quantize_absmax(x.T.contiguous(), 8, 0)
    assert torch.equal(int8_matmul(a_q, a_s, b_q, b_s), ref.int8_matmul(a_q, a_s, b_q, b_s))
    assert gradelib.STANDINS["ch11.quantize_absmax"] is quantize_absmax


def test_record_driver_reads_the_keys_in_order():
    out = drive_record(lambda a, b: {"b": b, "a": torch.tensor(a), "extra": "ignored"}, 1, 2.5,
                       keys=("a", "b"))
    assert out.dtype == torch.float64 and out.tolist() == [1.0, 2.5]
    with pytest.raises(TypeError, match="return a dict"):
        drive_record(lambda: [1, 2], keys=("a",))
    with pytest.raises(KeyError, match="no key 'cost'"):
        drive_record(lambda: {"flops": 1.0}, keys=("flops", "cost"))
    with pytest.raises(TypeError, match="'flops' must be a number"):
        drive_record(lambda: {"flops": "1e9"}, keys=("flops",))
