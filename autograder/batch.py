"""Class-scale grading: many submissions in parallel, resumable, with reports and feedback.

Used by ``llmcourse grade`` (``gradebook.grade_course``) for step 2 of its pipeline. Guarantees:

- raw submissions are only read, never written;
- each student's result is written atomically (temporary file + ``os.replace``) to
  ``<course>/llmcourse/results/<assignment>/<student>.json`` as soon as it is known, so a batch
  killed halfway loses nothing: rerun it and finished students are reused, not regraded (unless
  ``regrade``), as long as neither their notebooks nor the grader changed (fingerprints);
- a submission that could not be graded is a *failure* with its reason, never a 0;
- the same code on the same notebooks gives identical scores (seeded inputs, no randomness in
  verdicts).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import queue
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder.chapters import all_chapters
from autograder.grade import NotebookResult, grade_submission, plan_for
from autograder.runner import remove_stale_job_dirs
from autograder.sandbox import detect
from autograder.spec import Kind
from autograder.submission import SubmissionError, extract, owning_chapter, read_notebook

ROOT = Path(__file__).resolve().parent.parent
RESULT_VERSION = 1


# --------------------------------------------------------------------------- fingerprints
def grader_fingerprint(seed: int = 0) -> str:
    """Changes whenever anything that can change a verdict changes: grader, chapters, reference,
    course sources (given cells), the seed, and the torch version."""
    import torch

    h = hashlib.sha256(f"v{RESULT_VERSION}/seed={seed}/torch={torch.__version__}".encode())
    for folder in ("autograder", "reference", "course"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# --------------------------------------------------------------------------- results store
def results_dir(course_dir: Path, assignment: str) -> Path:
    return course_dir / "llmcourse" / "results" / assignment


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_result(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == RESULT_VERSION else None


def reusable(saved: dict | None, fingerprint: str, digests: dict,
             generation: str | None = None) -> bool:
    """A stored result stands for this run: graded by the same grader on the same notebooks (and,
    during a regrade, in the regrade's own generation)."""
    return (saved is not None and saved.get("failure") is None
            and saved.get("fingerprint") == fingerprint and saved.get("digests") == digests
            and (generation is None or saved.get("generation") == generation))


REGRADE_MARKER = ".regrade.json"


def regrade_generation(store: Path, fingerprint: str, regrade: bool, students: list[str],
                       log) -> tuple[str | None, set[str]]:
    """The generation of the regrade this run belongs to and the students it covers, or
    (None, set()) when it is not a regrade.

    ``--regrade`` starts a generation and writes a marker next to the results, naming its
    students; a run killed before the end leaves it, and the next run (with or without
    ``--regrade``) resumes that generation: its students' results of this generation are kept,
    their older ones are graded again, so a regrade never mixes old and new results.
    :func:`grade_all` removes the marker once each of its students has a result of the
    generation. A marker of another grader (the code changed since), or a new ``--regrade`` of
    other students, starts a new generation."""
    marker = store / REGRADE_MARKER
    saved = load_result(marker)
    if saved is not None and saved.get("fingerprint") == fingerprint and (
            not regrade or set(saved.get("students", ())) == set(students)):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved.get("started", 0)))
        log(f"resuming the regrade started {when} (it was stopped before the end): the results "
            "it already wrote are kept, its other students are graded again")
        return saved["generation"], set(saved["students"])
    if not regrade:
        return None, set()
    generation = uuid.uuid4().hex
    write_atomic(marker, json.dumps({"version": RESULT_VERSION, "generation": generation,
                                     "fingerprint": fingerprint, "started": time.time(),
                                     "students": sorted(students)}, ensure_ascii=False))
    return generation, set(students)


# --------------------------------------------------------------------------- grading in parallel
class Slots:
    """Sandbox slots (one unprivileged uid each) handed to concurrent gradings."""

    def __init__(self, n: int):
        self._free: queue.Queue = queue.Queue()
        for k in range(n):
            self._free.put(k)

    def take(self) -> int:
        return self._free.get()

    def give(self, slot: int) -> None:
        self._free.put(slot)


