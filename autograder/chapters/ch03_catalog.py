"""Chapter 3 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points and is named in the feedback. The alternative correct implementations are test
fixtures: ``tests/chapters/alternatives/ch03.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake

_NORM_A = "torch.linalg.vector_norm(a, dim=-1, keepdim=True)"
_NORM_B = "torch.linalg.vector_norm(b, dim=-1, keepdim=True)"

ONE_HOT_MISTAKES = (
    Mistake(key="float_output", title="a float one-hot code",
            hint="one-hot codes are integers: return int64 (like F.one_hot)",
            patch={".long()": ".float()"}),
    Mistake(key="classes_first", title="the class axis put first instead of last",
            hint="the code of ids (...) has shape (..., num_classes): unsqueeze the LAST axis",
            patch={"(ids.unsqueeze(-1) == classes)":
                   "(ids.unsqueeze(0) == classes.reshape(-1, *[1] * ids.dim()))"}),
    Mistake(key="classes_from_1", title="classes counted from 1",
            hint="ids run from 0 to num_classes − 1: compare with torch.arange(num_classes)",
            patch={"torch.arange(num_classes,": "torch.arange(1, num_classes + 1,"}),
)

COSINE_MISTAKES = (
    Mistake(key="dot_product", title="dot products, not cosines",
            hint="divide each row by its length first: cos = a·b / (|a| |b|)",
            patch={"return a_unit @ b_unit.T": "return a @ b.T"}),
    Mistake(key="only_a_normalised", title="only the rows of a normalised",
            hint="normalise both sides: the rows of b have lengths too",
            patch={f"b_unit = b / {_NORM_B}.clamp_min(1e-12)": "b_unit = b"}),
    Mistake(key="wrong_axis", title="norms taken over the rows' axis 0",
            hint="each row's own length: the norm over the last axis (dim=-1)",
            patch={_NORM_A: "torch.linalg.vector_norm(a, dim=0, keepdim=True)",
                   _NORM_B: "torch.linalg.vector_norm(b, dim=0, keepdim=True)"}),
    Mistake(key="zero_row_nan", title="a zero row divides by 0 (NaN)",
            hint="clamp the norms at a tiny positive number: a zero vector has cosine 0",
            patch={f"{_NORM_A}.clamp_min(1e-12)": _NORM_A, f"{_NORM_B}.clamp_min(1e-12)": _NORM_B}),
)

NN_MISTAKES = (
    Mistake(key="ascending", title="the least similar rows returned",
            hint="sort the cosines in DESCENDING order: the nearest neighbours come first",
            patch={"descending=True": "descending=False"}),
    Mistake(key="skips_the_first", title="the best match skipped",
            hint="the query is not a row of the table here: the first neighbour counts",
            patch={"top = order[:, :k]": "top = order[:, 1:k + 1]"}),
    Mistake(key="dot_product", title="ranked by dot product instead of cosine",
            hint="long vectors win a dot product: rank by cosine similarity",
            patch={"cosine_similarity_matrix(q, embeddings)": "q @ embeddings.T"}),
)

ANALOGY_MISTAKES = (
    Mistake(key="no_exclusion", title="the question's own words not excluded",
            hint="b − a + c is usually nearest to b or c themselves: exclude a, b and c",
            patch={"    for excluded in (a, b, c):\n        sims[rows, excluded.reshape(-1)] = "
                   "float(\"-inf\")\n": ""}),
    Mistake(key="reversed_offset", title="the offset taken the wrong way: a − b + c",
            hint="a is to b as c is to ?: move c by the offset from a to b, e_b − e_a",
            patch={"embeddings[b] - embeddings[a] + embeddings[c]":
                   "embeddings[a] - embeddings[b] + embeddings[c]"}),
    Mistake(key="excludes_only_c", title="only c excluded",
            hint="exclude all three words of the question: a, b and c",
            patch={"for excluded in (a, b, c):": "for excluded in (c,):"}),
)

PCA_MISTAKES = (
    Mistake(key="not_centred", title="the data not centred",
            hint="subtract the mean of each feature before the SVD: PCA is about variance",
            patch={"centred = work - work.mean(dim=0, keepdim=True)": "centred = work"}),
    Mistake(key="divisor_n", title="variance divided by n instead of n − 1",
            hint="the unbiased covariance divides by n − 1",
            patch={"/ (x.shape[0] - 1)": "/ x.shape[0]"}),
    Mistake(key="no_sign_convention", title="the sign of each component left as the SVD gives it",
            hint="make each component's entry of largest magnitude positive",
            patch={"    components = components * torch.sign(components.gather(-1, biggest))\n": ""}),
    Mistake(key="singular_values", title="singular values used as variances",
            hint="the variance along a component is s² / (n − 1): square the singular values",
            patch={"s[:k] ** 2": "s[:k]"}),
)

COOCCURRENCE_MISTAKES = (
    Mistake(key="one_sided", title="only the context to the right counted",
            hint="the window reaches `window` positions on BOTH sides; the counts are symmetric",
            patch={"range(max(0, i - window),": "range(i + 1,"}),
    Mistake(key="window_short", title="the window stops one position short",
            hint="distances 1..window inclusive: range(i − window, i + window + 1)",
            patch={"i + window + 1)": "i + window)"}),
    Mistake(key="counts_itself", title="each position counted as its own context",
            hint="skip j = i: a token is not its own neighbour",
            patch={"            if j != i:\n": "            if True:\n"}),
)

PPMI_MISTAKES = (
    Mistake(key="negative_kept", title="negative PMI kept",
            hint="PPMI clips at 0: max(PMI − log(shift), 0)",
            patch={"pmi.clamp_min(0.0)": "pmi"}),
    Mistake(key="no_total", title="the total count c_tot left out of the PMI",
            hint="PMI = log[c(u, v) · c_tot / (c(u) c(v))]: probabilities are counts over c_tot",
            patch={"c * total / (row * col)": "c / (row * col)"}),
    Mistake(key="shift_not_logged", title="the shift subtracted without its logarithm",
            hint="shifted PMI subtracts log(shift) (log k for k negatives)",
            patch={"math.log(shift)": "shift"}),
    Mistake(key="zero_row_nan", title="words never seen give 0/0 = NaN",
            hint="pairs with c(u, v) = 0 get 0, including a whole row and column of zeros",
            patch={"torch.where(c > 0, pmi.clamp_min(0.0), torch.zeros_like(c))":
                   "pmi.clamp_min(0.0)"}),
)

SGNS_MISTAKES = (
    Mistake(key="negative_sign", title="the negative term's sign flipped: log σ(u_k · v_c)",
            hint="negatives must score LOW: −log σ(−u_k · v_c)",
            patch={"F.logsigmoid(-negative)": "F.logsigmoid(negative)"}),
    Mistake(key="context_from_w_in", title="the context vector taken from w_in",
            hint="centres come from w_in, contexts (and negatives) from w_out",
            patch={"(w_out[context] * v)": "(w_in[context] * v)"}),
    Mistake(key="sum_over_batch", title="summed over the batch instead of averaged",
            hint="the loss is the mean over the B pairs",
            patch={"return loss.mean()": "return loss.sum()"}),
)

WORD2VEC_MISTAKES = (
    Mistake(key="no_step", title="the optimizer never steps",
            hint="call optimizer.step() after loss.backward()",
            patch={"        optimizer.step()\n": ""}),
    Mistake(key="no_zero_grad", title="gradients never zeroed",
            hint="call optimizer.zero_grad() every step: gradients accumulate otherwise",
            patch={"        optimizer.zero_grad()\n": ""}),
    Mistake(key="one_table", title="one table for centres and contexts",
            hint="a word is not usually its own context: keep w_in (centres) and w_out "
                 "(contexts) separate",
            patch={"noise_ids, w_in, w_out)": "noise_ids, w_in, w_in)"}),
)
