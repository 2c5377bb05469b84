"""What a chapter declares: exercises, their cases, and their catalogs — data, not harness code.

A chapter module (``autograder/chapters/chNN_*.py``) builds one :class:`Chapter`. Everything that
runs those declarations — input generation, calling the student, tolerances, diagnostics, timeouts —
lives in the shared harness, so every chapter is graded the same way.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from autograder import baked, gradelib
from autograder.forbidden import NOTHING, Forbidden
from autograder.symbolic import Answer, Derivation
from autograder.worker import standins_for

FLOAT_DTYPES_CPU = (torch.float64, torch.float32, torch.bfloat16)
FLOAT_DTYPES_CUDA = (torch.float32, torch.bfloat16, torch.float16)


@dataclass(kw_only=True)
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
    # ``explain(index, case) -> str``: what the input behind an output element is, named in the
    # message when that element is wrong (e.g. the pair of strings scored there). Grader side only.
    explain: Callable | None = None
    # What each output is, named in messages ("output 2 (global RNG state unchanged): got 0,
    # expected 1"), for outputs that are a driver's measurements rather than the function's return.
    output_names: tuple[str, ...] = ()


class Precision(str, enum.Enum):
    """Which dtypes an exercise's cases are declared in."""

    ALL = "all"  # float64, float32 and bfloat16 on the CPU; float32, bfloat16, float16 on CUDA
    # integer codes obtained by rounding a quotient, which a 16-bit dtype cannot determine
    # (bfloat16 resolves x / scale near 127 only to 0.5): float64 and float32
    NO_16_BIT = "no 16-bit"
    # Python data and numbers (strings, token lists, scores) or an exact answer over float64
    # log-probabilities: one float64 cell on the CPU (``CaseBuilder.float64_grid``)
    FLOAT64 = "float64"
    # integer inputs and a ratio out (rates of counts): one cell of the default dtype, float32,
    # whose tolerance a float32 computation meets (``CaseBuilder.default_grid``)
    DEFAULT_FLOAT32 = "default float32"


class Kind(str, enum.Enum):
    """What the student defines: a function called per case, an nn.Module class built per case,
    or a formula (a symbolic answer: read from the answer cell's text and judged in the grader,
    never run; ``autograder.derivation``)."""

    FUNCTION = "function"
    CLASS = "class"
    SYMBOLIC = "symbolic"


@dataclass(kw_only=True)
class Mistake:
    """A plausible wrong implementation; the grader runs it on failing cases and names the mistake
    when the student's output matches it.

    Most mistakes are a ``patch`` on the solution's answer cell: ``{old: new}``, each ``old`` found
    exactly once in the solution's code (checked when first used, and for every mistake by the
    platform's tests), so the mistake cannot drift from the solution it mutates. A mistake that
    needs more is a function ``fn`` with the exercise's signature. Either way, once its chapter is
    declared, ``impl`` is the callable and ``source`` the answer-cell text that defines it."""

    key: str  # short id, e.g. "no_max_subtraction"
    title: str  # "softmax without subtracting the max"
    hint: str  # what to check in one sentence
    fn: Callable | None = None
    patch: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if (self.fn is None) == (not self.patch):
            raise ValueError(f"mistake {self.key!r}: give exactly one of fn= and patch=")
        self._chapter: Chapter | None = None
        self._exercise: Exercise | None = None
        self._impl = self.fn

    def bind(self, chapter: "Chapter", exercise: "Exercise") -> None:
        self._chapter, self._exercise = chapter, exercise

    @property
    def source(self) -> str | None:
        """The answer-cell text of a patched mistake (None for a function mistake)."""
        if not self.patch:
            return None
        if self._exercise is None:
            raise RuntimeError(f"mistake {self.key!r} is not part of a declared chapter")
        return apply_patch(self._chapter.solution(self._exercise.id), self.patch,
                           f"{self._exercise.id} mistake {self.key!r}")

    @property
    def impl(self) -> Callable:
        if self._impl is None and self._exercise.kind is Kind.SYMBOLIC:
            self._impl = Answer(self.key, self.source)  # a formula is graded as text
        if self._impl is None:
            ns = self._chapter.answer_namespace()
            source = self.source
            exec(compile(source, f"<mistake {self.key}>", "exec", dont_inherit=True), ns)  # noqa: S102
            self._impl = ns[self._exercise.name]
            self._impl.__llmcourse_source__ = source  # what examples.answer_source pastes
        return self._impl


