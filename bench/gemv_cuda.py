"""Low-bit GEMV on the GPU, side by side: kvc (every bit width) vs torch fp16
(cuBLAS via F.linear), bitsandbytes NF4 and gemlite (Triton) at equal bits,
plus the GPU's measured device-to-device copy bandwidth (the targets' yardstick)
and a read-only stream (context) - all in one process.

    python bench/gemv_cuda.py --prebuild DIR            # here (needs MLIR): write kvc PTX
    python bench/gemv_cuda.py --prebuilt DIR --out OUT  # on the GPU: measure

Timing: for every method and shape, R copies of all weight buffers (R chosen
so that R x bytes >= 4 x L2) and of the activations; a CUDA graph of 24
launches cycling through the copies is replayed 15 times; per-launch time =
median replay time / 24 (CUDA events). So L2 never holds the weight and
Python launch overhead is out of the numbers. kvc's variant per shape is the
runtime's own choice (CudaLinear.kernel_for: its model, then its measurement
of the variants; both are printed). A second column gives
triton.testing.do_bench's median (it flushes L2 before every launch).

GB/s = (packed codes + scales [+ zeros, selectors / absmax] + activations +
outputs) / time - the bytes a launch must move at least. Two launch-floor
rows (a one-tile kvc GEMV, a one-element torch add) give the part of every
row's time that is launch cost in this harness; per shape, ``read-floor-2b``
/ ``-4b`` rows time a Triton kernel that only sums buffers of exactly the
2- / 4-bit codes + scales (what any kernel reading those bytes pays here,
whatever its decode). Baselines that do
not import are skipped with the reason printed. kvc weights here are random
device words (every bit pattern is a valid code), random fp16 scales: the
kernels' correctness is checked separately (python -m kvc.targets.cuda.check).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = [(4096, 4096), (8192, 8192), (28672, 8192), (8192, 28672)]
MS = (1, 4)
KVC_FORMATS = ["int2", "int3", "int4", "int5", "int6", "int8", "razer4", "e2m1", "uint1", "uint4"]
NOPDL_FORMATS = ["int2", "int4", "razer4"]
# gemlite's widths; its weights are unsigned codes with zero points (kvc's uint
# formats), and each kvc row is compared with the gemlite row of its own width
GEMLITE_BITS = (1, 2, 4, 8)
GROUP = 128
# the launch floor of a GEMV in this harness: one tile, one chunk (int4, N=16, K=256)
FLOOR_SHAPE = (16, 256)
TUNE_FORMATS = ("int4", "int2", "int3", "razer4", "e2m1")
# formats whose two-row-tile variants (two 16-row tiles share each x fragment) are timed
TWO_TILE_FORMATS = ("int2", "int3", "int4")


def floor_spec():
    from kvc.targets.cuda.spec import GemvSpec

    return GemvSpec("int4", *FLOOR_SHAPE, GROUP)


def tune_specs(formats=TUNE_FORMATS):
    """The kernel variants --tune times at M = 1 (to fit spec.choose_warps,
    spec.pick_variant and the variant set): warps per block W, register cap
    R, row tiles per block T; label ``tune:<format>:<spec.variant_tag>``."""
    from kvc.targets.cuda.spec import GemvSpec

    out = []
    for (n, k) in SHAPES:
        for f in formats:
            for w, r in ((4, 0), (8, 0), (16, 0), (4, 56), (8, 64), (8, 56), (16, 64)):
                out.append(GemvSpec(f, n, k, GROUP, warps=w, maxnreg=r))
            if f in TWO_TILE_FORMATS:
                out += [GemvSpec(f, n, k, GROUP, warps=w, row_tiles=2) for w in (4, 8, 16)]
            if f == "razer4":  # 4-5 blocks of 6-7 warps fit at its 72 registers
                out += [GemvSpec(f, n, k, GROUP, warps=w) for w in (6, 7)]
            # rolling reloads: one chunk of codes in registers instead of two
            for w, r in ((4, 0), (8, 0), (16, 0), (8, 64)) + (((6, 0),) if f == "razer4" else ()):
                out.append(GemvSpec(f, n, k, GROUP, warps=w, maxnreg=r, rolling=True))
            if f in TWO_TILE_FORMATS:
                out += [GemvSpec(f, n, k, GROUP, warps=w, row_tiles=2, rolling=True) for w in (4, 8, 16)]
                out.append(GemvSpec(f, n, k, GROUP, warps=16, row_tiles=2, maxnreg=64, rolling=True))
            if f == "int2":  # one chunk of 2-bit codes is 1 KB per warp: two ahead cost 16 registers
                out.append(GemvSpec(f, n, k, GROUP, warps=8, depth=2, rolling=True))
    return out


GRAPH_REPS, REPLAYS = 24, 15


def kvc_specs(tune: bool = True):
    from kvc.targets.cuda.spec import GemvSpec

    specs = [GemvSpec(f, n, k, GROUP) for (n, k) in SHAPES for f in KVC_FORMATS]
    specs.append(floor_spec())
    if tune:
        specs += tune_specs()
    return specs


# ------------------------------------------------------------------ timing
def time_graph(fns, torch, reps=GRAPH_REPS, replays=REPLAYS):
    """Median per-launch seconds of a CUDA graph cycling through ``fns``."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for f in fns[:3]:
            f()  # warm-up outside capture (module load, autotune, workspace)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(reps):
            fns[i % len(fns)]()
    g.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3 / reps)
    return statistics.median(times)


