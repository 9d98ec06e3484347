// The generator's output: upstream gpu / nvvm / llvm / arith / scf / memref /
// vector ops only, one kernel per specialization.
// RUN: %PYTHON -m kvc.targets.cuda.emit --format uint3 --n 100 --k 999 --group-size 32 --act bfloat16 --emit mlir | FileCheck %s

// CHECK: module attributes {gpu.container_module}
// CHECK: gpu.module @kvc_cuda [#nvvm.target<chip = "sm_90", features = "+ptx80", O = 3>]
// CHECK: gpu.func @kvc_gemv_uint3_g32_n100_k999_bf16_bf16_w{{[0-9]+}}_d1p0_sm_90(%w: !llvm.ptr<1>, %scales: !llvm.ptr<1>, %zeros: !llvm.ptr<1>, %x: memref<7992xbf16, 1>, %y: memref<800xbf16, 1>, %m: i32) workgroup(%red: memref<{{[0-9]+}}xf32, 3>) kernel
// CHECK: gpu.thread_id x
// CHECK: gpu.block_id x
// CHECK: llvm.inline_asm "ld.global.nc.L1::no_allocate.v4.u32
// CHECK: scf.for
// CHECK: llvm.intr.fma
// CHECK: arith.truncf {{.*}} : vector<2xf32> to vector<2xbf16>
// zero points: a ones-MMA sums the activations of each group
// CHECK: nvvm.mma.sync A[[[ONES:%[a-z0-9]+]], [[ONES]], [[ONES]], [[ONES]]]
// K = 999 is not a multiple of the 256-wide chunk: the last chunk masks x
// CHECK: arith.cmpi ult, {{.*}}, %c{{[0-9]+}} : index
// CHECK: arith.select
// CHECK: gpu.barrier
// CHECK: gpu.return
