"""Symbolic answers: a formula a student writes in an answer cell, read and judged in the grader
without running any of the student's code.

Reading. The answer's text is parsed with Python's own ``ast`` module (parsing never executes)
and rebuilt into a SymPy expression by walking the tree through an allow-list: numbers, the
exercise's named symbols, ``+ - * / ** //``-free arithmetic, unary minus, and calls of a fixed set
of functions (``exp``, ``log``, ``sqrt``, ...). Anything else (attributes, subscripts, lambdas,
comprehensions, strings, other names) is refused with a message that names it. SymPy's own
``parse_expr`` is not used: it evaluates the text with ``eval``.

An answer is either an assignment ``name = <formula>`` or a function ``def name(x, y): ...``
whose body is assignments of local names followed by ``return <formula>``; locals are
substituted into the returned formula, and the parameters are the exercise's symbols.

Judging. Two formulas are the same function on the stated domain when they agree at many random
points of it, evaluated in 50-digit arithmetic (``random_points``): relative difference at most
1e-30 wherever the reference is finite. A symbolic proof (``simplify(a - b) == 0``) is not needed
and not relied on (it can take unbounded time); a failing point is named in the feedback.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass, field

import mpmath
import sympy
from sympy.printing.pycode import MpmathPrinter

FUNCTIONS = {
    "exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos,
    "tan": sympy.tan, "tanh": sympy.tanh, "atan": sympy.atan, "abs": sympy.Abs,
    "Abs": sympy.Abs, "Max": sympy.Max, "Min": sympy.Min, "max": sympy.Max, "min": sympy.Min,
    "floor": sympy.floor, "ceiling": sympy.ceiling, "gamma": sympy.gamma,
    "Rational": sympy.Rational,
    # the logistic function, read as its definition (SymPy has no built-in of that name)
    "sigmoid": lambda x: 1 / (1 + sympy.exp(-x)),
}
CONSTANTS = {"pi": sympy.pi, "E": sympy.E, "e": sympy.E}
# Module prefixes a formula may carry on a function or constant: sympy.log(d), math.pi, torch.exp
# (the same function whatever the module: the answer is read, never run).
MODULES = ("sympy", "sp", "math", "np", "numpy", "torch")
# Calls that would compute the answer instead of the student: named as such when used.
SHORTCUTS = ("diff", "Derivative", "integrate", "Integral", "limit", "Limit", "simplify",
             "solve", "summation", "Sum", "series", "grad", "jacobian", "variance", "expectation",
             "E", "kl_div", "kl_divergence", "entropy", "cross_entropy", "lambdify", "sympify",
             "parse_expr", "eval", "exec")
MAX_NODES = 2000  # a formula longer than this is not an answer (and bounds the work)
MAX_EXPONENT = 1000  # numbers to a larger constant power are refused, not computed
MAX_DIGITS = 60  # integer literals longer than this are refused
DIGITS = 50
AGREEMENT = sympy.Float("1e-30", DIGITS)


class AnswerError(ValueError):
    """The answer cannot be read as a formula; the message says why, for the student."""


class NotAnswered(AnswerError):
    """The answer cell still raises NotImplementedError."""


class Answer:
    """An answer cell's text, as graded: read, never run. ``label`` names it in tests (a catalog
    mistake's key, an alternative's name); ``examples.answer_source`` pastes ``source``."""

    def __init__(self, label: str, source: str):
        self.__name__, self.source = label, source
        self.__llmcourse_source__ = source

    def __repr__(self) -> str:
        return f"Answer({self.__name__!r})"


def _binary(op, a, b):
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.Div):
        return a / b
    if isinstance(op, ast.Pow):
        if a.is_number and b.is_number:
            size = abs(sympy.N(b, 15)) * max(1.0, abs(float(sympy.N(sympy.log(abs(a) + 2, 10), 15))))
            if abs(sympy.N(b, 15)) > MAX_EXPONENT or size > 10 * MAX_EXPONENT:
                raise AnswerError(f"the power {ast_safe(a)}**{ast_safe(b)} is too large for a "
                                  "formula here")
        return a ** b
    raise AnswerError(f"the operator {type(op).__name__} is not part of a formula here "
                      "(use + - * / **)")


def ast_safe(x) -> str:
    """A number shown in a message (6 significant digits)."""
    return str(sympy.N(x, 6))


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnswerError(f"{value!r} is not a number")
    if isinstance(value, int) and len(str(abs(value))) > MAX_DIGITS:
        raise AnswerError(f"an integer of more than {MAX_DIGITS} digits is not part of a formula")
    # a float literal such as 0.5 is taken as the exact decimal it spells
    return sympy.Integer(value) if isinstance(value, int) else sympy.Rational(repr(value))


def build(node: ast.AST, names: dict) -> sympy.Expr:
    """The SymPy expression of an expression node, through the allow-list (module docstring);
    ``names``: symbol or local name -> expression."""
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise AnswerError(f"unknown name {node.id!r} (the formula may use "
                          f"{', '.join(sorted(k for k in names if not k.startswith('_')))}, "
                          "numbers and the functions exp, log, sqrt, ...)")
    if isinstance(node, ast.BinOp):
        return _binary(node.op, build(node.left, names), build(node.right, names))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = build(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Attribute) and _module_name(node) and node.attr in CONSTANTS:
        return CONSTANTS[node.attr]  # math.pi, sympy.E
    if isinstance(node, ast.Call):
        func = _function_name(node.func)
        if func in SHORTCUTS:
            raise AnswerError(f"{ast.unparse(node.func)}(...) computes the answer for you: write "
                              "the formula you derived, with + - * / ** and functions such as "
                              "exp, log, sqrt")
        if func not in FUNCTIONS:
            raise AnswerError(f"{ast.unparse(node.func)}(...) is not one of the functions a "
                              f"formula may call ({', '.join(sorted(FUNCTIONS))})")
        if node.keywords:
            raise AnswerError(f"{func}(...) takes no keyword arguments here")
        args = [build(a, names) for a in node.args]
        if func == "gamma" and args and args[0].is_number and abs(sympy.N(args[0], 15)) > 1000:
            raise AnswerError("gamma of a number above 1000 is too large for a formula here")
        return FUNCTIONS[func](*args)
    raise AnswerError(f"`{ast.unparse(node)}` is not part of a formula (numbers, symbols, "
                      "+ - * / **, and calls such as exp(x))")


def _module_name(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id in MODULES


def _function_name(func: ast.AST) -> str | None:
    """``log`` for log, sympy.log, math.log ...; the attribute name for other dotted calls (so a
    shortcut such as sympy.stats.variance is named); None for anything else."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def parse_formula(text: str, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    """The formula ``text`` (one Python expression) over ``symbols``."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise AnswerError(f"not a Python expression: {e.msg}") from None
    _check_size(tree)
    return build(tree.body, dict(symbols))


