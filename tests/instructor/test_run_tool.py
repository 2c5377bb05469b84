"""``autograder.run_tool``: how we start nbgrader. nbgrader learns its gradebook schema's revision
from the ``alembic`` command; we read the same revision through alembic's API in process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader.api")
from nbgrader.dbutil import _temp_alembic_ini  # noqa: E402 - needs the instructor extra

from autograder.run_tool import alembic_head  # noqa: E402


@pytest.mark.slow
def test_alembic_head_is_what_the_alembic_command_says():
    alembic = Path(sys.executable).parent / "alembic"  # the command nbgrader would start
    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        printed = subprocess.run([str(alembic), "-c", ini, "heads"], capture_output=True,
                                 text=True, check=True).stdout
    assert printed.split("\n")[0].split(" ")[0] == alembic_head()


def test_a_course_gradebook_records_that_revision(tmp_path, monkeypatch):
    """A gradebook nbgrader creates under ``run_tool`` holds the revision, with no ``alembic``
    command anywhere on PATH."""
    import nbgrader.api

    from autograder.run_tool import nbgrader_in_process_alembic

    monkeypatch.setenv("PATH", str(tmp_path))  # no alembic to start
    monkeypatch.setattr(nbgrader.api, "get_alembic_version", nbgrader.api.get_alembic_version)
    nbgrader_in_process_alembic()
    with nbgrader.api.Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        [(version,)] = gb.db.execute(nbgrader.api.text("SELECT version_num FROM alembic_version"))
    assert version == alembic_head()
