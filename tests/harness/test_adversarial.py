"""The adversarial suite: hostile and broken submissions graded in the strict sandbox.

Every attack sits in one exercise of an otherwise correct Chapter 4 notebook and asserts the
exact outcome: that exercise scores 0 with a specific message, every other exercise gets exactly
its full points, no process of the sandbox's uid is left, and canary files outside the job are
unchanged. Attacks are grouped, one per exercise, into a few notebooks so the suite stays fast
(deadlines are shortened; the production ones are minutes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import subprocess
from pathlib import Path

import nbformat
import pytest

from autograder import runner, sandbox
from autograder.chapters import get_chapter
from autograder.grade import grade_notebook
from autograder.submission import SubmissionError, read_notebook

REASON = sandbox._probe()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(REASON), reason=f"strict sandbox unavailable: {REASON}")]

REPO = Path(__file__).resolve().parents[2]
# One sandbox uid per pytest-xdist worker, as batch grading gives one per concurrent job.
SLOT = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 8
S, J, A, M, L, R, K = ("ch04.softmax", "ch04.softmax_jacobian", "ch04.scaled_dot_product_attention",
                       "ch04.multi_head_attention", "ch04.layer_norm", "ch04.rms_norm",
                       "ch04.kernel_smoother")
SIG = {S: "def softmax(x, dim=-1, temperature=1.0):",
       J: "def softmax_jacobian(p):",
       A: "def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):",
       L: "def layer_norm(x, weight, bias, eps=1e-5):",
       R: "def rms_norm(x, weight, eps=1e-6):",
       K: "def kernel_smoother(queries, keys, values, bandwidth):"}
CORRECT = {S: "    z = x / temperature\n    e = torch.exp(z - z.amax(dim, keepdim=True))\n"
              "    return e / e.sum(dim, keepdim=True)\n",
           J: "    return torch.diag_embed(p) - p[..., :, None] * p[..., None, :]\n",
           L: "    m = x.mean(-1, keepdim=True)\n    v = ((x - m) ** 2).mean(-1, keepdim=True)\n"
              "    return (x - m) / torch.sqrt(v + eps) * weight + bias\n",
           R: "    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * weight\n",
           K: "    d = ((queries[..., :, None, :] - keys[..., None, :, :]) ** 2).sum(-1)\n"
              "    return softmax(-d / (2 * bandwidth ** 2), dim=-1) @ values\n"}


def fn(ex: str, body: str, before: str = "") -> str:
    """An answer cell: optional top-level code, then the exercise's signature and ``body``."""
    return f"{before}\n{SIG[ex]}\n{body}"


def correct_then(ex: str, tail: str, before: str = "") -> str:
    """A correct function that also runs ``tail`` (indented) before computing."""
    return fn(ex, tail + CORRECT[ex], before)


@pytest.fixture
def strict(monkeypatch, ch04):
    monkeypatch.setattr(runner, "TIMEOUT_FACTOR", 5.0)
    monkeypatch.setattr(runner, "CELL_TIMEOUT_S", 4.0)
    # seconds, not minutes: a correct ch04 exercise takes ~0.1 s in the worker, so even a loaded
    # 2-core machine leaves room; every attack that hangs costs the suite this long
    for ex in ch04.exercises:
        monkeypatch.setattr(ex, "timeout_floor_s", 3.0)
    lease = runner.slot_lease

    @contextlib.contextmanager
    def checked_lease(preferred=0):
        """The slot's lease, and on its release (still held, so no neighbour's job can be using
        the slot) the processes of its uid are recorded for ``_no_sandbox_processes``."""
        with lease(preferred) as slot:
            yield slot
            uid = str(sandbox.BASE_UID + slot)
            out = subprocess.run(["ps", "-o", "pid=,user=,args=", "-u", uid], capture_output=True,
                                 text=True)
            LEFT_BEHIND.append(out.stdout.strip())

    monkeypatch.setattr(runner, "slot_lease", checked_lease)
    return sandbox.detect("strict")


LEFT_BEHIND: list[str] = []  # per finished grading: what its sandbox uid still ran (want "")


@pytest.fixture
def canaries(tmp_path):
    """Files outside the job that no submission may change (checked after grading)."""
    files = {tmp_path / "canary.txt": b"do not touch\n", REPO / "README.md": None}
    for p, content in files.items():
        if content is not None:
            p.write_bytes(content)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    yield tmp_path / "canary.txt"
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert before == after, "a file outside the job directory changed"


