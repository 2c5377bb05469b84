"""The nbgrader course directory: ``llmcourse course init`` and ``llmcourse grade``.

``llmcourse grade`` puts out-of-process verdicts where nbgrader's tools look for grades, in steps
run in this order by :func:`grade_course`:

1. ``find_submissions``  submitted/<student>/<assignment>/, for the notebooks that the gradebook
                         lists for the assignment
2. ``batch.grade_all``  each notebook graded out of process (student code runs in a sandboxed
                         worker; verdicts are decided in this process), in parallel, each result
                         stored atomically and reused by a rerun. A notebook that cannot be read
                         or graded is a *failure*, never a 0.
3. ``record``            ``nbgrader autograde --force`` for the graded students only, with
                         nbgrader's ``Execute`` replaced by :class:`InjectVerdicts` and
                         :class:`SaveVerdicts`. nbgrader still does the rest of its own work
                         (check cells restored from the gradebook, submission records, timestamps,
                         late penalties, the ``autograded/`` notebook), but no student code runs
                         in a kernel: each check cell gets our verdict as its output and our points
                         as its ``auto_score`` — except an exercise that is ungraded here or held
                         for review (autograder/review.py flagged its answer cell): no auto score,
                         flagged for a manual grade, the reasons in its output.
4. ``verify``            read back: this run wrote the autograded notebook and the gradebook holds
                         our points for every check cell; otherwise the student is a failure too
                         and their earlier autograded notebook is put back.

A student who fails in step 2 is never passed to nbgrader, so the gradebook keeps whatever it
held for them. Every failure prints a ``NOT GRADED`` line and makes the exit code 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import SaveAutoGrades
from nbgrader.preprocessors.base import NbGraderPreprocessor
from nbgrader import utils as nbg_utils
from traitlets import Unicode

from autograder import batch, build, run_tool, secret
from autograder import cluster as cluster_mod
from autograder.chapters import chapter_ids as all_ids, get_chapter
from autograder.grade import NotebookResult

ROOT = Path(__file__).resolve().parent.parent

GRADER_TAG = ("llmcourse grade (verdicts decided out of process; "
              "no student code ran in this notebook)")
# nbgrader's autograde pipeline with its kernel execution swapped for our verdicts. The other
# steps are nbgrader's own defaults (nbgrader/converters/autograde.py), in nbgrader's order.
RECORD_PREPROCESSORS = [
    "autograder.gradebook.InjectVerdicts",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "autograder.gradebook.SaveVerdicts",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


# --------------------------------------------------------------------------- verdicts → cells
def verdict_outputs(verdict: dict) -> list[dict]:
    """The check cell's outputs for one exercise verdict: a stream on a pass, an ``error`` on a
    fail (nbgrader and its feedback read an error output as "this cell failed"). The text has the
    form of what the in-kernel hidden test raises, so both paths read alike to a student."""
    name, messages = verdict["name"], verdict["messages"]
    pts = f"{verdict['points']:g}/{verdict['max_points']:g} points"
    if verdict.get("review"):  # held: the instructor reads the flagged lines and grades by hand
        text = (f"⚠ {name}: held for review by your instructor: {verdict['max_points']:g} points "
                f"to grade by hand (the hidden tests gave {pts})\n"
                "  Lines that no answer needs (static review of the answer cell):\n"
                + "".join(f"  ! {r}\n" for r in verdict["review"])
                + "".join(f"  - {m}\n" for m in messages))
        return [{"output_type": "stream", "name": "stdout", "text": text}]
    if verdict.get("ungraded"):  # not a failure: no score yet (the cell needs a manual grade)
        text = (f"⚠ {name}: ungraded: {verdict['max_points']:g} points to grade by hand\n"
                + "".join(f"  - {m}\n" for m in messages))
        return [{"output_type": "stream", "name": "stdout", "text": text}]
    if verdict["passed"]:
        text = f"✓ {name}: {pts}\n" + "".join(f"  - {m}\n" for m in messages)
        return [{"output_type": "stream", "name": "stdout", "text": text}]
    value = f"{name}: hidden tests failed ({pts})\n" + "\n".join(f"  - {m}" for m in messages)
    return [{"output_type": "error", "ename": "AssertionError", "evalue": value,
             "traceback": [f"AssertionError: {value}"]}]


class InjectVerdicts(NbGraderPreprocessor):
    """Write our verdicts into the check cells instead of executing the notebook."""

    verdicts_file = Unicode("", help="JSON written by `llmcourse grade`").tag(config=True)

    def preprocess(self, nb, resources):
        meta = resources["nbgrader"]
        data = json.loads(Path(self.verdicts_file).read_text(encoding="utf-8"))
        try:
            verdicts = data["students"][meta["student"]][meta["notebook"]]
        except KeyError:
            raise RuntimeError(f"llmcourse grade has no verdicts for {meta['student']}/"
                               f"{meta['notebook']}") from None
        grade_cells = [c for c in nb.cells if nbg_utils.is_grade(c)]
        unknown = [c.metadata.nbgrader.grade_id for c in grade_cells
                   if c.cell_type != "code" or c.metadata.nbgrader.grade_id not in verdicts]
        if unknown:  # checked before anything is written to the gradebook
            raise RuntimeError(f"no verdict for graded cell(s) {unknown}: is source/ built from "
                               "the same course/ as this llmcourse?")
        for cell in grade_cells:
            cell.outputs = [nbformat.from_dict(o)
                            for o in verdict_outputs(verdicts[cell.metadata.nbgrader.grade_id])]
            cell.execution_count = None
        nb.metadata["llmcourse"] = {**nb.metadata.get("llmcourse", {}), "graded_by": GRADER_TAG,
                                    "grade_run": data["run"]}
        resources["llmcourse_verdicts"] = verdicts
        return nb, resources


class SaveVerdicts(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, with our points as the auto score (it would otherwise infer it
    from the outputs). A manual score already given is kept and flagged for review, as nbgrader
    does."""

    def _add_score(self, cell, resources) -> None:
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        verdict = resources["llmcourse_verdicts"][grade.name]
        # needs hardware the grading machine lacks, or held for review: by hand
        if verdict.get("ungraded") or verdict.get("review"):
            grade.auto_score = None
            grade.needs_manual_grade = grade.manual_score is None
        else:
            grade.auto_score = float(verdict["points"])
            grade.needs_manual_grade = grade.manual_score is not None
        self.gradebook.db.commit()


