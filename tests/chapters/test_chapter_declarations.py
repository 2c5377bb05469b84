"""Every chapter declaration is well formed: ids, points, cases, public checks, notebook cells."""

from __future__ import annotations

import inspect

import pytest
import torch

from autograder import build
from autograder.cases import build_cases
from autograder.chapters import all_chapters
from autograder.derivation import reference_formula
from autograder.spec import Kind, Precision, missing_requirements
from autograder.symbolic import answer_expression, random_points

CHAPTERS = list(all_chapters().values())
EXERCISES = [(ch, ex) for ch in CHAPTERS for ex in ch.exercises]
CODED = [(ch, ex) for ch, ex in EXERCISES if ex.kind is not Kind.SYMBOLIC]
SYMBOLIC = [(ch, ex) for ch, ex in EXERCISES if ex.kind is Kind.SYMBOLIC]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_ids_are_unique_and_prefixed(chapter):
    ids = [ex.id for ex in chapter.exercises]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(chapter.id + ".") for i in ids)


@pytest.mark.parametrize("chapter,ex", CODED, ids=[e.id for _, e in CODED])
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
    if ex.precision in (Precision.FLOAT64, Precision.DEFAULT_FLOAT32):
        only = torch.float64 if ex.precision is Precision.FLOAT64 else torch.float32
        assert dtypes == {only} and {c.device for c in cases} == {"cpu"}
    elif ex.precision is Precision.NO_16_BIT:
        assert not dtypes & {torch.bfloat16, torch.float16}
        assert {torch.float32} | (set() if on_gpu else {torch.float64}) <= dtypes
    else:
        expected = {"torch.float32", "torch.bfloat16"} | (set() if on_gpu else {"torch.float64"})
        assert expected <= {str(d) for d in dtypes}
    assert ex.points > 0
    if ex.measured_once:  # its reference runs once: nothing may be compared with it
        assert all(c.compared == () and c.checks for c in cases)


@pytest.mark.parametrize("chapter,ex", EXERCISES, ids=[e.id for _, e in EXERCISES])
def test_cases_are_deterministic(chapter, ex):
    a, b = build_cases(ex, seed=0), build_cases(ex, seed=0)
    assert [c.name for c in a] == [c.name for c in b]
    for ca, cb in zip(a, b, strict=True):
        values = [*ca.args, *ca.kwargs.values(), *ca.state.values()]
        again = [*cb.args, *cb.kwargs.values(), *cb.state.values()]
        for x, y in zip(values, again, strict=True):
            assert x.equal(y) if hasattr(x, "shape") else x == y


@pytest.mark.parametrize("chapter,ex", SYMBOLIC, ids=[e.id for _, e in SYMBOLIC])
def test_a_symbolic_answer_is_declared_over_its_references_parameters(chapter, ex):
    """The symbols are the reference's parameters and the solution's, in order; the reference
    is finite on the stated domains; the solution's formula is read back equal to it."""
    assert tuple(inspect.signature(ex.reference).parameters) == ex.derivation.symbols
    assert set(ex.derivation.domains) <= set(ex.derivation.symbols)
    symbols = ex.derivation.symbol_table()
    solution = answer_expression(chapter.solution(ex.id), ex.name, symbols)
    verdict = random_points(solution, reference_formula(ex), symbols, ex.derivation.domains)
    assert verdict.ok and verdict.checked == 40, verdict.describe()
    assert not build_cases(ex) and ex.points > 0


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_notebook_source_matches_the_declaration(chapter):
    build.validate_source(build.read_source(chapter), chapter)



SPAWNING = [(ch, ex) for ch, ex in EXERCISES if ex.spawns]


@pytest.mark.parametrize("chapter, ex", SPAWNING, ids=[e.id for _, e in SPAWNING])
def test_exercises_that_spawn_are_judged_by_outputs_only(chapter, ex):
    """An exercise whose process may start threads and processes is not observed from every
    thread: its verdict must not rest on forbidden calls or observed properties."""
    assert not ex.forbidden, ex.id
    assert all(not c.checks and c.compared is None for c in build_cases(ex)), ex.id


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.id for c in CHAPTERS])
def test_warm_ups_are_known_to_the_worker(chapter):
    from autograder.worker import WARM_UPS

    assert set(chapter.warm_ups) <= set(WARM_UPS), chapter.warm_ups