def apply_patch(source: str, patch: dict[str, str], what: str) -> str:
    """``source`` with each ``old`` of ``patch`` replaced by its ``new``; each ``old`` must occur
    exactly once (a patch that no longer applies says so instead of grading something else)."""
    for old, new in patch.items():
        count = source.count(old)
        if count != 1:
            raise ValueError(f"{what}: {old!r} occurs {count} times in the solution (needs 1)")
        source = source.replace(old, new)
    return source


@dataclass(kw_only=True)
class Exercise:
    id: str  # "ch04.softmax": stable, external tools bind to it
    name: str  # the notebook name the student defines
    points: float
    # function or nn.Module class with the student's signature; for a symbolic answer, a
    # function of SymPy symbols (the derivation's, in order) that returns the formula
    reference: Callable
    cases: Callable[["CaseBuilder"], list[Case]] | None = None  # None: a symbolic answer
    kind: Kind = Kind.FUNCTION
    # A symbolic answer's symbols and their domains (``Kind.SYMBOLIC`` only)
    derivation: Derivation | None = None
    # PyTorch calls that would do the exercise for the student (named sets: autograder.forbidden)
    forbidden: Forbidden = NOTHING
    forbidden_hint: str = ""  # what to use instead
    mistakes: tuple[Mistake, ...] = ()
    # Other exercises this one may call (their ids), replaced while it is graded by their
    # built-in stand-ins (``gradelib.STANDINS``), so that one bug is charged to one exercise only.
    standins: tuple[str, ...] = ()
    timeout_floor_s: float = 20.0  # minimum wall time for this exercise's cases
    # What the exercise needs besides the CPU, e.g. ("cuda", "triton"). Where it is missing the
    # exercise has no cases and is reported "ungraded on this machine", never as passed.
    requires: tuple[str, ...] = ()
    # Its driver starts processes or threads (e.g. two data-parallel ranks): its process is not
    # locked against new threads and processes, so its verdict must rest on outputs only (no
    # forbidden calls, no observed property; checked when the chapter is declared).
    spawns: bool = False
    # A program that exercises the target instead of one call (e.g. 100 optimizer steps): the
    # name of a driver of the grading library (``gradelib.DRIVERS``).
    driver: str | None = None
    # Its cases compare no output with the reference (``Case.compared == ()``: properties only)
    # and the reference is itself a costly measurement (a training run): it is run once, in the
    # case's dtype, for the outputs' dtypes and shapes, not a second time in float64.
    measured_once: bool = False
    # The dtypes it is graded in (declared, so that a forgotten dtype is not mistaken for a
    # policy; tests/chapters/test_chapter_declarations.py checks the cases against it).
    precision: Precision | None = None

    def __post_init__(self):
        self.kind = Kind(self.kind)
        self.precision = Precision(self.precision or Precision.ALL)
        if (self.kind is Kind.SYMBOLIC) != (self.derivation is not None):
            raise ValueError(f"{self.id}: a symbolic answer declares derivation= (and only it)")
        if (self.kind is Kind.SYMBOLIC) == (self.cases is not None):
            raise ValueError(f"{self.id}: cases= for code exercises; a symbolic answer has none")
        if self.kind is Kind.SYMBOLIC and (self.driver or self.standins or self.requires
                                           or self.spawns or self.mistakes and any(
                                               m.fn for m in self.mistakes)):
            raise ValueError(f"{self.id}: a symbolic answer is read, not run: no driver, "
                             "stand-ins, requirements, or function mistakes (patch the formula)")
        if not isinstance(self.forbidden, Forbidden):
            raise TypeError(f"{self.id}: forbidden= takes a set from autograder.forbidden")
        for key in self.standins:
            if key not in gradelib.STANDINS:
                raise ValueError(f"{self.id}: no stand-in registered for {key!r} (gradelib)")
        if self.driver is not None and self.driver not in gradelib.DRIVERS:
            raise ValueError(f"{self.id}: no driver named {self.driver!r} in gradelib")

    @property
    def driver_fn(self) -> Callable | None:
        return gradelib.DRIVERS[self.driver] if self.driver else None

    @property
    def standin_names(self) -> dict[str, str]:
        """Notebook name -> exercise id of each stand-in (a stand-in is named like what it
        replaces)."""
        return {gradelib.STANDINS[key].__name__: key for key in self.standins}

    def standin_objects(self) -> dict:
        """Notebook name -> the stand-in, wrapped as the worker wraps it."""
        return standins_for(self.standin_names)

    def mistake(self, key: str) -> Mistake:
        for m in self.mistakes:
            if m.key == key:
                return m
        raise KeyError(f"{self.id} has no catalogued mistake {key!r}")

    @property
    def answer_cell_id(self) -> str:
        return self.id.replace(".", "_") + "_answer"

    @property
    def check_cell_id(self) -> str:
        return self.id.replace(".", "_") + "_check"