def other_notebooks(folder: Path, notebooks: list) -> list[str]:
    """The notebook files of a submission folder that are none of the assignment's."""
    wanted = {f"{nb}.ipynb" for nb in notebooks}
    return sorted(p.name for p in folder.glob("*.ipynb") if p.name not in wanted)


def grade_folder(student: str, folder: Path | None, assignment: str, chapter, notebooks: list,
                 *, plan, sandbox, slot: int, seed: int, budget_s: float | None) -> dict:
    """One student's notebooks, graded out of process; a JSON-able result record. ``failure``
    and ``warnings`` are addressed to the student (their feedback shows them): file names only,
    never a path, a log or another student's data."""
    t0 = time.perf_counter()
    record = {"version": RESULT_VERSION, "student": student, "assignment": assignment,
              "notebooks": {}, "failure": None, "warnings": []}
    if folder is None:
        record["failure"] = f"no folder submitted/{student}/{assignment}"
        return record
    others = other_notebooks(folder, notebooks)
    for nb_id in notebooks:
        path = folder / f"{nb_id}.ipynb"
        try:
            if not path.exists():
                found = f" (the submission has: {', '.join(others)})" if others else \
                    " (the submission has no notebook)"
                raise SubmissionError(f"{path.name} was not submitted{found}")
            nb = read_notebook(path)
            owner = owning_chapter(nb, chapter, all_chapters())
            if owner is not None:
                raise SubmissionError(
                    f"{path.name} is a {owner.assignment} notebook ({owner.label}'s answer "
                    f"cells), not {assignment}: was the wrong file submitted?")
            shown = f"submitted/{student}/{assignment}/{path.name}"  # the same on every machine
            sub = extract(nb, chapter, shown)
            results = grade_submission(sub, seed=seed, sandbox=sandbox, slot=slot, plan=plan,
                                       budget_s=budget_s)
            record["notebooks"][nb_id] = NotebookResult(shown, chapter.id, results).as_json()
        except SubmissionError as e:
            record["failure"] = str(e).replace(str(folder) + os.sep, "")
            break
        except Exception as e:  # noqa: BLE001 - a crash of the grader must not stop the others
            record["failure"] = f"{path.name}: grading failed ({type(e).__name__})"
            record["log"] = f"{type(e).__name__}: {e}"  # for the instructor, not the feedback
            break
    if others and not record["failure"]:
        record["warnings"].append(
            f"not graded: {', '.join(others)} (only {', '.join(f'{nb}.ipynb' for nb in notebooks)}"
            f" {'is' if len(notebooks) == 1 else 'are'} graded for {assignment})")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def grade_all(course_dir: Path, assignment: str, chapter, folders: dict, notebooks: list, *,
              jobs: int = 1, regrade: bool = False, seed: int = 0, budget_s: float | None = None,
              sandbox=None, remote=None, log=print) -> dict:
    """Grade (or reuse) every student's result; returns student -> result record. ``remote``
    grades the submissions elsewhere instead of in ``jobs`` local threads (a Dask cluster:
    ``cluster.remote_grader``): called with the (student, folder, digests) triples to grade and
    the keywords of :func:`grade_folder`, it yields (student, digests, record) as each finishes.
    Everything else (reuse, storage, regrade generations) is the same."""
    sandbox = sandbox or detect("auto")
    removed = remove_stale_job_dirs()
    if removed:
        log(f"removed {removed} job folder(s) left in the temporary directory by killed runs")
    fingerprint = grader_fingerprint(seed)
    store = results_dir(course_dir, assignment)
    generation, regraded = regrade_generation(store, fingerprint, regrade, list(folders), log)
    records, todo = {}, []
    for student, folder in folders.items():
        # the notebooks, and nbgrader's timestamp.txt (late penalties are recorded with them)
        digests = ({nb: file_digest(folder / f"{nb}.ipynb") for nb in notebooks}
                   | {"timestamp.txt": file_digest(folder / "timestamp.txt")}
                   if folder is not None else {})
        saved = load_result(store / f"{safe_name(student)}.json")
        if reusable(saved, fingerprint, digests, generation if student in regraded else None):
            records[student] = saved | {"reused": True}
        else:
            todo.append((student, folder, digests))
    if records:
        log(f"reusing {len(records)} result(s) from an earlier run with the same grader and "
            f"notebooks ({store.relative_to(course_dir)})"
            + ("" if regrade else "; --regrade to grade them again"))
    if sandbox.note:
        log(f"note: {sandbox.note}")

    def store_record(student, digests, rec):
        rec |= {"fingerprint": fingerprint, "digests": digests, "graded_at": time.time(),
                "generation": generation if student in regraded else None}
        write_atomic(store / f"{safe_name(student)}.json",
                     json.dumps(rec, ensure_ascii=False, indent=1))
        records[student] = rec
        progress.step(student, rec)

    progress = Progress(len(todo), log)
    if todo and remote is not None:
        for student, digests, rec in remote(todo, notebooks=notebooks, assignment=assignment,
                                            chapter=chapter, seed=seed, budget_s=budget_s,
                                            fingerprint=fingerprint):
            if student not in records:  # one result per submission, whatever the cluster did
                store_record(student, digests, rec)
    elif todo:
        plan = plan_for(chapter, seed=seed)  # the same cases for everyone: computed once
        slots = Slots(jobs)

        def one(student, folder, digests):
            slot = slots.take()
            try:
                return student, digests, grade_folder(
                    student, folder, assignment, chapter, notebooks, plan=plan,
                    sandbox=sandbox, slot=slot, seed=seed, budget_s=budget_s)
            finally:
                slots.give(slot)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(one, *t) for t in todo]
            for fut in as_completed(futures):
                store_record(*fut.result())
    if generation and all(records.get(s, {}).get("generation") == generation for s in regraded):
        (store / REGRADE_MARKER).unlink(missing_ok=True)  # each of its students is regraded
    return records


