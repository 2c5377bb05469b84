"""The forbidden-call watch (worker.ExerciseMonitor): one profiler per exercise, each ATen op charged
to the case it ran in, the stand-ins' ops never charged, and forged grader scopes caught."""

from __future__ import annotations

import torch

from autograder import worker

SOFTMAX_OPS = ["aten::_softmax", "aten::softmax"]


def _watch(cases: list, functions=("torch.softmax",), ops=SOFTMAX_OPS):
    """Runs each callable of ``cases`` as one case; returns (Python-level calls per case, ops
    per case)."""
    worker.new_scope_names()
    monitor = worker.ExerciseMonitor(list(functions), list(ops))
    calls = {}
    with monitor:
        for index, body in enumerate(cases):
            with monitor.case(index) as seen, seen:  # the worker enters it around student code
                body()
            calls[index] = list(seen.seen)
    return calls, monitor.ops_by_case


x = torch.randn(3, 4)


def test_each_op_is_charged_to_the_case_that_called_it():
    def hidden():
        with torch._C.DisableTorchFunction():
            torch.ops.aten._softmax(x, -1, False)

    calls, ops = _watch([lambda: x.exp(), lambda: torch.softmax(x, -1), hidden, lambda: x + 1])
    assert calls == {0: [], 1: ["torch.softmax"], 2: [], 3: []}
    assert ops == {0: [], 1: ["aten::softmax", "aten::_softmax"], 2: ["aten::_softmax"], 3: []}


def test_the_stand_ins_ops_are_not_charged():
    standin = worker.make_substitute(lambda t: torch.softmax(t, -1))
    calls, ops = _watch([lambda: standin(x), lambda: standin(x) + torch.softmax(x, -1)])
    assert calls == {0: [], 1: ["torch.softmax"]}
    assert ops == {0: [], 1: ["aten::softmax", "aten::_softmax"]}


def test_a_forged_stand_in_scope_is_caught_in_its_case():
    def forged():
        with torch.autograd.profiler.record_function(worker.SUBSTITUTE_SCOPE):
            with torch._C.DisableTorchFunction():
                torch.ops.aten._softmax(x, -1, False)

    _, ops = _watch([lambda: x.exp(), forged])
    assert ops == {0: [], 1: [worker.IMPERSONATION]}


def test_a_forged_case_scope_is_caught():
    def forged():
        with torch.autograd.profiler.record_function(worker.CASE_SCOPE):
            x.exp()

    _, ops = _watch([lambda: x.exp(), forged])
    assert ops == {0: [worker.IMPERSONATION], 1: [worker.IMPERSONATION]}


def test_scope_names_are_drawn_per_process():
    worker.new_scope_names()
    first = (worker.SUBSTITUTE_SCOPE, worker.CASE_SCOPE)
    worker.new_scope_names()
    assert first[0] != worker.SUBSTITUTE_SCOPE and first[1] != worker.CASE_SCOPE


def test_no_profiler_without_forbidden_ops():
    calls, ops = _watch([lambda: torch.softmax(x, -1)], ops=())
    assert calls == {0: ["torch.softmax"]} and ops == {}


def test_no_torch_function_mode_without_forbidden_functions():
    """With no function to watch, no mode is pushed: each torch call in a mode pays a Python
    dispatch. With one, the mode is there while the student's code runs, and gone after."""
    depth = torch._C._len_torch_function_stack
    inside = {}
    for functions in ((), ("torch.softmax",)):
        monitor = worker.ExerciseMonitor(list(functions), [])
        with monitor, monitor.case(0) as seen, seen:
            inside[functions] = depth()
    assert inside == {(): depth(), ("torch.softmax",): depth() + 1}