def _check_size(tree: ast.AST) -> None:
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise AnswerError(f"the formula has more than {MAX_NODES} parts")


def answer_expression(source: str, name: str, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    """The formula an answer cell's ``source`` gives for ``name``: ``name = <formula>``, or
    ``def name(<symbols>): <local assignments>; return <formula>`` (the last definition wins, as
    it would when the cell runs)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise AnswerError(f"the answer cell is not valid Python: {e.msg} (line {e.lineno})") \
            from None
    _check_size(tree)
    found = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and [getattr(t, "id", None) for t in stmt.targets] == [name]:
            found = ("value", stmt)
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == name:
            found = ("function", stmt)
    if found is None:
        if _raises_not_implemented(tree):
            raise NotAnswered(f"the answer cell still raises NotImplementedError")
        raise AnswerError(f"the answer cell defines no {name!r} (write `{name} = <formula>`)")
    kind, stmt = found
    if kind == "value":
        return build(stmt.value, dict(symbols))
    return _function_formula(stmt, symbols)


def _raises_not_implemented(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Raise) and n.exc is not None
               and "NotImplementedError" in ast.unparse(n.exc) for n in ast.walk(tree))


def _assigned(stmt: ast.stmt, names: dict) -> dict:
    """The local names a statement of a formula's function sets: ``a = f``, ``a, b = f, g``,
    ``a: float = f``, ``a += f`` (and the other arithmetic updates)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, ast.Name):
            return {target.id: build(value, names)}
        if (isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                and len(target.elts) == len(value.elts)
                and all(isinstance(t, ast.Name) for t in target.elts)):
            return {t.id: build(v, names) for t, v in zip(target.elts, value.elts)}
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
        return {stmt.target.id: build(stmt.value, names)}
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        if stmt.target.id not in names:
            raise AnswerError(f"line {stmt.lineno}: {stmt.target.id} is updated before it is set")
        return {stmt.target.id: _binary(stmt.op, names[stmt.target.id],
                                        build(stmt.value, names))}
    raise AnswerError(f"line {stmt.lineno}: a formula's function may only assign local names "
                      "(a = ..., a, b = ..., ..., a += ...) and return a formula")


def _function_formula(fn: ast.FunctionDef, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    params = [a.arg for a in fn.args.args]
    unknown = [p for p in params if p not in symbols]
    if unknown or fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs or fn.args.defaults:
        raise AnswerError(f"{fn.name}'s parameters must be the symbols "
                          f"{', '.join(symbols)} (got {', '.join(params) or 'none'})")
    if _raises_not_implemented(fn):
        raise NotAnswered(f"{fn.name} still raises NotImplementedError")
    names = {p: symbols[p] for p in params}
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                       and isinstance(s.value.value, str))]  # the docstring
    for stmt in body[:-1]:
        names.update(_assigned(stmt, names))
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        raise AnswerError(f"{fn.name} must end with `return <formula>`")
    return build(body[-1].value, names)


