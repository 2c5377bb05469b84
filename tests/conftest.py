"""Shared fixtures for the platform's tests (every folder below): the Chapter 4 declarations, a
factory for submissions made from the released student notebook, and in-process grading: the
prepared cases of an exercise, built once per session (once per xdist worker) for each set of
devices, and ``grade_inprocess``, which grades an implementation on them.

The suite is organised by what it tests: ``reference/`` (the reference implementation against
PyTorch built-ins), ``harness/`` (the grading engine), ``chapters/`` (each chapter's grading:
catalogs, declarations, chapter-specific checks) and ``instructor/`` (build, nbgrader, otter).

The grader is imported inside the fixtures, not here, so that ``pytest tests/reference`` runs
whatever state the grader is in."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import pytest

import autograder  # noqa: F401 - first, before any nbformat import: no IRI grammars (its docstring)


def pytest_configure(config):
    """Under xdist, one intra-op thread per core and worker: two workers on two cores each
    running torch's default two OpenMP threads oversubscribe the cores. Processes the tests start
    (notebook kernels, ``llmcourse`` runs) inherit the same limit through OMP_NUM_THREADS."""
    # ``llmcourse check`` keeps plans in a cache folder: the tests' own, never the user's
    os.environ.setdefault("LLMCOURSE_CACHE", tempfile.mkdtemp(prefix="llmcourse-test-cache-"))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        import torch

        threads = max(1, (os.cpu_count() or 1) // workers)
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


# Exercises graded by a measured run of their whole budget (Chapter 12's capstone trains a model
# for 8 s per grading): their catalog tests are ``slow``, as the issue that added them allows.
MEASURED_EXERCISES = ("ch12.capstone",)


def pytest_itemcollected(item):
    callspec = getattr(item, "callspec", None)
    ids = callspec.id if callspec is not None else ""
    graded = item.path.name == "test_catalogs.py"  # grading runs; declarations are cheap
    if graded and any(ids == ex or ids.startswith(ex + "-") for ex in MEASURED_EXERCISES):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The order that keeps two xdist workers equally busy (``make test``: ``--dist worksteal``).

    Worksteal hands worker i the i-th of ``n`` consecutive blocks of the collection, and an idle
    worker then steals the tail half of the busiest one's queue. So each block is laid out as:
    first a module marked ``costly_setup`` (its tests share a costly module-scoped set-up, such as
    the nbgrader course: at a block's front they are never stolen, so one worker builds it once),
    the costly modules spread over the blocks; then the ``slow`` tests, dealt out in turn (run
    early, so the end of the run is made of short tests that balance well); then the fast ones.
    Without xdist: the costly modules first, each module's together.
    (``--dist loadgroup`` would say "together" directly, but pytest-xdist 3.8 names groups by
    rewriting ``item._nodeid``, which pytest 9 no longer reads: the groups are silently ignored.)"""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    costly: dict = {}
    slow, fast = [], []
    for item in items:
        if item.get_closest_marker("costly_setup"):
            costly.setdefault(item.module.__name__, []).append(item)
        else:
            (slow if item.get_closest_marker("slow") else fast).append(item)
    if workers < 2:
        items[:] = [it for group in costly.values() for it in group] + slow + fast
        return
    # block sizes as worksteal cuts them: what is left, shared among the workers not yet served
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    blocks: list[list] = [[] for _ in range(workers)]
    for i, group in enumerate(sorted(costly.values(), key=len, reverse=True)):
        blocks[i % workers].extend(group)
    for i, item in enumerate(slow):
        blocks[(i + len(costly)) % workers].append(item)
    for block, size in zip(blocks, sizes):
        n = max(0, size - len(block))
        block.extend(fast[:n])
        del fast[:n]
    blocks[-1].extend(fast)
    items[:] = [it for block in blocks for it in block]