# --------------------------------------------------------------------------- the course directory
def _subprocess_env() -> dict:
    """nbgrader runs `alembic` from PATH and imports this module; nothing else is changed, so the
    instructor's own Jupyter/nbgrader configuration applies as for any nbgrader command."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _coursedir(course_dir: Path):
    """nbgrader's view of the course's folders and database (from its nbgrader_config.py)."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config_file = course_dir / "nbgrader_config.py"
    cfg = PyFileConfigLoader(config_file.name, path=str(course_dir)).load_config() \
        if config_file.exists() else None
    coursedir = CourseDirectory(config=cfg) if cfg is not None else CourseDirectory()
    coursedir.root = str(course_dir)
    return coursedir


def _autograded(coursedir, student: str, assignment: str) -> Path:
    return Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))


def _gradebook(db_url: str):
    from nbgrader.api import Gradebook

    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        raise FileNotFoundError(f"no gradebook at {db_url[len('sqlite:///'):]}")
    return Gradebook(db_url)


def init_course(course_dir: Path, chapter_ids: list[str] | None = None, *, log=print) -> int:
    """A new nbgrader course directory: config, source/ (from course/), release/ and the
    assignments in gradebook.db (``nbgrader generate_assignment`` does both)."""
    course_dir = Path(course_dir).resolve()
    if course_dir.exists() and any(course_dir.iterdir()):
        log(f"llmcourse course init: {course_dir} exists and is not empty; "
            "choose a new directory (an existing course is never overwritten)")
        return EXIT_USAGE
    try:
        chapters = [get_chapter(c) for c in (chapter_ids or all_ids())]
    except KeyError as e:
        log(f"llmcourse course init: {e.args[0]}")
        return EXIT_USAGE
    created = not course_dir.exists()
    try:
        build.course_tree(course_dir, chapters)
        t0 = time.perf_counter()
        build.release_all(chapters, course_dir)  # also adds the assignments to gradebook.db
        log(f"nbgrader generate_assignment {' '.join(ch.assignment for ch in chapters)} "
            f"({time.perf_counter() - t0:.1f} s)")
    except build.BuildError as e:
        log(f"llmcourse course init: {e}")
        if created:
            shutil.rmtree(course_dir, ignore_errors=True)
        return EXIT_FAILURES
    shutil.rmtree(course_dir / ".state", ignore_errors=True)  # build's private Jupyter dirs
    log(next_steps(course_dir, chapters))
    return EXIT_OK


