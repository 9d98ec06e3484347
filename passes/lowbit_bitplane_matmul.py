"""lowbit-bitplane-matmul: bipolar (x bipolar | x int) matmuls as 1-bit planes and popcounts.

Matches ``lowbit.matmul(lowbit.dequantize(xc, xs[, xz]), wc, ws[, wz])``
where the weight codes ``wc`` are ``!lowbit.bipolar<Bw>`` and the activation
codes ``xc`` are ``!lowbit.bipolar<Bx>`` or ``!lowbit.int<Bx>`` (e.g. int8),
quantized along their last axis (K) in groups that each cover whole weight
groups (``Gx % Gw == 0`` or ``Gx >= K``). This is how activations enter the
integer domain: quantize them with ``lowbit.quantize`` (bipolar or int,
supported at runtime) or pass codes in, and dequantize them into the matmul;
the pass then never dequantizes either side.

Algebra (exact in integers). Split codes into bit planes, bit i of code k
being ``a_i[k]`` (activation) and ``b_j[k]`` (weight). Per weight group g
(``cnt`` real elements):

* bipolar x bipolar: ``d = sum_i 2^i (2 a_i - 1)`` on both sides, so
  ``D_g = sum_k dx*dw = sum_ij 2^(i+j) (cnt - 2 popc(a_i XOR b_j))``.
* int x bipolar (two's complement ``dx = sum_i c_i a_i``, ``c_i = 2^i``,
  ``c_(Bx-1) = -2^(Bx-1)``): ``D_g = sum_i c_i sum_j 2^j (2 popc(a_i AND b_j) - popc(a_i))``.

Planes are packed 64 codes per i64 word, each group starting a fresh word
(zero padding: padding bits agree under XOR and vanish under AND, so no masks
are needed). With ``Sx = sum dx`` and ``Sw = sum dw`` over the group (from
popcounts of single planes) the result is

    y[m, n] = sum_g sx*sw * (D_g - zw*Sx - zx*Sw + cnt*zx*zw)

evaluated in f64 (every term is exact there) and rounded once to the result
type. With unit scales and no zeros it *is* the integer product, exactly.

Guarantees: no dequantized value of either operand is formed; the integer
part is exact; the only rounding is the f64 epilogue and the final cast.
Codes are read through ``lowbit.pack`` (folded when they already come from
``lowbit.unpack``), so this pass runs before lowbit-lower-to-storage. Weight
planes are computed at compile time with numpy when the weight codes are a
constant (planes become ``dense_resource`` blobs) or a bound weight in the
``weights`` dict (planes become bound weights ``<name>.plane<i>``).
"""

from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith, math as mmath, tensor

from kvc import resources
from kvc.dialects.lowbit import DEQUANTIZE, MATMUL, UNPACK, build_pack, element_format, format_info
from kvc.passes.lowbit_lower_to_storage import (PackedSource, cidx, cint, dims_of, for_loop, generic,
                                                i_type)
from kvc.pipeline import KvcPass, Option, register_pass

WORD = 64


def f64() -> ir.Type:
    return ir.F64Type.get()


def c64(value: int) -> ir.Value:
    return cint(value, 64)


def cf64(value: float) -> ir.Value:
    return arith.constant(f64(), ir.FloatAttr.get(f64(), float(value)))


def to_f64(value: ir.Value) -> ir.Value:
    return value if value.type == f64() else arith.extf(f64(), value)


@register_pass
class LowbitBitplaneMatmul(KvcPass):
    name = "lowbit-bitplane-matmul"
    summary = ("Rewrite lowbit.matmul of bipolar weights by dequantized bipolar/int activation codes into "
               "bit-plane popcount arithmetic (exact integer dot products, f64 epilogue).")
    options = (
        Option("max-plane-pairs", int, 64, "skip matmuls needing more activation x weight plane pairs than this"),
    )

    def __init__(self, weights: dict | None = None, **values):
        super().__init__(**values)
        self.weights = weights
        self.precomputed = 0  # weight plane sets computed at compile time (numpy)

    def run(self, module: ir.Operation) -> None:
        matches = []
        weights = self.weights if self.weights is not None else resources.attached_weights(module.context)

        def collect(op):
            if op.name == MATMUL.name:
                match = _match(op, self.max_plane_pairs)
                if match is not None:
                    matches.append(match)
            return ir.WalkResult.ADVANCE

        with module.context, module.location:
            module.walk(collect, ir.WalkOrder.PRE_ORDER)
            for match in matches:
                with ir.InsertionPoint(match.op), match.op.location:
                    self.precomputed += _rewrite(match, weights)
                dequant = match.dequant
                codes = [match.op.operands[1]]
                if dequant.operands[0] != codes[0]:
                    codes.append(dequant.operands[0])
                match.op.erase()
                if not any(True for _ in dequant.results[0].uses):
                    dequant.erase()
                for value in codes:  # lowbit ops are not DCE'd upstream: drop unpacks left unused
                    owner = value.owner
                    if not isinstance(owner, ir.Block) and owner.operation.name == UNPACK.name \
                            and not any(True for _ in owner.operation.results[0].uses):
                        owner.operation.erase()


