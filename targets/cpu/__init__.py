"""The cpu target: packed storage + decode arithmetic, bufferization, LLVM, ExecutionEngine."""
