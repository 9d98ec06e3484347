"""Python side of the ``kvcache`` dialect: the cache type, op builders, accessors, verifier rules.

The dialect itself is ``kvcache.irdl.mlir``; its spec is ``kvcache.md``. A cache
is an SSA value of type ``!kvcache.cache<kind, max_seq, token_shape, element,
storage>``; writes return the updated cache (functional state). Build types with
:func:`cache_type`, read them back with :func:`cache_info`, build ops with the
``build_*`` functions and inspect them with the ``*.view(op)`` accessors of the
specs below (``APPEND.view(op).values``, ``REMAT.view(op).key``...).

Regions (``kvcache.remat``) end with :data:`kvc.irdl_ops.REGION_TERMINATOR`
(``vector.yield``): IRDL cannot declare a terminator op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlir import ir

from kvc.diagnostics import VerifyError
from kvc.irdl_ops import (
    OPTIONAL,
    REGION_TERMINATOR,
    SINGLE,
    VARIADIC,
    OpSpec,
    build_terminator,
    region_terminator,
    tensor,
)
from kvc.irdl_types import dynamic_type_info, type_name
from kvc.verifier import DYN, op_rule, type_error, type_rule, ranked, same_dim, shape_str

from kvc.dialects import lowbit

KINDS = ("kv", "x", "latent")
QUANT_AXES = ("token", "channel")
STORAGE_KEYS = ("group_size", "quant_axis", "residual", "delta", "scale_type")

# ------------------------------------------------------------------------- type


@dataclass(frozen=True)
class CacheInfo:
    """The parameters of a ``!kvcache.cache`` type, with defaults filled in."""

    kind: str
    max_seq: int
    token_shape: tuple[int, ...]
    element: ir.Type
    group_size: int | None = None
    quant_axis: str = "token"
    residual: int = 0
    delta: bool = False
    scale_type: ir.Type | None = None

    @property
    def quantized(self) -> bool:
        return lowbit.is_lowbit(self.element)

    @property
    def num_stored(self) -> int:
        """Tensors stored per token: 2 (K and V) for "kv", else 1."""
        return 2 if self.kind == "kv" else 1

    @property
    def rematerializes(self) -> bool:
        return self.kind in ("x", "latent")

    def window_shape(self, length: int = DYN) -> list[int]:
        return [length, *self.token_shape]


def _storage_dict(group_size, quant_axis, residual, delta, scale_type) -> ir.DictAttr:
    entries: dict[str, ir.Attribute] = {}
    i64 = ir.IntegerType.get_signless(64)
    if group_size is not None:
        entries["group_size"] = ir.IntegerAttr.get(i64, group_size)
    if quant_axis != "token":
        entries["quant_axis"] = ir.StringAttr.get(quant_axis)
    if residual:
        entries["residual"] = ir.IntegerAttr.get(i64, residual)
    if delta:
        entries["delta"] = ir.UnitAttr.get()
    if scale_type is not None and not isinstance(scale_type, ir.F16Type):
        entries["scale_type"] = ir.TypeAttr.get(scale_type)
    return ir.DictAttr.get(entries)


def cache_type(kind: str, max_seq: int, token_shape: Sequence[int], element: ir.Type | str, *,
               group_size: int | None = None, quant_axis: str = "token", residual: int = 0,
               delta: bool = False, scale_type: ir.Type | None = None) -> ir.Type:
    """``!kvcache.cache<...>``; ``element`` may be a type or a lowbit format name ("int4").

    Options equal to their default are omitted, so equal caches print equally."""
    if isinstance(element, str):
        element = lowbit.format_type(element)
    shape = ", ".join(str(int(d)) for d in token_shape)
    storage = _storage_dict(group_size, quant_axis, residual, delta, scale_type)
    return ir.Type.parse(f'!kvcache.cache<"{kind}", {int(max_seq)}, array<i64: {shape}>, {element}, {storage}>')


def is_cache(ty: ir.Type) -> bool:
    return type_name(ty) == "kvcache.cache"


def _params_info(params) -> CacheInfo:
    kind = ir.StringAttr(params[0]).value
    max_seq = ir.IntegerAttr(params[1]).value
    token_shape = tuple(ir.DenseI64ArrayAttr(params[2]))
    element = ir.TypeAttr(params[3]).value
    storage = {entry.name: entry.attr for entry in ir.DictAttr(params[4])}
    group_size = ir.IntegerAttr(storage["group_size"]).value if "group_size" in storage else None
    quant_axis = ir.StringAttr(storage["quant_axis"]).value if "quant_axis" in storage else "token"
    residual = ir.IntegerAttr(storage["residual"]).value if "residual" in storage else 0
    scale_type = ir.TypeAttr(storage["scale_type"]).value if "scale_type" in storage else None
    if scale_type is None and lowbit.is_lowbit(element):
        scale_type = ir.F16Type.get(context=params[0].context)
    return CacheInfo(kind, max_seq, token_shape, element, group_size, quant_axis, residual, "delta" in storage, scale_type)


def cache_info(value_or_type) -> CacheInfo:
    """The parameters of a cache type (or of a cache value's type)."""
    ty = value_or_type.type if hasattr(value_or_type, "type") else value_or_type
    info = dynamic_type_info(ty)
    if info is None or info[0] != "kvcache.cache":
        raise TypeError(f"expected a !kvcache.cache type, got {ty}")
    return _params_info(info[1])


def _is_float(ty: ir.Type) -> bool:
    return isinstance(ty, (ir.F16Type, ir.BF16Type, ir.F32Type, ir.F64Type))


def _is_storage_float(ty: ir.Type) -> bool:
    return isinstance(ty, (ir.F16Type, ir.BF16Type, ir.F32Type))


def _param_kind_errors(params) -> str | None:
    kinds = (ir.StringAttr, ir.IntegerAttr, ir.DenseI64ArrayAttr, ir.TypeAttr, ir.DictAttr)
    names = ("kind (a string)", "max_seq (an integer)", "token_shape (array<i64: ...>)", "element (a type)",
             "storage (a dictionary)")
    for param, kind, name in zip(params, kinds, names):
        if not isinstance(param, kind):
            return f"parameter {name} is malformed: {param}"
    return None


@type_rule("kvcache.cache")
def _verify_cache_type(params):
    problem = _param_kind_errors(params)
    if problem:
        return problem
    kind = ir.StringAttr(params[0]).value
    if kind not in KINDS:
        return f"kind must be one of {', '.join(repr(k) for k in KINDS)}, got '{kind}'"
    storage = {entry.name: entry.attr for entry in ir.DictAttr(params[4])}
    unknown = sorted(set(storage) - set(STORAGE_KEYS))
    if unknown:
        return f"unknown storage option(s) {', '.join(unknown)} (known: {', '.join(STORAGE_KEYS)})"
    checks = {"group_size": ir.IntegerAttr, "residual": ir.IntegerAttr, "quant_axis": ir.StringAttr,
              "delta": ir.UnitAttr, "scale_type": ir.TypeAttr}
    for key, kind_ in checks.items():
        if key in storage and not isinstance(storage[key], kind_):
            return f"storage option '{key}' must be a {kind_.__name__}, got {storage[key]}"
    info = _params_info(params)
    if info.max_seq <= 0:
        return f"max_seq must be positive, got {info.max_seq}"
    rank = 2 if kind == "kv" else 1
    if len(info.token_shape) != rank:
        layout = "[heads, head_dim]" if kind == "kv" else ("[hidden]" if kind == "x" else "[rank]")
        return f"a '{kind}' cache has a rank-{rank} token shape {layout}, got {len(info.token_shape)} dims"
    if any(d <= 0 for d in info.token_shape):
        return f"token shape dims must be positive, got {list(info.token_shape)}"
    nested = type_error(info.element)
    if nested:
        return f"element: {nested}"
    if not info.quantized:
        if not _is_storage_float(info.element):
            return f"element must be f32, f16, bf16 or a lowbit format, got {info.element}"
        present = [k for k in STORAGE_KEYS if k in storage]
        if present:
            return f"storage option(s) {', '.join(present)} need quantized storage (a lowbit element type)"
        return None
    if info.group_size is None:
        return f"quantized storage ({lowbit.format_name(info.element)}) needs a group_size"
    if info.group_size <= 0:
        return f"group_size must be positive, got {info.group_size}"
    if info.quant_axis not in QUANT_AXES:
        return f"quant_axis must be 'token' or 'channel', got '{info.quant_axis}'"
    if not 0 <= info.residual <= info.max_seq:
        return f"residual must be in [0, max_seq = {info.max_seq}], got {info.residual}"
    if info.quant_axis == "token":
        channels = info.token_shape[-1]
        if channels % info.group_size:
            return (f"group_size {info.group_size} must divide the last token dim {channels} "
                    f"(quant_axis = token groups channels within a token)")
    else:
        if info.max_seq % info.group_size:
            return (f"group_size {info.group_size} must divide max_seq {info.max_seq} "
                    f"(quant_axis = channel groups consecutive tokens)")
        if info.residual < info.group_size or info.residual % info.group_size:
            return (f"quant_axis = channel needs residual to be a positive multiple of group_size "
                    f"{info.group_size} (tokens wait unquantized until a group is full), got {info.residual}")
    if info.delta and kind != "x":
        return f"delta (XQuant-CL) storage applies to 'x' caches only, not '{kind}'"
    if info.delta and (info.quant_axis != "token" or info.residual):
        return ("delta (XQuant-CL) storage quantizes each token when it is written: it needs quant_axis = token "
                "and residual = 0")
    if not _is_storage_float(info.scale_type):
        return f"scale_type must be f32, f16 or bf16, got {info.scale_type}"
    return None


# -------------------------------------------------------------------------- ops
CREATE = OpSpec("kvcache.create", results=(("cache", SINGLE),), summary="an empty cache (length 0)")
APPEND = OpSpec(
    "kvcache.append",
    operands=(("cache", SINGLE), ("pos", SINGLE), ("values", VARIADIC)),
    results=(("new_cache", SINGLE),),
    summary="write tokens [pos, pos + T): kv takes K and V, x/latent the source",
)
APPEND_DELTA = OpSpec(
    "kvcache.append_delta",
    operands=(("cache", SINGLE), ("pos", SINGLE), ("accumulator", SINGLE), ("input", SINGLE)),
    results=(("new_cache", SINGLE), ("new_accumulator", SINGLE)),
    summary="XQuant-CL write of Q(input - acc); returns acc + deq(Q(input - acc))",
)
READ = OpSpec(
    "kvcache.read",
    operands=(("cache", SINGLE), ("length", SINGLE), ("accumulator", OPTIONAL)),
    results=(("outputs", VARIADIC),),
    summary="the dequantized window [0, length): K, V for kv; the source for x/latent",
)
REMAT = OpSpec(
    "kvcache.remat",
    operands=(("cache", SINGLE), ("length", SINGLE), ("accumulator", OPTIONAL)),
    results=(("key", OPTIONAL), ("value", OPTIONAL), ("window", OPTIONAL)),
    regions=1,
    summary="recompute K and/or V for [0, length) from the stored source with a region",
)
OPS = (CREATE, APPEND, APPEND_DELTA, READ, REMAT)


def _index(value, loc=None) -> ir.Value:
    """An index SSA value; Python ints become arith.constant."""
    if isinstance(value, int):
        from mlir.dialects import arith

        return arith.ConstantOp(ir.IndexType.get(), value, loc=loc).result
    return value


def constant_index(value: ir.Value) -> int | None:
    """The value of an index/integer produced by arith.constant, else None."""
    owner = value.owner
    if not isinstance(owner, (ir.Operation, ir.OpView)):
        return None
    op = owner.operation
    if op.name != "arith.constant" or "value" not in op.attributes:
        return None
    attr = op.attributes["value"]
    return ir.IntegerAttr(attr).value if isinstance(attr, ir.IntegerAttr) else None


def build_create(ty: ir.Type, *, loc=None, ip=None):
    return CREATE.view(CREATE.build({}, {"cache": ty}, loc=loc, ip=ip))


def build_append(cache: ir.Value, pos, values: Sequence[ir.Value], *, loc=None, ip=None):
    """cache' = append(cache, pos, K, V) for kv caches, append(cache, pos, X) otherwise."""
    with ip or ir.InsertionPoint.current:
        pos = _index(pos, loc)
        op = APPEND.build({"cache": cache, "pos": pos, "values": list(values)}, {"new_cache": cache.type}, loc=loc)
    return APPEND.view(op)


def build_append_delta(cache: ir.Value, pos, accumulator: ir.Value, x: ir.Value, *, loc=None, ip=None):
    """(cache', acc') = append_delta(cache, pos, acc, x): stores Q(x - acc), acc' = acc + deq(Q(x - acc))."""
    with ip or ir.InsertionPoint.current:
        pos = _index(pos, loc)
        op = APPEND_DELTA.build({"cache": cache, "pos": pos, "accumulator": accumulator, "input": x},
                                {"new_cache": cache.type, "new_accumulator": accumulator.type}, loc=loc)
    return APPEND_DELTA.view(op)


def _window_type(info: CacheInfo, length: ir.Value, element: ir.Type | None) -> ir.RankedTensorType:
    n = constant_index(length)
    return tensor(info.window_shape(DYN if n is None else n), element or ir.F32Type.get())


def build_read(cache: ir.Value, length, *, accumulator: ir.Value | None = None, element: ir.Type | None = None,
               loc=None, ip=None):
    """The window [0, length): ``view.outputs`` is [K, V] (kv) or [X] (x/latent).

    The element type defaults to the cache's for float storage and f32 for
    quantized storage; the leading dim is static when ``length`` is a constant."""
    info = cache_info(cache)
    with ip or ir.InsertionPoint.current:
        length = _index(length, loc)
        if element is None and accumulator is not None:
            element = ir.RankedTensorType(accumulator.type).element_type
        if element is None and not info.quantized:
            element = info.element
        out = _window_type(info, length, element)
        op = READ.build({"cache": cache, "length": length, "accumulator": accumulator},
                        {"outputs": [out] * info.num_stored}, loc=loc)
    return READ.view(op)


def build_remat(cache: ir.Value, length, *, body: Callable[[ir.Value, ir.Value], Sequence[ir.Value]],
                key_type: ir.Type | None = None, value_type: ir.Type | None = None,
                accumulator: ir.Value | None = None, window_element: ir.Type | None = None,
                with_window: bool = False, loc=None, ip=None):
    """Rematerialize K and/or V from an x/latent cache.

    ``body(window, positions)`` is called with the insertion point inside the
    region; it returns the values to yield: (key, value), (key,) or (value,),
    matching the result types given. ``window`` is ``[L, *token_shape]``
    (``window_element``, default f32; for delta caches acc + deq(stored)) and
    ``positions`` ``tensor<L x i64>`` (token positions 0..L-1)."""
    info = cache_info(cache)
    with ip or ir.InsertionPoint.current:
        length = _index(length, loc)
        window_t = _window_type(info, length, window_element)
        positions_t = tensor([window_t.shape[0]], ir.IntegerType.get_signless(64))
        results = {"key": key_type, "value": value_type, "window": window_t if with_window else None}
        op = REMAT.build({"cache": cache, "length": length, "accumulator": accumulator}, results, loc=loc)
    block = op.regions[0].blocks.append(window_t, positions_t)
    with ir.InsertionPoint(block):
        yielded = body(block.arguments[0], block.arguments[1])
        build_terminator(list(yielded), loc=loc)
    return REMAT.view(op)


@dataclass
class RematBody:
    block: ir.Block
    window: ir.Value  # [L, *token_shape], the dequantized source window
    positions: ir.Value  # tensor<L x i64>
    yielded: list  # the values given to the terminator: (key?, value?)
    terminator: ir.Operation | None


def remat_body(view) -> RematBody:
    """The region of a ``kvcache.remat`` view: its block, arguments and yielded values."""
    region = view.op.regions[0]
    block = list(region.blocks)[0]
    term = region_terminator(region)
    return RematBody(block, block.arguments[0], block.arguments[1],
                     list(term.operands) if term is not None else [], term)


# ---------------------------------------------------------------- verifier rules



def _cache_of(view) -> CacheInfo:
    return cache_info(view.cache)  # IRDL guarantees a !kvcache.cache


def _check_window(ty: ir.RankedTensorType, info: CacheInfo, what: str, *, float_only=True) -> int:
    """Checks ty = [T, *token_shape] with a float element; returns T."""
    expected = info.window_shape(ty.shape[0] if ty.rank else DYN)
    if ty.rank != len(expected) or not all(same_dim(a, b) for a, b in zip(ty.shape, expected)):
        raise VerifyError(f"{what} shape {shape_str(ty.shape)} must be [tokens, {', '.join(map(str, info.token_shape))}] "
                          f"for this cache")
    if float_only and not _is_float(ty.element_type):
        raise VerifyError(f"{what} must have a float element type, got {ty.element_type}")
    tokens = ty.shape[0]
    if tokens != DYN and tokens > info.max_seq:
        raise VerifyError(f"{what} holds {tokens} tokens, more than max_seq = {info.max_seq}")
    return tokens


def _check_write_range(view, info: CacheInfo, tokens: int, what: str):
    if tokens == 0:
        raise VerifyError(f"{what} must hold at least one token")
    pos = constant_index(view.pos)
    if pos is None:
        return
    if pos < 0:
        raise VerifyError(f"pos must be non-negative, got {pos}")
    if tokens != DYN and pos + tokens > info.max_seq:
        raise VerifyError(f"writing {tokens} token(s) at pos {pos} overflows max_seq = {info.max_seq}")


def _check_length(view, info: CacheInfo, tokens: int, what: str):
    length = constant_index(view.length)
    if length is None:
        return
    if not 0 <= length <= info.max_seq:
        raise VerifyError(f"length {length} is out of range [0, max_seq = {info.max_seq}]")
    if tokens != DYN and tokens != length:
        raise VerifyError(f"{what} holds {tokens} tokens but length is {length}")


def _check_accumulator(view, info: CacheInfo, window_type: ir.Type | None):
    acc = view.accumulator
    if info.delta and acc is None:
        raise VerifyError("a delta (XQuant-CL) cache needs the previous layer's accumulator operand")
    if not info.delta and acc is not None:
        raise VerifyError("accumulator is only meaningful for delta (XQuant-CL) caches")
    if acc is not None and window_type is not None and acc.type != window_type:
        raise VerifyError(f"accumulator type {acc.type} must equal the window type {window_type}")


@op_rule("kvcache.append")
def _verify_append(op):
    view = APPEND.view(op)
    info = _cache_of(view)
    if view.new_cache.type != view.cache.type:
        raise VerifyError(f"result type {view.new_cache.type} must equal the cache type {view.cache.type}")
    if info.delta:
        raise VerifyError("the cache stores cross-layer deltas: write it with kvcache.append_delta")
    values = view.values
    if len(values) != info.num_stored:
        what = "K and V" if info.kind == "kv" else "one source tensor"
        raise VerifyError(f"a '{info.kind}' cache takes {what} ({info.num_stored} value(s)), got {len(values)}")
    for index, value in enumerate(values):
        tokens = _check_window(ranked(value, f"value #{index}"), info, f"value #{index}")
        _check_write_range(view, info, tokens, f"value #{index}")


@op_rule("kvcache.append_delta")
def _verify_append_delta(op):
    view = APPEND_DELTA.view(op)
    info = _cache_of(view)
    if not info.delta:
        raise VerifyError("kvcache.append_delta needs a delta (XQuant-CL) cache: storage option 'delta'")
    if view.new_cache.type != view.cache.type:
        raise VerifyError(f"result type {view.new_cache.type} must equal the cache type {view.cache.type}")
    x = ranked(view.input, "input")
    acc = ranked(view.accumulator, "accumulator")
    tokens = _check_window(x, info, "input")
    _check_window(acc, info, "accumulator")
    if list(acc.shape) != list(x.shape):
        raise VerifyError(f"accumulator shape {shape_str(acc.shape)} must equal the input shape {shape_str(x.shape)}")
    if view.new_accumulator.type != view.accumulator.type:
        raise VerifyError(f"new_accumulator type {view.new_accumulator.type} must equal the accumulator type "
                          f"{view.accumulator.type}")
    _check_write_range(view, info, tokens, "input")


@op_rule("kvcache.read")
def _verify_read(op):
    view = READ.view(op)
    info = _cache_of(view)
    outputs = view.outputs
    if len(outputs) != info.num_stored:
        what = "K and V" if info.kind == "kv" else "the source"
        raise VerifyError(f"reading a '{info.kind}' cache yields {what} ({info.num_stored} result(s)), got {len(outputs)}")
    window = None
    for index, value in enumerate(outputs):
        ty = ranked(value, f"result #{index}")
        tokens = _check_window(ty, info, f"result #{index}")
        _check_length(view, info, tokens, f"result #{index}")
        window = ty
    _check_accumulator(view, info, window)


@op_rule("kvcache.remat")
def _verify_remat(op):
    view = REMAT.view(op)
    info = _cache_of(view)
    if not info.rematerializes:
        raise VerifyError(f"rematerialization needs a stored source: cache kind must be 'x' or 'latent', got '{info.kind}'")
    region = op.regions[0]
    block = list(region.blocks)[0]
    args = list(block.arguments)
    if len(args) != 2:
        raise VerifyError(f"body must take 2 arguments (window, positions), got {len(args)}")
    window = ranked(args[0], "body argument #0 (window)")
    tokens = _check_window(window, info, "body argument #0 (window)")
    _check_length(view, info, tokens, "body argument #0 (window)")
    positions = ranked(args[1], "body argument #1 (positions)")
    i64 = ir.IntegerType.get_signless(64, context=op.context)
    if positions.rank != 1 or positions.element_type != i64 or not same_dim(positions.shape[0], tokens):
        raise VerifyError(f"body argument #1 (positions) must be tensor<{shape_str([tokens])}xi64>, got {positions}")
    produced = [r for r in (view.key, view.value) if r is not None]
    if not produced:
        raise VerifyError("must produce a key, a value or both")
    for name in ("key", "value"):
        result = getattr(view, name)
        if result is None:
            continue
        ty = ranked(result, name)
        if ty.rank < 1 or not same_dim(ty.shape[0], tokens):
            raise VerifyError(f"{name} shape {shape_str(ty.shape)} must start with the window's "
                              f"{shape_str([tokens])} tokens")
        if not _is_float(ty.element_type):
            raise VerifyError(f"{name} must have a float element type, got {ty.element_type}")
    term = region_terminator(region)
    if term is None:
        raise VerifyError(f"body must end with {REGION_TERMINATOR} yielding (key?, value?)")
    got = [str(v.type) for v in term.operands]
    expected = [str(r.type) for r in produced]
    if got != expected:
        raise VerifyError(f"body yields ({', '.join(got)}) but the op produces ({', '.join(expected)})")
    if view.window is not None and view.window.type != args[0].type:
        raise VerifyError(f"window result type {view.window.type} must equal the body's window argument {args[0].type}")
    _check_accumulator(view, info, args[0].type)
