"""lowbit passes on the cpu target, against kvc.formats (the reference numerics).

Tolerances:
* dequantize / decode / runtime quantize / pack: bit-exact (same f32 operations as
  the numpy reference, or pure integer work).
* lowbit.matmul vs numpy ``x @ dequantize(W).T``: the dequantized weights are
  bit-identical, only the summation order differs (and FMA contraction), so
  per element |y - ref| <= 2 (K+1) 2^-24 sum_k |x_k w_k| (each side is within
  (K+1) u sum|x w| of the exact dot product).
* bit-plane matmul: exactly the integer product (unit scales, no zeros; |y| < 2^24);
  with scales and zeros within 2 f32 ulps of a float64 evaluation of the same
  dequantized operands (the integer part is exact, the f64 epilogue rounds once).
"""

from __future__ import annotations

import numpy as np
import pytest
from mlir import ir

from kvc import formats as F
from kvc.context import make_context
from kvc.diagnostics import KvcError
from kvc.dialects.lowbit import format_type
from kvc.passes.lowbit_quantize_weights import LowbitQuantizeWeights
from kvc.pipeline import run_pipeline
from kvc.targets.cpu import compile_module

U = 2.0**-24


@pytest.fixture(scope="module")
def ctx():
    return make_context()


def _t(shape, element) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + element + ">"


def _type(ctx, name: str) -> str:
    with ctx:
        return str(format_type(name))


def _seg(*flags) -> str:
    return "array<i32: " + ", ".join(str(int(f)) for f in flags) + ">"


# ----------------------------------------------------------------------- matmul
MATMUL_FORMATS = ([f"int{b}" for b in range(2, 9)] + [f"uint{b}" for b in range(2, 9)]
                  + ["e2m1", "e3m2", "e2m3", "e4m3", "e5m2"] + ["razer4"]
                  + [f"bipolar{b}" for b in range(2, 9)])
# (N, K, group): N odd; K % 8 != 0 and K % group != 0; a group that is not a multiple of 8.
# (Every code of every minifloat split is checked exactly by the decode-table test below.)
SHAPES = [(7, 37, 16), (5, 200, 64), (3, 46, 10)]


