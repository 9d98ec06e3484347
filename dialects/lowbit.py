"""Python side of the ``lowbit`` dialect: types, op builders, accessors, verifier rules.

The dialect itself is ``lowbit.irdl.mlir``; its spec is ``lowbit.md``. Format
names follow :mod:`kvc.formats` (``int4``, ``uint3``, ``e2m1``, ``razer4``,
``bipolar2``...); :func:`format_type` and :func:`format_name` convert between a
name and its type.
"""

from __future__ import annotations

import math
import re

from mlir import ir

from kvc.diagnostics import VerifyError
from kvc.irdl_ops import OPTIONAL, SINGLE, OpSpec, i64, shape_of, tensor
from kvc.irdl_types import dynamic_type_info, float_array_param, int_param
from kvc.verifier import DYN, op_rule, type_rule, ranked, same_dim, shape_str

DEFAULT_RAZER_SPECIALS = (5.0, 8.0, -5.0, -8.0)
FAMILIES = ("int", "uint", "float", "razer", "bipolar")

# ------------------------------------------------------------------------ types


def _i32(value: int) -> str:
    return f"{int(value)} : i32"


def int_type(bits: int) -> ir.Type:
    return ir.Type.parse(f"!lowbit.int<{_i32(bits)}>")


def uint_type(bits: int) -> ir.Type:
    return ir.Type.parse(f"!lowbit.uint<{_i32(bits)}>")


def float_type(exp: int, man: int) -> ir.Type:
    return ir.Type.parse(f"!lowbit.float<{_i32(exp)}, {_i32(man)}>")


def razer_type(specials=DEFAULT_RAZER_SPECIALS) -> ir.Type:
    values = ", ".join(repr(float(v)) for v in specials)
    return ir.Type.parse(f"!lowbit.razer<array<f32: {values}>>")


def bipolar_type(bits: int) -> ir.Type:
    return ir.Type.parse(f"!lowbit.bipolar<{_i32(bits)}>")


_NAME = re.compile(r"^(?:(int|uint|bipolar)(\d+)|e(\d+)m(\d+)|(razer)4)$")


def format_type(name: str) -> ir.Type:
    """The lowbit type of a format name (group-size suffix ``:gN`` ignored)."""
    base = name.split(":", 1)[0]
    match = _NAME.match(base)
    if not match:
        raise ValueError(f"unknown low-bit format '{name}' (expected intN, uintN, eXmY, razer4 or bipolarN)")
    family, bits, exp, man, razer = match.groups()
    if razer:
        return razer_type()
    if exp is not None:
        return float_type(int(exp), int(man))
    return {"int": int_type, "uint": uint_type, "bipolar": bipolar_type}[family](int(bits))


def format_info(ty: ir.Type) -> tuple[str, dict] | None:
    """(family, parameters) of a lowbit type, or None for other types."""
    info = dynamic_type_info(ty)
    if info is None or not info[0].startswith("lowbit."):
        return None
    family, params = info[0].split(".", 1)[1], info[1]
    if family in ("int", "uint", "bipolar"):
        return family, {"bits": int_param(params[0])}
    if family == "float":
        exp, man = int_param(params[0]), int_param(params[1])
        return family, {"exp": exp, "man": man, "bits": 1 + exp + man}
    if family == "razer":
        return family, {"specials": float_array_param(params[0]), "bits": 4}
    return None


def is_lowbit(ty: ir.Type) -> bool:
    return format_info(ty) is not None


def format_name(ty: ir.Type) -> str:
    family, params = format_info(ty)
    if family == "float":
        return f"e{params['exp']}m{params['man']}"
    if family == "razer":
        return "razer4"
    return f"{family}{params['bits']}"


def format_bits(ty: ir.Type) -> int:
    return format_info(ty)[1]["bits"]


def element_format(value_or_type) -> ir.Type | None:
    """The lowbit element type of a tensor value/type, or None."""
    ty = value_or_type.type if hasattr(value_or_type, "type") else value_or_type
    if not isinstance(ty, ir.RankedTensorType):
        return None
    element = ir.RankedTensorType(ty).element_type
    return element if is_lowbit(element) else None


