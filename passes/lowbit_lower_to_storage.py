"""lowbit-lower-to-storage: lowbit types and ops -> i8 storage + decode arithmetic.

Matches every lowbit op (quantize, dequantize, pack, unpack, matmul) and every
value whose type is a tensor of a lowbit format, in every function.

Guarantees:

* No lowbit type or op is left. A codes tensor ``tensor<... x !lowbit.X>``
  becomes ``tensor<... x i8>`` holding one code per byte (its bit pattern in
  the low B bits, upper bits zero); packed tensors are already ``i8``.
  Function signatures, block arguments and shape-only ops on codes (slices,
  reshapes, calls, returns) are retyped in place.
* Values follow the pinned contract of dialects/lowbit.md exactly:
  ``value = scale_g * (decode(code) - zero_g)`` in f32, where decode builds the
  value from the code's bits, one rule per family (no tables):
  int: sign-extend B bits; uint: zero-extend; bipolar: ``2q - (2^B - 1)``;
  minifloat eXmY: the f32 bit pattern is built from the sign/exponent/mantissa
  fields (rebias the exponent, shift the mantissa; subnormals as
  ``mantissa * 2^(1-bias-M)``; E = 5 all-ones exponent -> inf/NaN; OCP
  E4M3FN S.1111.111 -> NaN); razer: the E2M1 rule with code 0b1000 swapped for
  the group's special value.
* Fused unpacking (``fuse-unpack=true``, the default): dequantize and matmul
  whose codes come from ``lowbit.unpack`` read the packed bytes directly; no
  unpacked weight tensor is materialized. ``lowbit.pack(lowbit.unpack(p))`` of
  the same width folds to ``p``.
* ``lowbit.matmul`` becomes one ``linalg.generic``, parallel over the output
  ``[..., N]`` (with several rows: over ``[..., ceil(rows/2), N]`` with two
  outputs, two rows sharing each weight decode, plus a gather generic); its
  body runs the K reduction as a register-resident loop nest:
  groups (scale, zero and razer special value loaded once per group), then
  blocks of 8 codes (8 codes fill exactly B bytes: B byte loads, one shift
  and mask per code), then single codes for ragged heads/tails. Products are
  ``x * w`` with ``w`` exactly the dequantized weight; the accumulation add
  carries ``fastmath<reassoc,contract>`` so LLVM may vectorize the K loop
  (only the summation order changes, not any dequantized value).
* ``lowbit.quantize`` (runtime RTN, min-max per group) reproduces
  ``kvc.formats``' ``rtn`` quantizer bit for bit for int, uint and bipolar
  formats with f16 or f32 scales. Minifloat and razer quantization (a grid
  search, and for razer a search over four tables) is rejected with an error
  naming the op: quantize those offline (lowbit-quantize-weights).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, linalg, math as mmath, scf, tensor

from kvc.diagnostics import PassError
from kvc.dialects.lowbit import (DEQUANTIZE, MATMUL, PACK, QUANTIZE, UNPACK, element_format, format_info,
                                 format_name)
from kvc.pipeline import KvcPass, Option, register_pass

LOWBIT_OPS = {spec.name: spec for spec in (QUANTIZE, DEQUANTIZE, PACK, UNPACK, MATMUL)}
BLOCK = 8  # codes per block: 8 codes of B bits fill exactly B bytes
ROW_TILE = 2  # matmul rows sharing one decode of the weight (prefill); 2 measured best: LLVM stops vectorizing at 3+ accumulators


# ------------------------------------------------------------------ small builders
def i_type(width: int) -> ir.IntegerType:
    return ir.IntegerType.get_signless(width)


def f32() -> ir.Type:
    return ir.F32Type.get()


def cidx(value: int) -> ir.Value:
    return arith.constant(ir.IndexType.get(), int(value))


def cint(value: int, width: int = 32) -> ir.Value:
    if value >= 1 << (width - 1):
        value -= 1 << width  # the attribute wants the signed reading of the bit pattern
    return arith.constant(i_type(width), int(value))


def cf32(value: float) -> ir.Value:
    return arith.constant(f32(), ir.FloatAttr.get(f32(), float(value)))


def f32_from_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def to_f32(value: ir.Value) -> ir.Value:
    ty = value.type
    if ty == f32():
        return value
    if isinstance(ty, ir.FloatType) and ir.FloatType(ty).width < 32:
        return arith.extf(f32(), value)
    return arith.truncf(f32(), value)


def from_f32(value: ir.Value, ty: ir.Type) -> ir.Value:
    if ty == f32():
        return value
    if ir.FloatType(ty).width < 32:
        return arith.truncf(ty, value)
    return arith.extf(ty, value)


def fastmath(text: str) -> ir.Attribute:
    return ir.Attribute.parse(f"#arith.fastmath<{text}>")


def empty_like_dims(shape: list[int], element: ir.Type, dynamic_sizes: list[ir.Value]) -> ir.Value:
    return tensor.EmptyOp([d if d != ir.ShapedType.get_dynamic_size() else v
                           for d, v in zip(shape, dynamic_sizes)], element).result


def dims_of(value: ir.Value) -> list[ir.Value | int]:
    """Static sizes as ints, dynamic ones as tensor.dim values."""
    ty = ir.RankedTensorType(value.type)
    out = []
    for d in range(ty.rank):
        out.append(ty.shape[d] if not ty.is_dynamic_dim(d) else tensor.dim(value, cidx(d)))
    return out


def generic(outputs: list[ir.Value], rank: int, body, *, reduction: bool = False) -> list[ir.Value]:
    """A linalg.generic with only outputs (identity maps, all parallel); ``body(indices)``
    returns the values to yield. Inputs are read inside the body with tensor.extract."""
    identity = ir.AffineMap.get_identity(rank)
    op = linalg.GenericOp([o.type for o in outputs], [], outputs,
                          ir.ArrayAttr.get([ir.AffineMapAttr.get(identity)] * len(outputs)),
                          ir.ArrayAttr.get([ir.Attribute.parse("#linalg.iterator_type<parallel>")] * rank))
    block = op.regions[0].blocks.append(*[ir.RankedTensorType(o.type).element_type for o in outputs])
    with ir.InsertionPoint(block):
        indices = [linalg.IndexOp(ir.IntegerAttr.get(i_type(64), d)).result for d in range(rank)]
        values = body(indices)
        linalg.YieldOp(values)
    return list(op.results)


def for_loop(lb: ir.Value, ub: ir.Value, step: ir.Value, init: list[ir.Value], body) -> list[ir.Value]:
    """scf.for with iter_args; ``body(iv, args)`` returns the yielded values."""
    loop = scf.ForOp(lb, ub, step, init)
    with ir.InsertionPoint(loop.body):
        values = body(loop.induction_variable, list(loop.inner_iter_args))
        scf.YieldOp(values)
    return list(loop.results)


def index_to_i32(value: ir.Value) -> ir.Value:
    return arith.index_cast(i_type(32), value)


# ------------------------------------------------------------------ code sources
@dataclass
class ByteSource:
    """Codes stored one per byte (i8 tensor of the codes' shape)."""

    storage: ir.Value
    bits: int

    def code(self, indices: list[ir.Value]) -> ir.Value:
        """Raw code as i32 (code in the low B bits; higher bits zero)."""
        return arith.extui(i_type(32), tensor.extract(self.storage, indices))

    def block(self, lead: list[ir.Value], blk: ir.Value) -> list[ir.Value]:
        base = arith.muli(blk, cidx(BLOCK))
        return [self.code(lead + [arith.addi(base, cidx(j)) if j else base]) for j in range(BLOCK)]


@dataclass
class PackedSource:
    """Codes in the pinned packed layout: row bit stream, LSB first, along the last axis."""

    packed: ir.Value
    bits: int

    def code(self, indices: list[ir.Value]) -> ir.Value:
        """Raw code as i32: the code is in the low B bits, higher bits are garbage."""
        b = self.bits
        lead, k = indices[:-1], indices[-1]
        bit = arith.muli(k, cidx(b)) if b != 1 else k
        lo = arith.shrui(bit, cidx(3))
        word = arith.extui(i_type(32), tensor.extract(self.packed, lead + [lo]))
        if 8 % b:  # a code may straddle two bytes
            last = arith.subi(tensor.dim(self.packed, cidx(len(lead))), cidx(1))
            hi = arith.minui(arith.addi(lo, cidx(1)), last)
            upper = arith.extui(i_type(32), tensor.extract(self.packed, lead + [hi]))
            word = arith.ori(word, arith.shli(upper, cint(8)))
        if b == 8:
            return word
        shift = index_to_i32(arith.andi(bit, cidx(7)))
        return arith.shrui(word, shift)

    def block(self, lead: list[ir.Value], blk: ir.Value) -> list[ir.Value]:
        """The 8 raw codes of block ``blk`` (bytes [blk*B, blk*B + B) of the row)."""
        b = self.bits
        width = 32 if b <= 4 else 64
        base = arith.muli(blk, cidx(b)) if b != 1 else blk
        word = None
        for i in range(b):
            index = arith.addi(base, cidx(i)) if i else base
            byte = arith.extui(i_type(width), tensor.extract(self.packed, lead + [index]))
            if i:
                byte = arith.shli(byte, cint(8 * i, width))
            word = byte if word is None else arith.ori(word, byte)
        codes = []
        for j in range(BLOCK):
            shifted = arith.shrui(word, cint(j * b, width)) if j else word
            codes.append(arith.trunci(i_type(32), shifted) if width == 64 else shifted)
        return codes


# ------------------------------------------------------------------ decoders
class Decoder:
    """decode(raw code) -> f32 value of the code, per the format's family."""

    def __init__(self, fmt: ir.Type):
        self.family, params = format_info(fmt)
        self.bits = params["bits"]
        self.params = params
        self.specials = params.get("specials")
        self.name = format_name(fmt)

    def mask(self, raw: ir.Value) -> ir.Value:
        return arith.andi(raw, cint((1 << self.bits) - 1))

    def decode(self, raw: ir.Value, special: ir.Value | None = None) -> ir.Value:
        family, b = self.family, self.bits
        if family == "int":
            shift = cint(32 - b)
            return arith.sitofp(f32(), arith.shrsi(arith.shli(raw, shift), shift))
        if family == "uint":
            return arith.uitofp(f32(), self.mask(raw))
        if family == "bipolar":
            doubled = arith.shli(self.mask(raw), cint(1))
            return arith.sitofp(f32(), arith.subi(doubled, cint((1 << b) - 1)))
        if family == "float":
            return self._minifloat(raw, self.params["exp"], self.params["man"])
        if family == "razer":
            value = self._minifloat(raw, 2, 1)
            is_special = arith.cmpi(arith.CmpIPredicate.eq, arith.andi(raw, cint(0xF)), cint(0b1000))
            return arith.select(is_special, special, value)
        raise AssertionError(family)

    def _minifloat(self, raw: ir.Value, e: int, m: int) -> ir.Value:
        bias = (1 << (e - 1)) - 1
        mag = arith.andi(raw, cint((1 << (e + m)) - 1))  # [exponent | mantissa]
        expf = arith.shrui(mag, cint(m)) if m else mag
        # Normal numbers: move the fields into f32's and rebias the exponent.
        normal_bits = arith.addi(arith.shli(mag, cint(23 - m)), cint((127 - bias) << 23))
        value = arith.bitcast(f32(), normal_bits)
        exp_zero = arith.cmpi(arith.CmpIPredicate.eq, expf, cint(0))
        if m:
            man = arith.andi(mag, cint((1 << m) - 1))
            subnormal = arith.mulf(arith.uitofp(f32(), man), cf32(2.0 ** (1 - bias - m)))
        else:
            subnormal = cf32(0.0)
        value = arith.select(exp_zero, subnormal, value)
        if e == 5:  # IEEE-like: all-ones exponent is inf (mantissa 0) or NaN
            man_bits = arith.shli(arith.andi(mag, cint((1 << m) - 1)), cint(23 - m)) if m else cint(0)
            special = arith.bitcast(f32(), arith.ori(man_bits, cint(0x7F800000)))
            all_ones = arith.cmpi(arith.CmpIPredicate.eq, expf, cint((1 << e) - 1))
            value = arith.select(all_ones, special, value)
        if (e, m) == (4, 3):  # OCP E4M3FN: S.1111.111 is NaN, nothing is inf
            is_nan = arith.cmpi(arith.CmpIPredicate.eq, mag, cint(0x7F))
            value = arith.select(is_nan, cf32(math.nan), value)
        sign = arith.shli(arith.andi(raw, cint(1 << (e + m))), cint(31 - (e + m)))
        return arith.bitcast(f32(), arith.ori(arith.bitcast(i_type(32), value), sign))

    def special_value(self, selector: ir.Value) -> ir.Value:
        """RaZeR: specials[selector] as f32 (selector: i32, low 2 bits used)."""
        sel = arith.andi(selector, cint(3))
        value = cf32(self.specials[3])
        for i in (2, 1, 0):
            value = arith.select(arith.cmpi(arith.CmpIPredicate.eq, sel, cint(i)), cf32(self.specials[i]), value)
        return value


@dataclass
class GroupParams:
    scale: ir.Value  # f32
    zero: ir.Value | None  # f32
    special: ir.Value | None  # f32 (razer)

    def dequant(self, decoded: ir.Value) -> ir.Value:
        centered = arith.subf(decoded, self.zero) if self.zero is not None else decoded
        return arith.mulf(self.scale, centered)


def load_group(decoder: Decoder, scales, zeros, meta, indices: list[ir.Value]) -> GroupParams:
    scale = to_f32(tensor.extract(scales, indices))
    zero = to_f32(tensor.extract(zeros, indices)) if zeros is not None else None
    special = None
    if decoder.family == "razer":
        selector = tensor.extract(meta, indices)
        width = ir.IntegerType(selector.type).width
        selector = arith.extui(i_type(32), selector) if width < 32 else (
            arith.trunci(i_type(32), selector) if width > 32 else selector)
        special = decoder.special_value(selector)
    return GroupParams(scale, zero, special)


# ------------------------------------------------------------------ the pass
@register_pass
class LowbitLowerToStorage(KvcPass):
    name = "lowbit-lower-to-storage"
    summary = ("Lower lowbit types to i8 storage and lowbit ops to linalg/arith/scf decode arithmetic "
               "(matmul on packed words, no unpacked weight tensor).")
    options = (
        Option("fuse-unpack", bool, True,
               "read packed bytes directly in dequantize/matmul instead of materializing lowbit.unpack"),
    )

    def run(self, module: ir.Operation) -> None:
        with module.context, module.location:
            _Lowering(self.fuse_unpack).run(module)


class _Lowering:
    def __init__(self, fuse_unpack: bool):
        self.fuse_unpack = fuse_unpack

    # -- driver -------------------------------------------------------------
    def run(self, module: ir.Operation) -> None:
        ops: list[ir.Operation] = []

        def collect(op):
            ops.append(op)
            return ir.WalkResult.ADVANCE

        module.walk(collect, ir.WalkOrder.PRE_ORDER)
        # Format of every lowbit op's codes, read before any type changes.
        formats = []
        for op in ops:
            fmt = None
            if op.name in LOWBIT_OPS:
                codes = op.results[0] if op.name in (QUANTIZE.name, UNPACK.name) else (
                    op.operands[1] if op.name == MATMUL.name else op.operands[0])
                fmt = element_format(codes.type)
            formats.append(fmt)
        self._retype_signatures(ops)
        lowered = []
        for op, fmt in zip(ops, formats):
            if op.name in LOWBIT_OPS:
                with ir.InsertionPoint(op), op.location:
                    getattr(self, "_" + op.name.split(".")[1])(op, fmt)
                lowered.append((op, fmt))
            else:
                for result in op.results:
                    storage = _storage_type(result.type)
                    if storage is not None:
                        result.set_type(storage)
        for op, fmt in reversed(lowered):
            if op.name == UNPACK.name and any(True for _ in op.results[0].uses):
                with ir.InsertionPoint(op), op.location:
                    self._materialize_unpack(op, fmt)
            op.erase()

    def _retype_signatures(self, ops: list[ir.Operation]) -> None:
        for op in ops:
            for region in op.regions:
                for block in region.blocks:
                    for arg in block.arguments:
                        storage = _storage_type(arg.type)
                        if storage is not None:
                            arg.set_type(storage)
            if op.name == "func.func":
                ftype = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
                inputs = [_storage_type(t) or t for t in ftype.inputs]
                results = [_storage_type(t) or t for t in ftype.results]
                op.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, results))

    def _codes_dims(self, codes: ir.Value, source) -> list:
        """Sizes of a codes tensor without using it when it is read through a packed view."""
        if isinstance(source, PackedSource):
            k = ir.RankedTensorType(codes.type).shape[-1]
            return dims_of(source.packed)[:-1] + [k]
        return dims_of(codes)

    def _source(self, codes: ir.Value, fmt: ir.Type):
        bits = format_info(fmt)[1]["bits"]
        owner = codes.owner
        if (self.fuse_unpack and isinstance(owner, (ir.Operation, ir.OpView))
                and owner.operation.name == UNPACK.name):
            return PackedSource(owner.operation.operands[0], bits)
        return ByteSource(codes, bits)

    # -- unpack / pack ------------------------------------------------------
    def _unpack(self, op: ir.Operation, fmt: ir.Type) -> None:
        # Fused: consumers read the packed bytes; materialized at the end only if still used.
        if not self.fuse_unpack:
            self._materialize_unpack(op, fmt)

    def _materialize_unpack(self, op: ir.Operation, fmt: ir.Type) -> None:
        bits = format_info(fmt)[1]["bits"]
        source = PackedSource(op.operands[0], bits)
        result = op.results[0]
        shape = list(ir.RankedTensorType(result.type).shape)
        packed_dims = dims_of(op.operands[0])
        sizes = packed_dims[:-1] + [shape[-1]]
        out = tensor.EmptyOp(sizes, i_type(8)).result
        decoder_mask = (1 << bits) - 1

        def body(idx):
            return [arith.trunci(i_type(8), arith.andi(source.code(idx), cint(decoder_mask)))]

        (storage,) = generic([out], len(shape), body)
        result.replace_all_uses_with(storage)

    def _pack(self, op: ir.Operation, fmt: ir.Type) -> None:
        bits = format_info(fmt)[1]["bits"]
        codes = op.operands[0]
        view = self._source(codes, fmt) if self.fuse_unpack else None
        result = op.results[0]
        if isinstance(view, PackedSource) and view.packed.type == result.type:
            result.replace_all_uses_with(view.packed)  # pack(unpack(p)) of the same width is p
            return
        source = ByteSource(codes, bits) if not isinstance(view, PackedSource) else None
        if source is None:  # re-pack from the fused view of another width
            source = view
        k = ir.RankedTensorType(codes.type).shape[-1]
        if k == ir.ShapedType.get_dynamic_size():
            raise PassError("lowbit.pack with a dynamic last dimension is not supported by the cpu lowering", op)
        out_ty = ir.RankedTensorType(result.type)
        sizes = self._codes_dims(codes, source)[:-1] + [out_ty.shape[-1]]
        out = tensor.EmptyOp(sizes, i_type(8)).result
        per_byte = -(-8 // bits) + 1  # codes that can touch one byte
        mask = (1 << bits) - 1

        def body(idx):
            lead, byte = idx[:-1], idx[-1]
            bit0 = arith.muli(byte, cidx(8))
            first = arith.divui(bit0, cidx(bits))
            word = cint(0)
            for t in range(per_byte):
                j = arith.addi(first, cidx(t)) if t else first
                in_row = arith.cmpi(arith.CmpIPredicate.ult, j, cidx(k))
                start = arith.muli(j, cidx(bits))
                in_byte = arith.cmpi(arith.CmpIPredicate.ult, start, arith.addi(bit0, cidx(8)))
                valid = arith.andi(in_row, in_byte)
                jc = arith.minui(j, cidx(k - 1))
                code = arith.andi(source.code(lead + [jc]), cint(mask))
                offset = index_to_i32(arith.subi(start, bit0))  # may be negative for t = 0
                left = arith.maxsi(offset, cint(0))
                right = arith.maxsi(arith.subi(cint(0), offset), cint(0))
                placed = arith.shrui(arith.shli(code, left), right)
                word = arith.ori(word, arith.select(valid, placed, cint(0)))
            return [arith.trunci(i_type(8), word)]

        (packed,) = generic([out], out_ty.rank, body)
        result.replace_all_uses_with(packed)

    # -- dequantize ---------------------------------------------------------
    def _dequantize(self, op: ir.Operation, fmt: ir.Type) -> None:
        view = DEQUANTIZE.view(op)
        decoder = Decoder(fmt)
        group, axis = view.int_attr("group_size"), view.int_attr("axis")
        source = self._source(view.codes, fmt)
        out_ty = ir.RankedTensorType(view.output.type)
        out = tensor.EmptyOp(self._codes_dims(view.codes, source), out_ty.element_type).result

        def body(idx):
            gidx = list(idx)
            gidx[axis] = arith.divui(idx[axis], cidx(group))
            params = load_group(decoder, view.scales, view.zeros, view.meta, gidx)
            value = params.dequant(decoder.decode(source.code(idx), params.special))
            return [from_f32(value, out_ty.element_type)]

        (result,) = generic([out], out_ty.rank, body)
        view.output.replace_all_uses_with(result)

    # -- matmul -------------------------------------------------------------
    def _matmul(self, op: ir.Operation, fmt: ir.Type) -> None:
        view = MATMUL.view(op)
        decoder = Decoder(fmt)
        group = view.int_attr("group_size")
        codes_ty = ir.RankedTensorType(view.codes.type)
        k = codes_ty.shape[1]
        if codes_ty.is_dynamic_dim(1):
            raise PassError("lowbit.matmul needs a static K (codes [N, K]) on the cpu lowering", op)
        source = self._source(view.codes, fmt)
        x = view.input
        out_ty = ir.RankedTensorType(view.output.type)
        x_dims = dims_of(x)
        n_dim = self._codes_dims(view.codes, source)[0]
        ngroups = -(-k // group)
        reassoc, contract = fastmath("reassoc,contract"), fastmath("contract")

        def reduce_rows(leads: list[list[ir.Value]], n: ir.Value) -> list[ir.Value]:
            """sum_k x[lead, k] * w[n, k] for every lead (row) at once: each weight code is
            decoded and dequantized once and multiplied into every row's accumulator."""

            def accumulate(accs, k_index, raw, params):
                w = params.dequant(decoder.decode(raw, params.special))
                out = []
                for acc, lead in zip(accs, leads):
                    xv = to_f32(tensor.extract(x, lead + [k_index]))
                    out.append(arith.addf(acc, arith.mulf(xv, w, fastmath=contract), fastmath=reassoc))
                return out

            def per_group(g, accs):
                params = load_group(decoder, view.scales, view.zeros, view.meta, [n, g])
                k0 = arith.muli(g, cidx(group))
                k1 = arith.minui(arith.addi(k0, cidx(group)), cidx(k))

                def scalar_loop(lo, hi, accs):
                    def step(kk, a):
                        return accumulate(a, kk, source.code([n, kk]), params)
                    return for_loop(lo, hi, cidx(1), accs, step)

                def block_loop(blo, bhi, accs):
                    def step(blk, a):
                        raws = source.block([n], blk)
                        base = arith.muli(blk, cidx(BLOCK))
                        for j, raw in enumerate(raws):
                            a = accumulate(a, arith.addi(base, cidx(j)) if j else base, raw, params)
                        return a
                    return for_loop(blo, bhi, cidx(1), accs, step)

                if group % BLOCK == 0:
                    start = k0  # groups start on a block boundary
                else:
                    start = arith.minui(arith.muli(arith.ceildivui(k0, cidx(BLOCK)), cidx(BLOCK)), k1)
                    accs = scalar_loop(k0, start, accs)
                blocks_end = arith.divui(k1, cidx(BLOCK))
                accs = block_loop(arith.divui(start, cidx(BLOCK)), blocks_end, accs)
                if group % BLOCK or k % BLOCK:
                    tail = arith.maxui(start, arith.muli(blocks_end, cidx(BLOCK)))
                    accs = scalar_loop(tail, k1, accs)
                return accs

            return for_loop(cidx(0), cidx(ngroups), cidx(1), [cf32(0.0)] * len(leads), per_group)

        def untiled() -> ir.Value:
            out = tensor.EmptyOp(x_dims[:-1] + [n_dim], out_ty.element_type).result

            def body(idx):
                return [from_f32(reduce_rows([idx[:-1]], idx[-1])[0], out_ty.element_type)]

            return generic([out], out_ty.rank, body)[0]

        def tiled(rows: int) -> ir.Value:
            """ROW_TILE rows of the second-to-last input dim per weight decode."""
            s_dim = x_dims[-2]
            s_val = s_dim if isinstance(s_dim, ir.Value) else cidx(s_dim)
            tiles = arith.ceildivui(s_val, cidx(rows)) if isinstance(s_dim, ir.Value) else -(-s_dim // rows)
            tile_dims = x_dims[:-2] + [tiles, n_dim]
            outs = [tensor.EmptyOp(tile_dims, f32()).result for _ in range(rows)]
            last = arith.subi(s_val, cidx(1))

            def body(idx):
                pre, t, n = idx[:-2], idx[-2], idx[-1]
                first = arith.muli(t, cidx(rows))
                leads = [pre + [arith.minui(arith.addi(first, cidx(i)) if i else first, last)] for i in range(rows)]
                return reduce_rows(leads, n)  # rows past the end recompute the last row (discarded)

            parts = generic(outs, out_ty.rank, body)
            out = tensor.EmptyOp(x_dims[:-1] + [n_dim], out_ty.element_type).result

            def gather(idx):
                pre, srow, n = idx[:-2], idx[-2], idx[-1]
                t, i = arith.divui(srow, cidx(rows)), arith.remui(srow, cidx(rows))
                value = tensor.extract(parts[0], pre + [t, n])
                for r in range(1, rows):
                    hit = arith.cmpi(arith.CmpIPredicate.eq, i, cidx(r))
                    value = arith.select(hit, tensor.extract(parts[r], pre + [t, n]), value)
                return [from_f32(value, out_ty.element_type)]

            return generic([out], out_ty.rank, gather)[0]

        if out_ty.rank < 2 or x_dims[-2] == 1 or x_dims[-2] == 0:
            result = untiled()
        elif not isinstance(x_dims[-2], ir.Value):
            result = tiled(min(ROW_TILE, x_dims[-2]))
        else:  # dynamic row count: the row-tiled kernel from 2 rows on, the GEMV kernel below
            several = arith.cmpi(arith.CmpIPredicate.uge, x_dims[-2], cidx(2))
            branch = scf.IfOp(several, [out_ty], has_else=True)
            with ir.InsertionPoint(branch.then_block):
                scf.YieldOp([tiled(ROW_TILE)])
            with ir.InsertionPoint(branch.else_block):
                scf.YieldOp([untiled()])
            result = branch.results[0]
        view.output.replace_all_uses_with(result)

    # -- quantize -----------------------------------------------------------
    def _quantize(self, op: ir.Operation, fmt: ir.Type) -> None:
        view = QUANTIZE.view(op)
        family, params = format_info(fmt)
        bits = params["bits"]
        if family not in ("int", "uint", "bipolar"):
            raise PassError(
                f"runtime lowbit.quantize to {format_name(fmt)} is not supported: only int, uint and bipolar "
                "formats quantize at runtime (min-max RTN); minifloat and razer codes need kvc.formats' grid "
                "search - quantize offline (lowbit-quantize-weights)", op)
        scale_ty = ir.RankedTensorType(view.scales.type).element_type
        if str(scale_ty) not in ("f16", "f32"):
            raise PassError(f"runtime lowbit.quantize supports f16 and f32 scales, got {scale_ty}", op)
        group, axis = view.int_attr("group_size"), view.int_attr("axis")
        x = view.input
        x_ty = ir.RankedTensorType(x.type)
        rank = x_ty.rank
        x_dims = dims_of(x)
        kaxis = x_dims[axis]
        kaxis_v = kaxis if isinstance(kaxis, ir.Value) else cidx(kaxis)
        scale_max = 65504.0 if str(scale_ty) == "f16" else float(struct.unpack("<f", b"\xff\xff\x7f\x7f")[0])
        affine = family != "int"
        qmax_code = (1 << bits) - 1
        if family == "int":
            qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            dec_a, dec_b = (1.0, 0.0) if family == "uint" else (2.0, -float((1 << bits) - 1))
            dmin, dmax = dec_b, dec_a * qmax_code + dec_b
        if view.zeros is None and affine:
            raise PassError(f"runtime lowbit.quantize to {format_name(fmt)} needs a zeros result", op)

        g_dims = list(x_dims)
        g_dims[axis] = arith.ceildivui(kaxis_v, cidx(group)) if isinstance(kaxis, ir.Value) else -(-kaxis // group)
        outs = [tensor.EmptyOp(g_dims, scale_ty).result]
        if affine:
            outs.append(tensor.EmptyOp(g_dims, scale_ty).result)

        def round_scale(s):
            positive = arith.cmpf(arith.CmpFPredicate.OGT, s, cf32(0.0))
            finite = arith.cmpf(arith.CmpFPredicate.OLT, s, cf32(math.inf))
            s = arith.select(arith.andi(positive, finite), s, cf32(1.0))
            s = arith.minimumf(s, cf32(scale_max))
            q = arith.truncf(scale_ty, s) if str(scale_ty) != "f32" else s
            one = arith.constant(scale_ty, ir.FloatAttr.get(scale_ty, 1.0))
            zero = arith.constant(scale_ty, ir.FloatAttr.get(scale_ty, 0.0))
            return arith.select(arith.cmpf(arith.CmpFPredicate.OEQ, q, zero), one, q)

        def stats_body(gidx):
            start = arith.muli(gidx[axis], cidx(group))
            end = arith.minui(arith.addi(start, cidx(group)), kaxis_v)

            def step(e, a):
                idx = list(gidx)
                idx[axis] = e
                v = to_f32(tensor.extract(x, idx))
                return [arith.maximumf(a[0], v), arith.minimumf(a[1], v)]

            xmax, xmin = for_loop(start, end, cidx(1), [cf32(-math.inf), cf32(math.inf)], step)
            if family == "int":
                s = cf32(0.0)
                if qmax > 0:  # (int1 has no positive code: that term does not exist)
                    s = arith.maximumf(s, arith.divf(xmax, cf32(float(qmax))))
                s = arith.maximumf(s, arith.divf(xmin, cf32(float(qmin))))
                return [round_scale(s)]
            c = arith.mulf(arith.addf(xmax, xmin), cf32(0.5))
            h = arith.mulf(arith.subf(xmax, xmin), cf32(0.5))
            lo = arith.subf(c, h)
            amax = arith.maximumf(mmath.absf(xmax), mmath.absf(xmin))
            s = arith.divf(arith.mulf(cf32(2.0), h), cf32(dmax - dmin))
            s = arith.maximumf(s, arith.divf(amax, cf32(0.5 * scale_max)))
            sq = round_scale(s)
            z = arith.subf(cf32(dmin), arith.divf(lo, to_f32(sq)))
            z = arith.minimumf(arith.maximumf(z, cf32(-scale_max)), cf32(scale_max))
            zq = arith.truncf(scale_ty, z) if str(scale_ty) != "f32" else z
            return [sq, zq]

        stats = generic(outs, rank, stats_body)
        scales = stats[0]
        zeros = stats[1] if affine else None

        codes_out = tensor.EmptyOp(x_dims, i_type(8)).result

        def codes_body(idx):
            gidx = list(idx)
            gidx[axis] = arith.divui(idx[axis], cidx(group))
            xv = to_f32(tensor.extract(x, idx))
            sf = to_f32(tensor.extract(scales, gidx))
            y = arith.divf(xv, sf)
            if family == "int":
                v = mmath.roundeven(y)
                v = arith.minimumf(arith.maximumf(v, cf32(float(qmin))), cf32(float(qmax)))
                code = arith.andi(arith.fptosi(i_type(32), v), cint(qmax_code))
            else:
                t = arith.addf(y, to_f32(tensor.extract(zeros, gidx)))
                u = arith.divf(arith.subf(t, cf32(dec_b)), cf32(dec_a))
                v = mmath.roundeven(u)
                v = arith.minimumf(arith.maximumf(v, cf32(0.0)), cf32(float(qmax_code)))
                code = arith.fptosi(i_type(32), v)
            return [arith.trunci(i_type(8), code)]

        (codes,) = generic([codes_out], rank, codes_body)
        view.codes.replace_all_uses_with(codes)
        view.scales.replace_all_uses_with(scales)
        if view.zeros is not None:
            view.zeros.replace_all_uses_with(zeros)
        if view.meta is not None:
            raise PassError("runtime lowbit.quantize produces no meta for this format", op)


def _storage_type(ty: ir.Type) -> ir.Type | None:
    """tensor<... x lowbit> -> tensor<... x i8>; None for any other type."""
    if isinstance(ty, ir.RankedTensorType) and element_format(ty) is not None:
        t = ir.RankedTensorType(ty)
        return ir.RankedTensorType.get(list(t.shape), i_type(8), t.encoding)
    return None
