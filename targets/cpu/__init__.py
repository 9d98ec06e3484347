"""The cpu target: packed storage + decode arithmetic, bufferization, LLVM, ExecutionEngine.

    from kvc.targets.cpu import compile_module
    exe = compile_module(module, entry="forward", weights={"w": w})
    (y,) = exe(x)                      # numpy in, numpy out

The pipeline is :data:`kvc.targets.cpu.pipeline.STAGES`; the calling
convention is in docs/targets/cpu.md.
"""

from kvc.targets.cpu.compiler import CpuCompileError, CpuExecutable, compile_module, externalize_constants
from kvc.targets.cpu.pipeline import STAGES, pipeline_elements

__all__ = ["CpuCompileError", "CpuExecutable", "STAGES", "compile_module", "externalize_constants", "pipeline_elements"]
