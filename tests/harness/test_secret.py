"""The course's secret seed (autograder/secret.py): drawn once, private, refused when exposed, and
never written out in clear by `llmcourse grade`."""

from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from autograder import batch, secret
from autograder.chapters import get_chapter
from autograder.secret import SecretSeedError, course_seed, seed_path


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_created_once_private_and_reused(tmp_path):
    seed = course_seed(tmp_path)
    path = tmp_path / "llmcourse" / "secret_seed"
    assert seed_path(tmp_path) == path and path.is_file() and not path.is_symlink()
    assert _mode(path) == 0o600
    assert 0 <= seed < 2 ** secret.SEED_BITS and path.read_text() == f"{seed}\n"
    assert course_seed(tmp_path) == seed  # reused, not redrawn
    assert sorted(p.name for p in (tmp_path / "llmcourse").iterdir()) == ["secret_seed"]


def test_created_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        course_seed(tmp_path)
    finally:
        os.umask(old)
    assert _mode(seed_path(tmp_path)) == 0o600


def test_two_courses_get_different_seeds(tmp_path):
    assert course_seed(tmp_path / "a") != course_seed(tmp_path / "b")


def test_concurrent_first_runs_agree(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        seeds = set(pool.map(lambda _: course_seed(tmp_path), range(16)))
    assert len(seeds) == 1
    assert [p.name for p in (tmp_path / "llmcourse").iterdir()] == ["secret_seed"]  # no leftovers


def test_an_existing_seed_is_kept(tmp_path):
    path = seed_path(tmp_path)
    path.parent.mkdir()
    path.write_text("12345\n")
    path.chmod(0o600)
    assert course_seed(tmp_path) == 12345


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_refused_when_others_can_read_or_write_it(tmp_path, mode):
    course_seed(tmp_path)
    seed_path(tmp_path).chmod(mode)
    with pytest.raises(SecretSeedError, match="readable or writable by others.*chmod 600"):
        course_seed(tmp_path)


def test_refused_when_not_a_plain_file(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("7\n")
    target.chmod(0o600)
    path = seed_path(tmp_path)
    path.parent.mkdir()
    path.symlink_to(target)
    with pytest.raises(SecretSeedError, match="not a plain file"):
        course_seed(tmp_path)
    path.unlink()
    path.mkdir()
    with pytest.raises(SecretSeedError, match="not a plain file"):
        course_seed(tmp_path)


def test_refused_when_owned_by_someone_else(tmp_path, monkeypatch):
    course_seed(tmp_path)
    me = os.getuid()
    monkeypatch.setattr(secret.os, "getuid", lambda: me + 1)
    with pytest.raises(SecretSeedError, match="not by you"):
        course_seed(tmp_path)


def test_refused_when_not_a_seed(tmp_path):
    course_seed(tmp_path)
    seed_path(tmp_path).write_text("not a number\n")
    with pytest.raises(SecretSeedError, match="does not hold a seed"):
        course_seed(tmp_path)


def test_result_files_do_not_hold_the_seed_in_clear(tmp_path, monkeypatch):
    """The stored results carry a fingerprint of the seed (to know when to regrade), not the
    seed itself."""
    seed = course_seed(tmp_path)
    monkeypatch.setattr("autograder.grade.plan_for", lambda chapter, seed: [])
    ch04 = get_chapter("ch04")
    records = batch.grade_all(tmp_path, ch04.assignment, ch04, {"alice": None},
                              [ch04.notebook_stem], seed=seed, log=lambda *a: None)
    batch.write_reports(tmp_path, ch04.assignment, ch04, records)
    batch.write_feedback(tmp_path, ch04.assignment, ch04, records)
    written = [p for p in (tmp_path / "llmcourse").rglob("*") if p.is_file()
               and p != seed_path(tmp_path)]
    assert len(written) >= 4  # result, CSV, JSON, feedback
    for p in written:
        assert str(seed) not in p.read_text(encoding="utf-8"), p
    assert json.loads((batch.results_dir(tmp_path, ch04.assignment) / "alice.json")
                      .read_text())["fingerprint"] == batch.grader_fingerprint(seed)