def time_events(fns, torch, reps=GRAPH_REPS, replays=REPLAYS):
    """Fallback when a method cannot be captured: back-to-back launches."""
    for f in fns[:3]:
        f()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for i in range(reps):
            fns[i % len(fns)]()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3 / reps)
    return statistics.median(times)


def time_cold(fn):
    try:
        import triton.testing
    except ImportError:
        return None
    return triton.testing.do_bench(fn, warmup=20, rep=60, return_mode="median") * 1e-3


def measure(fns, torch):
    try:
        t, how = time_graph(fns, torch), "graph"
    except Exception as err:  # capture unsupported by this method
        torch.cuda.synchronize()
        t, how = time_events(fns, torch), f"events ({type(err).__name__})"
    return t, how, time_cold(fns[0])


@functools.lru_cache(maxsize=None)
def _triton_sum_kernel():
    """A Triton kernel that sums an int32 buffer in 16-byte loads, each
    program writing one partial sum: reads and nothing else (defined once per
    process, shared by the read bandwidth and every read-floor row)."""
    import triton
    import triton.language as tl

    @triton.jit
    def _sum_kernel(src, dst, n, BLOCK: tl.constexpr, ITERS: tl.constexpr):
        pid = tl.program_id(0)
        base = pid * BLOCK * ITERS
        acc = tl.zeros([BLOCK], dtype=tl.int32)
        for i in range(ITERS):
            offs = base + i * BLOCK + tl.arange(0, BLOCK)
            acc += tl.load(src + offs, mask=offs < n, other=0)
        tl.store(dst + pid, tl.sum(acc))

    return triton, _sum_kernel


def _sum_launcher(torch, triton, kernel, src, block, iters, warps):
    """(launch, check): one sum of ``src`` into per-program partials, and
    whether the partials add up to torch's sum (values < 256, so a
    program's int32 sum cannot overflow)."""
    grid = (triton.cdiv(src.numel(), block * iters),)
    dst = torch.empty(grid[0], dtype=torch.int32, device="cuda")

    def launch():
        kernel[grid](src, dst, src.numel(), BLOCK=block, ITERS=iters, num_warps=warps)

    return launch, (lambda: int(dst.sum()) == int(src.sum()))


