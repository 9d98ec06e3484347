"""The cpu target: packed storage + decode arithmetic, bufferization, LLVM, ExecutionEngine.

    from kvc.targets.cpu import compile_module
    exe = compile_module(module, entry="forward", weights={"w": w})
    (y,) = exe(x)                      # numpy in, numpy out
    exe = compile_module(module, entry="step", state_args=[1], opt_level=2)
    (y,) = exe(x, cache)               # `cache` updated in place, its result dropped

The pipeline is :data:`kvc.targets.cpu.pipeline.STAGES`; the calling
convention (bound weights, read-only inputs, in-place state, fresh outputs)
is in docs/targets/cpu.md.
"""

from kvc.targets.cpu.compiler import STATE_ATTRS, CpuCompileError, CpuExecutable, compile_module, externalize_constants
from kvc.targets.cpu.pipeline import DEFAULT_OPT_LEVEL, STAGES, pipeline_elements

__all__ = ["DEFAULT_OPT_LEVEL", "STAGES", "STATE_ATTRS", "CpuCompileError", "CpuExecutable", "compile_module",
           "externalize_constants", "pipeline_elements"]
