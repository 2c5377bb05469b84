"""The grading library: every driver, stand-in and measuring mode, written once, shipped to the worker.

Chapters refer to what is here by registered name (``Exercise(driver="drive_table",
standins=("ch04.softmax",))``), checked when the chapter is declared. The package is copied
beside ``worker.py`` and imported there as ``gradelib``; the trusted side imports it as
``autograder.gradelib``. So its modules import only the standard library, ``torch`` and each other
(relative imports) — never the reference, the chapters or the rest of the grader: nothing here
holds an expected value.

- ``DRIVERS``: name -> ``drive(target, *args, **kwargs)``, a program that exercises the student's
  function or class (100 optimizer steps, a decode run twice, two ranks) and returns what is
  compared.
- ``STANDINS``: exercise id -> a PyTorch built-in version of that exercise, used in place of the
  student's own while a later exercise that calls it is graded (one bug is charged once).
"""

from __future__ import annotations

import importlib
import pkgutil

from .registry import DRIVERS, STANDINS, driver, standin

for _module in pkgutil.iter_modules(__path__):  # every module registers what it defines
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DRIVERS", "STANDINS", "driver", "standin"]
