"""cpu-matmul-kernels: dense f32 contractions -> register-accumulating linalg.generic kernels.

Matches every two-input linalg contraction at tensor level (``linalg.matmul``
with any indexing maps, ``batch_matmul``, ``matvec``, ``vecmat``, a contraction
``linalg.generic``) on f32 with exactly one reduction dim K where both inputs
have K as their innermost *stored* dimension - looking through
``linalg.transpose`` producers, which are folded away. That is the layout of
``F.linear`` as torch-mlir emits it (``matmul(x, transpose(W))`` with ``W``
stored ``[N, K]``) and of attention's ``Q K^T``. Other contractions (K strided
in an operand, other element types) are left to ``convert-linalg-to-loops``.

Rewrite: one ``linalg.generic`` over the result's shape, all parallel; its
body starts from the accumulator's element and runs the K reduction as an
``scf.for`` whose ``arith.addf`` carries ``fastmath<reassoc,contract>``. After
``convert-linalg-to-loops`` the accumulator is a register and both operands
are read contiguously along K, so LLVM vectorizes the loop; the loop nest that
``convert-linalg-to-loops`` makes of a plain ``linalg.matmul`` keeps the
accumulator in memory (one load and store per multiply-add) and, after the
transpose is materialized, copies the weight at every call.

Guarantees: the same sum of the same products, starting from the same
accumulator; only the summation order changes (within the usual
``(K+1) 2^-24 sum|x w|`` bound). No operand is copied.
"""

from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, linalg, tensor

from kvc.passes.lowbit_lower_to_storage import cidx, fastmath, for_loop
from kvc.pipeline import KvcPass, Option, register_pass


@register_pass
class CpuMatmulKernels(KvcPass):
    name = "cpu-matmul-kernels"
    summary = ("Rewrite f32 linalg contractions whose operands are contiguous along K into linalg.generic "
               "kernels with a register-resident, vectorizable K loop (transposes folded).")
    options = (
        Option("min-k", int, 8, "leave contractions with a reduction shorter than this to the generic loops"),
    )

    def run(self, module: ir.Operation) -> None:
        candidates = []

        def collect(op):
            if (op.name.startswith("linalg.") and op.name not in ("linalg.fill", "linalg.transpose")
                    and len(op.results) == 1 and isinstance(op.results[0].type, ir.RankedTensorType)
                    and linalg.isa_contraction_op(op)):
                candidates.append(op)
            return ir.WalkResult.ADVANCE

        with module.context, module.location:
            module.walk(collect, ir.WalkOrder.POST_ORDER)
            dead = []
            for op in candidates:
                plan = _plan(op, self.min_k)
                if plan is not None:
                    with ir.InsertionPoint(op), op.location:
                        result = _emit(plan)
                    op.results[0].replace_all_uses_with(result)
                    dead.extend(plan["transposes"])
                    op.erase()
            for op in dead:  # transposes the kernels now read through
                if all(not any(True for _ in r.uses) for r in op.results):
                    op.erase()


def _dims(amap) -> list[int] | None:
    out = []
    for expr in amap.results:
        if not isinstance(expr, ir.AffineDimExpr):
            return None
        out.append(ir.AffineDimExpr(expr).position)
    return out


def _through_transposes(value: ir.Value, dims: list[int]):
    """(stored value, iteration dim of each stored axis, transposes passed)."""
    chain = []
    while True:
        owner = value.owner
        if isinstance(owner, ir.Block) or owner.operation.name != "linalg.transpose":
            return value, dims, chain
        op = owner.operation
        perm = list(ir.DenseI64ArrayAttr(op.attributes["permutation"]))
        source_dims = [None] * len(perm)
        for t, p in enumerate(perm):  # out axis t is input axis perm[t]
            source_dims[p] = dims[t]
        chain.append(op)
        value, dims = op.operands[0], source_dims


def _plan(op: ir.Operation, min_k: int) -> dict | None:
    view = op.opview
    ins, outs = list(view.inputs), list(view.outputs)
    if len(ins) != 2 or len(outs) != 1:
        return None
    f32 = ir.F32Type.get()
    if any(ir.RankedTensorType(v.type).element_type != f32 for v in ins + outs):
        return None
    maps = [m if isinstance(m, ir.AffineMap) else ir.AffineMapAttr(m).value for m in linalg.get_indexing_maps(op)]
    dims = [_dims(m) for m in maps]
    if any(d is None for d in dims):
        return None
    out_dims = dims[2]
    reduction = sorted(set(dims[0]) & set(dims[1]) - set(out_dims))
    if len(reduction) != 1 or set(dims[0]) | set(dims[1]) != set(out_dims) | set(reduction):
        return None
    k = reduction[0]
    operands = []
    transposes = []
    for value, d in zip(ins, dims[:2]):
        stored, stored_dims, chain = _through_transposes(value, d)
        if stored_dims[-1] != k:
            return None  # K strided in this operand: no contiguous K loop
        operands.append((stored, stored_dims))
        transposes += chain
    x_ty = ir.RankedTensorType(ins[0].type)
    k_size = x_ty.shape[dims[0].index(k)]
    if k_size != ir.ShapedType.get_dynamic_size() and k_size < min_k:
        return None
    return {"operands": operands, "out_dims": out_dims, "k": k, "init": outs[0], "k_value": (ins[0], dims[0].index(k)),
            "transposes": transposes, "result_type": op.results[0].type}


def _emit(plan: dict) -> ir.Value:
    out_ty = ir.RankedTensorType(plan["result_type"])
    rank = out_ty.rank
    identity = ir.AffineMapAttr.get(ir.AffineMap.get_identity(rank))
    parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    generic = linalg.GenericOp([out_ty], [], [plan["init"]], ir.ArrayAttr.get([identity]),
                               ir.ArrayAttr.get([parallel] * rank))
    block = generic.regions[0].blocks.append(out_ty.element_type)
    reassoc, contract = fastmath("reassoc,contract"), fastmath("contract")
    x_value, k_axis = plan["k_value"]
    with ir.InsertionPoint(block):
        index_of = {d: linalg.IndexOp(ir.IntegerAttr.get(ir.IntegerType.get_signless(64), pos)).result
                    for pos, d in enumerate(plan["out_dims"])}
        k_size = tensor.dim(x_value, cidx(k_axis))

        def step(kk, acc):
            values = []
            for stored, stored_dims in plan["operands"]:
                indices = [kk if d == plan["k"] else index_of[d] for d in stored_dims]
                values.append(tensor.extract(stored, indices))
            product = arith.mulf(values[0], values[1], fastmath=contract)
            return [arith.addf(acc[0], product, fastmath=reassoc)]

        (total,) = for_loop(cidx(0), k_size, cidx(1), [block.arguments[0]], step)
        linalg.YieldOp([total])
    return generic.results[0]
