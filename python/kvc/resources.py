"""Large constants outside the printed IR: resource blobs and bound weights.

kvc never folds weights element by element into IR attributes. A large
constant lives either

* in a ``dense_resource`` blob of the builtin dialect (:func:`resource_attr`
  wraps a numpy array without copying it; the blob keeps the array alive for
  the lifetime of the context), or
* outside MLIR altogether, as a **bound weight**: a function argument tagged
  ``{kvc.weight = "name"}`` whose value is a numpy array in a ``weights``
  dict (name -> array) handed to the passes that need it and to the target
  (``kvc.targets.cpu.compile_module(..., weights=...)``).

A weights dict can be attached to a context (:func:`attach_weights`) so that
passes named in a textual pipeline - which cannot receive Python objects as
options - find it; an explicit ``weights=`` argument always wins.

:func:`constant_array` reads the data of an ``arith.constant`` back as numpy:
``dense<...>`` through the buffer protocol, blobs made here from the array
that backs them, other blobs (e.g. parsed from text, as torch-mlir prints
parameters) by printing that one constant and decoding its hex blob - linear
time, never element by element.
"""

from __future__ import annotations

import re

import numpy as np
from mlir import ir

WEIGHT_ATTR = "kvc.weight"

_NUMPY_OF = {
    "f64": np.float64, "f32": np.float32, "f16": np.float16,
    "i64": np.int64, "i32": np.int32, "i16": np.int16, "i8": np.int8, "i1": np.bool_,
    "ui8": np.uint8, "si8": np.int8, "index": np.int64,
}
_RESOURCE_NAME = re.compile(r"dense_resource<([^>]+)>")


def numpy_dtype(element: ir.Type) -> np.dtype:
    """numpy dtype storing one element of ``element`` (bf16 is not supported)."""
    key = str(element)
    if key not in _NUMPY_OF:
        raise TypeError(f"no numpy dtype for element type {element}")
    return np.dtype(_NUMPY_OF[key])


def _registry(context: ir.Context) -> dict[str, np.ndarray]:
    reg = getattr(context, "_kvc_blobs", None)
    if reg is None:
        reg = {}
        context._kvc_blobs = reg
    return reg


def resource_attr(array: np.ndarray, name: str, type: ir.ShapedType | None = None,
                  context: ir.Context | None = None) -> ir.Attribute:
    """A ``dense_resource`` attribute backed by ``array`` (no copy).

    ``type`` defaults to a ranked tensor of the array's shape and element type;
    an i8 tensor may be backed by a uint8 array (same bits). The array is
    remembered so that :func:`constant_array` returns it without decoding.
    """
    context = context or ir.Context.current
    array = np.ascontiguousarray(array)
    if type is None:
        element = {np.dtype(np.uint8): "i8"}.get(array.dtype)
        element = ir.Type.parse(element, context) if element else _element_of(array.dtype, context)
        type = ir.RankedTensorType.get(list(array.shape), element)
    # get_from_buffer rejects some dtypes (e.g. uint8 for a signless i8 type); view the same bytes.
    buffer = array
    element = ir.ShapedType(type).element_type
    want = numpy_dtype(element)
    if array.dtype != want:
        if array.dtype.itemsize != want.itemsize:
            raise TypeError(f"array of {array.dtype} cannot back a {type} resource")
        buffer = array.view(want)
    if buffer.ndim == 0:
        buffer = buffer.reshape(1)
    attr = ir.DenseResourceElementsAttr.get_from_buffer(buffer, name, type, alignment=64, context=context)
    actual = _RESOURCE_NAME.search(str(attr)).group(1)
    _registry(context)[actual] = buffer
    return attr


def _element_of(dtype: np.dtype, context) -> ir.Type:
    for key, value in _NUMPY_OF.items():
        if np.dtype(value) == dtype and not key.startswith(("s", "u", "index")):
            return ir.Type.parse(key, context)
    raise TypeError(f"no MLIR element type for numpy {dtype}")


def is_resource(attr: ir.Attribute) -> bool:
    return str(attr).startswith("dense_resource<")


def resource_name(attr: ir.Attribute) -> str | None:
    """The blob name of a ``dense_resource`` attribute (None for other attributes)."""
    match = _RESOURCE_NAME.match(str(attr))
    return match.group(1) if match else None


