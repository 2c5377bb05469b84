"""Class-scale grading throughput, and what the sandbox costs (ratios within one run).

Grades N copies of a mixed batch — correct (the solution), wrong (a catalogued mistake) and
hostile (os._exit, a forbidden call, an output flood, a stray daemon) — with `batch.grade_all`
at 1 and 2 parallel workers, in the strict sandbox and in a plain subprocess, and prints
submissions/minute and the strict/plain time ratio.

Run: python bench/batch_throughput.py [--copies N]
"""

from __future__ import annotations

import argparse
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=2)
    args = parser.parse_args()
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