def safe_name(student: str) -> str:
    """The results file of a student id (ids are folder names, so any of them is a file name;
    a leading dot would hide it)."""
    return student if not student.startswith(".") else f"_{student}"


def stored_students(course_dir: Path, assignment: str) -> list[str]:
    """Every student with a submission folder for the assignment."""
    return sorted(p.parent.name for p in (course_dir / "submitted").glob(f"*/{assignment}")
                  if p.is_dir())


def class_records(course_dir: Path, assignment: str, records: dict) -> dict:
    """This run's records, with the stored results of the students it did not grade: the
    reports always cover the whole class (``--student`` grades a few, never shrinks them)."""
    store = results_dir(course_dir, assignment)
    out = {}
    for student in stored_students(course_dir, assignment):
        saved = records.get(student) or load_result(store / f"{safe_name(student)}.json")
        if saved is not None:
            out[student] = saved
    return out | {s: r for s, r in records.items() if s not in out}


class Progress:
    """A progress bar on a terminal, one line per submission otherwise. The time left is
    estimated from the submissions actually graded (one that fails at once, e.g. invalid JSON,
    says nothing about how long the others take)."""

    def __init__(self, total: int, log):
        self.total, self.done, self.log, self.t0 = total, 0, log, time.perf_counter()
        self.graded, self.graded_s = 0, 0.0
        self.tty = sys.stderr.isatty()

    def step(self, student: str, rec: dict) -> None:
        self.done += 1
        total = sum(n["total"] for n in rec["notebooks"].values())
        top = sum(n["max_total"] for n in rec["notebooks"].values())
        state = f"NOT GRADED ({rec['failure'].splitlines()[0]})" if rec["failure"] else \
            f"{total:g}/{top:g}"
        if not rec["failure"]:
            self.graded += 1
        elapsed = time.perf_counter() - self.t0
        left = ""
        if self.graded and self.done < self.total:
            eta = elapsed / self.graded * (self.total - self.done)
            left = f"  about {eta / 60:.0f} min left" if eta >= 90 else f"  about {eta:.0f} s left"
        width = 24
        bar = "#" * round(width * self.done / self.total)
        line = (f"[{bar:<{width}}] {self.done}/{self.total}{left}  "
                f"{student}: {state} ({rec.get('seconds', 0):.1f} s)")
        if self.tty:
            print("\r" + line[:150].ljust(150), end="" if self.done < self.total else "\n",
                  file=sys.stderr, flush=True)
        else:
            self.log(line)


