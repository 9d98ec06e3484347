"""Print a generated cuda GEMV kernel: its MLIR, its llvm/nvvm form, or its PTX.

    python -m kvc.targets.cuda.emit --format int4 --n 4096 --k 4096 --group-size 128 [--ptx]

Options mirror :class:`kvc.targets.cuda.spec.GemvSpec`. ``--emit`` chooses
the stage: ``mlir`` (gpu/nvvm/vector/arith/scf, as generated), ``llvm``
(after convert-gpu-to-nvvm), ``ptx`` (NVPTX backend output) or ``summary``
(instruction counts of the PTX plus the launch geometry). Errors (bad
format, unsupported group size, ...) print ``error: ...`` and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from .spec import CudaTargetError, GemvSpec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kvc.targets.cuda.emit", description=__doc__.splitlines()[0])
    ap.add_argument("--format", required=True, help="kvc format name, e.g. int4, razer4, e2m1, bipolar3")
    ap.add_argument("--n", type=int, required=True, help="output features (rows of the weight)")
    ap.add_argument("--k", type=int, required=True, help="input features")
    ap.add_argument("--group-size", type=int, default=128)
    ap.add_argument("--act", default="float16", choices=("float16", "bfloat16"))
    ap.add_argument("--out", default=None, choices=("float16", "bfloat16", "float32"))
    ap.add_argument("--bias", action="store_true")
    ap.add_argument("--warps", type=int, default=0)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--maxnreg", type=int, default=0)
    ap.add_argument("--row-tiles", type=int, default=1, choices=(1, 2),
                    help="16-row tiles per block (2: both share each activation fragment)")
    ap.add_argument("--rolling", action="store_true",
                    help="load the chunk ahead's code vectors one by one as the current chunk's are used up")
    ap.add_argument("--lane-scales", action="store_true",
                    help="hold the warp's scale words in lanes from the prologue and shuffle them out per group "
                         "(group 128, at most 4 chunks per warp)")
    ap.add_argument("--arch", default="sm_90", choices=("sm_80", "sm_86", "sm_89", "sm_90"))
    ap.add_argument("--emit", default="mlir", choices=("mlir", "llvm", "ptx", "summary"))
    ap.add_argument("--ptx", action="store_true", help="same as --emit=ptx")
    args = ap.parse_args(argv)
    try:
        from kvc import formats

        fmt = formats.get(args.format).name
        spec = GemvSpec(fmt, args.n, args.k, args.group_size, act=args.act, out=args.out or args.act,
                        bias=args.bias, warps=args.warps, depth=args.depth, maxnreg=args.maxnreg, arch=args.arch,
                        row_tiles=args.row_tiles, rolling=args.rolling, lane_scales=args.lane_scales)
        from .gemv import generate

        text = generate(spec)
        stage = "ptx" if args.ptx else args.emit
        if stage == "mlir":
            sys.stdout.write(text)
        elif stage == "llvm":
            from .lower import to_llvm_dialect

            sys.stdout.write(to_llvm_dialect(text, spec.name))
        else:
            from .lower import ptx_summary, to_ptx

            ptx = to_ptx(text, spec.name)
            if stage == "ptx":
                sys.stdout.write(ptx)
            else:
                info = {"kernel": spec.name, "grid": [spec.blocks, 1, 1], "block": [spec.threads, 1, 1],
                        "params": spec.params(), "bytes_moved_m1": spec.bytes_moved(1), **ptx_summary(ptx)}
                print(json.dumps(info, indent=1))
    except (CudaTargetError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
