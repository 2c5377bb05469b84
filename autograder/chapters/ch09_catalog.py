"""Chapter 9 catalog: plausible wrong implementations (common mistakes), as patches on the solution's
answer cell (``{old: new}``, see ``spec.Mistake``). tests/ prove that each mistake loses its
exercise's points (and only those) and is named in the feedback. The alternative correct
implementations are test fixtures: ``tests/chapters/alternatives/ch09.py``.
"""

from __future__ import annotations

from autograder.spec import Mistake

_PRE_TOKENS = {"PRETOKENIZE.findall(piece)": "[piece]"}  # train_bpe's and BPETokenizer's split


# =========================================================================== train_bpe
BPE_MISTAKES = (
    Mistake(key="tie_smallest", title="ties broken towards the smallest pair",
            hint="among equally frequent pairs, merge the lexicographically GREATEST (left bytes, "
                 "right bytes)",
            patch={"max(pairs, key=lambda p: (pairs[p],": "min(pairs, key=lambda p: (-pairs[p],"}),
    Mistake(key="no_pretokenize", title="merges learned across pre-token boundaries",
            hint="split the text with PRETOKENIZE first; count pairs inside each pre-token only",
            patch=_PRE_TOKENS),
    Mistake(key="unweighted_counts", title="each distinct pre-token counted once",
            hint="weight every pair by how many times its pre-token occurs in the text",
            patch={'encode("utf-8"))] += 1': 'encode("utf-8"))] = 1'}),
    Mistake(key="size_without_special", title="special tokens not counted in vocab_size",
            hint="the number of merges is vocab_size − 256 − len(special_tokens)",
            patch={"256 - len(special_tokens)": "256"}),
    Mistake(key="special_ids_sorted", title="special tokens numbered in sorted order",
            hint="the special tokens take the last ids in the order they are given, not sorted",
            patch={"    for s in special_tokens:\n": "    for s in sorted(special_tokens):\n"}),
)


# =========================================================================== BPETokenizer
TOKENIZER_MISTAKES = (
    Mistake(key="leftmost_first", title="the leftmost mergeable pair merged first",
            hint="always merge the pair that was LEARNED earliest (lowest rank), wherever it is",
            patch={"pair = min(found)": "pair = found[0]"}),
    Mistake(key="no_pretokenize", title="merges applied across pre-token boundaries",
            hint="split with PRETOKENIZE and encode each pre-token separately", patch=_PRE_TOKENS),
    Mistake(key="per_token_decode", title="each token decoded to text on its own",
            hint="join all the tokens' bytes first, then decode once: a character's bytes can be "
                 "split across tokens",
            patch={'b"".join(self.vocab[int(i)] for i in ids).decode("utf-8", errors="replace")':
                   '"".join(self.vocab[int(i)].decode("utf-8", errors="replace") for i in ids)'}),
    Mistake(key="ignores_special", title="special tokens encoded as ordinary text",
            hint="split the text on the special tokens first and give each its own id",
            patch={"self.special_tokens = tuple(special_tokens)": "self.special_tokens = ()"}),
    Mistake(key="decode_ignores_errors", title="invalid UTF-8 dropped when decoding",
            hint='decode with errors="replace": bytes that are not valid UTF-8 (a character cut '
                 "short) become U+FFFD, they are not dropped",
            patch={'errors="replace"': 'errors="ignore"'}),
    Mistake(key="byte_values_as_ids", title="starts from the raw byte values as ids",
            hint="look every single byte up in the vocabulary (bytes -> id): a vocabulary the "
                 "tokenizer did not train may number the bytes differently",
            patch={'[self.bytes_to_id[bytes([b])] for b in pre.encode("utf-8")]':
                   'list(pre.encode("utf-8"))'}),
)


# =========================================================================== pack_documents
_DOC, _EOS = ("        parts.append(torch.as_tensor(d, dtype=torch.long).reshape(-1))\n",
              "        parts.append(torch.tensor([eos_id], dtype=torch.long))\n")