class _Match:
    def __init__(self, op, dequant, x_family, x_bits, w_bits, x_group, w_group, k):
        self.op, self.dequant = op, dequant
        self.x_family, self.x_bits, self.w_bits = x_family, x_bits, w_bits
        self.x_group, self.w_group, self.k = x_group, w_group, k


def _match(op: ir.Operation, max_pairs: int) -> _Match | None:
    view = MATMUL.view(op)
    w_fmt = element_format(view.codes)
    if w_fmt is None or format_info(w_fmt)[0] != "bipolar":
        return None
    owner = view.input.owner
    if isinstance(owner, ir.Block) or owner.operation.name != DEQUANTIZE.name:
        return None
    dq = DEQUANTIZE.view(owner.operation)
    x_fmt = element_format(dq.codes)
    if x_fmt is None:
        return None
    x_family, x_params = format_info(x_fmt)
    if x_family not in ("bipolar", "int"):
        return None
    rank = ir.RankedTensorType(dq.codes.type).rank
    if dq.int_attr("axis") != rank - 1:
        return None
    k = ir.RankedTensorType(view.codes.type).shape[1]
    if k == ir.ShapedType.get_dynamic_size():
        return None
    gx, gw = dq.int_attr("group_size"), view.int_attr("group_size")
    gw = min(gw, k)
    if not (gx >= k or gx % gw == 0):
        return None
    w_bits = format_info(w_fmt)[1]["bits"]
    if x_params["bits"] * w_bits > max_pairs:
        return None
    return _Match(op, owner.operation, x_family, x_params["bits"], w_bits, gx, gw, k)


def _packed(codes: ir.Value) -> ir.Value:
    """The packed bytes of a codes tensor (the unpack's operand, else a new lowbit.pack)."""
    owner = codes.owner
    if not isinstance(owner, ir.Block) and owner.operation.name == UNPACK.name:
        return owner.operation.operands[0]
    return build_pack(codes).packed


