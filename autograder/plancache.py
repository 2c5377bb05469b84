"""Plans kept on disk between ``llmcourse check`` runs, so the reference runs once per change.

A plan (a chapter's cases with the reference's outputs and tolerances, :func:`grade.plan_for`)
depends only on the chapter's declaration, the reference, the grading code, the seed, the devices
and this PyTorch and Python. The cache key is a digest of all of these: every ``.py`` and ``.json``
file of ``autograder/`` and ``reference/`` (so any edit makes a new key), the versions, the machine,
the seed and the devices. Only what the reference computed is stored (tensors and numbers, read back
with ``torch.load(weights_only=True)``); the cases are built again from the chapter, which is cheap,
and must carry the names stored with the outputs, or the plan is built afresh.

Only the self-check uses it (``llmcourse check``; ``--no-cache`` skips it). Instructors' grading
(``llmcourse grade``, the release gate) always builds its plan. The folder is
``$LLMCOURSE_CACHE``, else ``$XDG_CACHE_HOME/llmcourse``, else ``~/.cache/llmcourse``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

from autograder import cases as case_mod
from autograder.grade import plan_for
from autograder.spec import Chapter, dtype_name

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "autograder", ROOT / "reference")
FORMAT = 1


def cache_dir() -> Path:
    if os.environ.get("LLMCOURSE_CACHE"):
        return Path(os.environ["LLMCOURSE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llmcourse"


def source_digest(roots=SOURCES) -> str:
    """A digest of every .py and .json file under ``roots`` (paths and contents)."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json")):
            h.update(str(path.relative_to(root.parent)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(chapter: Chapter, seed: int, devices: tuple[str, ...]) -> str:
    parts = [f"format {FORMAT}", source_digest(), torch.__version__, sys.version,
             platform.machine(), chapter.id, str(seed), ",".join(devices)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _path(chapter: Chapter, key: str) -> Path:
    return cache_dir() / f"plan-{chapter.id}-{key}.pt"


def _stored(plan) -> dict:
    return {ex.id: [{"name": p.case.name, "truth": p.truth, "allowed": p.allowed,
                     "dtypes": [dtype_name(d) for d in p.expected_dtypes],
                     "grad_outputs": p.grad_outputs, "ref_seconds": p.ref_seconds,
                     "n_outputs": p.n_outputs} for p in prepared]
            for ex, prepared in plan}


def _restored(chapter: Chapter, stored: dict, seed: int, devices: tuple[str, ...]):
    """The plan from stored outputs and freshly built cases; None when they do not match."""
    plan = []
    for ex in chapter.exercises:
        built = case_mod.build_cases(ex, seed, devices)
        rows = stored.get(ex.id)
        if rows is None or [r["name"] for r in rows] != [c.name for c in built]:
            return None
        plan.append((ex, [case_mod.Prepared(
            i, case, case_mod.case_tags(case), r["truth"], r["allowed"],
            [getattr(torch, d) for d in r["dtypes"]], r["grad_outputs"], r["ref_seconds"],
            r["n_outputs"]) for i, (case, r) in enumerate(zip(built, rows))]))
    return plan


def cached_plan(chapter: Chapter, *, seed: int = 0, devices: tuple[str, ...] | None = None):
    """:func:`grade.plan_for` of the whole chapter, from the cache when it holds this key."""
    devices = devices or case_mod.cuda_devices()
    key = cache_key(chapter, seed, devices)
    path = _path(chapter, key)
    if path.exists():
        try:
            plan = _restored(chapter, torch.load(path, weights_only=True), seed, devices)
        except Exception:  # noqa: BLE001 - a truncated or foreign file: build afresh
            plan = None
        if plan is not None:
            return plan
    plan = plan_for(chapter, seed=seed, devices=devices)
    _save(chapter, path, _stored(plan))
    return plan


def _save(chapter: Chapter, path: Path, stored: dict) -> None:
    """Written atomically; older plans of the chapter are removed. A cache that cannot be
    written (read-only home) is skipped silently: it only saves time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".plan-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(stored, f)
        os.replace(tmp, path)
        for old in path.parent.glob(f"plan-{chapter.id}-*.pt"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass
