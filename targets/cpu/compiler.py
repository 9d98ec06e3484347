"""compile_module: kvc IR at tensor level -> a callable running JIT-compiled LLVM code.

See pipeline.py for the passes and docs/targets/cpu.md for the calling
convention. The caller's module is never modified: compilation works on a
clone (resource blobs are shared through the context, not copied).
"""

from __future__ import annotations

import ctypes
import time

import numpy as np
from mlir import ir

from kvc import resources
from kvc.context import load_kvc_dialects
from kvc.diagnostics import KvcError
from kvc.pipeline import parse_pipeline, run_pipeline
from kvc.targets.cpu import pipeline as cpu_pipeline
from kvc.targets.cpu.runtime import (ArgSpec, ResultSpec, make_descriptor, make_scalar, result_struct,
                                     to_numpy, wrap_result)


class CpuCompileError(KvcError):
    """The module cannot be compiled for the cpu target."""


# ------------------------------------------------------------------ the executable
class CpuExecutable:
    """A compiled entry function. ``exe(*activations) -> list[np.ndarray]``.

    Attributes: ``ir_stages`` (stage name -> IR text, large constants
    elided), ``pipeline`` (every pipeline element, in order), ``args`` (the
    activations it takes, as :class:`ArgSpec`), ``weights`` (name -> the bound
    array), ``timings`` (seconds per stage and for the JIT).
    """

    def __init__(self, engine, entry: str, args: list[ArgSpec], bound: dict[str, np.ndarray],
                 results: list[ResultSpec], ir_stages: dict[str, str], pipeline: list[str],
                 timings: dict[str, float], module: ir.Module):
        self._engine = engine
        self._module = module  # keeps the context and resource blobs alive
        self.entry = entry
        self.ir_stages = ir_stages
        self.pipeline = pipeline
        self.timings = timings
        self.results = results
        self._all_args = args
        self.args = [a for a in args if a.weight is None]
        self.weights = bound
        # Weight descriptors are built once; they view the bound arrays.
        self._weight_desc = {}
        for spec in args:
            if spec.weight is not None:
                array = to_numpy(bound[spec.weight], spec)
                bound[spec.weight] = array
                self._weight_desc[spec.index] = (make_descriptor(array) if spec.shape is not None
                                                 else make_scalar(array, spec.element))
        self._foreign_weights = {array.ctypes.data for array in bound.values() if array.size}
        self._func = engine.lookup(entry)

    def __call__(self, *inputs) -> list[np.ndarray]:
        if len(inputs) != len(self.args):
            names = ", ".join(f"{a.name}: {a.describe()}" for a in self.args)
            raise TypeError(f"{self.entry} takes {len(self.args)} input(s) ({names}), got {len(inputs)}")
        keep = []  # arrays whose memory the descriptors view, alive until the call returns
        pointers = [None] * len(self._all_args)
        foreign = set(self._foreign_weights)
        for spec, value in zip(self.args, inputs):
            array = to_numpy(value, spec)
            keep.append(array)
            if spec.shape is None:
                obj = make_scalar(array, spec.element)
            else:
                obj = make_descriptor(array)
                if array.size:
                    foreign.add(array.ctypes.data)
            keep.append(obj)
            pointers[spec.index] = ctypes.pointer(obj) if spec.shape is not None else obj
        for index, obj in self._weight_desc.items():
            pointers[index] = ctypes.pointer(obj) if isinstance(obj, ctypes.Structure) else obj
        result_obj, descriptors = result_struct(self.results)
        # Packed interface: one void* per C-interface parameter (results first).
        params = [ctypes.pointer(result_obj)] + pointers
        packed = (ctypes.c_void_p * len(params))()
        for i, p in enumerate(params):
            holder = ctypes.pointer(p)
            keep.append(holder)
            packed[i] = ctypes.cast(holder, ctypes.c_void_p)
        self._func(packed)
        owners: dict = {}
        return [wrap_result(d, spec, foreign, owners) for d, spec in zip(descriptors, self.results)]

    def __repr__(self) -> str:
        ins = ", ".join(a.describe() for a in self.args)
        return f"<CpuExecutable {self.entry}({ins}) -> {len(self.results)} result(s), {len(self.weights)} bound weight(s)>"


