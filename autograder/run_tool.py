"""``python -m autograder.run_tool MODULE ARGS...``: ``python -m MODULE ARGS...`` (nbgrader, otter)
in a process that imported this package first, so that jsonschema skips its IRI grammars (the
package's docstring says why: ~1.5 s of CPU per process), and where nbgrader finds its gradebook
schema's revision without starting the ``alembic`` command (:func:`nbgrader_in_process_alembic`)."""

from __future__ import annotations

import runpy
import sys


def alembic_head() -> str:
    """The head revision of nbgrader's gradebook schema, read through alembic's Python API: what
    ``alembic -c <nbgrader's ini> heads`` prints first, without a new interpreter."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(Config(ini)).get_current_head()


def nbgrader_in_process_alembic() -> None:
    """nbgrader asks the ``alembic`` command for that revision whenever it creates a gradebook
    (``nbgrader.api.get_alembic_version``, a subprocess: ~3.5 s of every ``course init``, build
    and sync check, measured); this process answers it with :func:`alembic_head` instead."""
    import nbgrader.api

    nbgrader.api.get_alembic_version = alembic_head


def main(argv: list[str]) -> None:
    if argv[0] == "nbgrader" or argv[0].startswith("nbgrader."):
        nbgrader_in_process_alembic()
    sys.argv = list(argv)
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
