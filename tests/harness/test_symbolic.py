"""autograder.symbolic: an answer's text becomes a SymPy formula without being run (an
allow-list over Python's AST), and formulas are judged equal by random points in 50 digits:
equivalent forms pass, the classic slips fail, and what is not a formula is refused by name."""

import re

import pytest
import sympy

from autograder import symbolic
from autograder.symbolic import AnswerError, Domain, answer_expression, parse_formula, random_points

d, T, mu1, mu2, s1, s2, x = sympy.symbols("d T mu1 mu2 s1 s2 x")
KL = {"mu1": mu1, "mu2": mu2, "s1": s1, "s2": s2}
KL_DOMAINS = {"s1": symbolic.POSITIVE, "s2": symbolic.POSITIVE}
KL_REFERENCE = sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - sympy.Rational(1, 2)


def _judge(text, expected=KL_REFERENCE, symbols=KL, domains=KL_DOMAINS):
    return random_points(parse_formula(text, symbols), expected, symbols, domains)


@pytest.mark.parametrize("text", [
    "log(s2/s1) + (s1**2 + (mu1 - mu2)**2) / (2*s2**2) - 1/2",
    "log(s2) - log(s1) + s1**2/(2*s2**2) + (mu2 - mu1)**2/(2*s2**2) - 0.5",
    "0.5*(2*log(s2/s1) + (s1/s2)**2 + ((mu1-mu2)/s2)**2 - 1)",
])
def test_equivalent_forms_pass(text):
    assert _judge(text).ok


@pytest.mark.parametrize("text,slip", [
    ("log(s2/s1) + (s1**2 + (mu1 - mu2)**2) / (2*s2**2)", "the -1/2 left out"),
    ("log(s1/s2) + (s1**2 + (mu1 - mu2)**2) / (2*s2**2) - 1/2", "the log ratio upside down"),
    ("log(s2/s1) + (s1**2 + (mu1 - mu2)**2) / s2**2 - 1/2", "a factor 2 missing"),
    ("log(s2/s1, 2) + (s1**2 + (mu1 - mu2)**2) / (2*s2**2) - 1/2", "log base 2"),
    ("log(s2/s1) + (s1**2 + (mu1 - mu2)**2) / (2*s2**2) - 1/2 + 1e-20", "off by 1e-20"),
])
def test_slips_fail_and_the_point_is_named(text, slip):
    verdict = _judge(text)
    assert not verdict.ok, slip
    assert "expected" in verdict.describe() and "s1 = " in verdict.describe()


def test_an_assignment_and_a_function_with_locals():
    symbols = {"d": d}
    assert random_points(answer_expression("var_qk = d", "var_qk", symbols), d, symbols,
                         {"d": Domain(1, 512, integer=True)}).ok
    cell = '''
import math
def kl(mu1, s1, mu2, s2):
    """KL(N(mu1, s1²) || N(mu2, s2²))."""
    ratio = s1 / s2
    gap = (mu1 - mu2) / s2
    return -log(ratio) + (ratio**2 + gap**2 - 1) / 2
'''
    assert random_points(answer_expression(cell, "kl", KL), KL_REFERENCE, KL, KL_DOMAINS).ok


def test_the_last_definition_wins_as_when_the_cell_runs():
    symbols = {"x": x}
    got = answer_expression("f = x\nf = 2*x", "f", symbols)
    assert not random_points(got, x, symbols, {}).ok


@pytest.mark.parametrize("text,said", [
    ("__import__('os').system('true')", "is not one of the functions"),
    ("x.__class__", "is not part of a formula"),
    ("[x for x in range(3)]", "is not part of a formula"),
    ("y + 1", "unknown name 'y'"),
    ("'x'", "is not a number"),
    ("x ** 2 ** 100000", "too large"),
    ("10 ** 10 ** 10", "too large"),
    ("1" * 100, "more than 60 digits"),
    ("x +", "not a Python expression"),
    ("exp(x, base=2)", "no keyword arguments"),
])
def test_what_is_not_a_formula_is_refused_by_name(text, said):
    with pytest.raises(AnswerError, match=said.replace("(", r"\(")):
        parse_formula(text, {"x": x})


