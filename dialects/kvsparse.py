"""Python side of the ``kvsparse`` dialect: encodings, storage layouts, op builders, verifier rules.

The dialect itself is ``kvsparse.irdl.mlir``; its spec is ``kvsparse.md``. A
compressed operand is a builtin tensor with the logical shape and element type
and an encoding attribute naming the format:

* ``#kvsparse.bitmap<"token">`` / ``#kvsparse.bitmap<"channel">`` - Mustafar
  64-element bitmap tiles (K tiles run along tokens, V tiles along channels);
* ``#kvsparse.bitmask`` - SparAMX weights: one bit per weight in i32 words and
  the nonzeros stored contiguously;
* N:M structured sparsity - the upstream encoding
  ``#sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv M : dense,
  j mod M : structured[N, M])}>`` (:func:`nm_encoding`).

:func:`format_of` reads the format of a type; :func:`storage_types` gives the
storage buffers ``kvsparse.assemble``/``disassemble`` take and return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlir import ir

from kvc.diagnostics import VerifyError
from kvc.irdl_ops import OPTIONAL, SINGLE, OpSpec, i64, shape_of, tensor
from kvc.irdl_types import split_top_level
from kvc.verifier import DYN, op_rule, ranked, same_dim, shape_str

TILE = 64  # elements per Mustafar tile (one 64-bit bitmap)
VALUE_PAD = 8  # a tile's nonzeros are padded to a multiple of this
MASK_WORD = 32  # weights per SparAMX mask word (i32)
TILE_LAYOUTS = ("token", "channel")

# -------------------------------------------------------------------- encodings


def bitmap_encoding(tiles: str) -> ir.Attribute:
    """``#kvsparse.bitmap<"token">`` (K) or ``#kvsparse.bitmap<"channel">`` (V)."""
    return ir.Attribute.parse(f'#kvsparse.bitmap<"{tiles}">')


def bitmask_encoding() -> ir.Attribute:
    return ir.Attribute.parse("#kvsparse.bitmask")


def nm_encoding(n: int, m: int) -> ir.Attribute:
    """The upstream sparse_tensor encoding of N:M sparsity along the last axis of a 2-D tensor."""
    return ir.Attribute.parse(
        f"#sparse_tensor.encoding<{{map = (i, j) -> (i : dense, j floordiv {m} : dense, j mod {m} : structured[{n}, {m}])}}>"
    )


def compressed_type(shape: Sequence[int], element: ir.Type, encoding: ir.Attribute) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), element, encoding)


@dataclass(frozen=True)
class Format:
    """The sparse format of a tensor type: kind "bitmap" (tiles), "bitmask" or "nm" (n, m)."""

    kind: str
    tiles: str | None = None
    n: int | None = None
    m: int | None = None

    def __str__(self) -> str:
        if self.kind == "bitmap":
            return f'#kvsparse.bitmap<"{self.tiles}">'
        if self.kind == "nm":
            return f"{self.n}:{self.m} structured"
        return "#kvsparse.bitmask"


def _kvsparse_attr(attr: ir.Attribute) -> tuple[str, list[str]] | None:
    text = str(attr)
    if not text.startswith("#kvsparse."):
        return None
    body = text[len("#kvsparse."):]
    lt = body.find("<")
    if lt < 0:
        return body, []
    return body[:lt], split_top_level(body[lt + 1 : -1])


def _nm_of(attr: ir.Attribute) -> tuple[int, int] | str | None:
    """(n, m) for an upstream N:M encoding, an error text for another sparse_tensor encoding, None otherwise."""
    from mlir.dialects import sparse_tensor as st

    try:
        enc = st.EncodingAttr(attr)
    except ValueError:
        return None
    formats = list(enc.lvl_formats_enum)
    if len(formats) != 3 or formats[-1] != st.LevelFormat.n_out_of_m:
        return f"sparse_tensor encoding {attr} is not N:M structured (levels: dense, dense, structured[N, M])"
    n, m = enc.structured_n, enc.structured_m
    expected = f"(d0, d1) -> (d0, d1 floordiv {m}, d1 mod {m})"
    if formats[:2] != [st.LevelFormat.dense, st.LevelFormat.dense] or str(enc.dim_to_lvl) != expected:
        return f"N:M encoding must map (i, j) -> (i : dense, j floordiv {m} : dense, j mod {m} : structured[{n}, {m}])"
    return n, m


