"""Builders, accessors and verifier rules of the kvcache, kvsparse and pim dialects from Python.

Each test builds IR with the dialect's ``build_*`` functions in a
``kvc.make_context()`` context, checks it with the kvc verifier
(``verify(module, emit=False)``) and reads it back through the ``OpSpec``
views; bad constructions must produce the verifier's message for that rule.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mlir import ir
from mlir.dialects import arith, func

import kvc
from kvc.dialects import kvcache, kvsparse, lowbit, pim
from kvc.irdl_ops import REGION_TERMINATOR
from kvc.opt import parse_source
from kvc.verifier import verify

DYN = ir.ShapedType.get_dynamic_size()


def _t(shape, element):
    return ir.RankedTensorType.get(list(shape), element)


def _function(module, name, arg_types, build):
    """A func.func whose body is built by ``build(*args)``, which returns the values to return."""
    with ir.InsertionPoint(module.body):
        fn = func.FuncOp(name, ir.FunctionType.get(list(arg_types), []))
        block = fn.add_entry_block()
        with ir.InsertionPoint(block):
            out = list(build(*block.arguments) or [])
            func.ReturnOp(out)
        fn.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(list(arg_types), [v.type for v in out]))
    return fn


def _messages(module) -> list[str]:
    return [p.message for p in verify(module, emit=False)]


def _reparse(module, ctx):
    """Print and parse again (generic form), as kvc-opt would."""
    text = module.operation.get_asm(print_generic_op_form=True)
    return parse_source(text, "<roundtrip>", ctx)


@pytest.fixture
def ctx():
    context = kvc.make_context()
    with context, ir.Location.unknown(context):
        yield context


# --------------------------------------------------------------------- kvcache
@pytest.mark.parametrize(
    "args, kwargs, text",
    [
        (("kv", 4096, (8, 64), "f16"), {}, '!kvcache.cache<"kv", 4096 : i64, array<i64: 8, 64>, f16, {}>'),
        (("x", 2048, (512,), "int4"), {"group_size": 128, "residual": 128},
         '!kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.int<4 : i32>, {group_size = 128 : i64, residual = 128 : i64}>'),
        (("latent", 1024, (256,), "uint2"), {"group_size": 64, "quant_axis": "channel", "residual": 64},
         '!kvcache.cache<"latent", 1024 : i64, array<i64: 256>, !lowbit.uint<2 : i32>, '
         '{group_size = 64 : i64, quant_axis = "channel", residual = 64 : i64}>'),
        (("x", 2048, (512,), "uint3"), {"group_size": 128, "delta": True},
         '!kvcache.cache<"x", 2048 : i64, array<i64: 512>, !lowbit.uint<3 : i32>, {delta, group_size = 128 : i64}>'),
    ],
)
def test_cache_type_round_trip(ctx, args, kwargs, text):
    kind, max_seq, shape, element = args
    element_type = ir.F16Type.get() if element == "f16" else element
    ty = kvcache.cache_type(kind, max_seq, shape, element_type, **kwargs)
    assert str(ty) == text
    info = kvcache.cache_info(ty)
    assert (info.kind, info.max_seq, info.token_shape) == (kind, max_seq, tuple(shape))
    assert info.group_size == kwargs.get("group_size")
    assert info.quant_axis == kwargs.get("quant_axis", "token")
    assert info.residual == kwargs.get("residual", 0)
    assert info.delta == kwargs.get("delta", False)
    assert info.quantized == (element != "f16")
    if info.quantized:
        assert lowbit.format_name(info.element) == element
        assert isinstance(info.scale_type, ir.F16Type)  # the default scale type
    assert info.num_stored == (2 if kind == "kv" else 1)
    assert kvcache.is_cache(ty) and not kvcache.is_cache(ir.F16Type.get())


def test_cache_info_rejects_other_types(ctx):
    with pytest.raises(TypeError, match="expected a !kvcache.cache type"):
        kvcache.cache_info(ir.F32Type.get())


def _kv_module(ctx, k_tokens=4):
    module = ir.Module.create()
    f16 = ir.F16Type.get()
    cache_t = kvcache.cache_type("kv", 64, (2, 16), f16)
    views = {}

    def body(k, v):
        c = kvcache.build_create(cache_t)
        views["append"] = kvcache.build_append(c.cache, 0, [k, v])
        views["read"] = kvcache.build_read(views["append"].new_cache, k_tokens)
        return list(views["read"].outputs)

    _function(module, "kv", [_t([k_tokens, 2, 16], f16)] * 2, body)
    return module, views


def test_kv_cache_builders_and_accessors(ctx):
    module, views = _kv_module(ctx)
    assert _messages(module) == []
    append, read = views["append"], views["read"]
    assert kvcache.APPEND.matches(append.op) and not kvcache.READ.matches(append.op)
    assert len(append.values) == 2 and append.new_cache.type == append.cache.type
    assert kvcache.constant_index(append.pos) == 0 and kvcache.constant_index(read.length) == 4
    assert [str(o.type) for o in read.outputs] == ["tensor<4x2x16xf16>"] * 2
    # A single variadic group needs no operandSegmentSizes (IRDL infers it) and the view still splits it.
    assert "operandSegmentSizes" not in append.op.attributes
    reparsed = _reparse(module, ctx)
    assert _messages(reparsed) == []
    assert str(reparsed).count('"kvcache.append"') == 1


def test_kv_cache_rejects_bad_value_shape(ctx):
    module = ir.Module.create()
    f16 = ir.F16Type.get()
    cache_t = kvcache.cache_type("kv", 64, (2, 16), f16)

    def body(k, v):
        c = kvcache.build_create(cache_t)
        kvcache.build_append(c.cache, 62, [k, v])  # 4 tokens at 62 overflow 64
        return []

    _function(module, "bad", [_t([4, 2, 16], f16)] * 2, body)
    assert _messages(module) == ["writing 4 token(s) at pos 62 overflows max_seq = 64"]


def _square(window):
    """Some upstream computation on the window inside a remat body (a stand-in for X Wk + RoPE)."""
    return arith.MulFOp(window, window).result


def test_xquant_remat_body(ctx):
    module = ir.Module.create()
    f32 = ir.F32Type.get()
    cache_t = kvcache.cache_type("x", 256, (64,), "int4", group_size=32)
    views = {}

    def body(x, length):
        c = kvcache.build_create(cache_t)
        c1 = kvcache.build_append(c.cache, 0, [x])

        def remat(window, positions):
            return [_square(window), window]

        views["remat"] = kvcache.build_remat(c1.new_cache, length, body=remat, key_type=_t([DYN, 64], f32),
                                             value_type=_t([DYN, 64], f32))
        return [views["remat"].key, views["remat"].value]

    _function(module, "xq", [_t([3, 64], f32), ir.IndexType.get()], body)
    assert _messages(module) == []
    remat = views["remat"]
    assert remat.window is None and remat.accumulator is None
    region = kvcache.remat_body(remat)
    assert str(region.window.type) == "tensor<?x64xf32>" and str(region.positions.type) == "tensor<?xi64>"
    assert region.terminator.name == REGION_TERMINATOR
    assert len(region.yielded) == 2 and region.yielded[1] == region.window
    assert list(ir.DenseI32ArrayAttr(remat.op.attributes["resultSegmentSizes"])) == [1, 1, 0]
    assert _messages(_reparse(module, ctx)) == []


def test_remat_yield_mismatch_is_reported(ctx):
    module = ir.Module.create()
    f32 = ir.F32Type.get()
    cache_t = kvcache.cache_type("latent", 64, (8,), f32)

    def body(length):
        c = kvcache.build_create(cache_t)
        kvcache.build_remat(c.cache, length, body=lambda w, p: [w], key_type=_t([DYN, 2, 4], f32))
        return []

    _function(module, "bad", [ir.IndexType.get()], body)
    assert _messages(module) == ["body yields (tensor<?x8xf32>) but the op produces (tensor<?x2x4xf32>)"]


def test_xquant_cl_accumulator_chain(ctx):
    """Two layers of XQuant-CL: layer 1 reads X^_1 = acc + deq(delta) and passes it on as layer 2's accumulator."""
    module = ir.Module.create()
    f32 = ir.F32Type.get()
    delta_t = kvcache.cache_type("x", 128, (32,), "uint3", group_size=32, delta=True)
    views = {}

    def body(acc_tok, x_tok, acc_window, length):
        c = kvcache.build_create(delta_t)
        w = kvcache.build_append_delta(c.cache, 5, acc_tok, x_tok)
        views["append_delta"] = w
        r = kvcache.build_read(w.new_cache, length, accumulator=acc_window)
        views["read"] = r
        m = kvcache.build_remat(w.new_cache, length, accumulator=r.outputs[0], with_window=True,
                                body=lambda win, pos: [win], value_type=_t([DYN, 32], f32))
        views["remat"] = m
        return [m.window]

    _function(module, "cl", [_t([1, 32], f32)] * 2 + [_t([DYN, 32], f32), ir.IndexType.get()], body)
    assert _messages(module) == []
    w, r, m = views["append_delta"], views["read"], views["remat"]
    assert w.new_accumulator.type == w.accumulator.type
    assert r.accumulator is not None and len(r.outputs) == 1
    assert m.key is None and m.value is not None and m.window.type == kvcache.remat_body(m).window.type

    # The same chain without the accumulator is rejected (delta caches need it).
    bad = ir.Module.create()

    def bad_body(length):
        c = kvcache.build_create(delta_t)
        kvcache.build_read(c.cache, length)
        return []

    _function(bad, "bad", [ir.IndexType.get()], bad_body)
    assert _messages(bad) == ["a delta (XQuant-CL) cache needs the previous layer's accumulator operand"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "kv", "shape": (64,)}, "a 'kv' cache has a rank-2 token shape [heads, head_dim], got 1 dims"),
        ({"element": "int4", "group_size": 48}, "group_size 48 must divide the last token dim 64"),
        ({"element": "int4", "group_size": 32, "quant_axis": "channel", "residual": 16},
         "quant_axis = channel needs residual to be a positive multiple of group_size 32"),
        ({"kind": "latent", "element": "int4", "group_size": 32, "delta": True},
         "delta (XQuant-CL) storage applies to 'x' caches only, not 'latent'"),
        ({"max_seq": 0}, "max_seq must be positive, got 0"),
    ],
)
def test_cache_type_rules(ctx, kwargs, message):
    kind = kwargs.pop("kind", "x")
    shape = kwargs.pop("shape", (64,))
    element = kwargs.pop("element", ir.F16Type.get())
    max_seq = kwargs.pop("max_seq", 64)
    ty = kvcache.cache_type(kind, max_seq, shape, element, **kwargs)
    module = ir.Module.create()
    _function(module, "f", [ty], lambda c: [])
    (problem,) = _messages(module)
    assert problem.startswith(f"invalid type {ty}: ") and message in problem


