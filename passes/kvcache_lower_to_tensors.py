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
allocation or copy per decode step. The cpu target runs this pass first and
compiles cache arguments (``kvc.cache``) as in-place state
(docs/targets/cpu.md); test/Transforms/kvcache/lower-to-tensors.mlir and
test/Frontend/llama-decode-inplace.mlir check the IR. Caches of other kinds ("x", "latent"), quantized storage
or storage options are left to the passes that implement them; this pass
reports them as errors rather than lowering them wrongly.
"""

from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, linalg, tensor

from kvc.diagnostics import PassError
from kvc.dialects import kvcache
from kvc.pipeline import KvcPass, register_pass

DYN = ir.ShapedType.get_dynamic_size()
_is_cache = kvcache.is_cache


def lowered_type(ty: ir.Type, where=None) -> ir.RankedTensorType:
    """The tensor type that stores a plain K/V cache type."""
    info = kvcache.cache_info(ty)
    if info.kind != "kv":
        raise PassError(f"cache kind '{info.kind}' is not lowered by kvcache-lower-to-tensors (only \"kv\")", where)
    options = _storage_options(info)
    if options:
        raise PassError(f"cache storage {{{', '.join(options)}}} (quantized / delta storage) are not lowered by "
                        "kvcache-lower-to-tensors", where)
    if not isinstance(info.element, (ir.F32Type, ir.F16Type, ir.BF16Type)):
        raise PassError(f"cache element {info.element} is not a float type; quantized caches need their own lowering",
                        where)
    return ir.RankedTensorType.get([2, info.max_seq, *info.token_shape], info.element)


def _storage_options(info: kvcache.CacheInfo) -> list[str]:
    """The storage options of a cache that differ from plain float storage."""
    out = []
    if info.quantized:
        out.append(f"element = {info.element}")
    if info.group_size is not None:
        out.append(f"group_size = {info.group_size}")
    if info.quant_axis != "token":
        out.append(f"quant_axis = {info.quant_axis}")
    if info.residual:
        out.append(f"residual = {info.residual}")
    if info.delta:
        out.append("delta")
    return out


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
            lowerings = ((kvcache.CREATE, self._create), (kvcache.APPEND, self._append), (kvcache.READ, self._read))
            for op in list(_walk(module)):
                for spec, lower in lowerings:
                    if spec.matches(op):
                        lower(op)
                        break
                else:
                    if any(spec.matches(op) for spec in kvcache.OPS):
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
        view = kvcache.CREATE.view(op)
        ty = lowered_type(view.cache.type, op)
        with ir.InsertionPoint(op), op.location:
            empty = tensor.EmptyOp(list(ty.shape), ty.element_type).result
            zero = arith.ConstantOp(ty.element_type, 0.0).result
            filled = linalg.fill(zero, outs=[empty])
        view.cache.replace_all_uses_with(filled)
        op.erase()

    def _append(self, op: ir.Operation) -> None:
        view = kvcache.APPEND.view(op)
        cache, pos, values = view.cache, view.pos, view.values
        ty = ir.RankedTensorType(cache.type) if not _is_cache(cache.type) else lowered_type(cache.type, op)
        if len(values) != 2:
            raise PassError(f"{op.name} on a \"kv\" cache takes K and V, got {len(values)} value(s)", op)
        token_shape = list(ty.shape[2:])
        current = cache
        with ir.InsertionPoint(op), op.location:
            for index, value in enumerate(values):
                vt = ir.RankedTensorType(value.type)
                if list(vt.shape[1:]) != token_shape:
                    raise PassError(f"appended value {vt} does not match the cache's token shape {token_shape}", op)
                t = vt.shape[0]
                if t == DYN:
                    raise PassError(f"{op.name} with a dynamic token count is not supported yet", op)
                current = tensor.InsertSliceOp(
                    value, current, [pos], [], [],
                    [index, DYN] + [0] * len(token_shape),
                    [1, t] + token_shape,
                    [1] * (2 + len(token_shape)),
                ).result
        view.new_cache.replace_all_uses_with(current)
        op.erase()

    def _read(self, op: ir.Operation) -> None:
        view = kvcache.READ.view(op)
        cache, length = view.cache, view.length
        if view.accumulator is not None:
            raise PassError(f"{op.name} with an accumulator (delta cache) is not lowered by this pass", op)
        ty = ir.RankedTensorType(cache.type)
        token_shape = list(ty.shape[2:])
        static_len = kvcache.constant_index(length)
        with ir.InsertionPoint(op), op.location:
            outs = []
            for index, result in enumerate(view.outputs):
                rt = ir.RankedTensorType(result.type)
                dyn_sizes = [] if static_len is not None else [length]
                size = static_len if static_len is not None else DYN
                outs.append(tensor.ExtractSliceOp(
                    rt, cache, [], dyn_sizes, [],
                    [index, 0] + [0] * len(token_shape),
                    [1, size] + token_shape,
                    [1] * (2 + len(token_shape)),
                ).result)
        for old, new in zip(view.outputs, outs):
            old.replace_all_uses_with(new)
        op.erase()
