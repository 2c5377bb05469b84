"""Faulty and hostile answers, graded end to end out of process: each costs only its own exercise,
with a specific message, and every other exercise is graded exactly as without it.

Several faults share one notebook (one per exercise) so the module stays fast; deadlines are
shortened so that hanging code costs seconds, not the production minutes (and it sleeps rather
than spinning: the busy loops are test_adversarial.py's). The faults run in the
plain mode; the strict sandbox gets each of them in test_adversarial.py (with more attacks), and
the tests about processes and workers run in both modes."""

from __future__ import annotations

import subprocess

import pytest

import torch

from autograder import runner, sandbox
from autograder.cases import prepare
from autograder.grade import grade_notebook
from autograder.spec import Case, CaseBuilder, Chapter, Exercise

STRICT_REASON = sandbox._probe()
MODES = [pytest.param("plain", id="plain"),
         pytest.param("strict", id="strict", marks=pytest.mark.skipif(
             bool(STRICT_REASON), reason=f"strict sandbox unavailable: {STRICT_REASON}"))]


@pytest.fixture(params=MODES)
def mode(request):
    return sandbox.detect(request.param)


@pytest.fixture
def plain():
    """The plain mode, which every machine has. The fault-isolation tests below run in it only:
    the strict sandbox gets the same faults, and more, in test_adversarial.py."""
    return sandbox.detect("plain")


SOFTMAX_OK = '''
def softmax(x, dim=-1, temperature=1.0):
    z = x / temperature
    e = torch.exp(z - z.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)
'''


@pytest.fixture
def short_deadlines(monkeypatch, ch04):
    monkeypatch.setattr(runner, "TIMEOUT_FACTOR", 5.0)
    monkeypatch.setattr(runner, "CELL_TIMEOUT_S", 4.0)
    for ex in ch04.exercises:
        monkeypatch.setattr(ex, "timeout_floor_s", 3.0)


@pytest.fixture
def worker_starts(monkeypatch):
    """How many workers the grading started (a list that grows by one per start)."""
    starts = []
    init = runner._Zygote.__init__

    def counted(self, *args, **kwargs):
        starts.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(runner._Zygote, "__init__", counted)
    return starts


def _by_id(result):
    return {e.id: e for e in result.exercises}


def _assert_others_full(result, ch04, faulty: set):
    for e in result.exercises:
        if e.id not in faulty:
            assert e.passed and e.points == ch04.exercise(e.id).points, (e.id, e.messages)
        else:
            assert e.points == 0 and not e.passed, (e.id, e.messages)


@pytest.mark.slow
def test_runtime_faults_cost_only_their_exercise(make_submission, ch04, short_deadlines, plain,
                                                 worker_starts):
    path = make_submission({
        "ch04.softmax": SOFTMAX_OK.replace("    z = x / temperature",
                                           "    import time\n    time.sleep(1000)\n    z = x"),
        "ch04.softmax_jacobian": "import os\n\ndef softmax_jacobian(p):\n    os._exit(0)\n",
        "ch04.scaled_dot_product_attention": (
            "def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):\n"
            "    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,"
            " is_causal=is_causal, scale=scale)\n"),
        "ch04.layer_norm": "def layer_norm(x, weight, bias, eps=1e-5):\n    raise ValueError('boom')\n",
        "ch04.rms_norm": (
            "def rms_norm(x, weight, eps=1e-6):\n    print('x' * 200_000)\n"
            "    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * weight\n"),
        "ch04.kernel_smoother": (
            "torch.allclose = lambda *a, **k: True\n"
            "torch.testing.assert_close = lambda *a, **k: None\n"
            "def kernel_smoother(queries, keys, values, bandwidth):\n"
            "    return values.mean(-2, keepdim=True).expand(*queries.shape[:-1], values.shape[-1])"
            ".clone()\n"),
    })
    result = grade_notebook(str(path), "ch04", sandbox=plain)
    by = _by_id(result)
    _assert_others_full(result, ch04, {"ch04.softmax", "ch04.softmax_jacobian",
                                       "ch04.scaled_dot_product_attention", "ch04.layer_norm",
                                       "ch04.rms_norm", "ch04.kernel_smoother"})
    assert "did not finish within" in by["ch04.softmax"].messages[0]
    assert "endless loop" in by["ch04.softmax"].messages[0]
    assert "ended the grading process" in by["ch04.softmax_jacobian"].messages[0]
    assert "exited with code 0" in by["ch04.softmax_jacobian"].messages[0]
    assert by["ch04.scaled_dot_product_attention"].messages[0].startswith(
        "calls torch.nn.functional.scaled_dot_product_attention")
    assert "ValueError: boom" in " ".join(by["ch04.layer_norm"].messages)
    assert "MiB while being graded" in by["ch04.rms_norm"].messages[0]
    assert by["ch04.kernel_smoother"].messages[0].startswith("wrong on")
    # the hang was in a process locked against new tasks: it was ended alone, and the one worker
    # served every exercise (a restart would have cost a second interpreter and torch import)
    assert len(worker_starts) == 1


