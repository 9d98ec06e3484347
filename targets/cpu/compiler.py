"""compile_module: kvc IR at tensor level -> a callable running JIT-compiled LLVM code.

See pipeline.py for the passes and docs/targets/cpu.md for the calling
convention. The caller's module is never modified: compilation works on a
clone (resource blobs are shared through the context, not copied).

Arguments come in three kinds: bound weights (``kvc.weight``), state
(``kvc.state`` / ``kvc.cache``, or ``state_args=``: the caller's buffer, updated
in place) and ordinary inputs (read-only).
"""

from __future__ import annotations

import ctypes
import re
import time
from dataclasses import dataclass, field

import numpy as np
from mlir import ir

try:  # numpy >= 2
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # numpy 1.x
    byte_bounds = np.byte_bounds

from kvc import resources
from kvc.context import load_kvc_dialects
from kvc.diagnostics import KvcError
from kvc.pipeline import parse_pipeline, run_pipeline
from kvc.targets.cpu import pipeline as cpu_pipeline
from kvc.targets.cpu.runtime import (ArgSpec, ResultSpec, make_descriptor, make_scalar, result_struct,
                                     to_numpy, wrap_result)


class CpuCompileError(KvcError):
    """The module cannot be compiled for the cpu target."""


#: Argument attributes that make an entry argument *state* (updated in place):
#: ``kvc.state`` (a string names the state; a unit attribute leaves it unnamed)
#: and ``kvc.cache`` (the frontend's KV caches, ``kvc.cache = "layer<i>"``).
STATE_ATTRS = ("kvc.state", "kvc.cache")
_WRITABLE = "bufferization.writable"


# ------------------------------------------------------------------ the executable
class CpuExecutable:
    """A compiled entry function. ``exe(*inputs_and_states) -> list[np.ndarray]``.

    It takes every argument that is not a bound weight, in the entry's order;
    state arguments are updated in place and their results are not returned.
    Attributes: ``ir_stages`` (stage name -> IR text, large constants
    elided), ``pipeline`` (every pipeline element, in order), ``args`` (the
    arguments it takes, as :class:`ArgSpec`; ``state`` is set on state
    arguments), ``results`` (the results it returns, as :class:`ResultSpec`),
    ``weights`` (name -> the bound array), ``opt_level`` (LLVM's), ``timings``
    (seconds per stage and for the JIT).
    """

    def __init__(self, engine, entry: str, args: list[ArgSpec], bound: dict[str, np.ndarray],
                 results: list[ResultSpec], ir_stages: dict[str, str], pipeline: list[str],
                 timings: dict[str, float], module: ir.Module, opt_level: int):
        self._engine = engine
        self.opt_level = opt_level
        self._module = module  # keeps the context and resource blobs alive
        self.entry = entry
        self.ir_stages = ir_stages
        self.pipeline = pipeline
        self.timings = timings
        self.results = results
        self._all_args = args
        self.args = [a for a in args if a.weight is None]
        self.state = [a for a in self.args if a.state is not None]
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
        # byte ranges of the bound weights, once: every call checks its state buffers against them
        self._weight_bounds = np.array([byte_bounds(a) for a in bound.values() if a.size],
                                       dtype=np.uint64).reshape(-1, 2)
        self._func = engine.lookup(entry)

    def __call__(self, *inputs) -> list[np.ndarray]:
        if len(inputs) != len(self.args):
            names = ", ".join(f"{a.name}: {a.describe()}" for a in self.args)
            raise TypeError(f"{self.entry} takes {len(self.args)} input(s) ({names}), got {len(inputs)}")
        keep = []  # arrays whose memory the descriptors view, alive until the call returns
        pointers = [None] * len(self._all_args)
        foreign = set(self._foreign_weights)
        arrays, states = [], []
        for spec, value in zip(self.args, inputs):
            array = to_numpy(value, spec)
            arrays.append(array)
            if spec.state is not None:
                states.append((spec, array))
            if spec.shape is None:
                obj = make_scalar(array, spec.element)
            else:
                obj = make_descriptor(array)
                if array.size:
                    foreign.add(array.ctypes.data)
            keep.append(obj)
            pointers[spec.index] = ctypes.pointer(obj) if spec.shape is not None else obj
        keep.append(arrays)
        if states:
            _check_state_aliasing(states, arrays, self._weight_bounds)
        for index, obj in self._weight_desc.items():
            pointers[index] = ctypes.pointer(obj) if isinstance(obj, ctypes.Structure) else obj
        # Packed interface: one void* per C-interface parameter (results first, if any).
        params = pointers
        descriptors = []
        if self.results:
            result_obj, descriptors = result_struct(self.results)
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
        return (f"<CpuExecutable {self.entry}({ins}) -> {len(self.results)} result(s), "
                f"{len(self.state)} state argument(s) updated in place, {len(self.weights)} bound weight(s)>")


