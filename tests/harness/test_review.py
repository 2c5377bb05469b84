"""Static review of answer cells (autograder/review.py): every rule flags its construct, aliases
are followed, what cannot run is not reviewed, and no honest code in the course is flagged."""

from __future__ import annotations

import pytest
from alternatives import ALTERNATIVES

from autograder import review
from autograder.chapters import all_chapters, get_chapter
from autograder.examples import answer_source, solution_answers
from autograder.review import RULES, Finding, review_cells, review_source, review_submission
from autograder.submission import Submission

CHAPTERS = all_chapters()
EXERCISES = [ex for ch in CHAPTERS.values() for ex in ch.exercises]

# (id, cell source, rule, line flagged by that rule)
FLAGGED = [
    ("threading", "import threading\nthreading.Thread(target=f).start()", "thread", 2),
    ("threading-from", "from threading import Thread", "thread", 1),
    ("_thread", "import _thread\n_thread.start_new_thread(f, ())", "thread", 2),
    ("thread-pool", "from concurrent.futures import ThreadPoolExecutor", "thread", 1),
    ("multiprocessing", "import multiprocessing as mp\np = mp.Process(target=f)", "process", 2),
    ("torch-multiprocessing", "import torch.multiprocessing", "process", 1),
    ("subprocess", "import subprocess\nsubprocess.run(['ls'])", "process", 2),
    ("os.fork", "import os\npid = os.fork()", "process", 2),
    ("os.forkpty", "import os\nos.forkpty()", "process", 2),
    ("os.spawnv", "import os\nos.spawnv(os.P_WAIT, '/bin/true', [])", "process", 2),
    ("os.system", "import os\nos.system('true')", "process", 2),
    ("os.popen", "import os\nos.popen('true')", "process", 2),
    ("os.execv", "import os\nos.execv('/bin/true', [])", "process", 2),
    ("os.posix_spawn", "import os\nos.posix_spawn('/bin/true', [], {})", "process", 2),
    ("from-os-import-fork", "from os import fork\nfork()", "process", 1),
    ("dataloader-workers", "loader = torch.utils.data.DataLoader(ds, num_workers=2)", "process", 1),
    ("signal", "import signal\nsignal.signal(signal.SIGALRM, h)", "signal", 2),
    ("os.kill", "import os\nos.kill(os.getppid(), 9)", "signal", 2),
    ("ctypes", "import ctypes\nctypes.memmove(a, b, 8)", "native_code", 2),
    ("cffi", "from cffi import FFI", "native_code", 1),
    ("sys.modules", "import sys\ngrader = sys.modules['__main__']", "sys_modules", 2),
    ("sys.argv", "import sys\njob = sys.argv[1]", "sys_argv", 2),
    ("sys._getframe", "import sys\nf = sys._getframe(1)", "frames", 2),
    ("inspect.currentframe", "import inspect\nf = inspect.currentframe()", "frames", 2),
    ("inspect.stack", "import inspect\nfor fr in inspect.stack():\n    pass", "frames", 2),
    ("f_back", "def f(frame):\n    return frame.f_back", "frames", 2),
    ("f_globals", "g = frame.f_globals", "frames", 1),
    ("f_locals", "g = frame.f_locals", "frames", 1),
    ("gi_frame", "g = gen.gi_frame", "frames", 1),
    ("tb_frame", "try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame",
     "frames", 4),
    ("sys.settrace", "import sys\nsys.settrace(tracer)", "tracing", 2),
    ("sys.setprofile", "import sys\nsys.setprofile(tracer)", "tracing", 2),
    ("gc", "import gc\nobjs = gc.get_objects()", "gc", 2),
    ("import-__main__", "import __main__", "main_module", 1),
    ("__main__-string", "m = sys.modules.get('__main__')", "main_module", 1),
    ("exec", "exec('x = 1')", "dynamic_code", 1),
    ("eval", "y = eval('1 + 1')", "dynamic_code", 1),
    ("compile", "code = compile('x', 'f', 'eval')", "dynamic_code", 1),
    ("__import__", "os = __import__('os')", "dynamic_code", 1),
    ("globals-subscript", "globals()['softmax'] = f", "namespace", 1),
    ("globals-update", "globals().update(names)", "namespace", 1),
    ("locals-taken", "ns = locals()", "namespace", 1),
    ("getattr-computed", "f = getattr(torch, 'soft' + 'max')", "dynamic_attribute", 1),
    ("setattr-variable", "setattr(obj, name, value)", "dynamic_attribute", 1),
    ("delattr-variable", "delattr(obj, name)", "dynamic_attribute", 1),
    ("loop-name-rebound", "n = input()\nfor n in ('a', 'b'):\n    getattr(x, n)",
     "dynamic_attribute", 3),
    ("getattr-constant-fork", "import os\ngetattr(os, 'fork')()", "process", 2),
    ("importlib", "import importlib\nm = importlib.import_module('x')", "import_machinery", 2),
    ("torch._C", "torch._C._set_grad_enabled(False)", "torch_internals", 1),
    ("torch.ops", "y = torch.ops.aten.softmax(x, -1, False)", "torch_internals", 1),
    ("python_dispatch", "from torch.utils._python_dispatch import TorchDispatchMode",
     "torch_internals", 1),
    ("torch.overrides", "from torch.overrides import TorchFunctionMode", "torch_internals", 1),
    ("__torch_function__", "class T(torch.Tensor):\n    def __torch_function__(cls, *a):\n"
                           "        pass", "torch_internals", 2),
    ("record_function-autograd", "with torch.autograd.profiler.record_function('x'):\n    pass",
     "profiler", 1),
    ("record_function-profiler", "with torch.profiler.record_function('x'):\n    pass",
     "profiler", 1),
    ("record_function-from", "from torch.profiler import record_function as rf\nwith rf('x'):\n"
                             "    pass", "profiler", 2),
    ("builtins", "import builtins\nbuiltins.print = p", "builtins", 2),
    ("__builtins__", "__builtins__['open'] = o", "builtins", 1),
    ("wire", "import wire", "grader_code", 1),
    # the grading library sits beside the worker: replacing a driver would skip its budgets
    ("gradelib", "import gradelib\ngradelib.DRIVERS['drive_flash_forward'] = None", "grader_code", 1),
    ("nospawn", "from nospawn import forbid_new_tasks", "grader_code", 1),
    ("worker", "from autograder import worker", "grader_code", 1),
    ("autograder", "import autograder.kernel as k\nk.hidden_check = None", "grader_code", 1),
    ("/job", "data = open('/job/job.json').read()", "grader_path", 1),
    ("/proc", "status = open('/proc/self/status').read()", "grader_path", 1),
    ("/dev/fd", "out = open('/dev/fd/3', 'wb')", "grader_path", 1),
    ("/scratch", "files = os.listdir('/scratch')", "grader_path", 1),
    ("os.write", "import os\nos.write(3, b'x')", "raw_fd", 2),
    ("os.dup", "import os\nfd = os.dup(3)", "raw_fd", 2),
    ("os.dup2", "import os\nos.dup2(5, 3)", "raw_fd", 2),
    ("os.fdopen", "import os\nf = os.fdopen(3, 'wb')", "raw_fd", 2),
    ("os.open", "import os\nfd = os.open('x', os.O_WRONLY)", "raw_fd", 2),
    ("open-int", "f = open(3, 'wb')", "raw_fd", 1),
    ("open-fileno", "f = open(sys.stdout.fileno(), 'wb')", "raw_fd", 1),
    ("__subclasses__", "classes = object.__subclasses__()", "introspection", 1),
    ("__globals__", "g = f.__globals__", "introspection", 1),
    ("__code__", "f.__code__ = g.__code__", "introspection", 1),
    ("__closure__", "cells = f.__closure__", "introspection", 1),
    ("getattr-constant-dunder", "g = getattr(f, '__globals__')", "introspection", 1),
    ("monkeypatch", "torch.softmax = my_softmax", "monkeypatch", 1),
    ("monkeypatch-setattr", "setattr(F, 'gelu', my_gelu)", "monkeypatch", 1),
]