@pytest.mark.slow
def test_evasions_are_caught(make_submission, ch04, short_deadlines, plain):
    path = make_submission({
        "ch04.softmax": ("def softmax(x, dim=-1, temperature=1.0):\n"
                         "    return torch.ops.aten._softmax(x / temperature, dim, False)\n"),
        "ch04.scaled_dot_product_attention": (
            "def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):\n"
            "    with torch._C.DisableTorchFunction():\n"
            "        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,"
            " is_causal=is_causal, scale=scale)\n"),
        "ch04.layer_norm": (
            "class Liar(torch.Tensor):\n"
            "    def __eq__(self, other):\n        return True\n"
            "def layer_norm(x, weight, bias, eps=1e-5):\n"
            "    return torch.zeros_like(x).as_subclass(Liar)\n"),
        "ch04.rms_norm": "import sys\n\ndef rms_norm(x, weight, eps=1e-6):\n    sys.exit(0)\n",
        "ch04.kernel_smoother": ("def kernel_smoother(queries, keys, values, bandwidth):\n"
                                 "    raise KeyboardInterrupt\n"),
    })
    result = grade_notebook(str(path), "ch04", sandbox=plain)
    by = _by_id(result)
    _assert_others_full(result, ch04, {
        "ch04.softmax", "ch04.scaled_dot_product_attention", "ch04.layer_norm", "ch04.rms_norm",
        "ch04.kernel_smoother"})
    assert "aten::_softmax" in by["ch04.softmax"].messages[0]
    assert "aten::scaled_dot_product_attention" in by["ch04.scaled_dot_product_attention"].messages[0]
    assert "expected a plain torch.Tensor, got Liar" in " ".join(by["ch04.layer_norm"].messages)
    assert "SystemExit" in " ".join(by["ch04.rms_norm"].messages)
    assert "KeyboardInterrupt" in " ".join(by["ch04.kernel_smoother"].messages)


@pytest.mark.slow
def test_broken_cells_cost_only_their_exercise(make_submission, ch04, short_deadlines, plain,
                                              worker_starts):
    path = make_submission({
        "ch04.softmax": "def softmax(x, dim=-1, temperature=1.0)\n    return x\n",  # SyntaxError
        "ch04.softmax_jacobian": ("def softmax_jacobian(p):\n"
                                  "    return torch.diag_embed(p) - p[..., :, None] * p[..., None, :]\n"
                                  "import time\ntime.sleep(1000)\n"),
        "ch04.scaled_dot_product_attention": "import os\nos._exit(3)\n",
        "ch04.multi_head_attention": "class MultiHeadAttn(nn.Module):\n    pass\n",
        "ch04.layer_norm": "import reference\nlayer_norm = reference.layer_norm\n",
    })
    result = grade_notebook(str(path), "ch04", sandbox=plain)
    by = _by_id(result)
    _assert_others_full(result, ch04, {"ch04.softmax", "ch04.softmax_jacobian",
                                       "ch04.scaled_dot_product_attention",
                                       "ch04.multi_head_attention", "ch04.layer_norm"})
    # the cause first, then its effect
    assert "SyntaxError" in by["ch04.softmax"].messages[0]
    assert "'softmax' is not defined" in by["ch04.softmax"].messages[1]
    assert any("did not finish within" in m for m in by["ch04.softmax_jacobian"].messages)
    assert any("ended the process" in m for m in by["ch04.scaled_dot_product_attention"].messages)
    assert "'MultiHeadAttention' is not defined" in by["ch04.multi_head_attention"].messages[0]
    # the grader's own packages are not importable by the student's code
    assert any("No module named 'reference'" in m for m in by["ch04.layer_norm"].messages)
    assert len(worker_starts) == 1  # the cell that hung was in a locked process, ended alone