def _no_sandbox_processes():
    """No grading since the last call left a process of its slot's uid (checked while the slot
    was still leased: a neighbouring grader cannot be mistaken for a leftover)."""
    assert LEFT_BEHIND, "no strict grading was recorded"
    left = [p for p in LEFT_BEHIND if p]
    LEFT_BEHIND.clear()
    assert not left, "processes left behind:\n" + "\n".join(left)


def _grade(make_submission, attacks: dict, mode) -> dict:
    path = make_submission(attacks)
    result = grade_notebook(str(path), "ch04", sandbox=mode, slot=SLOT)
    _no_sandbox_processes()
    by = {e.id: e for e in result.exercises}
    for e in result.exercises:
        if e.id in attacks:
            assert e.points == 0 and not e.passed, (e.id, e.messages)
        else:
            assert e.passed and e.points == e.max_points, (e.id, e.messages)
    return {k: " ".join(v.messages) for k, v in by.items()}


def test_resource_attacks(make_submission, strict, canaries):
    msgs = _grade(make_submission, {
        S: fn(S, "    while True:\n        pass\n"),                                   # busy loop
        J: fn(J, "    import time\n    time.sleep(1000)\n"),                           # sleep
        A: fn(A, "    import signal\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                 "    while True:\n        pass\n"),                                   # SIGTERM ignored
        L: fn(L, "    hog = bytearray(20 * 2**30)\n    return x\n"),                   # Python memory hog
        R: fn(R, "    return torch.empty(2**40)\n"),                                   # huge torch allocation
        K: correct_then(K, "    import os\n    for _ in range(10_000):\n"              # fork bomb
                           "        if os.fork() == 0:\n            while True:\n"
                           "                try:\n                    os.fork()\n"
                           "                except OSError:\n                    pass\n"),
    }, strict)
    for ex in (S, J, A):
        assert "did not finish within" in msgs[ex] and "endless loop" in msgs[ex]
    assert "MemoryError" in msgs[L]
    assert "RuntimeError" in msgs[R] and "allocate" in msgs[R]
    # a fork bomb is refused: no process may be started while graded
    assert "PermissionError" in msgs[K] and "cannot be started while" in msgs[K]


def test_process_and_exit_attacks(make_submission, strict, canaries, ch04_solutions):
    msgs = _grade(make_submission, {
        S: correct_then(S, "    import os\n    if os.fork() == 0:\n        os.setsid()\n"  # daemon
                           "        if os.fork() == 0:\n            import time\n"
                           "            time.sleep(600)\n        os._exit(0)\n"),
        J: fn(J, "    import os\n    os._exit(0)\n"),                                  # os._exit(0) mid-test
        A: fn(A, "    import ctypes\n    ctypes.string_at(0)\n"),                      # segfault via ctypes
        L: fn(L, "    import sys\n    sys.exit(0)\n"),                                  # sys.exit
        R: fn(R, "    raise KeyboardInterrupt\n"),                                     # KeyboardInterrupt
        K: correct_then(K, "    import time\n    time.sleep(0.5)\n"),                  # 100x too slow
        M: "import subprocess\n_child = subprocess.Popen(['sleep', '300'])\n"       # a process at load
           + ch04_solutions[M],
    }, strict)
    assert "PermissionError" in msgs[S] and "cannot be started while" in msgs[S]  # the daemon
    assert "ended the grading process" in msgs[J] and "exited with code 0" in msgs[J]
    assert "ended the grading process" in msgs[A]
    assert "SystemExit" in msgs[L]
    assert "KeyboardInterrupt" in msgs[R]
    assert "did not finish within" in msgs[K] and "far slower" in msgs[K]
    assert "PermissionError" in msgs[M] and "cannot be started while" in msgs[M]


def test_filesystem_and_network_attacks(make_submission, strict, canaries):
    secret = REPO / "autograder" / "chapters" / "ch04_attention.py"
    msgs = _grade(make_submission, {
        S: fn(S, "    print('x' * (8 << 20))\n    return x\n"),                        # stdout flood
        J: fn(J, "    open('/scratch/big', 'wb').write(b'0' * (65 << 20))\n    return p\n"),  # huge file
        A: fn(A, "    with open('/tmp/fill', 'wb') as f:\n"                            # filling tmp
                 "        while True:\n            f.write(b'0' * (1 << 20))\n"),
        L: fn(L, f"    return torch.tensor(float(len(open({str(secret)!r}).read())))\n"),  # hidden tests
        R: fn(R, "    return torch.tensor(float(len(open('/etc/shadow').read())))\n"),  # /etc/shadow
        K: fn(K, "    import socket\n    s = socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
                 "    return values\n"),                                               # network
    }, strict)
    assert "MiB while being graded" in msgs[S] or "File too large" in msgs[S]
    assert "OSError" in msgs[J] and ("No space left" in msgs[J] or "File too large" in msgs[J])
    assert "OSError" in msgs[A] and ("No space left" in msgs[A] or "File too large" in msgs[A])
    assert "FileNotFoundError" in msgs[L]
    assert "FileNotFoundError" in msgs[R] or "PermissionError" in msgs[R]
    assert "OSError" in msgs[K] and "unreachable" in msgs[K]


def test_result_forging_and_escape_attacks(make_submission, strict, canaries):
    msgs = _grade(make_submission, {
        S: fn(S, "    return x * 0\n",                                                 # monkeypatched checks
              before="import numpy\ntorch.allclose = lambda *a, **k: True\n"
                     "torch.equal = lambda *a, **k: True\n"
                     "torch.testing.assert_close = lambda *a, **k: None\n"
                     "numpy.testing.assert_allclose = lambda *a, **k: None\n"),
        J: fn(J, "    class Liar(torch.Tensor):\n"                                      # lying subclass
                 "        @classmethod\n"
                 "        def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                 "            return True\n"
                 "        def __eq__(self, other):\n            return True\n"
                 "    return torch.zeros(p.shape + p.shape[-1:]).as_subclass(Liar)\n"),
        A: fn(A, "    import glob\n    for path in ['/job/results.json', '/scratch/results.json']:\n"
                 "        try:\n            open(path, 'w').write('{\"total\": 14}')\n"   # fake results files
                 "        except OSError:\n            pass\n"
                 "    try:\n        os.symlink('/etc/passwd', '/scratch/output.log')\n"  # symlink swap
                 "    except OSError:\n        pass\n    return q\n",
              before="import os\n"),
        L: fn(L, "    raise ValueError('\\x1b[31mred\\x1b[0m\\x00<script>alert(1)</script>')\n"),  # ANSI/NUL/HTML
        R: fn(R, "    return (x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * weight)"
                 " + 1e-3 * torch.rand_like(x)\n"),                                    # non-deterministic
        K: fn(K, "    values += 0\n    values.mul_(2)\n"
                 "    d = ((queries[..., :, None, :] - keys[..., None, :, :]) ** 2).sum(-1)\n"
                 "    return softmax(-d / (2 * bandwidth ** 2), dim=-1) @ values\n"),    # in-place input change
    }, strict)
    assert msgs[S].startswith("wrong on")
    assert "expected a plain torch.Tensor, got Liar" in msgs[J]
    assert msgs[A].startswith("wrong on")
    assert "ValueError: red\\x00<script>" in msgs[L] and "\x1b" not in msgs[L] and "\x00" not in msgs[L]
    assert msgs[R].startswith("wrong on")
    assert "modified its input" in msgs[K] and "in place" in msgs[K]


def test_output_kind_attacks(make_submission, strict, canaries):
    msgs = _grade(make_submission, {
        S: fn(S, "    return x.tolist()\n"),                                           # wrong type
        J: fn(J, "    return (torch.diag_embed(p) - p[..., :, None] * p[..., None, :]).double()"
                 " if p.dtype == torch.float32 else torch.diag_embed(p) - p[..., :, None] * p[..., None, :]\n"),  # wrong dtype
        A: fn(A, "    return (torch.softmax(q @ k.mT, -1) @ v).mT\n"),                 # wrong shape (+ forbidden? no: softmax allowed here)
        L: fn(L, "    return x * float('nan')\n"),                                     # NaN outputs
        R: fn(R, "    return x / 0.0\n"),                                              # Inf outputs
        K: fn(K, "    return values.mean(-2, keepdim=True).expand(*queries.shape[:-1], values.shape[-1]).numpy()\n"),  # numpy array
    }, strict)
    assert "expected a plain torch.Tensor, got list" in msgs[S]
    assert "has dtype torch.float64, expected torch.float32" in msgs[J]
    assert "shape" in msgs[A] and "expected" in msgs[A]
    assert "NaN" in msgs[L]
    assert "inf" in msgs[R]
    assert "expected a plain torch.Tensor, got ndarray" in msgs[K]


def test_forbidden_and_import_attacks(make_submission, strict, canaries):
    msgs = _grade(make_submission, {
        S: fn(S, "    return torch.ops.aten._softmax(x / temperature, dim, False)\n"),  # through torch.ops.aten
        J: fn(J, "    import reference\n    return reference.softmax_jacobian(p)\n"),  # importing the reference
        A: fn(A, "    with torch._C.DisableTorchFunction():\n"                         # under DisableTorchFunction
                 "        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,"
                 " is_causal=is_causal, scale=scale)\n"),
        L: fn(L, "    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)\n"),     # forbidden directly
        R: fn(R, "    import autograder.kernel\n    return x\n"),                       # importing the grader
        K: fn(K, "    return input('bandwidth? ')\n"),                                 # input()
    }, strict)
    assert "aten::_softmax" in msgs[S]
    assert "No module named 'reference'" in msgs[J]
    assert "aten::scaled_dot_product_attention" in msgs[A]
    assert msgs[L].startswith("calls torch.nn.functional.layer_norm")
    assert "No module named 'autograder'" in msgs[R]
    assert "EOFError" in msgs[K]


def test_cell_level_attacks(make_submission, strict, canaries, ch04_solutions):
    msgs = _grade(make_submission, {
        S: "raise RuntimeError('crash at import')\n" + ch04_solutions[S],              # crash at import
        J: "def softmax_jacobian(p)\n    return p\n",                                  # syntax error
        A: "pass\n",                                                                   # missing function
        M: ch04_solutions[M].replace("class MultiHeadAttention", "class MultiHeadAttn"),  # renamed
        L: "!pip install torch-layernorm\n%timeit 1\n" + fn(L, "    return x\n"),      # magics (graded, wrong)
        R: "while True:\n    pass\n",                                                  # endless loop at load
        K: "import os\nos._exit(3)\n" + ch04_solutions[K],                            # exit at load
    }, strict)
    assert "'softmax' is not defined" in msgs[S] and "crash at import" in msgs[S]
    assert "'softmax_jacobian' is not defined" in msgs[J] and "SyntaxError" in msgs[J]
    # the cause leads: the cell's SyntaxError, then the name it left undefined
    assert msgs[J].index("SyntaxError") < msgs[J].index("'softmax_jacobian' is not defined")
    assert "'scaled_dot_product_attention' is not defined" in msgs[A]
    assert "'MultiHeadAttention' is not defined" in msgs[M]
    assert msgs[L].startswith("wrong on")
    assert "did not finish within" in msgs[R]
    assert "'kernel_smoother' is not defined" in msgs[K] and "ended the process" in msgs[K]


# ----------------------------------------------------------------- notebook-level attacks
def _result(path, mode):
    return {e.id: e for e in grade_notebook(str(path), "ch04", sandbox=mode, slot=SLOT).exercises}


def test_deleted_duplicated_moved_retyped_cells(tmp_path, strict, ch04, ch04_release, ch04_solutions):
    from autograder.examples import fill_answers

    nb = fill_answers(ch04_release, ch04, ch04_solutions)
    cells = nb.cells
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
    idx = {ex.id: ids.index(ex.answer_cell_id) for ex in ch04.exercises}
    cells[idx[L]].cell_type = "markdown"                                               # retyped to markdown
    cells[idx[L]].pop("outputs", None)
    cells[idx[L]].pop("execution_count", None)
    dup = nbformat.from_dict(json.loads(json.dumps(cells[idx[R]])))                    # duplicated, wrong last
    dup.source = fn(R, "    return x\n")
    deleted, after = cells[idx[J]], cells[idx[R]]  # by identity: indices shift as cells move
    moved = cells.pop(idx[K])                                                          # moved to the end
    cells.insert(next(i for i, c in enumerate(cells) if c is after) + 1, dup)
    cells.append(moved)
    cells.pop(next(i for i, c in enumerate(cells) if c is deleted))                   # deleted
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}  # foreign kernelspec
    path = tmp_path / "edited.ipynb"
    nbformat.write(nb, path)
    by = _result(path, strict)
    assert by[S].passed and by[A].passed and by[M].passed and by[K].passed
    assert not by[J].passed and any("no answer cell" in m for m in by[J].messages)
    assert not by[L].passed and any("no answer cell" in m for m in by[L].messages)
    assert not by[R].passed and by[R].messages[0].startswith("wrong on")  # the later copy wins


