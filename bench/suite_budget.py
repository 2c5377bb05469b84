"""What each chapter costs the test suite, against the per-chapter budget (README, "Tests": 25 s
of wall time per chapter on 2 cores, i.e. 50 test-seconds with two pytest workers).

A test belongs to a chapter when its id names one (``ch07``: its catalog, its release gate, its
checks) or its file is that chapter's (``FILE_OWNERS``); the rest is shared (harness, instructor
paths, reference). Reads the ``--durations=0``
report of a run (setup + call + teardown of every test), or runs the suite to make one:

    python bench/suite_budget.py                        # runs: pytest -n 2 --dist worksteal --durations=0
    python bench/suite_budget.py --report durations.txt # a report saved from such a run
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_TEST_SECONDS = 50.0  # 25 s of wall time on 2 cores, per chapter
LINE = re.compile(r"([\d.]+)s (setup|call|teardown)\s+(\S+)")
CHAPTER = re.compile(r"\b(ch\d\d|app[A-Z])\b|(ch\d\d|app[A-Z])[._\-\]]")  # ch07, appA
FILE_OWNERS = {"tests/chapters/test_triton.py": "ch07",  # Chapter 7's Triton kernels
               "tests/chapters/test_mistakes_end_to_end.py": "ch04"}  # ch04's mistakes, out of process


def parse(report: str) -> dict[str, collections.Counter]:
    """{owner: {test file: seconds}}, owner a chapter id or "shared"."""
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in report.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        seconds, nodeid = float(m.group(1)), m.group(3)
        path = nodeid.split("::")[0]
        found = CHAPTER.search(nodeid)
        owner = FILE_OWNERS.get(path) or (
            found.group(1) or found.group(2) if found else "shared")
        out[owner][path] += seconds
    return out


def table(by: dict[str, collections.Counter]) -> str:
    lines = [f"{'owner':<8}{'test-s':>8}{'wall s on 2 cores':>19}  budget  largest files"]
    for owner in sorted(by, key=lambda o: (o == "shared", o)):
        total = sum(by[owner].values())
        verdict = "" if owner == "shared" else ("ok" if total <= BUDGET_TEST_SECONDS else "OVER")
        top = ", ".join(f"{Path(f).name} {s:.0f}" for f, s in by[owner].most_common(3))
        lines.append(f"{owner:<8}{total:>8.1f}{total / 2:>19.1f}  {verdict:<6}  {top}")
    total = sum(sum(c.values()) for c in by.values())
    lines.append(f"{'all':<8}{total:>8.1f}{total / 2:>19.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", help="a saved pytest --durations=0 report")
    parser.add_argument("--save", help="write the report of the run to this file")
    args = parser.parse_args()
    if args.report:
        report = Path(args.report).read_text()
    else:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "worksteal", "-q",
                               "-p", "no:cacheprovider", "--durations=0"], cwd=ROOT,
                              capture_output=True, text=True)
        report = proc.stdout
        if args.save:
            Path(args.save).write_text(report)
        lines = report.strip().splitlines()
        print("\n".join(line for line in lines if line.startswith(("FAILED", "ERROR"))))
        print(lines[-1])
    print(table(parse(report)))


if __name__ == "__main__":
    main()
