"""The registry of graded chapters. A chapter is data (see ``autograder.spec``); add one here."""

from __future__ import annotations

import importlib

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing a chapter imports PyTorch; listing the ids must not
    from autograder.spec import Chapter

_MODULES = {  # in the book's order
    "ch01": "autograder.chapters.ch01_probability",
    "ch02": "autograder.chapters.ch02_information",
    "ch03": "autograder.chapters.ch03_embeddings",
    "ch04": "autograder.chapters.ch04_attention",
    "ch05": "autograder.chapters.ch05_positional",
    "ch06": "autograder.chapters.ch06_blocks",
    "ch07": "autograder.chapters.ch07_efficiency",
    "ch08": "autograder.chapters.ch08_learning",
    "ch09": "autograder.chapters.ch09_training",
    "ch10": "autograder.chapters.ch10_applications",
    "ch11": "autograder.chapters.ch11_challenges",
    "ch12": "autograder.chapters.ch12_practice",
    "appA": "autograder.chapters.appA_math",
    "appB": "autograder.chapters.appB_statistics",
}


def chapter_ids() -> list[str]:
    return list(_MODULES)


def get_chapter(key: str) -> Chapter:
    """By id ("ch04") or assignment name ("ch04_attention")."""
    for cid, module in _MODULES.items():
        if key in (cid, module.rsplit(".", 1)[-1]):
            return importlib.import_module(module).CHAPTER
    raise KeyError(f"unknown chapter {key!r}; known: {', '.join(_MODULES)}")


def all_chapters() -> dict[str, Chapter]:
    return {cid: get_chapter(cid) for cid in _MODULES}


def find_exercise(exercise_id: str):
    """(chapter, exercise) for an id such as "ch04.softmax"."""
    chapter = get_chapter(exercise_id.split(".", 1)[0])
    return chapter, chapter.exercise(exercise_id)
