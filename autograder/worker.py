"""Runs a student's answer cells on inputs chosen by the grader, and sends back only plain tensors.

This file is the untrusted side of grading. It is copied into a job folder together with
``wire.py`` and ``nospawn.py`` and started as ``python -I worker.py JOB_FILE CONTROL_FD``; it
imports nothing else of the grader (no reference, no hidden test code). It never decides a
verdict: it reports, per case, what the student's code returned (tensors), how long it took, which
forbidden PyTorch calls it made, or the exception it raised. The trusted parent computes the
reference, enforces the protocol below and owns every score and every clock (``runner.py``).

The same ``invoke`` and ``ExerciseMonitor`` are used in-process by the notebook self-checks, so
"how a case calls the student's code" has exactly one implementation.

Protocol (wire frames; see "the worker process" below for who runs what):
  control channel, zygote -> grader: {"event": "ready"}, then per request
      {"event": "forked", "index": k, "pid": p}, {"event": "exited", "index": k, "code": c}
  control channel, grader -> zygote: descriptors [exercise socket, output file], then
      {"index": k, "exercise": {...}, "cells": [indices to load], "lock": bool, "cuda": bool}
  control channel, grader -> zygote, while an exercise process runs: the byte "S" (stop it: a
      locked process that must not go on is killed alone, and the zygote reports it "exited")
  exercise socket, exercise process -> grader, in this order:
      {"event": "started", "locked": bool, "lock_error": str|None}  (before any student code)
      {"event": "cell_start", "index": i} / {"event": "cell_end", "index": i, "error": str|None}
          for each cell the request names (the trusted given cells and the exercise's own)
      {"event": "loaded"}
      {"event": "case", "case": c, "status": "ok"|"error"|"not_implemented"|"missing"|
       "bad_output", "forbidden": [...], "seconds": t, "devices": [...], "n_grads": n,
       "message": str} + tensors, once per case, in order
      {"event": "end", "forbidden_ops": [[c, [ATen op names]], ...]}  (the cases that called any;
          one profiler watches the whole exercise, so these are known only at its end)
  exercise socket, grader -> exercise process (after "loaded"): the descriptor of a file holding
      {"cases": [...]} + tensors (this exercise's hidden inputs)
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import inspect
import linecache
import os
import re
import select
import socket
import sys
import time
import traceback
import types

import torch

if __name__ == "__main__":  # a copied script next to wire.py (python -I does not add its folder)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gradelib  # type: ignore
    import nospawn  # type: ignore
    import wire  # type: ignore
else:
    from autograder import gradelib, nospawn, wire

MAX_MESSAGE = 2000
# Set by main() only, i.e. only in a worker process started by the grader: in process (self-checks,
# tests) nothing here looks for, or kills, other processes.
IS_WORKER = False
# True inside the strict sandbox (own pid namespace, unprivileged uid).
SANDBOXED = False
# True in an exercise process that runs under the no-new-threads-or-processes filter (nospawn).
LOCKED = False
ANSWER_FILENAME = "<answer cell {}>"
SUBSTITUTE_SCOPE = "llmcourse::substitute"
CASE_SCOPE = "llmcourse::case"


# --------------------------------------------------------------------------- forbidden calls
def resolve(path: str):
    """'torch.nn.functional.softmax' -> the object (None when this torch has no such name)."""
    parts = path.split(".")
    obj = sys.modules.get(parts[0]) or __import__(parts[0])
    for p in parts[1:]:
        obj = getattr(obj, p, None)
        if obj is None:
            return None
    return obj


@contextlib.contextmanager
def _quiet_stderr():
    """Kineto prints two 'USDT ... profiler_start/stop' lines on fd 2; keep them out of the output
    (nbgrader scores a test cell 0 when anything reaches stderr)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class ForbiddenMonitor(torch.overrides.TorchFunctionMode):
    """Records the Python-level calls to forbidden functions while one case of the student's code
    runs (``torch.softmax``, ``F.softmax``, ``Tensor.softmax``, ``nn.MultiheadAttention``'s
    functional core). Cheap to enter, so it is entered once per case; the ATen ops underneath are
    watched by :class:`ExerciseMonitor`."""

    def __init__(self, functions: list[str]):
        super().__init__()
        self.targets = {}
        for name in functions:
            obj = resolve(name)
            if obj is not None:
                self.targets[id(obj)] = name
        self.seen: list[str] = []

    # With nothing to watch the mode is not pushed at all: in a torch-function mode every torch
    # call pays a Python dispatch (~8 µs), which doubled the time of an L-BFGS fit.
    def __enter__(self):
        return super().__enter__() if self.targets else self

    def __exit__(self, *exc):
        return super().__exit__(*exc) if self.targets else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = self.targets.get(id(func))
        if name is not None and name not in self.seen:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