def _check_state_aliasing(states, arrays, weight_bounds: np.ndarray) -> None:
    """A state buffer must not overlap any other argument (an input, or a bound
    weight: ``weight_bounds`` holds their (low, high) byte addresses): the
    compiled code would read values it has already overwritten."""
    for spec, state in states:
        if not state.size:
            continue
        lo, hi = byte_bounds(state)
        overlaps = bool(np.any((weight_bounds[:, 0] < hi) & (lo < weight_bounds[:, 1])))
        if overlaps or any(other is not state and other.size and np.may_share_memory(state, other)
                           for other in arrays):
            raise ValueError(f"{spec.name}: the state buffer overlaps another argument; pass each state "
                             "in its own array")


# ------------------------------------------------------------------ compilation
def compile_module(module: ir.Module, *, entry: str = "forward",
                   weights: dict[str, np.ndarray] | None = None,
                   state_args: "list[int] | tuple[int, ...] | None" = None,
                   opt_level: int = cpu_pipeline.DEFAULT_OPT_LEVEL,
                   keep_ir: bool = True) -> CpuExecutable:
    """Compile function ``entry`` of ``module`` (kvc IR at tensor level) for this CPU.

    ``weights`` binds the entry's arguments tagged ``{kvc.weight = "name"}``
    (name -> numpy array or CPU torch tensor); the executable then takes only
    the other arguments. When None, the weights dict attached to the module's
    context (:func:`kvc.resources.attach_weights`) is used, if any.

    ``state_args``: indices of entry arguments that are *state*, besides those
    tagged ``kvc.state`` or ``kvc.cache``. A state argument is updated in
    place: its new value (a result of the entry) is written into the caller's
    buffer, that result is not returned, and compilation fails with
    :class:`CpuCompileError` naming the function and the argument if
    bufferization cannot do the update in place (no silent copy).

    ``opt_level``: LLVM's optimization level (0-3) for the JIT. The default, 3,
    gives the fastest kernels (4-bit matmuls ~27% faster than at 2); JIT time
    grows with it (MiniLM on 2 cores: 0.7 s at 0, 11.5 s at 2, 52 s at 3).
    ``keep_ir=False`` skips printing the IR of every stage.
    """
    if isinstance(opt_level, bool) or not isinstance(opt_level, int) or not 0 <= opt_level <= 3:
        raise ValueError(f"opt_level must be an integer from 0 to 3, got {opt_level!r}")
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
        state = _state_args(func_op, entry, state_args)
        _prune_unreachable(work, func_op)
        original_args = _lowbit_formats(func_op)
        result_codes = _lowbit_result_formats(func_op)
        func_op.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        build = _Build(work, entry, state)
        if keep_ir:
            ir_stages["input"] = _print(work)
        arg_specs = None
        for stage, elements in cpu_pipeline.STAGES:
            if arg_specs is None and any(e.startswith("one-shot-bufferize") for e in elements):
                # the last tensor-level signature: what callers pass
                func_op = _find_entry(work, entry)
                arg_specs = _arg_specs(func_op, original_args, weights, build.bound, state)
                results = _result_specs(func_op, result_codes, has_state=bool(state))
            start = time.perf_counter()
            previous = resources.attached_weights(context)
            resources.attach_weights(context, weights)
            try:
                _run_stage(build, stage, elements)
            finally:
                resources.attach_weights(context, previous)
            timings[stage] = time.perf_counter() - start
            if keep_ir:
                ir_stages[stage] = _print(work)
        results = [r for j, r in enumerate(results) if j not in build.dropped]
        final = ir.Module.create()
        for name in list(work.attributes):  # iterating an attribute map yields the names
            final.operation.attributes[name] = work.attributes[name]
        for op in list(work.regions[0].blocks[0].operations):
            final.body.append(op)
        start = time.perf_counter()
        from mlir.execution_engine import ExecutionEngine

        try:
            engine = ExecutionEngine(final, opt_level=opt_level)
            engine.lookup(entry)  # materializes (compiles) the code now
        except Exception as err:  # noqa: BLE001 - reported with the stage
            raise CpuCompileError(f"LLVM JIT compilation of '{entry}' failed: {str(err).strip()}") from None
        timings["jit"] = time.perf_counter() - start
    return CpuExecutable(engine, entry, arg_specs, build.bound, results, ir_stages,
                         cpu_pipeline.pipeline_elements(), timings, final, opt_level)