def test_invalid_and_huge_notebooks_are_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ this is not json")
    with pytest.raises(SubmissionError, match="invalid JSON"):
        read_notebook(bad)
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as f:
        f.truncate(500 << 20)  # a 500 MB (sparse) file
    with pytest.raises(SubmissionError, match="larger than 50 MiB"):
        read_notebook(huge)


def test_pickle_payload_beside_the_notebook_is_never_loaded(tmp_path, make_submission, strict):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = make_submission({})
    for name in ("results.pkl", "gradebook.pickle", "submission.ipynb.pkl"):
        (path.parent / name).write_bytes(pickle.dumps(Payload()))
    result = grade_notebook(str(path), "ch04", sandbox=strict, slot=SLOT)
    assert result.total == result.max_total
    assert not marker.exists()


# ----------------------------------------------------------------- the grader does not believe the worker
# Attacks by class (issue: "the grader must not believe the worker"). Each asserts the exact
# outcome: the attacked exercise scores 0 (or is held for review, where the attack forges what
# only the worker's own process can observe), every other exercise exactly as without the attack.

# Finds this process's report socket and writes well-formed frames on it, as a forger would.
FORGER = '''
import json as _json, os as _os, stat as _stat, struct as _struct
def _report_socket():
    for fd in range(3, 64):
        try:
            if _stat.S_ISSOCK(_os.fstat(fd).st_mode):
                return fd
        except OSError:
            pass
def _forge(header, payload=b""):
    body = _json.dumps(header).encode()
    _os.write(_report_socket(), _struct.pack(">Q", len(body)) + body + payload)
'''