PACK_MISTAKES = (
    Mistake(key="no_eos", title="documents concatenated without EOS",
            hint="append eos_id after every document", patch={_EOS: ""}),
    Mistake(key="eos_before", title="EOS placed before each document",
            hint="EOS goes AFTER each document", patch={_DOC + _EOS: _EOS + _DOC}),
    Mistake(key="pads_tail", title="the incomplete tail padded into a row",
            hint="drop the incomplete last row: packing means no padding",
            patch={"n_rows = stream.numel() // seq_len": "n_rows = -(-stream.numel() // seq_len)\n"
                   "    stream = torch.cat([stream, stream.new_full((n_rows * seq_len - "
                   "stream.numel(),), eos_id)])"}),
    Mistake(key="no_final_eos", title="no EOS after the last document",
            hint="every document, the last one included, is followed by eos_id",
            patch={"torch.cat(parts) if parts": "torch.cat(parts[:-1]) if parts"}),
    Mistake(key="keeps_document_dtype", title="the documents' own dtype kept (EOS by new_tensor)",
            hint="convert every document to int64 (torch.as_tensor(d, dtype=torch.long)) first: "
                 "documents stored as uint8 or int32, or an empty list (float32 for torch), must "
                 "still give int64 rows",
            patch={_DOC + _EOS: "        doc = torch.as_tensor(d).reshape(-1)\n"
                                "        parts.append(doc)\n"
                                "        parts.append(doc.new_tensor([eos_id]))\n"}),
)


# =========================================================================== get_batch
BATCH_MISTAKES = (
    Mistake(key="never_last_window",
            title="the last window is never drawn (randint's high off by one)",
            hint="torch.randint's high is exclusive: draw from torch.randint(0, n − T, ...)",
            patch={"n - context_length,": "n - context_length - 1,"}),
    Mistake(key="targets_not_shifted", title="y equals x",
            hint="y is x shifted by one token: tokens[o + 1 : o + T + 1]",
            patch={"window[:, 1:].to(device)": "window[:, :-1].to(device)"}),
    Mistake(key="without_replacement", title="offsets drawn without replacement (randperm)",
            hint="draw independent uniform offsets with one torch.randint call",
            patch={"torch.randint(0, n - context_length, (batch_size,), generator=generator)":
                   "torch.cat([torch.randperm(n - context_length, generator=generator) for _ in "
                   "range(-(-batch_size // (n - context_length)))])[:batch_size]"}),
)


# =========================================================================== accumulate_gradients
ACCUMULATE_MISTAKES = (
    Mistake(key="no_weighting", title="micro-batch losses summed without weighting",
            hint="weight loss_i by n_i / n_total so the gradients add up to the mean over all "
                 "targets",
            patch={" * (y.numel() / n_total)": ""}),
    Mistake(key="equal_weights", title="each micro-batch weighted 1/k whatever its size",
            hint="weight by the number of targets n_i / n_total: micro-batches can differ in "
                 "size",
            patch={"(y.numel() / n_total)": "(1 / len(micro_batches))"}),
    Mistake(key="stale_gradients", title="gradients from before the call kept",
            hint="set every p.grad to None (or zero) before accumulating",
            patch={"    for p in model.parameters():\n        p.grad = None\n": ""}),
    Mistake(key="returns_last_loss", title="returns the last micro-batch's loss",
            hint="return the weighted mean over all micro-batches",
            patch={"loss = loss_fn(model(x), y) *":
                   "last = loss_fn(model(x), y)\n        loss = last *",
                   "return total": "return last.detach()"}),
    Mistake(key="returns_attached_loss", title="the returned loss still holds its graph",
            hint="add loss.detach() to the total: a loss that keeps its graph keeps every "
                 "micro-batch's activations in memory",
            patch={"total = total + loss.detach()": "total = total + loss"}),
)


# =========================================================================== estimate_mfu
MFU_MISTAKES = (
    Mistake(key="percent", title="MFU returned in percent", hint="return a fraction (0.4, not 40)",
            patch={"return flops_per_token": "return 100 * flops_per_token"}),
    Mistake(key="inverted", title="peak over achieved", hint="MFU = achieved FLOP/s / peak FLOP/s",
            patch={"return flops_per_token * tokens_per_second / peak_flops":
                   "return peak_flops / (flops_per_token * tokens_per_second)"}),
    Mistake(key="six_again", title="the 6 counted twice",
            hint="flops_per_token already includes the 6 (forward + backward)",
            patch={"return flops_per_token": "return 6 * flops_per_token"}),
)