class ExerciseMonitor:
    """The forbidden-call watch over every case of one exercise.

    Two independent detectors, either one enough to flag a call: per case, a
    :class:`ForbiddenMonitor` sees Python-level calls; over all the cases, one autograd profiler
    sees ATen ops, even when the student disables torch-function handling or calls
    ``torch.ops.aten.*`` directly. One profiler per exercise, not per case: starting and stopping
    one costs ~1.5 ms, more than most cases take.

    Each case runs inside a profiler scope with an unguessable name; an op is charged to the case
    whose scope contains its start (by time, whatever the thread: on CUDA, backward runs on
    autograd's device threads), an op between scopes to the case before it. Ops inside the
    stand-ins' scope (same thread) are the grader's. After the exercise, :attr:`ops_by_case` maps a
    case's index to the forbidden ops seen in it. A student who opens a scope named like the
    grader's (to hide a call, or to move it to another case) is caught by counting: there must be
    exactly one case scope per case and no more stand-in scopes than stand-in calls.
    """

    def __init__(self, functions: list[str], ops: list[str]):
        self.functions = list(functions)
        self.ops = set(ops)
        self.ops_by_case: dict[int, list[str]] = {}
        self._prof = None
        self._cases: list[tuple[int, int]] = []  # (case index, stand-in calls made in it)

    def __enter__(self):
        if self.ops:
            with _quiet_stderr():
                self._prof = torch.autograd.profiler.profile()
                self._prof.__enter__()
        return self

    @contextlib.contextmanager
    def case(self, index: int):
        """Watch one case's ATen ops; yields its :class:`ForbiddenMonitor`, which the caller
        enters around the student's code only (``invoke(watch=...)``: the grader's own calls
        around it cost ~5 µs each in a torch-function mode); ``.seen``: the Python-level calls."""
        monitor = ForbiddenMonitor(self.functions)
        calls_before = _SUBSTITUTE_CALLS[0]
        scope = (torch.autograd.profiler.record_function(CASE_SCOPE) if self._prof is not None
                 else contextlib.nullcontext())
        try:
            with scope:
                yield monitor
        finally:
            self._cases.append((index, _SUBSTITUTE_CALLS[0] - calls_before))

    def __exit__(self, *exc):
        if self._prof is None:
            return False
        with _quiet_stderr():
            self._prof.__exit__(None, None, None)
        # The raw event list: building ``function_events`` (a Python tree of every op) costs
        # ~10 ms per case, 10x the cases themselves; the names and intervals of the few events
        # that matter are enough here.
        wanted = self.ops | {CASE_SCOPE, SUBSTITUTE_SCOPE}
        events = [(name, e.start_ns(), e.end_ns(), e.start_thread_id())
                  for e in self._prof.kineto_results.events() if (name := e.name()) in wanted]
        self._prof = None
        cases = sorted((t0, t1) for name, t0, t1, _ in events if name == CASE_SCOPE)
        standin_scopes = [(t0, t1, tid) for name, t0, t1, tid in events
                          if name == SUBSTITUTE_SCOPE]
        indices = [index for index, _ in self._cases]
        self.ops_by_case = {index: [] for index in indices}
        if len(cases) != len(indices):  # a scope opened by the student, or one lost
            for index in indices:
                self.ops_by_case[index].append(IMPERSONATION)
            return False
        starts = [t0 for t0, _ in cases]
        for k, (index, calls) in enumerate(self._cases):
            t0, t1 = cases[k]
            if sum(1 for s0, _, _ in standin_scopes if t0 <= s0 <= t1) > calls:
                self.ops_by_case[index].append(IMPERSONATION)
        for name, t0, _, tid in events:
            if name not in self.ops or any(s0 <= t0 <= s1 and stid == tid
                                           for s0, s1, stid in standin_scopes):
                continue
            seen = self.ops_by_case[indices[max(bisect.bisect_right(starts, t0) - 1, 0)]]
            if name not in seen:
                seen.append(name)
        return False