@type_rule("lowbit.int")
@type_rule("lowbit.uint")
@type_rule("lowbit.bipolar")
def _bits_in_range(params):
    bits = int_param(params[0])
    if not 1 <= bits <= 8:
        return f"bit width must be in [1, 8], got {bits}"
    return None


@type_rule("lowbit.float")
def _minifloat_split(params):
    exp, man = int_param(params[0]), int_param(params[1])
    if exp < 1 or man < 0:
        return f"needs at least one exponent bit and a non-negative mantissa width (e{exp}m{man})"
    if 1 + exp + man > 8:
        return f"sign + exponent + mantissa must fit 8 bits, got {1 + exp + man} (e{exp}m{man})"
    return None


@type_rule("lowbit.razer")
def _razer_specials(params):
    specials = float_array_param(params[0])
    if len(specials) != 4:
        return f"needs exactly 4 special values (a 2-bit selector per group), got {len(specials)}"
    if any(not math.isfinite(v) for v in specials):
        return "special values must be finite"
    return None


# -------------------------------------------------------------------------- ops
QUANTIZE = OpSpec(
    "lowbit.quantize",
    operands=(("input", SINGLE),),
    results=(("codes", SINGLE), ("scales", SINGLE), ("zeros", OPTIONAL), ("meta", OPTIONAL)),
    attributes=("group_size", "axis"),
    summary="codes, scales[, zeros][, meta] = quantize(x) per group along an axis",
)
DEQUANTIZE = OpSpec(
    "lowbit.dequantize",
    operands=(("codes", SINGLE), ("scales", SINGLE), ("zeros", OPTIONAL), ("meta", OPTIONAL)),
    results=(("output", SINGLE),),
    attributes=("group_size", "axis"),
    summary="value = scale * (decode(code) - zero) per group along an axis",
)
PACK = OpSpec("lowbit.pack", operands=(("codes", SINGLE),), results=(("packed", SINGLE),),
              summary="codes -> LSB-first bit stream of i8 words along the last axis")
UNPACK = OpSpec("lowbit.unpack", operands=(("packed", SINGLE),), results=(("codes", SINGLE),),
                summary="inverse of pack")
MATMUL = OpSpec(
    "lowbit.matmul",
    operands=(("input", SINGLE), ("codes", SINGLE), ("scales", SINGLE), ("zeros", OPTIONAL), ("meta", OPTIONAL)),
    results=(("output", SINGLE),),
    attributes=("group_size",),
    summary="out[..., N] = x[..., K] . dequantize(W[N, K])^T with groups along K",
)
OPS = (QUANTIZE, DEQUANTIZE, PACK, UNPACK, MATMUL)


