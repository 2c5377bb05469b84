"""What grading costs, per chapter, as ratios against a baseline measured in the same run.

Baseline: the reference alone on every CPU case of the chapter (``plan_for``: the float64 truth
and the same-dtype run). Measured: (1) in-process grading of the reference (forbidden-call
monitor, stand-ins, judge), (2) ``llmcourse check`` of the solution notebook, out of process
(plan, worker start-up, answer cells, wire transfer, judge), (3) the same with the plan read from
the plan cache, as a second ``check`` does, and (4) the worker's start-up: ``check`` of the
untouched student notebook with the cached plan (start the worker, fork one process per exercise,
load the cells; every case raises at once). Torch runs on one thread, as in the worker.

    python bench/grading_overhead.py [--repeat N] [--chapters ch04 ch05] [--against REV]

``--against REV`` measures the same chapters on a checkout of REV too (a temporary git worktree,
run by this same script in a subprocess, alternating with this tree), and prints both tables.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _time(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def measure(chapter_ids: list[str], repeat: int) -> dict:
    """{chapter: {"cases", "baseline", "in_process", "check"}} in seconds, for the code importable
    here (this tree, or the worktree the parent put first on sys.path)."""
    import torch

    from autograder.build import output_paths
    from autograder.chapters import get_chapter
    from autograder.grade import grade_notebook, plan_for
    from autograder.inprocess import grade_object

    torch.set_num_threads(1)
    out = {}
    cached_plan = None
    if "make_plan" in inspect.signature(grade_notebook).parameters:  # else: before the plan cache
        from autograder.plancache import cached_plan
    for cid in chapter_ids:
        chapter = get_chapter(cid)
        student, solution = output_paths(chapter)
        plan_for(chapter, devices=("cpu",))  # warm-up (first calls of each op)
        plan = plan_for(chapter, devices=("cpu",))
        out[cid] = {
            "cases": sum(len(p) for _, p in plan),
            "baseline": _time(lambda: plan_for(chapter, devices=("cpu",)), repeat),
            "in_process": _time(lambda: [grade_object(ex.reference, ex, p) for ex, p in plan],
                                repeat),
            "check": _time(lambda: grade_notebook(str(solution), cid, devices=("cpu",)), repeat),
        }
        if cached_plan is not None:
            cached = lambda c: cached_plan(c, devices=("cpu",))  # noqa: E731
            cached(chapter)  # stored once; read back by every timed run below
            out[cid]["check_cached"] = _time(lambda: grade_notebook(
                str(solution), cid, devices=("cpu",), make_plan=cached), repeat)
            out[cid]["startup"] = _time(lambda: grade_notebook(
                str(student), cid, devices=("cpu",), make_plan=cached), repeat)
    return out


def table(title: str, results: dict) -> str:
    lines = [title, f"{'chapter':<8}{'cases':>6}{'reference s':>13}{'in-process s':>14}"
                    f"{'×ref':>6}{'check s':>9}{'cached check s':>16}{'start-up s':>12}"
                    f"{'cached − in-process − start-up':>32}"]
    for cid, r in results.items():
        cached = r.get("check_cached")
        extra = (f"{cached:>16.2f}{r['startup']:>12.2f}"
                 f"{cached - r['in_process'] - r['startup']:>32.2f}") if cached is not None else ""
        lines.append(f"{cid:<8}{r['cases']:>6}{r['baseline']:>13.2f}{r['in_process']:>14.2f}"
                     f"{r['in_process'] / r['baseline']:>6.2f}{r['check']:>9.2f}{extra}")
    return "\n".join(lines)


def _run_in(tree: Path, chapter_ids: list[str], repeat: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONSAFEPATH="1")
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--json", "--repeat",
                           str(repeat), "--chapters", *chapter_ids], cwd=tree, env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chapters", nargs="*")
    parser.add_argument("--against", help="a git revision to measure in the same run")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:  # a child run: measure, print one JSON line
        import autograder

        here = Path(autograder.__file__).resolve().parent.parent
        assert here == Path.cwd().resolve(), f"measuring {here}, not {Path.cwd()}"
        print(json.dumps(measure(args.chapters, args.repeat)))
        return
    from autograder.chapters import chapter_ids

    chapters = args.chapters or chapter_ids()
    # the plan cache of this run (children inherit it), never the user's
    cache = tempfile.TemporaryDirectory(prefix="llmcourse-bench-cache-")
    os.environ.setdefault("LLMCOURSE_CACHE", cache.name)
    if not args.against:
        print(table(f"this tree, median of {args.repeat}", measure(chapters, args.repeat)))
        return
    with tempfile.TemporaryDirectory(prefix="llmcourse-bench-") as tmp:
        old = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.against], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            before, after = {}, {}
            for cid in chapters:  # alternate, so a busy neighbour weighs on both alike
                before |= _run_in(old, [cid], args.repeat)
                after |= _run_in(ROOT, [cid], args.repeat)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT,
                           check=False, capture_output=True)
    print(table(f"before: {args.against}, median of {args.repeat}", before))
    print()
    print(table(f"after: this tree, median of {args.repeat}", after))


if __name__ == "__main__":
    main()
