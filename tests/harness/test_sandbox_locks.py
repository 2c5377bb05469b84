"""The sandbox's slot locks (``sandbox.slot_lease``): a folder of the grader's own that no other
local user can plant, redirect or block, and lock files that are never truncated nor followed
through a symbolic link. Each test points the folder into its own temporary directory."""

from __future__ import annotations

import os
import stat

import pytest

from autograder import sandbox

OTHER_UID = 60999  # not a sandbox slot's uid (those start at sandbox.BASE_UID)
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown a file to another "
                             "uid (a non-root grader cannot be handed someone else's folder "
                             "except by that user, which this test cannot be)")


@pytest.fixture
def locks(tmp_path, monkeypatch):
    folder = tmp_path / "slots"
    monkeypatch.setattr(sandbox, "SLOT_LOCKS", folder)
    return folder


def test_the_default_folder_is_per_user():
    assert sandbox.SLOT_LOCKS.name == f"llmcourse-slots-{os.geteuid()}"


def test_folder_is_created_private(locks):
    with sandbox.slot_lease(0) as slot:
        assert slot == 0
    st = os.lstat(locks)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.geteuid()
    assert stat.S_IMODE(os.lstat(locks / "slot-0.lock").st_mode) == 0o600


def test_folder_created_private_whatever_the_umask(locks):
    old = os.umask(0o000)
    try:
        with sandbox.slot_lease(0):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.lstat(locks).st_mode) == 0o700


def test_a_symlinked_folder_is_refused(locks, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    locks.symlink_to(target)
    with pytest.raises(RuntimeError, match=rf"refusing the sandbox slot-lock folder {locks}: it "
                                           "is a symbolic link; remove it"):
        with sandbox.slot_lease(0):
            pass
    assert list(target.iterdir()) == []


def test_a_file_in_place_of_the_folder_is_refused(locks):
    locks.write_text("")
    with pytest.raises(RuntimeError, match="is not a directory"):
        with sandbox.slot_lease(0):
            pass


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o707, 0o1777, 0o750],
                         ids=["world-writable", "group-writable", "other-writable", "sticky-1777",
                              "group-readable"])
def test_a_folder_others_may_use_is_refused(locks, mode):
    locks.mkdir()
    locks.chmod(mode)
    with pytest.raises(RuntimeError, match=rf"has mode {mode:04o}: other users may use it"):
        with sandbox.slot_lease(0):
            pass


@AS_ROOT
def test_a_folder_owned_by_someone_else_is_refused(locks):
    locks.mkdir(mode=0o700)
    os.chown(locks, OTHER_UID, OTHER_UID)
    with pytest.raises(RuntimeError, match=rf"is owned by uid {OTHER_UID}, not by the grader's"):
        with sandbox.slot_lease(0):
            pass


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(locks, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    locks.mkdir(mode=0o700)
    (locks / "slot-0.lock").symlink_to(victim)
    with pytest.raises(RuntimeError, match=r"refusing the sandbox slot lock .*slot-0\.lock"):
        with sandbox.slot_lease(0):
            pass
    assert victim.read_text() == "precious"


@AS_ROOT
def test_a_lock_file_owned_by_someone_else_is_refused(locks):
    locks.mkdir(mode=0o700)
    lock = locks / "slot-0.lock"
    lock.write_text("")
    os.chown(lock, OTHER_UID, OTHER_UID)
    with pytest.raises(RuntimeError, match="not a regular file owned by the grader"):
        with sandbox.slot_lease(0):
            pass


def test_an_existing_lock_file_is_not_truncated(locks):
    locks.mkdir(mode=0o700)
    (locks / "slot-0.lock").write_text("kept")
    with sandbox.slot_lease(0) as slot:
        assert slot == 0
    assert (locks / "slot-0.lock").read_text() == "kept"


def test_two_leases_get_different_slots(locks):
    with sandbox.slot_lease(3) as a, sandbox.slot_lease(3) as b, sandbox.slot_lease(3) as c:
        assert (a, b, c) == (3, 4, 5)


def test_a_lease_is_released(locks):
    with sandbox.slot_lease(0) as a:
        pass
    with sandbox.slot_lease(0) as b:
        assert a == b == 0
    with pytest.raises(ValueError):  # released when the job fails too
        with sandbox.slot_lease(0):
            raise ValueError
    with sandbox.slot_lease(0) as c:
        assert c == 0


def test_no_descriptor_is_left_open(locks):
    before = set(os.listdir("/proc/self/fd"))
    with sandbox.slot_lease(0), sandbox.slot_lease(0):
        pass
    assert set(os.listdir("/proc/self/fd")) == before