# -------------------------------------------------------------------- kvsparse
def test_formats_and_storage_layouts(ctx):
    f16, bf16 = ir.F16Type.get(), ir.BF16Type.get()
    k_t = kvsparse.compressed_type([128, 2, 64], f16, kvsparse.bitmap_encoding("token"))
    v_t = kvsparse.compressed_type([128, 2, 64], f16, kvsparse.bitmap_encoding("channel"))
    w_t = kvsparse.compressed_type([32, 100], bf16, kvsparse.bitmask_encoding())
    nm_t = kvsparse.compressed_type([32, 64], f16, kvsparse.nm_encoding(2, 4))
    assert kvsparse.format_of(k_t) == kvsparse.Format("bitmap", tiles="token")
    assert kvsparse.format_of(v_t) == kvsparse.Format("bitmap", tiles="channel")
    assert kvsparse.format_of(w_t) == kvsparse.Format("bitmask")
    assert kvsparse.format_of(nm_t) == kvsparse.Format("nm", n=2, m=4)
    assert kvsparse.format_of(_t([4, 4], f16)) is None
    # K tiles: 128 tokens / 64 = 2 token blocks x 2 heads x 64 channels; V: 128 tokens x 2 heads x 1 channel block.
    assert kvsparse.tile_grid([128, 2, 64], "token") == [2, 2, 64]
    assert kvsparse.tile_grid([128, 2, 64], "channel") == [128, 2, 1]
    assert kvsparse.tile_grid([DYN, 2, 64], "token") == [DYN, 2, 64]
    storage = kvsparse.storage_types(k_t)
    assert [str(storage[k]) for k in ("bitmap", "offsets", "values")] == \
        ["tensor<256xi64>", "tensor<257xi32>", "tensor<?xf16>"]
    # SparAMX: ceil(100 / 32) = 4 i32 mask words per row, no offsets.
    storage = kvsparse.storage_types(w_t, values_length=1600)
    assert str(storage["bitmap"]) == "tensor<32x4xi32>" and storage["offsets"] is None
    assert str(storage["values"]) == "tensor<1600xbf16>"
    with pytest.raises(ValueError, match="upstream"):
        kvsparse.storage_types(nm_t)