def test_nothing_of_the_answer_runs(tmp_path, monkeypatch):
    """Parsing builds from the tree: a call that would write a file is refused, not made."""
    marker = tmp_path / "ran"
    with pytest.raises(AnswerError):
        parse_formula(f"open({str(marker)!r}, 'w')", {"x": x})
    assert not marker.exists()


@pytest.mark.parametrize("cell,said", [
    ("y = x", "defines no 'f'"),
    ("def f(x, z):\n    return x", "parameters must be the symbols"),
    ("def f(x):\n    print(x)\n    return x", "may only assign local names"),
    ("def f(x):\n    y = x", "must end with `return <formula>`"),
    ("def f(x:\n", "not valid Python"),
])
def test_answer_cells_that_give_no_formula(cell, said):
    with pytest.raises(AnswerError, match=said.replace("(", r"\(")):
        answer_expression(cell, "f", {"x": x})


def test_points_where_the_reference_is_undefined_are_skipped():
    symbols = {"x": x}
    verdict = random_points(parse_formula("sqrt(x)**2", symbols), x, symbols, {},
                            n_points=20)
    assert verdict.ok and verdict.checked == 20  # negative x: sqrt(x)**2 = x holds in C too
    verdict = random_points(parse_formula("x", symbols), sympy.log(x), symbols, {})
    assert not verdict.ok  # only x > 0 is compared, and x != log x there
    with pytest.raises(ValueError, match="domains are wrong"):
        random_points(x, sympy.log(x), symbols, {"x": Domain(-3, -1)})


@pytest.mark.parametrize("text", ["sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2)**2) / (2*s2**2) - 1/2",
                                  "math.log(s2) - np.log(s1) + ((s1/s2)**2 + ((mu1 - mu2)/s2)**2"
                                  " - 1) / 2"])
def test_a_module_prefix_on_a_function_is_read_as_the_function(text):
    assert _judge(text).ok


@pytest.mark.parametrize("text,said", [
    ("sympy.diff(s1**2, s1)", "sympy.diff(...) computes the answer for you"),
    ("sympy.stats.variance(s1)", "sympy.stats.variance(...) computes the answer for you"),
    ("integrate(s1, s1)", "integrate(...) computes the answer for you"),
    ("10**999 * 10**999 * 99**999", None),
    ("(9**999)**999", "too large"),
    ("gamma(10**6)", "too large"),
])
def test_shortcuts_are_named_and_huge_numbers_refused(text, said):
    if said is None:  # large but bounded: read, and compared numerically
        parse_formula(text, KL)
        return
    with pytest.raises(AnswerError, match=re.escape(said)):
        parse_formula(text, KL)


def test_local_names_may_be_set_in_the_usual_ways():
    cell = ("def f(x):\n    a, b = x, 2\n    c: float = a * b\n    c += 1\n    c **= 2\n"
            "    return c\n")
    assert sympy.simplify(answer_expression(cell, "f", {"x": x}) - (2 * x + 1) ** 2) == 0
    with pytest.raises(AnswerError, match="updated before it is set"):
        answer_expression("def f(x):\n    y += x\n    return y\n", "f", {"x": x})


def test_a_body_that_still_raises_is_not_answered():
    with pytest.raises(symbolic.NotAnswered):
        answer_expression("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n",
                          "f", {"x": x})


def test_integer_points_are_evaluated_numerically_not_exactly():
    n = sympy.Symbol("n", integer=True, positive=True)
    verdict = random_points(n**n**n, n**n**n + 1, {"n": n}, {"n": Domain(50, 64, integer=True)})
    assert verdict.ok  # 64**(64**64) in 50 digits, in microseconds; +1 is far below 1e-30


def test_sigmoid_is_read_as_its_definition():
    got = parse_formula("torch.sigmoid(x) * (1 + x * (1 - sigmoid(x)))", {"x": x})
    sigma = 1 / (1 + sympy.exp(-x))
    assert random_points(got, sigma * (1 + x * (1 - sigma)), {"x": x}, {}).ok