IMPERSONATION = "a profiler scope named like the grader's own (record_function)"


# --------------------------------------------------------------------------- substitutes
_SUBSTITUTE_CALLS = [0]  # stand-in calls so far in this process (see ForbiddenMonitor.__exit__)


def new_scope_names() -> None:
    """Fresh, unguessable names for the grader's profiler scopes (the stand-ins' and the cases'):
    each exercise process draws its own before any student code runs."""
    global SUBSTITUTE_SCOPE, CASE_SCOPE
    SUBSTITUTE_SCOPE = f"llmcourse::substitute::{os.urandom(8).hex()}"
    CASE_SCOPE = f"llmcourse::case::{os.urandom(8).hex()}"


def make_substitute(impl):
    """A stand-in for an earlier exercise, built only from PyTorch built-ins (e.g. the student's
    ``softmax`` while their attention is graded; ``gradelib.STANDINS``), so one bug is charged
    once. Its calls are invisible to the forbidden-call monitor. A class stand-in stays a class:
    its instances' ``forward`` runs inside the stand-ins' scope."""
    if isinstance(impl, type):
        return type(impl.__name__, (impl,), {"__call__": _scoped(impl.__call__)})
    return _scoped(impl)


def _scoped(fn):
    def substitute(*args, **kwargs):
        _SUBSTITUTE_CALLS[0] += 1
        with torch.autograd.profiler.record_function(SUBSTITUTE_SCOPE):
            with torch._C.DisableTorchFunction():
                return fn(*args, **kwargs)

    substitute.__name__ = getattr(fn, "__name__", "standin")
    return substitute


def standins_for(names: dict[str, str]) -> dict:
    """Notebook name -> stand-in object, from notebook name -> exercise id (``gradelib.STANDINS``),
    wrapped by :func:`make_substitute`."""
    return {name: make_substitute(gradelib.STANDINS[key]) for name, key in names.items()}


def student_globals(target) -> dict:
    """The namespace in which the student's ``target`` looks up global names."""
    if hasattr(target, "__globals__"):
        return target.__globals__
    module = sys.modules.get(getattr(target, "__module__", ""), None)
    return vars(module) if module is not None else {}


