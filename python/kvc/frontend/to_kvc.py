"""kvc side of the frontend: linalg-on-tensors text -> kvc IR (LLVM 22 context).

The text printed by :mod:`kvc.frontend.torch_bridge` is parsed in a kvc
context; then each ``func.call @kvc.<op>_<n>`` becomes kvc IR:

- ``linear`` with an fp32 weight: ``linalg.matmul`` with a transposed-B
  indexing map (on a 2-D view of the input).
- ``linear`` with a quantized weight: the weight is quantized here, in numpy
  (:mod:`kvc.formats`), at compile time; the function gets new weight
  arguments for the packed codes (i8), the scales (f16), and the zeros / RaZeR
  selectors where the format has them, and the call becomes
  ``lowbit.unpack`` + ``lowbit.matmul``. Emitting ``lowbit.matmul`` directly
  (instead of a ``linalg.matmul`` over a constant weight that
  ``lowbit-quantize-weights`` would rewrite later) keeps the weight out of the
  IR: it is a function argument bound at run time, never an attribute.
- ``cache_write`` / ``cache_read``: the cache argument gets the type
  ``!kvcache.cache<"kv", S, [H, D], f32, {}>`` and the calls become
  ``kvcache.append`` / ``kvcache.read``; ``kvcache-lower-to-tensors`` lowers
  them again for the cpu target.

Every argument carries ``kvc.weight = "<name>"`` (bound at compile time),
``kvc.input = "<name>"`` or ``kvc.cache = "<name>"``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from mlir import ir
from mlir.dialects import arith, func, linalg, tensor

from kvc.dialects import kvcache, lowbit
from kvc.frontend.capture import Captured
from kvc.frontend.errors import CompileError
from kvc.frontend.torch_bridge import Lowered


@dataclass
class QuantInfo:
    weight: str
    shape: tuple[int, int]
    format: str
    group_size: int
    bytes_before: int
    bytes_after: int


@dataclass
class WeightPlan:
    """What the compiled function's weight arguments are bound to."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # arg name -> array (no copy where possible)
    quantized: list[QuantInfo] = field(default_factory=list)
    dequantized_for_other_uses: list[str] = field(default_factory=list)
    fp_weights: dict[str, torch.Tensor] = field(default_factory=dict)  # original weights by name
    quantize_seconds: float = 0.0

    _packed: dict = field(default_factory=dict)  # weight name -> kvc.formats PackedTensor

    def dequantized(self, name: str) -> np.ndarray:
        """The dequantized values of a quantized weight (for eager references)."""
        return self._packed[name].unpack().dequantize()


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    return t.numpy()


def _i64(v: int) -> ir.IntegerAttr:
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), v)


def _callee(op: ir.Operation) -> str | None:
    if op.name != "func.call":
        return None
    return ir.FlatSymbolRefAttr(op.attributes["callee"]).value


def build(
    lowered: Lowered,
    captured: Captured,
    context: ir.Context,
    *,
    weights: str | None = None,
    func_name: str = "forward",
    cache_names: dict[int, str] | None = None,
    quant_cache: dict | None = None,
) -> tuple[ir.Module, WeightPlan]:
    """Parse ``lowered`` into ``context`` and rewrite the kvc calls. ``weights`` is a
    format name (``"int4:g128"``) to quantize every linear weight, or None for fp32.
    ``cache_names`` maps user-input positions that hold KV caches to their names.
    ``quant_cache`` (weight name -> quantized tensor) shares quantization work
    between modules built from the same weights (prefill and decode steps)."""
    with context:
        module = ir.Module.parse(lowered.text)
        fn = _find_func(module, func_name)
        plan = WeightPlan()
        inputs = captured.inputs
        cache_names = cache_names or {}
        arg_attrs = []
        user_pos = 0
        for arg, gi in zip(fn.arguments, inputs):
            if gi.kind == "weight":
                arg_attrs.append({"kvc.weight": ir.StringAttr.get(gi.name)})
                plan.fp_weights[gi.name] = gi.tensor
            else:
                key = "kvc.cache" if user_pos in cache_names else "kvc.input"
                arg_attrs.append({key: ir.StringAttr.get(cache_names.get(user_pos, gi.name))})
                user_pos += 1
        if len(list(fn.arguments)) != len(inputs):
            raise CompileError("internal: imported function arity does not match the FX graph's placeholders")
        _set_arg_attrs(fn, arg_attrs)
        names = [ir.StringAttr(a.get("kvc.weight") or a.get("kvc.input") or a.get("kvc.cache")).value for a in arg_attrs]
        rewriter = _Rewriter(module, fn, lowered, plan, weights, names, inputs,
                             {} if quant_cache is None else quant_cache)
        rewriter.run()
        _bind_weights(fn, plan, captured)
    return module, plan


