"""Closed forms the course asks students to derive (symbolic answers), as SymPy formulas.

Each function takes SymPy symbols (or numbers) and returns the formula; the grader compares a
student's formula with it at random points (``autograder.derivation``). Each is tested against the
PyTorch computation it describes (``tests/reference/test_formulas.py``): a Monte Carlo estimate, an
autograd gradient, an optimizer run, a FLOP count. Only ``+ - * / **`` and SymPy functions are used,
so that a formula can be evaluated at any point in any precision.
"""

from __future__ import annotations

import sympy


# ----------------------------------------------------------------------------- Chapter 4
def dot_product_variance(E, s_q, s_k):
    """Var(q · k) for independent q, k ∈ R^E whose entries are independent, zero-mean, of standard
    deviations s_q and s_k: each of the E products q_m k_m has mean 0 and variance s_q² s_k², and
    the products are uncorrelated, so the variances add."""
    return E * s_q**2 * s_k**2


def self_score_variance(E, s):
    """Var(q · q) = Var(‖q‖²) for q ∈ R^E with i.i.d. N(0, s²) entries: the E terms q_m² are
    independent with variance E[q⁴] − E[q²]² = 3s⁴ − s⁴ = 2s⁴."""
    return 2 * E * s**4


# ----------------------------------------------------------------------------- Chapter 5
def rope_score(q1, q2, k1, k2, delta):
    """⟨R(mθ) q, R(nθ) k⟩ for 2-D q, k and the rotation R(a) = [[cos a, −sin a], [sin a, cos a]],
    written in delta = (n − m) θ: Rᵀ(mθ) R(nθ) = R((n − m) θ), so the score depends on the
    positions only through their difference."""
    return (q1 * k1 + q2 * k2) * sympy.cos(delta) + (q2 * k1 - q1 * k2) * sympy.sin(delta)


# ----------------------------------------------------------------------------- Chapter 6
def silu_derivative(x):
    """d/dx SiLU(x) = d/dx x σ(x) = σ(x) + x σ(x)(1 − σ(x)) = σ(x) (1 + x (1 − σ(x))), with
    σ(x) = 1 / (1 + e^{−x})."""
    sigma = 1 / (1 + sympy.exp(-x))
    return sigma * (1 + x * (1 - sigma))


# ----------------------------------------------------------------------------- Chapter 7
def online_softmax_denominator(l_old, m_old, x):
    """The running softmax denominator after one more score x (FlashAttention's rescaling):
    with m_new = max(m_old, x), the old sum Σ exp(s − m_old) is rescaled by exp(m_old − m_new)
    and exp(x − m_new) is added."""
    m_new = sympy.Max(m_old, x)
    return l_old * sympy.exp(m_old - m_new) + sympy.exp(x - m_new)


def causal_fraction(T):
    """The fraction of the T × T score entries a causal mask keeps: query i sees keys 0..i,
    1 + 2 + ... + T = T (T + 1) / 2 of T² entries."""
    return (T + 1) / (2 * T)


# ----------------------------------------------------------------------------- Chapter 8
def adam_first_moment(beta1, t, g):
    """Adam's first moment m_t (before bias correction) after t steps of a constant gradient g
    from m_0 = 0: m_t = (1 − β1) Σ_{i<t} β1^i g = (1 − β1^t) g, which is why dividing by
    1 − β1^t corrects the bias."""
    return (1 - beta1**t) * g


def optimal_parameters_exponent(alpha, beta):
    """γ in N_opt ∝ C^γ for the loss L_∞ + a_N / N^α + a_D / D_tok^β at fixed compute
    C = 6 N D_tok: setting the derivative along the constraint to zero gives
    α a_N / N^α = β a_D / D_tok^β, so N^(α+β) ∝ C^β."""
    return beta / (alpha + beta)


# ----------------------------------------------------------------------------- Chapter 9
def linear_training_flops(m, n):
    """FLOPs per token to train a linear layer y = x W (a row x), W of shape (n, m): the forward
    matmul (2mn), the gradient with respect to the input (∂y Wᵀ: 2mn) and with respect to the
    weights (xᵀ ∂y: 2mn). Summed over a model's N weights this is the 6N of the compute estimate."""
    return 6 * m * n


# ----------------------------------------------------------------------------- Appendix A
def kl_bernoulli(p, q):
    """KL(Ber(p) ‖ Ber(q)) in nats, as cross-entropy minus entropy: H(p, q) − H(p) with
    H(p, q) = −p log q − (1 − p) log(1 − q) and H(p) = H(p, p)."""
    cross_entropy = -p * sympy.log(q) - (1 - p) * sympy.log(1 - q)
    entropy = -p * sympy.log(p) - (1 - p) * sympy.log(1 - p)
    return cross_entropy - entropy


def categorical_mle(c1, c2, c3):
    """θ₁ maximising c₁ log θ₁ + c₂ log θ₂ + c₃ log θ₃ subject to θ₁ + θ₂ + θ₃ = 1: the
    Lagrange condition c_k / θ_k = λ for every k, and the constraint gives λ = c₁ + c₂ + c₃."""
    return c1 / (c1 + c2 + c3)


def cross_entropy_grad_first(z1, z2, z3):
    """∂/∂z₁ of −log softmax(z)₁ (the loss when the target is class 1): p₁ − 1, the first entry of
    p − y with y the one-hot target."""
    return sympy.exp(z1) / (sympy.exp(z1) + sympy.exp(z2) + sympy.exp(z3)) - 1


def training_compute(N, D):
    """FLOPs to train a dense model of N weights on D = D_tok training tokens (the argument keeps
    the papers' letter; D_tok in the course's notation): 2N per token forward and 4N backward
    (the gradients with respect to the activations and to the weights)."""
    return 6 * N * D
