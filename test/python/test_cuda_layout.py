"""cuda target: offline re-layout + the numpy kernel simulator against the
float64 reference x @ dequant(W)^T of kvc.formats (no GPU, no MLIR).

The simulator decodes with the kernel's own program and assembles MMA
fragments by the PTX ISA layout, in float64; agreement is therefore exact up
to the float32 rounding inside kvc.formats' dequantize (<= ~1e-7 relative),
so the tolerance is 1e-6.
"""

import numpy as np
import pytest

from kvc import formats
from kvc.targets.cuda.layout import check_quantized, pack_quantized, simulate
from kvc.targets.cuda.spec import CudaTargetError, GemvSpec

TOL = 1e-6


def bf16_round(x):
    b = np.asarray(x, dtype=np.float32).view(np.uint32)
    b = (b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return b.view(np.float32).astype(np.float64)


def run(fmt, n, k, g, act="float16", bias=False, m=3, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, k)).astype(np.float32)
    qt = formats.get(fmt).quantize(w, group_size=g)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    spec = GemvSpec(fmt, n, k, min(g, k), act=act, bias=bias)
    arrays = pack_quantized(spec, qt, b)
    x = rng.standard_normal((m, k))
    x = x.astype(np.float16).astype(np.float64) if act == "float16" else bf16_round(x)
    ref = x @ qt.dequantize().astype(np.float64).T + (0 if b is None else b)
    got = simulate(spec, arrays, x)
    return np.linalg.norm(got - ref) / np.linalg.norm(ref)


@pytest.mark.parametrize("fmt", ["int2", "int3", "int4", "int5", "int6", "int8", "uint3", "uint8",
                                 "bipolar2", "bipolar5", "bipolar8", "e2m1", "e3m2", "e2m3", "e4m3", "razer4"])
def test_simulated_kernel_matches_reference(fmt):
    # N odd, K not a multiple of the 256-wide chunk, partial last group
    assert run(fmt, 37, 520, 128) < TOL


@pytest.mark.parametrize("fmt, n, k, g, act, bias", [
    ("int4", 33, 520, 32, "bfloat16", True),     # narrow mapping (groups of 32)
    ("razer4", 20, 999, 999, "float16", False),  # one group per row, odd K (scalar x loads)
    ("uint4", 17, 1024, 512, "bfloat16", False),  # groups spanning chunks
    ("bipolar3", 48, 2304, 64, "float16", True),
    ("e2m1", 16, 100, 16, "bfloat16", False),    # K < one chunk, groups of 16
])
def test_simulated_kernel_shapes_and_groupings(fmt, n, k, g, act, bias):
    assert run(fmt, n, k, g, act, bias, m=5) < TOL


def test_padding_contributes_nothing():
    # rows beyond N and k beyond K are padded with code 0 and scale 0
    spec = GemvSpec("uint4", 20, 300, 128)
    rng = np.random.default_rng(3)
    qt = formats.get("uint4").quantize(rng.standard_normal((20, 300)).astype(np.float32), group_size=128)
    arr = pack_quantized(spec, qt)
    assert arr["w"].shape == (spec.tiles, spec.chunks, 4, 32, 4)
    words = arr["scales"].reshape(spec.tiles, spec.dev_groups, 8)
    assert np.all(words[:, qt.scales.shape[1]:, :] == 0)  # padded groups
    assert np.all(words[1, :, 4:] >> 16 == 0)  # rows 28..31 (> N) of tile 1 have scale 0


def test_check_quantized_names_the_mismatch():
    qt = formats.get("int4").quantize(np.ones((16, 256), np.float32), group_size=64)
    with pytest.raises(CudaTargetError, match="group size 64 != 128"):
        check_quantized(GemvSpec("int4", 16, 256, 128), qt)
    with pytest.raises(CudaTargetError, match="format int4 != razer4"):
        check_quantized(GemvSpec("razer4", 16, 256, 64), qt)
    with pytest.raises(CudaTargetError, match=r"weight shape \(16, 256\)"):
        check_quantized(GemvSpec("int4", 32, 256, 64), qt)