def _matmul_module(ctx, name: str) -> tuple[str, list]:
    fmt = F.get(name)
    ty = _type(ctx, name)
    zeros, meta = fmt.family in ("uint", "bipolar"), fmt.family == "razer"
    args, body, results, parts = [], [], [], []
    for i, (n, k, g) in enumerate(SHAPES):
        ng, length = -(-k // g), -(-k * fmt.bits // 8)
        args.append(f"%x{i}: {_t(['?', k], 'f32')}")
        args.append(f'%p{i}: {_t([n, length], "i8")} {{kvc.weight = "p{i}"}}')
        args.append(f'%s{i}: {_t([n, ng], "f16")} {{kvc.weight = "s{i}"}}')
        ops, types = [f"%x{i}", f"%c{i}", f"%s{i}"], [_t(["?", k], "f32"), _t([n, k], ty), _t([n, ng], "f16")]
        if zeros:
            args.append(f'%z{i}: {_t([n, ng], "f16")} {{kvc.weight = "z{i}"}}')
            ops.append(f"%z{i}"), types.append(_t([n, ng], "f16"))
        if meta:
            args.append(f'%m{i}: {_t([n, ng], "i8")} {{kvc.weight = "m{i}"}}')
            ops.append(f"%m{i}"), types.append(_t([n, ng], "i8"))
        body.append(f'%c{i} = "lowbit.unpack"(%p{i}) : ({_t([n, length], "i8")}) -> {_t([n, k], ty)}')
        body.append(f'%y{i} = "lowbit.matmul"({", ".join(ops)}) {{group_size = {g} : i64, '
                    f'operandSegmentSizes = {_seg(1, 1, 1, zeros, meta)}}} : ({", ".join(types)}) -> {_t(["?", n], "f32")}')
        results.append((f"%y{i}", _t(["?", n], "f32")))
        parts.append((n, k, g))
    text = (f"func.func @forward({', '.join(args)}) -> ({', '.join(t for _, t in results)}) {{\n  "
            + "\n  ".join(body) + f"\n  return {', '.join(v for v, _ in results)} : {', '.join(t for _, t in results)}\n}}")
    return text, parts


@pytest.mark.parametrize("name", MATMUL_FORMATS)
def test_matmul_every_family_matches_dequantized_reference(ctx, name):
    text, parts = _matmul_module(ctx, name)
    rng = np.random.default_rng(sum(map(ord, name)))
    weights, refs = {}, []
    for i, (n, k, g) in enumerate(parts):
        w = rng.standard_normal((n, k)).astype(np.float32)
        qt = F.get(name).quantize(w, group_size=g)
        weights.update({f"p{i}": qt.pack().codes, f"s{i}": qt.scales})
        if qt.zeros is not None:
            weights[f"z{i}"] = qt.zeros
        if qt.meta is not None:
            weights[f"m{i}"] = qt.meta
        refs.append(qt.dequantize())
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(text)
    exe = compile_module(module, weights=weights, keep_ir=False)
    for rows in (1, 2, 5):  # GEMV kernel; row-tiled kernel, and with a ragged last tile
        xs = [rng.standard_normal((rows, k)).astype(np.float32) for _, k, _ in parts]
        outs = exe(*xs)
        for x, y, wd, (n, k, g) in zip(xs, outs, refs, parts):
            ref = x @ wd.T
            bound = 2 * (k + 1) * U * (np.abs(x) @ np.abs(wd).T)
            assert y.shape == (rows, n)
            assert np.all(np.abs(y - ref) <= bound), f"{name} N={n} K={k} g={g} rows={rows}"


def test_matmul_on_batched_input_with_dynamic_rows(ctx):
    """x[2, ?, K] (leading dims kept, rows tiled along the dynamic one) and f16 activations."""
    n, k, g = 9, 70, 32
    rng = np.random.default_rng(21)
    w = rng.standard_normal((n, k)).astype(np.float32)
    qt = F.get("int5").quantize(w, group_size=g)
    ty, ng, length = _type(ctx, "int5"), -(-k // g), -(-k * 5 // 8)
    text = f"""
func.func @forward(%x: {_t([2, '?', k], 'f32')}, %h: {_t(['?', k], 'f16')},
                   %p: {_t([n, length], 'i8')} {{kvc.weight = "p"}}, %s: {_t([n, ng], 'f16')} {{kvc.weight = "s"}})
    -> ({_t([2, '?', n], 'f32')}, {_t(['?', n], 'f16')}) {{
  %c = "lowbit.unpack"(%p) : ({_t([n, length], 'i8')}) -> {_t([n, k], ty)}
  %y = "lowbit.matmul"(%x, %c, %s) {{group_size = {g} : i64, operandSegmentSizes = {_seg(1, 1, 1, 0, 0)}}}
      : ({_t([2, '?', k], 'f32')}, {_t([n, k], ty)}, {_t([n, ng], 'f16')}) -> {_t([2, '?', n], 'f32')}
  %z = "lowbit.matmul"(%h, %c, %s) {{group_size = {g} : i64, operandSegmentSizes = {_seg(1, 1, 1, 0, 0)}}}
      : ({_t(['?', k], 'f16')}, {_t([n, k], ty)}, {_t([n, ng], 'f16')}) -> {_t(['?', n], 'f16')}
  return %y, %z : {_t([2, '?', n], 'f32')}, {_t(['?', n], 'f16')}
}}"""
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(text)
    exe = compile_module(module, weights={"p": qt.pack().codes, "s": qt.scales}, keep_ir=False)
    wd = qt.dequantize()
    for rows in (1, 3, 4):
        x = rng.standard_normal((2, rows, k)).astype(np.float32)
        h = rng.standard_normal((rows, k)).astype(np.float16)
        y, z = exe(x, h)
        assert y.shape == (2, rows, n) and z.shape == (rows, n) and z.dtype == np.float16
        assert np.all(np.abs(y - x @ wd.T) <= 2 * (k + 1) * U * (np.abs(x) @ np.abs(wd).T))
        # f16 activations: accumulated in f32, rounded once to f16 (half an f16 ulp, 2^-11 relative)
        ref = h.astype(np.float32) @ wd.T
        assert np.all(np.abs(z - ref) <= 2 * (k + 1) * U * (np.abs(h.astype(np.float32)) @ np.abs(wd).T)
                      + 2.0**-11 * np.abs(ref) + 2.0**-24)


# ----------------------------------------------------------------------- decode tables
TABLE_FORMATS = ([f"int{b}" for b in range(1, 9)] + [f"uint{b}" for b in range(1, 9)]
                 + [f"bipolar{b}" for b in range(1, 9)]
                 + [f"e{e}m{m}" for e in range(1, 8) for m in range(0, 8 - e)] + ["razer4"])


def test_dequantize_decodes_every_code_of_every_format_exactly(ctx):
    """dequantize(all 2^B codes, scale 1, zero 0) == the format's table, bit for bit (NaN: as NaN)."""
    body, results, expected = [], [], []
    for i, name in enumerate(TABLE_FORMATS):
        fmt = F.get(name)
        ty = _type(ctx, name)
        rows = 4 if fmt.family == "razer" else 1
        count = 1 << fmt.bits
        codes = np.tile(np.arange(count, dtype=np.uint8), (rows, 1))
        packed = F.pack_codes(codes, fmt.bits).view(np.int8)
        length = packed.shape[1]
        dense = "[" + ", ".join("[" + ", ".join(map(str, r)) + "]" for r in packed.tolist()) + "]"
        body.append(f"%p{i} = arith.constant dense<{dense}> : {_t([rows, length], 'i8')}")
        body.append(f"%s{i} = arith.constant dense<1.0> : {_t([rows, 1], 'f16')}")
        ops, types = [f"%c{i}", f"%s{i}"], [_t([rows, count], ty), _t([rows, 1], "f16")]
        zeros, meta = fmt.family == "uint", fmt.family == "razer"
        if zeros:
            body.append(f"%z{i} = arith.constant dense<0.0> : {_t([rows, 1], 'f16')}")
            ops.append(f"%z{i}"), types.append(_t([rows, 1], "f16"))
        if meta:
            body.append(f"%m{i} = arith.constant dense<[[0], [1], [2], [3]]> : {_t([rows, 1], 'i8')}")
            ops.append(f"%m{i}"), types.append(_t([rows, 1], "i8"))
        body.append(f'%c{i} = "lowbit.unpack"(%p{i}) : ({_t([rows, length], "i8")}) -> {_t([rows, count], ty)}')
        body.append(f'%y{i} = "lowbit.dequantize"({", ".join(ops)}) {{group_size = {count} : i64, axis = 1 : i64, '
                    f'operandSegmentSizes = {_seg(1, 1, zeros, meta)}}} : ({", ".join(types)}) -> {_t([rows, count], "f32")}')
        results.append((f"%y{i}", _t([rows, count], "f32")))
        if meta:
            expected.append(np.stack([fmt.table(sv) for sv in F.RAZER_SPECIAL_VALUES]).astype(np.float32))
        else:
            expected.append(fmt.table()[None, :].astype(np.float32))
    text = (f"func.func @forward() -> ({', '.join(t for _, t in results)}) {{\n  " + "\n  ".join(body)
            + f"\n  return {', '.join(v for v, _ in results)} : {', '.join(t for _, t in results)}\n}}")
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(text)
    outs = compile_module(module, keep_ir=False)()
    for name, got, want in zip(TABLE_FORMATS, outs, expected):
        nan = np.isnan(want)
        np.testing.assert_array_equal(np.isnan(got), nan, err_msg=name)
        np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32), err_msg=name)


