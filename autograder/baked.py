"""Chapter data baked from ``course/`` at build time: what grading needs from an assignment's
source without reading (or importing the tools that read) the source itself.

``llmcourse build`` writes ``autograder/data/<chapter id>.json``:

- ``given``: the sources of the chapter's given cells (code provided to students, e.g. an earlier
  chapter's RoPE), which the grader runs before each exercise's answer cells — its own copy,
  never the student's;
- ``solutions``: exercise id -> the solution's answer-cell text (markers removed), on which
  catalogued mistakes are written as patches (``spec.Mistake.patch``);
- ``source_sha256``: the digest of the source it was baked from (``llmcourse sync-check`` fails
  when it is stale);
- ``summary``: the chapter's declaration in brief (title, notebook, exercises with their points,
  kinds and catalog sizes), so that commands that only list or locate (``llmcourse chapters``,
  ``start``) answer without importing PyTorch; the sync check compares it with the declaration.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

BAKED = Path(__file__).resolve().parent / "data"


class BakedDataMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Baked:
    source_sha256: str
    given: tuple[str, ...]
    solutions: dict[str, str]
    summary: dict

    def as_json(self) -> dict:
        return {"source_sha256": self.source_sha256, "given": list(self.given),
                "solutions": self.solutions, "summary": self.summary}


def path(chapter_id: str) -> Path:
    return BAKED / f"{chapter_id}.json"


@functools.cache
def load(chapter_id: str) -> Baked:
    try:
        data = json.loads(path(chapter_id).read_text())
    except FileNotFoundError:
        raise BakedDataMissing(f"{path(chapter_id).name} is missing: run `llmcourse build "
                               f"{chapter_id}`") from None
    return Baked(data["source_sha256"], tuple(data["given"]), dict(data["solutions"]),
                 data.get("summary", {}))


def write(chapter_id: str, baked: Baked) -> Path:
    BAKED.mkdir(exist_ok=True)
    path(chapter_id).write_text(json.dumps(baked.as_json(), indent=1, ensure_ascii=False) + "\n")
    load.cache_clear()
    return path(chapter_id)
