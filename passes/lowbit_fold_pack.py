"""lowbit-fold-pack: remove pack/unpack round trips.

Matches ``lowbit.unpack(lowbit.pack(c))`` and ``lowbit.pack(lowbit.unpack(p))``
where the outer result has the type of the inner operand.

Guarantees: both forms are exact identities of the packing layout (the pack of
a row is a pure bit permutation padded with zero bits, and unpack ignores the
padding), so the rewrite never changes a value. The inner op is erased when
the fold leaves it unused (IRDL ops declare no memory effects, so upstream DCE
cannot remove them). A pack/unpack pair that changes the format is a
reinterpretation, not a round trip, and is kept.
"""

from __future__ import annotations

from mlir import ir
from mlir.rewrite import RewritePatternSet, apply_patterns_and_fold_greedily

from kvc.dialects.lowbit import PACK, UNPACK
from kvc.pipeline import KvcPass, register_pass


def _producer(value: ir.Value):
    owner = value.owner
    return owner.operation if isinstance(owner, (ir.Operation, ir.OpView)) else None


def _fold_round_trip(outer_spec, inner_spec):
    def pattern(op, rewriter):
        outer = outer_spec.view(op)
        source = outer.op.operands[0]
        inner = _producer(source)
        if inner is None or not inner_spec.matches(inner):
            return True  # no match
        original = inner.operands[0]
        if original.type != outer.op.results[0].type:
            return True
        rewriter.replace_op(outer.op, [original])
        # IRDL ops declare no memory effects, so the greedy driver cannot prove
        # the inner op dead: erase it here once its last use is gone.
        if not any(True for _ in inner.results[0].uses):
            rewriter.erase_op(inner)
        return None

    return pattern


@register_pass
class LowbitFoldPack(KvcPass):
    name = "lowbit-fold-pack"
    summary = "Fold lowbit.unpack(lowbit.pack(x)) and lowbit.pack(lowbit.unpack(x)) to x (exact)."

    def run(self, module: ir.Operation) -> None:
        patterns = RewritePatternSet(module.context)
        patterns.add(UNPACK.name, _fold_round_trip(UNPACK, PACK))
        patterns.add(PACK.name, _fold_round_trip(PACK, UNPACK))
        apply_patterns_and_fold_greedily(module, patterns.freeze())
