"""Shared fixtures for the platform's tests: the Chapter 4 declarations, its prepared cases (built
once per session), a factory for submissions made from the released student notebook, and
in-process grading of one exercise on some of its CPU cases."""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat
import pytest

from autograder.build import output_paths
from autograder.chapters import find_exercise, get_chapter
from autograder.examples import answer_source, fill_answers, solution_answers
from autograder.grade import plan_for
from autograder.inprocess import grade_object


@pytest.fixture(scope="session")
def ch04():
    return get_chapter("ch04")


@pytest.fixture(scope="session")
def ch04_plan(ch04):
    """{exercise id: (exercise, prepared cases)} on CPU, seed 0."""
    return {ex.id: (ex, prepared) for ex, prepared in plan_for(ch04, devices=("cpu",))}


@pytest.fixture(scope="session")
def ch04_release(ch04):
    return nbformat.read(output_paths(ch04)[0], as_version=4)


@pytest.fixture(scope="session")
def ch04_solutions(ch04):
    return solution_answers(ch04)


@pytest.fixture
def make_submission(tmp_path, ch04, ch04_release, ch04_solutions):
    """make_submission({exercise id: answer text or catalog impl}) -> path of a notebook whose
    other answer cells hold the solution."""
    counter = iter(range(1000))

    def make(overrides: dict, *, base_solutions: bool = True) -> Path:
        answers = dict(ch04_solutions) if base_solutions else {}
        for ex_id, value in overrides.items():
            if not isinstance(value, str):
                value = answer_source(value, ch04.exercise(ex_id).name)
            answers[ex_id] = value
        nb = fill_answers(ch04_release, ch04, answers)
        path = tmp_path / f"submission_{next(counter)}.ipynb"
        nbformat.write(nb, path)
        return path

    return make


@pytest.fixture
def grade_on_cpu():
    """``grade(exercise_id, impl, tag=None)``: grade ``impl`` in process on the exercise's CPU
    cases (only those tagged ``tag`` when given; there must be some)."""
    def grade(exercise_id, impl, tag=None):
        chapter, ex = find_exercise(exercise_id)
        [(_, prepared)] = plan_for(chapter, [ex], devices=("cpu",))
        prepared = [p for p in prepared if tag is None or tag in p.tags]
        assert prepared, f"{exercise_id} has no case tagged {tag!r}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return grade_object(impl, ex, prepared)
    return grade
