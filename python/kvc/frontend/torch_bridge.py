"""torch-mlir side of the frontend: FX graph -> linalg-on-tensors text.

Runs entirely in torch-mlir's own MLIR (``torch_mlir.ir``, a separate copy of
MLIR from kvc's LLVM 22 bindings):

1. ``FxImporter.import_stateless_graph``: every placeholder (user inputs and
   weights alike) becomes a function argument, so no weight is ever printed.
2. Each ``torch.operator "torch.kvc.<op>"`` becomes ``func.call
   @kvc.<op>_<n>`` on builtin tensors between ``torch_c.to_builtin_tensor`` /
   ``torch_c.from_builtin_tensor`` casts, calling a private declaration. Static
   (``!torch.int``) operands are recorded in :class:`KvcCall` instead of
   being passed.
3. torch-mlir's own pipelines lower every other op: the torchdynamo export
   pipeline to the torch backend contract, then the passes of
   ``torch-backend-to-linalg-on-tensors-backend-pipeline`` - minus its final
   contract check, which rejects our calls; :func:`_check_lowered` takes its
   place and names any op left behind.
4. The module is printed as text, to be parsed in kvc's context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kvc.frontend.capture import Captured, unsupported_op_error
from kvc.frontend.errors import CompileError, _PLUMBING
from kvc.frontend.ops import KVC_OPS

# torch-backend-to-linalg-on-tensors-backend-pipeline without its final
# torch-verify-linalg-on-tensors-backend-contract (kvc checks the result itself).
LINALG_PIPELINE = (
    "func.func(torch-restructure-non-constant-axes, torch-fuse-quantized-ops, torch-scalarize-shapes, "
    "convert-torch-to-tmtensor, convert-torch-to-tensor, convert-torch-to-linalg, convert-torch-to-scf, "
    "convert-torch-to-arith), convert-torch-conversion-to-mlprogram, func.func(memref-expand, canonicalize, "
    "resolve-shaped-type-result-dims, cse), torch-func-backend-type-conversion, "
    "func.func(torch-finalizing-backend-type-conversion)"
)
TORCH_BACKEND_PIPELINE = "func.func(torch-match-quantized-custom-ops), torchdynamo-export-to-torch-backend-pipeline"


@dataclass
class KvcCall:
    callee: str  # "kvc.linear_0"
    op: str  # "linear" | "cache_write" | "cache_read"
    static: list[int] = field(default_factory=list)  # !torch.int operands, in order


@dataclass
class Lowered:
    text: str  # linalg-on-tensors module (torch-mlir's MLIR), printed
    calls: dict[str, KvcCall]
    stages: dict[str, str]  # stage name -> IR text


_DTYPES = {"f32": "f32", "f16": "f16", "bf16": "bf16", "f64": "f64", "si64": "i64", "si32": "i32",
           "si8": "i8", "ui8": "i8", "i1": "i1", "si16": "i16"}
_VTENSOR = re.compile(r"^!torch\.vtensor<\[([^\]]*)\],(\w+)>$")


def _builtin_type_text(vtensor_type: str) -> str:
    match = _VTENSOR.match(vtensor_type)
    if not match or match.group(2) not in _DTYPES:
        raise CompileError(f"kvc custom op operand of unsupported type {vtensor_type}")
    dims = [d.strip() for d in match.group(1).split(",") if d.strip()]
    dims = ["?" if d == "-1" else d for d in dims]
    return "tensor<" + "".join(d + "x" for d in dims) + _DTYPES[match.group(2)] + ">"


def lower(captured: Captured, *, func_name: str = "forward", keep_stages: bool = True) -> Lowered:
    from torch_mlir import ir as tir
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import FxImporter
    from torch_mlir.passmanager import PassManager

    ctx = tir.Context()
    torch_d.register_dialect(ctx)
    # torch_c is not exposed for registration from Python; a pass that depends
    # on it loads it into the context.
    with ctx:
        PassManager.parse("builtin.module(torch-func-backend-type-conversion)").run(
            tir.Module.parse("module {}").operation
        )
    importer = FxImporter(context=ctx)
    try:
        importer.import_stateless_graph(captured.program.graph, func_name=func_name)
    except Exception as err:
        raise CompileError(f"torch-mlir could not import the graph: {type(err).__name__}: {err}") from err
    module = importer.module
    stages: dict[str, str] = {}
    if keep_stages:
        stages["torch-import"] = str(module)
    _check_imported(module)
    calls = _custom_ops_to_calls(module, tir)
    if keep_stages:
        stages["torch-with-kvc-calls"] = str(module)
    diagnostics: list[tuple[str, str]] = []

    def handler(diag):
        diagnostics.append((str(diag.location), str(diag.message)))
        return True

    handle = ctx.attach_diagnostic_handler(handler)
    try:
        for label, pipeline in (("torch-backend", TORCH_BACKEND_PIPELINE), ("linalg-on-tensors", LINALG_PIPELINE)):
            try:
                with ctx:
                    PassManager.parse(f"builtin.module({pipeline})").run(module.operation)
            except Exception as err:
                raise _pipeline_error(label, diagnostics, err) from None
            if keep_stages:
                stages[label] = str(module)
    finally:
        handle.detach()
    _check_lowered(module)
    text = module.operation.get_asm(enable_debug_info=True)
    return Lowered(text, calls, stages)


def _walk(op):
    for region in op.regions:
        for block in region:
            for inner in block.operations:
                yield inner.operation
                yield from _walk(inner.operation)


def _check_imported(module) -> None:
    for op in _walk(module.operation):
        if op.name == "torch.operator":
            name = str(op.attributes["name"]).strip('"')
            if name not in KVC_OPS:
                raise unsupported_op_error(name, None, stage="import", where=location_source(op.location))


def _custom_ops_to_calls(module, tir) -> dict[str, KvcCall]:
    from torch_mlir.dialects import func as tfunc

    calls: dict[str, KvcCall] = {}
    decls = []
    counters: dict[str, int] = {}
    for op in list(_walk(module.operation)):
        if op.name != "torch.operator":
            continue
        short = KVC_OPS[str(op.attributes["name"]).strip('"')]
        n = counters.get(short, 0)
        counters[short] = n + 1
        callee = f"kvc.{short}_{n}"
        info = KvcCall(callee, short)
        with tir.InsertionPoint(op), op.location:
            args = []
            for v in op.operands:
                ty = str(v.type)
                if ty.startswith("!torch.vtensor"):
                    cast = tir.Operation.create(
                        "torch_c.to_builtin_tensor", results=[tir.Type.parse(_builtin_type_text(ty))], operands=[v]
                    )
                    args.append(cast.result)
                elif ty == "!torch.int" and v.owner.name == "torch.constant.int":
                    info.static.append(tir.IntegerAttr(v.owner.attributes["value"]).value)
                else:
                    raise CompileError(f"kvc.{short}: operand of type {ty} must be a tensor or a constant int")
            result_types = [tir.Type.parse(_builtin_type_text(str(r.type))) for r in op.results]
            call = tfunc.CallOp(result_types, tir.FlatSymbolRefAttr.get(callee), args)
            for old, new in zip(op.results, call.results):
                back = tir.Operation.create("torch_c.from_builtin_tensor", results=[old.type], operands=[new])
                old.replace_all_uses_with(back.result)
        op.erase()
        decls.append((callee, [a.type for a in args], result_types))
        calls[callee] = info
    with tir.InsertionPoint(module.body), tir.Location.unknown(module.context):
        for callee, ins, outs in decls:
            tfunc.FuncOp(callee, tir.FunctionType.get(ins, outs), visibility="private")
    return calls


_OP_IN_MESSAGE = re.compile(r"'((?:torch|tm_tensor)\.[\w.]+)'")


def _pipeline_error(stage: str, diagnostics, err) -> CompileError:
    for loc, message in diagnostics:
        match = _OP_IN_MESSAGE.search(message)
        if match:
            op = match.group(1)
            return unsupported_op_error(op, None, stage="lower", detail=message.splitlines()[0],
                                        where=location_source_text(loc))
    if diagnostics:
        loc, message = diagnostics[0]
        return CompileError(f"torch-mlir's {stage} lowering failed at {location_source_text(loc)}: "
                            f"{message.splitlines()[0]}\n  hint: rewrite that line with ops torch-mlir lowers "
                            "(real-valued elementwise math, matmul, softmax, indexing).")
    return CompileError(f"torch-mlir's {stage} lowering failed: {err}")


def _check_lowered(module) -> None:
    """What torch-mlir's contract check would reject, reported with the source line."""
    for op in _walk(module.operation):
        name = op.name
        if name.startswith(("torch.", "torch_c.", "tm_tensor.")):
            raise unsupported_op_error(
                name, None, stage="lower", detail="it survived torch-mlir's conversion to linalg "
                "(created while lowering the op at this line)", where=location_source(op.location))


_LOC_FRAME = re.compile(r'"([^"]+)":(\d+)')


def location_source_text(loc_text: str) -> str:
    """The innermost model frame (``file:line``) of a location printed by torch-mlir."""
    frames = _LOC_FRAME.findall(loc_text)  # innermost first (callsite(callee at caller))
    for file, line in frames:
        if not any(p in file for p in _PLUMBING):
            return f"{file}:{line}"
    return f"{frames[0][0]}:{frames[0][1]}" if frames else "<unknown location>"


def location_source(loc) -> str:
    return location_source_text(str(loc))
