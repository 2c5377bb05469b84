"""Turning a declared :class:`~autograder.spec.Case` into what gets run: the wire form sent to the
worker, and the trusted reference results (float64 truth and same-dtype naive run) it is judged by."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from autograder import tolerance
from autograder.spec import Case, CaseBuilder, Exercise, dtype_name, seed_for
from autograder.worker import invoke


def _cast(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is not None and t.is_floating_point():
        return t.to(dtype)
    return t


class _Packer:
    """Collects tensors into one list and hands out ``{"t": index}`` references."""

    def __init__(self, tensors: list, cast: torch.dtype | None, device: str | None):
        self.tensors, self.cast, self.device = tensors, cast, device

    def ref(self, t: torch.Tensor) -> dict:
        t = _cast(t, self.cast)
        if self.device is not None:
            t = t.to(self.device)
        self.tensors.append(t)
        return {"t": len(self.tensors) - 1}

    def arg(self, value, key, case: Case) -> dict:
        if isinstance(value, torch.Tensor):
            spec = self.ref(value)
            if key in case.noncontig:
                spec["noncontig"] = True
            if key in case.grad:
                spec["grad"] = True
            return spec
        return {"v": value}


def to_wire(case: Case, index: int, tensors: list, *, cast: torch.dtype | None = None,
            device: str | None = None, grad_outputs: list | None = None) -> dict:
    """The JSON-able description of ``case`` for :func:`autograder.worker.invoke`; its tensors are
    appended to ``tensors``. ``cast`` re-types every floating tensor (float64 for the truth)."""
    p = _Packer(tensors, cast, device)
    out = {
        "index": index,
        "device": device or case.device,
        "args": [p.arg(a, i, case) for i, a in enumerate(case.args)],
        "kwargs": {k: p.arg(v, k, case) for k, v in case.kwargs.items()},
        "n_outputs": case.n_outputs,
    }
    if case.init or case.state:
        out["init"] = case.init
        out["state"] = {k: p.ref(v) for k, v in case.state.items()}
        out["module_dtype"] = dtype_name(cast or case.dtype)
        out["grad_params"] = list(case.grad_params)
    if grad_outputs:
        out["grad_outputs"] = [p.ref(g) for g in grad_outputs]
    return out


def run_reference(impl, ex: Exercise, case: Case, *, cast=None, device=None, grad_outputs=None):
    """Run a trusted implementation (the reference or a catalogued mistake) on ``case``."""
    tensors: list = []
    spec = to_wire(case, 0, tensors, cast=cast, device=device, grad_outputs=grad_outputs)
    outputs, grads, _ = invoke(impl, spec, tensors, kind=ex.kind, driver=ex.driver_fn)
    return [o.cpu() for o in outputs], [g.cpu() for g in grads]


@dataclass
class Prepared:
    """A case with everything the trusted side knows about it before the student runs."""

    index: int
    case: Case
    tags: tuple[str, ...]
    truth: list  # float64 outputs then float64 gradients, on CPU
    allowed: list  # max abs error allowed per tensor in ``truth``
    expected_dtypes: list
    grad_outputs: list = field(default_factory=list)
    ref_seconds: float = 0.0
    n_outputs: int = 1
    # Outputs of catalogued mistakes on this case, (mistake key, cast) -> outputs or None if the
    # mistake raised: computed once per plan, reused for every submission graded with it.
    mistake_outputs: dict = field(default_factory=dict, repr=False, compare=False)


def case_tags(case: Case) -> tuple[str, ...]:
    tags = [dtype_name(case.dtype)]
    if case.device != "cpu":
        tags.append("CUDA")
    if case.noncontig:
        tags.append("non-contiguous inputs")
    if case.grad or case.grad_params:
        tags.append("gradients")
    return tuple(tags) + tuple(case.tags)


def prepare(ex: Exercise, case: Case, index: int) -> Prepared:
    start = time.perf_counter()
    naive_out, _ = run_reference(ex.reference, ex, case)
    grad_outputs = []
    if case.grad or case.grad_params:
        gen = torch.Generator().manual_seed(seed_for(ex.id, "grad", index))
        grad_outputs = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype)
                        for o in naive_out]
        naive_out, naive_grads = run_reference(ex.reference, ex, case, grad_outputs=grad_outputs)
    else:
        naive_grads = []
    if ex.measured_once:  # properties only (checked when the chapter is declared)
        truth_out, truth_grads = naive_out, naive_grads
    else:
        truth_out, truth_grads = run_reference(ex.reference, ex, case, cast=torch.float64,
                                               device="cpu", grad_outputs=grad_outputs)
    seconds = time.perf_counter() - start
    naive = naive_out + naive_grads
    truth = truth_out + truth_grads
    scale = tolerance.input_scale([*case.args, *case.kwargs.values(), *case.state.values()])
    allowed = [tolerance.allowed_error(t, n, case.dtype, scale) for t, n in zip(truth, naive)]
    return Prepared(index, case, case_tags(case), truth, allowed, [n.dtype for n in naive],
                    grad_outputs, seconds, len(naive_out))


def exercise_job(ex: Exercise) -> dict:
    """What the worker needs to know about an exercise (no reference, no expected values)."""
    return {"id": ex.id, "name": ex.name, "kind": ex.kind.value,
            "forbidden_functions": list(ex.forbidden.functions),
            "forbidden_ops": list(ex.forbidden.ops), "standins": ex.standin_names,
            "driver": ex.driver}


def build_cases(ex: Exercise, seed: int = 0, devices: tuple[str, ...] = ("cpu",)) -> list[Case]:
    if ex.cases is None:  # a symbolic answer: judged from its text, no case runs
        return []
    return ex.cases(CaseBuilder(ex.id, seed, devices))


def cuda_devices() -> tuple[str, ...]:
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