# =========================================================================== train
TRAIN_MISTAKES = (
    Mistake(key="lr_off_by_one", title="the schedule read at step + 1",
            hint="step s (from 0) uses cosine_schedule(s, ...): 0 at the very first step",
            patch={"cosine_schedule(step,": "cosine_schedule(step + 1,"}),
    Mistake(key="decay_everything", title="weight decay applied to biases and gains too",
            hint="put parameters with dim < 2 in a group with weight_decay=0",
            patch={'"weight_decay": 0.0}': '"weight_decay": config.weight_decay}'}),
    Mistake(key="no_clipping", title="gradients never clipped",
            hint="call clip_grad_norm(params, config.grad_clip) after backward (when "
                 "grad_clip > 0)",
            patch={"clip_grad_norm(params, config.grad_clip)": "pass"}),
    Mistake(key="batch_rng_not_restored", title="resuming restarts the batch generator",
            hint="save the batch generator's get_state() in the checkpoint and set_state() it on "
                 "resume, or the resumed run sees different batches",
            patch={'batch_gen.set_state(state["batch_rng"])': "pass"}),
    Mistake(key="eval_uses_train_rng", title="evaluation draws from the training generator",
            hint="evaluate with its own generator, seeded with seed + 1 each time, so evaluating "
                 "never changes the training batches",
            patch={"gen = torch.Generator().manual_seed(config.seed + 1)": "gen = batch_gen"}),
    Mistake(key="no_autocast", title="config.dtype ignored: everything computed in float32",
            hint="unless the dtype is float32, run the forward passes (training and evaluation) "
                 "under torch.autocast(device_type, dtype=...)",
            patch={"return torch.autocast(device_type=device_type, dtype=dtype)":
                   "return contextlib.nullcontext()"}),
    Mistake(key="backward_under_autocast",
            title="accumulate_gradients called under autocast: backward runs under it too",
            hint="put only the forward pass under autocast: give accumulate_gradients the model "
                 "wrapped in a module whose forward alone enters torch.autocast, and call it "
                 "outside autocast",
            patch={"loss = float(accumulate_gradients(forward_model, micro, loss_fn))":
                   "with autocast():\n"
                   "            loss = float(accumulate_gradients(model, micro, loss_fn))"}),
    Mistake(key="auto_dtype_bfloat16", title="dtype 'auto' taken as bfloat16 on the CPU too",
            hint="'auto' means bfloat16 on CUDA and float32 on the CPU",
            patch={'dtype = torch.bfloat16 if device_type == "cuda" else torch.float32':
                   "dtype = torch.bfloat16"}),
    Mistake(key="loss_not_unscaled", title="the float16 step's loss reported still scaled",
            hint="divide the loss accumulate_gradients returns by scaler.get_scale() when the "
                 "scaler is enabled: it is the scaled loss",
            patch={"        if scaler.is_enabled():\n"
                   "            loss = loss / scaler.get_scale()\n": ""}),
    Mistake(key="scaler_never_enabled", title="no loss scaling for float16",
            hint="enable the GradScaler for float16 (enabled=dtype is torch.float16): small "
                 "gradients underflow to zero in float16 unless the loss is scaled up",
            patch={"enabled=dtype == torch.float16)": "enabled=False)"}),
    Mistake(key="checkpoint_only_at_end", title="a checkpoint only when the run ends",
            hint="save every checkpoint_interval steps too: a job killed mid-run saves nothing "
                 "at its end, and can only resume from a periodic checkpoint",
            patch={"(step + 1) % config.checkpoint_interval == 0 or step + 1 == end":
                   "step + 1 == end"}),
    Mistake(key="resume_flag_ignored", title="resumes whenever the checkpoint exists",
            hint="restore the checkpoint only if config.resume is True: with resume=False the run "
                 "starts afresh from the model it is given (and overwrites the file)",
            patch={"if path and config.resume and os.path.exists(path):":
                   "if path and os.path.exists(path):"}),
    Mistake(key="no_eval_at_the_end", title="no evaluation after the last step",
            hint="evaluate every eval_interval steps AND after step max_steps − 1, even when "
                 "max_steps is not a multiple of eval_interval",
            patch={"(step + 1) % config.eval_interval == 0 or step == config.max_steps - 1":
                   "(step + 1) % config.eval_interval == 0"}),
    Mistake(key="val_step_after_update", title="history['val_step'] records s + 1",
            hint="record the step s (from 0) after which the evaluation ran, as history['step'] "
                 "does",
            patch={'history["val_step"].append(step)': 'history["val_step"].append(step + 1)'}),
    Mistake(key="no_log_at_the_end", title="no throughput entry for the run's last step",
            hint="log tokens/s and MFU every log_interval steps AND after the run's last step "
                 "(its end may fall between two logs, e.g. with stop_at_step)",
            patch={"(step + 1) % config.log_interval == 0 or step + 1 == end":
                   "(step + 1) % config.log_interval == 0"}),
    Mistake(key="mfu_forward_flops", title="MFU from the forward pass's FLOPs only (2N)",
            hint="training costs flops_per_token(model, context_length) (6N + 12 n_layer T D): "
                 "the backward pass does twice the forward's matrix products",
            patch={"fpt = flops_per_token(model, config.context_length)":
                   "fpt = 2 * sum(p.numel() for p in model.parameters())"}),
    Mistake(key="eval_in_train_mode", title="evaluation in train mode",
            hint="call model.eval() before evaluating (dropout off), and model.train() after",
            patch={"        model.eval()\n        losses = []": "        losses = []"}),
    Mistake(key="eval_with_gradients", title="evaluation builds autograd graphs",
            hint="evaluate under torch.no_grad(): no gradients are needed, and the graphs cost "
                 "memory",
            patch={"    @torch.no_grad()\n    def evaluate():": "    def evaluate():"}),
    Mistake(key="train_mode_not_restored", title="the model left in eval mode after evaluating",
            hint="call model.train() after the evaluation: the steps after it must run in "
                 "training mode",
            patch={"        model.train()\n        return sum(losses) / len(losses)":
                   "        return sum(losses) / len(losses)"}),
)