def test_mustafar_decode_step(ctx):
    module = ir.Module.create()
    f16 = ir.F16Type.get()
    views = {}

    def body(k, v, q, rk, rv):
        pk = kvsparse.build_prune(k, sparsity=0.5, keep_recent=32)
        pv = kvsparse.build_prune(v, sparsity=0.7, keep_recent=32)
        ck = kvsparse.build_compress(pk.output, kvsparse.bitmap_encoding("token"))
        cv = kvsparse.build_compress(pv.output, kvsparse.bitmap_encoding("channel"))
        att = kvsparse.build_attention(q, ck.output, cv.output, recent_keys=rk, recent_values=rv)
        parts = kvsparse.build_disassemble(ck.output)
        back = kvsparse.build_assemble(ck.output.type, parts.bitmap, parts.values, offsets=parts.offsets)
        dense = kvsparse.build_decompress(back.output)
        views.update(prune=pk, attention=att, parts=parts, back=back, dense=dense)
        return [att.output, dense.output]

    kv = _t([128, 2, 64], f16)
    recent = _t([32, 2, 64], f16)
    _function(module, "decode", [kv, kv, _t([8, 64], f16), recent, recent], body)
    assert _messages(module) == []
    att = views["attention"]
    assert ir.FloatAttr(att.scale).value == pytest.approx(1 / 8)  # 1/sqrt(head_dim) by default
    assert att.recent_keys is not None and att.recent_values is not None
    assert ir.FloatAttr(views["prune"].sparsity).value == pytest.approx(0.5)
    assert views["prune"].int_attr("keep_recent") == 32
    assert views["parts"].offsets is not None and views["back"].offsets is not None
    assert views["dense"].output.type == kv
    assert _messages(_reparse(module, ctx)) == []


