"""``llmcourse build``: one source per assignment → student and solution notebooks.

A pipeline of small steps, each a function of a notebook (run in this order by :func:`build`):

1. ``read_source``        course/<ch>/<nb>.py (jupytext percent) → notebook with ``llmcourse`` roles
2. ``validate_source``    one setup cell; one answer cell (with solution markers) and one check cell
                          per declared exercise, in order; optional ``given`` cells (locked code
                          provided to students, which the grader also runs before the answers)
3. ``instructor_notebook`` roles → nbgrader cell metadata (ids, points, locks); hidden tests
                          appended to each check cell. This is nbgrader's ``source/`` notebook.
4. ``release``            ``nbgrader generate_assignment`` removes solutions and hidden tests
5. ``solution_notebook``  markers stripped, hidden tests left out, executed with outputs/figures
6. ``gate``               out-of-process grading: full marks on the solution, 0 on the release —
                          otherwise nothing is written to assignments/ or solutions/.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat

from autograder import baked
from autograder.chapters import get_chapter
from autograder.grade import grade_notebook, plan_for
from autograder.spec import Chapter

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "course"
ASSIGNMENTS = ROOT / "assignments"
SOLUTIONS = ROOT / "solutions"

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
HIDDEN_TESTS = (
    "### BEGIN HIDDEN TESTS\n"
    "# Graded in the kernel by nbgrader autograde; `llmcourse grade` re-grades out of process.\n"
    "from autograder.kernel import hidden_check\n"
    'hidden_check("{id}", globals())\n'
    "### END HIDDEN TESTS"
)
EXECUTE_TIMEOUT_S = 600


class BuildError(Exception):
    pass


# --------------------------------------------------------------------------- 1. read
def source_path(chapter: Chapter) -> Path:
    return COURSE / chapter.notebook


def source_digest(chapter: Chapter) -> str:
    return hashlib.sha256(source_path(chapter).read_bytes()).hexdigest()


def read_source(chapter: Chapter) -> nbformat.NotebookNode:
    """The chapter's source as a notebook (a copy the caller may change). Parsed once per version
    of the file: jupytext takes ~0.12 s per chapter, and a build or sync check reads each source
    four times."""
    return copy.deepcopy(_parse_source(source_path(chapter).read_text()))


@functools.lru_cache(maxsize=16)
def _parse_source(text: str) -> nbformat.NotebookNode:
    nb = jupytext.reads(text, fmt="py:percent")
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)
    nb.metadata.pop("jupytext", None)
    return nb


def role(cell) -> dict:
    return cell.metadata.get("llmcourse", {})


def given_sources(chapter: Chapter) -> list[str]:
    """The chapter's ``given`` cells (code provided to students, e.g. an earlier chapter's RoPE),
    taken from course/ — never from a submission. The grader runs them before the answer cells."""
    return [c.source for c in read_source(chapter).cells if role(c).get("role") == "given"]


def bake(chapter: Chapter) -> baked.Baked:
    """What grading needs from the source (see ``autograder.baked``)."""
    nb = solution_notebook(read_source(chapter), chapter)
    return baked.Baked(source_digest(chapter), tuple(given_sources(chapter)),
                       {role(c)["exercise"]: c.source for c in nb.cells
                        if role(c).get("role") == "answer"}, summary(chapter))


def summary(chapter: Chapter) -> dict:
    """The declaration in brief, for the commands that only list or locate (``baked``)."""
    return {"title": chapter.title, "label": chapter.label, "points": chapter.max_points,
            "notebook": f"{chapter.assignment}/{chapter.notebook_stem}.ipynb",
            "exercises": [{"id": ex.id, "name": ex.name, "points": ex.points,
                           "kind": ex.kind.value, "mistakes": len(ex.mistakes)}
                          for ex in chapter.exercises]}


# --------------------------------------------------------------------------- 2. validate
def validate_source(nb, chapter: Chapter) -> None:
    problems = []
    setups = [c for c in nb.cells if role(c).get("role") == "setup"]
    if len(setups) != 1:
        problems.append(f"expected exactly one setup cell, found {len(setups)}")
    declared = [ex.id for ex in chapter.exercises]
    for kind in ("answer", "check"):
        found = [role(c).get("exercise") for c in nb.cells if role(c).get("role") == kind]
        if found != declared:
            problems.append(f"{kind} cells are for {found}, the chapter declares {declared}")
    for c in nb.cells:
        r = role(c)
        if r.get("role") == "answer":
            if SOLUTION_BEGIN not in c.source or SOLUTION_END not in c.source:
                problems.append(f"answer cell {r['exercise']} has no {SOLUTION_BEGIN}/{SOLUTION_END}")
            name = chapter.exercise(r["exercise"]).name
            if not re.search(rf"^(def|class) {re.escape(name)}\b", c.source, re.M):
                problems.append(f"answer cell {r['exercise']} does not define {name}")
        if r.get("role") == "check" and r.get("exercise") not in c.source:
            problems.append(f"check cell for {r.get('exercise')} does not mention its exercise id")
    if problems:
        raise BuildError(f"{source_path(chapter)}:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- 3. instructor notebook
RUN_ALL_CONTINUES = "raises-exception"


def _nbgrader(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    return meta


def instructor_notebook(nb, chapter: Chapter) -> nbformat.NotebookNode:
    out = copy.deepcopy(nb)
    out.metadata["llmcourse"] = {"chapter": chapter.id, "source_sha256": source_digest(chapter)}
    given = 0
    for c in out.cells:
        r = role(c)
        if r.get("role") == "setup":
            c.metadata["nbgrader"] = _nbgrader(f"{chapter.id}_setup", locked=True)
        elif r.get("role") == "given":
            c.metadata["nbgrader"] = _nbgrader(f"{chapter.id}_given_{given}", locked=True)
            given += 1
        elif r.get("role") == "answer":
            c.metadata["nbgrader"] = _nbgrader(chapter.exercise(r["exercise"]).answer_cell_id,
                                               solution=True)
        elif r.get("role") == "check":
            ex = chapter.exercise(r["exercise"])
            c.source = c.source.rstrip() + "\n\n" + HIDDEN_TESTS.format(id=ex.id)
            c.metadata["nbgrader"] = _nbgrader(ex.check_cell_id, grade=True, locked=True,
                                               points=ex.points)
            # Run All goes on past a failing check (JupyterLab and nbclient honour this tag);
            # nbgrader still scores the cell by its error
            c.metadata["tags"] = sorted({*c.metadata.get("tags", []), RUN_ALL_CONTINUES})
    return out


# --------------------------------------------------------------------------- 4. release (nbgrader)
def jupyter_env(workdir: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        env[var] = str(workdir / ".state" / var.lower())
        Path(env[var]).mkdir(parents=True, exist_ok=True)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def nbgrader(args: list[str], course_root: Path) -> subprocess.CompletedProcess:
    """Run the nbgrader CLI in ``course_root`` (which holds nbgrader_config.py)."""
    proc = subprocess.run([sys.executable, "-m", "autograder.run_tool", "nbgrader", *args],
                          cwd=course_root, env=jupyter_env(course_root), capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise BuildError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def course_tree(root: Path, chapters: list[Chapter]) -> None:
    """An nbgrader course directory at ``root``: config + source/ notebooks of ``chapters``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(COURSE / "nbgrader_config.py", root / "nbgrader_config.py")
    for chapter in chapters:
        nb = read_source(chapter)
        validate_source(nb, chapter)
        dest = root / "source" / chapter.assignment / f"{chapter.notebook_stem}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(instructor_notebook(nb, chapter), dest)


