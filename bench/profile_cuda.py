"""Launch chosen kvc GEMV kernel variants a few times each, for a profiler.

Run under Nsight Compute on the GPU machine, e.g.::

    ncu --clock-control none --section SpeedOfLight --section WarpStateStats \\
        -k regex:kvc_gemv python3 bench/profile_cuda.py --prebuilt bench/out/cuda_prebuilt \\
        razer4:8192:8192:w8d1r64 int2:8192:28672:w8d1

A variant is ``format:N:K:w<W>d<D>[r<R>][t<T>][s][l]`` (group 128, M = 1, fp16): W
warps per block, D chunks ahead, R the register cap, T row tiles per block, s
rolling reloads, ``l`` scales in lanes. The kernels must be in the
prebuilt directory (every ``bench/gemv_cuda.py --tune`` variant is).
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def parse(v: str):
    from kvc.targets.cuda.spec import GemvSpec

    m = re.fullmatch(r"(\w+):(\d+):(\d+):w(\d+)d(\d)(?:r(\d+))?(?:t(\d))?(s?)(l?)", v)
    if not m:
        raise SystemExit(f"profile_cuda: cannot read variant {v!r} (format:N:K:w<W>d<D>[r<R>][t<T>][s][l])")
    f, n, k, w, d, r, t, s, lanes = m.groups()
    return GemvSpec(f, int(n), int(k), 128, warps=int(w), depth=int(d), maxnreg=int(r or 0),
                    row_tiles=int(t or 1), rolling=bool(s), lane_scales=bool(lanes))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prebuilt", required=True)
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("variants", nargs="+")
    args = ap.parse_args(argv)
    import torch

    from gemv_cuda import kvc_random_linear
    from kvc.targets.cuda.linear import add_prebuilt, ptx_for

    add_prebuilt(args.prebuilt)
    for v in args.variants:
        spec = parse(v)
        lin = kvc_random_linear(torch, spec, [(spec, ptx_for(spec))])
        x = torch.randn(1, spec.k, dtype=torch.float16, device="cuda")
        for _ in range(args.launches):
            lin(x)
        torch.cuda.synchronize()
        print(f"{v}: {spec.name} x {args.launches}", flush=True)


if __name__ == "__main__":
    main()