def _grade_held(make_submission, attacks: dict, mode, held: set) -> dict:
    """Like ``_grade``, but the exercises in ``held`` may instead pass and be held for review."""
    path = make_submission(attacks)
    result = grade_notebook(str(path), "ch04", sandbox=mode, slot=SLOT)
    _no_sandbox_processes()
    for e in result.exercises:
        if e.id in held:
            assert e.held and e.review, (e.id, e.messages)
        elif e.id in attacks:
            assert e.points == 0 and not e.passed, (e.id, e.messages)
        else:
            assert e.passed and e.points == e.max_points and not e.held, (e.id, e.messages)
    return {e.id: " ".join(e.messages) for e in result.exercises}


def test_forged_and_missing_reports(make_submission, strict, canaries):
    msgs = _grade_held(make_submission, {
        # a cell that reports its exercise finished while it loads
        S: FORGER + "_forge({'event': 'case', 'case': 0, 'status': 'ok', 'seconds': 0.0,"
                    " 'devices': ['cpu'], 'n_grads': 0})\n" + fn(S, "    return x\n"),
        # a case report with a field of the wrong type
        J: FORGER + fn(J, "    _forge({'event': 'case', 'case': 0, 'status': 'ok', 'forbidden': 5})\n"
                          "    return p\n"),
        # reports only the first case (the others, whose output it would get wrong, are dropped)
        A: fn(A, "    return q\n",
              before="import sys\n_w = sys.modules['__main__']\n_all_cases = _w.run_exercise\n"
                     "_w.run_exercise = lambda ex, cases, tensors, ns, send: "
                     "_all_cases(ex, cases[:1], tensors, ns, send)\n"),
        # an end report whose forbidden ops are not a list of [case, names]
        K: fn(K, CORRECT[K],
              before="import sys\n_w = sys.modules['__main__']\n_run = _w.run_exercise\n"
                     "def _lying(ex, cases, tensors, ns, send):\n"
                     "    def _send(h, ts=()):\n"
                     "        send({'event': 'end', 'forbidden_ops': 'none'} "
                     "if h.get('event') == 'end' else h, ts)\n"
                     "    _run(ex, cases, tensors, ns, _send)\n"
                     "_w.run_exercise = _lying\n"),
        # the forbidden-call list emptied by rebinding the worker's monitor: only static review
        # can see it (held for review)
        L: fn(L, "    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)\n",
              before="import sys\nclass _Blind:\n    def __init__(self, *a):\n        self.seen = []\n"
                     "    def __enter__(self):\n        return self\n"
                     "    def __exit__(self, *e):\n        return False\n"
                     "sys.modules['__main__'].ForbiddenMonitor = _Blind\n"),
    }, strict, held={L})
    assert "broke the grading protocol" in msgs[S]
    assert "broke the grading protocol" in msgs[J] and "'forbidden'" in msgs[J]
    assert "broke the grading protocol" in msgs[A] and "not reported" in msgs[A]
    assert "broke the grading protocol" in msgs[K] and "'forbidden_ops'" in msgs[K]


