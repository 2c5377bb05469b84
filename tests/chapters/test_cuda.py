"""Grading on CUDA, for every chapter: the same cases moved to the GPU (plus float16). Reported
as skipped, never as passed, on machines without a CUDA device."""

from __future__ import annotations

import pytest
from alternatives import ALTERNATIVES
import torch

from autograder.build import output_paths
from autograder.chapters import all_chapters
from autograder.grade import grade_notebook

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="no CUDA device: ungraded on this machine")]
CHAPTERS = list(all_chapters().values())
each_chapter = pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
CPU_AND_CUDA = ("cpu", "cuda")


@each_chapter
def test_reference_and_alternatives_pass_on_cuda(chapter, plans, grade_inprocess):
    # Exercises whose answers are device-free numbers (FLOP or byte counts) have no CUDA case.
    assert any(p.case.device == "cuda" for ex in chapter.exercises
               for p in plans(ex.id, CPU_AND_CUDA)[1]), chapter.id
    for ex in chapter.exercises:
        for impl in (ex.reference, *ALTERNATIVES.get(ex.id, ())):
            result = grade_inprocess(ex.id, impl, devices=CPU_AND_CUDA)
            assert result.passed, (ex.id, getattr(impl, "__name__", impl), result.messages)


@each_chapter
def test_mistakes_are_caught_on_cuda(chapter, grade_inprocess):
    for ex in chapter.exercises:
        for m in ex.mistakes:
            assert not grade_inprocess(ex.id, m.impl, devices=CPU_AND_CUDA).passed, (ex.id, m.key)


@each_chapter
def test_solution_notebook_full_marks_out_of_process_on_cuda(chapter):
    result = grade_notebook(str(output_paths(chapter)[1]), chapter.id, devices=("cpu", "cuda"))
    assert result.total == chapter.max_points, [e.messages for e in result.exercises]
    assert not any("ungraded" in m for e in result.exercises for m in e.messages)
