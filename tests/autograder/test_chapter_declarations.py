"""Every chapter declaration is well formed: ids, points, cases, public checks, notebook cells."""

from __future__ import annotations

import pytest
import torch

from autograder import build
from autograder.cases import build_cases
from autograder.chapters import all_chapters
from autograder.spec import missing_requirements

CHAPTERS = list(all_chapters().values())
EXERCISES = [(ch, ex) for ch in CHAPTERS for ex in ch.exercises]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_ids_are_unique_and_prefixed(chapter):
    ids = [ex.id for ex in chapter.exercises]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(chapter.id + ".") for i in ids)


@pytest.mark.parametrize("chapter,ex", EXERCISES, ids=[e.id for _, e in EXERCISES])
def test_cases_are_varied_and_named(chapter, ex):
    missing = missing_requirements(ex.requires)
    if missing:  # skipped, never passed: the exercise has no case on this machine
        pytest.skip(f"ungraded on this machine: needs {' and '.join(missing)}")
    on_gpu = "cuda" in ex.requires and torch.cuda.is_available()
    cases = build_cases(ex, devices=("cuda",) if on_gpu else ("cpu",))
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "case names must be unique (they are shown to students)"
    assert any(c.public for c in cases), "no public self-check case"
    dtypes = {c.dtype for c in cases}
    expected = {"torch.float32", "torch.bfloat16"} | (set() if on_gpu else {"torch.float64"})
    assert expected <= {str(d) for d in dtypes}
    assert ex.points > 0


@pytest.mark.parametrize("chapter,ex", EXERCISES, ids=[e.id for _, e in EXERCISES])
def test_cases_are_deterministic(chapter, ex):
    a, b = build_cases(ex, seed=0), build_cases(ex, seed=0)
    for ca, cb in zip(a, b):
        for x, y in zip(ca.args, cb.args):
            if hasattr(x, "shape"):
                assert x.equal(y)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_notebook_source_matches_the_declaration(chapter):
    build.validate_source(build.read_source(chapter), chapter)