@contextlib.contextmanager
def substituted(namespace: dict, standins: dict):
    """``standins`` (name -> object) placed in ``namespace`` for the duration. Only for a namespace
    this process owns (the worker's per-exercise copy, a notebook's own globals); grading code
    that lives in a module uses :func:`with_standins` instead."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in standins}
    namespace.update(standins)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def _function_of(member):
    """The plain function behind a class member (a method, static or class method), if any."""
    return member.__func__ if isinstance(member, (staticmethod, classmethod)) else member


def with_standins(target, standins: dict):
    """``target`` as it would be if ``standins`` (name -> object) replaced those names in its
    module: functions and classes of that module are rebound to a copy of its namespace, and the
    module itself is never modified (so grading in threads is safe)."""
    home = student_globals(target)
    if not standins or not home:
        return target
    ns = dict(home)
    rebound: dict[int, object] = {}

    def rebind(obj):
        if id(obj) in rebound:
            return rebound[id(obj)]
        if inspect.isfunction(obj) and obj.__globals__ is home:
            new = types.FunctionType(obj.__code__, ns, obj.__name__, obj.__defaults__,
                                     obj.__closure__)
            new.__kwdefaults__, new.__qualname__ = obj.__kwdefaults__, obj.__qualname__
            new.__dict__.update(obj.__dict__)
            rebound[id(obj)] = new
            return new
        if inspect.isclass(obj) and any(inspect.isfunction(f) and f.__globals__ is home
                                        for f in map(_function_of, vars(obj).values())):
            try:
                new = type(obj.__name__, (obj,), {})  # a subclass: super() keeps working
            except TypeError:  # not subclassable (an Enum with members, a final class)
                return obj
            rebound[id(obj)] = new
            for k, v in vars(obj).items():
                if inspect.isfunction(v):
                    setattr(new, k, rebind(v))
                elif isinstance(v, (staticmethod, classmethod)):
                    setattr(new, k, type(v)(rebind(v.__func__)))
            new.__qualname__, new.__module__ = obj.__qualname__, obj.__module__
            return new
        return obj

    for name, value in home.items():
        if name not in standins:
            ns[name] = rebind(value)
    ns.update(standins)
    return rebind(target)


# --------------------------------------------------------------------------- calling student code
def _arg(spec, tensors, device, requires_grad_out: list):
    """Decode one argument: {"t": i, "noncontig": bool, "grad": bool} or {"v": json value}."""
    if "v" in spec:
        return spec["v"]
    # A fresh copy per call: the student's code may modify its inputs in place, and in process
    # (self-checks) ``tensors`` are the grader's own prepared cases.
    t = tensors[spec["t"]].to(device, copy=True)
    if spec.get("noncontig") and t.dim() >= 2:
        t = t.mT.contiguous().mT  # same values, transposed strides
    if spec.get("grad"):
        t.requires_grad_(True)
        requires_grad_out.append(t)
    return t


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all()) \
        if a.is_floating_point() else torch.equal(a, b)


def _describe(x) -> str:
    if type(x) is torch.Tensor:  # noqa: E721 - never ask a subclass anything: it may lie or raise
        return f"Tensor(shape={tuple(x.shape)}, dtype={x.dtype})"
    return type(x).__name__


def _as_tensor(x):
    """Exact torch.Tensor as is; a Python int/float (a FLOP count, a fitted exponent) as a 0-dim
    int64/float64 tensor; anything else (subclasses included: they can lie) is refused."""
    if type(x) is torch.Tensor:  # noqa: E721
        return x
    if type(x) is int and -(2**63) <= x < 2**63:  # noqa: E721 - bool is not a count
        return torch.tensor(x, dtype=torch.int64)
    if type(x) is float:  # noqa: E721
        return torch.tensor(x, dtype=torch.float64)
    raise TypeError(f"expected a plain torch.Tensor, got {_describe(x)}")


def _as_outputs(result, n_outputs: int):
    """The student's return value as a list of exact torch.Tensor, or raise TypeError explaining."""
    items = [result] if n_outputs == 1 else result
    if n_outputs != 1 and (not isinstance(items, (tuple, list)) or len(items) != n_outputs):
        raise TypeError(f"expected a tuple of {n_outputs} values, got {_describe(result)}")
    return [_as_tensor(x) for x in items]


def driver_for(ex: dict):
    """The driver an exercise's job names (``gradelib.DRIVERS``), if any."""
    return gradelib.DRIVERS[ex["driver"]] if ex.get("driver") else None


