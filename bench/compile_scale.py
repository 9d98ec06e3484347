"""Compile a ~1B-parameter Llama-shaped model with 4-bit weights on the cpu target.

    python bench/compile_scale.py [--weights int4:g128] [--layers 16] [--hidden 2048]

Random weights (seeded, filled in place: kvc.models.build), hidden 2048,
16 layers, vocab 32000, GQA 32/4 heads, SwiGLU 8192 (1.09B parameters).
Prints the compile time of every stage, the peak resident memory after each
phase, and the time of one prefill and one decode step, so that "a 1B model
compiles on a 2-core 24 GB machine" is a measured statement.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is KiB on Linux


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default="int4:g128")
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--intermediate", type=int, default=8192)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--prefill-len", type=int, default=16)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    import kvc
    from kvc import models

    torch.set_num_threads(2)
    rows = []
    t0 = time.perf_counter()
    cfg = models.LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_layers=args.layers,
                             num_heads=32, num_kv_heads=4, intermediate_size=args.intermediate,
                             max_position=args.max_seq_len)
    model = models.build(cfg, seed=0)
    n = sum(p.numel() for p in model.parameters())
    rows.append(("build model (seeded in-place init)", time.perf_counter() - t0, peak_rss_gib()))
    print(f"model: {n / 1e9:.2f}B parameters, fp32 {n * 4 / 2**30:.2f} GiB", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    llm = kvc.compile_llm(model, max_seq_len=args.max_seq_len, prefill_len=args.prefill_len,
                          weights=args.weights, keep_ir=False, progress=True)
    total = time.perf_counter() - t0
    rows.append(("compile_llm total", total, peak_rss_gib()))
    report = llm.report()

    prompt = torch.randint(0, args.vocab, (1, 8), generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    logits = llm.prefill(prompt)
    rows.append(("run: prefill step (16 tokens)", time.perf_counter() - t0, peak_rss_gib()))
    t0 = time.perf_counter()
    llm.step(torch.tensor([[int(logits.argmax())]]), 8)
    rows.append(("run: one decode step", time.perf_counter() - t0, peak_rss_gib()))
    assert np.isfinite(logits.numpy()).all()

    print(f"\ncompile_scale: {n:,} parameters, weights {args.weights}, cpu target")
    print(f"  weight bytes before {report.bytes_before / 2**30:.2f} GiB, after {report.bytes_after / 2**30:.2f} GiB "
          f"({report.bytes_before / report.bytes_after:.2f}x)")
    print(f"  {'stage':<78} {'seconds':>8}")
    for stage, seconds in report.stage_seconds.items():
        print(f"  {stage:<78} {seconds:8.2f}")
    print(f"\n  {'phase':<40} {'seconds':>8} {'peak RSS GiB':>13}")
    for name, seconds, rss in rows:
        print(f"  {name:<40} {seconds:8.2f} {rss:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