@dataclass(kw_only=True)
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
    # The book's sections this notebook follows, in order: "4.3 Softmax" is a "## 4.3 ..." heading
    # whose title contains "Softmax" (a word of the book's title; the number alone where the
    # title is not pinned). Material beyond the book is a marked "###" subsection of the nearest
    # section. Empty: not yet matched to the book's table of contents (its numbered headings must
    # still start with the chapter's number and increase).
    book_sections: tuple[str, ...] = ()

    def __post_init__(self):
        for ex in self.exercises:
            for m in ex.mistakes:
                m.bind(self, ex)
        self._namespace: dict | None = None

    def solution(self, exercise_id: str) -> str:
        """The solution's answer-cell text (baked from course/ at build time)."""
        return baked.load(self.id).solutions[exercise_id]

    def answer_namespace(self) -> dict:
        """A fresh namespace like the one an answer cell runs in: the prelude, the given cells,
        and the chapter's exercises (their references; stand-ins replace them where graded)."""
        if self._namespace is None:
            ns: dict = {"__name__": f"llmcourse_{self.id}_answers"}
            exec(compile(self.prelude, "<prelude>", "exec", dont_inherit=True), ns)  # noqa: S102
            ns.update({ex.name: ex.reference for ex in self.exercises})
            for i, src in enumerate(baked.load(self.id).given):
                exec(compile(src, f"<given {i}>", "exec", dont_inherit=True), ns)  # noqa: S102 - course's own code
            self._namespace = ns
        return dict(self._namespace)

    @property
    def label(self) -> str:
        """"Chapter 4", or "Appendix A" for an appendix (id "appA")."""
        if self.id.startswith("app"):
            return f"Appendix {self.id[3:]}"
        return f"Chapter {int(self.id[2:])}"

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

    def grid(self, rows: Callable[[Cell], Any], *, exclude: tuple = (),
             devices: tuple[str, ...] | None = None, public_dtype: torch.dtype = torch.float32,
             no_grad_in: tuple = (torch.bfloat16,)) -> list[Case]:
        """The cases ``rows(cell)`` declares, for every device × dtype cell (see :class:`Cell`);
        ``exclude`` drops dtypes (e.g. float16 where values overflow it); ``devices`` keeps only
        those of the graded devices (e.g. ("cpu",) for a fit in float64 or Python numbers)."""
        cases: list[Case] = []
        for device in self.devices:
            if devices is not None and device not in devices:
                continue
            for dtype in self.dtypes(device):
                if dtype in exclude:
                    continue
                cell = Cell(self, device, dtype, public=dtype == public_dtype and device == "cpu",
                            grads=dtype not in no_grad_in)
                rows(cell)
                cases.extend(cell.cases)
        return cases

    def exact_grid(self, declare: Callable[[Callable], Any]) -> list[Case]:
        """The cases of an exercise whose inputs are all integers (or Python numbers) and whose
        outputs are compared exactly: ``declare(row)`` calls ``row(name, *args, public=...,
        **kw)`` once per case, like a :class:`Cell`. The dtype changes nothing there, so each row
        is declared in one cell of the grid only, the dtypes taken in turn (public rows in
        float32, where the self-check runs): every dtype still labels some case."""
        def rows(c: Cell):
            dtypes, count = self.dtypes(c.device), [0]

            def row(name, *args, public=False, **kw):
                count[0] += 1
                if c.dtype == (torch.float32 if public else dtypes[count[0] % len(dtypes)]):
                    c(name, *args, public=public, **kw)
            declare(row)
        return self.grid(rows)

    def float64_grid(self, rows: Callable[[Cell], Any]) -> list[Case]:
        """The cases of an exercise graded in float64 on the CPU only: Python data in and Python
        numbers out (strings, token lists, scores), or a search over float64 log-probabilities
        whose answer is exact. One cell, public rows included."""
        return self.grid(rows, devices=("cpu",), public_dtype=torch.float64,
                         exclude=tuple(d for d in FLOAT_DTYPES_CPU if d != torch.float64))

    def default_grid(self, rows: Callable[[Cell], Any]) -> list[Case]:
        """The cases of an exercise on integer inputs with a floating result (a rate of counts):
        one cell of the default dtype, float32, on the CPU, public rows included."""
        return self.grid(rows, devices=("cpu",), public_dtype=torch.float32,
                         exclude=tuple(d for d in FLOAT_DTYPES_CPU if d != torch.float32))

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


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class Cell:
    """One (device, dtype) of a case grid (:meth:`CaseBuilder.grid`). Calling it declares a case
    of that cell, so a chapter's cases read as a table of rows::

        def softmax_cases(b):
            def rows(c):
                c("x (7,)", c.randn(7), public=True)
                c("x (4, 6), dim=0", c.randn(4, 6), tags=("dim ≠ -1",), dim=0)
            return b.grid(rows)

    The grid owns the policies: the case name starts with the dtype; ``public`` (the notebook's
    self-check) holds in the public cell only (float32 on CPU by default); gradients are not
    checked in the dtypes that exclude them (bfloat16 by default); the case runs on the cell's
    device. Keyword arguments that are not fields of :class:`Case` go to the student's function.
    """

    def __init__(self, b: "CaseBuilder", device: str, dtype: torch.dtype, *, public: bool,
                 grads: bool):
        self.b, self.device, self.dtype = b, device, dtype
        self.is_public, self.grads = public, grads
        self.cases: list[Case] = []

    def __call__(self, name: str, *args, tags=(), public=False, grad=(), grad_params=(),
                 noncontig=(), init=None, state=None, checks=(), compared=None, n_outputs=1,
                 dtype=None, kwargs=None, explain=None, output_names=(), **call_kwargs) -> Case:
        case = Case(name=f"{dtype_name(self.dtype)}, {name}", args=list(args),
                    kwargs={**(kwargs or {}), **call_kwargs}, dtype=dtype or self.dtype,
                    tags=tuple(tags), public=bool(public) and self.is_public, device=self.device,
                    grad=tuple(grad) if self.grads else (), noncontig=tuple(noncontig),
                    init=init or {}, state=state or {},
                    grad_params=tuple(grad_params) if self.grads else (), n_outputs=n_outputs,
                    checks=tuple(checks), compared=compared, explain=explain,
                    output_names=tuple(output_names))
        self.cases.append(case)
        return case

    @property
    def low(self) -> bool:
        """A 16-bit dtype (bfloat16 or float16)."""
        return self.dtype in (torch.bfloat16, torch.float16)

    # inputs drawn by the builder, rounded to the cell's dtype
    def randn(self, *shape, **kw):
        return self.b.randn(*shape, dtype=self.dtype, **kw)

    def rand(self, *shape, **kw):
        return self.b.rand(*shape, dtype=self.dtype, **kw)

    def probabilities(self, *shape):
        return self.b.probabilities(*shape, dtype=self.dtype)

    def float_mask(self, *shape, **kw):
        return self.b.float_mask(*shape, dtype=self.dtype, **kw)

    def module_state(self, reference_module: torch.nn.Module, scale: float = 1.0) -> dict:
        return self.b.module_state(reference_module, self.dtype, scale)

    def __getattr__(self, name):  # bool_mask, randint, gen: the builder's own
        return getattr(self.b, name)


HARDWARE = ("cuda", "triton")  # requirements that are a device or its compiler, not a package


def package_requirements(requires: tuple[str, ...]) -> tuple[str, ...]:
    """The Python packages among ``requires`` (what an environment can install)."""
    return tuple(r for r in requires if r not in HARDWARE)


def missing_requirements(requires: tuple[str, ...]) -> list[str]:
    """The parts of ``requires`` this machine lacks ("cuda": a CUDA device; "triton": the Triton
    compiler, or its CPU interpreter when TRITON_INTERPRET=1, which the platform's tests use;
    any other name: that Python package, e.g. "safetensors", of the optional extra "practice")."""
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
        elif need in package_requirements(requires) and importlib.util.find_spec(need) is None:
            missing.append(f"the package {need} (pip install 'llmcourse[practice]')")
    return missing
