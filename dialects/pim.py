"""Python side of the ``pim`` dialect: device configs, program/command builders, verifier rules.

The dialect itself is ``pim.irdl.mlir``; its spec is ``pim.md``. A
``pim.program`` carries a device configuration (:class:`DeviceConfig`) and a
body of commands in issue order. Device commands address channel ranges
``[channel, channel + num_channels)``, banks (``ALL_BANKS`` = -1 where a
command may broadcast), rows and columns with integer attributes; their
operands/results are host tensors moving into or out of the device.

Build a program with :func:`build_program` (the body callback runs with the
insertion point inside the body); command builders find the enclosing program
and its configuration by themselves. :class:`Placement` is the data layout of
``pim.place`` (where element [n, k] of a matrix lives), shared by the lowering
and the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlir import ir

from kvc.diagnostics import VerifyError
from kvc.irdl_ops import (
    REGION_TERMINATOR,
    SINGLE,
    VARIADIC,
    OpSpec,
    build_terminator,
    i64,
    region_terminator,
    tensor,
)
from kvc.verifier import DYN, op_rule, ranked, shape_str

REGISTER_BITS = 256  # one MAC operand / GB burst: 16 x 16-bit elements
ALL_BANKS = -1
ACTIVATIONS = ("relu", "gelu", "silu", "sigmoid", "tanh", "exp")
ELEMENTS = ("f16", "bf16")

# -------------------------------------------------------------------- devices


@dataclass(frozen=True)
class DeviceConfig:
    """Geometry of the PIM device a program targets (all counts per the next level up)."""

    channels: int = 32
    banks: int = 16  # per channel (AiM: 4 bank groups x 4 banks)
    rows: int = 16384  # per bank
    columns: int = 1024  # elements per row (a 2 KiB row of 16-bit elements)
    element: str = "f16"  # "f16" or "bf16"

    @property
    def element_bits(self) -> int:
        return 16

    @property
    def lanes(self) -> int:
        """Elements per 256-bit register / MAC operand / GB burst (16 for 16-bit elements)."""
        return REGISTER_BITS // self.element_bits

    @property
    def gb_size(self) -> int:
        """Elements in one channel's global buffer (one row)."""
        return self.columns

    def element_type(self, context: ir.Context | None = None) -> ir.Type:
        return ir.F16Type.get(context) if self.element == "f16" else ir.BF16Type.get(context)


# SK hynix GDDR6-AiM as modelled by the public Ramulator-2-based simulator (REFERENCES.md).
GDDR6_AIM = DeviceConfig(channels=32, banks=16, rows=16384, columns=1024, element="f16")


