"""Throughput of the course's training loop, and what its extras cost (ratios within one run).

Trains the same reference GPT on the bundled synthetic corpus with ``reference.train.train`` (the
full loop: accumulation, clipping, schedule, evaluation, checkpoint-free) and with a plain
baseline loop (``torch.optim.AdamW``, ``F.cross_entropy``, nothing else), and prints tokens/s and
MFU of each against the matmul peak measured on the same device in the same run. Runs on CPU, and
on CUDA too when present (bfloat16 autocast there).

Run: python bench/train.py [--steps N]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from reference.blocks import GPT
from reference.data import get_batch, synthetic_corpus
from reference.train import (TrainConfig, estimate_mfu, flops_per_token, measure_peak_flops,
                             train)


def make_model(vocab, context):
    torch.manual_seed(0)
    return GPT(vocab, context, 64, 2, 4, 256)


def baseline(model, tokens, steps, batch_size, context, device, dtype):
    """The plainest loop: batch, forward, loss, backward, step."""
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    t0 = None
    for step in range(steps + 1):
        if step == 1:  # the first step warms up (allocations, kernel selection)
            if kind == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        x, y = get_batch(tokens, batch_size, context, device, gen)
        with torch.autocast(kind, dtype=dtype, enabled=dtype != torch.float32):
            loss = F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if kind == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size * context / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--context", type=int, default=64)
    args = parser.parse_args()
    corpus = synthetic_corpus(vocab_size=16, order=2, n_train=50_000, n_val=5_000)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        peak = measure_peak_flops(device, dtype, n=2048 if device == "cuda" else 1024)
        fpt = flops_per_token(make_model(16, args.context), args.context)
        cfg = TrainConfig(max_steps=args.steps, batch_size=args.batch_size,
                          context_length=args.context, eval_interval=10**9, eval_batches=1,
                          log_interval=max(1, args.steps // 4), device=device,
                          dtype=str(dtype).removeprefix("torch."), peak_flops=peak,
                          progress=False)
        hist = train(make_model(16, args.context), corpus.train, corpus.val, cfg)
        loop_tps = max(hist["tokens_per_s"][1:] or hist["tokens_per_s"])  # after warm-up
        base_tps = baseline(make_model(16, args.context), corpus.train, args.steps,
                            args.batch_size, args.context, device, dtype)
        print(f"{device} ({str(dtype).removeprefix('torch.')}), measured matmul peak "
              f"{peak / 1e9:,.1f} GFLOP/s, {fpt / 1e6:.2f} MFLOP/token")
        for name, tps in (("reference loop", loop_tps), ("plain baseline", base_tps)):
            print(f"  {name:<15} {tps:>10,.0f} tokens/s   MFU {100 * estimate_mfu(fpt, tps, peak):5.2f}%")
        print(f"  reference / baseline throughput: {loop_tps / base_tps:.2f}")


if __name__ == "__main__":
    main()
