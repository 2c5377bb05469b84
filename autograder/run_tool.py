"""``python -m autograder.run_tool MODULE ARGS...``: ``python -m MODULE ARGS...`` (nbgrader, otter)
in a process that imported this package first, so that jsonschema skips its IRI grammars (the
package's docstring says why: ~1.5 s of CPU per process)."""

from __future__ import annotations

import runpy
import sys


def main(argv: list[str]) -> None:
    sys.argv = list(argv)
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
