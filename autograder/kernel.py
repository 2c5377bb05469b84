"""What runs inside the student's notebook kernel.

``self_check`` is the public check a student runs from the check cell under each exercise: the
exercise's public cases, with the same judge and messages as the real grader. ``hidden_check`` is
what nbgrader's hidden test cell calls during ``nbgrader autograde``: every case, raising
``AssertionError`` (so nbgrader scores the cell 0) with the teaching message when anything fails.

Both run in the student's process and therefore trust it; ``llmcourse grade``/``check`` decide
verdicts out of process (see README, "Which path to trust").
"""

from __future__ import annotations

import warnings

from autograder import cases as case_mod
from autograder import grade
from autograder.chapters import find_exercise
from autograder.derivation import function_source
from autograder.inprocess import grade_object
from autograder.submission import defined_names
from autograder.symbolic import Answer
from autograder.spec import Kind, dtype_name

_PLANS: dict = {}


class CheckFailed(AssertionError):
    """A check that failed: nbgrader scores its cell 0 (an AssertionError like any other), but
    IPython shows the teaching message alone, not a traceback into the grader (it calls
    ``_render_traceback_`` instead of formatting the stack)."""

    def _render_traceback_(self) -> list[str]:
        head, *rest = str(self).splitlines() or [""]
        return [f"\x1b[1;31m✗ {head}\x1b[0m", *rest]


def _prepared(exercise_id: str, public_only: bool):
    key = (exercise_id, public_only)
    if key not in _PLANS:
        chapter, ex = find_exercise(exercise_id)
        [(_, prepared)] = grade.plan_for(chapter, [ex], public_only=public_only)
        _PLANS[key] = (ex, prepared)
    return _PLANS[key]


def _run(exercise_id: str, obj, public_only: bool):
    ex, prepared = _prepared(exercise_id, public_only)
    if ex.kind is Kind.SYMBOLIC:  # read from the cell's text, as the grader reads it
        source = function_source(obj) or _cell_defining(ex.name)
        obj = Answer("notebook", source) if source and obj is not None else obj
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader scores a test cell 0 on any stderr output
        return ex, grade_object(obj, ex, prepared)


def _inputs(shell) -> list[str]:
    """The cells a kernel has run, in order (the one running last); [] without a history."""
    return getattr(getattr(shell, "history_manager", None), "input_hist_raw", None) or []


def _cell_defining(name: str) -> str | None:
    """The text of the latest cell run in this IPython kernel that defines ``name`` at its top
    level (None outside IPython, or when no such cell is in the history)."""
    try:
        from IPython import get_ipython  # optional: absent outside a kernel
    except ImportError:
        return None
    for text in reversed(_inputs(get_ipython())):
        if name in defined_names(text):
            return text
    return None


_HIDDEN: dict = {}  # exercise id -> its hidden cases' declarations (the summary's input)


def _hidden_summary(ex, public) -> str:
    """What the hidden tests add to the public ones: their number, dtypes, gradients and the tags
    of cases the self-check did not run (from the case declarations alone: nothing is computed;
    built once per exercise and kernel, as the plans are)."""
    if ex.id not in _HIDDEN:
        _HIDDEN[ex.id] = case_mod.build_cases(ex, 0, ("cpu",))
    hidden = _HIDDEN[ex.id]
    dtypes = sorted({dtype_name(c.dtype) for c in hidden} - {dtype_name(c.dtype) for c in public})
    tags = list(dict.fromkeys(t for c in hidden for t in c.tags
                              if t not in {t for p in public for t in p.tags}))
    extra = ([f"also {' and '.join(dtypes)}"] if dtypes else []) + tags[:6]
    if any(c.grad or c.grad_params for c in hidden) and not any(c.grad or c.grad_params
                                                                for c in public):
        extra.append("gradients")
    if len(hidden) == len(public):
        return "The hidden tests run this case only." if len(hidden) == 1 else \
            "The hidden tests run these cases only."
    return f"The hidden tests run {len(hidden)} cases" + (f": {', '.join(extra)}." if extra else ".")


def self_check(exercise_id: str, obj) -> None:
    """Run the public checks of one exercise on ``obj`` and print a short report."""
    ex, result = _run(exercise_id, obj, public_only=True)
    if result.ungraded:
        print(f"⚠ {ex.name}: {result.messages[0]}")
        return
    if result.passed and ex.kind is Kind.SYMBOLIC:
        print(f"✓ {ex.name}: public checks passed ({result.messages[0]}). The hidden test "
              "makes the same comparison.")
        return
    if result.passed:
        public = [p.case for p in _prepared(exercise_id, True)[1]]
        checks = "public check passed" if len(public) == 1 else "public checks passed"
        print(f"✓ {ex.name}: {len(public)} {checks}. {_hidden_summary(ex, public)}")
        return
    lines = "\n".join(f"  - {m}" for m in result.messages)
    raise CheckFailed(f"{ex.name}: public check failed\n{lines}")


def _undefined_answer_hint(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's handler of a NameError: in a check cell (``self_check(...)`` is its one line),
    the name is the exercise's, undefined because its answer cell has not run or failed (a
    SyntaxError there defines nothing). Say that, instead of a traceback into the cell; any other
    NameError gets IPython's usual traceback. Either way it is shown as the cell's error output
    (IPython does not show what a custom handler returns), so that nbgrader still scores the
    cell as failed."""
    cell = (_inputs(shell) or [""])[-1]
    name = getattr(value, "name", None)
    if cell.lstrip().startswith("self_check(") and name:
        stb = [f"\x1b[1;31m✗ {name} is not defined yet\x1b[0m",
               f"Run the answer cell that defines {name} (just above), then this check. If that "
               "cell shows an error when it runs (a SyntaxError, say), fix it first: it defines "
               "nothing until it runs without one."]
    else:
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    shell._showtraceback(etype, value, stb)
    return stb


def _install_hints() -> None:
    try:
        from IPython import get_ipython  # optional: absent outside a kernel
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and not getattr(shell, "custom_exceptions", ()):
        shell.set_custom_exc((NameError,), _undefined_answer_hint)


_install_hints()


def hidden_check(exercise_id: str, namespace: dict) -> None:
    """nbgrader's hidden test: all cases, against the name as defined in the notebook."""
    chapter, ex = find_exercise(exercise_id)
    ex_, result = _run(exercise_id, namespace.get(ex.name), public_only=False)
    if not result.passed:
        lines = "\n".join(f"  - {m}" for m in result.messages)
        raise CheckFailed(f"{ex.name}: hidden tests failed\n{lines}")
    print(f"✓ {ex.name}: all hidden tests passed")
