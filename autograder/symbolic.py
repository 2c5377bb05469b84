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
from dataclasses import dataclass

import sympy

FUNCTIONS = {
    "exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos,
    "tan": sympy.tan, "tanh": sympy.tanh, "atan": sympy.atan, "abs": sympy.Abs,
    "Abs": sympy.Abs, "Max": sympy.Max, "Min": sympy.Min, "max": sympy.Max, "min": sympy.Min,
    "floor": sympy.floor, "ceiling": sympy.ceiling, "gamma": sympy.gamma,
    "Rational": sympy.Rational,
}
CONSTANTS = {"pi": sympy.pi, "E": sympy.E, "e": sympy.E}
MAX_NODES = 2000  # a formula longer than this is not an answer (and bounds the work)
MAX_EXPONENT = 1000  # numbers to a larger constant power are refused, not computed
MAX_DIGITS = 60  # integer literals longer than this are refused
DIGITS = 50
AGREEMENT = sympy.Float("1e-30", DIGITS)


class AnswerError(ValueError):
    """The answer cannot be read as a formula; the message says why, for the student."""


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
        if a.is_number and b.is_number and abs(sympy.N(b, 15)) > MAX_EXPONENT:
            raise AnswerError(f"the exponent {sympy.N(b, 6)} is too large for a formula here")
        return a ** b
    raise AnswerError(f"the operator {type(op).__name__} is not part of a formula here "
                      "(use + - * / **)")


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
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            shown = ast.unparse(node.func)
            raise AnswerError(f"{shown}(...) is not one of the functions a formula may call "
                              f"({', '.join(sorted(FUNCTIONS))})")
        if node.keywords:
            raise AnswerError(f"{node.func.id}(...) takes no keyword arguments here")
        return FUNCTIONS[node.func.id](*(build(a, names) for a in node.args))
    raise AnswerError(f"`{ast.unparse(node)}` is not part of a formula (numbers, symbols, "
                      "+ - * / **, and calls such as exp(x))")


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
        raise AnswerError(f"the answer cell defines no {name!r} (write `{name} = <formula>`)")
    kind, stmt = found
    if kind == "value":
        return build(stmt.value, dict(symbols))
    return _function_formula(stmt, symbols)


def _function_formula(fn: ast.FunctionDef, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    params = [a.arg for a in fn.args.args]
    unknown = [p for p in params if p not in symbols]
    if unknown or fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs or fn.args.defaults:
        raise AnswerError(f"{fn.name}'s parameters must be the symbols "
                          f"{', '.join(symbols)} (got {', '.join(params) or 'none'})")
    names = {p: symbols[p] for p in params}
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                       and isinstance(s.value.value, str))]  # the docstring
    for stmt in body[:-1]:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise AnswerError(f"line {stmt.lineno}: a formula's function may only assign local "
                              "names and return a formula")
        names[stmt.targets[0].id] = build(stmt.value, names)
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
        where = ", ".join(f"{k} = {sympy.N(v, 6)}" for k, v in self.point.items())
        return f"at {where}: got {sympy.N(self.got, 8)}, expected {sympy.N(self.expected, 8)}"


def _value(expr, point):
    try:
        v = sympy.N(expr.subs(point), DIGITS)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return v if v.is_number and v.is_finite and v.is_real else None


def random_points(got: sympy.Expr, expected: sympy.Expr, symbols: dict[str, sympy.Symbol],
                  domains: dict[str, Domain], n_points: int = 40, seed: int = 0) -> Agreement:
    """Compare the two formulas at ``n_points`` random points of the domains (default: REAL);
    points where the expected formula is undefined or not real are skipped."""
    rng = random.Random(seed)
    checked = 0
    for _ in range(4 * n_points):
        if checked == n_points:
            break
        point = {symbols[k]: domains.get(k, REAL).draw(rng) for k in symbols}
        want = _value(expected, point)
        if want is None:
            continue
        checked += 1
        have = _value(got, point)
        if have is None or abs(have - want) > AGREEMENT * max(1, abs(want)):
            return Agreement(False, {str(k): v for k, v in point.items()}, have if have is not None
                             else sympy.nan, want, checked)
    if checked == 0:
        raise ValueError("no random point of the domain has a finite expected value: "
                         "the exercise's domains are wrong")
    return Agreement(True, checked=checked)


# --------------------------------------------------------------------------- a derivation's data
@dataclass(frozen=True)
class Mistake:
    """A catalogued wrong formula: named when the student's formula equals it."""

    title: str
    hint: str
    formula: str  # over the derivation's symbols, read like an answer


@dataclass(frozen=True)
class Derivation:
    """What a symbolic-answer exercise declares: the answer's name in the cell, its symbols and
    where they live, the reference formula (text, read by the same reader as the answers), and
    the catalogued wrong formulas."""

    name: str
    symbols: tuple[str, ...]
    reference: str
    domains: dict = None  # symbol -> Domain (default REAL)
    mistakes: tuple[Mistake, ...] = ()

    def symbol_table(self) -> dict[str, sympy.Symbol]:
        return {s: sympy.Symbol(s, real=True) for s in self.symbols}

    def formula(self, text: str) -> sympy.Expr:
        return parse_formula(text, self.symbol_table())


@dataclass(frozen=True)
class DerivationVerdict:
    passed: bool
    messages: tuple[str, ...]


def judge_derivation(d: Derivation, cell_source: str, seed: int = 0) -> DerivationVerdict:
    """Read ``d.name`` from an answer cell's text and compare it with the reference; on a
    difference, say where, show both formulas (LaTeX), and name the catalogued mistake it equals."""
    symbols, domains = d.symbol_table(), d.domains or {}
    try:
        got = answer_expression(cell_source, d.name, symbols)
    except AnswerError as e:
        return DerivationVerdict(False, (f"could not read your formula: {e}",))
    expected = d.formula(d.reference)
    verdict = random_points(got, expected, symbols, domains, seed=seed)
    if verdict.ok:
        return DerivationVerdict(True, (f"equal to the reference at {verdict.checked} random "
                                        "points of the domain",))
    messages = [f"differs from the reference {verdict.describe()}",
                f"your formula: ${sympy.latex(got)}$"]
    for m in d.mistakes:
        if random_points(got, d.formula(m.formula), symbols, domains, seed=seed).ok:
            messages.append(f"likely mistake: {m.title}. {m.hint}")
            break
    return DerivationVerdict(False, tuple(messages))
