"""FlashAttention (Chapter 7): the drivers that measure how the student's passes compute, the
checks that judge those measurements against FlashAttention's budget, and the stand-ins for the
passes while their autograd Function is graded.

The forward and backward drivers run the student's pass once under :func:`measure.measured` and
return, after the pass's own outputs, two measurements: the largest tensor it created
(``[elements, rows, columns]``, the last two dimensions of that tensor) and its matmul FLOPs.
The cases compare the pass's outputs with the reference and judge the measurements with
:func:`budget_check` (``Case.compared`` / ``Case.checks``), in the grader, from the case's own
sizes. A pass that breaks the budget is therefore a wrong answer with outputs, which the judge
can match against the catalogued mistakes (a full row block of scores, masked tiles computed),
not an error it could only report. The autograd Function's driver likewise appends the largest
tensor its ``ctx`` keeps between the passes, judged by :func:`saved_check`.

The budget, exact: no tensor may hold more than

    heads · (min(block_q, L) · min(block_k, S) + (L + S) · (E + Ev))

elements (heads = the product of the leading dimensions): one score tile per head plus tensors
the size of q, k, v and out together. With ``is_causal``, the matmul FLOPs may not exceed
``flops_per_pair(E, Ev)`` times the (query, key) pairs of the tiles that the causal mask does not
hide completely (``measure.causal_tile_pairs``).
"""

from __future__ import annotations

import torch

from .measure import attention_sizes, causal_tile_pairs, largest_tensor, measured
from .registry import driver, standin

FORWARD_PRODUCTS = "two products (Z = q kᵀ and P v)"
BACKWARD_PRODUCTS = "five products (Z = q kᵀ, dV += Pᵀ dO, dP = dO vᵀ, dQ += dZ k, dK += dZᵀ q)"


def tensor_budget(L: int, S: int, E: int, Ev: int, heads: int, block_q: int,
                  block_k: int) -> int:
    """The most elements one tensor of a FlashAttention pass may hold (see the module's text)."""
    return heads * (min(block_q, L) * min(block_k, S) + (L + S) * (E + Ev))


def forward_flops_per_pair(E: int, Ev: int) -> int:
    """Matmul FLOPs of the forward pass per computed (query, key) pair: q·k and p·v."""
    return 2 * (E + Ev)


def backward_flops_per_pair(E: int, Ev: int) -> int:
    """Matmul FLOPs of the backward pass per computed (query, key) pair: five products."""
    return 2 * (3 * E + 2 * Ev)


def _with_measurements(run, device, names: tuple[str, ...]):
    """``run()``'s outputs (a tuple of ``names``) followed by [elements, rows, columns] of the
    largest tensor it created and its matmul FLOPs (int64, on ``device``: every output is on the
    case's device)."""
    result, watch, flops = measured(run)
    if not (isinstance(result, (tuple, list)) and len(result) == len(names)):
        got = f"{type(result).__name__} of {len(result)}" if isinstance(result, (tuple, list)) \
            else type(result).__name__
        raise TypeError(f"expected a tuple of {len(names)} values ({', '.join(names)}), got {got}")
    shape = (1, 1, *watch.shape)[-2:]
    largest = torch.tensor([watch.numel, *shape], dtype=torch.int64, device=device)
    return (*result, largest, torch.tensor(flops, dtype=torch.int64, device=device))


