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
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder.grade import NotebookResult, grade_submission, plan_for
from autograder.sandbox import detect
from autograder.submission import SubmissionError, extract, read_notebook

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


def reusable(saved: dict | None, fingerprint: str, digests: dict) -> bool:
    return (saved is not None and saved.get("failure") is None
            and saved.get("fingerprint") == fingerprint and saved.get("digests") == digests)


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


def grade_folder(student: str, folder: Path | None, assignment: str, chapter, notebooks: list,
                 *, plan, sandbox, slot: int, seed: int, budget_s: float | None) -> dict:
    """One student's notebooks, graded out of process; a JSON-able result record."""
    t0 = time.perf_counter()
    record = {"version": RESULT_VERSION, "student": student, "assignment": assignment,
              "notebooks": {}, "failure": None}
    if folder is None:
        record["failure"] = f"no folder submitted/{student}/{assignment}"
        return record
    for nb_id in notebooks:
        path = folder / f"{nb_id}.ipynb"
        try:
            if not path.exists():
                raise SubmissionError(f"{path.name} was not submitted")
            sub = extract(read_notebook(path), chapter, str(path))
            results = grade_submission(sub, seed=seed, sandbox=sandbox, slot=slot, plan=plan,
                                       budget_s=budget_s)
            record["notebooks"][nb_id] = NotebookResult(str(path), chapter.id, results).as_json()
        except SubmissionError as e:
            record["failure"] = str(e).replace(str(folder) + os.sep, "")
            break
        except Exception as e:  # noqa: BLE001 - a crash of the grader must not stop the others
            record["failure"] = f"{path.name}: grading failed ({type(e).__name__}: {e})"
            break
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def grade_all(course_dir: Path, assignment: str, chapter, folders: dict, notebooks: list, *,
              jobs: int = 1, regrade: bool = False, seed: int = 0, budget_s: float | None = None,
              sandbox=None, log=print) -> dict:
    """Grade (or reuse) every student's result; returns student -> result record."""
    sandbox = sandbox or detect("auto")
    fingerprint = grader_fingerprint(seed)
    store = results_dir(course_dir, assignment)
    records, todo = {}, []
    for student, folder in folders.items():
        digests = ({nb: file_digest(folder / f"{nb}.ipynb") for nb in notebooks}
                   if folder is not None else {})
        saved = load_result(store / f"{student}.json")
        if not regrade and reusable(saved, fingerprint, digests):
            records[student] = saved | {"reused": True}
        else:
            todo.append((student, folder, digests))
    if records:
        log(f"reusing {len(records)} result(s) from an earlier run with the same grader and "
            f"notebooks ({store.relative_to(course_dir)}); --regrade to grade them again")
    if sandbox.note:
        log(f"note: {sandbox.note}")
    if not todo:
        return records
    plan = plan_for(chapter, seed=seed)  # the same cases for everyone: computed once
    slots = Slots(jobs)
    progress = Progress(len(todo), log)

    def one(student, folder, digests):
        slot = slots.take()
        try:
            rec = grade_folder(student, folder, assignment, chapter, notebooks, plan=plan,
                               sandbox=sandbox, slot=slot, seed=seed, budget_s=budget_s)
        finally:
            slots.give(slot)
        rec |= {"fingerprint": fingerprint, "digests": digests, "graded_at": time.time()}
        write_atomic(store / f"{student}.json", json.dumps(rec, ensure_ascii=False, indent=1))
        return student, rec

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, *t) for t in todo]
        for fut in as_completed(futures):
            student, rec = fut.result()
            records[student] = rec
            progress.step(student, rec)
    return records


class Progress:
    """A progress bar on a terminal, one line per submission otherwise."""

    def __init__(self, total: int, log):
        self.total, self.done, self.log, self.t0 = total, 0, log, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def step(self, student: str, rec: dict) -> None:
        self.done += 1
        total = sum(n["total"] for n in rec["notebooks"].values())
        top = sum(n["max_total"] for n in rec["notebooks"].values())
        state = f"NOT GRADED ({rec['failure'].splitlines()[0]})" if rec["failure"] else \
            f"{total:g}/{top:g}"
        width = 24
        bar = "#" * round(width * self.done / self.total)
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9) * 60
        line = (f"[{bar:<{width}}] {self.done}/{self.total}  {rate:.1f}/min  "
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


def feedback_html(rec: dict, chapter) -> str:
    """One student's feedback: every exercise, and for each lost point the reasons."""
    e = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(chapter.title)} — "
             f"{e(rec['student'])}</title>",
             "<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto}"
             "td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}"
             ".pass{color:#176c2c}.fail{color:#a51d1d}.held{color:#8a5a00}li{margin:.2rem 0}"
             "</style>",
             f"<h1>{e(chapter.label)}: {e(chapter.title)}</h1>",
             f"<p>Student: <b>{e(rec['student'])}</b></p>"]
    if rec["failure"]:
        parts.append(f"<p class='fail'>Not graded: {e(rec['failure'])}</p>")
        return "\n".join(parts)
    total = sum(x["points"] for x in exercise_rows(rec))
    parts.append(f"<p>Score: <b>{total:g} / {chapter.max_points:g}</b></p>")
    held = held_exercises(rec)
    if held:
        parts.append(f"<p class='held'>{len(held)} exercise(s) held for review by your instructor: "
                     "their points count once your instructor has looked at them.</p>")
    parts.append("<table><tr><th>exercise</th><th>points</th><th>why</th></tr>")
    for x in exercise_rows(rec):
        cls = "held" if x.get("review") else "pass" if x["passed"] else "fail"
        why = "".join(f"<li>{with_math(e(m), x.get('formulas', {}))}</li>"
                      for m in x["messages"])
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
