"""``llmcourse otter``: the same course source → an otter-grader assignment.

Nothing here is a second copy of a test. The cases live in the chapter declaration
(``autograder.chapters``), the in-kernel checks in ``autograder.kernel``; nbgrader and otter each get
a generated two-line shim that calls them. A pipeline of small steps (run in this order by
:func:`generate`):

1. ``master_notebook``  course/<ch>/<nb>.py → otter-assign master notebook: assignment config
                        cell, and per exercise a question block whose solution is the answer cell
                        (nbgrader's stub as the prompt) and whose tests are generated from the
                        check cell (public: ``self_check``) and the exercise id (hidden:
                        ``hidden_check``)
2. ``build_wheel``      the ``llmcourse`` wheel the autograder environment installs
3. ``otter_assign``     ``otter assign``: student notebook (``grader.check`` cells, public tests
                        only) and the Gradescope zip; otter runs all tests on the solutions
4. ``verify``           ``otter run`` on the untouched student notebook must score 0 everywhere
                        (with 3, the same gate as ``llmcourse build``)

Submissions in otter's format for tests and demos: :func:`otter_submission`.
"""

from __future__ import annotations

import ast
import builtins
import copy
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from autograder import gradescope
from autograder.build import (
    COURSE,
    ROOT,
    SOLUTION_BEGIN,
    SOLUTION_END,
    BuildError,
    jupyter_env,
    instructor_notebook,
    read_source,
    role,
    validate_source,
)
from autograder.chapters import get_chapter
from autograder.examples import fill_answers
from autograder.spec import HARDWARE, Chapter, package_requirements

BUILD = ROOT / "build" / "otter"
# Where Gradescope unpacks the zip; otter copies ``autograder_files`` to <this>/files/.
GRADESCOPE_SOURCE = "/autograder/source"
# `otter run` has no timeout of its own; one endless loop would hang the caller forever.
OTTER_RUN_TIMEOUT_S = 900
WHEEL_SOURCES = ("pyproject.toml", "README.md", "autograder", "reference")

NOTE = """\
**Otter edition.** The check cell under each answer cell reads `grader.check("<name>")` here \
instead of `self_check(...)`: it runs the same public checks and prints the same messages. Run the \
`grader = otter.Notebook(...)` cell at the top first. Grading runs hidden tests on many more cases; \
an exercise scores its points only if all of them pass."""


class OtterError(BuildError):
    pass


@dataclass
class OtterBuild:
    out: Path
    master: Path  # the generated otter-assign master notebook
    wheel: Path  # llmcourse, installed by the Gradescope environment
    student: Path  # hand this out: grader.check cells, public tests in its metadata
    autograder_zip: Path  # upload this to Gradescope (or grade locally with `otter run -a`)
    autograder_notebook: Path  # otter's solution notebook (all tests), for reference


# --------------------------------------------------------------------------- 1. master notebook
def code_stub() -> str:
    """The stub that replaces a solution: nbgrader's, read from course/nbgrader_config.py so that
    both editions show students the same starting point."""
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()
    return cfg.ClearSolutions.code_stub["python"]


def otter_conflicts(nb) -> list[str]:
    """Source text that otter assign would read as its own syntax (it would silently drop or
    rewrite those cells or lines)."""
    problems = []
    for i, c in enumerate(nb.cells):
        lines = c.source.splitlines()
        where = f"cell {i} ({role(c).get('role', c.cell_type)})"
        if c.cell_type == "raw":
            problems.append(f"{where}: raw cells are otter config/boundary cells")
        if lines and (lines[0].lstrip().lower().startswith(("# ignore", "## ignore"))):
            problems.append(f"{where}: a first line '# ignore' makes otter drop the cell")
        for line in lines:
            s = line.rstrip()
            if s.strip() == "```otter":
                problems.append(f"{where}: a ```otter fence is otter config")
            if s.endswith(("# IGNORE", "# END IGNORE", "# SEED")) or "BEGIN IGNORE" in s.upper():
                problems.append(f"{where}: otter strips lines marked {s.split('#')[-1].strip()!r}")
            if (role(c).get("role") == "answer" and s.strip() not in (SOLUTION_BEGIN, SOLUTION_END)
                    and ("# SOLUTION" in s or "#SOLUTION" in s or s.endswith("PROMPT"))):
                problems.append(f"{where}: otter rewrites lines marked '# SOLUTION'/'PROMPT'")
    return problems


