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


ONLY_STUDENTS = "LLMCOURSE_NBGRADER_STUDENTS"  # a JSON file: the student ids nbgrader processes


def nbgrader_only_students(path: str) -> None:
    """Make nbgrader's converters (autograde) process exactly the student ids listed in the JSON
    file at ``path``. nbgrader's own ``--CourseDirectory.student_id_exclude`` is one
    comma-separated string, so an id containing a comma cannot be excluded (it was processed and
    recorded as 0); ``--student`` is a glob. A list in a file has neither problem, whatever the
    ids hold (commas, spaces, accents, leading dashes, glob characters)."""
    import json

    from nbgrader.converters.base import BaseConverter

    with open(path, encoding="utf-8") as f:
        only = set(json.load(f))
    original = BaseConverter.init_destination

    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        return student_id in only and original(self, assignment_id, student_id)

    BaseConverter.init_destination = init_destination


def main(argv: list[str]) -> None:
    import os

    if argv[0] == "nbgrader" or argv[0].startswith("nbgrader."):
        nbgrader_in_process_alembic()
        if os.environ.get(ONLY_STUDENTS):
            nbgrader_only_students(os.environ[ONLY_STUDENTS])
    sys.argv = list(argv)
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