# --------------------------------------------------------------------------- judging
@dataclass(frozen=True)
class Domain:
    """Where a symbol's random values are drawn: a real in [low, high], or an integer there."""

    low: float = -3.0
    high: float = 3.0
    integer: bool = False

    def draw(self, rng: random.Random):
        if self.integer:
            return sympy.Integer(rng.randint(int(self.low), int(self.high)))
        return sympy.Float(rng.uniform(self.low, self.high), DIGITS)


POSITIVE = Domain(0.1, 5.0)
REAL = Domain(-3.0, 3.0)
PROBABILITY = Domain(0.01, 0.99)


@dataclass(frozen=True)
class Agreement:
    ok: bool
    point: dict | None = None  # the first point where the formulas differ
    got: object = None
    expected: object = None
    checked: int = 0  # points where the reference is finite

    def describe(self) -> str:
        if self.ok:
            return f"equal at {self.checked} random points"
        where = ", ".join(f"{k} = {v if v.is_Integer else sympy.N(v, 6)}"
                          for k, v in self.point.items())
        return f"at {where}: got {sympy.N(self.got, 8)}, expected {sympy.N(self.expected, 8)}"


# 50-digit arithmetic in a context of our own (mpmath's global context is shared by threads)
_MP = mpmath.MPContext()
_MP.dps = DIGITS
_NUMERIC = {name: getattr(_MP, name) for name in dir(mpmath)
            if not name.startswith("_") and hasattr(_MP, name)}


def _numeric(expr, symbols: list[sympy.Symbol]):
    """``expr`` as a function of the symbols' values in 50-digit floats (None when ``expr`` has
    other free symbols). The code is printed by SymPy from the expression tree, whose names are
    the declared symbols and allowed functions only: nothing of the answer's text."""
    expr = sympy.sympify(expr)
    if not expr.free_symbols <= set(symbols):
        return None
    printer = MpmathPrinter({"fully_qualified_modules": False, "inline": True,
                             "allow_unknown_functions": True})  # rationals as mpf(1)/mpf(3)
    return sympy.lambdify(symbols, expr, modules=[_NUMERIC], printer=printer)


def _value(fn, args):
    """fn(*args) as a finite real 50-digit number, or None (undefined, complex, infinite)."""
    if fn is None:
        return None
    try:
        v = fn(*args)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, NameError):
        return None
    if isinstance(v, _MP.mpc):
        if abs(v.imag) > AGREEMENT * max(1, abs(v.real)):
            return None  # not real there (log of a negative number)
        v = v.real
    v = _MP.mpf(v) if isinstance(v, (int, float, _MP.mpf)) else None
    return v if v is not None and _MP.isfinite(v) else None


def random_points(got: sympy.Expr, expected: sympy.Expr, symbols: dict[str, sympy.Symbol],
                  domains: dict[str, Domain], n_points: int = 40, seed: int = 0) -> Agreement:
    """Compare the two formulas at ``n_points`` random points of the domains (default: REAL);
    points where the expected formula is undefined or not real are skipped. Evaluated
    numerically in 50 digits (``n**n**n`` at n = 64 is never computed exactly)."""
    order = list(symbols.values())
    have_fn, want_fn = _numeric(got, order), _numeric(expected, order)
    rng = random.Random(seed)
    checked = 0
    for _ in range(4 * n_points):
        if checked == n_points:
            break
        point = {k: domains.get(k, REAL).draw(rng) for k in symbols}
        args = [_MP.mpf(int(v)) if v.is_Integer else _MP.mpf(sympy.Float(v, DIGITS)._mpf_)
                for v in point.values()]
        want = _value(want_fn, args)
        if want is None:
            continue
        checked += 1
        have = _value(have_fn, args)
        if have is None or abs(have - want) > AGREEMENT * max(1, abs(want)):
            return Agreement(False, point, sympy.Float(have, DIGITS) if have is not None
                             else sympy.nan, sympy.Float(want, DIGITS), checked)
    if checked == 0:
        raise ValueError("no random point of the domain has a finite expected value: "
                         "the exercise's domains are wrong")
    return Agreement(True, checked=checked)


# --------------------------------------------------------------------------- a derivation's data
@dataclass(frozen=True)
class Derivation:
    """What a symbolic-answer exercise declares besides its name and reference: the symbols the
    formula is written in (its function's parameters, in order) and where each lives."""

    symbols: tuple[str, ...]
    domains: dict = field(default_factory=dict)  # symbol -> Domain (default REAL)

    def symbol_table(self) -> dict[str, sympy.Symbol]:
        """Each symbol with the assumptions its domain implies (positive, integer), so that the
        reference may rely on them (e.g. sqrt(d**2) = d for d > 0)."""
        table = {}
        for s in self.symbols:
            dom = self.domains.get(s, REAL)
            table[s] = sympy.Symbol(s, real=True, positive=True if dom.low > 0 else None,
                                    integer=True if dom.integer else None)
        return table

    def describe_domains(self) -> str:
        parts = []
        for s in self.symbols:
            dom = self.domains.get(s, REAL)
            kind = "integer" if dom.integer else "real"
            parts.append(f"{s} {kind} in [{dom.low:g}, {dom.high:g}]")
        return ", ".join(parts)