NOT_FLAGGED = [
    ("main-idiom", "if __name__ == '__main__':\n    main()"),
    ("globals-membership", "if 'cache' not in globals():\n    cache = {}"),
    ("getattr-constant", "w = getattr(self, 'weight', None)"),
    ("getattr-literal-loop", "for n in ('q_proj', 'k_proj'):\n"
                             "    setattr(self, n, nn.Linear(4, 4))\n"
                             "qs = [getattr(self, n) for n in ('q_proj', 'k_proj')]"),
    ("getattr-torch-dtype", "dt = getattr(torch, config.dtype)"),
    ("vars-of-object", "state = vars(self)"),
    ("torch.compile", "fast = torch.compile(f)"),
    ("method-named-eval", "model.eval()"),
    ("re.compile", "import re\npattern = re.compile('[a-z]+')"),
    ("parameter-named-signal", "def energy(signal):\n    return signal.pow(2).sum()"),
    ("os.path", "import os\np = os.path.join('a', 'b')"),
    ("dataloader-no-workers", "loader = torch.utils.data.DataLoader(ds, num_workers=0)"),
    ("plain-open", "text = open('data.txt').read()"),
    ("path-like-job", "path = 'runs/jobs/1'"),
    ("own-attribute", "self.scale = 1.0\nmodule.weight = w"),
    ("dataclass-frozen-set", "object.__setattr__(self, 'x', 1)"),
]