def test_sparse_matmul_and_its_rules(ctx):
    module = ir.Module.create()
    bf16 = ir.BF16Type.get()
    w_t = kvsparse.compressed_type([32, 64], bf16, kvsparse.bitmask_encoding())
    views = {}

    def body(x, mask, values):
        w = kvsparse.build_assemble(w_t, mask, values)
        views["assemble"] = w
        views["matmul"] = kvsparse.build_matmul(x, w.output)
        return [views["matmul"].output]

    _function(module, "mm", [_t([DYN, 64], bf16), _t([32, 2], ir.IntegerType.get_signless(32)), _t([DYN], bf16)], body)
    assert _messages(module) == []
    assert views["assemble"].offsets is None and "operandSegmentSizes" not in views["assemble"].op.attributes
    assert str(views["matmul"].output.type) == "tensor<?x32xbf16>"

    bad = ir.Module.create()
    k_t = kvsparse.compressed_type([64, 64], bf16, kvsparse.bitmap_encoding("token"))
    _function(bad, "bad", [_t([1, 64], bf16), k_t], lambda x, w: [kvsparse.build_matmul(x, w).output])
    assert _messages(bad) == ["weight must be a #kvsparse.bitmask or N:M weight; bitmap tiles are for the KV cache"]


def test_attention_rejects_wrong_tiles(ctx):
    module = ir.Module.create()
    f16 = ir.F16Type.get()
    k_t = kvsparse.compressed_type([64, 2, 64], f16, kvsparse.bitmap_encoding("channel"))
    _function(module, "bad", [_t([4, 64], f16), k_t, k_t],
              lambda q, k, v: [kvsparse.build_attention(q, k, v).output])
    (problem,) = _messages(module)
    assert problem.startswith('keys must use #kvsparse.bitmap<"token"> tiles')


