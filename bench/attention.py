"""Naive vs tiled (reference FlashAttention in PyTorch) vs PyTorch's SDPA, as ratios to SDPA
measured in the same run: time, achieved GFLOP/s and the largest tensor created (a proxy for peak
memory on the CPU, recorded with a TorchDispatchMode). Prints a table and saves a plot.

On CUDA with Triton, the reference Triton kernel (``reference/triton_flash.py``) is a fourth line,
and ``--dtype float16``/``bfloat16`` measures the tensor-core path.

Run: python bench/attention.py [--sizes 256 512 1024] [--device cpu|cuda] [--dtype float32]
                               [--plot out.png]
(small sizes by default, so it finishes in seconds on a laptop CPU; the issue's 256…4096 sweep is
``--sizes 256 512 1024 2048 4096``). On CUDA, peak memory is torch.cuda.max_memory_allocated.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from reference.attention import scaled_dot_product_attention
from reference.efficiency import attention_flops
from reference.flash import flash_attention_forward

from reference.triton_flash import triton, triton_flash_attention_forward


class LargestTensor(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.nbytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.nbytes = max(self.nbytes, t.numel() * t.element_size())
        return out


def _time(fn, device, repeat):
    fn()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def _peak(fn, device):
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    with LargestTensor() as watch:
        fn()
    return watch.nbytes


def run(sizes, device="cpu", dtype=torch.float32, B=1, H=4, E=64, block=128, repeat=3):
    rows = []
    for N in sizes:
        q, k, v = (torch.randn(B, H, N, E, device=device, dtype=dtype) for _ in range(3))
        impls = {
            "naive": lambda: scaled_dot_product_attention(q, k, v),
            "tiled": lambda: flash_attention_forward(q, k, v, block_q=block, block_k=block),
            "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
        }
        if device == "cuda" and triton is not None:  # Triton installed: a Triton line
            impls["triton"] = lambda: triton_flash_attention_forward(q, k, v)
        flops = attention_flops(B, H, N, N, E)
        res = {name: (_time(fn, device, repeat), _peak(fn, device)) for name, fn in impls.items()}
        t0, m0 = res["sdpa"]
        for name, (t, m) in res.items():
            rows.append(dict(N=N, impl=name, seconds=t, gflops=flops / t / 1e9, peak=m,
                             time_vs_sdpa=t / t0, mem_vs_sdpa=m / max(m0, 1)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    ap.add_argument("--plot", default=None, help="save a plot here (png)")
    args = ap.parse_args()
    rows = run(args.sizes, args.device, getattr(torch, args.dtype))
    print(f"{'N':>6} {'impl':>6} {'ms':>9} {'GFLOP/s':>8} {'peak MiB':>9} {'t/sdpa':>7} {'mem/sdpa':>8}")
    for r in rows:
        print(f"{r['N']:>6} {r['impl']:>6} {r['seconds'] * 1e3:>9.2f} {r['gflops']:>8.1f} "
              f"{r['peak'] / 2**20:>9.2f} {r['time_vs_sdpa']:>7.2f} {r['mem_vs_sdpa']:>8.2f}")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(8, 3))
        for impl in dict.fromkeys(r["impl"] for r in rows):
            sel = [r for r in rows if r["impl"] == impl]
            ax[0].loglog([r["N"] for r in sel], [r["seconds"] for r in sel], "o-", label=impl, base=2)
            ax[1].loglog([r["N"] for r in sel], [r["peak"] / 2**20 for r in sel], "o-", label=impl,
                         base=2)
        ax[0].set(xlabel="N", ylabel="seconds")
        ax[1].set(xlabel="N", ylabel="peak / largest tensor (MiB)")
        ax[1].legend()
        fig.tight_layout()
        fig.savefig(args.plot)


if __name__ == "__main__":
    main()