class CommandRun(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def llmcourse():
    """``llmcourse(*argv) -> CommandRun(returncode, stdout, stderr)``: the ``llmcourse`` command
    run through ``cli.main`` in this process (grading still happens out of process), its output
    captured. The tests that need a process of its own (what reaches stdout, peak memory) start
    one."""
    from autograder import cli

    def run(*argv: str) -> CommandRun:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
        return CommandRun(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture(scope="module")
def figures_not_drawn():
    """For a module whose notebook kernels are there to grade (nbgrader autograde, otter run):
    matplotlib's Agg backend, so ``plt.show()`` renders no PNG (~1.7 s of each Chapter 4 run).
    The figures themselves are drawn by the build and checked in the committed solutions."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")  # what ipykernel keeps when it is set
        yield


@pytest.fixture(scope="session")
def ch04():
    from autograder.chapters import get_chapter

    return get_chapter("ch04")


@pytest.fixture(scope="session")
def ch04_release(ch04):
    import nbformat

    from autograder.build import output_paths

    return nbformat.read(output_paths(ch04)[0], as_version=4)


@pytest.fixture(scope="session")
def ch04_solutions(ch04):
    from autograder.examples import solution_answers

    return solution_answers(ch04)


@pytest.fixture
def make_class(tmp_path):
    """make_class({student: notebook path, or raw text}) -> a course folder with each one's
    submitted/<student>/ch04_attention/ch04_attention.ipynb (text as it is: e.g. not JSON)."""
    import shutil

    def make(submissions: dict) -> Path:
        root = tmp_path / "course"
        for student, src in submissions.items():
            dest = root / "submitted" / student / "ch04_attention"
            dest.mkdir(parents=True)
            if isinstance(src, str):
                (dest / "ch04_attention.ipynb").write_text(src)
            else:
                shutil.copy(src, dest / "ch04_attention.ipynb")
        return root

    return make


@pytest.fixture
def make_submission(tmp_path, ch04, ch04_release, ch04_solutions):
    """make_submission({exercise id: answer text or catalog impl}) -> path of a notebook whose
    other answer cells hold the solution."""
    import nbformat

    from autograder.examples import answer_source, fill_answers

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


@pytest.fixture(scope="session")
def chapter_plan():
    """``chapter_plan(chapter_id, devices=None)`` -> the chapter's whole plan, seed 0, on
    ``devices`` (None: the grader's default, CUDA too where there is one). Built once per test
    run, not once per xdist worker: through the plan cache (the run's own folder, see
    ``pytest_configure``), under a lock so that a second worker waits for the first and reads it."""
    import fcntl

    from autograder import plancache
    from autograder.cases import cuda_devices
    from autograder.chapters import get_chapter

    cache = {}

    def get(chapter_id, devices=None):
        key = (chapter_id, tuple(devices or cuda_devices()))
        if key not in cache:
            folder = plancache.cache_dir()
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{chapter_id}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                cache[key] = plancache.cached_plan(get_chapter(chapter_id), seed=0,
                                                   devices=key[1])
        return cache[key]

    return get


@pytest.fixture(scope="session")
def plans(chapter_plan):
    """``plans(exercise_id, devices=("cpu",))`` -> ``(exercise, prepared cases)``, seed 0, built
    once per run and shared, as the batch grader shares a plan between submissions: on the CPU,
    from :func:`chapter_plan`; on other devices, per exercise. ``devices=None`` is the grader's
    own default (CUDA too where there is one)."""
    from autograder.chapters import find_exercise
    from autograder.grade import plan_for

    cache = {}

    def get(exercise_id, devices=("cpu",)):
        key = (exercise_id, None if devices is None else tuple(devices))
        if key not in cache:
            chapter, ex = find_exercise(exercise_id)
            if key[1] == ("cpu",):
                [prepared] = [prep for e, prep in chapter_plan(chapter.id, ("cpu",)) if e is ex]
            else:
                [(_, prepared)] = plan_for(chapter, [ex], devices=key[1])
            cache[key] = (ex, prepared)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def grade_inprocess(plans):
    """``grade(exercise_id, impl, tag=None, devices=("cpu",))``: grade ``impl`` in process (the
    verdict code used out of process) on the exercise's cases for ``devices``, only those tagged
    ``tag`` when given (there must be some), with warnings silenced."""
    from autograder.inprocess import grade_object
    from autograder.spec import Kind

    def grade(exercise_id, impl, tag=None, devices=("cpu",)):
        ex, prepared = plans(exercise_id, devices)
        prepared = [p for p in prepared if tag is None or tag in p.tags]
        assert prepared or (ex.kind is Kind.SYMBOLIC and tag is None), \
            f"{exercise_id} has no case tagged {tag!r}"  # a symbolic answer has no cases
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return grade_object(impl, ex, prepared)
    return grade