@driver
def drive_flash_forward(fn, q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    """``fn(q, k, v, ...)`` once, measured: returns ``(out, lse, largest, flops)``."""
    return _with_measurements(
        lambda: fn(q, k, v, is_causal=is_causal, scale=scale, block_q=block_q, block_k=block_k),
        q.device, ("out", "lse"))


@driver
def drive_flash_backward(fn, q, k, v, out, lse, grad_out, is_causal=False, scale=None,
                         block_q=64, block_k=64):
    """The student's backward once, measured: returns ``(dq, dk, dv, largest, flops)``."""
    return _with_measurements(
        lambda: fn(q, k, v, out, lse, grad_out, is_causal=is_causal, scale=scale,
                   block_q=block_q, block_k=block_k),
        q.device, ("dq", "dk", "dv"))


def budget_check(flops_per_pair, products: str, who: str, advice: str):
    """A case check (``Case.checks``) of the two measurements that end the outputs against the
    budget of the case's sizes: None when within it, else what was exceeded and how to fix it."""
    def check(outputs, case):
        heads, L, S, E, Ev = attention_sizes(*case.args[:3])
        block_q, block_k = case.kwargs.get("block_q", 64), case.kwargs.get("block_k", 64)
        numel, rows, cols = largest_tensor(outputs[-2])
        flops = int(outputs[-1])
        limit = tensor_budget(L, S, E, Ev, heads, block_q, block_k)
        if numel > limit:
            if numel >= L * S and {rows, cols} == {L, S}:
                what = "an L × S score/probability/mask matrix"
            elif numel >= heads * min(block_q, L) * S and S in (rows, cols):
                what = ("a whole row block of scores, block_q × S: the key loop must go "
                        "block_k keys at a time, with the online softmax")
            else:
                what = "a tensor larger than one score tile per head plus q, k, v and out"
            return (f"{who} created a tensor of {numel:,} elements (its last two dimensions "
                    f"{rows} × {cols}): {what}. FlashAttention never materialises it: with "
                    f"block_q={block_q}, block_k={block_k} and {heads} head(s) of L={L}, S={S}, "
                    f"E={E}, Ev={Ev} a tensor may hold at most heads · (min(block_q, L) · "
                    f"min(block_k, S) + (L + S)(E + Ev)) = {limit:,} elements; {advice}")
        if case.kwargs.get("is_causal"):
            allowed = heads * flops_per_pair(E, Ev) * causal_tile_pairs(L, S, block_q, block_k)
            if flops > allowed:
                return (f"with is_causal=True {who} spent {flops:,} matmul FLOPs, but only "
                        f"{allowed:,} are needed ({products} per pair of the tiles that are not "
                        "entirely masked) when the tiles that the causal mask hides completely "
                        "(first key after the tile's last query) are skipped: do not compute them "
                        "and then mask them")
        return None
    return check


FORWARD_BUDGET = budget_check(forward_flops_per_pair, FORWARD_PRODUCTS, "your code",
                              "loop over key blocks and keep only the running max, sum and output")
BACKWARD_BUDGET = budget_check(backward_flops_per_pair, BACKWARD_PRODUCTS, "your backward",
                               "recompute P one tile at a time from lse, never the whole row or "
                               "the whole L × S matrix")


def _kept_for_backward(node) -> list[torch.Tensor]:
    """The tensors an autograd Function's ``ctx`` keeps: ``save_for_backward``'s and those held in
    its attributes (directly, or in a tuple, list or dict)."""
    try:
        kept = list(node.saved_tensors)
    except (AttributeError, RuntimeError):  # not a custom Function's node
        kept = []
    for value in vars(node).values() if hasattr(node, "__dict__") else ():
        items = value.values() if isinstance(value, dict) else \
            value if isinstance(value, (tuple, list)) else (value,)
        kept += [t for t in items if isinstance(t, torch.Tensor)]
    return kept


@driver
def drive_flash_function(cls, q, k, v, grad_out, is_causal=False, scale=None, block_q=64,
                         block_k=64):
    """out = cls.apply(q, k, v, is_causal, scale, block_q, block_k), then autograd: returns out,
    the gradients of q, k, v for ``grad_out``, and [elements, rows, columns] of the largest tensor
    the forward kept for the backward (judged by ``SAVED_BUDGET``)."""
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise TypeError("FlashAttentionFunction must subclass torch.autograd.Function")
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    out = cls.apply(q, k, v, is_causal, scale, block_q, block_k)
    if not isinstance(out, torch.Tensor):
        raise TypeError("forward must return the output tensor only (keep lse in ctx)")
    kept = max(_kept_for_backward(out.grad_fn), key=torch.Tensor.numel, default=out.new_zeros(0))
    largest = torch.tensor([kept.numel(), *(1, 1, *kept.shape)[-2:]], dtype=torch.int64,
                           device=q.device)
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), grad_out)
    return out.detach(), dq, dk, dv, largest


def saved_check(outputs, case):
    """A case check of what FlashAttentionFunction's forward keeps for the backward (the last
    output): no tensor above heads · (L + S)(E + Ev) elements, which q, k, v, out and lse meet and
    an L × S score or probability matrix exceeds in the cases where L · S > (L + S)(E + Ev)."""
    heads, L, S, E, Ev = attention_sizes(*case.args[:3])
    numel, rows, cols = largest_tensor(outputs[-1])
    limit = heads * (L + S) * (E + Ev)
    if numel <= limit:
        return None
    what = ("an L × S score or probability matrix" if {rows, cols} == {L, S}
            else "more than the inputs, the output and lse")
    return (f"your forward kept a tensor of {numel:,} elements (its last two dimensions {rows} × "
            f"{cols}) for the backward: {what}. Keep q, k, v, out and lse only (at most "
            f"heads · (L + S)(E + Ev) = {limit:,} elements each): the backward recomputes P tile "
            "by tile from lse")


# --------------------------------------------------------------------------- stand-ins
# Plain attention in at least float32 (top-left causal mask, as everywhere), the backward from
# torch.func.vjp: while FlashAttentionFunction is graded, one bug costs one exercise.
def _wide(*tensors):
    wide = torch.promote_types(tensors[0].dtype, torch.float32)
    return [t.to(wide) for t in tensors]


def _scores(q, k, is_causal, scale):
    s = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if is_causal:
        s = s + torch.full(s.shape[-2:], float("-inf"), device=q.device).triu(1)
    return s


@standin("ch07.flash_attention_forward")
def flash_attention_forward(q, k, v, is_causal=False, scale=None, block_q=64, block_k=64):
    a, b, c = _wide(q, k, v)
    s = _scores(a, b, is_causal, scale)
    return (torch.softmax(s, -1) @ c).to(q.dtype), torch.logsumexp(s, -1).to(q.dtype)


@standin("ch07.flash_attention_backward")
def flash_attention_backward(q, k, v, out, lse, grad_out, is_causal=False, scale=None,
                             block_q=64, block_k=64):
    def attention(a, b, c):
        return torch.softmax(_scores(a, b, is_causal, scale), -1) @ c

    _, vjp = torch.func.vjp(attention, *_wide(q, k, v))
    return tuple(g.to(q.dtype) for g in vjp(*_wide(grad_out)))