# ``nbgrader generate_assignment`` of several assignments in one process: nbgrader's start-up and
# the gradebook's creation (an `alembic` run) cost ~3.5 s, each assignment ~0.3 s after that.
_GENERATE = """
import sys
from autograder.run_tool import nbgrader_in_process_alembic
nbgrader_in_process_alembic()
from nbgrader.apps import NbGraderAPI
from traitlets.config.loader import PyFileConfigLoader
api = NbGraderAPI(config=PyFileConfigLoader("nbgrader_config.py", path=".").load_config())
for assignment in sys.argv[1:]:
    result = api.generate_assignment(assignment, force=True)
    if not result["success"]:
        sys.exit(f"nbgrader generate_assignment {assignment} failed:\\n{result['log']}\\n"
                 f"{result.get('error') or ''}")
"""


def release_all(chapters: list[Chapter], course_root: Path) -> dict[str, Path]:
    """``nbgrader generate_assignment`` of every chapter in ``course_root`` (made by
    :func:`course_tree`), in one nbgrader process; chapter id -> its student notebook. This also
    adds the assignments to the course's gradebook.db."""
    proc = subprocess.run([sys.executable, "-c", _GENERATE, *(c.assignment for c in chapters)],
                          cwd=course_root, env=jupyter_env(course_root), capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise BuildError(f"{proc.stderr.strip()}\n{proc.stdout.strip()}".strip())
    return {c.id: course_root / "release" / c.assignment / f"{c.notebook_stem}.ipynb"
            for c in chapters}


# --------------------------------------------------------------------------- 5. solution
def solution_notebook(nb, chapter: Chapter) -> nbformat.NotebookNode:
    """The source with solution markers removed and no hidden tests (check cells stay public)."""
    out = copy.deepcopy(nb)
    out.metadata["llmcourse"] = {"chapter": chapter.id, "source_sha256": source_digest(chapter)}
    for c in out.cells:
        r = role(c)
        if r.get("role") == "answer":
            c.source = "\n".join(line for line in c.source.splitlines()
                                 if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))
            c.metadata["nbgrader"] = _nbgrader(chapter.exercise(r["exercise"]).answer_cell_id,
                                               solution=True)
    return out