@dataclass
class _Build:
    """What the target's own steps share while one module is compiled."""

    work: ir.Operation  # the module being compiled (a clone of the caller's)
    entry: str
    state: dict[int, "_State"]  # entry argument index -> state
    bound: dict[str, np.ndarray] = field(default_factory=dict)  # weights bound so far
    dropped: list[int] = field(default_factory=list)  # result indices that were state updates
    snapshot: ir.Operation | None = None  # tensor-level module before bufferization (diagnostics)

    def func(self) -> ir.Operation:
        return _find_entry(self.work, self.entry)


def _run_stage(build: _Build, stage: str, elements: list[str]) -> None:
    for element in elements:
        if element == "cpu.externalize-constants":
            externalize_constants(build.func(), build.bound, cpu_pipeline.EXTERNALIZE_MIN_BYTES)
        elif element == "cpu.strided-copies-to-linalg":
            strided_copies_to_linalg(build.work)
        elif element == "cpu.mark-writable-args":
            mark_writable_args(build.func(), build.state)
            if build.state:
                build.snapshot = build.work.clone()
        elif element == "cpu.drop-state-results":
            build.dropped = drop_state_results(build.func(), build.state, build.snapshot)
            build.snapshot = None
        else:
            _run_element(build.work, element, stage)


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


@dataclass(frozen=True)
class _State:
    name: str  # the state's name (the attribute's string, else "arg<i>")
    origin: str  # how it was marked, for messages: 'kvc.cache = "layer0"', 'state_args'


def _state_args(func_op: ir.Operation, entry: str, extra) -> dict[int, _State]:
    """Entry argument index -> state, from the attributes and ``state_args``; checks them."""
    block = func_op.regions[0].blocks[0]
    attrs = _arg_attr_dicts(func_op)
    weights = resources.weight_arg_names(func_op)
    out: dict[int, _State] = {}
    for i, d in enumerate(attrs):
        for key in STATE_ATTRS:
            if key in d:
                attr = d[key]
                if isinstance(attr, ir.StringAttr):
                    out[i] = _State(attr.value, f'{key} = "{attr.value}"')
                else:
                    out[i] = _State(f"arg{i}", key)
                break
    for i in extra or ():
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < len(block.arguments):
            raise CpuCompileError(f"state_args: {i!r} is not an argument index of '{entry}' "
                                  f"(it has {len(block.arguments)} argument(s))", func_op)
        i = int(i)
        if i not in out:
            out[i] = _State(f"arg{i}", "state_args")
            # visible in the IR stages like an attribute written in the input
            _set_arg_attr(func_op, i, "kvc.state", ir.UnitAttr.get())
    for i, st in out.items():
        if weights[i] is not None:
            raise CpuCompileError(f"argument #{i} of '{entry}' is both a bound weight ('{weights[i]}') and "
                                  f"state ({st.origin}); weights are read-only", func_op)
    return out


def _arg_attr_dicts(func_op: ir.Operation) -> list[dict[str, ir.Attribute]]:
    n = len(func_op.regions[0].blocks[0].arguments)
    out: list[dict[str, ir.Attribute]] = [{} for _ in range(n)]
    if "arg_attrs" in func_op.attributes:
        for i, d in enumerate(ir.ArrayAttr(func_op.attributes["arg_attrs"])):
            out[i] = {named.name: named.attr for named in ir.DictAttr(d)}
    return out


def _set_arg_attrs(func_op: ir.Operation, dicts: list[dict[str, ir.Attribute]]) -> None:
    func_op.attributes["arg_attrs"] = ir.ArrayAttr.get([ir.DictAttr.get(d) for d in dicts])


