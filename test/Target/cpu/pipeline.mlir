// The cpu target's stages on a plain fp32 module (dynamic leading dim, a bound weight).
// RUN: %PYTHON -m kvc.targets.cpu %s --random-weights 0 --print-stage bufferized --print-stage llvm | FileCheck %s
// RUN: %PYTHON -m kvc.targets.cpu %s --entry constants --print-stage linalg --run | FileCheck %s --check-prefix=CONST
// RUN: %PYTHON -m kvc.targets.cpu --list-stages | FileCheck %s --check-prefix=STAGES
// RUN: not %PYTHON -m kvc.targets.cpu %s --entry nope 2>&1 | FileCheck %s --check-prefix=ERR
// RUN: not %PYTHON -m kvc.targets.cpu %s --random-weights 0 --run 2>&1 | FileCheck %s --check-prefix=RUNERR
// RUN: not %PYTHON -m kvc.targets.cpu %s 2>&1 | FileCheck %s --check-prefix=UNBOUND

// Function boundaries become identity-layout memrefs; results stay results.
// CHECK-LABEL: stage: bufferized
// CHECK: func.func @forward(%{{.*}}: memref<?x64xf32>, %{{.*}}: memref<64x32xf32> {kvc.weight = "w"})
// CHECK-SAME: -> memref<?x32xf32> attributes {llvm.emit_c_interface}
// CHECK: memref.alloc(%{{.*}}) {{.*}}: memref<?x32xf32>
// CHECK-NOT: bufferization.
// CHECK: return %{{.*}} : memref<?x32xf32>
// CHECK-LABEL: stage: llvm
// CHECK: llvm.func @forward(
// CHECK: llvm.call @malloc
// CHECK: llvm.func @_mlir_ciface_forward(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr {kvc.weight = "w"})
// CHECK-NOT: builtin.unrealized_conversion_cast
func.func @forward(%x: tensor<?x64xf32>, %w: tensor<64x32xf32> {kvc.weight = "w"}) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%m) : tensor<?x32xf32>
  %zero = arith.constant 0.0 : f32
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x32xf32>) -> tensor<?x32xf32>
  %y = linalg.matmul ins(%x, %w : tensor<?x64xf32>, tensor<64x32xf32>) outs(%f : tensor<?x32xf32>) -> tensor<?x32xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]} ins(%y : tensor<?x32xf32>) outs(%e : tensor<?x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.tanh %a : f32
    linalg.yield %r : f32
  } -> tensor<?x32xf32>
  return %t : tensor<?x32xf32>
}

// A 64 KiB constant leaves the IR: it becomes a bound weight argument (no LLVM global).
// 2^-6 * 128 ones + 0.5 = 2.5 per output; the small bias constant stays inline.
// CONST-LABEL: stage: linalg
// CONST: func.func @constants(%{{.*}}: tensor<128x128xf32> {kvc.weight = "__const.0"})
// CONST-NOT: dense<1.562500e-02>
// CONST: dense<5.000000e-01> : tensor<1x128xf32>
// CONST: result 0: float32 [1, 128]
// CONST-NEXT: {{\[\[}}2.5 2.5 2.5
func.func @constants() -> tensor<1x128xf32> {
  %x = arith.constant dense<1.0> : tensor<1x128xf32>
  %w = arith.constant dense<0.015625> : tensor<128x128xf32>
  %b = arith.constant dense<0.5> : tensor<1x128xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x128xf32>, tensor<128x128xf32>) outs(%b : tensor<1x128xf32>) -> tensor<1x128xf32>
  return %y : tensor<1x128xf32>
}

// STAGES: kvc-lowering:
// STAGES-NEXT: kvcache-lower-to-tensors
// STAGES-NEXT: lowbit-bitplane-matmul
// STAGES-NEXT: lowbit-lower-to-storage
// STAGES: bufferized:
// STAGES-NEXT: cpu.mark-writable-args
// STAGES-NEXT: one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map
// STAGES-NEXT: canonicalize
// STAGES-NEXT: drop-equivalent-buffer-results
// STAGES-NEXT: cpu.drop-state-results
// STAGES: llvm:
// STAGES: reconcile-unrealized-casts

// ERR: error: no func.func named 'nope' in the module (functions: forward, constants)
// UNBOUND: error: no array bound for weight argument(s) 'w': pass them in compile_module(weights=...)
// RUNERR: error: --run needs an entry without activation inputs; 'forward' takes tensor<?x64xf32>
