"""kvcache-lower-to-tensors: plain (unquantized) K/V caches become tensors.

Matches: ``!kvcache.cache<"kv", S, array<i64: H, D>, E, {}>`` with a float
element E and no storage options, wherever it appears (function arguments
and results, ``kvcache.create`` / ``append`` / ``read`` results).

Rewrites:
- the type -> ``tensor<2xSxHxDxE>`` (K at index 0, V at index 1, token-major);
- ``kvcache.create`` -> ``linalg.fill(0)`` of a ``tensor.empty``;
- ``kvcache.append(c, pos, K[T,H,D], V[T,H,D])`` -> two rank-reducing
  ``tensor.insert_slice`` at ``[0|1, pos, 0, 0]`` of sizes ``[1, T, H, D]``;
- ``kvcache.read(c, n)`` -> two ``tensor.extract_slice`` ``[0|1, 0, 0, 0]``
  of sizes ``[1, n, H, D]`` (rank-reduced to ``[n, H, D]``).

Guarantees: values are unchanged (slices copy exactly). The cache flows
through destination-style ops only, so one-shot bufferization can write the
appended tokens into the caller's cache buffer in place: no cache-sized
allocation or copy per decode step (test/Frontend/kvcache-inplace.mlir checks
the bufferized IR). Caches of other kinds ("x", "latent"), quantized storage
or storage options are left to the passes that implement them; this pass
reports them as errors rather than lowering them wrongly.
"""

from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, linalg, tensor

from kvc.diagnostics import PassError
from kvc.irdl_types import dynamic_type_info
from kvc.pipeline import KvcPass, register_pass

DYN = ir.ShapedType.get_dynamic_size()


def _is_cache(ty: ir.Type) -> bool:
    info = dynamic_type_info(ty)
    return info is not None and info[0] == "kvcache.cache"


def lowered_type(ty: ir.Type, where=None) -> ir.RankedTensorType:
    """The tensor type that stores a plain K/V cache type."""
    _, params = dynamic_type_info(ty)
    kind = ir.StringAttr(params[0]).value
    max_seq = ir.IntegerAttr(params[1]).value
    token_shape = list(ir.DenseI64ArrayAttr(params[2]))
    element = ir.TypeAttr(params[3]).value if isinstance(params[3], ir.TypeAttr) else params[3]
    storage = ir.DictAttr(params[4])
    if kind != "kv":
        raise PassError(f"cache kind '{kind}' is not lowered by kvcache-lower-to-tensors (only \"kv\")", where)
    if len(storage) != 0:
        raise PassError(f"cache storage options {storage} (quantized / delta storage) are not lowered by "
                        "kvcache-lower-to-tensors", where)
    if not isinstance(element, (ir.F32Type, ir.F16Type, ir.BF16Type)):
        raise PassError(f"cache element {element} is not a float type; quantized caches need their own lowering", where)
    return ir.RankedTensorType.get([2, max_seq] + token_shape, element)


def _walk(op: ir.Operation):
    for region in op.regions:
        for block in region:
            for inner in list(block.operations):
                yield inner.operation
                yield from _walk(inner.operation)


@register_pass
class KvcacheLowerToTensors(KvcPass):
    name = "kvcache-lower-to-tensors"
    summary = "Lower plain K/V kvcache values to [2, S, H, D] tensors (append -> insert_slice, read -> extract_slice)."

    def run(self, module: ir.Operation) -> None:
        with module.context, ir.Location.unknown():
            for op in list(_walk(module)):
                if op.name == "func.func":
                    self._convert_signature(op)
            for op in list(_walk(module)):
                for region in op.regions:
                    for block in region:
                        for arg in block.arguments:
                            if _is_cache(arg.type):
                                arg.set_type(lowered_type(arg.type, op))
            for op in list(_walk(module)):
                if op.name == "kvcache.create":
                    self._create(op)
                elif op.name == "kvcache.append":
                    self._append(op)
                elif op.name == "kvcache.read":
                    self._read(op)
                elif op.name.startswith("kvcache."):
                    raise PassError(f"'{op.name}' is not lowered by kvcache-lower-to-tensors", op)
            for op in _walk(module):  # anything else still typed with caches (e.g. scf results)
                for result in op.results:
                    if _is_cache(result.type):
                        result.set_type(lowered_type(result.type, op))

    def _convert_signature(self, fn: ir.Operation) -> None:
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        conv = lambda t: lowered_type(t, fn) if _is_cache(t) else t  # noqa: E731
        inputs, results = [conv(t) for t in ftype.inputs], [conv(t) for t in ftype.results]
        if inputs != list(ftype.inputs) or results != list(ftype.results):
            fn.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, results))

    def _create(self, op: ir.Operation) -> None:
        ty = lowered_type(op.results[0].type, op)
        with ir.InsertionPoint(op), op.location:
            empty = tensor.EmptyOp(list(ty.shape), ty.element_type).result
            zero = arith.ConstantOp(ty.element_type, 0.0).result
            filled = linalg.fill(zero, outs=[empty])
        op.results[0].replace_all_uses_with(filled)
        op.erase()

    def _append(self, op: ir.Operation) -> None:
        cache, pos, *values = op.operands
        ty = ir.RankedTensorType(cache.type) if not _is_cache(cache.type) else lowered_type(cache.type, op)
        if len(values) != 2:
            raise PassError(f"kvcache.append on a \"kv\" cache takes K and V, got {len(values)} value(s)", op)
        token_shape = list(ty.shape[2:])
        current = cache
        with ir.InsertionPoint(op), op.location:
            for index, value in enumerate(values):
                vt = ir.RankedTensorType(value.type)
                if list(vt.shape[1:]) != token_shape:
                    raise PassError(f"appended value {vt} does not match the cache's token shape {token_shape}", op)
                t = vt.shape[0]
                if t == DYN:
                    raise PassError("kvcache.append with a dynamic token count is not supported yet", op)
                current = tensor.InsertSliceOp(
                    value, current, [pos], [], [],
                    [index, DYN] + [0] * len(token_shape),
                    [1, t] + token_shape,
                    [1] * (2 + len(token_shape)),
                ).result
        op.results[0].replace_all_uses_with(current)
        op.erase()

    def _read(self, op: ir.Operation) -> None:
        cache, length = op.operands[0], op.operands[1]
        if len(op.operands) > 2:
            raise PassError("kvcache.read with an accumulator (delta cache) is not lowered by this pass", op)
        ty = ir.RankedTensorType(cache.type)
        token_shape = list(ty.shape[2:])
        static_len = _constant_index(length)
        with ir.InsertionPoint(op), op.location:
            outs = []
            for index, result in enumerate(op.results):
                rt = ir.RankedTensorType(result.type)
                dyn_sizes = [] if static_len is not None else [length]
                size = static_len if static_len is not None else DYN
                outs.append(tensor.ExtractSliceOp(
                    rt, cache, [], dyn_sizes, [],
                    [index, 0] + [0] * len(token_shape),
                    [1, size] + token_shape,
                    [1] * (2 + len(token_shape)),
                ).result)
        for old, new in zip(op.results, outs):
            old.replace_all_uses_with(new)
        op.erase()


def _constant_index(value: ir.Value) -> int | None:
    owner = value.owner
    if isinstance(owner, (ir.Operation, ir.OpView)) and owner.operation.name == "arith.constant":
        return ir.IntegerAttr(owner.operation.attributes["value"]).value
    return None