@pytest.mark.slow
def test_threads_and_processes_are_refused_while_graded(make_submission, ch04, short_deadlines,
                                                       tmp_path, plain):
    marker = tmp_path / "child.pid"
    path = make_submission({
        "ch04.softmax": (
            "import subprocess\n"
            f"_child = subprocess.Popen(['sleep', '300'])\n"
            f"open({str(marker)!r}, 'w').write(str(_child.pid))\n" + SOFTMAX_OK),
        "ch04.layer_norm": (
            "import threading\n"
            "def layer_norm(x, weight, bias, eps=1e-5):\n"
            "    out = []\n"
            "    t = threading.Thread(target=lambda: out.append(F.layer_norm(x, x.shape[-1:], "
            "weight, bias, eps)))\n"
            "    t.start()\n    t.join()\n    return out[0]\n"),
    })
    result = grade_notebook(str(path), "ch04", sandbox=plain)
    by = _by_id(result)
    _assert_others_full(result, ch04, {"ch04.softmax", "ch04.layer_norm"})
    assert any("PermissionError" in m and "threads and processes cannot be started" in m
               for m in by["ch04.softmax"].messages)
    assert "can't start new thread" in " ".join(by["ch04.layer_norm"].messages)
    assert "threads and processes cannot be started" in " ".join(by["ch04.layer_norm"].messages)
    assert not marker.exists()


@pytest.mark.slow
def test_no_process_is_left_behind_by_an_exercise_that_may_spawn(tmp_path, mode):
    """Exercises whose drivers start processes run without the lock; what they leave is killed."""
    marker = tmp_path / "child.pid"
    marker.touch()
    marker.chmod(0o666)
    ex = Exercise(id="toy.spawn", name="double", points=1.0, reference=lambda x: 2 * x,
                  cases=lambda b: [Case(name="x (3,)", args=[b.randn(3)])], spawns=True)
    chapter = Chapter(id="toy", title="Toy", notebook="toy/toy.py", exercises=[ex])
    plan = [(ex, [prepare(ex, c, i) for i, c in enumerate(ex.cases(CaseBuilder(ex.id)))])]
    # (a plain worker finds strays by session: a new session escapes it, the sandbox does not)
    popen = "['sleep', '300'], start_new_session=True" if mode.mode == "strict" else "['sleep', '300']"
    cells = [{"id": "a", "source": (
        "import subprocess\n"
        "def double(x):\n"
        f"    child = subprocess.Popen({popen})\n"
        f"    open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "    return 2 * x\n")}]
    report = runner.run_in_worker(chapter, cells, plan, sandbox=mode)
    header, _ = report.cases[ex.id][0]
    assert header["status"] == "error" and "left 1 process(es) running" in header["message"]
    if mode.mode == "plain":  # (in the sandbox the pid is another namespace's)
        pid = int(marker.read_text())
        alive = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                               text=True)
        assert alive.stdout.strip() in ("", "Z"), f"process {pid} outlived grading"


def test_each_cuda_job_gets_one_gpu_by_slot(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,7")
    assert [runner.gpu_for_slot(k) for k in range(4)] == ["2", "5", "7", "2"]


@pytest.mark.slow
def test_a_hung_process_is_ended_alone_only_when_locked(mode, worker_starts):
    """A process locked against new tasks that hangs is killed alone and the worker goes on; one
    that may have started processes (``spawns``) takes its whole worker with it, and a fresh one
    grades the rest."""
    def toy(name, **kw):
        return Exercise(id=f"toy.{name}", name=name, points=1.0, reference=lambda x: 2 * x,
                        cases=lambda b: [Case(name="x (3,)", args=[b.randn(3)])],
                        timeout_floor_s=1.0, **kw)

    exercises = [toy("hang_unlocked", spawns=True), toy("hang_locked"), toy("double")]
    chapter = Chapter(id="toy", title="Toy", notebook="toy/toy.py", exercises=exercises)
    plan = [(ex, [prepare(ex, c, i) for i, c in enumerate(ex.cases(CaseBuilder(ex.id)))])
            for ex in exercises]
    cells = [{"id": "a", "source": "def hang_unlocked(x):\n    import time\n    time.sleep(1000)\n\n"
                                   "hang_locked = hang_unlocked\n\n"
                                   "def double(x):\n    return 2 * x\n"}]
    report = runner.run_in_worker(chapter, cells, plan, sandbox=mode)
    assert report.failures["toy.hang_unlocked"][0] == "timeout"
    assert report.failures["toy.hang_locked"][0] == "timeout"
    assert "toy.double" not in report.failures
    header, _ = report.cases["toy.double"][0]
    assert header["status"] == "ok"
    assert len(worker_starts) == 2  # the first, and one after the unlocked hang only