# --------------------------------------------------------------------------- reports
def exercise_rows(rec: dict):
    for nb in rec["notebooks"].values():
        yield from nb["exercises"]


def summary(records: dict, chapter) -> str:
    graded = [r for r in records.values() if not r["failure"]]
    failed = [r for r in records.values() if r["failure"]]
    out = [f"graded: {len(graded)}   failed to grade: {len(failed)}"]
    for r in failed:
        out.append(f"  {r['student']}: {r['failure'].splitlines()[0]}")
    if graded:
        out.append(f"{'exercise':<36}{'max':>6}{'mean':>8}{'median':>8}{'passed':>9}")
        for ex in chapter.exercises:
            pts = [e["points"] for r in graded for e in exercise_rows(r) if e["id"] == ex.id]
            passed = sum(p == ex.points for p in pts)
            out.append(f"{ex.name:<36}{ex.points:>6g}{statistics.mean(pts):>8.2f}"
                       f"{statistics.median(pts):>8.2f}{passed:>5}/{len(pts)}")
        totals = [sum(e["points"] for e in exercise_rows(r)) for r in graded]
        out.append(f"{'total':<36}{chapter.max_points:>6g}{statistics.mean(totals):>8.2f}"
                   f"{statistics.median(totals):>8.2f}")
    held = {r["student"]: held_exercises(r) for r in graded if held_exercises(r)}
    if held:
        out.append(f"HELD FOR REVIEW ({len(held)} student(s)): no auto score until an instructor "
                   "has read these lines (formgrader: manual grade)")
        for student, exercises in sorted(held.items()):
            for e in exercises:
                out.append(f"  {student}: {e['name']}")
                out += [f"      {line}" for line in e["review"]]
    return "\n".join(out)


def held_exercises(rec: dict) -> list[dict]:
    """A student's exercises held for review (flagged by autograder/review.py)."""
    return [e for e in exercise_rows(rec) if e.get("review")] if not rec["failure"] else []


def write_reports(course_dir: Path, assignment: str, chapter, records: dict) -> tuple[Path, Path]:
    base = course_dir / "llmcourse" / "reports"
    rows = []
    for student in sorted(records):
        r = records[student]
        row = {"student": student, "status": "failed" if r["failure"] else "graded",
               "failure": (r["failure"] or "").splitlines()[0] if r["failure"] else "",
               "total": "" if r["failure"] else sum(e["points"] for e in exercise_rows(r)),
               "max_total": chapter.max_points}
        points = {e["id"]: e["points"] for e in exercise_rows(r)}
        for ex in chapter.exercises:
            row[ex.id] = "" if r["failure"] else points.get(ex.id, "")
        row["held_for_review"] = " | ".join(f"{e['id']}: {'; '.join(e['review'])}"
                                            for e in held_exercises(r))
        rows.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["student"])
    writer.writeheader()
    writer.writerows(rows)
    csv_path, json_path = base / f"{assignment}.csv", base / f"{assignment}.json"
    write_atomic(csv_path, buf.getvalue())
    held = {s: {e["id"]: e["review"] for e in held_exercises(r)} for s, r in records.items()}
    write_atomic(json_path, json.dumps({"assignment": assignment, "students": records,
                                        "held_for_review": {s: h for s, h in held.items() if h}},
                                       ensure_ascii=False, indent=1))
    return csv_path, json_path