# =========================================================================== all_reduce_gradients
_REDUCE = "dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)"

ALL_REDUCE_MISTAKES = (
    Mistake(key="sum_not_mean", title="gradients summed over ranks, not averaged",
            hint="all_reduce sums; divide by dist.get_world_size() so the step equals the "
                 "large-batch step", patch={"p.grad.div_(world)": "pass"}),
    Mistake(key="broadcast", title="rank 0's gradient broadcast to every rank",
            hint="broadcast copies one rank's gradient and throws the others away; all_reduce "
                 "combines them",
            patch={_REDUCE: "dist.broadcast(p.grad, src=0)", "p.grad.div_(world)": "pass"}),
    Mistake(key="reduced_copy",
            title="a copy of each gradient reduced, the gradient left as it was",
            hint="all_reduce works in place on the tensor you pass: pass p.grad itself (or copy "
                 "the result back)",
            patch={_REDUCE: "g = p.grad.clone()\n            dist.all_reduce(g)",
                   "p.grad.div_(world)": "g.div_(world)"}),
    Mistake(key="divides_twice", title="gradients divided by the world size twice",
            hint="divide either before or after the sum, once: the result is the plain mean",
            patch={_REDUCE: f"p.grad.div_(world)\n            {_REDUCE}"}),
)


# =========================================================================== ddp_train_step
_ZERO = "    optimizer.zero_grad(set_to_none=True)\n"
_ALL_REDUCE = "    all_reduce_gradients(model)\n"

DDP_MISTAKES = (
    Mistake(key="no_all_reduce", title="gradients never averaged across ranks",
            hint="call all_reduce_gradients(model) between backward and optimizer.step(), or the "
                 "replicas drift apart", patch={_ALL_REDUCE: ""}),
    Mistake(key="zero_before_step", title="gradients zeroed between backward and optimizer.step()",
            hint="the order is zero_grad, forward, backward, all-reduce, step: zeroing after "
                 "backward throws the gradient away",
            patch={_ZERO: "", "    optimizer.step()": _ZERO + "    optimizer.step()"}),
    Mistake(key="no_zero_grad", title="gradients not zeroed before backward",
            hint="backward adds into .grad: call optimizer.zero_grad() first", patch={_ZERO: ""}),
    Mistake(key="sum_gradients", title="gradients summed over ranks, not averaged",
            hint="divide the all-reduced sum by the world size",
            patch={_ALL_REDUCE: "    for p in model.parameters():\n        if p.grad is not None:\n"
                                "            torch.distributed.all_reduce(p.grad)\n"}),
    Mistake(key="returns_attached_loss", title="the returned loss still holds its graph",
            hint="return loss.detach(): a loss that keeps its graph keeps the step's activations "
                 "in memory",
            patch={"return loss.detach()": "return loss"}),
)


# =========================================================================== derivations
_ALL_THREE = "return forward + grad_input + grad_weight"

LINEAR_FLOPS_MISTAKES = (
    Mistake(key="forward_only", title="the forward product only, 2mn",
            hint="training also runs the backward pass: the gradients with respect to the input "
                 "(∂𝓛/∂y Wᵀ) and to the weights (xᵀ ∂𝓛/∂y) are one matrix product each",
            patch={_ALL_THREE: "return forward"}),
    Mistake(key="one_backward_product", title="one backward product, 4mn",
            hint="the backward pass needs two products of the size of the forward one: ∂𝓛/∂x = "
                 "∂𝓛/∂y Wᵀ for the layers below, and ∂𝓛/∂W = xᵀ ∂𝓛/∂y for the optimizer",
            patch={_ALL_THREE: "return forward + grad_weight"}),
    Mistake(key="multiply_add_as_one", title="a multiply-add counted as one FLOP, 3mn",
            hint="each of the three products has mn multiply-adds, and a multiply-add is 2 FLOPs "
                 "(a multiply and an add)",
            patch={"forward = 2 * m * n  # y = x W": "forward = m * n",
                   "grad_input = 2 * m * n  # dL/dx = dL/dy W^T": "grad_input = m * n",
                   "grad_weight = 2 * m * n  # dL/dW = x^T dL/dy": "grad_weight = m * n"}),
)
