"""Read the name and parameters of IRDL-defined (dynamic) types and attributes.

The LLVM 22 Python bindings expose IRDL types as plain ``ir.Type`` whose only
public view is their printed form ``!dialect.name<p0, p1, ...>``. This module
splits that form at top-level commas and parses every parameter back into an
``ir.Attribute`` (a type parameter comes back as a ``TypeAttr``), so verifiers
and passes can inspect parameters without string matching of their own.
"""

from __future__ import annotations

import functools

from mlir import ir

from kvc.context import KVC_DIALECTS


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside of <>, (), [], {} and string literals."""
    parts, depth, start, in_string, i = [], 0, 0, False, 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            # '->' inside a function type is not a closing bracket.
            if not (ch == ">" and i > 0 and text[i - 1] == "-"):
                depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def _parse_param(text: str, context: ir.Context) -> ir.Attribute:
    try:
        return ir.Attribute.parse(text, context)
    except Exception:
        return ir.TypeAttr.get(ir.Type.parse(text, context))


@functools.lru_cache(maxsize=4096)
def _split_type(text: str) -> tuple[str, tuple[str, ...]] | None:
    if not text.startswith("!"):
        return None
    body = text[1:]
    lt = body.find("<")
    name = body if lt < 0 else body[:lt]
    if "." not in name or name.split(".", 1)[0] not in KVC_DIALECTS:
        return None
    params = () if lt < 0 else tuple(split_top_level(body[lt + 1 : -1]))
    return name, params


def dynamic_type_info(ty: ir.Type) -> tuple[str, list[ir.Attribute]] | None:
    """(``dialect.type``, parameters) of a kvc type, or None for any other type."""
    split = _split_type(str(ty))
    if split is None:
        return None
    name, params = split
    return name, [_parse_param(p, ty.context) for p in params]


def type_name(ty: ir.Type) -> str | None:
    split = _split_type(str(ty))
    return None if split is None else split[0]


def int_param(attr: ir.Attribute) -> int:
    return ir.IntegerAttr(attr).value


def float_array_param(attr: ir.Attribute) -> list[float]:
    if isinstance(attr, ir.DenseF32ArrayAttr):
        return list(ir.DenseF32ArrayAttr(attr))
    if isinstance(attr, ir.DenseF64ArrayAttr):
        return list(ir.DenseF64ArrayAttr(attr))
    return [ir.FloatAttr(a).value for a in ir.ArrayAttr(attr)]