def _set_arg_attr(func_op: ir.Operation, index: int, name: str, attr: ir.Attribute) -> None:
    dicts = _arg_attr_dicts(func_op)
    dicts[index][name] = attr
    _set_arg_attrs(func_op, dicts)


def _arg_specs(func_op: ir.Operation, original_formats: list[str | None], weights: dict,
               bound: dict[str, np.ndarray], state: dict[int, _State]) -> list[ArgSpec]:
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
        st = state.get(i)
        if st is not None and shape is None:
            raise CpuCompileError(f"state argument #{i} ({st.origin}) of "
                                  f"'{ir.StringAttr(func_op.attributes['sym_name']).value}' has type {ty}; state "
                                  "must be a ranked tensor (it is updated in the caller's buffer)", func_op)
        label = name or (st.name if st is not None else f"arg{i}")
        specs.append(ArgSpec(i, label, element, shape, weight=name, codes_of=codes_of,
                             state=st.name if st is not None else None))
    if missing:
        raise CpuCompileError(f"no array bound for weight argument(s) {', '.join(repr(m) for m in missing)}: "
                              "pass them in compile_module(weights=...)", func_op)
    return specs


def _result_specs(func_op: ir.Operation, result_codes: list[str | None], has_state: bool) -> list[ResultSpec]:
    ftype = ir.FunctionType(ir.TypeAttr(func_op.attributes["function_type"]).value)
    out = []
    for i, ty in enumerate(ftype.results):
        if not isinstance(ty, ir.RankedTensorType):
            raise CpuCompileError(f"result #{i} has type {ty}; the cpu target returns ranked tensors only "
                                  "(wrap a scalar in a 0-d tensor)", func_op)
        t = ir.RankedTensorType(ty)
        shape = tuple(None if t.is_dynamic_dim(d) else t.shape[d] for d in range(t.rank))
        out.append(ResultSpec(str(t.element_type), t.rank, codes_of=result_codes[i] if i < len(result_codes) else None,
                              shape=shape))
    if not out and not has_state:
        raise CpuCompileError("the entry function returns nothing; the cpu target needs at least one tensor result",
                              func_op)
    return out


# ------------------------------------------------------ cpu.mark-writable-args
def mark_writable_args(func_op: ir.Operation, state: dict[int, "_State"]) -> None:
    """Tell one-shot bufferization which entry buffers it may write: state
    arguments (``bufferization.writable = true``) and nothing else (``false`` on
    every other tensor argument: inputs and bound weights are read-only, and a
    program that writes into one works on a copy)."""
    dicts = _arg_attr_dicts(func_op)
    for i, arg in enumerate(func_op.regions[0].blocks[0].arguments):
        if isinstance(arg.type, ir.RankedTensorType):
            dicts[i][_WRITABLE] = ir.BoolAttr.get(i in state)
    _set_arg_attrs(func_op, dicts)


# ------------------------------------------------------ cpu.drop-state-results
def drop_state_results(func_op: ir.Operation, state: dict[int, "_State"],
                       snapshot: ir.Operation | None = None) -> list[int]:
    """After one-shot bufferization: drop every result that is a state argument's
    own buffer (looking through ``memref.cast``) from the entry's returns and
    signature, and return their indices. A state argument that no result is
    fails with :class:`CpuCompileError` naming the function and the argument
    (``snapshot``, the tensor-level module before bufferization, lets the
    message name the write that was copied and the read that forced it)."""
    if not state:
        return []
    entry = ir.StringAttr(func_op.attributes["sym_name"]).value
    block = func_op.regions[0].blocks[0]
    returns = []

    def visit(op):
        if op.name == "func.return":
            returns.append(op)
        return ir.WalkResult.ADVANCE

    func_op.walk(visit)
    ftype = ir.FunctionType(ir.TypeAttr(func_op.attributes["function_type"]).value)
    result_of: dict[int, int] = {}  # result index -> state argument index
    for j in range(len(ftype.results)):
        sources = {_buffer_source(ret.operands[j], block) for ret in returns}
        if len(sources) == 1:
            (arg,) = sources
            if arg in state:
                result_of[j] = arg
    for i, st in sorted(state.items()):
        if i not in result_of.values():
            reason, where = _why_not_in_place(snapshot, entry, i) if snapshot is not None else ("", None)
            reason = reason or "no result is its buffer after bufferization."
            raise CpuCompileError(
                f"@{entry}: state argument #{i} ({st.origin}) cannot be updated in place: {reason} "
                "State is never copied silently: read the old value before the update, write the new value "
                "into the state (destination-passing style: tensor.insert_slice into it, linalg outs(...) on it) "
                f"and return it as a result of @{entry}.", where or func_op)
    dropped = sorted(result_of)
    for ret in returns:
        keep = [v for j, v in enumerate(ret.operands) if j not in result_of]
        with ir.InsertionPoint(ret), ret.location:
            ir.Operation.create("func.return", operands=keep)
        ret.erase()
    results = [t for j, t in enumerate(ftype.results) if j not in result_of]
    func_op.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(list(ftype.inputs), results))
    if "res_attrs" in func_op.attributes:
        res_attrs = [a for j, a in enumerate(ir.ArrayAttr(func_op.attributes["res_attrs"])) if j not in result_of]
        func_op.attributes["res_attrs"] = ir.ArrayAttr.get(res_attrs)
    return dropped