def test_every_rule_has_a_case_here():
    assert {rule for _, _, rule, _ in FLAGGED} == {r.id for r in RULES}


@pytest.mark.parametrize("source,rule,line", [c[1:] for c in FLAGGED], ids=[c[0] for c in FLAGGED])
def test_construct_is_flagged(source, rule, line):
    findings = review_source(source)
    assert (rule, line) in [(f.rule, f.line) for f in findings], findings
    f = next(f for f in findings if (f.rule, f.line) == (rule, line))
    assert f.text == source.splitlines()[line - 1].strip()
    assert f.why == next(r.why for r in RULES if r.id == rule)


@pytest.mark.parametrize("source", [c[1] for c in NOT_FLAGGED], ids=[c[0] for c in NOT_FLAGGED])
def test_honest_construct_is_not_flagged(source):
    assert review_source(source) == []


@pytest.mark.parametrize("source,lines", [
    ("import threading as t\nx = t.Thread(target=f)", [1, 2]),
    ("from threading import Thread as T\nT(target=f)", [1, 2]),
    ("import os as o\nt = o\nt.fork()", [3]),
    ("import concurrent.futures as cf\ncf.ThreadPoolExecutor(2)", [1, 2]),
], ids=["import-as", "from-import-as", "assigned-alias", "dotted-import-as"])
def test_aliases_are_followed(source, lines):
    flagged = [f.line for f in review_source(source) if f.rule in ("thread", "process")]
    assert flagged == lines


def test_aliases_carry_across_cells():
    """A function in one cell may use a module a later cell imports: both run in one namespace."""
    first, second = review_cells(["def f():\n    return o.fork()", "import os as o"])
    assert [(f.rule, f.line) for f in first] == [("process", 2)]
    assert second == []


def test_a_cell_that_does_not_parse_has_no_findings():
    assert review_source("import threading\ndef f(:\n") == []


def test_magic_lines_are_not_reviewed_and_lines_keep_their_numbers():
    assert review_source("%timeit f()\n!cat /proc/self/status\nx = 1") == []
    [f] = review_source("%time x = 1\nimport gc")
    assert (f.rule, f.line, f.text) == ("gc", 2, "import gc")


def test_a_cell_too_deep_to_parse_here_is_held(monkeypatch):
    def too_deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(review.ast, "parse", too_deep)
    [f] = review_source("x = 1")
    assert f.rule == "unreviewable" and "instructor" in f.why