def _find_func(module: ir.Module, name: str):
    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            return op
    raise CompileError(f"internal: no function @{name} in the imported module")


def _arg_dicts(fn) -> list[dict[str, ir.Attribute]]:
    n = len(list(fn.arguments))
    if "arg_attrs" not in fn.attributes:
        return [dict() for _ in range(n)]
    out = []
    for d in ir.ArrayAttr(fn.attributes["arg_attrs"]):
        d = ir.DictAttr(d)
        out.append({d[i].name: d[i].attr for i in range(len(d))})
    return out


def _set_arg_attrs(fn, attrs: list[dict[str, ir.Attribute]]) -> None:
    fn.attributes["arg_attrs"] = ir.ArrayAttr.get([ir.DictAttr.get(a) for a in attrs])


def _sync_function_type(fn) -> None:
    block = fn.entry_block
    results = []
    for op in block.operations:
        if op.operation.name == "func.return":
            results = [v.type for v in op.operands]
    fn.attributes["function_type"] = ir.TypeAttr.get(
        ir.FunctionType.get([a.type for a in block.arguments], results)
    )


class _Rewriter:
    def __init__(self, module, fn, lowered, plan, weights, names, inputs, quant_cache):
        self.quant_cache = quant_cache
        self.module, self.fn, self.lowered, self.plan = module, fn, lowered, plan
        self.format = None
        if weights is not None:
            from kvc import formats

            self.format = formats.get(weights)
        self.names = names  # arg index -> name
        self.inputs = inputs
        self.quantized_args: dict[str, dict[str, ir.Value]] = {}
        self.new_attrs = _arg_dicts(fn)

    def run(self) -> None:
        calls = [op.operation for op in self.fn.entry_block.operations if _callee(op.operation)]
        for op in calls:
            callee = _callee(op)
            info = self.lowered.calls.get(callee)
            if info is None:
                continue
            getattr(self, f"_{info.op}")(op, info)
        # the private declarations are no longer called
        for op in list(self.module.body.operations):
            if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value in self.lowered.calls:
                op.operation.erase()
        self._drop_dead_weight_args()
        _set_arg_attrs(self.fn, self.new_attrs)
        _sync_function_type(self.fn)

    # ------------------------------------------------------------------ linear
    def _linear(self, op, info) -> None:
        x, w = op.operands[0], op.operands[1]
        with ir.InsertionPoint(op), op.location:
            if self.format is not None and isinstance(w, ir.BlockArgument) and w.owner == self.fn.entry_block:
                out = self._quantized_linear(x, w)
            else:
                out = _matmul_transposed(x, w)
        op.results[0].replace_all_uses_with(out)
        op.erase()

    def _quantized_linear(self, x: ir.Value, w: ir.BlockArgument) -> ir.Value:
        name = self.names[w.arg_number]
        if name not in self.quantized_args:
            self.quantized_args[name] = self._quantize_weight(name, w)
        q = self.quantized_args[name]
        codes = lowbit.build_unpack(q["codes"], q["type"], q["k"]).codes
        mm = lowbit.build_matmul(x, codes, q["scales"], group_size=q["group_size"], zeros=q.get("zeros"), meta=q.get("meta"))
        return mm.output

    def _quantize_weight(self, name: str, w: ir.BlockArgument) -> dict:
        from kvc.formats import unpack_codes

        fmt = self.format
        weight = self.plan.fp_weights[name]
        n, k = weight.shape
        group = fmt.default_group_size or k
        if group > k:
            group = k
        key = (name, fmt.spec)
        if key not in self.quant_cache:
            # keep only the packed form (codes at b bits): ~1/8 of the fp32 bytes at 4 bits
            t0 = time.perf_counter()
            self.quant_cache[key] = fmt.quantize(_np(weight.float()), group_size=group, axis=-1).pack()
            self.plan.quantize_seconds += time.perf_counter() - t0
        packed = self.quant_cache[key]
        self.plan._packed[name] = packed
        block = self.fn.entry_block
        loc = w.location
        fmt_type = lowbit.format_type(fmt.name)
        out = {"type": fmt_type, "k": k, "group_size": packed.group_size}
        stored = {"codes": packed.codes.view(np.int8)}
        stored["scales"] = packed.scales
        if packed.zeros is not None:
            stored["zeros"] = packed.zeros
        if packed.meta is not None:  # RaZeR selectors: one i8 per group in the IR
            stored["meta"] = unpack_codes(packed.meta, 2, packed.scales.shape[-1]).view(np.int8)
        for part, array in stored.items():
            element = {np.dtype(np.int8): ir.IntegerType.get_signless(8), np.dtype(np.float16): ir.F16Type.get(),
                       np.dtype(np.float32): ir.F32Type.get()}[array.dtype]
            arg = block.add_argument(ir.RankedTensorType.get(list(array.shape), element), loc)
            arg_name = f"{name}.{part}"
            self.new_attrs.append({"kvc.weight": ir.StringAttr.get(arg_name)})
            self.names.append(arg_name)
            self.plan.arrays[arg_name] = np.ascontiguousarray(array)
            out[part] = arg
        nbytes = sum(a.nbytes for a in stored.values())
        self.plan.quantized.append(QuantInfo(name, (n, k), fmt.name, packed.group_size,
                                             weight.numel() * weight.element_size(), nbytes))
        return out

    # ------------------------------------------------------------ KV caches
    def _cache_write(self, op, info) -> None:
        cache, pos, k, v = op.operands
        if not (isinstance(cache, ir.BlockArgument) or _is_cache(cache)):
            raise CompileError("kvc.cache_write: the cache must be a function argument or a previous cache_write")
        ctype = self._cache_value_type(cache)
        with ir.InsertionPoint(op), op.location:
            p = tensor.ExtractOp(pos, []).result
            p = arith.IndexCastOp(ir.IndexType.get(), p).result
            append = kvcache.build_append(cache, p, [k, v])
        if append.new_cache.type != ctype:
            raise CompileError(f"internal: kvc.cache_write produced {append.new_cache.type}, expected {ctype}")
        op.results[0].replace_all_uses_with(append.new_cache)
        op.erase()

    def _cache_read(self, op, info) -> None:
        cache = op.operands[0]
        length = info.static[0]
        if not kvcache.is_cache(cache.type):
            raise CompileError("kvc.cache_read: the cache must come from kvc.cache_write (a kvcache value)")
        with ir.InsertionPoint(op), op.location:
            read = kvcache.build_read(cache, length)
        expected = [r.type for r in op.results]
        got = [v.type for v in read.outputs]
        if got != expected:
            raise CompileError(f"kvc.cache_read: the cache yields {', '.join(map(str, got))} but the graph expects "
                               f"{', '.join(map(str, expected))}")
        for old, new in zip(op.results, read.outputs):
            old.replace_all_uses_with(new)
        op.erase()

    def _cache_value_type(self, cache: ir.Value) -> ir.Type:
        if _is_cache(cache):
            return cache.type
        ty = ir.RankedTensorType(cache.type)
        shape = list(ty.shape)
        if len(shape) != 4 or shape[0] != 2:
            raise CompileError(f"kvc cache argument must be a [2, S, H, D] tensor (K and V), got {ty}")
        ctype = kvcache.cache_type("kv", shape[1], shape[2:], ty.element_type)
        cache.set_type(ctype)
        return ctype

    # -------------------------------------------------------------- weights
    def _drop_dead_weight_args(self) -> None:
        block = self.fn.entry_block
        for i in reversed(range(len(block.arguments))):
            arg = block.arguments[i]
            if "kvc.weight" in self.new_attrs[i] and not any(True for _ in arg.uses):
                block.erase_argument(i)
                del self.new_attrs[i]
                del self.names[i]