def execute(nb, workdir: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    env = jupyter_env(workdir)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        # "immediate": the kernel is ended once its outputs are in (a graceful shutdown of a
        # kernel with torch loaded took ~1.2 s per notebook)
        client = NotebookClient(nb, timeout=EXECUTE_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": str(workdir)}},
                                shutdown_kernel="immediate")
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


# --------------------------------------------------------------------------- 6. gate
def gate(chapter: Chapter, solution: Path, student: Path, *, plan=None) -> list[str]:
    """What stops a release: the hidden tests must give the solution full marks (but for
    exercises ungraded on this machine) and the untouched student version 0 with "not
    implemented" everywhere. ``plan``: the chapter's plan (:func:`grade.plan_for`, default devices)
    when the caller has it; else it is built here, once for both notebooks."""
    problems = []
    plan = plan if plan is not None else plan_for(chapter)
    sol = grade_notebook(str(solution), chapter.id, plan=plan)
    for e in sol.exercises:
        if not e.passed and not e.ungraded:  # ungraded: needs hardware this machine lacks
            problems.append(f"solution loses {e.id}: {'; '.join(e.messages)}")
    stu = grade_notebook(str(student), chapter.id, plan=plan)
    for e in stu.exercises:
        if e.points != 0 or not (e.ungraded or any("not implemented" in m for m in e.messages)):
            problems.append(f"untouched student version scores {e.points} on {e.id}: "
                            f"{'; '.join(e.messages)}")
    return problems


# --------------------------------------------------------------------------- driver
def output_paths(chapter: Chapter) -> tuple[Path, Path]:
    name = f"{chapter.notebook_stem}.ipynb"
    return ASSIGNMENTS / chapter.assignment / name, SOLUTIONS / chapter.assignment / name


def build(chapter_ids: list[str], *, execute_solutions: bool = True, log=print) -> None:
    chapters = [get_chapter(cid) for cid in chapter_ids]
    with tempfile.TemporaryDirectory(prefix="llmcourse-build-") as tmp:
        work = Path(tmp)
        for chapter in chapters:
            log(f"[{chapter.id}] source {source_path(chapter).relative_to(ROOT)}")
        course_tree(work, chapters)
        releases = release_all(chapters, work)
        for chapter in chapters:
            student = releases[chapter.id]
            sol_nb = solution_notebook(read_source(chapter), chapter)
            if execute_solutions:
                log(f"[{chapter.id}] executing the solution notebook")
                sol_nb = execute(sol_nb, work)
            sol_path = work / "solution.ipynb"
            nbformat.write(sol_nb, sol_path)
            # grading reads the given cells from the baked data: bake before the gate grades
            log(f"[{chapter.id}] wrote {baked.write(chapter.id, bake(chapter)).relative_to(ROOT)}")
            log(f"[{chapter.id}] gate: hidden tests on the solution and the untouched release")
            problems = gate(chapter, sol_path, student)
            if problems:
                raise BuildError(f"[{chapter.id}] refusing to release:\n  " + "\n  ".join(problems))
            dest_student, dest_solution = output_paths(chapter)
            for src, dest in ((student, dest_student), (sol_path, dest_solution)):
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dest)
                log(f"[{chapter.id}] wrote {dest.relative_to(ROOT)}")