def _buffer_source(value: ir.Value, block: ir.Block) -> int | None:
    """The entry argument index ``value`` is (through memref.cast), else None."""
    while isinstance(value, ir.OpResult) and value.owner.name == "memref.cast":
        value = value.owner.operands[0]
    if isinstance(value, ir.BlockArgument) and value.owner == block:
        return value.arg_number
    return None


def _analysis_pipeline() -> str:
    """The pipeline's own one-shot-bufferize element, as an analysis that annotates its decisions."""
    for _, elements in cpu_pipeline.STAGES:
        for element in elements:
            if element.startswith("one-shot-bufferize{"):
                return element[:-1] + " test-analysis-only print-conflicts}"
    raise AssertionError("the cpu pipeline has no one-shot-bufferize element")


_CONFLICT = re.compile(r"^(C_\d+)\[(CONFL-WRITE|READ): \d+\]$")


def _why_not_in_place(snapshot: ir.Operation, entry: str, index: int) -> tuple[str, ir.Location | None]:
    """Explain, from one-shot bufferization's own analysis of the tensor-level
    module, why state argument ``index`` of ``entry`` was not updated in place."""
    from kvc.diagnostics import describe_location

    try:
        run_pipeline(snapshot, parse_pipeline(_analysis_pipeline()), verify_each=False)
    except KvcError:
        return "", None
    func_op = _find_entry(snapshot, entry)
    arg = func_op.regions[0].blocks[0].arguments[index]
    # every value computed from the state (over-approximated: any use, transitively)
    derived, todo = {arg}, [arg]
    while todo:
        value = todo.pop()
        for use in value.uses:
            owner = use.owner
            news = list(owner.results)
            for region in owner.regions:
                for blk in region:
                    news += list(blk.arguments)
            for v in news:
                if v not in derived:
                    derived.add(v)
                    todo.append(v)
    copied, readers = [], {}

    def visit(op):
        if "__inplace_operands_attr__" in op.attributes:
            flags = [ir.StringAttr(f).value for f in ir.ArrayAttr(op.attributes["__inplace_operands_attr__"])]
            if any(f == "false" and k < len(op.operands) and op.operands[k] in derived for k, f in enumerate(flags)):
                copied.append(op)
        for name in op.attributes:  # names
            m = _CONFLICT.match(name)
            if m and m.group(2) == "READ":
                readers.setdefault(m.group(1), op)
        return ir.WalkResult.ADVANCE

    func_op.walk(visit)
    for op in copied:
        for name in op.attributes:
            m = _CONFLICT.match(name)
            if m and m.group(2) == "CONFL-WRITE" and m.group(1) in readers:
                read = readers[m.group(1)]
                return (f"one-shot bufferization would copy it before '{op.name}' at "
                        f"{describe_location(op.location)} writes it, because the value it overwrites is still "
                        f"read afterwards by '{read.name}' at {describe_location(read.location)}.", op.location)
    if copied:
        op = copied[0]
        return (f"one-shot bufferization would copy it before '{op.name}' at {describe_location(op.location)} "
                "writes it.", op.location)
    return (f"no result of @{entry} is its new value written into its buffer (the new value is not "
            "returned, or it is built in a new tensor instead of being written into the state).", None)


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