def otter_answer(source: str, stub: str) -> str:
    """Our ``### BEGIN/END SOLUTION`` region → otter's: the stub as a prompt (a string literal in
    the solution, plain code in the student version), then ``# BEGIN SOLUTION NO PROMPT``."""
    if '"""' in stub:
        raise OtterError(f"the code stub {stub!r} cannot sit in a triple-quoted prompt")
    out = []
    for line in source.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        if line.strip() == SOLUTION_BEGIN:
            out.append(f'{indent}""" # BEGIN PROMPT')
            out += [indent + s for s in stub.splitlines()]
            out += [f'{indent}""" # END PROMPT', f"{indent}# BEGIN SOLUTION NO PROMPT"]
        elif line.strip() == SOLUTION_END:
            out.append(f"{indent}# END SOLUTION")
        else:
            out.append(line)
    return "\n".join(out)


def _test_cell(config: dict, fn: str, params: list[str], body: str, call_args: str):
    """An exception-based otter test cell: config, one function, one call."""
    src = ('""" # BEGIN TEST CONFIG\n' + yaml.safe_dump(config, sort_keys=False)
           + '""" # END TEST CONFIG\n'
           + f"def {fn}({', '.join(params)}):\n"
           + "".join(f"    {line}\n" for line in body.splitlines())
           + f"\n{fn}({call_args})")
    return nbformat.v4.new_code_cell(src)


def public_test(check_source: str, ex) -> nbformat.NotebookNode:
    """The check cell's own code, run by ``grader.check``: its free names become the test
    function's parameters (otter passes the notebook's values of those names)."""
    tree = ast.parse(check_source)
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Load)} - {"self_check"} - set(dir(builtins)))
    body = "from autograder.kernel import self_check\n" + check_source.strip()
    return _test_cell({"hidden": False, "points": 0}, f"test_{ex.name}_public", names, body,
                      ", ".join(names))


def hidden_test(ex) -> nbformat.NotebookNode:
    """All cases of the exercise, against the notebook's globals (otter's ``env``)."""
    body = f"from autograder.kernel import hidden_check\nhidden_check({ex.id!r}, env)"
    return _test_cell({"hidden": True, "points": ex.points}, f"test_{ex.name}_hidden", ["env"],
                      body, "globals()")


def _raw(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text)


def _needs_hardware(ex) -> bool:
    return any(need in HARDWARE for need in ex.requires)


def _packages(chapter: Chapter) -> list[str]:
    """The packages the chapter's exercises require (e.g. safetensors), pinned to the version
    installed here, where the chapter was checked; Gradescope installs them."""
    from importlib import metadata

    pins = []
    for name in sorted({p for ex in chapter.exercises for p in package_requirements(ex.requires)}):
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def assignment_config(chapter: Chapter, wheel_name: str) -> dict:
    import torch

    return {
        "name": chapter.assignment,
        # What `otter run` verified locally is what Gradescope builds (otter 7 defaults to 3.13).
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "requirements": [
            # Gradescope has no GPU: the CPU build of the torch we tested with, not PyPI's CUDA one.
            "--extra-index-url https://download.pytorch.org/whl/cpu",
            f"torch=={torch.__version__.split('+')[0]}+cpu",
            f"{GRADESCOPE_SOURCE}/files/{wheel_name}",
            *_packages(chapter),
        ],
        "autograder_files": [wheel_name],
        "init_cell": True,
        "check_all_cell": False,
        "export_cell": False,  # students upload the .ipynb itself
        "tests": {"files": False, "ok_format": False},
        # show_hidden: per-question scores and teaching messages visible once grades are published.
        "generate": {"pdf": False, "filtering": False, "show_stdout": False, "show_hidden": True},
    }