# ----------------------------------------------------------------------- pack / unpack
def test_pack_and_unpack_match_the_pinned_layout(ctx):
    """lowbit.pack of codes == kvc.formats.pack_codes; a materialized unpack == the codes (every width)."""
    rng = np.random.default_rng(7)
    rows, k = 3, 29  # 29 codes: every width leaves a ragged last byte
    args, body, results, inputs, expected = [], [], [], [], []
    for b in range(1, 9):
        ty = _type(ctx, f"uint{b}")
        length = -(-k * b // 8)
        codes = rng.integers(0, 1 << b, (rows, k)).astype(np.uint8)
        packed = F.pack_codes(codes, b)
        args += [f"%c{b}: {_t([rows, k], ty)}", f"%p{b}: {_t([rows, length], 'i8')}"]
        body.append(f'%q{b} = "lowbit.pack"(%c{b}) : ({_t([rows, k], ty)}) -> {_t([rows, length], "i8")}')
        body.append(f'%u{b} = "lowbit.unpack"(%p{b}) : ({_t([rows, length], "i8")}) -> {_t([rows, k], ty)}')
        results += [(f"%q{b}", _t([rows, length], "i8")), (f"%u{b}", _t([rows, k], ty))]
        inputs += [codes, packed]
        expected += [packed, codes]
    text = (f"func.func @forward({', '.join(args)}) -> ({', '.join(t for _, t in results)}) {{\n  "
            + "\n  ".join(body) + f"\n  return {', '.join(v for v, _ in results)} : {', '.join(t for _, t in results)}\n}}")
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(text)
    outs = compile_module(module, keep_ir=False)(*inputs)
    for i, (got, want) in enumerate(zip(outs, expected)):
        np.testing.assert_array_equal(got.view(np.uint8), want, err_msg=f"result {i}")
    assert outs[1].dtype == np.uint8  # codes results come back as uint8 bit patterns


# ----------------------------------------------------------------------- runtime quantize
QUANT_CASES = [((6, 50), 1, 16, "f16"), ((40, 3), 0, 7, "f16"), ((4, 33), 1, 33, "f32"), ((2, 3, 20), 1, 2, "f16")]


@pytest.mark.parametrize("name", ["int1", "int2", "int3", "int4", "int8", "uint1", "uint2", "uint4", "uint8",
                                  "bipolar1", "bipolar2", "bipolar4", "bipolar8"])
def test_runtime_quantize_is_bit_exact_with_kvc_formats_rtn(ctx, name):
    fmt = F.get(name)
    ty = _type(ctx, name)
    zeros = fmt.family in ("uint", "bipolar")
    args, body, results = [], [], []
    for i, (shape, axis, g, sdt) in enumerate(QUANT_CASES):
        gshape = list(shape)
        gshape[axis] = -(-shape[axis] // g)
        names = [f"%c{i}", f"%s{i}"] + ([f"%z{i}"] if zeros else [])
        types = [_t(shape, ty), _t(gshape, sdt)] + ([_t(gshape, sdt)] if zeros else [])
        args.append(f"%x{i}: {_t(shape, 'f32')}")
        body.append(f'{", ".join(names)} = "lowbit.quantize"(%x{i}) {{group_size = {g} : i64, axis = {axis} : i64, '
                    f'resultSegmentSizes = {_seg(1, 1, zeros, 0)}}} : ({_t(shape, "f32")}) -> ({", ".join(types)})')
        # dequantize along the same axis: bit-exact with QuantizedTensor.dequantize()
        body.append(f'%d{i} = "lowbit.dequantize"({", ".join(names)}) {{group_size = {g} : i64, axis = {axis} : i64, '
                    f'operandSegmentSizes = {_seg(1, 1, zeros, 0)}}} : ({", ".join(types)}) -> {_t(shape, "f32")}')
        results += list(zip(names, types)) + [(f"%d{i}", _t(shape, "f32"))]
    text = (f"func.func @forward({', '.join(args)}) -> ({', '.join(t for _, t in results)}) {{\n  "
            + "\n  ".join(body) + f"\n  return {', '.join(v for v, _ in results)} : {', '.join(t for _, t in results)}\n}}")
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(text)
    exe = compile_module(module, keep_ir=False)
    rng = np.random.default_rng(sum(map(ord, name)))
    for trial in range(3):
        xs = []
        for shape, *_ in QUANT_CASES:
            x = (rng.standard_normal(shape) * [1e-3, 1.0, 300.0][trial]).astype(np.float32)
            if trial == 2:  # offset data and constant (all-zero) groups
                x = x + 1.5
                x[..., :2] = 0.0
            xs.append(x)
        outs = iter(exe(*xs))
        for x, (shape, axis, g, sdt) in zip(xs, QUANT_CASES):
            qt = fmt.quantize(x, group_size=g, axis=axis, scale_dtype=np.float16 if sdt == "f16" else np.float32)
            np.testing.assert_array_equal(next(outs), qt.codes)
            scales = next(outs)
            assert scales.dtype == qt.scales.dtype
            np.testing.assert_array_equal(scales, qt.scales)
            if zeros:
                np.testing.assert_array_equal(next(outs), qt.zeros)
            np.testing.assert_array_equal(next(outs).view(np.uint32), qt.dequantize().view(np.uint32))


def test_runtime_quantize_of_minifloat_is_rejected_with_location(ctx):
    with ctx, ir.Location.unknown():
        module = ir.Module.parse("""
func.func @forward(%x: tensor<4x32xf32>) -> tensor<4x2xf16> {
  %c, %s = "lowbit.quantize"(%x) {group_size = 16 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<4x32xf32>) -> (tensor<4x32x!lowbit.float<3 : i32, 2 : i32>>, tensor<4x2xf16>)
  return %s : tensor<4x2xf16>
}""", )
    with pytest.raises(KvcError, match="lowbit-lower-to-storage"):
        compile_module(module)


# ----------------------------------------------------------------------- bit planes
def _bitplane_module(ctx, xfmt, wfmt, m, n, k, gx, gw, xz, wz) -> str:
    xt, wt = _type(ctx, xfmt), _type(ctx, wfmt)
    lx, lw = -(-k * F.get(xfmt).bits // 8), -(-k * F.get(wfmt).bits // 8)
    ngx, ngw = -(-k // gx), -(-k // gw)
    args = ([f"%xp: {_t([m, lx], 'i8')}", f"%xs: {_t([m, ngx], 'f16')}"] + ([f"%xz: {_t([m, ngx], 'f16')}"] if xz else [])
            + [f"%wp: {_t([n, lw], 'i8')}", f"%ws: {_t([n, ngw], 'f16')}"] + ([f"%wz: {_t([n, ngw], 'f16')}"] if wz else []))
    dq = ["%xc", "%xs"] + (["%xz"] if xz else [])
    dqt = [_t([m, k], xt), _t([m, ngx], "f16")] + ([_t([m, ngx], "f16")] if xz else [])
    mm = ["%xd", "%wc", "%ws"] + (["%wz"] if wz else [])
    mmt = [_t([m, k], "f32"), _t([n, k], wt), _t([n, ngw], "f16")] + ([_t([n, ngw], "f16")] if wz else [])
    return f"""
func.func @forward({", ".join(args)}) -> {_t([m, n], "f32")} {{
  %xc = "lowbit.unpack"(%xp) : ({_t([m, lx], "i8")}) -> {_t([m, k], xt)}
  %wc = "lowbit.unpack"(%wp) : ({_t([n, lw], "i8")}) -> {_t([n, k], wt)}
  %xd = "lowbit.dequantize"({", ".join(dq)}) {{group_size = {gx} : i64, axis = 1 : i64, operandSegmentSizes = {_seg(1, 1, xz, 0)}}}
      : ({", ".join(dqt)}) -> {_t([m, k], "f32")}
  %y = "lowbit.matmul"({", ".join(mm)}) {{group_size = {gw} : i64, operandSegmentSizes = {_seg(1, 1, 1, wz, 0)}}}
      : ({", ".join(mmt)}) -> {_t([m, n], "f32")}
  return %y : {_t([m, n], "f32")}
}}"""


BITPLANE_CASES = [("bipolar1", "bipolar1"), ("bipolar2", "bipolar2"), ("bipolar3", "bipolar4"),
                  ("bipolar8", "bipolar8"), ("int8", "bipolar2"), ("int4", "bipolar3"), ("int8", "bipolar1")]


@pytest.mark.parametrize("xfmt,wfmt", BITPLANE_CASES)
def test_bitplane_matmul_is_the_exact_integer_product(ctx, xfmt, wfmt):
    m, n, k, gw = 3, 5, 150, 50  # groups of 50: not a multiple of the 64-bit word
    bx, bw = F.get(xfmt).bits, F.get(wfmt).bits
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(_bitplane_module(ctx, xfmt, wfmt, m, n, k, k, gw, False, False))
    exe = compile_module(module)
    assert "math.ctpop" in exe.ir_stages["kvc-lowering"]
    rng = np.random.default_rng(bx * 10 + bw)
    xc = rng.integers(0, 1 << bx, (m, k)).astype(np.uint8)
    wc = rng.integers(0, 1 << bw, (n, k)).astype(np.uint8)
    dx = F.get(xfmt).table()[xc].astype(np.int64)
    dw = F.get(wfmt).table()[wc].astype(np.int64)
    (y,) = exe(F.pack_codes(xc, bx), np.ones((m, 1), np.float16), F.pack_codes(wc, bw), np.ones((n, 3), np.float16))
    np.testing.assert_array_equal(y.astype(np.int64), dx @ dw.T)


@pytest.mark.parametrize("xfmt,wfmt", [("bipolar2", "bipolar3"), ("int8", "bipolar2")])
def test_bitplane_matmul_with_scales_and_zeros(ctx, xfmt, wfmt):
    m, n, k = 2, 7, 130
    rng = np.random.default_rng(11)
    x = rng.standard_normal((m, k)).astype(np.float32) + 0.3
    w = rng.standard_normal((n, k)).astype(np.float32) - 0.2
    qx, qw = F.get(xfmt).quantize(x, group_size=k), F.get(wfmt).quantize(w, group_size=65)
    xz, wz = qx.zeros is not None, qw.zeros is not None
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(_bitplane_module(ctx, xfmt, wfmt, m, n, k, k, 65, xz, wz))
    exe = compile_module(module, keep_ir=False)
    args = ([qx.pack().codes, qx.scales] + ([qx.zeros] if xz else [])
            + [qw.pack().codes, qw.scales] + ([qw.zeros] if wz else []))
    (y,) = exe(*args)
    ref = qx.dequantize().astype(np.float64) @ qw.dequantize().astype(np.float64).T
    # x's dequantized values are f32-rounded in the reference (u each), the kernel's are exact.
    bound = 2 * U * np.abs(ref) + 2 * U * (np.abs(qx.dequantize()) @ np.abs(qw.dequantize()).T)
    assert np.all(np.abs(y - ref) <= bound)


@pytest.mark.parametrize("xfmt,wfmt", [("bipolar2", "bipolar2"), ("int8", "bipolar3")])
def test_bitplane_planes_of_bound_weights_are_precomputed(ctx, xfmt, wfmt):
    """Bound weight codes: their planes are built once with numpy at compile time; still exact."""
    m, n, k, gw = 4, 6, 200, 96  # last group partial (8 codes)
    text = _bitplane_module(ctx, xfmt, wfmt, m, n, k, k, gw, False, False)
    for name in ("wp", "ws"):
        head, rest = text.split(f"%{name}: ", 1)
        ty, rest = rest.split(">", 1)
        text = f'{head}%{name}: {ty}> {{kvc.weight = "{name}"}}{rest}'
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(text)
    bx, bw = F.get(xfmt).bits, F.get(wfmt).bits
    rng = np.random.default_rng(31)
    xc = rng.integers(0, 1 << bx, (m, k)).astype(np.uint8)
    wc = rng.integers(0, 1 << bw, (n, k)).astype(np.uint8)
    weights = {"wp": F.pack_codes(wc, bw), "ws": np.ones((n, 3), np.float16)}
    exe = compile_module(module, weights=weights)
    assert sorted(w for w in exe.weights if ".plane" in w) == [f"wp.plane{i}" for i in range(bw)]
    assert "lowbit.pack" not in exe.ir_stages["input"] and exe.ir_stages["kvc-lowering"].count("wp.plane") == bw
    (y,) = exe(F.pack_codes(xc, bx), np.ones((m, 1), np.float16))
    dx = F.get(xfmt).table()[xc].astype(np.int64)
    dw = F.get(wfmt).table()[wc].astype(np.int64)
    np.testing.assert_array_equal(y.astype(np.int64), dx @ dw.T)
    assert "wp.plane0" not in weights  # the caller's dict is not modified


# ----------------------------------------------------------------------- quantize-weights
@pytest.fixture(scope="module")
def torch_linear():
    """A two-layer MLP through torch-mlir's FX importer (F.linear -> matmul(x, transpose(W)))."""
    torch = pytest.importorskip("torch")
    from torch_mlir import fx

    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.Linear(40, 24)
            self.down = torch.nn.Linear(24, 9, bias=False)

        def forward(self, x):
            return self.down(torch.relu(self.up(x)))

    model = Model()
    example = torch.randn(2, 3, 40)
    text = str(fx.export_and_import(model, example, output_type="linalg-on-tensors", func_name="forward"))
    return text, model


@pytest.mark.parametrize("fmt", ["razer4", "int4", "uint3", "e2m1", "bipolar2"])
def test_quantize_weights_on_torch_mlir_linear(ctx, torch_linear, fmt):
    text, model = torch_linear
    with ctx, ir.Location.unknown():
        module = ir.Module.parse(text)
    group = 16  # K = 40 and 24: the last group of the first weight is partial
    run_pipeline(module, f"builtin.module(lowbit-quantize-weights{{format={fmt} group-size={group}}})")
    text = str(module)
    assert "linalg.matmul" not in text and "linalg.transpose" not in text
    assert text.count('"lowbit.matmul"') == 2 and "dense_resource" in text
    exe = compile_module(module, keep_ir=False)
    x = np.random.default_rng(5).standard_normal((2, 3, 40)).astype(np.float32)
    (y,) = exe(x)
    w_up = F.get(fmt).quantize(model.up.weight.detach().numpy(), group_size=group).dequantize()
    w_down = F.get(fmt).quantize(model.down.weight.detach().numpy(), group_size=group).dequantize()
    h = np.maximum(x @ w_up.T + model.up.bias.detach().numpy(), 0)
    ref = h @ w_down.T
    # two chained matmuls: the first one's error (bounded as above) passes through relu and the second
    bound_h = 2 * 41 * U * (np.abs(x) @ np.abs(w_up).T) + U * np.abs(h)
    bound = 2 * 25 * U * (np.abs(h) @ np.abs(w_down).T) + bound_h @ np.abs(w_down).T
    assert np.all(np.abs(y - ref) <= bound)


def test_quantize_weights_on_bound_weights(ctx):
    rng = np.random.default_rng(9)
    w = rng.standard_normal((12, 100)).astype(np.float32)  # [N, K], K = 100 not a multiple of 32
    with ctx, ir.Location.unknown():
        module = ir.Module.parse("""
func.func @forward(%x: tensor<?x100xf32>, %w: tensor<12x100xf32> {kvc.weight = "layer.weight"}) -> tensor<?x12xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x100xf32>
  %e0 = tensor.empty() : tensor<100x12xf32>
  %t = linalg.transpose ins(%w : tensor<12x100xf32>) outs(%e0 : tensor<100x12xf32>) permutation = [1, 0]
  %e = tensor.empty(%m) : tensor<?x12xf32>
  %zero = arith.constant 0.0 : f32
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x12xf32>) -> tensor<?x12xf32>
  %y = linalg.matmul ins(%x, %t : tensor<?x100xf32>, tensor<100x12xf32>) outs(%f : tensor<?x12xf32>) -> tensor<?x12xf32>
  return %y : tensor<?x12xf32>
}""")
    weights = {"layer.weight": w}
    quantizer = LowbitQuantizeWeights(weights=weights, format="razer4", group_size=32)
    quantizer.run(module.operation)
    assert sorted(weights) == ["layer.weight", "layer.weight.razer4.codes", "layer.weight.razer4.meta",
                               "layer.weight.razer4.scales"]
    assert quantizer.quantized[0]["format"] == "razer4:g32" and quantizer.quantized[0]["bytes_after"] < w.nbytes / 6
    assert 'kvc.weight = "layer.weight"}' not in str(module)  # the fp32 argument is gone
    exe = compile_module(module, weights=weights, keep_ir=False)
    assert "layer.weight" not in exe.weights
    x = rng.standard_normal((3, 100)).astype(np.float32)
    (y,) = exe(x)
    wd = F.get("razer4").quantize(w, group_size=32).dequantize()
    assert np.all(np.abs(y - x @ wd.T) <= 2 * 101 * U * (np.abs(x) @ np.abs(wd).T))


def test_quantize_weights_reports_skips_and_bad_format(ctx):
    with ctx, ir.Location.unknown():
        module = ir.Module.parse("""
func.func @forward(%x: tensor<3x8xf32>, %w: tensor<8x2xf32>, %o: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<3x8xf32>, tensor<8x2xf32>) outs(%o : tensor<3x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}""")
    quantizer = LowbitQuantizeWeights(format="int4")
    quantizer.run(module.operation)
    assert quantizer.quantized == [] and "linalg.matmul" in str(module)
    with pytest.raises(KvcError, match="unknown format 'int13'"):
        LowbitQuantizeWeights(format="int13").run(module.operation)
