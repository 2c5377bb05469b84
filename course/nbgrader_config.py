"""nbgrader configuration of the course (copied into every nbgrader course directory we create).

Each setting answers a trap measured with nbgrader 0.9.6 (see docs/NBGRADER.md).
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

# The kernels nbgrader starts inherit this process's environment: one intra-op thread each, unless
# the instructor chose otherwise. The notebooks' tensors are small, and when the machine is busy
# (a neighbour, a parallel batch) torch's default of one OpenMP thread per core makes every small
# operation wait for a descheduled thread: a Chapter 4 notebook took 21.0 s to autograde on a busy
# 2-core machine with the default, 8.6 s with one thread (7.9 s against 8.8 s on an idle one).
os.environ.setdefault("OMP_NUM_THREADS", "1")

c.CourseDirectory.course_id = "llmcourse"
c.CourseDirectory.root = "."
# Release/collect through a folder of the course, not /usr/local/share/nbgrader/exchange.
# Relative to where nbgrader runs: on a shared JupyterHub set an absolute path readable by all.
c.Exchange.root = "exchange"

# The stub nbgrader puts where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A hidden test runs every case of an exercise (a few seconds); Execute.timeout is per cell.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
# Minimal tracebacks so feedback never quotes hidden test code; no history file.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--InteractiveShell.xmode=Minimal"]
# Once every cell has run and its outputs are in, the kernel is ended at once: a graceful shutdown
# of a kernel with torch loaded cost ~1.2 s per notebook (measured), for nothing.
c.Execute.shutdown_kernel = "immediate"

# Any stderr in a test cell would score it 0 (a harmless torch UserWarning included).
# Verdicts are raised as exceptions, so stderr carries no grading information: drop it.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# A test cell the student deleted is restored from the gradebook instead of silently missing.
c.OverwriteCells.add_missing_cells = True

# Feedback must not show hidden tests.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