def test_observation_cannot_be_escaped(make_submission, strict, canaries):
    msgs = _grade_held(make_submission, {
        # the forbidden built-in called in a thread, and in a forked child
        S: fn(S, "    import threading\n    out = []\n"
                 "    t = threading.Thread(target=lambda: out.append(torch.softmax(x / temperature, dim)))\n"
                 "    t.start()\n    t.join()\n    return out[0]\n"),
        J: fn(J, "    import os\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n"
                 "    os.waitpid(pid, 0)\n"
                 "    return torch.diag_embed(p) - p[..., :, None] * p[..., None, :]\n"),
        # a forbidden call hidden in a profiler scope named like the grader's stand-ins: by the
        # old fixed name, and by the name read from the worker (caught by the scope count)
        A: fn(A, "    with torch.autograd.profiler.record_function('llmcourse::substitute'):\n"
                 "        with torch._C.DisableTorchFunction():\n"
                 "            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,"
                 " is_causal=is_causal, scale=scale)\n"),
        L: fn(L, "    import sys\n    scope = sys.modules['__main__'].SUBSTITUTE_SCOPE\n"
                 "    with torch.autograd.profiler.record_function(scope):\n"
                 "        with torch._C.DisableTorchFunction():\n"
                 "            return F.layer_norm(x, x.shape[-1:], weight, bias, eps)\n"),
        # ... and in a scope named like the grader's case scopes (caught by their count)
        R: fn(R, "    import sys\n    scope = sys.modules['__main__'].CASE_SCOPE\n"
                 "    with torch.autograd.profiler.record_function(scope):\n"
                 "        with torch._C.DisableTorchFunction():\n"
                 "            return F.rms_norm(x, x.shape[-1:], weight, eps)\n"),
    }, strict, held=set())
    assert "can't start new thread" in msgs[S] and "cannot be started while" in msgs[S]
    assert "PermissionError" in msgs[J] and "cannot be started while" in msgs[J]
    assert "aten::scaled_dot_product_attention" in msgs[A]
    assert "profiler scope named like the grader's" in msgs[L]
    assert "profiler scope named like the grader's" in msgs[R]


