"""The otter edition (autograder/otter.py): generated from course/ like the nbgrader one, public
checks through ``grader.check``, and ``otter run`` scores equal to ``llmcourse check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder import otter as edition
from autograder.build import execute, read_source, role
from autograder.examples import answer_source, solution_answers
from autograder.grade import grade_notebook

ROOT = Path(__file__).resolve().parents[2]
WHEEL = "llmcourse-0.1.0-py3-none-any.whl"
# ``built`` and ``graded``: made once, by one xdist worker; kernels that grade draw no figures
pytestmark = [pytest.mark.costly_setup, pytest.mark.usefixtures("figures_not_drawn")]


def _raw_config(cell, header: str) -> dict:
    assert cell.cell_type == "raw" and cell.source.startswith(header), cell.source
    return yaml.safe_load(cell.source.removeprefix(header))


def _answer_sources(nb, chapter) -> dict[str, str]:
    by_id = {ex.answer_cell_id: ex.id for ex in chapter.exercises}
    return {by_id[c.metadata["nbgrader"]["grade_id"]]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") in by_id}


# --------------------------------------------------------------------------- the master notebook
@pytest.fixture(scope="module")
def master(ch04):
    return edition.master_notebook(read_source(ch04), ch04, WHEEL)


def test_master_declares_every_exercise_from_the_chapter(master, ch04):
    questions = [_raw_config(c, "# BEGIN QUESTION") for c in master.cells
                 if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    assert questions == [{"name": ex.name, "points": ex.points, "all_or_nothing": True}
                         for ex in ch04.exercises]


def test_master_tests_are_generated_from_the_check_cells(master, ch04):
    checks = {role(c)["exercise"]: c.source.strip() for c in read_source(ch04).cells
              if role(c).get("role") == "check"}
    cells = master.cells
    for ex in ch04.exercises:
        i = next(i for i, c in enumerate(cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == ex.answer_cell_id)
        kinds = [c.source.splitlines()[0] if c.cell_type == "raw" else "code"
                 for c in cells[i + 1:i + 7]]
        assert kinds == ["# END SOLUTION", "# BEGIN TESTS", "code", "code", "# END TESTS",
                         "# END QUESTION"], ex.id
        public, hidden = cells[i + 3].source, cells[i + 4].source
        assert checks[ex.id] in public and "hidden: false" in public
        assert f"hidden_check({ex.id!r}, env)" in hidden and "hidden: true" in hidden
        assert f"points: {ex.points}" in hidden


def test_master_config_pins_the_tested_environment(master):
    import torch

    config = _raw_config(master.cells[0], "# ASSIGNMENT CONFIG")
    assert config["name"] == "ch04_attention"
    assert config["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert config["autograder_files"] == [WHEEL]
    assert f"/autograder/source/files/{WHEEL}" in config["requirements"]
    assert f"torch=={torch.__version__.split('+')[0]}+cpu" in config["requirements"]


def test_otter_strips_answers_to_the_nbgrader_stub(ch04, ch04_release):
    """otter's own solution removal, applied to our converted answer cells, gives exactly the
    answer cells nbgrader released: one source, the same starting point in both editions."""
    from otter.assign.solutions import replace_solutions

    released = _answer_sources(ch04_release, ch04)
    stub = edition.code_stub()
    for c in read_source(ch04).cells:
        if role(c).get("role") == "answer":
            stripped = "\n".join(replace_solutions(edition.otter_answer(c.source, stub).split("\n"),
                                                   "python"))
            assert stripped == released[role(c)["exercise"]]


@pytest.mark.parametrize("edit", ["ignore_first_line", "raw_cell", "check_not_adjacent"],
                         ids=["ignore-first-line", "raw-cell", "check-not-adjacent"])
def test_source_that_otter_would_misread_is_refused(ch04, edit):
    nb = read_source(ch04)
    i = next(i for i, c in enumerate(nb.cells) if role(c).get("role") == "answer")
    if edit == "ignore_first_line":
        nb.cells.insert(3, nbformat.v4.new_code_cell("# Ignore this cell\nprint(1)"))
    elif edit == "raw_cell":
        nb.cells.insert(3, nbformat.v4.new_raw_cell("# BEGIN QUESTION\nname: x"))
    else:
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell("print('between')"))
    with pytest.raises(edition.OtterError):
        edition.master_notebook(nb, ch04, WHEEL)


# --------------------------------------------------------------------------- generated products
@pytest.fixture(scope="module")
def built(tmp_path_factory, ch04):
    """`llmcourse otter ch04 --no-verify` (the tests below do the verifying, on 3 submissions)."""
    from autograder.cli import main

    out = tmp_path_factory.mktemp("otter")
    assert main(["otter", "ch04", "--out", str(out), "--no-verify"]) == 0
    return out


@pytest.fixture(scope="module")
def student(built):
    return nbformat.read(built / "student" / "ch04_attention.ipynb", as_version=4)


@pytest.mark.slow
def test_student_notebook_has_no_solutions_or_hidden_tests(built, student, ch04, ch04_release):
    text = (built / "student" / "ch04_attention.ipynb").read_text()
    assert "hidden_check" not in text and "BEGIN SOLUTION" not in text
    assert _answer_sources(student, ch04) == _answer_sources(ch04_release, ch04)
    tests = student.metadata["otter"]["tests"]
    assert sorted(tests) == sorted(ex.name for ex in ch04.exercises)
    assert all("hidden=True" not in t and "self_check" in t for t in tests.values())
    checks = [c.source for c in student.cells if c.source.startswith("grader.check(")]
    assert checks == [f'grader.check("{ex.name}")' for ex in ch04.exercises]
    assert student.cells[0].source.endswith('grader = otter.Notebook("ch04_attention.ipynb")')


@pytest.mark.slow
def test_autograder_zip_carries_hidden_tests_and_llmcourse(built, ch04, tmp_path):
    with zipfile.ZipFile(built / "ch04_attention-autograder.zip") as zf:
        names = set(zf.namelist())
        assert {f"tests/{ex.name}.py" for ex in ch04.exercises} <= names
        assert all("hidden_check" in zf.read(f"tests/{ex.name}.py").decode()
                   for ex in ch04.exercises)
        env = yaml.safe_load(zf.read("environment.yml"))
        assert f"python={sys.version_info.major}.{sys.version_info.minor}" in env["dependencies"]
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        assert f"/autograder/source/files/{WHEEL}" in pip
        zf.extract(f"files/{WHEEL}", tmp_path)
    # The wheel alone (no checkout) grades: unpack it and run a hidden check from outside the repo.
    site = tmp_path / "site"
    zipfile.ZipFile(tmp_path / "files" / WHEEL).extractall(site)
    code = ("import autograder; from autograder.kernel import hidden_check\n"
            "from reference.attention import softmax\n"
            "hidden_check('ch04.softmax', {'softmax': softmax}); print(autograder.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(str(site / "autograder" / "__init__.py"))


def _executed(nb, workdir: Path):
    """Run the notebook headless as a student would, saved under the name its init cell reads."""
    workdir.mkdir()
    nbformat.write(nb, workdir / "ch04_attention.ipynb")
    return execute(nbformat.read(workdir / "ch04_attention.ipynb", as_version=4), workdir)


@pytest.mark.slow
@pytest.mark.parametrize("solved", [True, False], ids=["solved", "unsolved"])
def test_grader_check_runs_the_public_checks_headless(student, ch04, tmp_path, solved):
    nb = edition.otter_submission(student, ch04, solution_answers(ch04)) if solved else student
    done = _executed(nb, tmp_path / "nb")
    reports = {}
    for c in done.cells:
        if c.source.startswith("grader.check("):
            name = c.source.split('"')[1]
            reports[name] = "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "")
                                    for o in c.outputs)
    assert sorted(reports) == sorted(ex.name for ex in ch04.exercises)
    for name, report in reports.items():
        if solved:
            assert "public checks passed" in report and "All test cases passed!" in report, report
        else:
            assert "Test case failed" in report and "not implemented" in report, report


SUBMISSIONS = {  # id → {exercise id: catalogued mistake}; None = the untouched notebook
    "solution": {},
    "softmax-mistake": {"ch04.softmax": "no_max_subtraction"},
    "untouched": None,
}


@pytest.fixture(scope="module")
def graded(built, student, ch04, tmp_path_factory):
    """{submission id: (otter's question scores, llmcourse check's exercise scores)}. The otter
    runs go in parallel (each mostly waits on its kernel: 3 take ~25 s together, ~70 s in a row)."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("submissions")
    paths = {}
    for kind, mistakes in SUBMISSIONS.items():
        answers = solution_answers(ch04)
        for ex_id, key in (mistakes or {}).items():
            ex = ch04.exercise(ex_id)
            answers[ex_id] = answer_source(next(m.impl for m in ex.mistakes if m.key == key),
                                           ex.name)
        nb = student if mistakes is None else edition.otter_submission(student, ch04, answers)
        (root / kind).mkdir()
        paths[kind] = root / kind / "ch04_attention.ipynb"
        nbformat.write(nb, paths[kind])
    zip_path = built / "ch04_attention-autograder.zip"
    with ThreadPoolExecutor(len(paths)) as pool:
        runs = {kind: pool.submit(edition.otter_run, zip_path, path, path.parent / "run")
                for kind, path in paths.items()}
        checked = {kind: {e.name: e.points for e in grade_notebook(str(path), "ch04").exercises}
                   for kind, path in paths.items()}
        return {kind: (edition.question_scores(runs[kind].result()), checked[kind])
                for kind in paths}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SUBMISSIONS), ids=list(SUBMISSIONS))
