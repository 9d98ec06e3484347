"""GPU correctness check of the cuda target (run where there is a GPU).

    python -m kvc.targets.cuda.check --prebuild DIR   # here: write the PTX it needs
    python -m kvc.targets.cuda.check --prebuilt DIR   # on the GPU: run every case

Every format family (int2..8, uint1..8, bipolar1..8, e2m1 / e3m2 / e2m3 / e4m3,
razer4), fp16 and bf16 activations, N odd, K not a multiple of the 256-wide
chunk (and odd K), group sizes 32 / 64 / 128 / 512 / whole-row, bias, M from
1 to 11 (two launches). Weights and activations are fresh seeded random
draws; the reference is ``x @ dequant(W)^T`` in float64 from the canonical
kvc.formats tensor (independent of the device re-layout). Outputs are
poisoned with NaN before each launch; every element must be written.

Pass criterion: ``||y - ref|| / ||ref|| <= 1e-3`` for float32 and float16
outputs (the kernel's own error is ~1e-6: exact fp16 products, fp32
accumulation; fp16 output rounding adds <= 2^-11 relative per element),
and <= 1e-2 for bfloat16 outputs (bf16 rounding alone is up to 2^-8).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from .spec import GemvSpec

FORMATS = (
    ["int2", "int3", "int4", "int5", "int6", "int8", "uint1", "uint2", "uint3", "uint4", "uint8"]
    + [f"bipolar{b}" for b in range(1, 9)]
    + ["e2m1", "e3m2", "e2m3", "e4m3", "razer4"]
)
TOL = {"float32": 1e-3, "float16": 1e-3, "bfloat16": 1e-2}


def cases() -> list[tuple[GemvSpec, tuple[int, ...]]]:
    """(spec, Ms) of every check."""
    out = []
    for i, f in enumerate(FORMATS):
        out.append((GemvSpec(f, 1031, 4160, 128, act="float16", out="float32"), (1, 5, 8)))
        out.append((GemvSpec(f, 257, 1000, 64, act="bfloat16", out="float32", bias=True), (1, 4, 11)))
        out.append((GemvSpec(f, 33, 520, 32, act="float16", out="float16"), (2, 8)))
        if i % 3 == 0:
            out.append((GemvSpec(f, 70, 999, 999, act="float16", out="float32"), (1, 3)))
        if i % 4 == 1:
            out.append((GemvSpec(f, 300, 2304, 512, act="bfloat16", out="bfloat16", bias=True), (1, 6)))
    # the benchmark's kernel configuration on a large shape, both dtypes
    out.append((GemvSpec("int4", 4096, 4096, 128, act="float16", out="float16"), (1, 4)))
    out.append((GemvSpec("razer4", 4096, 4096, 128, act="bfloat16", out="float32"), (1, 4)))
    # fixed variants with two row tiles per block (odd tile counts: the last
    # block's second tile lies past N), one per decoder kind
    for f, act in (("int2", "float16"), ("int3", "bfloat16"), ("int4", "float16"), ("uint2", "float16"),
                   ("bipolar3", "bfloat16"), ("e2m1", "float16"), ("razer4", "float16")):
        out.append((GemvSpec(f, 1031, 4160, 128, act=act, out="float32", warps=8, row_tiles=2), (1, 5, 8)))
    out.append((GemvSpec("int2", 8192, 8192, 128, act="float16", out="float16", warps=16, row_tiles=2), (1, 4)))
    # fixed variants with rolling reloads (4 warps: each runs 4-5 loop trips),
    # one per decoder kind, and the large-shape kernels the benchmark times
    for f, act, rt in (("int2", "float16", 2), ("int3", "bfloat16", 1), ("int4", "float16", 1),
                       ("uint2", "float16", 2), ("bipolar3", "bfloat16", 1), ("e2m1", "float16", 1),
                       ("razer4", "float16", 1), ("razer4", "bfloat16", 2)):
        out.append((GemvSpec(f, 1031, 4160, 128, act=act, out="float32", warps=4, row_tiles=rt, rolling=True),
                    (1, 5, 8)))
    for f, w, rt in (("razer4", 8, 1), ("int4", 8, 1), ("int2", 16, 2)):
        out.append((GemvSpec(f, 8192, 8192, 128, act="float16", out="float16", warps=w, row_tiles=rt,
                             rolling=True), (1, 4)))
    # scales in lanes on the benchmark's 8192x8192 (4 trips: two lane registers
    # per word kind), one per decoder kind that has a different group record
    for f in ("int2", "int4", "uint4", "razer4"):
        out.append((GemvSpec(f, 8192, 8192, 128, act="float16", out="float16", warps=8, maxnreg=64,
                             rolling=True, lane_scales=True), (1, 4)))
    # the two-tile register-budget kernel with scales in lanes (int2's pick there)
    out.append((GemvSpec("int2", 8192, 8192, 128, act="float16", out="float16", warps=8, maxnreg=128,
                         row_tiles=2, lane_scales=True), (1, 4)))
    return out


def _act_round(x: np.ndarray, act: str) -> np.ndarray:
    if act == "float16":
        return x.astype(np.float16).astype(np.float64)
    b = x.astype(np.float32).view(np.uint32)
    b = (b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return b.view(np.float32).astype(np.float64)


def run_checks(prebuilt: str | None, log=print, seed: int = 1234) -> list[dict]:
    import torch

    from kvc import formats

    from .linear import add_prebuilt, compile_quantized

    if prebuilt:
        add_prebuilt(prebuilt)
    rng = np.random.default_rng(seed)
    results = []
    for spec, ms in cases():
        t0 = time.time()
        w = rng.standard_normal((spec.n, spec.k)).astype(np.float32) * rng.uniform(0.5, 2.0)
        qt = formats.get(spec.fmt).quantize(w, group_size=spec.group_size)
        bias = rng.standard_normal(spec.n).astype(np.float32) if spec.bias else None
        lin = compile_quantized(qt, bias=bias, act=spec.act, out=spec.out, arch=spec.arch,
                                **spec.variant_settings())
        assert lin.spec.layout_key() == spec.layout_key(), (lin.spec, spec)
        wref = qt.dequantize().astype(np.float64)
        dev_key = str(torch.device("cuda", torch.cuda.current_device()))
        chosen = lin.kernel_for()[0]
        n0 = len(results)
        for variant in lin.variants:  # every compiled variant, not only the one the runtime picks
            lin._chosen[dev_key] = variant
            vs = variant[0]
            for m in ms:
                x = _act_round(rng.standard_normal((m, spec.k)), spec.act)
                ref = x @ wref.T + (0.0 if bias is None else bias.astype(np.float64))
                xt = torch.from_numpy(x).to(getattr(torch, spec.act)).cuda()
                y = torch.full((m, spec.n), float("nan"), dtype=getattr(torch, spec.out), device="cuda")
                lin(xt, out=y)
                torch.cuda.synchronize()
                yn = y.double().cpu().numpy()
                written = bool(np.all(np.isfinite(yn)))
                err = float(np.linalg.norm(np.nan_to_num(yn, nan=1e30) - ref) / np.linalg.norm(ref))
                ok = written and err <= TOL[spec.out]
                r = {"format": spec.fmt, "n": spec.n, "k": spec.k, "group": spec.group_size, "act": spec.act,
                     "out": spec.out, "bias": spec.bias, "m": m, "rel_err": err, "all_written": written, "ok": ok,
                     "kernel": vs.name, **vs.variant_settings(), "runtime_choice": vs == chosen}
                results.append(r)
                if not ok:
                    log(f"FAIL {vs.name} m={m}: rel_err={err:.3e} written={written}")
        mine = results[n0:]
        log(f"{'ok  ' if all(r['ok'] for r in mine) else 'FAIL'} {spec.fmt:9s} N={spec.n:5d} "
            f"K={spec.k:5d} g={spec.group_size:4d} {spec.act:8s}->{spec.out:8s} bias={int(spec.bias)} "
            f"warps={'/'.join(_variant_label(v[0]) for v in lin.variants)} (runtime picks {_variant_label(chosen)}) "
            f"max_err={max(r['rel_err'] for r in mine):.2e} ({time.time() - t0:.1f}s)")
    return results


def _variant_label(vs) -> str:
    """``8`` for 8 warps, ``8r64`` for 8 warps capped at 64 registers,
    ``8t2`` for 8 warps and two row tiles per block, ``8s`` for 8 warps with
    rolling reloads, ``8l`` for 8 warps with scales in lanes."""
    return (f"{vs.nwarps}" + (f"r{vs.maxnreg}" if vs.maxnreg else "")
            + (f"t{vs.row_tiles}" if vs.row_tiles > 1 else "") + ("s" if vs.rolling else "")
            + ("l" if vs.lane_scales else ""))


CHAIN_SPECS = [GemvSpec("int4", 4096, 4096, 128), GemvSpec("razer4", 4096, 4096, 128)]


def run_chain_check(prebuilt: str | None, log=print, seed: int = 99, layers: int = 8) -> list[dict]:
    """Kernels launched back to back, each reading the previous one's output
    (the case programmatic dependent launch must get right: a grid may start
    before the one before it ends and must wait for it before reading x).
    Every intermediate buffer is NaN before the chain runs, eagerly and as a
    replayed CUDA graph, so a read before the producer finished shows."""
    import torch

    from kvc import formats
    from kvc.runtime import cuda as rt

    from .linear import add_prebuilt, compile_quantized

    if prebuilt:
        add_prebuilt(prebuilt)
    rng = np.random.default_rng(seed)
    out = []
    for spec in CHAIN_SPECS:
        lins, wrefs = [], []
        for _ in range(layers):
            w = rng.standard_normal((spec.n, spec.k)).astype(np.float32) / np.sqrt(spec.k)
            qt = formats.get(spec.fmt).quantize(w, group_size=spec.group_size)
            lins.append(compile_quantized(qt, act=spec.act, out=spec.out, arch=spec.arch))
            wrefs.append(qt.dequantize().astype(np.float64))
        x = _act_round(rng.standard_normal((1, spec.k)), spec.act)
        h = x
        for wr in wrefs:  # float64 per layer, rounded to fp16 between layers like the kernels' outputs
            h = _act_round(h @ wr.T, "float16")
        bufs = [torch.from_numpy(x).half().cuda()] + [torch.empty((1, spec.n), dtype=torch.float16, device="cuda")
                                                       for _ in range(layers)]

        def chain():
            for i, lin in enumerate(lins):
                lin(bufs[i], out=bufs[i + 1])

        def poison():
            for b in bufs[1:]:
                b.fill_(float("nan"))
            torch.cuda.synchronize()

        chain()  # loads the modules
        results = []
        for how in ("eager", "graph"):
            if how == "graph":
                poison()
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                g = torch.cuda.CUDAGraph()
                with torch.cuda.stream(s), torch.cuda.graph(g, stream=s):
                    chain()
                torch.cuda.current_stream().wait_stream(s)
            for rep in range(3):
                poison()
                g.replay() if how == "graph" else chain()
                torch.cuda.synchronize()
                y = bufs[-1].double().cpu().numpy()
                err = float(np.linalg.norm(np.nan_to_num(y, nan=1e30) - h) / np.linalg.norm(h))
                results.append(err if np.all(np.isfinite(y)) else float("inf"))
        ks, kptx = lins[0].kernel_for()
        pdl = rt.uses_pdl(kptx, ks.name)
        worst = max(results)
        # 1e-2: each layer's output is rounded to fp16 (as in the reference); a rounding
        # boundary the kernel's fp32 sum lands on the other side of propagates
        ok = worst <= 1e-2
        log(f"{'ok  ' if ok else 'FAIL'} chain of {layers} {spec.fmt} {spec.n}x{spec.k} launches back to back "
            f"(programmatic dependent launch {'on' if pdl else 'off'}), eager + graph x3: worst rel_err {worst:.2e}")
        out.append({"format": spec.fmt, "layers": layers, "pdl": pdl, "rel_err": worst, "ok": ok})
    return out


def run_model_check(bundle: str, log=print) -> dict:
    """Load a saved CudaModel artifact (compiled elsewhere) and compare it with eager
    torch on the dequantized weights stored beside it (float64 reference)."""
    import torch
    import torch.nn.functional as F
    from pathlib import Path

    from .linear import load

    b = Path(bundle)
    model = load(b / "artifact")
    meta = json.loads((b / "reference.json").read_text())
    x = np.load(b / "x.npy", allow_pickle=False)
    h = torch.from_numpy(x.astype(np.float64))
    for i, layer in enumerate(meta["layers"]):
        if layer["type"] == "linear":
            w = torch.from_numpy(np.load(b / f"w{i}.npy", allow_pickle=False).astype(np.float64))
            h = h @ w.T
            if layer["bias"]:
                h = h + torch.from_numpy(np.load(b / f"b{i}.npy", allow_pickle=False).astype(np.float64))
            h = h.to(getattr(torch, model.act)).double()  # the model rounds activations between layers
        else:
            h = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}[layer["op"]](h)
    ref = h.numpy()
    y = model(torch.from_numpy(x).cuda()).double().cpu().numpy()
    err = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
    ok = bool(np.all(np.isfinite(y))) and err <= 1e-2
    log(f"{'ok  ' if ok else 'FAIL'} model artifact {model}: rel_err={err:.2e} (fp16 activations between layers)")
    return {"model": repr(model), "rel_err": err, "ok": ok}


def prepare_model_bundle(path: str, seed: int = 7) -> None:
    """Compile a small nn.Sequential here and save the artifact + reference data."""
    import torch
    from pathlib import Path

    from kvc import formats

    from .linear import compile_linears

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 768),
                                torch.nn.SiLU(), torch.nn.Linear(768, 250, bias=False))
    cm = compile_linears(model, weights="razer4:g128")
    b = Path(path)
    cm.save(b / "artifact")
    layers = []
    for i, m in enumerate(model):
        if isinstance(m, torch.nn.Linear):
            qt = formats.get("razer4").quantize(m.weight.detach().numpy(), group_size=128)
            np.save(b / f"w{i}.npy", qt.dequantize().astype(np.float32), allow_pickle=False)
            if m.bias is not None:
                np.save(b / f"b{i}.npy", m.bias.detach().numpy().astype(np.float32), allow_pickle=False)
            layers.append({"type": "linear", "bias": m.bias is not None})
        else:
            layers.append({"type": "act", "op": {"GELU": "gelu", "SiLU": "silu", "ReLU": "relu"}[type(m).__name__]})
    rng = np.random.default_rng(seed)
    np.save(b / "x.npy", rng.standard_normal((5, 512)).astype(np.float16), allow_pickle=False)
    (b / "reference.json").write_text(json.dumps({"layers": layers}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kvc.targets.cuda.check", description=__doc__.splitlines()[0])
    ap.add_argument("--prebuild", metavar="DIR", help="generate the PTX of every case into DIR (needs MLIR)")
    ap.add_argument("--prebuilt", metavar="DIR", help="run on the GPU with PTX from DIR")
    ap.add_argument("--json", metavar="FILE", help="write every result here")
    args = ap.parse_args(argv)
    if args.prebuild:
        from pathlib import Path

        from .linear import write_prebuilt

        specs = [s for s, _ in cases()] + CHAIN_SPECS
        write_prebuilt(args.prebuild, specs)
        prepare_model_bundle(str(Path(args.prebuild) / "model_bundle"))
        print(f"wrote PTX for {len(specs)} check kernels + a model bundle into {args.prebuild}")
        return 0
    from kvc.runtime.cuda import available

    ok, why = available()
    if not ok:
        print(f"SKIP: no usable GPU: {why}")
        return 0
    results = run_checks(args.prebuilt)
    model = None
    if args.prebuilt:
        from pathlib import Path

        bundle = Path(args.prebuilt) / "model_bundle"
        if bundle.is_dir():
            model = run_model_check(str(bundle))
    chains = run_chain_check(args.prebuilt)
    n_bad = (sum(not r["ok"] for r in results) + (0 if model is None or model["ok"] else 1)
             + sum(not c["ok"] for c in chains))
    worst = max(results, key=lambda r: r["rel_err"])
    print(f"SUMMARY: {len(results)} launches over {len({r['kernel'] for r in results})} kernels, "
          f"{n_bad} failed; worst rel_err {worst['rel_err']:.2e} ({worst['kernel']}, m={worst['m']}); "
          f"{len(chains)} dependent chains ({'PDL on' if any(c['pdl'] for c in chains) else 'PDL off'}) "
          f"worst {max(c['rel_err'] for c in chains):.2e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "model": model, "chains": chains}, fh, indent=1)
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