def master_notebook(nb, chapter: Chapter, wheel_name: str) -> nbformat.NotebookNode:
    """The otter-assign master notebook of ``chapter`` from its course source ``nb``."""
    problems = otter_conflicts(nb)
    cells = nb.cells
    for i, c in enumerate(cells):
        if role(c).get("role") == "answer":
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            if nxt is None or (role(nxt).get("role"), role(nxt).get("exercise")) != (
                    "check", role(c)["exercise"]):
                problems.append(f"the answer cell of {role(c)['exercise']} is not directly "
                                "followed by its check cell (otter needs one question block)")
    if problems:
        raise OtterError(f"{chapter.id}: cannot feed otter assign:\n  " + "\n  ".join(problems))

    stub = code_stub()
    # nbgrader's metadata on answer cells (grade ids) survives otter assign, so `llmcourse check`
    # finds the answer cells of an otter submission exactly as it does in an nbgrader one.
    marked = instructor_notebook(nb, chapter)
    out = copy.deepcopy(marked)
    config = assignment_config(chapter, wheel_name)
    out.cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False))]
    noted = False
    for src, c in zip(cells, marked.cells):
        r = role(src)
        if r.get("role") == "answer":
            ex = chapter.exercise(r["exercise"])
            answer = copy.deepcopy(c)
            answer.source = otter_answer(src.source, stub)
            head = {"name": ex.name, "points": ex.points, "all_or_nothing": True}
            if _needs_hardware(ex):  # Gradescope has no GPU: graded by hand there (docs/OTTER.md)
                head = {"name": ex.name, "points": ex.points, "manual": True}
            out.cells += [_raw("# BEGIN QUESTION\n" + yaml.safe_dump(head, sort_keys=False)),
                          _raw("# BEGIN SOLUTION"), answer, _raw("# END SOLUTION")]
        elif r.get("role") == "check":
            ex = chapter.exercise(r["exercise"])
            if _needs_hardware(ex):  # no autograder test; the public self-check stays for the student
                out.cells += [_raw("# END QUESTION"), copy.deepcopy(c)]
                continue
            out.cells += [_raw("# BEGIN TESTS"), public_test(src.source, ex), hidden_test(ex),
                          _raw("# END TESTS"), _raw("# END QUESTION")]
        else:
            out.cells.append(copy.deepcopy(c))
            if not noted and c.cell_type == "markdown":
                out.cells.append(nbformat.v4.new_markdown_cell(NOTE))
                noted = True
    return out


# --------------------------------------------------------------------------- 2. wheel
def build_wheel(dest: Path) -> Path:
    """``llmcourse`` as a wheel (``autograder`` + ``reference``: chapters, cases, checks), built
    offline from this checkout, so the zip grades with exactly the code that generated it."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmcourse-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in WHEEL_SOURCES:
            p = ROOT / name
            if p.is_dir():
                shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif p.exists():
                shutil.copy(p, src / name)
        if not (src / "README.md").exists():  # pyproject's `readme`; metadata only
            (src / "README.md").write_text("llmcourse\n")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
             "--quiet", "-w", str(Path(tmp) / "dist"), str(src)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            raise OtterError(f"building the llmcourse wheel failed:\n{proc.stdout}\n{proc.stderr}")
        [wheel] = (Path(tmp) / "dist").glob("llmcourse-*.whl")
        target = dest / wheel.name
        shutil.copy(wheel, target)
    return target


# --------------------------------------------------------------------------- 3. otter assign
def _otter(args: list[str], workdir: Path, timeout: float | None = None):
    try:
        return subprocess.run([sys.executable, "-m", "autograder.run_tool", "otter", *args],
                              cwd=workdir, env=jupyter_env(workdir), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OtterError(f"otter {args[0]} did not finish within {timeout} s") from None


def otter_assign(master: Path, dist: Path, *, run_tests: bool = True) -> tuple[Path, Path, Path]:
    """Run ``otter assign``; returns (student notebook, autograder notebook, autograder zip)."""
    shutil.rmtree(dist, ignore_errors=True)
    args = ["assign", str(master), str(dist), "--no-pdfs"] + ([] if run_tests else ["--no-run-tests"])
    proc = _otter(args, master.parent)
    if proc.returncode != 0:
        raise OtterError(f"otter assign failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    [zip_path] = (dist / "autograder").glob("*-autograder_*.zip")
    return dist / "student" / master.name, dist / "autograder" / master.name, zip_path


# --------------------------------------------------------------------------- grading with otter
def otter_run(autograder_zip: Path, notebook: Path, workdir: Path | None = None) -> dict:
    """Grade one otter-format notebook locally with ``otter run``; Gradescope's results.json."""
    with tempfile.TemporaryDirectory(prefix="llmcourse-otter-run-") as tmp:
        work = Path(workdir or tmp)
        out = work / "results"
        out.mkdir(parents=True, exist_ok=True)
        proc = _otter(["run", "-a", str(Path(autograder_zip).resolve()), "-o", str(out),
                       "--no-logo", str(Path(notebook).resolve())], work, OTTER_RUN_TIMEOUT_S)
        results = out / "results.json"
        if proc.returncode != 0 or not results.exists():
            raise OtterError(f"otter run failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return json.loads(results.read_text())


def question_scores(results: dict) -> dict[str, float]:
    """Question name → score, from a Gradescope results.json written by otter."""
    tests = results.get("tests", [])
    if any(t.get("name") == "Autograder Failed" for t in tests):
        raise OtterError("otter could not grade the notebook:\n"
                         + "\n".join(t.get("output", "") for t in tests))
    return {t["name"]: t["score"] for t in tests if "score" in t}


# --------------------------------------------------------------------------- submissions
def otter_submission(student_nb, chapter: Chapter, answers: dict[str, str]):
    """A copy of the otter student notebook with the answer cells of ``answers`` (exercise id →
    answer-cell text, e.g. from ``autograder.examples``) replaced, as a student would type them."""
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in student_nb.cells]
    for ex_id in answers:
        n = ids.count(chapter.exercise(ex_id).answer_cell_id)
        if n != 1:
            raise OtterError(f"the otter notebook has {n} answer cells for {ex_id}, expected 1")
    return fill_answers(student_nb, chapter, answers)


