"""Class-scale grading throughput, and what the sandbox costs (ratios within one run).

Grades N copies of a mixed batch — correct (the solution), wrong (a catalogued mistake) and
hostile (os._exit, a forbidden call, an output flood, a stray daemon) — with `batch.grade_all`
at 1 and 2 parallel workers, in the strict sandbox and in a plain subprocess, and prints
submissions/minute and the strict/plain time ratio.

With ``--baseline REV`` it measures instead what the grading design costs against another
revision of the grader (e.g. the commit before a change), in the same run: a class of honest
submissions (every chapter's solution) graded one after the other in the strict sandbox by this
checkout and by a ``git worktree`` of REV, alternately, ``--rounds`` times; it prints the seconds
of each and the ratio of the medians.

With ``--cluster local`` it measures class grading on Dask instead (autograder/cluster.py): the
same class graded in local threads and on a LocalCluster with the same number of worker
processes, alternately, and the throughput per worker core, with what 1,000 submissions of the
chapter cost in CPU-hours.

Run: python bench/batch_throughput.py [--copies N]
     python bench/batch_throughput.py --baseline c949d20 [--rounds 3]
     python bench/batch_throughput.py --cluster local [--workers 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import batch
from autograder.build import output_paths
from autograder.chapters import get_chapter
from autograder.examples import answer_source, fill_answers, solution_answers
from autograder.sandbox import detect

ASSIGNMENT = "ch04_attention"
HOSTILE = {
    "ch04.softmax_jacobian": "import os\ndef softmax_jacobian(p):\n    os._exit(0)\n",
    "ch04.layer_norm": ("def layer_norm(x, weight, bias, eps=1e-5):\n"
                        "    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)\n"),
    "ch04.rms_norm": "def rms_norm(x, weight, eps=1e-6):\n    print('x' * (2 << 20))\n    return x\n",
    "ch04.kernel_smoother": ("import os, time\ndef kernel_smoother(queries, keys, values, bandwidth):\n"
                             "    if os.fork() == 0:\n        time.sleep(60)\n        os._exit(0)\n"
                             "    return values\n"),
}


def make_course(root: Path, copies: int) -> dict:
    chapter = get_chapter("ch04")
    release = nbformat.read(output_paths(chapter)[0], as_version=4)
    solution = solution_answers(chapter)
    ln = chapter.exercise("ch04.layer_norm")
    kinds = {"correct": solution,
             "wrong": solution | {ln.id: answer_source(ln.mistakes[0].impl, ln.name)},
             "hostile": solution | HOSTILE}
    for k in range(copies):
        for kind, answers in kinds.items():
            dest = root / "submitted" / f"{kind}{k}" / ASSIGNMENT
            dest.mkdir(parents=True)
            nbformat.write(fill_answers(release, chapter, answers), dest / f"{ASSIGNMENT}.ipynb")
    return {p.parent.name: p for p in sorted((root / "submitted").glob(f"*/{ASSIGNMENT}"))}


REPO = Path(__file__).resolve().parent.parent
# Runs inside the grader being measured (PYTHONPATH selects the tree): APIs both designs share.
HONEST_CLASS = """
import json, sys, time, torch
torch.set_num_threads(1)
from autograder.grade import grade_notebook
from autograder.sandbox import detect
sandbox, paths = detect("strict"), json.loads(sys.argv[1])
t = time.perf_counter()
scores = [grade_notebook(p, sandbox=sandbox).total for p in paths]
print(json.dumps({"seconds": time.perf_counter() - t, "scores": scores}))
"""


def compare_designs(baseline: str, rounds: int) -> None:
    """This checkout against ``baseline`` on every chapter's solution, alternately."""
    from autograder.chapters import all_chapters

    paths = [str(output_paths(ch)[1]) for ch in all_chapters().values()]
    tmp = Path(tempfile.mkdtemp(prefix="llmcourse-baseline-"))
    trees = {"baseline": tmp / "tree", "this checkout": REPO}
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(trees["baseline"]),
                    baseline], check=True, capture_output=True)
    try:
        seconds: dict = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                env = dict(os.environ, PYTHONPATH=str(tree))
                out = subprocess.run([sys.executable, "-c", HONEST_CLASS, json.dumps(paths)],
                                     env=env, cwd=tree, capture_output=True, text=True, check=True)
                run = json.loads(out.stdout.strip().splitlines()[-1])
                seconds[name].append(run["seconds"])
                print(f"{name:<14} {run['seconds']:7.1f} s  scores {run['scores']}", flush=True)
        base, ours = (statistics.median(seconds[n]) for n in trees)
        print(f"{len(paths)} honest submissions (one solution per chapter), strict sandbox, "
              f"1 worker, {rounds} rounds")
        print(f"median: baseline {baseline} {base:.1f} s, this checkout {ours:.1f} s, "
              f"ratio {ours / base:.2f}")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                        str(trees["baseline"])], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def compare_cluster(spec: str, workers: int, copies: int, rounds: int) -> None:
    """Local threads against Dask workers on one class, alternately (same sandbox, same jobs)."""
    from autograder import cluster

    chapter = get_chapter("ch04")
    root = Path(tempfile.mkdtemp(prefix="llmcourse-bench-"))
    client = cluster.connect(spec, workers)
    try:
        folders = make_course(root, copies)
        n = len(folders)
        seconds: dict = {"local threads": [], f"dask {spec}": []}
        for _ in range(rounds):
            for name in seconds:
                t = time.perf_counter()
                remote = cluster.remote_grader(client) if name.startswith("dask") else None
                records = batch.grade_all(root, ASSIGNMENT, chapter, folders, [ASSIGNMENT],
                                          jobs=workers, regrade=True, log=lambda *a: None,
                                          remote=remote)
                seconds[name].append(time.perf_counter() - t)
                assert all(r["failure"] is None for r in records.values()), records
        print(f"{n} submissions ({copies} × correct, wrong, hostile), chapter ch04, "
              f"{workers} workers, {rounds} rounds, {os.cpu_count()} cores")
        for name, ts in seconds.items():
            med = statistics.median(ts)
            per_core = n / med * 60 / workers
            cpu_h = 1000 * med * workers / n / 3600
            print(f"{name:<16} median {med:6.1f} s  {n / med * 60:6.1f} subs/min  "
                  f"{per_core:5.1f} subs/min per worker core  "
                  f"{cpu_h:4.2f} core-hours per 1,000 submissions")
    finally:
        client.close()
        if getattr(client, "cluster", None) is not None:
            client.cluster.close()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--baseline", help="a git revision of the grader to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cluster", help="local, or a Dask scheduler address")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.baseline:
        compare_designs(args.baseline, args.rounds)
        return
    if args.cluster:
        compare_cluster(args.cluster, args.workers, args.copies, args.rounds)
        return
    chapter = get_chapter("ch04")
    modes = {"plain": detect("plain")}
    strict = detect("auto")
    if strict.mode == "strict":
        modes["strict"] = strict
    else:
        print(f"strict sandbox unavailable here ({strict.reason}); measuring plain only")
    root = Path(tempfile.mkdtemp(prefix="llmcourse-bench-"))
    try:
        folders = make_course(root, args.copies)
        n = len(folders)
        times = {}
        for name, sandbox in modes.items():
            for jobs in (1, 2):
                t = time.perf_counter()
                records = batch.grade_all(root, ASSIGNMENT, chapter, folders, [ASSIGNMENT],
                                          jobs=jobs, regrade=True, sandbox=sandbox,
                                          log=lambda *a: None)
                times[name, jobs] = time.perf_counter() - t
                assert all(r["failure"] is None for r in records.values())
        print(f"{n} submissions ({args.copies} × correct, wrong, hostile), chapter ch04")
        print(f"{'sandbox':<8}{'workers':>8}{'seconds':>10}{'subs/min':>10}")
        for (name, jobs), t in times.items():
            print(f"{name:<8}{jobs:>8}{t:>10.1f}{n / t * 60:>10.1f}")
        if "strict" in modes:
            for jobs in (1, 2):
                print(f"strict/plain time ratio at {jobs} worker(s): "
                      f"{times['strict', jobs] / times['plain', jobs]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