# ------------------------------------------------------------------------- pim
def _gemv_program(config, n, k, channels):
    """A complete GEMV command stream y = W x for W [n, k] placed by pim.place."""
    element = config.element_type()
    layout = pim.Placement(config, n, k, channels[0], channels[1], row=0)
    reads = []

    def body(w, x):
        pim.build_place(w, row=0, channels=channels)
        for slot in range(layout.slots):
            for chunk in range(layout.rows_per_matrix_row):
                offset = chunk * config.columns
                length = min(config.columns, -(-(k - offset) // config.lanes) * config.lanes)
                pim.build_write_gb(x, col=0, offset=offset, length=length, channels=channels)
                row = slot * layout.rows_per_matrix_row + chunk
                pim.build_activate(row=row, channels=channels)
                for col in range(0, length, config.lanes):
                    pim.build_mac_all_banks(row=row, col=col, channels=channels)
                pim.build_precharge(channels=channels)
            reads.append(pim.build_read_mac(channels=channels))
        pim.build_sync(channels=channels)
        return [pim.build_host_concat([r.output for r in reads], n).output]

    return pim.build_program("gemv", config, [_t([n, k], element), _t([k], element)], [_t([n], element)], body), reads


def test_pim_gemv_program(ctx):
    config = pim.DeviceConfig(channels=4, banks=16, rows=64, columns=256, element="bf16")
    module = ir.Module.create()
    with ir.InsertionPoint(module.body):
        program, reads = _gemv_program(config, n=80, k=600, channels=(1, 2))
    assert _messages(module) == []
    assert pim.config_of(program) == config and config.lanes == 16
    fty = pim.function_type(program)
    assert [str(t) for t in fty.inputs] == ["tensor<80x600xbf16>", "tensor<600xbf16>"]
    # 80 rows over 2 x 16 units: 3 slots; 600 columns over rows of 256: 3 DRAM rows each.
    assert len(reads) == 3 and str(reads[0].output.type) == "tensor<2x16xbf16>"
    ops = [op.operation.name for op in pim.body_block(program).operations]
    assert ops.count("pim.mac_all_banks") == 3 * (16 + 16 + 6)  # 256/16, 256/16, ceil(88/16)
    assert ops[-1] == REGION_TERMINATOR
    assert _messages(_reparse(module, ctx)) == []


def test_pim_placement_is_a_bijection_into_the_device():
    """Every element of a placed matrix gets its own (channel, bank, row, column), inside the device and the range."""
    config = pim.DeviceConfig(channels=4, banks=4, rows=32, columns=64)
    rng = np.random.default_rng(0)
    for n, k in [(13, 150), (16, 64), (33, 5)]:
        layout = pim.Placement(config, n, k, channel=1, num_channels=2, row=3)
        cells = {layout.locate(i, j) for i, j in itertools.product(range(n), range(k))}
        assert len(cells) == n * k
        channels, banks, rows, cols = (np.array(c) for c in zip(*cells))
        assert channels.min() >= 1 and channels.max() <= 2
        assert banks.max() < config.banks and cols.max() < config.columns
        assert rows.min() >= 3 and rows.max() < 3 + layout.rows_used
        # Row n of the matrix is one unit's: all of its elements share (channel, bank).
        for i in rng.choice(n, size=min(n, 5), replace=False):
            assert len({layout.locate(int(i), j)[:2] for j in range(k)}) == 1


def test_pim_rules_from_python(ctx):
    config = pim.DeviceConfig(channels=2, banks=16, rows=8, columns=128, element="f16")
    module = ir.Module.create()
    f16 = ir.F16Type.get()

    def body(x):
        pim.build_write_gb(x, col=112, offset=0, length=32)  # GB[112, 144) overflows 128
        pim.build_activate(row=8, bank=0)  # row out of range
        pim.build_af("gelu")
        return []

    with ir.InsertionPoint(module.body):
        pim.build_program("bad", config, [_t([32], f16)], [], body)
    assert _messages(module) == [
        "GB[112, 144) overflows the global buffer of 128 elements",
        "row 8 is out of range: the device has 8 rows per bank",
    ]
    with pytest.raises(ValueError, match="directly inside a pim.program body"):
        with ir.InsertionPoint(module.body):
            pim.build_sync()


def test_pim_host_compute(ctx):
    config = pim.GDDR6_AIM
    module = ir.Module.create()
    f16 = ir.F16Type.get()
    views = {}

    def body(s):
        red = pim.build_host_reduce(s)
        sm = pim.build_host_softmax(red.output, scale=0.5)
        hc = pim.build_host_compute(sm.output.type, lambda: arith.AddFOp(sm.output, sm.output).result)
        views.update(red=red, sm=sm, hc=hc)
        return [hc.output]

    with ir.InsertionPoint(module.body):
        pim.build_program("host", config, [_t([4, 8], f16)], [_t([8], f16)], body)
    assert _messages(module) == []
    assert str(views["red"].output.type) == "tensor<8xf16>"
    assert ir.FloatAttr(views["sm"].scale).value == 0.5
    inner = [op.operation.name for op in pim.body_block(views["hc"]).operations]
    assert inner == ["arith.addf", REGION_TERMINATOR]
    assert pim.spec_of(views["hc"].op) is pim.HOST_COMPUTE