@dataclass(frozen=True)
class Placement:
    """Where ``pim.place`` puts a [N, K] matrix.

    Matrix row n goes to unit u = n mod U (U = num_channels x banks; unit u is
    channel ``channel + u // banks``, bank ``u % banks``), slot s = n div U.
    Each matrix row starts a fresh DRAM row and takes R = ceil(K / columns)
    consecutive rows: element k of slot s sits in DRAM row
    ``row + s * R + k div columns``, column ``k mod columns``."""

    config: DeviceConfig
    n: int
    k: int
    channel: int
    num_channels: int
    row: int

    @property
    def units(self) -> int:
        return self.num_channels * self.config.banks

    @property
    def slots(self) -> int:
        return -(-self.n // self.units)

    @property
    def rows_per_matrix_row(self) -> int:
        return -(-self.k // self.config.columns)

    @property
    def rows_used(self) -> int:
        return self.slots * self.rows_per_matrix_row

    def locate(self, n: int, k: int) -> tuple[int, int, int, int]:
        """(channel, bank, row, column) of matrix element [n, k]."""
        unit, slot = n % self.units, n // self.units
        return (self.channel + unit // self.config.banks, unit % self.config.banks,
                self.row + slot * self.rows_per_matrix_row + k // self.config.columns, k % self.config.columns)


# -------------------------------------------------------------------------- ops
PROGRAM_ATTRS = ("sym_name", "function_type", "channels", "banks", "rows", "columns", "element")
PROGRAM = OpSpec("pim.program", attributes=PROGRAM_ATTRS, regions=1,
                 summary="a device program: configuration + commands in issue order")
_CH = ("channel", "num_channels")
PLACE = OpSpec("pim.place", operands=(("matrix", SINGLE),), attributes=_CH + ("row",),
               summary="write a [N, K] matrix into the banks (round-robin rows over channel x bank units)")
ACTIVATE = OpSpec("pim.activate", attributes=_CH + ("bank", "row"), summary="ACT / ACT all banks")
PRECHARGE = OpSpec("pim.precharge", attributes=_CH + ("bank",), summary="PRE / PRE all banks")
WRITE_GB = OpSpec("pim.write_gb", operands=(("src", SINGLE),), attributes=_CH + ("col", "offset", "length"),
                  summary="WR_GB: host vector slice -> global buffer")
COPY_BANK_TO_GB = OpSpec("pim.copy_bank_to_gb", attributes=_CH + ("bank", "row", "col", "gb_col"),
                         summary="COPY_BKGB: one register from a bank's open row to the global buffer")
COPY_GB_TO_BANK = OpSpec("pim.copy_gb_to_bank", attributes=_CH + ("bank", "row", "col", "gb_col"),
                         summary="COPY_GBBK: one register from the global buffer to a bank's open row")
WRITE_BIAS = OpSpec("pim.write_bias", operands=(("bias", SINGLE),), attributes=_CH,
                    summary="WR_BIAS: set the MAC accumulators")
MAC_ALL_BANKS = OpSpec("pim.mac_all_banks", attributes=_CH + ("row", "col"),
                       summary="MAC_ABK: every bank accumulates dot(open row register, GB register)")
READ_MAC = OpSpec("pim.read_mac", results=(("output", SINGLE),), attributes=_CH,
                  summary="RD_MAC: read and clear the accumulators")
AF = OpSpec("pim.af", attributes=_CH + ("function",), summary="AF: activation function on the accumulators")
EWADD = OpSpec("pim.ewadd", attributes=_CH + ("row", "col"), summary="EWADD: open row register += GB register")
EWMUL = OpSpec("pim.ewmul", attributes=_CH + ("row", "col"), summary="EWMUL: open row register *= GB register")
SYNC = OpSpec("pim.sync", attributes=_CH, summary="SYNC: wait for the channels' commands")
HOST_CONCAT = OpSpec("pim.host_concat", operands=(("parts", VARIADIC),), results=(("output", SINGLE),),
                     summary="host: flatten + concatenate parts, keep the first N elements")
HOST_REDUCE = OpSpec("pim.host_reduce", operands=(("input", SINGLE),), results=(("output", SINGLE),),
                     summary="host: sum over the leading axis")
HOST_SOFTMAX = OpSpec("pim.host_softmax", operands=(("input", SINGLE),), results=(("output", SINGLE),),
                      attributes=("scale",), summary="host: softmax(scale * x) along the last axis")
HOST_COMPUTE = OpSpec("pim.host_compute", results=(("output", SINGLE),), regions=1,
                      summary="host: any upstream ops, yielding one tensor")
DEVICE_OPS = (PLACE, ACTIVATE, PRECHARGE, WRITE_GB, COPY_BANK_TO_GB, COPY_GB_TO_BANK, WRITE_BIAS, MAC_ALL_BANKS,
              READ_MAC, AF, EWADD, EWMUL, SYNC)
HOST_OPS = (HOST_CONCAT, HOST_REDUCE, HOST_SOFTMAX, HOST_COMPUTE)
OPS = (PROGRAM,) + DEVICE_OPS + HOST_OPS
_BY_NAME = {spec.name: spec for spec in OPS}


def spec_of(op) -> OpSpec | None:
    return _BY_NAME.get(op.operation.name)


def config_of(program) -> DeviceConfig:
    """The DeviceConfig of a pim.program (op or view)."""
    op = program.op if hasattr(program, "spec") else program.operation
    attrs = op.attributes
    element = ir.TypeAttr(attrs["element"]).value
    return DeviceConfig(*(ir.IntegerAttr(attrs[a]).value for a in ("channels", "banks", "rows", "columns")),
                        element="bf16" if isinstance(element, ir.BF16Type) else str(element))


def function_type(program) -> ir.FunctionType:
    op = program.op if hasattr(program, "spec") else program.operation
    return ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)


def body_block(program_or_host_compute) -> ir.Block:
    op = program_or_host_compute.op if hasattr(program_or_host_compute, "spec") else program_or_host_compute.operation
    return list(op.regions[0].blocks)[0]


def build_program(name: str, config: DeviceConfig, input_types: Sequence[ir.Type], result_types: Sequence[ir.Type],
                  body: Callable[..., Sequence[ir.Value]], *, loc=None, ip=None):
    """A pim.program named ``name``; ``body(*block_args)`` emits commands and returns the results."""
    fty = ir.FunctionType.get(list(input_types), list(result_types))
    attrs = {"sym_name": ir.StringAttr.get(name), "function_type": ir.TypeAttr.get(fty)}
    for key in ("channels", "banks", "rows", "columns"):
        attrs[key] = i64(getattr(config, key))
    attrs["element"] = ir.TypeAttr.get(config.element_type())
    op = PROGRAM.build({}, {}, attrs, loc=loc, ip=ip)
    block = op.regions[0].blocks.append(*input_types)
    with ir.InsertionPoint(block):
        results = body(*block.arguments)
        build_terminator(list(results or []), loc=loc)
    return PROGRAM.view(op)


def _current_config() -> DeviceConfig:
    owner = ir.InsertionPoint.current.block.owner
    if owner is None or owner.operation.name != PROGRAM.name:
        raise ValueError("pim commands are built directly inside a pim.program body")
    return config_of(owner)


def _range_attrs(channels: tuple[int, int] | None) -> dict[str, ir.Attribute]:
    if channels is None:
        channels = (0, _current_config().channels)
    first, count = channels
    return {"channel": i64(first), "num_channels": i64(count)}


def _command(spec: OpSpec, channels, operands=None, results=None, loc=None, ip=None, **attrs):
    attributes = _range_attrs(channels)
    for key, value in attrs.items():
        attributes[key] = ir.StringAttr.get(value) if isinstance(value, str) else i64(value)
    return spec.view(spec.build(operands or {}, results or {}, attributes, loc=loc, ip=ip))


# ``channels=(first, count)``; None = every channel of the program.
def build_place(matrix, *, row: int, channels=None, loc=None, ip=None):
    return _command(PLACE, channels, {"matrix": matrix}, row=row, loc=loc, ip=ip)


def build_activate(*, row: int, bank: int = ALL_BANKS, channels=None, loc=None, ip=None):
    return _command(ACTIVATE, channels, bank=bank, row=row, loc=loc, ip=ip)


def build_precharge(*, bank: int = ALL_BANKS, channels=None, loc=None, ip=None):
    return _command(PRECHARGE, channels, bank=bank, loc=loc, ip=ip)


def build_write_gb(src, *, col: int, offset: int, length: int, channels=None, loc=None, ip=None):
    return _command(WRITE_GB, channels, {"src": src}, col=col, offset=offset, length=length, loc=loc, ip=ip)


def build_copy_bank_to_gb(*, bank: int, row: int, col: int, gb_col: int, channels=None, loc=None, ip=None):
    return _command(COPY_BANK_TO_GB, channels, bank=bank, row=row, col=col, gb_col=gb_col, loc=loc, ip=ip)


def build_copy_gb_to_bank(*, bank: int, row: int, col: int, gb_col: int, channels=None, loc=None, ip=None):
    return _command(COPY_GB_TO_BANK, channels, bank=bank, row=row, col=col, gb_col=gb_col, loc=loc, ip=ip)


def build_write_bias(bias, *, channels=None, loc=None, ip=None):
    return _command(WRITE_BIAS, channels, {"bias": bias}, loc=loc, ip=ip)


def build_mac_all_banks(*, row: int, col: int, channels=None, loc=None, ip=None):
    return _command(MAC_ALL_BANKS, channels, row=row, col=col, loc=loc, ip=ip)


def build_read_mac(*, channels=None, loc=None, ip=None):
    config = _current_config()
    count = config.channels if channels is None else channels[1]
    result = tensor([count, config.banks], config.element_type())
    return _command(READ_MAC, channels, results={"output": result}, loc=loc, ip=ip)


def build_af(function: str, *, channels=None, loc=None, ip=None):
    return _command(AF, channels, function=function, loc=loc, ip=ip)


def build_ewadd(*, row: int, col: int, channels=None, loc=None, ip=None):
    return _command(EWADD, channels, row=row, col=col, loc=loc, ip=ip)


def build_ewmul(*, row: int, col: int, channels=None, loc=None, ip=None):
    return _command(EWMUL, channels, row=row, col=col, loc=loc, ip=ip)


def build_sync(*, channels=None, loc=None, ip=None):
    return _command(SYNC, channels, loc=loc, ip=ip)


def build_host_concat(parts: Sequence[ir.Value], length: int, *, loc=None, ip=None):
    element = ir.RankedTensorType(parts[0].type).element_type
    op = HOST_CONCAT.build({"parts": list(parts)}, {"output": tensor([length], element)}, loc=loc, ip=ip)
    return HOST_CONCAT.view(op)


def build_host_reduce(x, *, loc=None, ip=None):
    ty = ir.RankedTensorType(x.type)
    op = HOST_REDUCE.build({"input": x}, {"output": tensor(list(ty.shape[1:]), ty.element_type)}, loc=loc, ip=ip)
    return HOST_REDUCE.view(op)


def build_host_softmax(x, *, scale: float = 1.0, loc=None, ip=None):
    op = HOST_SOFTMAX.build({"input": x}, {"output": x.type}, {"scale": ir.FloatAttr.get(ir.F32Type.get(), scale)},
                            loc=loc, ip=ip)
    return HOST_SOFTMAX.view(op)


def build_host_compute(result_type: ir.Type, body: Callable[[], ir.Value], *, loc=None, ip=None):
    op = HOST_COMPUTE.build({}, {"output": result_type}, loc=loc, ip=ip)
    block = op.regions[0].blocks.append()
    with ir.InsertionPoint(block):
        build_terminator([body()], loc=loc)
    return HOST_COMPUTE.view(op)


# ---------------------------------------------------------------- verifier rules


def _is_float(ty: ir.Type) -> bool:
    return isinstance(ty, (ir.F16Type, ir.BF16Type, ir.F32Type, ir.F64Type))


def _program_of(op) -> tuple[ir.Operation, DeviceConfig]:
    parent = op.parent
    if parent is None or parent.operation.name != PROGRAM.name:
        where = "nothing" if parent is None else parent.operation.name
        raise VerifyError(f"must be directly inside a pim.program body, not in {where}")
    return parent.operation, config_of(parent)


def _int(view, name) -> int:
    return view.int_attr(name)


def _check_channels(view, config: DeviceConfig) -> tuple[int, int]:
    first, count = _int(view, "channel"), _int(view, "num_channels")
    if first < 0 or count < 1 or first + count > config.channels:
        raise VerifyError(f"channels [{first}, {first + count}) are not a non-empty range within the "
                          f"device's {config.channels} channels")
    return first, count


def _check_bank(view, config: DeviceConfig, *, broadcast: bool) -> int:
    bank = _int(view, "bank")
    if bank == ALL_BANKS:
        if not broadcast:
            raise VerifyError(f"{view.spec.name} addresses a single bank; bank = -1 (all banks) is not allowed")
        return bank
    if not 0 <= bank < config.banks:
        raise VerifyError(f"bank {bank} is out of range: the device has {config.banks} banks per channel"
                          + (" (-1 = all banks)" if broadcast else ""))
    return bank


def _check_row(view, config: DeviceConfig) -> int:
    row = _int(view, "row")
    if not 0 <= row < config.rows:
        raise VerifyError(f"row {row} is out of range: the device has {config.rows} rows per bank")
    return row


def _check_col(view, config: DeviceConfig, name: str = "col") -> int:
    col = _int(view, name)
    if not 0 <= col < config.columns:
        raise VerifyError(f"{name} {col} is out of range: a row has {config.columns} columns")
    if col % config.lanes:
        raise VerifyError(f"{name} {col} must be a multiple of {config.lanes}: one {REGISTER_BITS}-bit register holds "
                          f"{config.lanes} x {config.element}")
    return col


def _check_element(ty: ir.RankedTensorType, config: DeviceConfig, what: str):
    if str(ty.element_type) != config.element:
        raise VerifyError(f"{what} element type {ty.element_type} must be the device's {config.element}")


@op_rule("pim.program")
def _verify_program(op):
    view = PROGRAM.view(op)
    for key in ("channels", "banks", "rows", "columns"):
        if not isinstance(view.attr(key), ir.IntegerAttr) or _int(view, key) <= 0:
            raise VerifyError(f"device {key} must be a positive integer, got {view.attr(key)}")
    element = view.attr("element")
    if not isinstance(element, ir.TypeAttr) or str(ir.TypeAttr(element).value) not in ELEMENTS:
        raise VerifyError(f"element must be f16 or bf16 (16-bit lanes of a {REGISTER_BITS}-bit register), got {element}")
    config = config_of(op)
    if config.columns % config.lanes:
        raise VerifyError(f"columns {config.columns} must be a multiple of {config.lanes} ({config.lanes} x "
                          f"{config.element} per {REGISTER_BITS}-bit register)")
    fty = view.attr("function_type")
    if not isinstance(fty, ir.TypeAttr) or not isinstance(ir.TypeAttr(fty).value, ir.FunctionType):
        raise VerifyError(f"function_type must be a function type, got {fty}")
    fty = ir.FunctionType(ir.TypeAttr(fty).value)
    block = body_block(view)
    args = [str(a.type) for a in block.arguments]
    inputs = [str(t) for t in fty.inputs]
    if args != inputs:
        raise VerifyError(f"body arguments ({', '.join(args)}) must match the function_type inputs ({', '.join(inputs)})")
    term = region_terminator(op.regions[0])
    if term is None:
        raise VerifyError(f"body must end with {REGION_TERMINATOR} of the results")
    got = [str(v.type) for v in term.operands]
    results = [str(t) for t in fty.results]
    if got != results:
        raise VerifyError(f"body yields ({', '.join(got)}) but function_type results are ({', '.join(results)})")
    for inner in list(block.operations)[:-1]:
        name = inner.operation.name
        if not name.startswith("pim.") or name == PROGRAM.name:
            raise VerifyError(f"'{name}' cannot appear in a pim.program body: only pim commands and pim.host_* ops "
                              f"(wrap other host work in pim.host_compute)")


def _device_op(spec: OpSpec):
    def register(fn):
        @op_rule(spec.name)
        def rule(op):
            view = spec.view(op)
            _, config = _program_of(op)
            _check_channels(view, config)
            fn(view, config)

        return fn

    return register


@_device_op(PLACE)
def _verify_place(view, config):
    matrix = ranked(view.matrix, "matrix")
    if matrix.rank != 2 or DYN in matrix.shape:
        raise VerifyError(f"matrix must be a static 2-D [N, K] tensor, got {matrix}")
    _check_element(matrix, config, "matrix")
    row = _check_row(view, config)
    n, k = matrix.shape
    layout = Placement(config, n, k, _int(view, "channel"), _int(view, "num_channels"), row)
    if row + layout.rows_used > config.rows:
        raise VerifyError(f"a {n}x{k} matrix needs {layout.rows_used} rows per bank from row {row} "
                          f"({layout.slots} slot(s) x {layout.rows_per_matrix_row} row(s)); the device has {config.rows}")


@_device_op(ACTIVATE)
def _verify_activate(view, config):
    _check_bank(view, config, broadcast=True)
    _check_row(view, config)


@_device_op(PRECHARGE)
def _verify_precharge(view, config):
    _check_bank(view, config, broadcast=True)


@_device_op(WRITE_GB)
def _verify_write_gb(view, config):
    src = ranked(view.src, "src")
    if src.rank != 1 or src.shape[0] == DYN:
        raise VerifyError(f"src must be a static 1-D vector, got {src}")
    _check_element(src, config, "src")
    col = _check_col(view, config)
    offset, length = _int(view, "offset"), _int(view, "length")
    if length <= 0 or length % config.lanes:
        raise VerifyError(f"length {length} must be a positive multiple of {config.lanes} (whole registers)")
    if col + length > config.gb_size:
        raise VerifyError(f"GB[{col}, {col + length}) overflows the global buffer of {config.gb_size} elements")
    padded = -(-src.shape[0] // config.lanes) * config.lanes
    if offset < 0 or offset + length > padded:
        raise VerifyError(f"src[{offset}, {offset + length}) is outside the {src.shape[0]}-element src "
                          f"(zero-padded to {padded})")


def _verify_copy(view, config, *, broadcast: bool):
    _check_bank(view, config, broadcast=broadcast)
    _check_row(view, config)
    _check_col(view, config, "col")
    _check_col(view, config, "gb_col")


@_device_op(COPY_BANK_TO_GB)
def _verify_copy_bank_to_gb(view, config):
    _verify_copy(view, config, broadcast=False)


@_device_op(COPY_GB_TO_BANK)
def _verify_copy_gb_to_bank(view, config):
    _verify_copy(view, config, broadcast=True)


def _accumulator_shape(view, config) -> list[int]:
    return [_int(view, "num_channels"), config.banks]


def _check_accumulator_value(value, what: str, view, config) -> None:
    """A per-bank accumulator value (bias in, MAC result out): [num_channels, banks] of the device element."""
    ty = ranked(value, what)
    expected = _accumulator_shape(view, config)
    if list(ty.shape) != expected:
        raise VerifyError(f"{what} shape {shape_str(ty.shape)} must be [num_channels, banks] = {shape_str(expected)}")
    _check_element(ty, config, what)


@_device_op(WRITE_BIAS)
def _verify_write_bias(view, config):
    _check_accumulator_value(view.bias, "bias", view, config)


@_device_op(MAC_ALL_BANKS)
def _verify_mac(view, config):
    _check_row(view, config)
    _check_col(view, config)


@_device_op(READ_MAC)
def _verify_read_mac(view, config):
    _check_accumulator_value(view.output, "result", view, config)


@_device_op(AF)
def _verify_af(view, config):
    function = view.attr("function")
    name = ir.StringAttr(function).value if isinstance(function, ir.StringAttr) else str(function)
    if name not in ACTIVATIONS:
        raise VerifyError(f"function must be one of {', '.join(ACTIVATIONS)}, got '{name}'")


@_device_op(EWADD)
@_device_op(EWMUL)
def _verify_elementwise(view, config):
    _check_row(view, config)
    _check_col(view, config)


@_device_op(SYNC)
def _verify_sync(view, config):
    pass  # the channel range is all a SYNC has


@op_rule(HOST_CONCAT.name)
def _verify_host_concat(op):
    _program_of(op)
    view = HOST_CONCAT.view(op)
    parts = view.parts
    result = ranked(view.output, "result")
    if not parts:
        raise VerifyError("needs at least one part")
    part = ranked(parts[0], "parts")
    if result.rank != 1 or result.element_type != part.element_type:
        raise VerifyError(f"result must be a 1-D tensor of the parts' {part.element_type}, got {result}")
    if DYN not in part.shape and result.shape[0] != DYN:
        total = len(parts) * _numel(part.shape)
        if result.shape[0] > total:
            raise VerifyError(f"result length {result.shape[0]} exceeds the {total} elements of the parts")


def _numel(shape) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


@op_rule(HOST_REDUCE.name)
def _verify_host_reduce(op):
    _program_of(op)
    view = HOST_REDUCE.view(op)
    x = ranked(view.input, "input")
    result = ranked(view.output, "result")
    if x.rank < 1 or list(result.shape) != list(x.shape[1:]) or result.element_type != x.element_type:
        raise VerifyError(f"result must be the input without its leading axis, tensor<{shape_str(x.shape[1:])}x"
                          f"{x.element_type}>, got {result}")


@op_rule(HOST_SOFTMAX.name)
def _verify_host_softmax(op):
    _program_of(op)
    view = HOST_SOFTMAX.view(op)
    x = ranked(view.input, "input")
    if view.output.type != view.input.type:
        raise VerifyError(f"result type {view.output.type} must equal the input type {view.input.type}")
    if x.rank < 1 or not _is_float(x.element_type):
        raise VerifyError(f"input must be a float tensor of rank >= 1, got {x}")


@op_rule(HOST_COMPUTE.name)
def _verify_host_compute(op):
    _program_of(op)
    view = HOST_COMPUTE.view(op)
    block = body_block(view)
    if len(block.arguments):
        raise VerifyError("body takes no arguments (it uses the program's values directly)")
    term = region_terminator(op.regions[0])
    got = [] if term is None else [str(v.type) for v in term.operands]
    if got != [str(view.output.type)]:
        raise VerifyError(f"body must end with {REGION_TERMINATOR} of one {view.output.type}, got ({', '.join(got)})")