def format_of(value_or_type) -> Format | None:
    """The sparse format of a tensor (value or type), None for a dense tensor or another encoding."""
    ty = value_or_type.type if hasattr(value_or_type, "type") else value_or_type
    if not isinstance(ty, ir.RankedTensorType):
        return None
    enc = ir.RankedTensorType(ty).encoding
    if enc is None:
        return None
    own = _kvsparse_attr(enc)
    if own is not None:
        name, params = own
        if name == "bitmap" and len(params) == 1:
            return Format("bitmap", tiles=ir.StringAttr(ir.Attribute.parse(params[0], ty.context)).value)
        if name == "bitmask":
            return Format("bitmask")
        return None
    nm = _nm_of(enc)
    return Format("nm", n=nm[0], m=nm[1]) if isinstance(nm, tuple) else None


def tile_grid(shape: Sequence[int], tiles: str) -> list[int]:
    """The grid of Mustafar tiles over a logical [T, (H,) D] tensor, tiles enumerated row-major.

    "token": tile (b, [h,] d) holds x[64 b + j, [h,] d]; "channel": tile (t, [h,] c) holds x[t, [h,] 64 c + j]."""
    grid = list(shape)
    axis = 0 if tiles == "token" else len(grid) - 1
    if grid[axis] != DYN:
        grid[axis] = grid[axis] // TILE
    return grid


def num_tiles(shape: Sequence[int], tiles: str) -> int:
    grid = tile_grid(shape, tiles)
    return DYN if DYN in grid else math.prod(grid)


