"""A minimal cpu pipeline for the frontend, used only while ``kvc.targets.cpu``
does not provide ``compile_module`` (same interface, so callers switch by
import). One-shot bufferization across function boundaries, in-place cache
updates (equivalent results dropped), results as caller-allocated out
parameters, loops, LLVM, ExecutionEngine.
"""

from __future__ import annotations

import ctypes

import numpy as np
from mlir import ir
from mlir.execution_engine import ExecutionEngine
from mlir.runtime import get_ranked_memref_descriptor

from kvc.dialects import kvcache
from kvc.pipeline import run_pipeline

BUFFERIZE = (
    "kvcache-lower-to-tensors,"
    "{lowbit},"
    "canonicalize,"
    "cse,"
    "func.func(linalg-fuse-elementwise-ops),"
    "one-shot-bufferize{{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}}"
)
#: LLVM optimization level of the ExecutionEngine.
OPT_LEVEL = 2

# drop-equivalent-buffer-results only rewrites private functions: the entry is
# made private around it.
LOWER = (
    "buffer-results-to-out-params{modify-public-functions hoist-static-allocs},"
    "func.func(ownership-based-buffer-deallocation),"
    "canonicalize,"
    "buffer-deallocation-simplification,"
    "bufferization-lower-deallocations,"
    "func.func(convert-linalg-to-loops),"
    "lower-affine,"
    "canonicalize,"
    "cse,"
    "loop-invariant-code-motion,"
    "expand-strided-metadata,"
    "lower-affine,"
    "convert-scf-to-cf,"
    "convert-math-to-llvm,"
    "convert-math-to-libm,"
    "convert-arith-to-llvm,"
    "convert-cf-to-llvm,"
    "finalize-memref-to-llvm,"
    "convert-func-to-llvm,"
    "convert-index-to-llvm,"
    "reconcile-unrealized-casts"
)


def compile_module(module: ir.Module, *, entry: str = "forward", weights: dict[str, np.ndarray] | None = None):
    return _Executable(module, entry=entry, weights=weights)


class _Executable:
    """Callable: ``exe(*inputs_and_caches) -> list[np.ndarray]`` (caches updated in place)."""

    def __init__(self, module: ir.Module, *, entry: str, weights):
        from kvc.pipeline import registered_passes

        self.entry = entry
        fn = _func(module, entry)
        arg_attrs = [ir.DictAttr(d) for d in ir.ArrayAttr(fn.attributes["arg_attrs"])] if "arg_attrs" in fn.attributes else []
        weights = weights or {}
        self.arg_kinds: list[tuple[str, str]] = []
        self._bound: dict[int, np.ndarray] = {}
        for i, d in enumerate(arg_attrs):
            if "kvc.weight" in d:
                name = ir.StringAttr(d["kvc.weight"]).value
                if name not in weights:
                    raise KeyError(f"no array bound for weight argument '{name}'")
                self._bound[i] = np.ascontiguousarray(weights[name])
                self.arg_kinds.append(("weight", name))
            elif "kvc.cache" in d:
                self.arg_kinds.append(("cache", ir.StringAttr(d["kvc.cache"]).value))
            else:
                self.arg_kinds.append(("input", ""))
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        self._results_before = [t for t in ftype.results]
        n_cache_results = sum(1 for t in ftype.results if kvcache.is_cache(t))
        fn.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get(module.context)
        lowbit = "lowbit-lower-to-storage" if "lowbit-lower-to-storage" in registered_passes() else "canonicalize"
        self.stages: dict[str, str] = {}
        outs: list = []

        def keep(element, op):
            name = element.text.split("{")[0].strip()
            if name in ("kvcache-lower-to-tensors", "one-shot-bufferize", "drop-equivalent-buffer-results"):
                self.stages[name] = str(op)
            if name == "buffer-results-to-out-params":
                f = _func(op, entry)
                ft = ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
                outs.extend(ir.MemRefType(t) for t in ft.inputs[len(self.arg_kinds):])

        with module.context, ir.Location.unknown():
            self._lower(module, entry, lowbit, keep)
        if len(outs) != len(self._results_before) - n_cache_results:
            raise RuntimeError("a cache result was not bufferized in place (the step would copy the cache)")
        self.out_specs = [(list(t.shape), _np_dtype(t.element_type)) for t in outs]
        self.engine = ExecutionEngine(module, opt_level=OPT_LEVEL, shared_libs=[_runner_utils()])
        self.engine.lookup(entry)  # JIT-compile now, not on the first call
        self._keep = module

    def _lower(self, module, entry, lowbit, keep):
        run_pipeline(module, BUFFERIZE.format(lowbit=lowbit), after_each=keep)
        entry_fn = _func(module, entry)
        entry_fn.attributes["sym_visibility"] = ir.StringAttr.get("private")
        run_pipeline(module, "drop-equivalent-buffer-results")
        entry_fn = _func(module, entry)
        del entry_fn.attributes["sym_visibility"]
        entry_fn.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        self.stages["drop-equivalent-buffer-results"] = str(module)
        # kvc's verifier has nothing left to check after bufferization (no kvc op or
        # type survives it) and upstream passes verify their own output; skipping
        # it here saves seconds per step on larger models.
        run_pipeline(module, LOWER, after_each=keep, verify_each=False)

    def __call__(self, *arrays):
        given = list(arrays)
        args = []
        keep = []
        for i, (kind, _) in enumerate(self.arg_kinds):
            if kind == "weight":
                a = self._bound[i]
            else:
                if not given:
                    raise TypeError("too few arguments")
                a = given.pop(0)
                if kind == "cache":
                    if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable):
                        raise TypeError("a KV cache argument must be a writable C-contiguous numpy array (updated in place)")
                else:
                    a = np.ascontiguousarray(a)
            keep.append(a)
            args.append(_descriptor(a))
        if given:
            raise TypeError(f"{len(given)} argument(s) too many")
        outputs = [np.empty(shape, dtype) for shape, dtype in self.out_specs]
        args += [_descriptor(o) for o in outputs]
        self.engine.invoke(self.entry, *args)
        return outputs


def _runner_utils() -> str:
    import os

    import mlir

    return os.path.join(list(mlir.__path__)[0], "lib", "libmlir_c_runner_utils.so")


def _descriptor(a: np.ndarray):
    if a.ndim == 0:
        a = a.reshape(())
    desc = get_ranked_memref_descriptor(a)
    return ctypes.pointer(ctypes.pointer(desc))


def _np_dtype(t: ir.Type):
    if isinstance(t, ir.F32Type):
        return np.float32
    if isinstance(t, ir.F16Type):
        return np.float16
    if isinstance(t, ir.F64Type):
        return np.float64
    if isinstance(t, ir.IntegerType):
        return {1: np.bool_, 8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}[ir.IntegerType(t).width]
    raise TypeError(f"unsupported result element type {t}")


def _func(module, name):
    body = module.body if isinstance(module, ir.Module) else module.regions[0].blocks[0]
    for op in body.operations:
        if op.operation.name in ("func.func", "llvm.func") and ir.StringAttr(op.attributes["sym_name"]).value == name:
            return op
    raise KeyError(name)
