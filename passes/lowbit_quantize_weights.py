"""lowbit-quantize-weights: matmuls with a constant weight -> lowbit.matmul on packed codes.

Matches every linalg contraction with two inputs (``linalg.matmul`` with any
indexing maps, ``linalg.matvec``/``vecmat``, an equivalent ``linalg.generic``)
where one input - the weight - is

* an ``arith.constant`` (``dense<...>`` or ``dense_resource<...>``), or
* a function argument tagged ``{kvc.weight = "name"}`` whose array is in the
  bound-weights dict (``weights=`` in Python, or the dict attached to the
  context with :func:`kvc.resources.attach_weights`),

optionally through ``linalg.transpose`` (or a transposing ``linalg.generic``)
ops - the form torch-mlir emits for ``F.linear``: ``linalg.matmul(x,
linalg.transpose(W))``. The weight must be 2-D over exactly one reduction
dim K and one output dim N, shared by no batch dim; the activation must end
in K and the result in N (``x[..., K] -> y[..., N]``, the lowbit.matmul form).

The weight is quantized by :mod:`kvc.formats` on the numpy array (never by
folding IR attributes) along K in groups of ``group-size``; when K is not a
multiple of the group size the last group is partial (the lowbit contract,
honoured by every kvc lowering), so nothing is padded and nothing is wrong.
Codes are packed in the pinned layout. For a constant weight the packed
codes, scales, zeros and RaZeR selectors become ``dense_resource`` blobs
(created from the numpy arrays without copying) feeding ``lowbit.unpack``;
for a bound weight they become new bound-weight arguments named
``<name>.<format>.{codes,scales,zeros,meta}`` added to the same dict, and the
original argument is removed once unused.

Guarantees: the replacement computes ``x . dequantize(Q(W))^T`` (plus the
matmul's accumulator when it is not a zero fill); a weight used by several
matmuls is quantized once; matmuls that do not fit the pattern are left
untouched and listed in :attr:`LowbitQuantizeWeights.skipped` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mlir import ir
from mlir.dialects import arith, linalg, tensor

from kvc import formats as kvc_formats
from kvc import resources
from kvc.diagnostics import PassError
from kvc.dialects.lowbit import build_matmul, build_unpack, format_type
from kvc.pipeline import KvcPass, Option, register_pass


@dataclass
class _Weight:
    kind: str  # "const" | "arg"
    op: ir.Operation | None  # the arith.constant
    func: ir.Operation | None  # the func.func owning the argument
    index: int | None  # argument index
    name: str  # resource name, weight name or a made-up name
    transposed: bool  # odd number of transposes between the source and the matmul
    chain: list  # transpose ops between the source and the matmul


@register_pass
class LowbitQuantizeWeights(KvcPass):
    name = "lowbit-quantize-weights"
    summary = ("Quantize constant (or bound) matmul weights with kvc.formats and rewrite the matmul to "
               "lowbit.matmul on packed codes stored as dense_resource blobs or bound weights.")
    options = (
        Option("format", str, "razer4", "low-bit format name (int1..8, uint1..8, eXmY, razer4, bipolar1..8); "
               "a ':gN' suffix sets the group size"),
        Option("group-size", int, 128, "elements per quantization group along K (a partial last group is kept)"),
        Option("method", str, "rtn", "kvc.formats quantizer: rtn (min-max) or mse (clipping search)",
               choices=("rtn", "mse")),
        Option("min-elements", int, 0, "leave weights with fewer elements than this in floating point"),
    )

    def __init__(self, weights: dict | None = None, **values):
        super().__init__(**values)
        self.weights = weights
        self.quantized: list[dict] = []  # one entry per rewritten matmul
        self.skipped: list[tuple[str, str]] = []  # (location, reason)

    # ------------------------------------------------------------------ driver
    def run(self, module: ir.Operation) -> None:
        try:
            fmt = kvc_formats.get(self.format)
        except ValueError as err:
            raise PassError(f"option format: {err}") from None
        group_size = fmt.default_group_size or self.group_size
        if group_size < 1:
            raise PassError(f"option group-size must be positive, got {group_size}")
        weights = self.weights if self.weights is not None else resources.attached_weights(module.context)
        self.quantized, self.skipped = [], []
        with module.context, module.location:
            rewriter = _Rewriter(self, fmt, group_size, weights)
            candidates = []

            def collect(op):
                if op.name.startswith("linalg.") and op.name not in ("linalg.fill", "linalg.transpose") \
                        and len(op.results) == 1 and linalg.isa_contraction_op(op):
                    candidates.append(op)
                return ir.WalkResult.ADVANCE

            module.walk(collect, ir.WalkOrder.POST_ORDER)
            for op in candidates:
                rewriter.rewrite(op)
            rewriter.cleanup()


class _Rewriter:
    def __init__(self, owner: LowbitQuantizeWeights, fmt, group_size: int, weights: dict | None):
        self.owner = owner
        self.fmt = fmt
        self.group_size = group_size
        self.weights = weights
        self.cache: list[tuple] = []  # (source key, flip, func, values)
        self.dead: list[ir.Operation] = []
        self.args_to_check: list[tuple[ir.Operation, int]] = []
        self.count = 0

    def skip(self, op, reason: str) -> None:
        self.owner.skipped.append((str(op.location), reason))

    # -------------------------------------------------------------- matching
    def rewrite(self, op: ir.Operation) -> None:
        view = op.opview
        ins, outs = list(view.inputs), list(view.outputs)
        if len(ins) != 2 or len(outs) != 1:
            return
        maps = [ir.AffineMapAttr(m).value if not isinstance(m, ir.AffineMap) else m
                for m in linalg.get_indexing_maps(op)]
        result_type = op.results[0].type
        if not isinstance(result_type, ir.RankedTensorType):
            return  # buffer semantics: not at tensor level
        sources = [self.weight_source(v) for v in ins]
        which = [i for i, s in enumerate(sources) if s is not None]
        if not which:
            return
        if len(which) == 2:
            self.skip(op, "both matmul operands are constant")
            return
        w_pos = which[0]
        x_pos = 1 - w_pos
        weight, x = sources[w_pos], ins[x_pos]
        dims = lambda m: [ir.AffineDimExpr(e).position if isinstance(e, ir.AffineDimExpr) else None
                          for e in m.results]
        w_dims, x_dims, c_dims = dims(maps[w_pos]), dims(maps[x_pos]), dims(maps[2])
        if None in w_dims + x_dims + c_dims:
            self.skip(op, "indexing maps are not projected permutations")
            return
        n_dims = [d for d in w_dims if d in c_dims and d not in x_dims]
        k_dims = [d for d in w_dims if d in x_dims and d not in c_dims]
        batch = [d for d in w_dims if d in x_dims and d in c_dims]
        if batch or len(w_dims) != 2 or len(n_dims) != 1 or len(k_dims) != 1:
            self.skip(op, "the weight is not a 2-D [N, K] matrix shared across the batch")
            return
        nd, kd = n_dims[0], k_dims[0]
        rows = [d for d in x_dims if d != kd]
        if x_dims[-1] != kd or c_dims != rows + [nd]:
            self.skip(op, "activation must be [..., K] and result [..., N] (lowbit.matmul layout)")
            return
        x_ty = ir.RankedTensorType(x.type)
        c_ty = ir.RankedTensorType(result_type)
        if not isinstance(x_ty.element_type, ir.FloatType) or x_ty.element_type != c_ty.element_type:
            self.skip(op, f"activation {x_ty.element_type} and result {c_ty.element_type} must be the same float type")
            return
        w_ty = ir.RankedTensorType(ins[w_pos].type)
        numel = int(np.prod(w_ty.shape))
        if numel < self.owner.min_elements:
            self.skip(op, f"weight has {numel} elements < min-elements={self.owner.min_elements}")
            return
        flip = weight.transposed ^ (w_dims == [kd, nd])
        func = _enclosing_func(op)
        values = self.quantized_values(weight, flip, func, op)
        if values is None:
            return
        packed, scales, zeros, meta, info = values
        with ir.InsertionPoint(op), op.location:
            codes = build_unpack(packed, format_type(self.fmt.name), info["k"]).codes
            y = build_matmul(x, codes, scales, group_size=info["group_size"], zeros=zeros, meta=meta).output
            if y.type != result_type:
                y = tensor.cast(result_type, y)
            init = outs[0]
            if not _is_zero_fill(init):
                y = _add(init, y)
        location = str(op.location)
        op.results[0].replace_all_uses_with(y)
        self.dead.extend(weight.chain)
        self.dead.append(_producer(outs[0]))
        self.dead.append(weight.op)
        op.erase()
        self.owner.quantized.append({**info, "location": location})

    def weight_source(self, value: ir.Value) -> _Weight | None:
        chain, transposed = [], False
        while True:
            owner = _producer(value)
            if owner is None:
                break
            if owner.name == "linalg.transpose":
                perm = list(ir.DenseI64ArrayAttr(owner.attributes["permutation"]))
                if perm != [1, 0]:
                    return None
            elif not _is_transpose_generic(owner):
                break
            chain.append(owner)
            transposed = not transposed
            value = owner.operands[0]
        owner = _producer(value)
        if owner is not None:
            if owner.name != "arith.constant" or not isinstance(value.type, ir.RankedTensorType):
                return None
            if ir.RankedTensorType(value.type).rank != 2:
                return None
            name = resources.resource_name(owner.attributes["value"]) or "weight"
            return _Weight("const", owner, None, None, name, transposed, chain)
        # A block argument: a bound weight of the enclosing function?
        block = value.owner
        if not isinstance(block, ir.Block):
            return None
        parent = block.owner
        if parent is None or parent.operation.name != "func.func":
            return None
        parent = parent.operation
        index = ir.BlockArgument(value).arg_number
        name = resources.weight_name(parent, index)
        if name is None or self.weights is None or name not in self.weights:
            return None
        if not isinstance(value.type, ir.RankedTensorType) or ir.RankedTensorType(value.type).rank != 2:
            return None
        return _Weight("arg", None, parent, index, name, transposed, chain)

    # -------------------------------------------------------------- quantize
    def quantized_values(self, weight: _Weight, flip: bool, func: ir.Operation, op: ir.Operation):
        key = (weight.kind, weight.op if weight.kind == "const" else weight.index, flip)
        for cached_key, cached_func, values in self.cache:
            if cached_key == key and cached_func == func:
                return values
        if weight.kind == "const":
            try:
                array = resources.constant_array(weight.op)
            except (TypeError, ValueError) as err:
                self.skip(op, f"cannot read the constant weight: {err}")
                return None
        else:
            array = self.weights[weight.name]
        array = _as_float32(array)
        if array is None:
            self.skip(op, "weight is not a float array")
            return None
        matrix = array.T if flip else array
        n, k = matrix.shape
        qt = self.fmt.quantize(matrix, group_size=min(self.group_size, k), axis=-1, method=self.owner.method)
        pk = qt.pack()
        spec = f"{self.fmt.name}:g{qt.group_size}"
        base = f"{weight.name}.{self.fmt.name}"
        arrays = {"codes": pk.codes, "scales": qt.scales, "zeros": qt.zeros,
                  "meta": qt.meta if qt.meta is not None else None}
        values = {}
        if weight.kind == "const":
            entry = func.regions[0].blocks[0]
            with ir.InsertionPoint.at_block_begin(entry), weight.op.location:
                for part, data in arrays.items():
                    if data is None:
                        values[part] = None
                        continue
                    attr = resources.resource_attr(data, f"{base}.{part}")
                    values[part] = arith.ConstantOp(attr.type, attr).result
        else:
            for part, data in arrays.items():
                if data is None:
                    values[part] = None
                    continue
                name = resources.unique_weight_name(self.weights, f"{base}.{part}")
                self.weights[name] = data
                ty = ir.RankedTensorType.get(list(data.shape), _element(data))
                values[part] = resources.add_weight_argument(weight.func, ty, name)
            self.args_to_check.append((weight.func, weight.index))
        info = {"source": weight.name, "format": spec, "n": n, "k": k, "group_size": qt.group_size,
                "bytes_before": int(array.size * 4), "bytes_after": int(pk.nbytes)}
        result = (values["codes"], values["scales"], values["zeros"], values["meta"], info)
        self.cache.append((key, func, result))
        return result

    # -------------------------------------------------------------- cleanup
    def cleanup(self) -> None:
        pending = []
        for op in self.dead:
            if op is not None and op not in pending:  # Operation == compares identity
                pending.append(op)
        changed = True
        while changed:
            changed = False
            for op in list(pending):
                if _is_erasable(op) and all(not any(True for _ in r.uses) for r in op.results):
                    producers = [_producer(v) for v in op.operands]
                    pending.remove(op)
                    op.erase()
                    pending.extend(p for p in producers if p is not None and p not in pending)
                    changed = True
        # Bound-weight arguments that nothing reads any more go away (highest index first).
        seen = []
        for func, index in self.args_to_check:
            if (func, index) not in seen:
                seen.append((func, index))
        for func, index in sorted(seen, key=lambda fi: -fi[1]):
            arg = func.regions[0].blocks[0].arguments[index]
            if not any(True for _ in arg.uses):
                resources.erase_argument(func, index)


# ------------------------------------------------------------------ helpers
def _producer(value: ir.Value) -> ir.Operation | None:
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if owner is not None else None


def _enclosing_func(op: ir.Operation) -> ir.Operation:
    parent = op.parent
    while parent is not None and parent.operation.name != "func.func":
        parent = parent.parent
    if parent is None:
        raise PassError("matmul outside a func.func", op)
    return parent.operation


def _is_transpose_generic(op: ir.Operation) -> bool:
    if op.name != "linalg.generic" or len(op.operands) != 2 or len(op.results) != 1:
        return False
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    if len(maps) != 2 or maps[0].n_dims != 2:
        return False
    ins = [ir.AffineDimExpr(e).position if isinstance(e, ir.AffineDimExpr) else None for e in maps[0].results]
    outs = [ir.AffineDimExpr(e).position if isinstance(e, ir.AffineDimExpr) else None for e in maps[1].results]
    if sorted([ins, outs]) != [[0, 1], [1, 0]]:
        return False
    body = op.regions[0].blocks[0]
    ops = list(body.operations)
    return len(ops) == 1 and ops[0].name == "linalg.yield" and ops[0].operands[0] == body.arguments[0]


def _is_zero_fill(value: ir.Value) -> bool:
    owner = _producer(value)
    if owner is None:
        return False
    if owner.name == "linalg.fill":
        scalar = _producer(owner.operands[0])
        if scalar is not None and scalar.name == "arith.constant":
            attr = scalar.attributes["value"]
            return isinstance(attr, ir.FloatAttr) and ir.FloatAttr(attr).value == 0.0
        return False
    if owner.name == "arith.constant":
        attr = owner.attributes["value"]
        if isinstance(attr, ir.DenseElementsAttr) and ir.DenseElementsAttr(attr).is_splat:
            splat = ir.DenseElementsAttr(attr).get_splat_value()
            return isinstance(splat, ir.FloatAttr) and ir.FloatAttr(splat).value == 0.0
    return False


def _add(init: ir.Value, y: ir.Value) -> ir.Value:
    """init + y elementwise (a non-zero matmul accumulator, e.g. a broadcast bias)."""
    ty = ir.RankedTensorType(init.type)
    identity = ir.AffineMapAttr.get(ir.AffineMap.get_identity(ty.rank))
    parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    op = linalg.GenericOp([ty], [init, y], [init], ir.ArrayAttr.get([identity] * 3),
                          ir.ArrayAttr.get([parallel] * ty.rank))
    block = op.regions[0].blocks.append(ty.element_type, ty.element_type, ty.element_type)
    with ir.InsertionPoint(block):
        linalg.YieldOp([arith.addf(block.arguments[0], block.arguments[1])])
    return op.results[0]


def _is_erasable(op: ir.Operation) -> bool:
    if op.name in ("arith.constant", "tensor.empty", "linalg.fill", "linalg.transpose"):
        return True
    return op.name == "linalg.generic" and all(isinstance(r.type, ir.RankedTensorType) for r in op.results)


def _as_float32(array) -> np.ndarray | None:
    if hasattr(array, "detach"):  # a torch tensor
        array = array.detach().float().cpu().numpy()
    array = np.asarray(array)
    if array.dtype.kind != "f":
        return None
    return array.astype(np.float32, copy=False)


def _element(data: np.ndarray) -> ir.Type:
    if data.dtype == np.uint8 or data.dtype == np.int8:
        return ir.IntegerType.get_signless(8)
    if data.dtype == np.float16:
        return ir.F16Type.get()
    if data.dtype == np.float32:
        return ir.F32Type.get()
    raise TypeError(f"unexpected quantized array dtype {data.dtype}")
