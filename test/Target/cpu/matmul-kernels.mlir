// RUN: kvc-opt %s --cpu-matmul-kernels --canonicalize | FileCheck %s

// F.linear as torch-mlir emits it: the transpose is folded (W read as stored, [N, K]) and the
// K reduction runs in a register loop that starts from the accumulator (here a broadcast bias).
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<32x64xf32>, %[[B:.*]]: tensor<32xf32>)
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// CHECK: %[[INIT:.*]] = linalg.broadcast ins(%[[B]]
// CHECK: linalg.generic {indexing_maps = [#{{.*}}], iterator_types = ["parallel", "parallel"]} outs(%[[INIT]] : tensor<?x32xf32>)
// CHECK: ^bb0(%[[ACC0:.*]]: f32):
// CHECK: %[[M:.*]] = linalg.index 0
// CHECK: %[[N:.*]] = linalg.index 1
// CHECK: scf.for %[[K:[a-z0-9]+]] = %c0 to %c64 step %c1 iter_args(%[[ACC:.*]] = %[[ACC0]]) -> (f32)
// CHECK: tensor.extract %[[X]][%[[M]], %[[K]]] : tensor<?x64xf32>
// CHECK: tensor.extract %[[W]][%[[N]], %[[K]]] : tensor<32x64xf32>
// CHECK: arith.mulf %{{.*}} fastmath<contract> : f32
// CHECK: arith.addf %[[ACC]], %{{.*}} fastmath<reassoc,contract> : f32
func.func @linear(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e0 = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e0 : tensor<64x32xf32>) permutation = [1, 0]
  %e = tensor.empty(%m) : tensor<?x32xf32>
  %bb = linalg.broadcast ins(%b : tensor<32xf32>) outs(%e : tensor<?x32xf32>) dimensions = [0]
  %y = linalg.matmul ins(%x, %t : tensor<?x64xf32>, tensor<64x32xf32>) outs(%bb : tensor<?x32xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// Attention scores Q K^T: batch_matmul with a transposed K, both contiguous along the head dim.
// CHECK-LABEL: func.func @scores
// CHECK-SAME: (%[[Q:.*]]: tensor<4x?x16xf32>, %[[KC:.*]]: tensor<4x?x16xf32>
// CHECK-NOT: linalg.transpose
// CHECK: %[[BT:.*]] = linalg.index 0
// CHECK: %[[I:.*]] = linalg.index 1
// CHECK: %[[J:.*]] = linalg.index 2
// CHECK: scf.for %[[D:[a-z0-9]+]] =
// CHECK: tensor.extract %[[Q]][%[[BT]], %[[I]], %[[D]]]
// CHECK: tensor.extract %[[KC]][%[[BT]], %[[J]], %[[D]]]
func.func @scores(%q: tensor<4x?x16xf32>, %k: tensor<4x?x16xf32>, %o: tensor<4x?x?xf32>) -> tensor<4x?x?xf32> {
  %c1 = arith.constant 1 : index
  %t = tensor.dim %k, %c1 : tensor<4x?x16xf32>
  %e = tensor.empty(%t) : tensor<4x16x?xf32>
  %kt = linalg.transpose ins(%k : tensor<4x?x16xf32>) outs(%e : tensor<4x16x?xf32>) permutation = [0, 2, 1]
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x?x16xf32>, tensor<4x16x?xf32>) outs(%o : tensor<4x?x?xf32>) -> tensor<4x?x?xf32>
  return %s : tensor<4x?x?xf32>
}

// K strided in the weight ([K, N] storage), or not f32: left to the loop lowering.
// CHECK-LABEL: func.func @untouched
// CHECK: linalg.matmul
// CHECK: linalg.matmul
// CHECK-NOT: scf.for
func.func @untouched(%x: tensor<3x64xf32>, %w: tensor<64x32xf32>, %o: tensor<3x32xf32>,
                     %h: tensor<3x64xf16>, %v: tensor<64x32xf16>, %p: tensor<3x32xf16>) -> (tensor<3x32xf32>, tensor<3x32xf16>) {
  %y = linalg.matmul ins(%x, %w : tensor<3x64xf32>, tensor<64x32xf32>) outs(%o : tensor<3x32xf32>) -> tensor<3x32xf32>
  %z = linalg.matmul ins(%h, %v : tensor<3x64xf16>, tensor<64x32xf16>) outs(%p : tensor<3x32xf16>) -> tensor<3x32xf16>
  return %y, %z : tensor<3x32xf32>, tensor<3x32xf16>
}