def test_otter_scores_equal_llmcourse_check(graded, ch04, kind):
    by_otter, by_check = graded[kind]
    assert by_otter == by_check
    mistakes = SUBMISSIONS[kind]
    expected = {ex.name: (0.0 if mistakes is None or ex.id in mistakes else ex.points)
                for ex in ch04.exercises}
    assert by_check == expected


def test_exercises_that_need_a_gpu_are_manual_questions():
    """Gradescope has no GPU: Chapter 7's Triton kernel becomes a manually graded question with
    its points and no autograder test (a test there could only fail), its self-check kept."""
    from autograder.chapters import get_chapter

    ch07 = get_chapter("ch07")
    master = edition.master_notebook(read_source(ch07), ch07, WHEEL)
    questions = {q["name"]: q for q in (_raw_config(c, "# BEGIN QUESTION") for c in master.cells
                 if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION"))}
    assert set(questions) == {ex.name for ex in ch07.exercises}
    for ex in ch07.exercises:
        expected = ({"name": ex.name, "points": ex.points, "manual": True} if ex.requires else
                    {"name": ex.name, "points": ex.points, "all_or_nothing": True})
        assert questions[ex.name] == expected
    assert any(ex.requires for ex in ch07.exercises)
    text = "\n".join(c.source for c in master.cells)
    assert "hidden_check('ch07.triton_flash_attention_forward'" not in text
    assert 'self_check("ch07.triton_flash_attention_forward"' in text


def test_a_package_requirement_is_installed_not_graded_by_hand():
    """Chapter 12's safetensors exercises need a package, not a GPU: Gradescope installs it
    (pinned to the version here) and they stay autograded; Chapter 7's Triton kernel is manual."""
    from importlib import metadata

    from autograder.chapters import get_chapter

    ch12, ch07 = get_chapter("ch12"), get_chapter("ch07")
    config = edition.assignment_config(ch12, WHEEL)
    try:
        pin = f"safetensors=={metadata.version('safetensors')}"
    except metadata.PackageNotFoundError:
        pin = "safetensors"
    assert pin in config["requirements"]
    assert not edition._needs_hardware(ch12.exercise("ch12.save_safetensors"))
    assert edition._needs_hardware(ch07.exercise("ch07.triton_flash_attention_forward")) \
        if any(ex.id == "ch07.triton_flash_attention_forward" for ex in ch07.exercises) \
        else any(edition._needs_hardware(ex) for ex in ch07.exercises)


TAMPER_CELL = """
def softmax(x, dim=-1, temperature=1.0):
    return x.exp()  # wrong: not normalised

import autograder.kernel as _k
_k.hidden_check = lambda *args, **kwargs: print("all hidden tests passed")
_k.self_check = lambda *args, **kwargs: None
"""


@pytest.mark.slow
def test_the_gradescope_zip_grades_out_of_process(built, student, ch04, tmp_path):
    """On Gradescope the zip's run_otter.py runs autograder/gradescope.py: the notebook is graded
    as `llmcourse check` grades it, so rebinding the check functions on their module, which
    fools otter's in-kernel tests, changes nothing; results.json has a test per exercise."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(built / "ch04_attention-autograder.zip") as zf:
        zf.extractall(root / "source")
    assert "autograder.gradescope import main" in (root / "source" / "run_otter.py").read_text()
    config = json.loads((root / "source" / "llmcourse.json").read_text())
    assert config["chapter"] == "ch04" and isinstance(config["seed"], int)
    answers = solution_answers(ch04) | {"ch04.softmax": TAMPER_CELL}
    (root / "submission").mkdir()
    nbformat.write(edition.otter_submission(student, ch04, answers),
                   root / "submission" / "ch04_attention.ipynb")
    proc = subprocess.run([sys.executable, "-c", "import sys; from autograder.gradescope import "
                           f"main; sys.exit(main({str(root)!r}))"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    scores = {t["name"]: t["score"] for t in results["tests"]}
    assert scores == {ex.name: 0.0 if ex.id == "ch04.softmax" else ex.points
                      for ex in ch04.exercises}
    assert results["score"] == ch04.max_points - ch04.exercise("ch04.softmax").points
    assert "out of process" in results["output"]


def test_a_gradescope_submission_without_the_notebook_is_not_graded_visibly(tmp_path):
    from autograder import gradescope

    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "source" / gradescope.CONFIG).write_text(json.dumps({"chapter": "ch04", "seed": 1}))
    (root / "submission").mkdir()
    (root / "submission" / "notes.txt").write_text("oops")
    assert gradescope.main(str(root)) == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["output"].startswith("NOT GRADED: ch04_attention.ipynb was not submitted")
