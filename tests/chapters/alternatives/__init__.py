"""Alternative correct implementations of every exercise, written differently from the solution:
the evidence that the hidden tests accept correct code they were not written from. The grader
never runs them (they are test fixtures, not chapter data); ``tests/chapters/test_catalogs.py``
proves each gets full marks, and other tests paste them into notebooks as a student would.

``ALTERNATIVES``: exercise id -> the alternatives of that exercise.
"""

from __future__ import annotations

from . import appA, appB, ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10, ch11, ch12

ALTERNATIVES: dict[str, tuple] = {}
for _chapter in (ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10, ch11, ch12, appA,
                 appB):
    ALTERNATIVES.update(_chapter.ALTERNATIVES)
