"""What the Gradescope autograder zip runs (``llmcourse otter`` puts it in the zip's
``run_otter.py``): the out-of-process grader decides the scores, not otter's tests in the
student's kernel.

In otter's own run the hidden tests execute in the kernel that ran the student's notebook, so an
answer cell can rebind the check functions and be believed (README, "Which path to trust"). Here
the submitted notebook is graded as ``llmcourse check`` grades it: the answer cells run in a
worker process (in the bubblewrap sandbox where the container allows it; Gradescope's Docker
usually does not, and the grader then runs them in a plain subprocess and says so), and this
process, which never ran student code, computes the reference and decides every score.
Gradescope's ``results.json`` gets one test per exercise with its points and teaching messages.

The zip carries ``llmcourse.json`` beside otter's files: the chapter and the seed of the hidden
inputs (drawn when the zip is built; the zip is the instructor's, never the students').
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from autograder.batch import shared_notes, teaching_order
from autograder.chapters import get_chapter
from autograder.grade import grade_notebook
from autograder.sandbox import detect
from autograder.spec import Kind
from autograder.submission import SubmissionError

CONFIG = "llmcourse.json"


def results_json(result, chapter) -> dict:
    """Gradescope's results.json from a ``NotebookResult``: a test per exercise, the likely mistake
    first, the notes that every exercise shares said once in the overall output."""
    exercises = result.exercises
    shared = shared_notes([(chapter.exercise(e.id).kind is not Kind.SYMBOLIC and not e.ungraded,
                            e.messages) for e in exercises])
    tests = []
    for e in exercises:
        lines = teaching_order(list(e.messages), shared)
        if e.ungraded:
            lines = ["ungraded on this machine: your instructor grades it by hand", *lines]
        tests.append({"name": e.name, "score": 0.0 if e.ungraded else e.points,
                      "max_score": e.max_points, "output": "\n".join(lines),
                      "visibility": "visible"})
    notes = [f"Graded out of process by llmcourse ({chapter.label}: {chapter.title})."] + shared
    return {"score": sum(t["score"] for t in tests), "tests": tests, "output": "\n".join(notes)}


def not_graded(reason: str) -> dict:
    """A submission that could not be graded: said so, in the output every student sees."""
    return {"score": 0.0, "output": f"NOT GRADED: {reason}. Nothing was scored: fix the file and "
                                    "submit again, or ask your instructor.",
            "tests": [{"name": "submission", "score": 0.0, "max_score": 0.0,
                       "output": reason, "visibility": "visible"}]}


def find_notebook(submission: Path, stem: str) -> Path:
    notebooks = sorted(submission.rglob("*.ipynb"))
    named = [p for p in notebooks if p.name == f"{stem}.ipynb"]
    if named or len(notebooks) == 1:
        return (named or notebooks)[0]
    found = ", ".join(p.name for p in notebooks) or "no notebook"
    raise SubmissionError(f"{stem}.ipynb was not submitted (found: {found})")


def main(autograder_dir: str = "/autograder") -> int:
    root = Path(autograder_dir)
    config = json.loads((root / "source" / CONFIG).read_text(encoding="utf-8"))
    chapter = get_chapter(config["chapter"])
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        path = find_notebook(root / "submission", chapter.notebook_stem)
        sandbox = detect("auto")
        result = grade_notebook(str(path), chapter.id, sandbox=sandbox, seed=config["seed"])
        results = results_json(result, chapter)
        if sandbox.note:
            results["output"] += f"\nnote: {sandbox.note}"
    except SubmissionError as e:
        results = not_graded(str(e).replace(str(root / "submission") + "/", ""))
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