def next_steps(course_dir: Path, chapters) -> str:
    lines = [f"Course directory ready: {course_dir}", ""]
    for ch in chapters:
        nb = f"{ch.notebook_stem}.ipynb"
        lines += [f"  {ch.assignment}  ({len(ch.exercises)} graded cells, "
                  f"{ch.max_points:g} points)",
                  f"    source/{ch.assignment}/{nb}   instructor version: solutions, hidden tests",
                  f"    release/{ch.assignment}/{nb}  student version"]
    a = chapters[0].assignment
    nb = f"{chapters[0].notebook_stem}.ipynb"
    steps = [
        (f"cd {course_dir}", ""),
        (f"nbgrader release_assignment {a}", f"or hand out release/{a}/{nb} directly"),
        (f"nbgrader collect {a}", f"or copy files to submitted/<student>/{a}/{nb}"),
        (f"llmcourse grade . {a}", "scores decided out of process -> gradebook.db"),
        ("jupyter lab", "menu Nbgrader > Formgrader: review, comment, adjust"),
        ("nbgrader export --to grades.csv", ""),
        (f"nbgrader generate_feedback {a}", f"feedback/<student>/{a}/*.html"),
        (f"nbgrader release_feedback {a}", "students fetch it with nbgrader fetch_feedback"),
    ]
    width = max(len(cmd) for cmd, _ in steps)
    lines += ["", "Next, from the course directory:"]
    lines += [f"  {cmd:<{width}}  # {why}" if why else f"  {cmd}" for cmd, why in steps]
    lines.append("release/collect use the exchange folder named in nbgrader_config.py "
                 "(Exchange.root); see docs/NBGRADER.md.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- grading
@dataclass
class StudentGrade:
    student: str
    notebooks: dict = field(default_factory=dict)  # notebook id -> NotebookResult
    failure: str | None = None  # why this student was not graded
    recorded: bool = False  # failed after nbgrader was asked to record it (step 3 or 4)
    restored: bool = False  # ... and its earlier autograded notebook was put back
    seconds: float = 0.0
    log: str = ""  # nbgrader's or the grader's own words: for the instructor's console only
    warnings: list = field(default_factory=list)  # addressed to the student (e.g. extra files)

    @property
    def total(self) -> float:
        return sum(r.total for r in self.notebooks.values())

    @property
    def max_total(self) -> float:
        return sum(r.max_total for r in self.notebooks.values())


def _student_grade(rec: dict, chapter) -> StudentGrade:
    g = StudentGrade(rec["student"], failure=rec["failure"], seconds=rec.get("seconds", 0.0),
                     log=rec.get("log", ""), warnings=list(rec.get("warnings", ())))
    if not rec["failure"]:
        g.notebooks = {nb: NotebookResult.from_json(data, chapter.id)
                       for nb, data in rec["notebooks"].items()}
    return g


def find_submissions(course_dir: Path, assignment: str, students: list[str] | None):
    """Student id → the submission folder; requested students without one map to None."""
    found = {p.parent.name: p for p in sorted((course_dir / "submitted").glob(f"*/{assignment}"))
             if p.is_dir()}
    if not students:
        return found
    return {s: found.get(s) for s in students}


def _verdicts(grades: list[StudentGrade], chapter, run: str) -> dict:
    students = {}
    for g in grades:
        students[g.student] = {
            nb_id: {chapter.exercise(e.id).check_cell_id: e.as_json() for e in r.exercises}
            for nb_id, r in g.notebooks.items()}
    return {"run": run, "students": students}


def record(course_dir: Path, assignment: str, graded: list[StudentGrade], chapter,
           run: str) -> subprocess.CompletedProcess:
    """Step 3: nbgrader autograde with our verdicts in place of kernel execution, for the
    students of ``graded`` only (named in a file: any id works). ``run`` tags the autograded
    notebooks this call writes."""
    with tempfile.TemporaryDirectory(prefix="llmcourse-grade-") as tmp:
        verdicts = Path(tmp) / "verdicts.json"
        verdicts.write_text(json.dumps(_verdicts(graded, chapter, run)), encoding="utf-8")
        only = Path(tmp) / "students.json"
        only.write_text(json.dumps(sorted(g.student for g in graded)), encoding="utf-8")
        args = [sys.executable, "-m", "autograder.run_tool", "nbgrader", "autograde", assignment,
                "--force", f"--Autograde.autograde_preprocessors={RECORD_PREPROCESSORS!r}",
                f"--InjectVerdicts.verdicts_file={verdicts}"]
        env = _subprocess_env() | {run_tool.ONLY_STUDENTS: str(only)}
        return subprocess.run(args, cwd=course_dir, env=env, capture_output=True, text=True)


def verify(coursedir, assignment: str, g: StudentGrade, chapter, run: str) -> str | None:
    """Step 4: None when this run wrote ``g``'s autograded notebooks and the gradebook holds our
    points for every check cell."""
    from nbgrader.api import MissingEntry

    for nb_id in g.notebooks:
        path = _autograded(coursedir, g.student, assignment) / f"{nb_id}.ipynb"
        try:
            tag = json.loads(path.read_text(encoding="utf-8"))["metadata"]["llmcourse"]
        except (OSError, ValueError, KeyError):
            tag = {}
        if tag.get("grade_run") != run:
            return f"nbgrader did not write {path.relative_to(coursedir.root)}"
    try:
        with _gradebook(coursedir.db_url) as gb:
            for nb_id, result in g.notebooks.items():
                sub_nb = gb.find_submission_notebook(nb_id, assignment, g.student)
                scores = {gr.name: gr.auto_score for gr in sub_nb.grades}
                for e in result.exercises:
                    cell = chapter.exercise(e.id).check_cell_id
                    if e.ungraded or e.held:
                        if scores.get(cell) is not None:
                            what = "ungraded" if e.ungraded else "held"
                            return f"gradebook has {scores[cell]} for {what} {cell}"
                        continue
                    if scores.get(cell) is None or abs(scores[cell] - e.points) > 1e-9:
                        return f"gradebook has {scores.get(cell)} for {cell}, expected {e.points:g}"
    except MissingEntry as e:
        return f"nbgrader did not record the submission ({e})"
    return None


def _previous(db_url: str, assignment: str, student: str) -> str:
    from nbgrader.api import MissingEntry

    try:
        with _gradebook(db_url) as gb:
            sub = gb.find_submission(assignment, student)
            flag = ", needs manual grade" if sub.needs_manual_grade else ""
            return f"{sub.score:g}/{sub.max_score:g}{flag}"
    except (MissingEntry, FileNotFoundError):
        return "no entry"


def grade_course(course_dir: Path, assignment: str, *, students: list[str] | None = None,
                 jobs: int = 1, regrade: bool = False, budget_s: float | None = None,
                 sandbox=None, seed: int | None = None, cluster: str | None = None,
                 log=print) -> int:
    """``llmcourse grade``: 0 when every submission was graded and recorded, 1 when any was not
    (each reported with a NOT GRADED line), 2 when the course directory cannot be used.
    ``seed`` (hidden inputs) defaults to the course's secret seed (autograder/secret.py)."""
    from nbgrader.api import MissingEntry

    course_dir = Path(course_dir).resolve()
    try:
        chapter = get_chapter(assignment)
        coursedir = _coursedir(course_dir)
        db_url = coursedir.db_url
        with _gradebook(db_url) as gb:
            notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
            cells = {nb.name: sorted(c.name for c in nb.grade_cells)
                     for nb in gb.find_assignment(assignment).notebooks}
    except (KeyError, FileNotFoundError, MissingEntry) as e:
        msg = e.args[0] if e.args else str(e)
        log(f"llmcourse grade: {msg} (is {course_dir} a course made by `llmcourse course init`, "
            f"with {assignment} generated?)")
        return EXIT_USAGE
    expected = sorted(ex.check_cell_id for ex in chapter.exercises)
    stale = [nb for nb, c in cells.items() if c != expected]
    if stale:
        log(f"llmcourse grade: the gradebook's graded cells of {stale} are not those of "
            f"{chapter.id} ({expected}); regenerate the assignment from this course/")
        return EXIT_USAGE

    folders = find_submissions(course_dir, assignment, students)
    if not folders:
        log(f"llmcourse grade: nothing in {course_dir / 'submitted'}/<student>/{assignment}/")
        return EXIT_USAGE
    if seed is None:
        try:
            seed = secret.course_seed(course_dir)
        except (secret.SecretSeedError, OSError) as e:
            log(f"llmcourse grade: {e}")
            return EXIT_USAGE
        inputs = f"hidden inputs from the course's secret seed ({secret.SEED_FILE})"
    else:
        inputs = "hidden inputs from --seed (reproducing a result)"
    client = None
    if cluster is not None:
        try:
            client = cluster_mod.connect(cluster, jobs)
        except cluster_mod.ClusterError as e:
            log(f"llmcourse grade: {e}")
            return EXIT_USAGE
        where = f"on the Dask cluster {cluster} ({client.scheduler.address})"
    else:
        where = f"with {jobs} parallel worker(s)"
    log(f"grading {len(folders)} submission(s) of {assignment} out of process "
        f"({', '.join(notebooks)}) {where}; {inputs}")
    try:
        records = batch.grade_all(course_dir, assignment, chapter, folders, notebooks,
                                  jobs=jobs, regrade=regrade, seed=seed, budget_s=budget_s,
                                  sandbox=sandbox, log=log,
                                  remote=cluster_mod.remote_grader(client) if client else None)
    finally:
        if client is not None:
            cluster_obj = getattr(client, "cluster", None)
            client.close()
            if cluster_obj is not None:
                cluster_obj.close()
    grades = [_student_grade(records[s], chapter) for s in folders]

    graded = [g for g in grades if g.failure is None]
    # unchanged since a run that recorded them (same result, and the gradebook and autograded
    # notebook still hold it): nbgrader is not asked again
    current = [g for g in graded if records[g.student].get("reused")
               and records[g.student].get("recorded_run")
               and verify(coursedir, assignment, g, chapter,
                          records[g.student]["recorded_run"]) is None]
    if current:
        log(f"{len(current)} student(s) already recorded in the gradebook with these results")
    to_record = [g for g in graded if g not in current]
    if to_record:
        run = uuid.uuid4().hex
        with tempfile.TemporaryDirectory(prefix="llmcourse-keep-") as keep:
            for g in to_record:  # nbgrader --force deletes these before it writes new ones
                src = _autograded(coursedir, g.student, assignment)
                if src.is_dir():
                    shutil.copytree(src, Path(keep) / g.student)
            t0 = time.perf_counter()
            proc = record(course_dir, assignment, to_record, chapter, run)
            log(f"recorded {len(to_record)} student(s) in the gradebook by nbgrader autograde "
                f"(no kernel) in {time.perf_counter() - t0:.1f} s")
            for g in to_record:
                problem = verify(coursedir, assignment, g, chapter, run)
                if problem is None:
                    records[g.student] = records[g.student] | {"recorded_run": run}
                    continue
                g.failure, g.recorded = f"not recorded in the gradebook: {problem}", True
                g.log = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
                dest, kept = _autograded(coursedir, g.student, assignment), Path(keep) / g.student
                if kept.is_dir():
                    shutil.rmtree(dest, ignore_errors=True)
                    shutil.copytree(kept, dest)
                    g.restored = True
    attention = [g for g in grades if g.failure and not g.recorded
                 and mark_for_attention(db_url, assignment, g.student)]

    log("")
    width = max(len(g.student) for g in grades)
    for g in grades:
        if g.failure:
            now = _previous(db_url, assignment, g.student)
            if g in attention:
                where = f"gradebook: {now}, added so that it is not missed"
            elif not g.recorded:
                where = f"gradebook unchanged: {now}"
            else:
                where = f"gradebook now: {now}" + (
                    "; earlier autograded notebook put back" if g.restored else "")
            log(f"{g.student:<{width}}  {assignment}  NOT GRADED: {g.failure} ({where})")
            for line in g.log.splitlines():
                log(f"{'':<{width}}    {line}")
        else:
            passed = sum(e.passed for r in g.notebooks.values() for e in r.exercises)
            n = sum(len(r.exercises) for r in g.notebooks.values())
            held = [e.name for r in g.notebooks.values() for e in r.exercises if e.held]
            log(f"{g.student:<{width}}  {assignment}  {g.total:g}/{g.max_total:g}  "
                f"({passed}/{n} exercises passed)"
                + (f"  HELD FOR REVIEW: {', '.join(held)}" if held else ""))
        for w in g.warnings:
            log(f"{'':<{width}}    warning: {w}")
    store = batch.results_dir(course_dir, assignment)
    for g in to_record:  # the run that recorded it, or the failure (so that a rerun retries it)
        if g.failure:
            records[g.student] = records[g.student] | {"failure": g.failure, "log": g.log}
        rec = {k: v for k, v in records[g.student].items() if k != "reused"}
        batch.write_atomic(store / f"{batch.safe_name(g.student)}.json",
                           json.dumps(rec, ensure_ascii=False, indent=1))
    everyone = batch.class_records(course_dir, assignment, records)
    log("")
    log(batch.summary(everyone, chapter))
    csv_path, json_path = batch.write_reports(course_dir, assignment, chapter, everyone)
    feedback = batch.write_feedback(course_dir, assignment, chapter, records)
    log(f"reports (the whole class, {len(everyone)} student(s)): "
        f"{csv_path.relative_to(course_dir)}, {json_path.relative_to(course_dir)}; "
        f"feedback per student: {feedback.relative_to(course_dir)}/<student>.html")
    failed = [g.student for g in grades if g.failure]
    if failed:
        log(f"{len(failed)} of {len(grades)} submission(s) NOT GRADED: {', '.join(failed)} "
            "(their rows in `nbgrader export` are not scores from this run)")
        return EXIT_FAILURES
    return EXIT_OK


def mark_for_attention(db_url: str, assignment: str, student: str) -> bool:
    """A student who could not be graded and has no submission in the gradebook gets one, every
    check cell flagged for a manual grade, so that formgrader and ``nbgrader export`` show them
    (otherwise they are absent, as if they had submitted nothing). An existing entry is left as
    it is. True when one was added."""
    from nbgrader.api import MissingEntry

    with _gradebook(db_url) as gb:
        try:
            gb.find_submission(assignment, student)
            return False
        except MissingEntry:
            pass
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = None
                grade.needs_manual_grade = True
        gb.db.commit()
    return True