def invoke(target, case: dict, tensors: list, *, kind: str = "function", driver=None,
           watch=None):
    """Call the student's ``target`` as ``case`` says; returns (outputs, grads, output_devices).
    ``watch``: a context manager (a :class:`ForbiddenMonitor`) entered around every part that
    runs the student's code: building the module and moving it, the call, backward.

    kind "function": ``target(*args, **kwargs)``; with a ``driver``, ``driver(target, *args,
    **kwargs)`` instead (a chapter-provided program that exercises the target, e.g. 100 steps of
    an optimizer class, and returns what is compared).
    kind "class": ``target(*init_args, **init_kwargs)`` must be an nn.Module; the case's
    ``state`` (parameter name -> tensor) is copied in, the module is moved to the case's device and
    dtype, then ``forward(*args, **kwargs)`` is called.
    When the case has ``grad_outputs``, backward runs and the gradients of every argument marked
    ``grad`` (then of every parameter listed in ``grad_params``) are returned.
    """
    device = case.get("device", "cpu")
    watch = watch if watch is not None else contextlib.nullcontext()
    need_grad: list = []
    args = [_arg(a, tensors, device, need_grad) for a in case.get("args", [])]
    kwargs = {k: _arg(a, tensors, device, need_grad) for k, a in case.get("kwargs", {}).items()}
    module = None
    fn = target
    if kind == "class":
        init = case.get("init", {})
        with watch:
            module = target(*init.get("args", []), **init.get("kwargs", {}))
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"{getattr(target, '__name__', target)} must create an nn.Module")
        params = dict(module.named_parameters())
        with torch.no_grad():
            for name, ref in case.get("state", {}).items():
                if name not in params:
                    raise AttributeError(
                        f"your module has no parameter '{name}' (it has: {', '.join(params) or 'none'})"
                    )
                value = tensors[ref["t"]]
                if params[name].shape != value.shape:
                    raise ValueError(
                        f"parameter '{name}' has shape {tuple(params[name].shape)}, "
                        f"expected {tuple(value.shape)}"
                    )
                params[name].copy_(value)
        with watch:
            module.to(device=device, dtype=torch.__dict__[case["module_dtype"]])
        fn = module
    originals = [(name, t, t.detach().clone()) for name, t in
                 [*enumerate(args), *kwargs.items()] if isinstance(t, torch.Tensor)]
    with watch:
        result = driver(fn, *args, **kwargs) if driver is not None else fn(*args, **kwargs)
    for name, t, before in originals:
        if not _same(t.detach(), before):
            label = f"argument {name}" if isinstance(name, int) else f"argument '{name}'"
            raise RuntimeError(f"your code modified its input ({label}) in place; compute on a "
                               "new tensor instead (e.g. x = x - m, not x -= m)")
    outputs = _as_outputs(result, case.get("n_outputs", 1))
    devices = [str(o.device) for o in outputs]
    grads = []
    if case.get("grad_outputs"):
        gouts = [tensors[g["t"]].to(device) for g in case["grad_outputs"]]
        wrt = need_grad + ([dict(module.named_parameters())[n] for n in case.get("grad_params", [])]
                           if module is not None else [])
        diff = [(o, g) for o, g in zip(outputs, gouts) if o.requires_grad]
        if not diff:
            raise RuntimeError("the output does not require grad: did you detach it or use .data?")
        with watch:
            got = torch.autograd.grad([o for o, _ in diff], wrt, [g for _, g in diff],
                                      allow_unused=True)
        for g, t in zip(got, wrt):
            if g is None:
                raise RuntimeError(f"no gradient reached an input of shape {tuple(t.shape)}: "
                                   "is part of the computation detached?")
            grads.append(g.detach())
    return [o.detach() for o in outputs], grads, devices


def short_traceback(exc: BaseException) -> str:
    """The exception, with only the frames that are in the student's answer cells."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith("<answer cell")]
    lines = [f"  {f.filename}, line {f.lineno}, in {f.name}" for f in frames[-3:]]
    text = "\n".join([f"{type(exc).__name__}: {exc}"] + lines)
    return text[:MAX_MESSAGE]


# --------------------------------------------------------------------------- the job
_MAGIC = re.compile(r"^\s*[%!]")


def strip_magics(source: str) -> str:
    """IPython line magics and shell escapes are not Python; grade the code without them."""
    return "\n".join("pass  # (magic removed)" if _MAGIC.match(line) else line
                     for line in source.splitlines())


def hide_grader_from_imports() -> None:
    """Make the grader's own packages unimportable for student code (defence in depth; the
    sandbox of the strict mode does not mount them at all)."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("autograder", "reference"):
            del sys.modules[name]
    def editable(obj) -> bool:  # setuptools' editable-install finders (classes or instances)
        return any(str(getattr(o, "__module__", "")).startswith("__editable__")
                   for o in (obj, type(obj)))

    sys.meta_path[:] = [f for f in sys.meta_path if not editable(f)]
    sys.path_hooks[:] = [h for h in sys.path_hooks if not editable(h)]
    sys.path_importer_cache.clear()
    sys.path[:] = [p for p in sys.path
                   if not (os.path.isdir(os.path.join(p or ".", "reference"))
                           and os.path.isdir(os.path.join(p or ".", "autograder")))]


