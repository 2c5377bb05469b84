"""The course's notation: one meaning per letter, in every chapter, docstring and formula.

Two tables. ``LETTERS`` are the dimension letters of ``Shape:`` sections and shape comments
(``# (B, H, L, E)``); a capital letter or capitalised name in a shape is always one of them
(``tests/chapters/test_book_and_notation.py`` checks every ``Shape:`` section of ``course/`` and
``reference/``). A count that is none of these main quantities is written in lower case and
defined where it is used (``n`` rows, ``k`` chosen by the caller, ``r`` a rank).
``SYMBOLS`` are the main quantities of the formulas (LaTeX), chosen so that no letter of
``LETTERS`` means something else in a formula: the parameter count is N, the training tokens are
D_tok (D is the model width), the loss is a calligraphic L (L counts queries), the number of
layers is n_layer. Lower-case letters (indices, positions such as RoPE's m and n, a number of
random features m) are local: each section defines the ones it uses.

``docs/NOTATION.md`` is rendered from these tables (``render_markdown``; a test keeps it in sync)
and every notebook's Conventions section links it.
"""

# letter -> meaning. Order: the order in which a reader meets them.
LETTERS: dict[str, str] = {
    "...": "any number of leading batch dimensions (possibly none), broadcast against each other",
    "B": "batch size: sequences (or examples) processed together",
    "T": "sequence length: tokens in one sequence, the context length (self-attention: L = S = T)",
    "L": "number of queries",
    "S": "number of keys, and of values",
    "H": "number of attention heads (query heads)",
    "Hkv": "number of key/value heads (multi-query and grouped-query attention)",
    "E": "head size: features of one head's queries and keys (E = D / H in multi-head attention)",
    "Ev": "features of one head's values",
    "D": "model width, `d_model`",
    "F": "hidden width of the feed-forward network, `d_ff`",
    "V": "vocabulary size: rows of the embedding, logits per prediction, classes of a loss",
    "P": "number of positions of a positional-encoding table",
}

# symbol (LaTeX, as written between $...$) -> meaning
SYMBOLS: dict[str, str] = {
    r"x_t": "the vector of token t (a row); a sequence is the matrix X of shape (T, D)",
    r"W_Q, W_K, W_V, W_O": "query, key, value and output projections, acting on the right (x W)",
    r"W_E, W_U": "the token embedding (V, D) and the unembedding (D, V)",
    r"\theta_i": "the angular frequency of feature pair i in sinusoidal encodings and RoPE",
    r"\Theta": "the RoPE / sinusoid base (`rope_theta`, 10 000 unless stated), θ_i = Θ^(−2i/E)",
    r"n_{\text{layer}}": "number of transformer blocks (layers)",
    r"N": "number of parameters of a model (scaling laws, compute)",
    r"D_{\text{tok}}": "number of training tokens (scaling laws, compute: C ≈ 6 N D_tok)",
    r"C": "training compute in FLOPs",
    r"\mathcal{L}": "a loss, in nats per token unless stated",
    r"\mathcal{H}": "the entropy rate of a source, in nats per token (the floor of its loss)",
    r"\mathcal{L}_\infty": "the fitted floor of a scaling law (a constant of the fit, not an entropy)",
    r"a_N, a_D, \alpha, \beta": "the other constants of a Chinchilla fit: "
                                  "L(N, D_tok) = L_∞ + a_N / N^α + a_D / D_tok^β",
    r"M": "on-chip memory (SRAM) of one streaming multiprocessor, in elements (FlashAttention)",
    r"\tau": "the temperature of a softmax or a sampler (divides the logits)",
    r"\eta": "learning rate",
    r"\lambda": "weight decay",
    r"\beta_1, \beta_2": "Adam's decay rates of the first and second moments",
}


def render_markdown() -> str:
    """docs/NOTATION.md: the two tables, for readers of the notebooks."""
    out = [
        "# Notation",
        "",
        "One meaning per letter, in every chapter of the course. Generated from",
        "`reference/notation.py` (edit it there; a test keeps this page in sync).",
        "",
        "## Dimension letters (`Shape:` sections, shape comments)",
        "",
        "| letter | meaning |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in LETTERS.items()),
        "",
        "A count that is none of these is written in lower case and defined where it is used",
        "(`n` rows of a flat list, `k` chosen by the caller, `r` a rank).",
        "",
        "## Symbols in formulas",
        "",
        "| symbol | meaning |",
        "|---|---|",
        *(f"| ${k}$ | {v} |" for k, v in SYMBOLS.items()),
        "",
    ]
    return "\n".join(out)
