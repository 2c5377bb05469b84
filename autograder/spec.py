"""What a chapter declares: exercises, their cases, and their catalogs — data, not harness code.

A chapter module (``autograder/chapters/chNN_*.py``) builds one :class:`Chapter`. Everything that
runs those declarations — input generation, calling the student, tolerances, diagnostics, timeouts —
lives in the shared harness, so every chapter is graded the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

FLOAT_DTYPES_CPU = (torch.float64, torch.float32, torch.bfloat16)
FLOAT_DTYPES_CUDA = (torch.float32, torch.bfloat16, torch.float16)


@dataclass
class Case:
    """One call of the student's code. Tensors in ``args``/``kwargs``/``state`` are already in the
    dtype under test (bool and integer tensors are never cast)."""

    name: str  # shown to the student, e.g. "float32, q (2, 3, 5, 8), causal, L≠S"
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    dtype: torch.dtype = torch.float32  # the precision under test (drives the tolerance)
    tags: tuple[str, ...] = ()  # e.g. ("causal mask", "L ≠ S"): used to say *which* cases fail
    public: bool = False  # part of the in-notebook self-check
    device: str = "cpu"
    grad: tuple = ()  # positions / kwarg names of inputs whose gradient is checked
    noncontig: tuple = ()  # positions / kwarg names passed as non-contiguous views
    init: dict = field(default_factory=dict)  # class exercises: {"args": [...], "kwargs": {...}}
    state: dict = field(default_factory=dict)  # class exercises: parameter name -> tensor
    grad_params: tuple = ()  # class exercises: parameters whose gradient is checked
    n_outputs: int = 1
    # Properties checked on the student's outputs besides the comparison with the reference:
    # ``check(outputs, case) -> None | str`` (the string says what is violated), run in the grader.
    checks: tuple[Callable, ...] = ()
    # Outputs compared with the reference (None: all of them). The others are measurements (a
    # throughput, the dtypes seen in matmuls) that differ from run to run and are judged by
    # ``checks`` only.
    compared: tuple[int, ...] | None = None


@dataclass
class Mistake:
    """A plausible wrong implementation. ``impl`` has the exercise's signature; the grader runs it
    on failing cases and names the mistake when the student's output matches it."""

    key: str  # short id, e.g. "no_max_subtraction"
    title: str  # "softmax without subtracting the max"
    hint: str  # what to check in one sentence
    impl: Callable


@dataclass
class Exercise:
    id: str  # "ch04.softmax": stable, external tools bind to it
    name: str  # the notebook name the student defines
    points: float
    reference: Callable  # function or nn.Module class with the student's signature
    cases: Callable[["CaseBuilder"], list[Case]]
    kind: str = "function"  # or "class"
    forbidden_functions: tuple[str, ...] = ()  # dotted names, e.g. "torch.softmax"
    forbidden_ops: tuple[str, ...] = ()  # ATen op names seen by the profiler, e.g. "aten::_softmax"
    forbidden_hint: str = ""  # what to use instead
    mistakes: tuple[Mistake, ...] = ()
    alternatives: tuple[Callable, ...] = ()  # correct variants written differently (must pass)
    # Earlier exercises this one may call, replaced while it is graded by a PyTorch built-in
    # (name -> expression over `torch`/`F`), so that one bug is charged to one exercise only.
    substitutes: dict[str, str] = field(default_factory=dict)
    timeout_floor_s: float = 20.0  # minimum wall time for this exercise's cases
    # What the exercise needs besides the CPU, e.g. ("cuda", "triton"). Where it is missing the
    # exercise has no cases and is reported "ungraded on this machine", never as passed.
    requires: tuple[str, ...] = ()
    # Its driver starts processes or threads (e.g. two data-parallel ranks): its process is not
    # locked against new threads and processes, so its verdict must rest on outputs only (no
    # forbidden calls, no observed property; checked when the chapter is declared).
    spawns: bool = False
    # Optional program that exercises the target instead of one call: ``drive*(target, *args,
    # **kwargs)`` -> tensors/numbers (e.g. 100 optimizer steps). A module-level function using
    # only ``torch`` and ``math``; its source is sent to the worker (it holds no expected values).
    driver: Callable | None = None

    @property
    def answer_cell_id(self) -> str:
        return self.id.replace(".", "_") + "_answer"

    @property
    def check_cell_id(self) -> str:
        return self.id.replace(".", "_") + "_check"


