"""Grading on CUDA: the same cases moved to the GPU (plus float16). Reported as skipped, never as
passed, on machines without a CUDA device."""

from __future__ import annotations

import pytest
import torch

from autograder.grade import grade_notebook, plan_for
from autograder.inprocess import grade_object

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="no CUDA device: ungraded on this machine")]


@pytest.fixture(scope="module")
def cuda_plan(ch04):
    return {ex.id: (ex, p) for ex, p in plan_for(ch04, devices=("cpu", "cuda"))}


def test_reference_and_alternatives_pass_on_cuda(cuda_plan):
    for ex, prepared in cuda_plan.values():
        assert any(p.case.device == "cuda" for p in prepared)
        assert any(p.case.dtype == torch.float16 for p in prepared)
        for impl in (ex.reference, *ex.alternatives):
            result = grade_object(impl, ex, prepared)
            assert result.passed, (ex.id, getattr(impl, "__name__", impl), result.messages)


def test_mistakes_are_caught_on_cuda(cuda_plan):
    for ex, prepared in cuda_plan.values():
        for m in ex.mistakes:
            assert not grade_object(m.impl, ex, prepared).passed, (ex.id, m.key)


def test_solution_notebook_full_marks_out_of_process_on_cuda(ch04):
    from autograder.build import output_paths

    result = grade_notebook(str(output_paths(ch04)[1]), "ch04", devices=("cpu", "cuda"))
    assert result.total == ch04.max_points, [e.messages for e in result.exercises]
    assert not any("ungraded" in m for e in result.exercises for m in e.messages)