# --------------------------------------------------------------------------- sync check
def structure(path_or_nb) -> list[dict]:
    """What must match between a committed notebook and a fresh build: cell types, sources and
    nbgrader metadata (outputs and execution counts excluded)."""
    nb = nbformat.read(path_or_nb, as_version=4) if isinstance(path_or_nb, (str, Path)) else path_or_nb
    return [{"type": c.cell_type, "source": c.source, "nbgrader": c.metadata.get("nbgrader")}
            for c in nb.cells]


def out_of_date(chapter: Chapter) -> list[str]:
    """Reasons the committed notebooks of ``chapter`` do not match ``course/`` (empty = in sync)."""
    return out_of_date_all([chapter])[chapter.id]


def out_of_date_all(chapters: list[Chapter]) -> dict[str, list[str]]:
    """:func:`out_of_date` of each chapter (id -> reasons), with one nbgrader run for them all."""
    reasons = {chapter.id: _stale_inputs(chapter) for chapter in chapters}
    fresh = [chapter for chapter in chapters if not reasons[chapter.id]]
    if not fresh:
        return reasons
    with tempfile.TemporaryDirectory(prefix="llmcourse-sync-") as tmp:
        course_tree(Path(tmp), fresh)
        releases = release_all(fresh, Path(tmp))
        for chapter in fresh:
            dest_student, dest_solution = output_paths(chapter)
            if structure(releases[chapter.id]) != structure(dest_student):
                reasons[chapter.id].append(
                    f"{_shown(dest_student)} differs from a fresh build")
            if structure(solution_notebook(read_source(chapter), chapter)) != structure(
                    dest_solution):
                reasons[chapter.id].append(
                    f"{_shown(dest_solution)} differs from a fresh build")
    return reasons


def _stale_inputs(chapter: Chapter) -> list[str]:
    """The cheap part of the sync check: baked data, files present, built from this source."""
    reasons = []
    digest = source_digest(chapter)
    try:
        if baked.load(chapter.id) != bake(chapter):
            reasons.append(f"{_shown(baked.path(chapter.id))} differs from a fresh bake")
    except baked.BakedDataMissing as e:
        reasons.append(str(e))
    for dest in output_paths(chapter):
        if not dest.exists():
            reasons.append(f"{_shown(dest)} is missing")
            continue
        meta = json.loads(dest.read_text()).get("metadata", {}).get("llmcourse", {})
        if meta.get("source_sha256") != digest:
            reasons.append(f"{_shown(dest)} was built from another version of "
                           f"{_shown(source_path(chapter))}")
    return reasons


def _shown(path: Path) -> Path:
    """``path`` as the messages show it: relative to the repository when inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