def storage_layout(ty: ir.RankedTensorType, values_length: int = DYN) -> dict[str, tuple[list[int], ir.Type] | None]:
    """(shape, element type) of each storage buffer of a kvsparse-compressed type.

    Keys "bitmap", "offsets" (None for bitmask), "values"; see the spec for the layouts."""
    fmt = format_of(ty)
    shape, element = list(ty.shape), ty.element_type
    if fmt is None or fmt.kind == "nm":
        raise ValueError(f"kvsparse storage is defined for #kvsparse encodings only (N:M uses the upstream sparse_tensor storage), got {ty}")
    i32 = ir.IntegerType.get_signless(32, context=ty.context)
    if fmt.kind == "bitmap":
        count = num_tiles(shape, fmt.tiles)
        return {
            "bitmap": ([count], ir.IntegerType.get_signless(64, context=ty.context)),
            "offsets": ([DYN if count == DYN else count + 1], i32),
            "values": ([values_length], element),
        }
    n, k = shape
    return {"bitmap": ([n, DYN if k == DYN else -(-k // MASK_WORD)], i32), "offsets": None,
            "values": ([values_length], element)}


def storage_types(ty: ir.RankedTensorType, values_length: int = DYN) -> dict[str, ir.RankedTensorType | None]:
    """The storage buffer types of a compressed type: {"bitmap", "offsets", "values"}."""
    return {name: None if entry is None else tensor(*entry) for name, entry in storage_layout(ty, values_length).items()}


# -------------------------------------------------------------------------- ops
PRUNE = OpSpec("kvsparse.prune", operands=(("input", SINGLE),), results=(("output", SINGLE),),
               attributes=("sparsity", "keep_recent"),
               summary="per-token magnitude pruning along the last axis; newest tokens stay dense")
COMPRESS = OpSpec("kvsparse.compress", operands=(("input", SINGLE),), results=(("output", SINGLE),),
                  summary="dense -> compressed (format from the result encoding)")
DECOMPRESS = OpSpec("kvsparse.decompress", operands=(("input", SINGLE),), results=(("output", SINGLE),),
                    summary="compressed -> dense")
ASSEMBLE = OpSpec("kvsparse.assemble", operands=(("bitmap", SINGLE), ("offsets", OPTIONAL), ("values", SINGLE)),
                  results=(("output", SINGLE),), summary="storage buffers -> compressed tensor")
DISASSEMBLE = OpSpec("kvsparse.disassemble", operands=(("input", SINGLE),),
                     results=(("bitmap", SINGLE), ("offsets", OPTIONAL), ("values", SINGLE)),
                     summary="compressed tensor -> storage buffers")
MATMUL = OpSpec("kvsparse.matmul", operands=(("input", SINGLE), ("weight", SINGLE)), results=(("output", SINGLE),),
                summary="out[..., N] = x[..., K] . W[N, K]^T, W compressed (bitmask or N:M)")
ATTENTION = OpSpec(
    "kvsparse.attention",
    operands=(("query", SINGLE), ("keys", SINGLE), ("values", SINGLE), ("recent_keys", OPTIONAL),
              ("recent_values", OPTIONAL)),
    results=(("output", SINGLE),),
    attributes=("scale",),
    summary="decode attention softmax(scale q K^T) V over bitmap-compressed K/V (+ dense recent K/V)",
)
OPS = (PRUNE, COMPRESS, DECOMPRESS, ASSEMBLE, DISASSEMBLE, MATMUL, ATTENTION)


def _f32(value: float) -> ir.FloatAttr:
    return ir.FloatAttr.get(ir.F32Type.get(), value)


def build_prune(x: ir.Value, *, sparsity: float, keep_recent: int = 0, loc=None, ip=None):
    op = PRUNE.build({"input": x}, {"output": x.type},
                     {"sparsity": _f32(sparsity), "keep_recent": i64(keep_recent)}, loc=loc, ip=ip)
    return PRUNE.view(op)


def build_compress(x: ir.Value, encoding: ir.Attribute, *, loc=None, ip=None):
    ty = ir.RankedTensorType(x.type)
    out = compressed_type(ty.shape, ty.element_type, encoding)
    return COMPRESS.view(COMPRESS.build({"input": x}, {"output": out}, loc=loc, ip=ip))


def build_decompress(c: ir.Value, *, loc=None, ip=None):
    ty = ir.RankedTensorType(c.type)
    return DECOMPRESS.view(DECOMPRESS.build({"input": c}, {"output": tensor(ty.shape, ty.element_type)}, loc=loc, ip=ip))


def build_assemble(result_type: ir.Type, bitmap: ir.Value, values: ir.Value, *, offsets: ir.Value | None = None,
                   loc=None, ip=None):
    op = ASSEMBLE.build({"bitmap": bitmap, "offsets": offsets, "values": values}, {"output": result_type}, loc=loc, ip=ip)
    return ASSEMBLE.view(op)


def build_disassemble(c: ir.Value, *, values_length: int = DYN, loc=None, ip=None):
    types = storage_types(ir.RankedTensorType(c.type), values_length)
    op = DISASSEMBLE.build({"input": c}, types, loc=loc, ip=ip)
    return DISASSEMBLE.view(op)


def build_matmul(x: ir.Value, w: ir.Value, *, loc=None, ip=None):
    xt = ir.RankedTensorType(x.type)
    out = tensor(list(xt.shape[:-1]) + [shape_of(w)[0]], xt.element_type)
    return MATMUL.view(MATMUL.build({"input": x, "weight": w}, {"output": out}, loc=loc, ip=ip))


def build_attention(q: ir.Value, keys: ir.Value, values: ir.Value, *, recent_keys: ir.Value | None = None,
                    recent_values: ir.Value | None = None, scale: float | None = None, loc=None, ip=None):
    """out[Hq, D] = softmax(scale * q K^T) V per head (GQA: query head h reads KV head h // (Hq / Hkv))."""
    head_dim = shape_of(q)[-1]
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    op = ATTENTION.build({"query": q, "keys": keys, "values": values, "recent_keys": recent_keys,
                          "recent_values": recent_values}, {"output": q.type}, {"scale": _f32(scale)}, loc=loc, ip=ip)
    return ATTENTION.view(op)


# ---------------------------------------------------------------- verifier rules


def _same_shape(a, b) -> bool:
    return len(a) == len(b) and all(same_dim(x, y) for x, y in zip(a, b))


def _is_float(ty: ir.Type) -> bool:
    return isinstance(ty, (ir.F16Type, ir.BF16Type, ir.F32Type))



def _dense(value: ir.Value, what: str) -> ir.RankedTensorType:
    ty = ranked(value, what)
    if ty.encoding is not None:
        raise VerifyError(f"{what} must be a dense tensor (no encoding), got {ty}")
    return ty


def _format(value: ir.Value, what: str) -> tuple[ir.RankedTensorType, Format]:
    """Checks that value is compressed in a supported, well-formed format."""
    ty = ranked(value, what)
    enc = ty.encoding
    if enc is None:
        raise VerifyError(f"{what} must be compressed (#kvsparse.bitmap, #kvsparse.bitmask or N:M), got dense {ty}")
    own = _kvsparse_attr(enc)
    if own is None:
        nm = _nm_of(enc)
        if nm is None:
            raise VerifyError(f"{what} encoding {enc} is not a kvsparse format "
                              f"(#kvsparse.bitmap, #kvsparse.bitmask or N:M)")
        if isinstance(nm, str):
            raise VerifyError(f"{what}: {nm}")
        fmt = Format("nm", n=nm[0], m=nm[1])
    else:
        fmt = format_of(ty)
    if not _is_float(ty.element_type):
        raise VerifyError(f"{what} must have an f16, bf16 or f32 element type, got {ty.element_type}")
    shape = list(ty.shape)
    if fmt.kind == "bitmap":
        if fmt.tiles not in TILE_LAYOUTS:
            raise VerifyError(f"{what}: bitmap tiles must be 'token' or 'channel', got '{fmt.tiles}'")
        if ty.rank not in (2, 3):
            raise VerifyError(f"{what}: bitmap tiles need a [tokens, (heads,) channels] tensor, got rank {ty.rank}")
        axis = 0 if fmt.tiles == "token" else ty.rank - 1
        if shape[axis] != DYN and shape[axis] % TILE:
            what_axis = "tokens" if fmt.tiles == "token" else "channels"
            raise VerifyError(f"{what}: '{fmt.tiles}' tiles need {what_axis} (dim {axis} = {shape[axis]}) to be a "
                              f"multiple of {TILE}")
    elif fmt.kind == "bitmask":
        if ty.rank != 2:
            raise VerifyError(f"{what}: a bitmask weight is 2-D [N, K], got {shape_str(shape)}")
    elif shape[-1] != DYN and shape[-1] % fmt.m:
        raise VerifyError(f"{what}: {fmt.n}:{fmt.m} sparsity needs K = {shape[-1]} to be a multiple of {fmt.m}")
    return ty, fmt


def _buffer_str(shape, element) -> str:
    return f"tensor<{shape_str(shape)}x{element}>"


def _verify_storage(view, compressed: ir.RankedTensorType, fmt: Format):
    if fmt.kind == "nm":
        raise VerifyError("N:M tensors use the upstream sparse_tensor.assemble/disassemble")
    expected = storage_layout(compressed)
    bitmap = ranked(view.bitmap, "bitmap")
    shape, element = expected["bitmap"]
    if not _same_shape(bitmap.shape, shape) or bitmap.element_type != element:
        raise VerifyError(f"bitmap must be {_buffer_str(shape, element)} for {compressed}, got {bitmap}")
    if fmt.kind == "bitmap":
        if view.offsets is None:
            raise VerifyError("bitmap tiles need the offsets buffer (prefix sums of the padded tile sizes)")
        offsets = ranked(view.offsets, "offsets")
        shape, element = expected["offsets"]
        if not _same_shape(offsets.shape, shape) or offsets.element_type != element:
            raise VerifyError(f"offsets must be {_buffer_str(shape, element)} (one more than the tiles), got {offsets}")
        tiles = expected["bitmap"][0][0]
        capacity = DYN if tiles == DYN else tiles * TILE
    else:
        if view.offsets is not None:
            raise VerifyError("a bitmask weight has no offsets buffer")
        n, k = compressed.shape
        capacity = DYN if DYN in (n, k) else n * k
    values = ranked(view.values, "values")
    if values.rank != 1 or values.element_type != compressed.element_type:
        raise VerifyError(f"values must be a 1-D tensor of {compressed.element_type}, got {values}")
    length = values.shape[0]
    if length != DYN and capacity != DYN and length > capacity:
        raise VerifyError(f"values hold {length} elements, more than the {capacity} the tensor has")
    if fmt.kind == "bitmap" and length != DYN and length % VALUE_PAD:
        raise VerifyError(f"values length {length} must be a multiple of {VALUE_PAD} (each tile is padded)")


@op_rule("kvsparse.prune")
def _verify_prune(op):
    view = PRUNE.view(op)
    x = _dense(view.input, "input")
    if view.output.type != view.input.type:
        raise VerifyError(f"result type {view.output.type} must equal the input type {view.input.type}")
    if x.rank not in (2, 3):
        raise VerifyError(f"input must be [tokens, (heads,) head_dim], got rank {x.rank}")
    if not _is_float(x.element_type):
        raise VerifyError(f"input must have an f16, bf16 or f32 element type, got {x.element_type}")
    sparsity = ir.FloatAttr(view.sparsity).value
    if not 0.0 <= sparsity < 1.0:
        raise VerifyError(f"sparsity must be in [0, 1), got {sparsity}")
    keep = view.int_attr("keep_recent")
    if keep < 0:
        raise VerifyError(f"keep_recent must be non-negative, got {keep}")


def _verify_convert(dense: ir.RankedTensorType, compressed: ir.RankedTensorType):
    if list(dense.shape) != list(compressed.shape) or dense.element_type != compressed.element_type:
        raise VerifyError(f"dense {dense} and compressed {compressed} must have the same shape and element type")


@op_rule("kvsparse.compress")
def _verify_compress(op):
    view = COMPRESS.view(op)
    dense = _dense(view.input, "input")
    compressed, _ = _format(view.output, "result")
    _verify_convert(dense, compressed)


@op_rule("kvsparse.decompress")
def _verify_decompress(op):
    view = DECOMPRESS.view(op)
    compressed, _ = _format(view.input, "input")
    dense = _dense(view.output, "result")
    _verify_convert(dense, compressed)


@op_rule("kvsparse.assemble")
def _verify_assemble(op):
    view = ASSEMBLE.view(op)
    compressed, fmt = _format(view.output, "result")
    _verify_storage(view, compressed, fmt)


@op_rule("kvsparse.disassemble")
def _verify_disassemble(op):
    view = DISASSEMBLE.view(op)
    compressed, fmt = _format(view.input, "input")
    _verify_storage(view, compressed, fmt)


@op_rule("kvsparse.matmul")
def _verify_matmul(op):
    view = MATMUL.view(op)
    x = _dense(view.input, "input")
    w, fmt = _format(view.weight, "weight")
    if fmt.kind == "bitmap":
        raise VerifyError("weight must be a #kvsparse.bitmask or N:M weight; bitmap tiles are for the KV cache")
    if not _is_float(x.element_type):
        raise VerifyError(f"input must have an f16, bf16 or f32 element type, got {x.element_type}")
    if x.rank < 1 or not same_dim(x.shape[-1], w.shape[1]):
        raise VerifyError(f"input's last dimension {shape_str(x.shape[-1:])} must equal the weight's K = {w.shape[1]}")
    out = _dense(view.output, "result")
    expected = list(x.shape[:-1]) + [w.shape[0]]
    if not _same_shape(out.shape, expected) or out.element_type != x.element_type:
        raise VerifyError(f"result {out} must be {shape_str(expected)} of the input's {x.element_type}")


@op_rule("kvsparse.attention")
def _verify_attention(op):
    view = ATTENTION.view(op)
    q = _dense(view.query, "query")
    if q.rank != 2 or not _is_float(q.element_type):
        raise VerifyError(f"query must be a float [heads, head_dim] tensor (one decode token), got {q}")
    keys, kfmt = _format(view.keys, "keys")
    values, vfmt = _format(view.values, "values")
    if kfmt.kind != "bitmap" or kfmt.tiles != "token":
        raise VerifyError(f'keys must use #kvsparse.bitmap<"token"> tiles (64 tokens of one channel), got {kfmt}')
    if vfmt.kind != "bitmap" or vfmt.tiles != "channel":
        raise VerifyError(f'values must use #kvsparse.bitmap<"channel"> tiles (64 channels of one token), got {vfmt}')
    if keys.rank != 3 or not _same_shape(keys.shape, values.shape):
        raise VerifyError(f"keys and values must both be [tokens, kv_heads, head_dim], got {shape_str(keys.shape)} "
                          f"and {shape_str(values.shape)}")
    _, kv_heads, head_dim = keys.shape
    if not same_dim(q.shape[1], head_dim):
        raise VerifyError(f"query head_dim {q.shape[1]} must equal the cache's {head_dim}")
    if DYN not in (q.shape[0], kv_heads) and q.shape[0] % kv_heads:
        raise VerifyError(f"query heads {q.shape[0]} must be a multiple of the KV heads {kv_heads} (GQA)")
    recent_k, recent_v = view.recent_keys, view.recent_values
    if (recent_k is None) != (recent_v is None):
        raise VerifyError("recent_keys and recent_values come together (the newest tokens kept dense)")
    if recent_k is not None:
        rk = _dense(recent_k, "recent_keys")
        if recent_v.type != recent_k.type:
            raise VerifyError(f"recent_values type {recent_v.type} must equal the recent_keys type {recent_k.type}")
        if rk.rank != 3 or not _same_shape(rk.shape[1:], keys.shape[1:]) or rk.element_type != keys.element_type:
            raise VerifyError(f"recent_keys must be [recent, {kv_heads}, {head_dim}] of {keys.element_type}, got {rk}")
    if view.output.type != view.query.type:
        raise VerifyError(f"result type {view.output.type} must equal the query type {view.query.type}")
    scale = ir.FloatAttr(view.scale).value
    if not scale > 0.0:
        raise VerifyError(f"scale must be positive, got {scale}")
