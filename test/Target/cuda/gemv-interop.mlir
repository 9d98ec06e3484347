// The generated MLIR goes through kvc-opt's pipeline machinery with upstream
// passes (the first half of the lowering to PTX), and through upstream mlir-opt.
// RUN: %PYTHON -m kvc.targets.cuda.emit --format int2 --n 64 --k 512 --emit mlir \
// RUN:   | kvc-opt --pass-pipeline='builtin.module(gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1 index-bitwidth=32}))' \
// RUN:   | FileCheck %s
// RUN: %PYTHON -m kvc.targets.cuda.emit --format int2 --n 64 --k 512 --emit llvm | FileCheck %s

// CHECK: llvm.func @kvc_gemv_int2_g128_n64_k512_f16_f16_w2_d1p0_sm_90(%arg0: !llvm.ptr<1>, %arg1: !llvm.ptr<1>, %arg2: !llvm.ptr<1>, %arg3: !llvm.ptr<1>, %arg4: i32)
// CHECK-SAME: nvvm.kernel
// CHECK: nvvm.read.ptx.sreg.tid.x
// CHECK: nvvm.mma.sync
// CHECK: nvvm.barrier0
