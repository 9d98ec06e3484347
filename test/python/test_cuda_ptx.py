"""cuda target: generated kernels lowered to PTX by upstream NVVM, then *executed*
by kvc's PTX interpreter (targets/cuda/ptxsim.py) against the float64
reference - the whole kernel (addressing, split-K loop and prefetch, masks,
block reduction, stores) checked with no GPU.

Tolerance 1e-5: products are exact (fp16 x fp16 values), sums are fp32
(K <= 4160 terms: ~1e-6 relative), fp16 / bf16 outputs use their rounding
bound instead (2^-11 / 2^-8 relative per element).
"""

import numpy as np
import pytest

pytest.importorskip("mlir", reason="MLIR bindings are needed to generate PTX")

from kvc import formats
from kvc.targets.cuda.layout import pack_quantized
from kvc.targets.cuda import gemv
from kvc.targets.cuda.spec import format_info, lane_scale_registers
from kvc.targets.cuda.lower import gemv_ptx, ptx_summary
from kvc.targets.cuda.ptxsim import Kernel, PtxSimError, run_kernel
from kvc.targets.cuda.spec import MAX_M, GemvSpec

TOL = {"float32": 1e-5, "float16": 1e-3, "bfloat16": 8e-3}


def execute(fmt, n, k, g, act="float16", out="float32", bias=False, warps=0, m=3, seed=0, depth=1, row_tiles=1,
            rolling=False, lane_scales=False):
    rng = np.random.default_rng(seed)
    spec = GemvSpec(fmt, n, k, g, act=act, out=out, bias=bias, warps=warps, depth=depth, row_tiles=row_tiles,
                    rolling=rolling, lane_scales=lane_scales)
    qt = formats.get(fmt).quantize(rng.standard_normal((n, k)).astype(np.float32), group_size=g)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    arr = pack_quantized(spec, qt, b)
    x = rng.standard_normal((m, k))
    if act == "float16":
        xbuf = np.zeros((MAX_M, k), np.float16)
        xbuf[:m] = x
        xf = xbuf[:m].astype(np.float64)
    else:
        xb = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)  # truncation is a valid bf16 value
        xbuf = np.zeros((MAX_M, k), np.uint16)
        xbuf[:m] = xb
        xf = (xb.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    odt = {"float32": np.float32, "float16": np.float16, "bfloat16": np.uint16}[out]
    y = np.full((MAX_M, n), 0x7FC0 if out == "bfloat16" else np.nan, dtype=odt)  # poisoned
    bufs = [arr[p] for p in spec.params() if p in ("w", "scales", "zeros", "meta")] + [xbuf, y]
    if bias:
        bufs.append(arr["bias"])
    res, _ = run_kernel(gemv_ptx(spec), spec.name, spec.blocks, spec.threads, bufs, [m])
    yk = res[len(bufs) - 2 if bias else len(bufs) - 1][:m]
    if out == "bfloat16":
        yk = (yk.astype(np.uint32) << 16).view(np.float32)
    yk = yk.astype(np.float64)
    assert np.all(np.isfinite(yk)), "every output element written"
    ref = xf @ qt.dequantize().astype(np.float64).T + (0 if b is None else b)
    return np.linalg.norm(yk - ref) / np.linalg.norm(ref)


@pytest.mark.parametrize("fmt, n, k, g, act, out, bias, warps, m", [
    ("int4", 40, 600, 128, "float16", "float32", False, 0, 3),
    ("razer4", 33, 520, 32, "bfloat16", "float16", True, 0, 8),
    ("razer4", 17, 1000, 128, "float16", "float32", False, 0, 1),
    # one group per chunk: a chunk's group is the first or second of its selector word
    ("razer4", 20, 1536, 256, "float16", "float32", False, 2, 1),
    ("razer4", 20, 1800, 512, "bfloat16", "float32", False, 1, 2),
    # 34 trips of one warp: more than a warp's lanes can hold, per-chunk selector loads
    ("razer4", 16, 8704, 128, "float16", "float32", False, 1, 1),
    ("uint3", 20, 999, 999, "float16", "float32", False, 2, 1),
    ("e4m3", 17, 1024, 512, "float16", "bfloat16", True, 3, 5),
    ("bipolar5", 16, 100, 16, "bfloat16", "float32", False, 0, 4),
    ("int2", 48, 2304, 64, "float16", "float32", False, 4, 2),
    # zero-point formats with fp16 activations decode to fp16 subnormals and
    # rescale the MMA sum between mantissa positions (several per group here)
    ("bipolar2", 24, 768, 64, "float16", "float16", True, 0, 4),
    ("uint4", 16, 520, 128, "float16", "float32", False, 2, 1),
])
def test_ptx_runs_correctly(fmt, n, k, g, act, out, bias, warps, m):
    assert execute(fmt, n, k, g, act, out, bias, warps, m) < TOL[out]


@pytest.mark.parametrize("fmt, n, k, g, act, out, bias, warps, m", [
    # 3 tiles: the second block's second tile is past N (re-read, never stored)
    ("int2", 40, 1300, 128, "float16", "float32", True, 2, 8),
    ("razer4", 33, 520, 32, "bfloat16", "float16", False, 0, 2),
    # zero points: one ones-MMA serves both tiles
    ("bipolar2", 64, 768, 64, "float16", "float32", False, 3, 4),
    ("int3", 32, 512, 512, "bfloat16", "bfloat16", False, 1, 1),
])
def test_two_row_tiles_per_block(fmt, n, k, g, act, out, bias, warps, m):
    assert execute(fmt, n, k, g, act, out, bias, warps, m, row_tiles=2) < TOL[out]


@pytest.mark.parametrize("fmt, n, k, g, act, out, bias, warps, m, row_tiles, depth", [
    # every warp runs several loop trips, so each reloaded vector is decoded
    # one trip later (a reload from the wrong chunk or vector fails these)
    ("int4", 40, 2600, 128, "float16", "float32", False, 2, 3, 1, 1),
    ("razer4", 33, 2560, 32, "bfloat16", "float16", True, 3, 8, 1, 1),
    ("razer4", 48, 3000, 128, "float16", "float32", False, 2, 1, 2, 2),
    ("int3", 20, 2304, 256, "float16", "float32", False, 2, 2, 1, 1),  # spill codes span words
    ("int2", 40, 3300, 64, "float16", "float32", True, 2, 4, 2, 1),
    ("bipolar2", 32, 2560, 64, "float16", "float16", False, 2, 4, 1, 3),  # subnormal decode
    ("e2m3", 17, 2560, 128, "bfloat16", "float32", False, 2, 2, 1, 1),
])
def test_rolling_reloads(fmt, n, k, g, act, out, bias, warps, m, row_tiles, depth):
    assert execute(fmt, n, k, g, act, out, bias, warps, m, row_tiles=row_tiles, depth=depth, rolling=True) < TOL[out]


def test_prefetch_queue_depths():
    for depth in (2, 3):
        assert execute("e2m1", 24, 2560, 128, warps=2, depth=depth, m=2) < 1e-5


def test_ptx_has_the_instructions_that_matter():
    ptx = gemv_ptx(GemvSpec("razer4", 4096, 4096, 128))
    s = ptx_summary(ptx)
    assert s["ld.global.v4"] >= 4  # 16-byte weight loads (4 per chunk at 4 bits)
    assert s["mma.sync"] >= 16 and s["prmt"] >= 64 and s["bar.sync"] == 1
    assert s["local"] == 0  # nothing spilled to local memory by LLVM
    assert ".target sm_90" in ptx and "ld.global.nc.L1::no_allocate.v4.u32" in ptx


@pytest.mark.parametrize("fmt, n, k, warps, m, rolling, row_tiles, act", [
    # one register of lane scales (two trips), plain prefetch queue
    ("int4", 40, 1100, 2, 3, False, 1, "float16"),
    # two registers (four trips), rolling reloads, RaZeR selectors still loaded per chunk
    ("razer4", 17, 2048, 2, 1, True, 1, "bfloat16"),
    # zero points: scales and zeros both in lanes; two row tiles share the trips
    ("uint4", 48, 2100, 2, 2, False, 2, "float16"),
    ("int2", 40, 1024, 1, 8, True, 2, "bfloat16"),
])
def test_scales_in_lanes(fmt, n, k, warps, m, rolling, row_tiles, act):
    assert execute(fmt, n, k, 128, act, "float32", False, warps, m, rolling=rolling, row_tiles=row_tiles,
                   lane_scales=True) < TOL["float32"]
    spec = GemvSpec(fmt, n, k, 128, act=act, out="float32", warps=warps, rolling=rolling, row_tiles=row_tiles,
                    lane_scales=True)
    text = gemv.generate(spec)
    words = 2 if format_info(fmt).affine else 1
    assert text.count("gpu.shuffle idx") == 2 * words * row_tiles  # per group of a chunk, per tile
    # scale loads: the prologue's lane registers, and the partial last chunk's own
    tail = 2 * row_tiles if k % 256 else 0
    assert text.count("%scales[") == row_tiles * lane_scale_registers(spec) + tail


def test_interpreter_refuses_what_it_does_not_know():
    ptx = ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry f(.param .u64 p)\n{\n" \
          "\t.reg .b32 %r<2>;\n\tpopc.b32 %r1, %r1;\n\tret;\n}\n"
    with pytest.raises(PtxSimError):
        run_kernel(ptx, "f", 1, 32, [np.zeros(4, np.uint32)])
    assert Kernel(ptx).name == "f"


def test_programmatic_dependent_launch_order():
    """sm_90 kernels wait for the previous grid after their first weight loads,
    before any x read / y write (the interpreter enforces this on every run, see
    _dependency_check), and let the next grid start once their loop is done,
    before the block reduction."""
    ptx = gemv_ptx(GemvSpec("int4", 256, 1024, 128))
    body = ptx[ptx.index(".entry"):]
    launch, wait = body.index("griddepcontrol.launch_dependents;"), body.index("griddepcontrol.wait;")
    assert body.index("ld.global.nc.L1::no_allocate.v4.u32") < wait
    assert wait < body.index("ld.global.v4.b32") and wait < body.index("st.global")
    assert body.rindex("mma.sync") < launch < body.index("bar.sync")
    assert "griddepcontrol" not in gemv_ptx(GemvSpec("int4", 256, 1024, 128, arch="sm_80"))


def test_interpreter_refuses_reads_before_the_grid_dependency_wait():
    ptx = (".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry f(.param .u64 p)\n{\n"
           "\t.reg .b32 %r<2>;\n\t.reg .b64 %rd<2>;\n\tld.param.u64 %rd1, [p];\n"
           "\tld.global.b32 %r1, [%rd1];\n\tgriddepcontrol.wait;\n\tret;\n}\n")
    with pytest.raises(PtxSimError, match="before griddepcontrol.wait"):
        run_kernel(ptx, "f", 1, 32, [np.zeros(4, np.uint32)])
    ok = ptx.replace("\tld.global.b32 %r1, [%rd1];\n\tgriddepcontrol.wait;\n",
                     "\tgriddepcontrol.wait;\n\tld.global.b32 %r1, [%rd1];\n")
    run_kernel(ok, "f", 1, 32, [np.zeros(4, np.uint32)])
