"""Chapter 11.1, Model size and computational cost: what running and training a model costs in
FLOPs, seconds and money, and why decoding one token at a time is limited by memory bandwidth
rather than arithmetic (the roofline model).

Conventions, stated once:

* FLOPs are counted as in ``reference/efficiency.py``: a multiply and an add are two FLOPs, and
  only matrix products count. A weight matrix with n entries, applied to one token's activation
  vector, costs 2 n FLOPs; so a forward pass costs 2 N FLOPs per token for N parameters.
* Per token, a forward pass over a context of T positions costs
      2 N + 4 n_layer T D
  FLOPs (n_layer blocks, model width D): 2 N for the weights, plus 2 n_layer T D for the scores
  q kᵀ and 2 n_layer T D for the weighted sum of the values (per layer the heads together have
  D query features and D value features). This is the per-token estimate of Kaplan et al. (2020, "Scaling laws
  for neural language models", table 1, C_forward = 2 N + 2 n_layer n_ctx d_attn), with the
  attention term doubled because we count the product with the values too, as
  ``reference.efficiency.transformer_flops_per_token`` and ``reference.train.flops_per_token``
  do (and as PaLM's training count 6 N + 12 n_layer H E T does, in this course's letters, whose
  forward third is this formula).
* N counts the parameters that multiply an activation. An embedding table that is only looked up
  costs no FLOPs (with tied embeddings the head's matmul uses it, so it counts); norm gains and
  biases cost O(D) per token and are counted at 2 FLOPs each by "2 N", a negligible excess.
* Units: FLOPs, seconds, bytes, FLOP/s, bytes/s, and the price's currency per hour.
"""


# --------------------------------------------------------------------------- FLOPs and money
def inference_flops_per_token(n_params, n_layers, d_model, context):
    """Forward FLOPs for one token attending to ``context`` positions: 2 N + 4 n_layer T D (see the
    module docstring). ``context`` is taken as fixed: for autoregressive decoding, where the
    context grows from the prompt to the last token, pass the average number of positions
    attended to."""
    return 2 * n_params + 4 * n_layers * context * d_model


def inference_cost(n_params, n_layers, d_model, context, n_tokens, peak_flops, mfu,
                   price_per_hour):
    """FLOPs, wall-clock seconds and money to process (or generate) ``n_tokens`` tokens.

        flops   = n_tokens * (2 N + 4 n_layer T D)
        seconds = flops / (peak_flops * mfu)
        cost    = seconds / 3600 * price_per_hour

    ``peak_flops`` is the hardware's peak in FLOP/s for the dtype used; ``mfu`` (model FLOPs
    utilisation, in (0, 1]) the fraction of it the run achieves, so peak_flops * mfu is the
    achieved rate. ``price_per_hour`` is what the hardware costs per hour; ``cost`` comes in the
    same currency. Returns ``{"flops": ..., "seconds": ..., "cost": ...}``, Python floats.
    """
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu is a fraction of the peak, in (0, 1]; got {mfu}")
    if not peak_flops > 0:
        raise ValueError(f"peak_flops must be positive, got {peak_flops}")
    flops = float(n_tokens * inference_flops_per_token(n_params, n_layers, d_model, context))
    seconds = flops / (peak_flops * mfu)
    cost = seconds / 3600 * price_per_hour
    return {"flops": flops, "seconds": float(seconds), "cost": float(cost)}


def training_flops(n_params, n_tokens):
    """C = 6 N D_tok (D_tok the number of training tokens; Chinchilla writes D, which is the
    model width in this course):
    training costs 6 FLOPs per parameter per token, 2 for the forward pass (one multiply-add
    with the weight) and 4 for the backward pass (one multiply-add for the gradient with respect
    to the input, one for the gradient with respect to the weight).

    The attention term (12 n_layer T D per token, three times the forward's 4 n_layer T D) is
    left out, as in Kaplan et al. (2020) and Hoffmann et al. (2022). With N ≈ 12 n_layer D² (a
    standard block) it adds
    a fraction T / (6 D) to 6 N: 22% for GPT-2 small (T = 1024, D = 768), less for wider models.
    ``reference.train.flops_per_token`` keeps it, for measuring MFU.
    """
    return 6 * n_params * n_tokens


# --------------------------------------------------------------------------- the roofline
def decode_arithmetic_intensity(n_params, batch_size, bytes_per_param):
    """FLOPs per byte of weights read in one decoding step of ``batch_size`` sequences.

    The step multiplies every weight with one activation per sequence (2 N B FLOPs) and must read
    every weight from memory once (N * bytes_per_param bytes), so the intensity is
        (2 N B) / (N bytes_per_param) = 2 B / bytes_per_param,
    independent of the model's size. The KV cache (``reference.efficiency.kv_cache_bytes``) and
    the activations are ignored: they add bytes per sequence, so the true intensity is lower, and
    at long contexts it stops growing with the batch.
    """
    if n_params <= 0 or bytes_per_param <= 0 or batch_size < 1:
        raise ValueError("need n_params > 0, bytes_per_param > 0 and batch_size >= 1; got "
                         f"{n_params}, {bytes_per_param}, {batch_size}")
    return (2 * n_params * batch_size) / (n_params * bytes_per_param)


def roofline_time(flops, bytes_moved, peak_flops, bandwidth):
    """Lower bound on the time of a kernel that does ``flops`` FLOPs and moves ``bytes_moved``
    bytes between memory and the chip: max(flops / peak_flops, bytes_moved / bandwidth), i.e.
    compute and memory traffic overlap perfectly and the slower of the two decides. Seconds, for
    FLOP/s and bytes/s."""
    return max(flops / peak_flops, bytes_moved / bandwidth)


def ridge_point(peak_flops, bandwidth):
    """The arithmetic intensity (FLOPs per byte) at which the two bounds of ``roofline_time``
    meet: below it a kernel is memory-bound, above it compute-bound."""
    return peak_flops / bandwidth