def read_bandwidth(torch, nbytes=2 << 30):
    """Read-only streaming bandwidth: the Triton sum over 2 GiB (a GEMV's
    traffic is almost all reads, which HBM serves faster than copy's read +
    write mix). Context for the copy fractions, not a target. None if its
    sum is wrong; raises without Triton (the caller reports why)."""
    triton, kernel = _triton_sum_kernel()
    a = torch.randint(0, 256, (nbytes // 4,), dtype=torch.int32, device="cuda")
    launch, check = _sum_launcher(torch, triton, kernel, a, 4096, 16, 8)
    t = time_events([launch], torch, reps=1, replays=20)
    ok = check()
    del a
    torch.cuda.empty_cache()
    if not ok:
        print("read bandwidth kernel: wrong sum, not reported")
        return None
    return nbytes / t


# (BLOCK, ITERS, warps) of the read floor's Triton sum; the fastest is kept
# (small programs win at these sizes: more of them in flight per SM)
READ_FLOOR_CONFIGS = ((1024, 4, 4), (2048, 2, 4), (2048, 8, 4), (4096, 4, 8))
READ_FLOOR_BITS = (2, 4)


def bench_read_floor(torch, n, k, bits, l2):
    """The read floor of a shape and width: the fastest of
    READ_FLOOR_CONFIGS summing buffers of exactly the packed codes + fp16
    group scales of an N x K weight at ``bits``, timed like every other row
    (graph of launches cycling through R copies). No kernel that must read
    these bytes can beat it by much in this harness, whatever its decode."""
    triton, kernel = _triton_sum_kernel()
    nbytes = n * k * bits // 8 + n * (k // GROUP) * 2
    srcs = [torch.randint(0, 256, (nbytes // 4,), dtype=torch.int32, device="cuda")
            for _ in range(copies_for(nbytes, l2))]
    best = None
    for block, iters, warps in READ_FLOOR_CONFIGS:
        launches = [_sum_launcher(torch, triton, kernel, s, block, iters, warps) for s in srcs]
        launches[0][0]()
        if not launches[0][1]():
            raise AssertionError(f"read floor kernel {block}x{iters}: wrong sum")
        res = measure([f for f, _ in launches], torch)
        if best is None or res[0] < best[0][0]:
            best = (res, f"b{block}i{iters}w{warps}")
    del srcs
    return [(1, best[0], nbytes, {"config": best[1]})]


def copy_bandwidth(torch, nbytes=2 << 30):
    a = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda").uniform_()
    b = torch.empty_like(a)
    t = time_events([lambda: b.copy_(a)], torch, reps=1, replays=20)
    del a, b
    torch.cuda.empty_cache()
    return 2 * nbytes / t


def copies_for(nbytes, l2):
    return max(1, min(64, math.ceil(4 * l2 / max(nbytes, 1))))


# ------------------------------------------------------------------ methods
# Each returns [(m, (time, how, cold), bytes, extra)] for every m in ms.
def bench_torch(torch, n, k, ms, l2):
    import torch.nn.functional as F

    w = torch.randn(n, k, dtype=torch.float16, device="cuda") * 0.02
    R = copies_for(w.numel() * 2, l2)
    ws = [w] + [w.clone() for _ in range(R - 1)]
    res = []
    for m in ms:
        xs = [torch.randn(m, k, dtype=torch.float16, device="cuda") for _ in range(R)]
        fns = [(lambda i=i: F.linear(xs[i], ws[i])) for i in range(R)]
        res.append((m, measure(fns, torch), 2 * n * k + 2 * m * k + 2 * m * n, None))
    return res


def bench_bnb(torch, n, k, ms, l2):
    import bitsandbytes as bnb
    import bitsandbytes.functional as BF

    w = torch.randn(n, k, dtype=torch.float16, device="cuda") * 0.02
    wq, st = BF.quantize_4bit(w, blocksize=64, quant_type="nf4")
    del w
    nbytes = wq.numel() * wq.element_size() + st.absmax.numel() * st.absmax.element_size()
    R = copies_for(nbytes, l2)
    qs = []
    for _ in range(R):
        s2 = copy.copy(st)
        s2.absmax = st.absmax.clone()
        qs.append((wq.clone(), s2))
    res = []
    for m in ms:
        xs = [torch.randn(m, k, dtype=torch.float16, device="cuda") for _ in range(R)]
        fns = [(lambda i=i: bnb.matmul_4bit(xs[i], qs[i][0], qs[i][1])) for i in range(R)]
        ref = xs[0].float() @ BF.dequantize_4bit(qs[0][0], qs[0][1]).float().T
        err = float((fns[0]().float() - ref).norm() / ref.norm())
        res.append((m, measure(fns, torch), nbytes + 2 * m * k + 2 * m * n, {"rel_err_vs_dequant": round(err, 6)}))
    return res


def bench_gemlite(torch, n, k, ms, l2, bits):
    from gemlite import DType, GemLiteLinear

    g = GROUP
    R = copies_for(n * k * bits // 8, l2)
    layers = []
    for _ in range(R):
        wq = torch.randint(0, 2 ** bits, (n, k), dtype=torch.uint8, device="cuda")
        sc = (torch.rand(n, k // g, device="cuda") * 0.01 + 0.001).half()
        zr = torch.full((n, k // g), (2 ** bits - 1) / 2, device="cuda").half()
        lay = GemLiteLinear(bits, group_size=g, in_features=k, out_features=n,
                            input_dtype=DType.FP16, output_dtype=DType.FP16)
        lay.pack(wq, sc, zr, None)
        layers.append(lay)
    nbytes = n * k * bits // 8 + 2 * 2 * n * (k // g)
    res = []
    for m in ms:
        xs = [torch.randn(m, k, dtype=torch.float16, device="cuda") for _ in range(R)]
        fns = [(lambda i=i: layers[i](xs[i])) for i in range(R)]
        res.append((m, measure(fns, torch), nbytes + 2 * m * k + 2 * m * n, None))
    return res


def kvc_random_linear(torch, spec, variants):
    """A CudaLinear whose device buffers are random words (every bit pattern is a
    valid code) and random fp16 scales in [1e-3, 1e-2], made on the GPU."""
    from kvc.targets.cuda.linear import CudaLinear

    def words(n):
        return torch.randint(-2 ** 31, 2 ** 31 - 1, (n,), dtype=torch.int32, device="cuda")

    def halves(lo, hi):
        v = (torch.rand(spec.scale_words, 2, device="cuda") * (hi - lo) + lo).half()
        return v.view(torch.int32).reshape(-1).contiguous()

    dev = {"w": words(spec.weight_vecs * 4), "scales": halves(1e-3, 1e-2)}
    if spec.info.affine:
        dev["zeros"] = halves(0.0, 2 ** spec.bits - 1)
    if spec.info.has_meta:
        dev["meta"] = words(spec.meta_words)
    lin = CudaLinear(variants[0][0], {}, variants[0][1], variants=variants)
    lin._dev[str(torch.device("cuda", torch.cuda.current_device()))] = dev
    return lin


def bench_kvc(torch, spec, ms, l2):
    from kvc.targets.cuda.linear import ptx_for, variant_specs

    variants = [(vs, ptx_for(vs)) for vs in variant_specs(spec)]
    R = copies_for(spec.weight_vecs * 16 + spec.scale_words * 4 * (2 if spec.info.affine else 1), l2)
    lins = [kvc_random_linear(torch, spec, variants) for _ in range(R)]
    attrs = lins[0].kernel_attributes()  # also makes the runtime pick its variant
    for lin in lins[1:]:
        lin._chosen.update(lins[0]._chosen)
    from kvc.runtime import cuda as rt

    ks, kptx = lins[0].kernel_for()
    extra = {"regs": attrs["num_regs"], "local": attrs["local_size_bytes"], "kernel": attrs["kernel"],
             "warps": attrs["warps"], "maxnreg": attrs["maxnreg"], "row_tiles": attrs["row_tiles"],
             "pdl": rt.uses_pdl(kptx, ks.name)}
    choice = next(iter(lins[0].info.get("variant_choice", {}).values()), {})
    extra["model_pick"] = choice.get("model_pick")
    extra["measured_us"] = {o["variant"]: o["measured_us"] for o in choice.get("options", [])
                            if o["measured_us"] is not None}
    res = []
    for m in ms:
        xs = [torch.randn(m, spec.k, dtype=torch.float16, device="cuda") for _ in range(R)]
        outs = [torch.empty(m, spec.n, dtype=torch.float16, device="cuda") for _ in range(R)]
        fns = [(lambda i=i: lins[i](xs[i], out=outs[i])) for i in range(R)]
        res.append((m, measure(fns, torch), spec.bytes_moved(m), extra))
    return res


# ------------------------------------------------------------------ main
def run(args):
    import torch

    if args.prebuilt:
        from kvc.targets.cuda.linear import add_prebuilt

        add_prebuilt(args.prebuilt)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    info = {"device": props.name, "sms": props.multi_processor_count, "l2_bytes": l2,
            "torch": torch.__version__, "python": sys.version.split()[0]}
    from kvc.runtime.cuda import driver

    info["driver_version"] = driver().version()
    print("device:", json.dumps(info))
    bw = copy_bandwidth(torch)
    info["copy_GBps"] = bw / 1e9
    print(f"device-to-device copy: {bw / 1e9:.0f} GB/s (read + write)")
    try:
        rbw = read_bandwidth(torch)
    except Exception as err:  # context only (e.g. no Triton): never let it stop the benchmark
        print(f"no read bandwidth: {type(err).__name__}: {err}")
        rbw = None
    info["read_GBps"] = None if rbw is None else rbw / 1e9
    if rbw is not None:
        print(f"read-only stream: {rbw / 1e9:.0f} GB/s (context; targets use copy)")
    rows = []
    avail = {}
    for name, mod in (("bitsandbytes", "bitsandbytes"), ("gemlite", "gemlite")):
        try:
            __import__(mod)
            avail[name] = None
        except Exception as err:
            avail[name] = f"{type(err).__name__}: {err}"
            print(f"SKIP {name}: cannot import ({avail[name]})")
    shapes = SHAPES if not args.quick else SHAPES[:2]

    def add(method, bits, n, k, m, res, nbytes, extra=None):
        (t, how, cold) = res
        r = {"method": method, "bits": bits, "n": n, "k": k, "m": m, "us": t * 1e6, "timing": how,
             "cold_us": None if cold is None else cold * 1e6, "bytes": nbytes, "GBps": nbytes / t / 1e9,
             "copy_frac": nbytes / t / bw}
        r.update(extra or {})
        rows.append(r)
        print(f"  {method:14s} {n:6d}x{k:<6d} m={m} {t * 1e6:8.1f} us  {nbytes / t / 1e9:7.0f} GB/s"
              f"  ({100 * nbytes / t / bw:3.0f}% of copy)  cold {('%.1f' % (cold * 1e6)) if cold else '-'} us"
              + (f"  {extra}" if extra else ""), flush=True)

    from kvc.targets.cuda.spec import GemvSpec

    def add_all(method, bits, n, k, results):
        for (m, res, nbytes, extra) in results:
            add(method, bits, n, k, m, res, nbytes, extra)

    if args.tune:
        print("== tuning variants (w: warps per block, d: chunks in registers ahead, p: in L2 ahead, "
              "r: register cap, t: row tiles per block), M = 1 ==")
        for spec in tune_specs(args.tune_formats.split(",")):
            add_all(f"tune:{spec.fmt}:{spec.variant_tag}", spec.bits, spec.n, spec.k,
                    bench_kvc(torch, spec, (1,), l2))
            torch.cuda.empty_cache()
        (out / "gemv_cuda_tune.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
        if args.tune_only:
            summarize(info, rows, out)
            return
    # what a launch costs with (almost) nothing to move: the part of every
    # row's time that no decoder or layout can remove
    print("== launch floor (one-tile kvc GEMV; a one-element torch add) ==")
    add_all("floor-kvc-int4", 4, *FLOOR_SHAPE, bench_kvc(torch, floor_spec(), (1,), l2))
    one = [torch.zeros(1, device="cuda") for _ in range(4)]
    add("floor-torch-add", 32, 1, 1, 1, measure([(lambda t=t: t.add_(1.0)) for t in one], torch), 8)

    def save():
        (out / "gemv_cuda.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))

    for (n, k) in shapes:
        print(f"== {n} x {k} ==")
        add_all("torch-fp16", 16, n, k, bench_torch(torch, n, k, MS, l2))
        torch.cuda.empty_cache()
        for bits in READ_FLOOR_BITS:
            try:
                add_all(f"read-floor-{bits}b", bits, n, k, bench_read_floor(torch, n, k, bits, l2))
            except Exception as e:  # context only (e.g. no Triton)
                print(f"  SKIP read floor {bits}-bit {n}x{k}: {type(e).__name__}: {str(e)[:300]}")
            torch.cuda.empty_cache()
        if avail["bitsandbytes"] is None:
            try:
                add_all("bnb-nf4", 4, n, k, bench_bnb(torch, n, k, MS, l2))
            except Exception as e:
                print(f"  SKIP bnb-nf4 {n}x{k}: {type(e).__name__}: {str(e)[:300]}")
            torch.cuda.empty_cache()
        for f in KVC_FORMATS:
            spec = GemvSpec(f, n, k, GROUP)
            add_all(f"kvc-{f}", spec.bits, n, k, bench_kvc(torch, spec, MS, l2))
            torch.cuda.empty_cache()
        # the same kernels launched without programmatic dependent launch (each
        # grid starts only after the previous one ended): what the overlap buys
        from kvc.runtime import cuda as rt

        rt.set_pdl(False)
        try:
            for f in NOPDL_FORMATS:
                spec = GemvSpec(f, n, k, GROUP)
                add_all(f"kvc-{f}-nopdl", spec.bits, n, k, bench_kvc(torch, spec, MS, l2))
                torch.cuda.empty_cache()
        finally:
            rt.set_pdl(None)
        save()
    # gemlite last: shapes missing from its tuned-config cache trigger Triton autotuning
    if avail["gemlite"] is None:
        t_start = time.time()
        for (n, k) in shapes:
            for bits in GEMLITE_BITS:
                if time.time() - t_start > args.gemlite_budget:
                    print(f"  SKIP gemlite {bits}-bit {n}x{k}: over the {args.gemlite_budget:.0f}s budget "
                          "for gemlite setup/autotuning in this run")
                    continue
                try:
                    t0 = time.time()
                    add_all(f"gemlite-{bits}b", bits, n, k, bench_gemlite(torch, n, k, MS, l2, bits))
                    print(f"    (gemlite {bits}-bit {n}x{k}: {time.time() - t0:.0f}s incl. autotune)")
                except Exception as e:
                    print(f"  SKIP gemlite {bits}-bit {n}x{k}: {type(e).__name__}: {str(e)[:300]}")
                torch.cuda.empty_cache()
            save()
    save()
    summarize(info, rows, out)


def summarize(info, rows, out):
    bw = info["copy_GBps"] * 1e9

    def get(method, n, k, m):
        for r in rows:
            if r["method"] == method and (r["n"], r["k"], r["m"]) == (n, k, m):
                return r
        return None

    read = f", read-only stream {info['read_GBps']:.0f} GB/s" if info.get("read_GBps") else ""
    lines = [f"# GEMV on {info['device']} (copy bandwidth {info['copy_GBps']:.0f} GB/s{read}), fp16 activations, group {GROUP}",
             "",
             "| N x K | M | method | us | GB/s | % copy | x fp16 | x bnb-nf4 | x gemlite (same bits) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (n, k) in SHAPES:
        for m in MS:
            t16 = get("torch-fp16", n, k, m)
            bnbr = get("bnb-nf4", n, k, m)
            for r in rows:
                if (r["n"], r["k"], r["m"]) != (n, k, m) or r["method"].startswith("tune:"):
                    continue
                gl = get(f"gemlite-{r['bits']}b", n, k, m) if r["method"].startswith("kvc") else None
                f = lambda ref: f"{ref['us'] / r['us']:.2f}" if ref else "-"
                lines.append(f"| {n}x{k} | {m} | {r['method']} | {r['us']:.1f} | {r['GBps']:.0f} | "
                             f"{100 * r['GBps'] * 1e9 / bw:.0f} | {f(t16)} | {f(bnbr)} | {f(gl)} |")
    if any(r["method"].startswith("read-floor-") for r in rows):
        lines += ["", "read-floor-Nb: a Triton kernel that only sums buffers of exactly the N-bit codes + fp16",
                  "scales of the shape (fastest of READ_FLOOR_CONFIGS): what any kernel reading those bytes",
                  "pays in this harness, whatever its decode."]
    floors = [r for r in rows if r["method"].startswith("floor-")]
    if floors:
        lines += ["", "Launch floor (same harness, M = 1): " + ", ".join(
            f"{r['method']} {r['n']}x{r['k']} {r['us']:.2f} us" for r in floors)]
    picks = [r for r in rows if r["method"].startswith("kvc-") and r["m"] == 1 and r.get("model_pick")]
    if picks:
        lines += ["", "Variant choice (M = 1): the runtime's kernel, the model's pick when the",
                  "measurement replaced it, and each variant's time as the runtime measured it",
                  "(CUDA graph of back-to-back launches, weights from DRAM; us per launch).", "",
                  "| N x K | method | kernel | model's pick | measured |", "| --- | --- | --- | --- | --- |"]
        for r in picks:
            short = lambda name: name[name.rindex("_w", 0, name.index("_d")) + 1:name.rindex("_sm_")] if name else "-"
            model = "same" if r["model_pick"] == r["kernel"] else short(r["model_pick"])
            meas = ", ".join(f"{t} {u:.1f}" for t, u in r.get("measured_us", {}).items())
            lines.append(f"| {r['n']}x{r['k']} | {r['method']} | {short(r['kernel'])} | {model} | {meas} |")
    tune = [r for r in rows if r["method"].startswith("tune:")]
    if tune:
        lines += ["", "| tuning variant | N x K | us | GB/s | regs | local bytes |", "| --- | --- | --- | --- | --- | --- |"]
        for r in tune:
            lines.append(f"| {r['method']} | {r['n']}x{r['k']} | {r['us']:.1f} | {r['GBps']:.0f} | {r.get('regs')} | {r.get('local')} |")
    text = "\n".join(lines)
    (out / "gemv_cuda.md").write_text(text + "\n")
    print(text)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as err:
        print(f"no plot: matplotlib unavailable ({err})")
        return
    fig, axes = plt.subplots(1, len(SHAPES), figsize=(5 * len(SHAPES), 4), sharey=True)
    for ax, (n, k) in zip(axes, SHAPES):
        sel = [r for r in rows if (r["n"], r["k"], r["m"]) == (n, k, 1) and not r["method"].startswith("tune:")]
        ax.bar([r["method"] for r in sel], [r["GBps"] for r in sel],
               color=["tab:blue" if r["method"].startswith("kvc") else "tab:gray" for r in sel])
        ax.axhline(info["copy_GBps"], color="red", ls="--", label="copy bandwidth")
        ax.set_title(f"{n}x{k}, M=1")
        ax.tick_params(axis="x", rotation=90)
    axes[0].set_ylabel("achieved GB/s (bytes that must move / time)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "gemv_cuda.png", dpi=110)
    print(f"plot: {out / 'gemv_cuda.png'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prebuild", metavar="DIR", help="generate kvc PTX for every benchmarked kernel (needs MLIR)")
    ap.add_argument("--prebuilt", metavar="DIR", help="read kvc PTX from DIR (GPU machine without MLIR)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"), help="where the JSON, table and plot go")
    ap.add_argument("--quick", action="store_true", help="only the two smaller shapes")
    ap.add_argument("--tune", action="store_true", help="also time kernel variants (warps, depth, L2 prefetch)")
    ap.add_argument("--tune-only", action="store_true", help="with --tune: stop after the variants")
    ap.add_argument("--tune-formats", default=",".join(TUNE_FORMATS),
                    help="with --tune: comma-separated formats whose variants are timed")
    ap.add_argument("--gemlite-budget", type=float, default=150.0,
                    help="seconds allowed for gemlite setup + autotuning before its remaining shapes are skipped")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.tune_formats.split(",")) - set(TUNE_FORMATS))
    if unknown:
        ap.error(f"--tune-formats: no prebuilt variants for {', '.join(unknown)} (choose from {', '.join(TUNE_FORMATS)})")
    if args.prebuild:
        from kvc.targets.cuda.linear import write_prebuilt

        t = time.time()
        specs = write_prebuilt(args.prebuild, kvc_specs(tune=True))
        print(f"wrote PTX for {len(specs)} kernels into {args.prebuild} ({time.time() - t:.0f}s)")
        return 0
    from kvc.runtime.cuda import available

    ok, why = available()
    if not ok:
        print(f"SKIP benchmark: no usable GPU ({why})")
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