_SPARED: set[int] = set()  # in an exercise process: the zygote that forked it


def _stray_processes() -> list[int]:
    """Processes the student's code left running: in the sandbox every process but the
    namespace's init (1), the zygote and this one; in a plain subprocess those of this process's
    session."""
    if not IS_WORKER:
        return []
    me, mine = os.getpid(), os.getsid(0)
    if not SANDBOXED and mine != me and not _SPARED:  # a plain worker leads its own session
        return []
    strays = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) in (me, 1) or int(entry) in _SPARED:
            continue
        try:
            if SANDBOXED or os.getsid(int(entry)) == mine:
                strays.append(int(entry))
        except OSError:
            pass
    return strays


def reap_strays() -> None:
    """Kill what the student's code left running."""
    strays = _stray_processes()
    for _ in range(50):  # a fork bomb keeps forking while it is being killed
        if not strays:
            break
        if SANDBOXED and not _SPARED:
            try:
                os.kill(-1, 9)  # every process we may signal in this pid namespace, but us and init
            except OSError:
                pass
        else:
            for pid in strays:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
        time.sleep(0.02)
        for pid in strays:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass
        strays = _stray_processes()


def _lock_hint(e: BaseException) -> str:
    """Why a thread or process could not be started, when the lock is what refused it."""
    refused = (isinstance(e, RuntimeError) and "can't start new thread" in str(e)) or (
        isinstance(e, OSError) and e.errno == errno.EPERM)
    return ("\n(threads and processes cannot be started while your code is graded: do the work "
            "in the calling thread)") if LOCKED and refused else ""


def run_case(target, ex: dict, case: dict, tensors: list, driver=None, *,
             monitor: ExerciseMonitor) -> tuple[dict, list]:
    """Run one case under the exercise's forbidden-call ``monitor``; returns (report header,
    tensors to send). The ATen ops the case called are known only when the monitor exits."""
    header, sent = _run_case(target, ex, case, tensors, driver, monitor)
    left = _stray_processes()  # after every case, whatever its outcome
    if left:
        reap_strays()
        why = (f"your code left {len(left)} process(es) running after it returned (a background "
               "process, daemon or fork bomb); they were killed")
        if header["status"] == "ok":
            header, sent = {"status": "error", "message": why,
                            "forbidden": header.get("forbidden", [])}, []
        else:
            header["message"] = f"{header.get('message', '')}\n{why}"
    return header, sent


def _run_case(target, ex: dict, case: dict, tensors: list, driver, monitor) -> tuple[dict, list]:
    start = time.perf_counter()
    with monitor.case(case["index"]) as seen:
        try:
            outputs, grads, devices = invoke(target, case, tensors, kind=ex["kind"], driver=driver,
                                             watch=seen)
            if case.get("device", "cpu").startswith("cuda"):
                torch.cuda.synchronize()
        except NotImplementedError as e:
            return {"status": "not_implemented", "message": str(e)[:MAX_MESSAGE],
                    "forbidden": seen.seen}, []
        except BaseException as e:  # noqa: BLE001 - SystemExit/KeyboardInterrupt are the student's
            message = short_traceback(e) + _lock_hint(e)
            return {"status": "error", "message": message[:MAX_MESSAGE],
                    "forbidden": seen.seen}, []
    seconds = time.perf_counter() - start
    return {"status": "ok", "devices": devices, "n_grads": len(grads), "seconds": seconds,
            "forbidden": seen.seen}, outputs + grads


def exercise_monitor(ex: dict) -> ExerciseMonitor:
    return ExerciseMonitor(ex.get("forbidden_functions", []), ex.get("forbidden_ops", []))