def test_describe_names_the_line_and_teaches():
    [f] = review_source("import torch\nt = threading.Thread(target=f)")
    assert f == Finding(rule="thread", line=2, text="t = threading.Thread(target=f)",
                        why=f.why)
    assert f.describe() == (f"line 2: `t = threading.Thread(target=f)` — starts a thread: code "
                            "graded by llmcourse must run in the calling thread, where the grader "
                            "watches it")


def test_shown_text_is_safe_and_short():
    [f] = review_source("import gc  # \x1b[31m" + "x" * 500)
    assert "\x1b" not in f.text and len(f.text) <= review.MAX_TEXT + 2


def test_review_submission_gives_findings_per_exercise():
    ch = get_chapter("ch04")
    a, b = ch.exercises[0].id, ch.exercises[1].id
    sub = Submission(path="x.ipynb", chapter=ch,
                     cells=[{"id": "c0", "source": "def softmax(x):\n    return x"},
                            {"id": "c1", "source": "import threading\n"}],
                     exercise_cells={a: [0], b: [1], ch.exercises[2].id: []})
    found = review_submission(sub)
    assert found[a] == [] and found[ch.exercises[2].id] == []
    assert [(f.rule, f.line) for f in found[b]] == [("thread", 1)]


def test_rules_are_documented():
    for r in RULES:
        assert r.why and (r.names or r.attributes or r.special), r.id
    assert len({r.id for r in RULES}) == len(RULES)


# --------------------------------------------------------------------------- honest code
@pytest.mark.parametrize("chapter_id", list(CHAPTERS), ids=list(CHAPTERS))
def test_no_solution_is_flagged(chapter_id):
    chapter = CHAPTERS[chapter_id]
    answers = solution_answers(chapter)
    assert set(answers) == {ex.id for ex in chapter.exercises}
    for ex_id, findings in zip(answers, review_cells(list(answers.values()))):
        assert findings == [], f"{ex_id}: " + "; ".join(f.describe() for f in findings)


@pytest.mark.parametrize("ex", EXERCISES, ids=[ex.id for ex in EXERCISES])
def test_no_catalogued_mistake_or_alternative_is_flagged(ex):
    """Every one is turned into an answer cell (answer_source raises when it cannot)."""
    alts = ALTERNATIVES.get(ex.id, ())
    impls = [(m.key, m.impl) for m in ex.mistakes] + [(a.__name__, a) for a in alts]
    reviewed = 0
    for label, impl in impls:
        findings = review_source(answer_source(impl, ex.name))
        assert findings == [], f"{ex.id} {label}: " + "; ".join(f.describe() for f in findings)
        reviewed += 1
    assert reviewed == len(ex.mistakes) + len(alts) > 0


def test_apply_review_holds_flagged_exercises_and_keeps_their_points():
    from autograder.grade import NotebookResult, apply_review
    from autograder.judge import ExerciseResult

    ch = get_chapter("ch04")
    a, b = ch.exercises[0], ch.exercises[1]
    sub = Submission(path="x.ipynb", chapter=ch,
                     cells=[{"id": "c0", "source": "x = 1"}, {"id": "c1", "source": "import gc"}],
                     exercise_cells={a.id: [0], b.id: [1]})
    results = [ExerciseResult(ex.id, ex.name, ex.points, ex.points, True, []) for ex in (a, b)]
    held = apply_review(sub, results)
    assert [r.held for r in held] == [False, True]
    assert held[1].points == b.points and held[1].review[0].startswith("line 1: `import gc`")
    data = held[1].as_json()
    assert data["held_for_review"] is True and data["review"] == held[1].review
    again = NotebookResult.from_json({"notebook": "x", "exercises": [r.as_json() for r in held]},
                                     "ch04")
    assert again.exercises == held
    old = {k: v for k, v in data.items() if k not in ("held_for_review", "review")}
    assert not ExerciseResult.from_json(old).held  # a result stored before the review existed