def _planes(packed: ir.Value, bits: int, k: int, group: int, lead_dims: list) -> list[ir.Value]:
    """``bits`` i64 tensors ``[lead..., NG, WPG]``: plane i, group g, word w holds bit i of the
    codes g*group + 64w + t (t < 64) at bit t; bits past the group's end are zero."""
    source = PackedSource(packed, bits)
    ngroups = -(-k // group)
    words = -(-group // WORD)
    outs = [tensor.EmptyOp(lead_dims + [ngroups, words], i_type(64)).result for _ in range(bits)]
    rank = len(lead_dims) + 2

    def body(idx):
        lead, g, w = idx[:-2], idx[-2], idx[-1]
        g_start = arith.muli(g, cidx(group))
        g_end = arith.minui(arith.addi(g_start, cidx(group)), cidx(k))
        first = arith.addi(g_start, arith.muli(w, cidx(WORD)))
        last = arith.minui(arith.addi(first, cidx(WORD)), g_end)
        count = arith.subi(arith.maxui(last, first), first)

        def step(t, planes):
            code = source.code(lead + [arith.addi(first, t)])
            code64 = arith.extui(i_type(64), code)
            t64 = arith.index_cast(i_type(64), t)
            out = []
            for i, word in enumerate(planes):
                bit = arith.andi(arith.shrui(code64, c64(i)) if i else code64, c64(1))
                out.append(arith.ori(word, arith.shli(bit, t64)))
            return out

        return for_loop(cidx(0), count, cidx(1), [c64(0)] * bits, step)

    return generic(outs, rank, body)


def _plane_sums(planes: list[ir.Value], family: str, k: int, group: int, lead_dims: list) -> ir.Value:
    """i64 ``[lead..., NG]``: the sum of the decoded codes of each group, from plane popcounts."""
    bits = len(planes)
    ngroups = -(-k // group)
    words = -(-group // WORD)
    out = tensor.EmptyOp(lead_dims + [ngroups], i_type(64)).result

    def body(idx):
        lead, g = idx[:-1], idx[-1]
        total = c64(0)
        for i, plane in enumerate(planes):
            def step(w, acc, plane=plane):
                return [arith.addi(acc[0], mmath.ctpop(tensor.extract(plane, lead + [g, w])))]
            (pc,) = for_loop(cidx(0), cidx(words), cidx(1), [c64(0)], step)
            if family == "bipolar":  # sum of 2^i (2 a_i - 1) = 2^i (2 popc - cnt)
                cnt = _group_count(g, group, k)
                term = arith.muli(c64(1 << i), arith.subi(arith.muli(pc, c64(2)), cnt))
            else:  # two's complement: the top plane weighs -2^(B-1)
                weight = -(1 << i) if i == bits - 1 else (1 << i)
                term = arith.muli(c64(weight), pc)
            total = arith.addi(total, term)
        return [total]

    (sums,) = generic([out], len(lead_dims) + 1, body)
    return sums


def _group_count(g: ir.Value, group: int, k: int) -> ir.Value:
    start = arith.muli(g, cidx(group))
    end = arith.minui(arith.addi(start, cidx(group)), cidx(k))
    return arith.index_cast(i_type(64), arith.subi(end, start))


def _rewrite(m: _Match, weights: dict | None) -> int:
    view = MATMUL.view(m.op)
    dq = DEQUANTIZE.view(m.dequant)
    k, gw = m.k, m.w_group
    words = -(-gw // WORD)
    ngroups = -(-k // gw)
    x_packed = _packed(dq.codes)
    x_lead = dims_of(x_packed)[:-1]
    xp = _planes(x_packed, m.x_bits, k, gw, x_lead)
    wp = _constant_planes(view.codes, m.w_bits, k, gw, weights)
    if wp is None:  # weights known only at run time: build their planes in the kernel too
        w_packed = _packed(view.codes)
        w_lead = dims_of(w_packed)[:-1]  # [N]
        wp = _planes(w_packed, m.w_bits, k, gw, w_lead)
        precomputed = 0
    else:
        w_lead = [ir.RankedTensorType(wp[0].type).shape[0]]  # [N], static
        precomputed = 1
    sx = _plane_sums(xp, m.x_family, k, gw, x_lead) if view.zeros is not None else None
    sw = _plane_sums(wp, "bipolar", k, gw, w_lead) if dq.zeros is not None else None
    out_ty = ir.RankedTensorType(view.output.type)
    out = tensor.EmptyOp(x_lead + [w_lead[0]], out_ty.element_type).result
    bx, bw = m.x_bits, m.w_bits
    x_group_index = (lambda g: cidx(0)) if m.x_group >= k else (
        lambda g: arith.divui(arith.muli(g, cidx(gw)), cidx(m.x_group)))

    def body(idx):
        lead, n = idx[:-1], idx[-1]

        def per_group(g, acc):
            def per_word(w, t):
                a = [tensor.extract(p, lead + [g, w]) for p in xp]
                b = [tensor.extract(p, [n, g, w]) for p in wp]
                total = t[0]
                for i in range(bx):
                    for j in range(bw):
                        if m.x_family == "bipolar":
                            pc = mmath.ctpop(arith.xori(a[i], b[j]))
                            total = arith.addi(total, arith.shli(pc, c64(i + j)))
                        else:
                            pc = mmath.ctpop(arith.andi(a[i], b[j]))
                            term = arith.shli(pc, c64(i + j + 1))  # 2^j * 2 popc(a_i & b_j), times 2^i
                            total = arith.subi(total, term) if i == bx - 1 else arith.addi(total, term)
                if m.x_family != "bipolar":  # - (2^Bw - 1) * popc(a_i) * c_i
                    for i in range(bx):
                        term = arith.muli(mmath.ctpop(a[i]), c64(((1 << bw) - 1) << i))
                        total = arith.addi(total, term) if i == bx - 1 else arith.subi(total, term)
                return [total]

            (t,) = for_loop(cidx(0), cidx(words), cidx(1), [c64(0)], per_word)
            cnt = _group_count(g, gw, k)
            if m.x_family == "bipolar":
                full = arith.muli(cnt, c64(((1 << bx) - 1) * ((1 << bw) - 1)))
                d = arith.subi(full, arith.muli(t, c64(2)))
            else:
                d = t
            value = arith.sitofp(f64(), d)
            gx = x_group_index(g)
            scale = arith.mulf(to_f64(tensor.extract(dq.scales, lead + [gx])),
                               to_f64(tensor.extract(view.scales, [n, g])))
            zx = to_f64(tensor.extract(dq.zeros, lead + [gx])) if dq.zeros is not None else None
            zw = to_f64(tensor.extract(view.zeros, [n, g])) if view.zeros is not None else None
            if zw is not None:
                value = arith.subf(value, arith.mulf(zw, arith.sitofp(f64(), tensor.extract(sx, lead + [g]))))
            if zx is not None:
                value = arith.subf(value, arith.mulf(zx, arith.sitofp(f64(), tensor.extract(sw, [n, g]))))
            if zx is not None and zw is not None:
                value = arith.addf(value, arith.mulf(arith.sitofp(f64(), cnt), arith.mulf(zx, zw)))
            return [arith.addf(acc[0], arith.mulf(scale, value))]

        (total,) = for_loop(cidx(0), cidx(ngroups), cidx(1), [cf64(0.0)], per_group)
        return [arith.truncf(out_ty.element_type, total) if out_ty.element_type != f64() else total]

    (result,) = generic([out], out_ty.rank, body)
    view.output.replace_all_uses_with(result)
    return precomputed


def planes_of_codes(codes: np.ndarray, bits: int, group: int) -> list[np.ndarray]:
    """numpy twin of :func:`_planes`: ``bits`` int64 arrays ``[N, NG, WPG]``, bit t of word w of
    group g in plane i = bit i of code ``g*group + 64w + t`` (zero past the group's end)."""
    n, k = codes.shape
    ngroups, words = -(-k // group), -(-group // WORD)
    padded = np.zeros((n, ngroups, words * WORD), dtype=np.uint8)
    for g in range(ngroups):
        part = codes[:, g * group:min(k, (g + 1) * group)]
        padded[:, g, :part.shape[1]] = part
    out = []
    for i in range(bits):
        plane = (padded >> i) & 1
        packed = np.packbits(plane.reshape(n, ngroups, words, WORD), axis=-1, bitorder="little")
        out.append(np.ascontiguousarray(packed).view("<i8").reshape(n, ngroups, words))
    return out


def _constant_planes(codes: ir.Value, bits: int, k: int, group: int, weights: dict | None):
    """Weight planes computed now with numpy when the weight codes are a constant or a bound
    weight (``lowbit.unpack`` of an ``arith.constant`` / a ``{kvc.weight}`` argument); else None."""
    owner = codes.owner
    if isinstance(owner, ir.Block) or owner.operation.name != UNPACK.name:
        return None
    packed = owner.operation.operands[0]
    source = packed.owner
    func, name = None, None
    if isinstance(source, ir.Block):
        parent = source.owner
        if parent is None or parent.operation.name != "func.func":
            return None
        func = parent.operation
        name = resources.weight_name(func, ir.BlockArgument(packed).arg_number)
        if name is None or weights is None or name not in weights:
            return None
        array = np.asarray(weights[name])
    elif source.operation.name == "arith.constant":
        try:
            array = resources.constant_array(source.operation)
        except (TypeError, ValueError):
            return None
        if array is None:
            return None
    else:
        return None
    from kvc.formats import unpack_codes

    planes = planes_of_codes(unpack_codes(array.view(np.uint8), bits, k), bits, group)
    element = ir.IntegerType.get_signless(64)
    values = []
    for i, plane in enumerate(planes):
        ty = ir.RankedTensorType.get(list(plane.shape), element)
        if func is not None:
            plane_name = resources.unique_weight_name(weights, f"{name}.plane{i}")
            weights[plane_name] = plane
            values.append(resources.add_weight_argument(func, ty, plane_name))
        else:
            attr = resources.resource_attr(plane, f"bitplanes.{i}", ty)
            values.append(arith.ConstantOp(ty, attr).result)
    return values
