"""Chapter 11.2, Bias measured as statistics: the Word Embedding Association Test (WEAT) with its
permutation test, and two group-fairness gaps of a binary classifier.

WEAT (Caliskan, Bryson and Narayanan, 2017, "Semantics derived automatically from language
corpora contain human-like biases") compares two sets of target words X, Y (e.g. flowers,
insects) by their association with two sets of attribute words A, B (e.g. pleasant, unpleasant).
Here Nx, Ny, Na, Nb are the sizes of the four sets and D the embedding width.

Conventions, stated once:

* Cosines are ``reference.embeddings.cosine_similarity_matrix`` (a zero vector has cosine 0).
* The association of a word w is s(w, A, B) = mean_{a in A} cos(w, a) - mean_{b in B} cos(w, b).
* The effect size divides by the **sample** standard deviation (Bessel's n - 1) of s(w) over the
  union X ∪ Y. The paper writes only "std-dev_{w in X ∪ Y}"; we take n - 1 because it estimates
  the spread of the association of words in general from a sample of them, and because it is
  torch's default ``std``. The population version (divisor n) is larger by sqrt(n / (n - 1)).
  Either way |effect| is bounded, by sqrt((n - 1) n / (Nx Ny)) here (2 sqrt((n-1)/n) for equal
  sets), reached when every word of a set has the same association.
* The permutation test permutes the **targets**: under the null hypothesis that X and Y do not
  differ in their association with A versus B, every split of X ∪ Y into sets of sizes Nx and Ny
  is equally likely. The attributes stay fixed. The test is one-sided (large S means X is closer
  to A than Y is) and its p-value counts the observed split as one of the draws (add-one rule).
* Group fairness: predictions and labels are 0/1 (int or bool), groups are any integers; the gaps
  are max - min over the groups present, as Python floats.
"""

import torch

from reference.embeddings import cosine_similarity_matrix


# --------------------------------------------------------------------------- WEAT
def weat_association(W, A, B):
    """s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b) for every row w of W.

    Shape:
        W: (n, D); A: (na, D); B: (nb, D), n, na, nb words
        output: (n,)
    """
    return cosine_similarity_matrix(W, A).mean(-1) - cosine_similarity_matrix(W, B).mean(-1)


def _check_sets(X, Y, A, B):
    for name, t in zip("XYAB", (X, Y, A, B)):
        if t.dim() != 2 or t.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty (words, D) matrix, got shape "
                             f"{tuple(t.shape)}")
    if len({t.shape[1] for t in (X, Y, A, B)}) != 1:
        raise ValueError("X, Y, A and B must have the same embedding width D")


def weat_effect_size(X, Y, A, B):
    """(mean_{x in X} s(x) - mean_{y in Y} s(y)) / std_{w in X ∪ Y} s(w), sample std (n - 1).

    Positive when X is more associated with A (and Y with B). NaN when every s(w) is equal (the
    effect size is then 0 / 0, undefined). Computed in the inputs' dtype.

    Shape:
        X: (nx, D); Y: (ny, D); A: (na, D); B: (nb, D), nx, ny, na, nb words
        output: ()
    """
    _check_sets(X, Y, A, B)
    s_x, s_y = weat_association(X, A, B), weat_association(Y, A, B)  # (nx,), (ny,)
    return (s_x.mean() - s_y.mean()) / torch.cat([s_x, s_y]).std(correction=1)


def weat_p_value(X, Y, A, B, n_permutations, generator=None):
    """One-sided permutation p-value of the WEAT statistic S = Σ_x s(x) - Σ_y s(y).

    Each of the ``n_permutations`` draws is ``torch.randperm(nx + ny, generator=generator)`` (on
    the CPU, one call per draw, in order); the words at its first nx positions (rows of
    cat([X, Y])) form the new X, the rest the new Y. Then
        p = (1 + #{draws with S_perm >= S_obs}) / (1 + n_permutations).
    The add-one rule counts the observed split itself, so p > 0 and P(p <= alpha) <= alpha under
    the null hypothesis: the test is valid for any number of draws.

    S_perm is Σ_i ±s(w_i) summed over the words in one fixed order, so a draw that reproduces
    the observed split (in any order) gives exactly S_obs and is counted. Returns a Python float.

    Shape:
        X: (nx, D); Y: (ny, D); A: (na, D); B: (nb, D), nx, ny, na, nb words
    """
    _check_sets(X, Y, A, B)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    s = weat_association(torch.cat([X, Y]), A, B)  # (n,), n = nx + ny
    n, n_x = s.shape[0], X.shape[0]
    perms = torch.stack([torch.randperm(n, generator=generator) for _ in range(n_permutations)])
    in_x = torch.zeros(n_permutations + 1, n, dtype=torch.bool)  # row 0: the observed split
    in_x[0, :n_x] = True
    in_x[1:].scatter_(1, perms[:, :n_x], True)
    stats = torch.where(in_x.to(s.device), s, -s).sum(-1)  # (1 + n_permutations,)
    exceed = (stats[1:] >= stats[0]).sum().item()
    return (1 + exceed) / (1 + n_permutations)


