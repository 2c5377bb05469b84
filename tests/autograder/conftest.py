"""Shared fixtures for the platform's tests: the Chapter 4 declarations, its prepared cases (built
once per session), and a factory for submissions made from the released student notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.build import output_paths
from autograder.chapters import get_chapter
from autograder.examples import answer_source, fill_answers, solution_answers
from autograder.grade import plan_for


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
