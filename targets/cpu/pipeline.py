"""The cpu target's pass pipeline: the one place that says how kvc IR becomes LLVM.

Each stage is a name (it keys ``CpuExecutable.ir_stages``) and a list of
pipeline elements, run in order on the whole module. Elements are either kvc
passes (``lowbit-...``, run in Python through :mod:`kvc.pipeline`), upstream
MLIR passes (any mlir-opt spelling, nested anchors allowed), or one of the
target's own steps written ``cpu.<step>`` (Python functions of
:mod:`kvc.targets.cpu.compiler` that also hand data to the runtime, such as
moving large constants out of the IR into bound weights).

Design notes (docs/targets/cpu.md has the long form):

* ``kvcache-lower-to-tensors`` first: plain K/V caches become
  ``tensor<2xSxHxDxE>`` values, appends ``tensor.insert_slice`` into them
  (destination-passing style, so bufferization can update them in place).
* ``lowbit-lower-to-storage`` next: every lowbit type becomes i8 storage and
  every lowbit op linalg/arith/scf on it; matmuls read the packed words
  directly (no unpacked weight tensor) with a register-resident K loop that
  LLVM vectorizes (its reduction add carries ``fastmath<reassoc,contract>``).
  ``cpu-matmul-kernels`` gives dense f32 contractions that are contiguous
  along K (F.linear, Q K^T) the same loop shape, folding their transposes.
* ``cpu.externalize-constants``: constants above ``min_bytes`` (weights,
  packed codes) become entry arguments bound at compile time, so no weight is
  copied into an LLVM global (that would cost ~4x its size in memory and time).
* Bufferization converts function boundaries with identity layouts; results
  stay results (memref descriptors returned by value). The ownership-based
  deallocation pipeline frees every temporary and guarantees each returned
  buffer is a fresh allocation owned by the caller, so outputs of any
  (dynamic) shape need no shape function: the runtime wraps the returned
  buffer as a numpy array and frees it with the array.
* In-place state (``cpu.mark-writable-args`` .. ``cpu.drop-state-results``):
  an entry argument tagged ``kvc.state`` or ``kvc.cache`` (or named in
  ``compile_module(state_args=...)``) is *state*: the caller's buffer, updated
  in place. Only state arguments are writable for one-shot bufferization
  (inputs and weights are read-only, never written behind the caller's back).
  After it, canonicalize (folds loop-carried buffers that are yielded
  unchanged) and upstream ``drop-equivalent-buffer-results`` (private callees
  stop returning buffers equivalent to their arguments; their call sites use
  the operands) leave the entry returning the state argument itself, and
  ``cpu.drop-state-results`` drops that result from the public entry (the
  caller already holds it) before deallocation could clone it. A state
  argument that no result is (bufferization copied it, or the update is
  computed into a new buffer) fails compilation, naming the function, the
  argument and the conflicting write and read: state is never copied
  silently.
* ``cpu.strided-copies-to-linalg``: a ``memref.copy`` between non-identity
  layouts (strided slices) becomes ``linalg.copy`` and then loops like
  everything else: lowered as is, it would call ``memrefCopy`` from MLIR's C
  runner utils library, which brings a second copy of LLVM into the process
  (a later ``import torch_mlir`` aborts). Contiguous copies stay
  ``memref.copy`` and become ``llvm.memcpy``.
* Loops: ``convert-linalg-to-loops`` (the lowbit kernels are already loop
  nests with vectorizable bodies; LLVM's loop vectorizer, at
  ``compile_module(opt_level=2 or 3)``, vectorizes them).
"""

from __future__ import annotations

# Stage name -> pipeline elements. Keep this list readable: it *is* the target.
STAGES: list[tuple[str, list[str]]] = [
    ("kvc-lowering", [
        "kvcache-lower-to-tensors",
        "lowbit-bitplane-matmul",
        "lowbit-lower-to-storage",
        "cpu-matmul-kernels",
        "canonicalize",
        "cse",
    ]),
    ("linalg", [
        "cpu.externalize-constants",
        "linalg-fuse-elementwise-ops",
        "canonicalize",
        "cse",
    ]),
    ("bufferized", [
        "cpu.mark-writable-args",
        "one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map "
        "unknown-type-conversion=identity-layout-map}",
        "canonicalize",
        "drop-equivalent-buffer-results",
        "cpu.drop-state-results",
        "ownership-based-buffer-deallocation",
        "canonicalize",
        "buffer-deallocation-simplification",
        "bufferization-lower-deallocations",
        "convert-bufferization-to-memref",
        "cse",
        "canonicalize",
    ]),
    ("loops", [
        "cpu.strided-copies-to-linalg",
        "func.func(convert-linalg-to-loops)",
        "lower-affine",
        "canonicalize",
        "cse",
        "loop-invariant-code-motion",
    ]),
    ("llvm", [
        "convert-scf-to-cf",
        "expand-strided-metadata",
        "lower-affine",
        "finalize-memref-to-llvm",
        "convert-math-to-llvm",
        "convert-math-to-libm",
        "arith-expand",
        "convert-arith-to-llvm",
        "convert-index-to-llvm",
        "convert-cf-to-llvm",
        "convert-func-to-llvm",
        "convert-ub-to-llvm",
        "reconcile-unrealized-casts",
    ]),
]

#: Options of the target's own steps (``cpu.<step>``).
EXTERNALIZE_MIN_BYTES = 1 << 16

#: Default LLVM optimization level of the ExecutionEngine
#: (``compile_module(opt_level=...)``): -O3 runs 4-bit matmuls ~27% faster than
#: -O2; large graphs JIT much faster at lower levels (docs/targets/cpu.md).
DEFAULT_OPT_LEVEL = 3


def pipeline_elements() -> list[str]:
    """Every element of the pipeline, in order (``CpuExecutable.pipeline``)."""
    out = []
    for _, elements in STAGES:
        for element in elements:
            if element == "cpu.externalize-constants":
                element = f"cpu.externalize-constants{{min-bytes={EXTERNALIZE_MIN_BYTES}}}"
            out.append(element)
    return out
