"""The cuda target: low-bit GEMV kernels generated as MLIR and compiled to PTX."""