def test_deadlines_are_the_graders(make_submission, strict, canaries):
    """Frames cannot buy time: the run ends within the clean run's time, plus the limit of the
    one part that hangs, plus a fresh worker for each of the three killed (each start costs less
    than the whole clean run). The forged frames alone would have held the slot for 60 s."""
    import time

    start = time.monotonic()
    grade_notebook(str(make_submission({})), "ch04", sandbox=strict, slot=SLOT)
    clean = time.monotonic() - start
    start = time.monotonic()
    msgs = _grade_held(make_submission, {
        # a cell that keeps sending frames while it sleeps, to hold its slot
        S: FORGER + "import time as _t\nfor _ in range(60):\n"
                    "    _forge({'event': 'cell_start', 'index': 0})\n    _t.sleep(1)\n"
           + fn(S, "    return x\n"),
        # a function that sleeps and sends progress-looking frames between cases
        J: FORGER + fn(J, "    import time\n    for _ in range(60):\n"
                          "        _forge({'event': 'loaded', 'locked': True, 'lock_error': None})\n"
                          "        time.sleep(1)\n    return p\n"),
        # a cell that sleeps without a word (its load limit is the parent's)
        A: "import time\ntime.sleep(1000)\n" + fn(A, "    return q\n"),
    }, strict, held=set())
    elapsed = time.monotonic() - start
    assert "broke the grading protocol" in msgs[S]
    assert "broke the grading protocol" in msgs[J]
    assert "did not finish within" in msgs[A]
    assert elapsed <= clean + runner.CELL_TIMEOUT_S + 3 * clean, (elapsed, clean)


