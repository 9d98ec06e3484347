"""Declare an IRDL op once in Python; get a builder and named accessors.

IRDL ops have no generated Python classes, so each kvc dialect module declares
its ops with :class:`OpSpec` (operand/result names in IRDL order, which are
optional or variadic, attribute names). The spec builds the op with the right
``operandSegmentSizes``/``resultSegmentSizes`` and wraps an existing op in a
view with one property per operand, result and attribute - so passes never
spell raw op names or segment indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlir import ir

SINGLE, OPTIONAL, VARIADIC = "single", "optional", "variadic"


@dataclass(frozen=True)
class OpSpec:
    name: str  # "dialect.op"
    operands: tuple[tuple[str, str], ...] = ()  # (name, SINGLE|OPTIONAL|VARIADIC)
    results: tuple[tuple[str, str], ...] = ()
    attributes: tuple[str, ...] = ()
    regions: int = 0
    summary: str = ""

    # ------------------------------------------------------------------ build
    def build(
        self,
        operands: dict[str, Any] | None = None,
        result_types: dict[str, Any] | None = None,
        attributes: dict[str, ir.Attribute] | None = None,
        *,
        loc: ir.Location | None = None,
        ip: ir.InsertionPoint | None = None,
    ) -> ir.Operation:
        operands = operands or {}
        result_types = result_types or {}
        attributes = dict(attributes or {})
        flat_operands, operand_sizes = _flatten(self.name, "operand", self.operands, operands)
        flat_results, result_sizes = _flatten(self.name, "result", self.results, result_types)
        # IRDL infers the sizes when at most one entry is optional/variadic (and
        # ignores the attribute then), so it is only emitted when it is needed.
        if _needs_segments(self.operands):
            attributes["operandSegmentSizes"] = ir.DenseI32ArrayAttr.get(operand_sizes)
        if _needs_segments(self.results):
            attributes["resultSegmentSizes"] = ir.DenseI32ArrayAttr.get(result_sizes)
        missing = [a for a in self.attributes if a not in attributes]
        if missing:
            raise ValueError(f"{self.name}: missing attribute(s) {', '.join(missing)}")
        op = ir.Operation.create(
            self.name,
            results=flat_results,
            operands=flat_operands,
            attributes=attributes,
            regions=self.regions,
            loc=loc,
            ip=ip,
        )
        return op

    # ------------------------------------------------------------------- view
    def matches(self, op: ir.Operation | ir.OpView) -> bool:
        return op.operation.name == self.name

    def view(self, op: ir.Operation | ir.OpView) -> "OpView":
        op = op.operation
        if op.name != self.name:
            raise TypeError(f"expected {self.name}, got {op.name}")
        return OpView(self, op)


def _flatten(op_name, what, spec, given):
    flat, sizes = [], []
    unknown = set(given) - {n for n, _ in spec}
    if unknown:
        raise ValueError(f"{op_name}: unknown {what}(s) {', '.join(sorted(unknown))}")
    for name, kind in spec:
        value = given.get(name)
        if kind == SINGLE:
            if value is None:
                raise ValueError(f"{op_name}: {what} '{name}' is required")
            flat.append(value)
            sizes.append(1)
        elif kind == OPTIONAL:
            if value is not None:
                flat.append(value)
            sizes.append(0 if value is None else 1)
        else:
            values = list(value or [])
            flat += values
            sizes.append(len(values))
    return flat, sizes


def _needs_segments(spec) -> bool:
    return sum(1 for _, kind in spec if kind != SINGLE) > 1


def _segments(op: ir.Operation, attr: str, spec, count: int) -> list[tuple[int, int]]:
    if all(kind == SINGLE for _, kind in spec):
        return [(i, 1) for i in range(len(spec))]
    if _needs_segments(spec) and attr in op.attributes:
        sizes = list(ir.DenseI32ArrayAttr(op.attributes[attr]))
    else:  # IRDL allows a single non-single entry without the attribute
        extra = count - sum(1 for _, k in spec if k == SINGLE)
        sizes = [1 if k == SINGLE else extra for _, k in spec]
    out, start = [], 0
    for size in sizes:
        out.append((start, size))
        start += size
    return out


@dataclass
class OpView:
    spec: OpSpec
    op: ir.Operation
    _operands: dict[str, list[ir.Value]] = field(init=False)
    _results: dict[str, list[ir.Value]] = field(init=False)

    def __post_init__(self):
        operands, results = list(self.op.operands), list(self.op.results)
        self._operands = {
            name: operands[s : s + n]
            for (name, _), (s, n) in zip(self.spec.operands, _segments(self.op, "operandSegmentSizes", self.spec.operands, len(operands)))
        }
        self._results = {
            name: results[s : s + n]
            for (name, _), (s, n) in zip(self.spec.results, _segments(self.op, "resultSegmentSizes", self.spec.results, len(results)))
        }

    def _get(self, table, spec, name):
        values = table[name]
        kind = dict(spec)[name]
        if kind == VARIADIC:
            return values
        return values[0] if values else None

    def operand(self, name: str):
        return self._get(self._operands, self.spec.operands, name)

    def result(self, name: str):
        return self._get(self._results, self.spec.results, name)

    def attr(self, name: str) -> ir.Attribute | None:
        return self.op.attributes[name] if name in self.op.attributes else None

    def int_attr(self, name: str) -> int:
        return ir.IntegerAttr(self.op.attributes[name]).value

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._operands:
            return self.operand(name)
        if name in self._results:
            return self.result(name)
        if name in self.spec.attributes:
            return self.attr(name)
        raise AttributeError(f"{self.spec.name} has no operand, result or attribute '{name}'")

    @property
    def location(self) -> ir.Location:
        return self.op.location


def i64(value: int) -> ir.IntegerAttr:
    return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), value)


def shaped(value_or_type) -> ir.RankedTensorType:
    ty = value_or_type.type if hasattr(value_or_type, "type") else value_or_type
    return ir.RankedTensorType(ty)


def shape_of(value_or_type) -> list[int]:
    return list(shaped(value_or_type).shape)


def tensor(shape: Sequence[int], element: ir.Type) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), element)


# ---------------------------------------------------------------- region ends
# IRDL (LLVM 22) cannot give an op the IsTerminator trait, so no kvc op can end
# a block. The regions of kvc ops (kvcache.remat, pim.program, ...) therefore
# end with one upstream terminator that is Pure, ReturnLike, takes operands of
# any type and has no parent restriction: `vector.yield`. Its meaning is set by
# the parent op (the kvc verifier checks its operands against the parent).
REGION_TERMINATOR = "vector.yield"


def build_terminator(values: Sequence[ir.Value] = (), *, loc: ir.Location | None = None,
                     ip: ir.InsertionPoint | None = None) -> ir.Operation:
    """End the current block of a kvc region, yielding ``values`` to the parent op."""
    return ir.Operation.create(REGION_TERMINATOR, operands=list(values), loc=loc, ip=ip)


def region_terminator(region: ir.Region) -> ir.Operation | None:
    """The terminator of a single-block kvc region, or None if it is missing."""
    blocks = list(region.blocks)
    if len(blocks) != 1:
        return None
    ops = list(blocks[0].operations)
    if not ops or ops[-1].operation.name != REGION_TERMINATOR:
        return None
    return ops[-1].operation