# --------------------------------------------------------------------------- the worker process
# One worker (the "zygote") is started per submission. It imports torch and the prelude but never
# runs student code. For each exercise the grader sends it a small "run" request with two fresh
# descriptors (a socket for this exercise's reports and a file for its output); the zygote forks a
# process that closes the zygote's channel, locks itself against new threads and processes,
# loads the answer cells, says "loaded", then receives that exercise's hidden inputs (a file
# descriptor handed over the socket only now), runs its cases, says "end" and exits. So one
# exercise's code can neither see another exercise's inputs nor touch its reports, output or
# clock, and what it prints, how long it takes and how it crashes is charged to it alone.

def _send_on(sock):
    def send(header, ts=()):
        try:
            frame = wire.encode(header, list(ts))
        except (wire.WireError, ValueError) as e:
            frame = wire.encode({k: header[k] for k in ("event", "case") if k in header}
                                | {"status": "bad_output", "message": str(e)[:MAX_MESSAGE]})
        sock.sendall(frame)
    return send


def _warm_up(use_cuda: bool) -> None:
    """Start, before the lock, the threads torch creates lazily (the profiler's; on CUDA the
    context and autograd's device threads), so that the locked exercise can still use them."""
    with _quiet_stderr():
        with torch.autograd.profiler.profile():
            torch.zeros(1).add_(1)
    if use_cuda:
        x = torch.ones(2, device="cuda", requires_grad=True)
        (x * x).sum().backward()
        torch.cuda.synchronize()


def load_cells(ns: dict, cells: list, which: list[int], send) -> None:
    for i in which:
        cell = cells[i]
        send({"event": "cell_start", "index": i})
        error = None
        try:
            source = strip_magics(cell["source"])
            filename = ANSWER_FILENAME.format(cell["id"])
            # as in a notebook kernel, the cell's text is findable by inspect.getsource (Triton's
            # @jit and torch.compile read a function's source) and by tracebacks
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            exec(compile(source, filename, "exec"), ns)
        except BaseException as e:  # noqa: BLE001 - SystemExit/KeyboardInterrupt included
            error = short_traceback(e) + _lock_hint(e)
        if _stray_processes():
            n = len(_stray_processes())
            reap_strays()
            error = (error + "\n" if error else "") + (
                f"it left {n} process(es) running; they were killed")
        _flush_std()
        send({"event": "cell_end", "index": i, "error": error})


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - the student may have replaced or closed them
            pass


def run_exercise(ex: dict, cases: list, tensors: list, ns: dict, send) -> None:
    """Every case of one exercise, in order, one report each, then the ``end`` report with the
    ATen ops charged to each case (see :class:`ExerciseMonitor`)."""
    target = ns.get(ex["name"])
    driver = driver_for(ex)
    monitor = exercise_monitor(ex)
    with substituted(ns, standins_for(ex.get("standins", {}))), monitor:
        for case in cases:
            head = {"event": "case", "case": case["index"]}
            if target is None:
                send(dict(head, status="missing", message=f"'{ex['name']}' is not defined"))
                continue
            header, outs = run_case(target, ex, case, tensors, driver, monitor=monitor)
            _flush_std()
            send(head | header, outs)
    _flush_std()
    send({"event": "end", "forbidden_ops": [[i, ops] for i, ops in monitor.ops_by_case.items()
                                            if ops]})


def exercise_process(job: dict, base_ns: dict, request: dict, sock, out_fd: int) -> None:
    """The forked process of one exercise (never returns)."""
    global LOCKED
    code = 1
    _SPARED.add(os.getppid())
    try:
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        send = _send_on(sock)
        ex = request["exercise"]
        use_cuda = bool(request.get("cuda"))
        lock = None
        new_scope_names()
        if request.get("lock"):
            _warm_up(use_cuda)
            lock = nospawn.forbid_new_tasks()  # None: applied; else why not
        LOCKED = request.get("lock", False) and lock is None
        # sent before any student code runs in this process, so no cell can have forged it
        send({"event": "started", "locked": LOCKED, "lock_error": lock})
        torch.manual_seed(0)  # the student's own randomness; never the grader's input seed
        ns = dict(base_ns)
        load_cells(ns, job["cells"], request["cells"], send)
        send({"event": "loaded"})
        [fd] = wire.recv_fds(sock, 1)  # this exercise's inputs, handed over only now
        with os.fdopen(fd, "rb") as f:
            inputs, tensors = wire.read_stream(f)
        run_exercise(ex, inputs["cases"], tensors, ns, send)
        code = 0
    except BaseException:  # noqa: BLE001 - the grader sees the missing frames and the status
        pass
    finally:
        os._exit(code)  # no atexit handlers or finalizers of the student's code