def constant_array(op: ir.Operation | ir.OpView) -> np.ndarray | None:
    """The value of an ``arith.constant`` of ranked tensor type as a numpy array.

    Returns None for a constant that is not a ranked tensor. Splats are
    expanded (``np.full``); dense arrays are read through the buffer protocol;
    blobs made by :func:`resource_attr` come back as the array that backs
    them; other blobs are decoded from their printed hex form. Integer data
    comes back signed (signless in MLIR).
    """
    op = op.operation
    if "value" not in op.attributes:
        return None
    attr = op.attributes["value"]
    ty = op.results[0].type
    if not isinstance(ty, ir.RankedTensorType):
        return None
    ty = ir.RankedTensorType(ty)
    dtype = numpy_dtype(ty.element_type)
    shape = tuple(ty.shape)
    if is_resource(attr):
        name = _RESOURCE_NAME.search(str(attr)).group(1)
        known = _registry(op.context).get(name)
        if known is not None:
            return known.reshape(shape).view(dtype)
        return _decode_printed_blob(op, name, dtype, shape)
    if isinstance(attr, ir.DenseElementsAttr):
        dense = ir.DenseElementsAttr(attr)
        if dense.is_splat:
            splat = dense.get_splat_value()
            value = splat.value if hasattr(splat, "value") else float(splat)
            return np.full(shape, value, dtype=dtype)
        if str(ty.element_type) == "i1":
            return None  # bit-packed in the attribute; never a weight
        return np.asarray(memoryview(dense)).reshape(shape).view(dtype)
    return None


def _decode_printed_blob(op: ir.Operation, name: str, dtype: np.dtype, shape: tuple) -> np.ndarray:
    # Print just this constant: the printer emits only the resources the printed IR uses.
    holder = ir.Module.create(loc=op.location)
    with ir.InsertionPoint(holder.body):
        op.clone()
    text = str(holder)
    start = text.find(f"{name}: \"0x")
    if start < 0:
        start = text.find(f"\"{name}\": \"0x")
    if start < 0:
        raise ValueError(f"the blob of dense_resource<{name}> is not available (elided or external)")
    start = text.index("0x", start) + 2
    end = text.index('"', start)
    raw = bytes.fromhex(text[start:end])
    # A printed blob starts with its alignment as a little-endian uint32.
    return np.frombuffer(raw, dtype=dtype, offset=4).reshape(shape)


# ------------------------------------------------------------------ bound weights
def attach_weights(context: ir.Context, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Make ``weights`` the bound-weight dict of ``context`` (returned for chaining)."""
    context._kvc_weights = weights
    return weights


def attached_weights(context: ir.Context) -> dict[str, np.ndarray] | None:
    return getattr(context, "_kvc_weights", None)


def weight_name(func_op: ir.Operation | ir.OpView, index: int) -> str | None:
    """The ``kvc.weight`` name of argument ``index`` of a func.func, or None."""
    func_op = func_op.operation
    if "arg_attrs" not in func_op.attributes:
        return None
    arg_attrs = ir.ArrayAttr(func_op.attributes["arg_attrs"])
    if index >= len(arg_attrs):
        return None
    attrs = ir.DictAttr(arg_attrs[index])
    if WEIGHT_ATTR not in attrs:
        return None
    return ir.StringAttr(attrs[WEIGHT_ATTR]).value


def weight_arg_names(func_op: ir.Operation | ir.OpView) -> list[str | None]:
    """``kvc.weight`` name (or None) of every argument of a func.func."""
    n = len(func_op.operation.regions[0].blocks[0].arguments)
    return [weight_name(func_op, i) for i in range(n)]


def _arg_attr_list(func_op: ir.Operation) -> list[ir.Attribute]:
    n = len(func_op.regions[0].blocks[0].arguments)
    if "arg_attrs" in func_op.attributes:
        attrs = list(ir.ArrayAttr(func_op.attributes["arg_attrs"]))
    else:
        attrs = []
    empty = ir.DictAttr.get({}, context=func_op.context)
    return attrs + [empty] * (n - len(attrs))


def _sync_signature(func_op: ir.Operation, arg_attrs: list[ir.Attribute]) -> None:
    block = func_op.regions[0].blocks[0]
    old = ir.FunctionType(ir.TypeAttr(func_op.attributes["function_type"]).value)
    inputs = [a.type for a in block.arguments]
    func_op.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, list(old.results)))
    func_op.attributes["arg_attrs"] = ir.ArrayAttr.get(arg_attrs, context=func_op.context)


def add_weight_argument(func_op: ir.Operation | ir.OpView, type: ir.Type, name: str,
                        loc: ir.Location | None = None) -> ir.Value:
    """Append an argument ``{kvc.weight = name}`` of ``type`` to a func.func; returns it."""
    func_op = func_op.operation
    arg_attrs = _arg_attr_list(func_op)
    block = func_op.regions[0].blocks[0]
    value = block.add_argument(type, loc or func_op.location)
    arg_attrs.append(ir.DictAttr.get({WEIGHT_ATTR: ir.StringAttr.get(name, context=func_op.context)},
                                     context=func_op.context))
    _sync_signature(func_op, arg_attrs)
    return value


def erase_argument(func_op: ir.Operation | ir.OpView, index: int) -> None:
    """Erase an unused argument of a func.func (signature and arg_attrs follow)."""
    func_op = func_op.operation
    arg_attrs = _arg_attr_list(func_op)
    block = func_op.regions[0].blocks[0]
    block.erase_argument(index)
    del arg_attrs[index]
    _sync_signature(func_op, arg_attrs)


def unique_weight_name(weights: dict, base: str) -> str:
    if base not in weights:
        return base
    i = 1
    while f"{base}.{i}" in weights:
        i += 1
    return f"{base}.{i}"
