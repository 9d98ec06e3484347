"""The kvc verifier: rules that IRDL cannot express.

IRDL checks operand/result/attribute *kinds*. Everything relational - shapes of
codes vs. scales vs. group size, region signatures, attribute ranges, type
parameter ranges - is checked here. Dialect modules register rules:

    @op_rule("lowbit.matmul")
    def _(op): ...            # raise VerifyError(message, op) on violation

    @type_rule("lowbit.int")
    def _(params): ...        # return an error message or None

``verify(module)`` walks every operation, runs the op's rules and checks every
kvc type used by its operands and results (including tensor element types),
reporting each violation as an MLIR error at the operation's location. kvc-opt
runs it after parsing and after every pass.
"""

from __future__ import annotations

from collections.abc import Callable

from mlir import ir

from kvc.diagnostics import VerifyError
from kvc.irdl_types import dynamic_type_info

OpRule = Callable[[ir.Operation], None]
TypeRule = Callable[[list[ir.Attribute]], "str | None"]

_OP_RULES: dict[str, list[OpRule]] = {}
_TYPE_RULES: dict[str, list[TypeRule]] = {}


def op_rule(op_name: str) -> Callable[[OpRule], OpRule]:
    def register(fn: OpRule) -> OpRule:
        _OP_RULES.setdefault(op_name, []).append(fn)
        return fn

    return register


def type_rule(type_name: str) -> Callable[[TypeRule], TypeRule]:
    def register(fn: TypeRule) -> TypeRule:
        _TYPE_RULES.setdefault(type_name, []).append(fn)
        return fn

    return register


def registered_op_rules() -> dict[str, list[OpRule]]:
    _ensure_rules_loaded()
    return dict(_OP_RULES)


def _ensure_rules_loaded() -> None:
    # Importing the dialect helper modules registers their rules.
    import kvc.dialects  # noqa: F401


def type_error(ty: ir.Type) -> str | None:
    """The first rule violation of a kvc type (looking inside shaped types), or None."""
    _ensure_rules_loaded()
    seen = ty
    if isinstance(ty, ir.ShapedType):
        seen = ir.ShapedType(ty).element_type
    info = dynamic_type_info(seen)
    if info is None:
        return None
    name, params = info
    for rule in _TYPE_RULES.get(name, ()):
        message = rule(params)
        if message:
            return f"invalid type {seen}: {message}"
    return None


def verify_op(op: ir.Operation) -> list[VerifyError]:
    """Violations of one operation (its own types and its registered rules)."""
    _ensure_rules_loaded()
    problems: list[VerifyError] = []
    checked: set[str] = set()
    values = list(op.operands) + list(op.results)
    for region in op.regions:
        for block in region.blocks:
            values += list(block.arguments)
    for value in values:
        key = str(value.type)
        if key in checked:
            continue
        checked.add(key)
        message = type_error(value.type)
        if message:
            problems.append(VerifyError(message, op))
    if not problems:
        for rule in _OP_RULES.get(op.name, ()):
            try:
                rule(op)
            except VerifyError as err:
                if err.where is None:
                    err.where = op
                problems.append(err)
    return problems


def verify(root: ir.Operation | ir.Module, *, emit: bool = True) -> list[VerifyError]:
    """Verify ``root`` and everything nested in it; emit each violation as an MLIR error."""
    if isinstance(root, ir.Module):
        root = root.operation
    root = root.operation if hasattr(root, "operation") else root
    problems: list[VerifyError] = []

    def visit(op):
        problems.extend(verify_op(op.operation))
        return ir.WalkResult.ADVANCE

    root.walk(visit)
    if emit:
        for problem in problems:
            location = problem.location or root.location
            location.emit_error(f"'{_op_name(problem)}' op {problem.message}")
    return problems


def _op_name(problem: VerifyError) -> str:
    where = problem.where
    return where.name if hasattr(where, "name") and not isinstance(where, ir.Location) else "kvc"


# ------------------------------------------------ helpers shared by the rules
DYN = ir.ShapedType.get_dynamic_size()


def same_dim(a: int, b: int) -> bool:
    """Two dimensions agree when equal or when either is dynamic."""
    return a == DYN or b == DYN or a == b


def shape_str(shape) -> str:
    """``8x?x4`` (``scalar`` for rank 0), as verifier messages print shapes."""
    return "x".join("?" if d == DYN else str(d) for d in shape) or "scalar"


def ranked(value: ir.Value, what: str) -> ir.RankedTensorType:
    """The ranked tensor type of ``value``; a VerifyError naming ``what`` otherwise."""
    if not isinstance(value.type, ir.RankedTensorType):
        raise VerifyError(f"{what} must be a ranked tensor, got {value.type}")
    return ir.RankedTensorType(value.type)