def _is_cache(value: ir.Value) -> bool:
    return kvcache.is_cache(value.type)


def _bind_weights(fn, plan: WeightPlan, captured: Captured) -> None:
    for attrs in _arg_dicts(fn):
        if "kvc.weight" not in attrs:
            continue
        name = ir.StringAttr(attrs["kvc.weight"]).value
        if name in plan.arrays:
            continue
        if name in plan._packed:  # also used outside linears (tied embedding): same dequantized values
            plan.arrays[name] = plan._packed[name].unpack().dequantize()
            plan.dequantized_for_other_uses.append(name)
        else:
            plan.arrays[name] = _np(plan.fp_weights[name])


def _matmul_transposed(x: ir.Value, w: ir.Value) -> ir.Value:
    """x[..., K] @ w[N, K]^T as linalg.matmul on a 2-D view of x."""
    xt = ir.RankedTensorType(x.type)
    wt = ir.RankedTensorType(w.type)
    shape = list(xt.shape)
    n, k = wt.shape
    element = xt.element_type
    dyn = ir.ShapedType.get_dynamic_size()
    if any(d == dyn for d in shape):
        raise CompileError("kvc.linear: dynamic input shapes are not supported yet")
    m = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
    x2 = x
    if len(shape) != 2:
        reassoc = ir.ArrayAttr.get([
            ir.ArrayAttr.get([_i64(i) for i in range(len(shape) - 1)]),
            ir.ArrayAttr.get([_i64(len(shape) - 1)]),
        ]) if len(shape) > 1 else None
        if len(shape) == 1:
            x2 = tensor.ExpandShapeOp(ir.RankedTensorType.get([1, k], element), x,
                                      ir.ArrayAttr.get([ir.ArrayAttr.get([_i64(0), _i64(1)])]), [], [1, k]).result
        else:
            x2 = tensor.CollapseShapeOp(ir.RankedTensorType.get([m, k], element), x, reassoc).result
    zero = arith.ConstantOp(element, 0.0).result
    init = tensor.EmptyOp([m, n], element).result
    acc = linalg.fill(zero, outs=[init])
    d0, d1, d2 = (ir.AffineDimExpr.get(i) for i in range(3))
    maps = [ir.AffineMap.get(3, 0, [d0, d2]), ir.AffineMap.get(3, 0, [d1, d2]), ir.AffineMap.get(3, 0, [d0, d1])]
    y = linalg.matmul(x2, w, outs=[acc], indexing_maps=maps)
    if len(shape) == 2:
        return y
    out_shape = shape[:-1] + [n]
    if len(shape) == 1:
        reassoc = ir.ArrayAttr.get([ir.ArrayAttr.get([_i64(0), _i64(1)])])
        return tensor.CollapseShapeOp(ir.RankedTensorType.get([n], element), y, reassoc).result
    reassoc = ir.ArrayAttr.get([
        ir.ArrayAttr.get([_i64(i) for i in range(len(shape) - 1)]),
        ir.ArrayAttr.get([_i64(len(shape) - 1)]),
    ])
    return tensor.ExpandShapeOp(ir.RankedTensorType.get(out_shape, element), y, reassoc, [], out_shape).result