# ------------------------------------------------------------------ compilation
def compile_module(module: ir.Module, *, entry: str = "forward",
                   weights: dict[str, np.ndarray] | None = None,
                   keep_ir: bool = True) -> CpuExecutable:
    """Compile function ``entry`` of ``module`` (kvc IR at tensor level) for this CPU.

    ``weights`` binds the entry's arguments tagged ``{kvc.weight = "name"}``
    (name -> numpy array or CPU torch tensor); the executable then takes only
    the other arguments. When None, the weights dict attached to the module's
    context (:func:`kvc.resources.attach_weights`) is used, if any.
    ``keep_ir=False`` skips printing the IR of every stage.
    """
    context = module.context
    load_kvc_dialects(context)
    if weights is None:
        weights = resources.attached_weights(context) or {}
    # kvc passes of the pipeline see the weights (e.g. to precompute bit planes of a bound
    # weight) and may add derived ones: they work on a copy attached to the context.
    weights = dict(weights)
    timings: dict[str, float] = {}
    ir_stages: dict[str, str] = {}
    with context, module.operation.location:
        work = module.operation.clone()
        func_op = _find_entry(work, entry)
        missing = [n for n in resources.weight_arg_names(func_op) if n is not None and n not in weights]
        if missing:
            raise CpuCompileError(f"no array bound for weight argument(s) {', '.join(repr(m) for m in missing)}: "
                                  "pass them in compile_module(weights=...)", module.operation)
        _prune_unreachable(work, func_op)
        original_args = _lowbit_formats(func_op)
        result_codes = _lowbit_result_formats(func_op)
        func_op.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        bound: dict[str, np.ndarray] = {}
        if keep_ir:
            ir_stages["input"] = _print(work)
        arg_specs = None
        for stage, elements in cpu_pipeline.STAGES:
            if arg_specs is None and any(e.startswith("one-shot-bufferize") for e in elements):
                # the last tensor-level signature: what callers pass
                arg_specs = _arg_specs(func_op, original_args, weights, bound)
                results = _result_specs(func_op, result_codes)
            start = time.perf_counter()
            previous = resources.attached_weights(context)
            resources.attach_weights(context, weights)
            try:
                _run_stage(work, func_op, stage, elements, bound)
            finally:
                resources.attach_weights(context, previous)
            timings[stage] = time.perf_counter() - start
            if keep_ir:
                ir_stages[stage] = _print(work)
        final = ir.Module.create()
        for named in work.attributes:
            final.operation.attributes[named.name] = named.attr
        for op in list(work.regions[0].blocks[0].operations):
            final.body.append(op)
        start = time.perf_counter()
        from mlir.execution_engine import ExecutionEngine

        try:
            engine = ExecutionEngine(final, opt_level=cpu_pipeline.OPT_LEVEL)
            engine.lookup(entry)  # materializes (compiles) the code now
        except Exception as err:  # noqa: BLE001 - reported with the stage
            raise CpuCompileError(f"LLVM JIT compilation of '{entry}' failed: {str(err).strip()}") from None
        timings["jit"] = time.perf_counter() - start
    return CpuExecutable(engine, entry, arg_specs, bound, results, ir_stages,
                         cpu_pipeline.pipeline_elements(), timings, final)


def _run_stage(work: ir.Operation, func_op: ir.Operation, stage: str, elements: list[str],
               bound: dict[str, np.ndarray]) -> None:
    for element in elements:
        if element == "cpu.externalize-constants":
            externalize_constants(func_op, bound, cpu_pipeline.EXTERNALIZE_MIN_BYTES)
        elif element == "cpu.strided-copies-to-linalg":
            strided_copies_to_linalg(work)
        else:
            _run_element(work, element, stage)


def _print(op: ir.Operation) -> str:
    return op.get_asm(large_elements_limit=16, large_resource_limit=64)


def _run_element(work: ir.Operation, element: str, stage: str) -> None:
    try:
        run_pipeline(work, parse_pipeline(element), verify_each=(stage == "kvc-lowering"))
    except KvcError as err:
        raise CpuCompileError(f"cpu target, stage '{stage}': {err.message}", err.where) from None


def _find_entry(work: ir.Operation, entry: str) -> ir.Operation:
    names = []
    for op in work.regions[0].blocks[0].operations:
        if op.operation.name == "func.func":
            name = ir.StringAttr(op.attributes["sym_name"]).value
            names.append(name)
            if name == entry:
                if not op.regions[0].blocks:
                    raise CpuCompileError(f"entry function '{entry}' is only a declaration", op)
                return op.operation
    raise CpuCompileError(f"no func.func named '{entry}' in the module (functions: {', '.join(names) or 'none'})")


def _prune_unreachable(work: ir.Operation, entry_op: ir.Operation) -> None:
    """Erase the functions the entry does not (transitively) call: only they are compiled."""
    funcs = {}
    for op in work.regions[0].blocks[0].operations:
        if op.operation.name == "func.func":
            funcs[ir.StringAttr(op.attributes["sym_name"]).value] = op.operation
    keep, todo = set(), [entry_op]
    while todo:
        current = todo.pop()
        name = ir.StringAttr(current.attributes["sym_name"]).value
        if name in keep:
            continue
        keep.add(name)

        def visit(op):
            if "callee" in op.attributes:
                callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
                if callee in funcs:
                    todo.append(funcs[callee])
            return ir.WalkResult.ADVANCE

        current.walk(visit, ir.WalkOrder.PRE_ORDER)
    for name, op in funcs.items():
        if name not in keep:
            op.erase()


def _lowbit_formats(func_op: ir.Operation) -> list[str | None]:
    from kvc.dialects.lowbit import element_format, format_name

    out = []
    for arg in func_op.regions[0].blocks[0].arguments:
        fmt = element_format(arg.type)
        out.append(format_name(fmt) if fmt is not None else None)
    return out


