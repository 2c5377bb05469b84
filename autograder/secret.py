"""The course's secret seed: the hidden inputs of ``llmcourse grade``.

Hidden inputs are a pure function of a seed (``CaseBuilder(exercise_id, seed)``). ``llmcourse
check`` uses a documented fixed seed (0), so a student can reproduce a check; the scores that
count must not be computable in advance, so ``llmcourse grade`` uses a seed drawn once per course
with :mod:`secrets` and kept in ``<course>/llmcourse/secret_seed`` (mode 0600, next to the
gradebook, never under ``release/``). Losing it changes every hidden input of later regrades;
publishing it lets anyone precompute them.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

SEED_FILE = Path("llmcourse") / "secret_seed"
SEED_BITS = 63  # what torch.Generator.manual_seed and autograder.spec.seed_for accept as is


class SecretSeedError(Exception):
    """The seed file cannot be used (one line, shown to the instructor)."""


def seed_path(course_dir: Path) -> Path:
    return Path(course_dir) / SEED_FILE


def course_seed(course_dir: Path) -> int:
    """The course's secret seed, drawn and stored on first use. Raises SecretSeedError when the
    file exists but is not a plain file of this user that only this user can read."""
    path = seed_path(course_dir)
    if not _exists(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path, secrets.randbits(SEED_BITS))
    return _read(path)


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
        return True
    except FileNotFoundError:
        return False


def _create(path: Path, seed: int) -> None:
    """Write the seed to a private temporary file (O_EXCL, 0600), then link it into place: the
    seed file appears complete or not at all, and a seed already there is never replaced (two
    concurrent first runs agree on the one that was linked first)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            f.write(f"{seed}\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another run created it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)


def _refuse(path: Path, problem: str, fix: str) -> SecretSeedError:
    return SecretSeedError(f"{path}: {problem}; {fix} (it holds the course's secret seed for "
                           "hidden inputs: see docs/NBGRADER.md)")


def _check(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, "not a plain file (a link, folder or device)",
                      "put the backed-up seed file back, or remove it to draw a new seed")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise _refuse(path, f"owned by uid {st.st_uid}, not by you (uid {os.getuid()})",
                      "grade as the course's owner")
    if st.st_mode & 0o077:
        raise _refuse(path, f"readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o})",
                      "run `chmod 600` on it; if others may have read it, remove it to draw a "
                      "new seed before grading")


def _read(path: Path) -> int:
    _check(path, os.lstat(path))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, encoding="ascii", errors="replace") as f:
        _check(path, os.fstat(f.fileno()))  # the file opened is the file checked
        text = f.read(100).strip()
    if not text.isdigit() or int(text) >= 1 << SEED_BITS:
        raise _refuse(path, "does not hold a seed (one decimal integer below 2**63)",
                      "put the backed-up seed file back, or remove it to draw a new seed")
    return int(text)