def planted_bias_embeddings(n_per_set, dim, bias, generator, dtype=torch.float64):
    """Synthetic WEAT sets with a bias of known size; returns (X, Y, A, B), each (n_per_set, dim).

    Let e_A, e_B be the first two standard basis vectors (orthogonal unit directions; the noise
    is isotropic, so which two does not matter) and z ~ N(0, I / dim) fresh noise for every word
    (|z| ≈ 1, so ``bias`` is in units of the noise's length). Then
        a = e_A + z,   b = e_B + z,   x = z + bias e_A,   y = z + bias e_B.
    With bias = 0, X and Y are drawn from the same distribution: the null hypothesis of the
    permutation test holds exactly and the effect size is 0 in expectation. With bias > 0, X
    moves towards A and Y towards B, and the effect size grows towards its bound (for large
    ``bias * sqrt(dim)``). Drawn in float64 in the order A, B, X, Y (``torch.randn``, one call
    per set), then cast to ``dtype``. Needs dim >= 2.

    Shape:
        output: four (n_per_set, dim) tensors
    """
    if dim < 2:
        raise ValueError(f"dim must be at least 2 (two attribute directions), got {dim}")
    e_a = torch.zeros(dim, dtype=torch.float64)
    e_b = torch.zeros(dim, dtype=torch.float64)
    e_a[0], e_b[1] = 1.0, 1.0

    def noise():
        return torch.randn(n_per_set, dim, generator=generator, dtype=torch.float64) / dim ** 0.5

    A, B = e_a + noise(), e_b + noise()
    X, Y = noise() + bias * e_a, noise() + bias * e_b
    return tuple(t.to(dtype) for t in (X, Y, A, B))


# --------------------------------------------------------------------------- group fairness
def _binary(t, name):
    if not bool(((t == 0) | (t == 1)).all()):
        raise ValueError(f"{name} must be 0/1 (int or bool)")
    return t.to(torch.float64)


def _group_rates(predictions, groups, keep, missing):
    """{group id: mean prediction over the examples of that group where ``keep``}. A group with
    no such example raises ValueError: "group g has " + ``missing``."""
    rates = {}
    for g in torch.unique(groups).tolist():
        members = (groups == g) & keep
        count = int(members.sum())
        if count == 0:
            raise ValueError(f"group {g} has {missing}")
        rates[g] = float(predictions[members].sum()) / count
    return rates


def _check_lengths(*tensors):
    if any(t.dim() != 1 for t in tensors) or len({t.shape[0] for t in tensors}) != 1:
        raise ValueError("predictions, labels and groups must be 1-D of the same length")
    if tensors[0].shape[0] == 0:
        raise ValueError("no examples")


def demographic_parity_difference(predictions, groups):
    """max_g P(ŷ = 1 | g) - min_g P(ŷ = 1 | g) over the groups present (0 for a single group).

    Shape:
        predictions: (n,) 0/1 int or bool; groups: (n,) int, n examples
    """
    _check_lengths(predictions, groups)
    everyone = torch.ones_like(groups, dtype=torch.bool)
    rates = _group_rates(_binary(predictions, "predictions"), groups, everyone, "no examples")
    return max(rates.values()) - min(rates.values())


def equalized_odds_difference(predictions, labels, groups):
    """The larger of the true-positive-rate gap and the false-positive-rate gap across groups:
    max(max_g TPR_g - min_g TPR_g, max_g FPR_g - min_g FPR_g), with TPR_g = P(ŷ = 1 | y = 1, g)
    and FPR_g = P(ŷ = 1 | y = 0, g). A group with no positive (or no negative) example has no
    TPR (FPR): ValueError naming the group, rather than a silent 0 or NaN.

    Shape:
        predictions, labels: (n,) 0/1 int or bool; groups: (n,) int, n examples
    """
    _check_lengths(predictions, labels, groups)
    pred, y = _binary(predictions, "predictions"), _binary(labels, "labels")
    gaps = []
    for value, rate in ((1, "true-positive"), (0, "false-positive")):
        missing = f"no examples with label {value}, so its {rate} rate is undefined"
        rates = _group_rates(pred, groups, y == value, missing).values()
        gaps.append(max(rates) - min(rates))
    return max(gaps)
