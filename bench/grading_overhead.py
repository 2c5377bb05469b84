"""What grading one notebook costs, as ratios against a baseline measured in the same run.

Baseline: the reference alone on every case of the chapter (float64 truth + same-dtype run).
Measured: (1) in-process grading of the reference (monitor + judge), (2) out-of-process grading
of the solution notebook (worker start, answer cells, wire transfer), (3) the same for the
untouched student notebook. Run: python bench/grading_overhead.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from autograder.build import output_paths
from autograder.chapters import get_chapter
from autograder.grade import grade_notebook, plan_for
from autograder.inprocess import grade_object


def _time(fn, repeat):
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chapter = get_chapter("ch04")
    student, solution = output_paths(chapter)
    plan_for(chapter, devices=("cpu",))  # warm-up (first calls of each op)

    baseline = _time(lambda: plan_for(chapter, devices=("cpu",)), args.repeat)
    plan = plan_for(chapter, devices=("cpu",))
    n_cases = sum(len(p) for _, p in plan)
    in_process = _time(lambda: [grade_object(ex.reference, ex, p) for ex, p in plan], args.repeat)
    out_solution = _time(lambda: grade_notebook(str(solution), "ch04", devices=("cpu",)), args.repeat)
    out_student = _time(lambda: grade_notebook(str(student), "ch04", devices=("cpu",)), args.repeat)

    print(f"chapter ch04: {len(plan)} exercises, {n_cases} cases (CPU), median of {args.repeat}")
    print(f"{'measure':<44}{'seconds':>9}{'× baseline':>12}")
    for name, t in [("baseline: reference on all cases", baseline),
                    ("in-process grading of the reference", in_process),
                    ("llmcourse check, solution notebook", out_solution),
                    ("llmcourse check, untouched student notebook", out_student)]:
        print(f"{name:<44}{t:>9.2f}{t / baseline:>12.1f}")


if __name__ == "__main__":
    main()