def _warm_dynamo() -> None:
    import torch._dynamo  # noqa: F401 - imported lazily by optimizers, torch.func, decompositions

    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    torch.optim.SGD([p], lr=0.1, momentum=0.9).step()


# What a chapter may ask the zygote to pay once (``Chapter.warm_ups``): lazy imports that would
# otherwise be paid again in every forked exercise process.
WARM_UPS = {"dynamo": _warm_dynamo}


def zygote(job: dict, control) -> None:
    """Serve "run" requests until the grader closes the channel."""
    base_ns: dict = {"__name__": "__student__", "__builtins__": __builtins__}
    exec(compile(job.get("prelude", ""), "<prelude>", "exec"), base_ns)
    _warm_up(use_cuda=False)  # the profiler's one-time set-up, once (its thread dies in a fork)
    x = torch.ones(2, requires_grad=True)  # autograd.grad's first call imports sympy (≈0.25 s)
    torch.autograd.grad((x * x).sum(), [x], torch.ones(()))
    for name in job.get("warm_ups", []):
        WARM_UPS[name]()
    nospawn.forbid_ptrace_of_self()
    send = _send_on(control)
    read_exact = _socket_reader(control)
    send({"event": "ready"})
    while True:
        try:
            fds = wire.recv_fds(control, 2, skip=wire.STOP_MARKER)
        except (wire.WireError, OSError):
            return  # the grader is done (or gone)
        request, _ = wire.read_frame(read_exact)
        sock = socket.socket(fileno=fds[0])
        _flush_std()
        pid = os.fork()
        if pid == 0:
            control.close()
            exercise_process(job, base_ns, request, sock, fds[1])
        sock.close()
        os.close(fds[1])
        send({"event": "forked", "index": request["index"], "pid": pid})
        status = wait_exercise_process(pid, control)
        reap_strays()
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        send({"event": "exited", "index": request["index"], "code": code})


def wait_exercise_process(pid: int, control) -> int:
    """Wait for the exercise process ``pid`` to end; its wait status. A byte from the grader
    meanwhile (``wire.STOP_MARKER``), or the grader closing the channel, kills it first: a locked
    process that hangs is ended alone, and the zygote serves the next exercise."""
    try:
        pidfd = os.pidfd_open(pid)  # readable once the process has ended (Linux 5.3+)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            watched = [control] if pidfd is None else [control, pidfd]
            ready, _, _ = select.select(watched, [], [], 0.01 if pidfd is None else None)
            if control in ready:
                control.recv(1)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
                return os.waitpid(pid, 0)[1]
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _socket_reader(sock):
    def read_exact(n):
        chunks, got = [], 0
        while got < n:
            b = sock.recv(min(n - got, 1 << 20))
            if not b:
                raise wire.WireError("channel closed")
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)
    return read_exact


def main(argv: list[str]) -> None:
    job_file, fd = argv[1], int(argv[2])
    job, _ = wire.read_file(job_file)
    control = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    global IS_WORKER, SANDBOXED
    IS_WORKER = True
    SANDBOXED = bool(job.get("sandboxed")) and os.getuid() != 0 and os.getpid() <= 3
    hide_grader_from_imports()
    torch.set_num_threads(1)
    zygote(job, control)
    # Nothing to clean up: leave without the interpreter's teardown, which with torch loaded took
    # ~1.2 s after the grader closed the channel (measured), time the grader spent waiting.
    _flush_std()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