# --------------------------------------------------------------------------- Gradescope
RUN_OTTER = '''"""llmcourse: the out-of-process grader decides the scores on Gradescope (autograder/gradescope.py);
otter's tests in the student's kernel, which an answer cell can rebind, are not run here."""
import sys

from autograder.gradescope import main

if __name__ == "__main__":
    sys.exit(main("{autograder_dir}"))
'''


def out_of_process_zip(zip_path: Path, chapter: Chapter, seed: int) -> None:
    """Rewrite otter's Gradescope zip in place so that Gradescope grades out of process: its
    ``run_otter.py`` (what ``run_autograder`` starts, in otter's environment with the llmcourse
    wheel installed) runs :mod:`autograder.gradescope` instead of otter's in-kernel grading, and
    ``llmcourse.json`` gives it the chapter and the hidden inputs' seed. Everything else in the
    zip (setup.sh, the environment, the wheel) is otter's."""
    with zipfile.ZipFile(zip_path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()
                   if info.filename not in ("run_otter.py", gradescope.CONFIG)]
    config = {"chapter": chapter.id, "seed": seed}
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            dst.writestr(info, data)
        dst.writestr("run_otter.py", RUN_OTTER.format(autograder_dir="/autograder"))
        dst.writestr(gradescope.CONFIG, json.dumps(config))


# --------------------------------------------------------------------------- driver
def default_out(chapter: Chapter) -> Path:
    return BUILD / chapter.assignment


def generate(chapter_id: str, out: Path | None = None, *, verify: bool = True,
             log=print) -> OtterBuild:
    """Write the otter edition of a chapter into ``out`` (default build/otter/<assignment>/).

    ``out/student/<nb>.ipynb`` and ``out/<assignment>-autograder.zip`` appear only after the
    checks pass: with ``verify``, otter's own run of every test on the solutions (full marks) and
    ``otter run`` on the untouched student notebook (0 on every question)."""
    chapter = get_chapter(chapter_id)
    out = Path(out or default_out(chapter)).resolve()
    stem = f"{chapter.notebook_stem}.ipynb"
    student_dest = out / "student" / stem
    zip_dest = out / f"{chapter.assignment}-autograder.zip"
    for stale in (student_dest, zip_dest):
        stale.unlink(missing_ok=True)

    nb = read_source(chapter)
    validate_source(nb, chapter)
    work = out / "assign"
    shutil.rmtree(work, ignore_errors=True)
    master_dir = work / "master"
    log(f"[{chapter.id}] building the llmcourse wheel for the autograder environment")
    wheel = build_wheel(master_dir)
    master = master_dir / stem
    nbformat.write(master_notebook(nb, chapter, wheel.name), master)
    log(f"[{chapter.id}] otter assign{' (runs every test on the solutions)' if verify else ''}")
    student, ag_notebook, ag_zip = otter_assign(master, work / "dist", run_tests=verify)
    if verify:
        log(f"[{chapter.id}] otter run on the untouched student notebook (must score 0)")
        scores = question_scores(otter_run(ag_zip, student))
        earning = {q: s for q, s in scores.items() if s != 0}
        names = {ex.name for ex in chapter.exercises if not _needs_hardware(ex)}
        if earning or set(scores) != names:
            raise OtterError(f"[{chapter.id}] refusing to release: the untouched student notebook "
                             f"scores {scores} (questions expected: {sorted(names)})")
    student_dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(student, student_dest)
    shutil.copy(ag_zip, zip_dest)
    out_of_process_zip(zip_dest, chapter, secrets.randbelow(2**31))
    log(f"[{chapter.id}] wrote {student_dest}")
    log(f"[{chapter.id}] wrote {zip_dest}")
    return OtterBuild(out, master, wheel, student_dest, zip_dest, ag_notebook)