@dataclass
class Chapter:
    id: str  # "ch04"
    title: str
    notebook: str  # path of the source under course/, e.g. "ch04_attention/ch04_attention.py"
    exercises: list[Exercise]
    prelude: str = (
        "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
    )
    # One-time lazy costs paid once in the worker before any exercise process is forked, instead
    # of once per exercise (names of ``worker.WARM_UPS``, e.g. "dynamo": the first optimizer step
    # or torch.func call imports torch._dynamo, about 1-1.7 s).
    warm_ups: tuple[str, ...] = ()

    @property
    def assignment(self) -> str:
        """nbgrader assignment name (the folder under source/, release/, submitted/...)."""
        return self.notebook.split("/")[0]

    @property
    def notebook_stem(self) -> str:
        return self.notebook.split("/")[-1].rsplit(".", 1)[0]

    def exercise(self, key: str) -> Exercise:
        for ex in self.exercises:
            if key in (ex.id, ex.name):
                return ex
        raise KeyError(f"{self.id} has no exercise {key!r}")

    @property
    def max_points(self) -> float:
        return sum(ex.points for ex in self.exercises)


# --------------------------------------------------------------------------- input generation
def seed_for(*parts: Any) -> int:
    """A stable 63-bit seed from strings/ints (Python's hash() is salted per process)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class CaseBuilder:
    """Seeded input generation shared by all chapters. Values are drawn in float64 and then rounded
    to the dtype under test, so the float64 truth sees exactly the student's inputs."""

    def __init__(self, exercise_id: str, seed: int = 0, devices: tuple[str, ...] = ("cpu",)):
        self.gen = torch.Generator().manual_seed(seed_for(exercise_id, seed))
        self.devices = devices

    def dtypes(self, device: str = "cpu") -> tuple[torch.dtype, ...]:
        return FLOAT_DTYPES_CUDA if device.startswith("cuda") else FLOAT_DTYPES_CPU

    def randn(self, *shape, dtype=torch.float64, scale: float = 1.0, shift: float = 0.0):
        x = torch.randn(*shape, generator=self.gen, dtype=torch.float64) * scale + shift
        return x.to(dtype)

    def rand(self, *shape, dtype=torch.float64, low: float = 0.0, high: float = 1.0):
        x = torch.rand(*shape, generator=self.gen, dtype=torch.float64) * (high - low) + low
        return x.to(dtype)

    def bool_mask(self, *shape, p_attend: float = 0.7, keep_one: bool = True):
        """Random boolean mask (True = attend). ``keep_one`` guarantees every query row attends to
        at least one key, so no row is fully masked."""
        m = torch.rand(*shape, generator=self.gen) < p_attend
        if keep_one:
            first = torch.randint(0, shape[-1], shape[:-1], generator=self.gen)
            m.scatter_(-1, first.unsqueeze(-1), True)
        return m

    def float_mask(self, *shape, dtype=torch.float64, p_attend: float = 0.7):
        """Additive mask: random finite biases, -inf where a key is hidden (never a full row)."""
        bias = self.randn(*shape, dtype=torch.float64)
        hidden = ~self.bool_mask(*shape, p_attend=p_attend)
        return bias.masked_fill(hidden, float("-inf")).to(dtype)

    def probabilities(self, *shape, dtype=torch.float64):
        p = torch.softmax(self.randn(*shape) * 2.0, dim=-1)
        return p.to(dtype)

    def randint(self, low: int, high: int, shape):
        return torch.randint(low, high, shape, generator=self.gen)

    def module_state(self, reference_module: torch.nn.Module, dtype, scale: float = 1.0) -> dict:
        """Fresh random values for every parameter of a reference module, rounded to ``dtype``."""
        state = {}
        for name, p in reference_module.named_parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else p.shape[0]
            state[name] = self.randn(*p.shape, dtype=dtype, scale=scale / fan_in ** 0.5)
        return state


def missing_requirements(requires: tuple[str, ...]) -> list[str]:
    """The parts of ``requires`` this machine lacks ("cuda": a CUDA device; "triton": the Triton
    compiler, or its CPU interpreter when TRITON_INTERPRET=1, which the platform's tests use)."""
    import importlib.util
    import os

    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    missing = []
    for need in requires:
        if need == "triton" and importlib.util.find_spec("triton") is None:
            missing.append("Triton")
        elif need == "cuda" and not torch.cuda.is_available() and not (
                interpret and "triton" in requires):
            missing.append("a CUDA GPU")
    return missing
