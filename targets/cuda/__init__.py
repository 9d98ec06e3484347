"""The cuda target: low-bit GEMV kernels generated as MLIR and compiled to PTX.

Modules (see docs/targets/cuda.md):

* :mod:`.spec`    kernel specializations and per-format decode facts
* :mod:`.decode`  register-level decoders (device bit layouts), numpy-evaluable
* :mod:`.layout`  offline re-layout of kvc packed weights + a numpy kernel simulator
* :mod:`.gemv`    the MLIR kernel generator (gpu / nvvm / vector / arith / scf)
* :mod:`.lower`   MLIR -> PTX with upstream NVVM (imports MLIR)
* :mod:`.linear`  CudaLinear / CudaModel, compile_linear(s), artifacts
* :mod:`.emit`    command-line tool printing a kernel's MLIR / PTX

Importing this package does not import MLIR: artifacts run on GPU machines
with only numpy, torch and the driver.
"""

from .linear import (CudaLinear, CudaModel, add_prebuilt, compile_linear, compile_linears,
                     compile_quantized, load, ptx_for)
from .spec import CudaTargetError, GemvSpec

__all__ = [
    "CudaLinear", "CudaModel", "CudaTargetError", "GemvSpec", "add_prebuilt", "compile_linear",
    "compile_linears", "compile_quantized", "load", "ptx_for",
]