def test_parent_memory_and_broken_headers(make_submission, strict, tmp_path):
    """Huge frames with made-up indices, and outputs of the wrong size, never reach the grader's
    memory; a header of the wrong type never crashes it (measured in a separate process)."""
    import sys

    attack = make_submission({
        S: FORGER + fn(S, "    for i in range(8):\n"
                          "        _forge({'event': 'case', 'case': 1000 + i, 'status': 'ok', 'tensors':"
                          " [{'dtype': 'float64', 'shape': [1 << 25]}]}, bytes(1 << 28))\n"
                          "    return x\n"),
        J: fn(J, "    return torch.zeros(4096, 4096, dtype=torch.float64)\n"),  # 128 MiB, wrong shape
        A: FORGER + fn(A, "    _forge({'event': 'case', 'case': 0, 'status': 'ok', 'forbidden': 5,"
                          " 'seconds': 'soon'})\n    return q\n"),
    })
    clean = make_submission({})
    # `llmcourse check --json` of the clean notebook, then of the attack, in a process of its own
    # that reports its peak memory after each: the attack's must stay within twice the clean one's
    script = ("import contextlib, io, json, resource, sys\nfrom autograder import cli\n"
              "for path in sys.argv[1:]:\n    out = io.StringIO()\n"
              "    with contextlib.redirect_stdout(out):\n"
              "        rc = cli.main(['check', path, '--json', '--sandbox', 'strict'])\n"
              "    print(json.dumps({'rc': rc, 'result': json.loads(out.getvalue()),"
              " 'peak_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n")
    out = subprocess.run([sys.executable, "-c", script, str(clean), str(attack)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = dict(zip(("clean", "attack"), map(json.loads, out.stdout.strip().splitlines()[-2:])))
    assert runs["clean"]["rc"] == runs["attack"]["rc"] == 0
    assert runs["attack"]["peak_kb"] <= 2 * runs["clean"]["peak_kb"], runs
    by = {e["id"]: e for e in runs["attack"]["result"]["exercises"]}
    for ex_id, e in by.items():
        assert (e["points"] == 0) == (ex_id in (S, J, A)), (ex_id, e["messages"])
    assert "broke the grading protocol" in " ".join(by[S]["messages"])
    # a 128 MiB output of the wrong shape in each of 15 cases: judged from its header, never
    # loaded, until the exercise's byte cap (1 GiB beyond the reference's outputs) ends it
    assert "MiB of tensors in all" in " ".join(by[J]["messages"])
    assert "broke the grading protocol" in " ".join(by[A]["messages"])


FAULTS = {"flood": ("    print('x' * (3 << 20))\n", "MiB while being graded"),
          "crash": ("    import os\n    os._exit(0)\n", "ended the grading process"),
          "hang": ("    import time\n    time.sleep(1000)\n", "did not finish within")}
# (the hang sleeps: busy loops are test_resource_attacks'; this one need not burn a core meanwhile)


def test_faults_are_charged_where_they_happen(make_submission, strict):
    """A flood, a crash and a hang in the code of an exercise cost that exercise only, wherever it
    sits: each fault twice, the first exercise (a fresh worker) hanging, the last crashing, and
    each fault followed by another kind of fault (the fourth exercise stays correct)."""
    faults = {S: "hang", J: "flood", A: "crash", L: "flood", R: "hang", K: "crash"}
    path = make_submission({ex: correct_then(ex, FAULTS[kind][0]) if ex in CORRECT
                            else fn(ex, FAULTS[kind][0]) for ex, kind in faults.items()})
    result = grade_notebook(str(path), "ch04", sandbox=strict, slot=SLOT)
    for e in result.exercises:
        assert (e.points == 0) == (e.id in faults), (e.id, e.messages)
        if e.id in faults:
            assert FAULTS[faults[e.id]][1] in e.messages[0], (faults[e.id], e.messages)


def test_hidden_inputs_reach_one_exercise_at_a_time(make_submission, strict):
    """The job file holds the student's cells only; an exercise's process gets its own inputs."""
    probe = ("    import json, struct\n    data = open('/job/job.bin', 'rb').read()\n"
             "    head = json.loads(data[8:8 + struct.unpack('>Q', data[:8])[0]])\n"
             "    if head['tensors'] or 'exercises' in head:\n        return x * 0\n")
    path = make_submission({S: correct_then(S, probe)})
    result = grade_notebook(str(path), "ch04", sandbox=strict, slot=SLOT)
    softmax = next(e for e in result.exercises if e.id == S)
    assert softmax.passed and softmax.held  # (reading /job is flagged for review)