def num_groups(k: int, group_size: int) -> int:
    return -(-k // group_size)


def packed_length(k: int, bits: int) -> int:
    return -(-k * bits // 8)


def needs_zeros(fmt: ir.Type) -> bool:
    return format_info(fmt)[0] == "uint"


def needs_meta(fmt: ir.Type) -> bool:
    return format_info(fmt)[0] == "razer"


def scales_shape(shape, axis: int, group_size: int) -> list[int]:
    out = list(shape)
    if out[axis] != ir.ShapedType.get_dynamic_size():
        out[axis] = num_groups(out[axis], group_size)
    return out


def build_quantize(x: ir.Value, fmt: ir.Type, *, group_size: int, axis: int = -1,
                   scale_type: ir.Type | None = None, loc=None, ip=None):
    shape = shape_of(x)
    axis %= len(shape)
    scale_type = scale_type or ir.F16Type.get()
    groups = scales_shape(shape, axis, group_size)
    results = {"codes": tensor(shape, fmt), "scales": tensor(groups, scale_type)}
    if needs_zeros(fmt) or format_info(fmt)[0] == "bipolar":
        results["zeros"] = tensor(groups, scale_type)
    if needs_meta(fmt):
        results["meta"] = tensor(groups, ir.IntegerType.get_signless(8))
    op = QUANTIZE.build({"input": x}, results, {"group_size": i64(group_size), "axis": i64(axis)}, loc=loc, ip=ip)
    return QUANTIZE.view(op)


def build_dequantize(codes, scales, *, group_size: int, axis: int, zeros=None, meta=None,
                     result_element: ir.Type | None = None, loc=None, ip=None):
    shape = shape_of(codes)
    result = tensor(shape, result_element or ir.F32Type.get())
    op = DEQUANTIZE.build({"codes": codes, "scales": scales, "zeros": zeros, "meta": meta}, {"output": result},
                          {"group_size": i64(group_size), "axis": i64(axis % len(shape))}, loc=loc, ip=ip)
    return DEQUANTIZE.view(op)


def build_pack(codes, *, loc=None, ip=None):
    shape = shape_of(codes)
    bits = format_bits(element_format(codes))
    packed = tensor(shape[:-1] + [packed_length(shape[-1], bits)], ir.IntegerType.get_signless(8))
    return PACK.view(PACK.build({"codes": codes}, {"packed": packed}, loc=loc, ip=ip))


def build_unpack(packed, fmt: ir.Type, k: int, *, loc=None, ip=None):
    shape = shape_of(packed)
    return UNPACK.view(UNPACK.build({"packed": packed}, {"codes": tensor(shape[:-1] + [k], fmt)}, loc=loc, ip=ip))


def build_matmul(x, codes, scales, *, group_size: int, zeros=None, meta=None, loc=None, ip=None):
    x_shape = shape_of(x)
    n = shape_of(codes)[0]
    result = tensor(x_shape[:-1] + [n], ir.RankedTensorType(x.type).element_type)
    op = MATMUL.build({"input": x, "codes": codes, "scales": scales, "zeros": zeros, "meta": meta}, {"output": result},
                      {"group_size": i64(group_size)}, loc=loc, ip=ip)
    return MATMUL.view(op)


# ---------------------------------------------------------------- verifier rules




def _ranked(view, name):
    return ranked(getattr(view, name), name)


def _is_float(ty: ir.Type) -> bool:
    return isinstance(ty, (ir.F16Type, ir.BF16Type, ir.F32Type, ir.F64Type))


def _check_group_params(view, rank: int) -> tuple[int, int]:
    group_size = view.int_attr("group_size")
    if group_size < 1:
        raise VerifyError(f"group_size must be positive, got {group_size}")
    axis = view.int_attr("axis") if "axis" in view.spec.attributes else rank - 1
    if not 0 <= axis < rank:
        raise VerifyError(f"axis {axis} is out of range for a rank-{rank} tensor")
    return group_size, axis


def _check_side_tensors(view, codes_shape, fmt, group_size, axis, *, where_k: str):
    expected = scales_shape(codes_shape, axis, group_size)
    scales = _ranked(view, "scales")
    if not _is_float(scales.element_type):
        raise VerifyError(f"scales must have a float element type, got {scales.element_type}")
    if len(scales.shape) != len(expected) or not all(same_dim(a, b) for a, b in zip(scales.shape, expected)):
        raise VerifyError(
            f"scales shape {shape_str(scales.shape)} does not match {where_k} in groups of {group_size}: "
            f"expected {shape_str(expected)}"
        )
    family = format_info(fmt)[0]
    if view.zeros is not None:
        zeros = _ranked(view, "zeros")
        if zeros != scales:
            raise VerifyError(f"zeros type {zeros} must equal the scales type {scales}")
    elif family == "uint":
        raise VerifyError(f"unsigned format {format_name(fmt)} needs a zeros operand (asymmetric quantization)")
    if family == "razer":
        if view.meta is None:
            raise VerifyError("razer4 needs a meta operand holding the per-group special-value selector")
        meta = _ranked(view, "meta")
        if not isinstance(meta.element_type, ir.IntegerType) or list(meta.shape) != list(scales.shape):
            raise VerifyError(f"meta must be an integer tensor shaped like the scales ({shape_str(scales.shape)}), got {meta}")
    elif view.meta is not None:
        raise VerifyError(f"meta is only meaningful for razer formats, not {format_name(fmt)}")


def _codes_format(view, name="codes") -> tuple[ir.RankedTensorType, ir.Type]:
    codes = _ranked(view, name)
    fmt = element_format(codes)
    if fmt is None:
        raise VerifyError(f"{name} must have a lowbit element type, got {codes.element_type}")
    return codes, fmt


def _quantize_like(view, codes, fmt, float_value):
    group_size, axis = _check_group_params(view, len(codes.shape))
    if len(float_value.shape) != len(codes.shape) or not all(same_dim(a, b) for a, b in zip(float_value.shape, codes.shape)):
        raise VerifyError(f"codes shape {shape_str(codes.shape)} must equal the float shape {shape_str(float_value.shape)}")
    if not _is_float(float_value.element_type):
        raise VerifyError(f"the float side must have a float element type, got {float_value.element_type}")
    _check_side_tensors(view, list(codes.shape), fmt, group_size, axis, where_k=f"axis {axis}")


@op_rule("lowbit.quantize")
def _verify_quantize(op):
    view = QUANTIZE.view(op)
    codes, fmt = _codes_format(view)
    _quantize_like(view, codes, fmt, _ranked(view, "input"))


@op_rule("lowbit.dequantize")
def _verify_dequantize(op):
    view = DEQUANTIZE.view(op)
    codes, fmt = _codes_format(view)
    _quantize_like(view, codes, fmt, _ranked(view, "output"))


def _check_packing(codes: ir.RankedTensorType, fmt, packed: ir.RankedTensorType):
    if not (isinstance(packed.element_type, ir.IntegerType) and ir.IntegerType(packed.element_type).width == 8):
        raise VerifyError(f"packed storage must be i8 words, got {packed.element_type}")
    bits = format_bits(fmt)
    expected = list(codes.shape[:-1]) + ([packed_length(codes.shape[-1], bits)] if codes.shape[-1] != DYN else [DYN])
    if len(packed.shape) != len(expected) or not all(same_dim(a, b) for a, b in zip(packed.shape, expected)):
        raise VerifyError(
            f"packed shape {shape_str(packed.shape)} does not hold codes {shape_str(codes.shape)} at {bits} bits: "
            f"expected {shape_str(expected)}"
        )


@op_rule("lowbit.pack")
def _verify_pack(op):
    view = PACK.view(op)
    codes, fmt = _codes_format(view)
    _check_packing(codes, fmt, _ranked(view, "packed"))


@op_rule("lowbit.unpack")
def _verify_unpack(op):
    view = UNPACK.view(op)
    codes, fmt = _codes_format(view)
    _check_packing(codes, fmt, _ranked(view, "packed"))


@op_rule("lowbit.matmul")
def _verify_matmul(op):
    view = MATMUL.view(op)
    x = _ranked(view, "input")
    codes, fmt = _codes_format(view)
    out = _ranked(view, "output")
    if len(codes.shape) != 2:
        raise VerifyError(f"codes must be a 2-D [N, K] weight, got {shape_str(codes.shape)}")
    if len(x.shape) < 1 or not same_dim(x.shape[-1], codes.shape[1]):
        raise VerifyError(f"input's last dimension {shape_str(x.shape[-1:])} must equal the weight's K = {codes.shape[1]}")
    if not _is_float(x.element_type):
        raise VerifyError(f"input must have a float element type, got {x.element_type}")
    expected = list(x.shape[:-1]) + [codes.shape[0]]
    if len(out.shape) != len(expected) or not all(same_dim(a, b) for a, b in zip(out.shape, expected)):
        raise VerifyError(f"result shape {shape_str(out.shape)} must be {shape_str(expected)}")
    if out.element_type != x.element_type:
        raise VerifyError(f"result element type {out.element_type} must equal the input's {x.element_type}")
    group_size, _ = _check_group_params(view, 2)
    _check_side_tensors(view, list(codes.shape), fmt, group_size, 1, where_k=f"K = {codes.shape[1]}")
