#!/usr/bin/env python3
"""Peers measured beside jnora on the lent GPU (issue 4): PyTorch eager and PEFT on the same shapes.

Run by gpu/check.sh on the GPU machine (PyTorch and PEFT are installed there, nothing can be
downloaded). Prints one table; every figure is a median of CUDA-event timings after warm-up.

  * base GEMM alone: Y = X Wᵀ (nn.functional.linear), the floor every adapter is compared to;
  * nested adapter inference in eager ops, outer-first (X Aᵀ → A'ᵀ → B'ᵀ → Bᵀ, added to Y) and on
    precomputed effective factors (two thin GEMMs, what jnora's cached path does);
  * one training step (forward + backward, only A' and B' trainable) of the nested adapter in eager
    ops, and of a PEFT LoRA of rank 16 on the same nn.Linear;
  * torch.svd_lowrank (randomized SVD, q = 2 power iterations) and torch.linalg.svd of a 4096² float32
    matrix at r = 256: the peers of jnora's init.

Shapes: n = m = 4096, r = 256, r_in = 16 (NoRA's hyper-parameters), bf16 and fp32.
"""
import argparse
import statistics
import sys

import torch


def timed(fn, warmup, iterations):
    """Median milliseconds of fn() by CUDA events, after warm-up."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iterations):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def nested_factors(n, m, r, r_in, dtype, device, trainable):
    g = torch.Generator(device="cpu").manual_seed(1)
    a = (torch.randn(r, n, generator=g) / n ** 0.5).to(device, dtype)
    b = (torch.randn(m, r, generator=g) / r ** 0.5).to(device, dtype)
    a_in = (torch.randn(r_in, r, generator=g) / r ** 0.5).to(device, dtype)
    b_in = (torch.randn(r, r_in, generator=g) / r_in ** 0.5).to(device, dtype)
    if trainable:
        a_in.requires_grad_(True)
        b_in.requires_grad_(True)
    return a, b, a_in, b_in


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=4096)
    p.add_argument("--rank", type=int, default=256)
    p.add_argument("--inner-rank", type=int, default=16)
    p.add_argument("--rows", default="1,4,16,4096")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iterations", type=int, default=50)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("peers: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    device = "cuda"
    n = m = args.width
    r, r_in = args.rank, args.inner_rank
    scale = 1.0
    rows_list = [int(t) for t in args.rows.split(",")]
    print(f"peers on {torch.cuda.get_device_name()}: torch {torch.__version__}, n = m = {n}, r = {r}, r_in = {r_in}")
    print(f"{'dtype':6} {'T':>5} {'operation':44} {'median ms':>10} {'x base':>8}")

    def row(dtype, t, name, ms, base):
        print(f"{str(dtype).replace('torch.', ''):6} {t:>5} {name:44} {ms:10.4f} {ms / base:8.3f}", flush=True)

    for dtype in (torch.bfloat16, torch.float32):
        w = (torch.randn(m, n, device=device) / n ** 0.5).to(dtype)
        a, b, a_in, b_in = nested_factors(n, m, r, r_in, dtype, device, trainable=False)
        a_eff = (a_in @ a).contiguous()          # r_in × n
        b_eff = (scale * (b @ b_in)).contiguous()  # m × r_in
        for t in rows_list:
            x = torch.randn(t, n, device=device, dtype=dtype)
            with torch.no_grad():
                base = timed(lambda: torch.nn.functional.linear(x, w), args.warmup, args.iterations)
                row(dtype, t, "base GEMM alone", base, base)
                outer = timed(lambda: torch.nn.functional.linear(x, w)
                              + scale * (((x @ a.T) @ a_in.T) @ b_in.T) @ b.T, args.warmup, args.iterations)
                row(dtype, t, "nested inference, eager outer-first", outer, base)
                eff = timed(lambda: torch.addmm(torch.nn.functional.linear(x, w), x @ a_eff.T, b_eff.T),
                            args.warmup, args.iterations)
                row(dtype, t, "nested inference, eager effective factors", eff, base)

        # One training step on T = 4096 rows: forward, MSE-free loss ⟨dY, Y⟩ via backward(dY).
        t = max(rows_list)
        x = torch.randn(t, n, device=device, dtype=dtype)
        dy = torch.randn(t, m, device=device, dtype=dtype)
        a, b, a_in, b_in = nested_factors(n, m, r, r_in, dtype, device, trainable=True)

        def nested_step():
            y = torch.nn.functional.linear(x, w) + scale * (((x @ a.T) @ a_in.T) @ b_in.T) @ b.T
            y.backward(dy)

        with torch.no_grad():
            base = timed(lambda: torch.nn.functional.linear(x, w), args.warmup, args.iterations)
        step = timed(nested_step, args.warmup, args.iterations)
        row(dtype, t, "train step, nested adapter in eager ops", step, base)
        try:
            from peft import LoraConfig, get_peft_model

            class One(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.proj = torch.nn.Linear(n, m, bias=False, device=device, dtype=dtype)

                def forward(self, v):
                    return self.proj(v)

            model = get_peft_model(One(), LoraConfig(r=16, lora_alpha=16, target_modules=["proj"], lora_dropout=0.0))

            def peft_step():
                model(x).backward(dy)

            step = timed(peft_step, args.warmup, args.iterations)
            row(dtype, t, "train step, PEFT LoRA r = 16", step, base)
        except Exception as e:  # PEFT missing or failing is a finding, not a crash of the table
            print(f"peers: PEFT LoRA step not measured: {e!r}", file=sys.stderr)

    wt = torch.randn(n, n, device=device) / n ** 0.5
    wt = wt @ torch.diag(torch.logspace(0, -3, n, device=device))  # a decaying spectrum, as in jnora's bench
    lowrank = timed(lambda: torch.svd_lowrank(wt, q=r + 10, niter=2), 2, 5)
    exact = timed(lambda: torch.linalg.svd(wt, full_matrices=False), 1, 3)
    print(f"fp32   {n}² randomized SVD torch.svd_lowrank(q = r + 10, niter = 2): {lowrank:.2f} ms; "
          f"exact torch.linalg.svd: {exact:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