def with_math(escaped: str, formulas: dict[str, str]) -> str:
    """An escaped message with each formula it shows as $LaTeX$ replaced by its MathML."""
    for latex, mathml in formulas.items():
        escaped = escaped.replace(html.escape(latex), f"<math display='inline'>{mathml}</math>")
    return escaped


def shared_notes(exercises: list[tuple[bool, list[str]]]) -> list[str]:
    """The notes on a whole run (CUDA cases ungraded here, the sandbox's mode), said once instead
    of under every exercise: the messages every exercise that ran code carries. ``exercises``:
    (whether it ran code, its messages) per exercise; a derivation is read, not run, and an
    exercise ungraded on this machine ran nothing, so neither carries those notes."""
    ran = [msgs for did_run, msgs in exercises if did_run] or [msgs for _, msgs in exercises]
    return [m for m in ran[0] if all(m in msgs for msgs in ran)] if ran else []


def teaching_order(messages: list[str], shared: list[str]) -> list[str]:
    """An exercise's messages for a student: the likely mistake first, then the failing cases;
    the notes said once for the whole notebook left out."""
    own = [m for m in messages if m not in shared]
    return [m for m in own if m.startswith("likely mistake")] + \
        [m for m in own if not m.startswith("likely mistake")]


def feedback_html(rec: dict, chapter) -> str:
    """One student's feedback: every exercise, and for each lost point the reasons (the likely
    mistake first). Only what is addressed to the student: no logs, no paths."""
    e = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(chapter.label)}: "
             f"{e(chapter.title)} — {e(rec['student'])}</title>",
             "<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto}"
             "td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}"
             ".pass{color:#176c2c}.fail{color:#a51d1d}.held{color:#8a5a00}li{margin:.2rem 0}"
             "</style>",
             f"<h1>{e(chapter.label)}: {e(chapter.title)}</h1>",
             f"<p>Student: <b>{e(rec['student'])}</b></p>"]
    if rec["failure"]:
        parts.append(f"<p class='fail'>Not graded: {e(rec['failure'].splitlines()[0])}</p>")
        return "\n".join(parts)
    total = sum(x["points"] for x in exercise_rows(rec))
    parts.append(f"<p>Score: <b>{total:g} / {chapter.max_points:g}</b></p>")
    parts += [f"<p class='held'>Note: {e(w)}</p>" for w in rec.get("warnings", ())]
    shared = shared_notes([(chapter.exercise(x["id"]).kind is not Kind.SYMBOLIC
                            and not x.get("ungraded"), x["messages"]) for x in exercise_rows(rec)])
    parts += [f"<p>Note: {e(m)}</p>" for m in shared]
    held = held_exercises(rec)
    if held:
        parts.append(f"<p class='held'>{len(held)} exercise(s) held for review by your instructor: "
                     "their points count once your instructor has looked at them.</p>")
    parts.append("<table><tr><th>exercise</th><th>points</th><th>why</th></tr>")
    for x in exercise_rows(rec):
        cls = "held" if x.get("review") else "pass" if x["passed"] else "fail"
        why = "".join(f"<li>{with_math(e(m), x.get('formulas', {}))}</li>"
                      for m in teaching_order(x["messages"], shared))
        held = ("<br>held for review by your instructor" if x.get("review") else "")
        parts.append(f"<tr><td><code>{e(x['name'])}</code></td><td class='{cls}'>"
                     f"{x['points']:g}/{x['max_points']:g}{held}</td><td><ul>{why}</ul></td></tr>")
    parts.append("</table>")
    return "\n".join(parts)


def write_feedback(course_dir: Path, assignment: str, chapter, records: dict) -> Path:
    folder = course_dir / "llmcourse" / "feedback" / assignment
    for student, rec in records.items():
        write_atomic(folder / f"{student}.html", feedback_html(rec, chapter))
    return folder