def _lowbit_result_formats(func_op: ir.Operation) -> list[str | None]:
    from kvc.dialects.lowbit import element_format, format_name

    ftype = ir.FunctionType(ir.TypeAttr(func_op.attributes["function_type"]).value)
    out = []
    for ty in ftype.results:
        fmt = element_format(ty)
        out.append(format_name(fmt) if fmt is not None else None)
    return out


def _arg_specs(func_op: ir.Operation, original_formats: list[str | None], weights: dict,
               bound: dict[str, np.ndarray]) -> list[ArgSpec]:
    specs = []
    names = resources.weight_arg_names(func_op)
    missing = []
    for i, arg in enumerate(func_op.regions[0].blocks[0].arguments):
        ty = arg.type
        codes_of = original_formats[i] if i < len(original_formats) else None
        if isinstance(ty, ir.RankedTensorType):
            t = ir.RankedTensorType(ty)
            shape = tuple(None if t.is_dynamic_dim(d) else t.shape[d] for d in range(t.rank))
            element = str(t.element_type)
        elif isinstance(ty, (ir.IntegerType, ir.FloatType, ir.IndexType)):
            shape, element = None, str(ty)
        else:
            raise CpuCompileError(f"argument #{i} of '{ir.StringAttr(func_op.attributes['sym_name']).value}' has "
                                  f"type {ty}; the cpu target takes ranked tensors and scalars", func_op)
        name = names[i]
        if name is not None and name not in bound:
            if name not in weights:
                missing.append(name)
            else:
                bound[name] = weights[name]
        specs.append(ArgSpec(i, name or f"arg{i}", element, shape, weight=name, codes_of=codes_of))
    if missing:
        raise CpuCompileError(f"no array bound for weight argument(s) {', '.join(repr(m) for m in missing)}: "
                              "pass them in compile_module(weights=...)", func_op)
    return specs


def _result_specs(func_op: ir.Operation, result_codes: list[str | None]) -> list[ResultSpec]:
    ftype = ir.FunctionType(ir.TypeAttr(func_op.attributes["function_type"]).value)
    out = []
    for i, ty in enumerate(ftype.results):
        if not isinstance(ty, ir.RankedTensorType):
            raise CpuCompileError(f"result #{i} has type {ty}; the cpu target returns ranked tensors only "
                                  "(wrap a scalar in a 0-d tensor)", func_op)
        t = ir.RankedTensorType(ty)
        out.append(ResultSpec(str(t.element_type), t.rank, codes_of=result_codes[i] if i < len(result_codes) else None))
    if not out:
        raise CpuCompileError("the entry function returns nothing; the cpu target needs at least one tensor result",
                              func_op)
    return out


# ------------------------------------------------------ cpu.externalize-constants
def externalize_constants(func_op: ir.Operation, bound: dict[str, np.ndarray], min_bytes: int) -> int:
    """Move large tensor constants of ``func_op`` into bound weight arguments.

    Every ``arith.constant`` of ranked tensor type in the entry function whose
    data is at least ``min_bytes`` and readable (dense, or a resource blob)
    becomes a new argument ``{kvc.weight = "__const.<i>"}`` bound to its
    numpy array. Returns the number of constants moved.
    """
    moved = 0
    candidates = []

    def visit(op):
        if op.name == "arith.constant" and isinstance(op.results[0].type, ir.RankedTensorType):
            ty = ir.RankedTensorType(op.results[0].type)
            if ty.has_static_shape:
                element = ty.element_type
                width = element.width if hasattr(element, "width") else 64
                nbytes = int(np.prod(ty.shape, dtype=np.int64)) * max(1, width // 8)
                if nbytes >= min_bytes:
                    candidates.append(op)
        return ir.WalkResult.ADVANCE

    func_op.walk(visit)
    for op in candidates:
        try:
            array = resources.constant_array(op)
        except (TypeError, ValueError):
            array = None
        if array is None:
            continue  # stays an LLVM global
        name = resources.unique_weight_name(bound, f"__const.{len(bound)}")
        arg = resources.add_weight_argument(func_op, op.results[0].type, name, op.location)
        op.results[0].replace_all_uses_with(arg)
        op.erase()
        bound[name] = array
        moved += 1
    return moved


# ------------------------------------------------------ cpu.strided-copies-to-linalg
def strided_copies_to_linalg(module_op: ir.Operation) -> int:
    """Replace every ``memref.copy`` with a non-identity layout on either side by
    ``linalg.copy`` (lowered to loops later). Returns the number of copies rewritten."""
    from mlir.dialects import linalg

    copies = []

    def visit(op):
        if op.name == "memref.copy" and any(not _identity_layout(v.type) for v in op.operands):
            copies.append(op)
        return ir.WalkResult.ADVANCE

    module_op.walk(visit)
    for op in copies:
        with ir.InsertionPoint(op), op.location:
            linalg.copy(op.operands[0], outs=[op.operands[1]])
        op.erase()
    return len(copies)


def _identity_layout(ty: ir.Type) -> bool:
    if not isinstance(ty, ir.MemRefType):
        return False
    memref = ir.MemRefType(ty)
    return memref.affine_map == ir.AffineMap.get_identity(memref.rank)
