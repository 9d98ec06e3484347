"""Lower generated kernels to PTX with the upstream NVPTX backend (no GPU needed).

Pipeline (all upstream passes of LLVM 22 MLIR)::

    builtin.module(
      gpu.module(convert-scf-to-cf,
                 convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1 index-bitwidth=32},
                 canonicalize, cse, reconcile-unrealized-casts),
      gpu-module-to-binary{format=isa})

Bare-pointer memrefs make every buffer one ``.u64`` kernel parameter (the
driver-API launch passes plain device pointers); 32-bit indices keep the
address arithmetic in 32-bit registers. ``gpu-module-to-binary`` with
``format=isa`` runs the NVPTX backend and stores PTX text in the
``gpu.binary``'s object, which :func:`to_ptx` returns.
"""

from __future__ import annotations

import functools
import re

from .spec import CudaTargetError, GemvSpec

PIPELINE = (
    "builtin.module("
    "gpu.module(convert-scf-to-cf,"
    "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1 index-bitwidth=32},"
    "canonicalize,cse,reconcile-unrealized-casts),"
    "gpu-module-to-binary{format=isa})"
)

LLVM_PIPELINE = (
    "builtin.module("
    "gpu.module(convert-scf-to-cf,"
    "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1 index-bitwidth=32},"
    "canonicalize,cse,reconcile-unrealized-casts))"
)


def _run(text: str, pipeline: str, what: str):
    from mlir import ir, passmanager

    ctx = ir.Context()
    diags = []

    def handler(d):
        diags.append(str(d))
        return True

    ctx.attach_diagnostic_handler(handler)
    with ctx:
        try:
            module = ir.Module.parse(text)
            passmanager.PassManager.parse(pipeline).run(module.operation)
        except Exception as err:  # MLIRError carries the diagnostics
            detail = "\n".join(diags) or str(err)
            raise CudaTargetError(f"cuda target: lowering {what} failed:\n{detail}") from None
        return module, ctx


def to_ptx(mlir_text: str, what: str = "kernel") -> str:
    """PTX text of the (single) gpu.module in ``mlir_text``."""
    from mlir.dialects import gpu

    module, ctx = _run(mlir_text, PIPELINE, what)
    with ctx:
        for op in module.body.operations:
            if op.operation.name == "gpu.binary":
                obj = gpu.ObjectAttr(op.attributes["objects"][0])
                return obj.object.decode()
    raise CudaTargetError(f"cuda target: lowering {what} produced no gpu.binary")


def to_llvm_dialect(mlir_text: str, what: str = "kernel") -> str:
    """The gpu.module after conversion to the llvm + nvvm dialects (for inspection / lit)."""
    module, ctx = _run(mlir_text, LLVM_PIPELINE, what)
    with ctx:
        return str(module)


@functools.lru_cache(maxsize=256)
def gemv_ptx(spec: GemvSpec) -> str:
    """Generate + lower one kernel (cached per specialization)."""
    from .gemv import generate

    return to_ptx(generate(spec), spec.name)


def ptx_summary(ptx: str) -> dict:
    """Counts of the instructions that matter in a PTX text (for reports and lit)."""
    pats = {
        "ld.global.v4": r"ld\.global(\.nc)?\.v4\.",
        "mma.sync": r"mma\.sync\.aligned\.m16n8k16",
        "prmt": r"\bprmt\.b32",
        "fma.f16x2": r"fma\.rn\.f16x2",
        "bar.sync": r"\bbar\.sync",
        "local": r"\.local\b",
    }
    return {k: len(re.findall(v, ptx)) for k, v in pats.items()}
