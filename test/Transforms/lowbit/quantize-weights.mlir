// RUN: kvc-opt %s --split-input-file --lowbit-quantize-weights="format=int4 group-size=8" | FileCheck %s
// RUN: kvc-opt %s --split-input-file --lowbit-quantize-weights="format=razer4 group-size=4" | FileCheck %s --check-prefix=RAZER
// RUN: kvc-opt %s --split-input-file --lowbit-quantize-weights="format=uint4 group-size=8" | FileCheck %s --check-prefix=UINT
// RUN: not kvc-opt %s --lowbit-quantize-weights="format=int13" 2>&1 | FileCheck %s --check-prefix=ERR

// F.linear as torch-mlir emits it: matmul(x, transpose(W)) with a zero-filled accumulator.
// W = [[7, 6, 5, 4, 3, 2, 1, 0], [-8, -4, -2, -1, 0, 1, 2, 4]]: both rows get scale 1 (7/7 and -8/-8),
// so the int4 codes are the values themselves, packed two per byte, low nibble first:
// 0x67 0x45 0x23 0x01 | 0xC8 0xFE 0x10 0x42; scales f16 1.0 = 0x3C00.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>)
// CHECK-DAG: %[[P:.*]] = arith.constant dense_resource<[[CODES:.*]]> : tensor<2x4xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<[[SCALES:.*]]> : tensor<2x1xf16>
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// CHECK-NOT: linalg.fill
// CHECK: %[[C:.*]] = "lowbit.unpack"(%[[P]]) : (tensor<2x4xi8>) -> tensor<2x8x!lowbit.int<4 : i32>>
// CHECK: %[[Y:.*]] = "lowbit.matmul"(%[[X]], %[[C]], %[[S]]) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
// CHECK: return %[[Y]]
// CHECK: [[CODES]]: "0x4000000067452301C8FE1042"
// CHECK: [[SCALES]]: "0x40000000003C003C"
// RAZER-LABEL: func.func @linear
// RAZER-DAG: arith.constant dense_resource<{{.*}}.razer4.codes{{.*}}> : tensor<2x4xi8>
// RAZER-DAG: arith.constant dense_resource<{{.*}}.razer4.scales{{.*}}> : tensor<2x2xf16>
// RAZER-DAG: %[[M:.*]] = arith.constant dense_resource<{{.*}}.razer4.meta{{.*}}> : tensor<2x2xi8>
// RAZER: "lowbit.unpack"{{.*}} -> tensor<2x8x!lowbit.razer<array<f32: 5.000000e+00, 8.000000e+00, -5.000000e+00, -8.000000e+00>>>
// RAZER: "lowbit.matmul"(%{{.*}}, %{{.*}}, %{{.*}}, %[[M]]) {group_size = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>}
// UINT-LABEL: func.func @linear
// UINT: "lowbit.matmul"({{.*}}) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}
func.func @linear(%x: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0], [-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0]]> : tensor<2x8xf32>
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x8xf32>
  %e0 = tensor.empty() : tensor<8x2xf32>
  %t = linalg.transpose ins(%w : tensor<2x8xf32>) outs(%e0 : tensor<8x2xf32>) permutation = [1, 0]
  %e = tensor.empty(%m) : tensor<?x2xf32>
  %zero = arith.constant 0.0 : f32
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x2xf32>) -> tensor<?x2xf32>
  %y = linalg.matmul ins(%x, %t : tensor<?x8xf32>, tensor<8x2xf32>) outs(%f : tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A [K, N] constant (default matmul maps) is quantized along K, i.e. as its transpose: the same
// codes as above. The non-zero accumulator (a bias) is added back after the lowbit.matmul.
// CHECK-LABEL: func.func @kn_weight_with_bias
// CHECK-SAME: (%[[X:.*]]: tensor<3x8xf32>, %[[B:.*]]: tensor<3x2xf32>)
// CHECK: %[[Y:.*]] = "lowbit.matmul"(%[[X]],
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[B]], %[[Y]] : tensor<3x2xf32>, tensor<3x2xf32>)
// CHECK: arith.addf
// CHECK: return %[[R]]
// CHECK: "0x4000000067452301C8FE1042"
func.func @kn_weight_with_bias(%x: tensor<3x8xf32>, %b: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[7.0, -8.0], [6.0, -4.0], [5.0, -2.0], [4.0, -1.0], [3.0, 0.0], [2.0, 1.0], [1.0, 2.0], [0.0, 4.0]]> : tensor<8x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<3x8xf32>, tensor<8x2xf32>) outs(%b : tensor<3x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// matvec W[N, K] . x[K], and a weight used twice: quantized once (one codes blob).
// CHECK-LABEL: func.func @matvec_shared
// CHECK: dense_resource<weight.int4.codes{{[^>]*}}>
// CHECK-NOT: dense_resource<weight.int4.codes
// CHECK: "lowbit.matmul"{{.*}} -> tensor<2xf32>
// CHECK: "lowbit.matmul"{{.*}} -> tensor<2xf32>
// CHECK-NOT: linalg.matvec
func.func @matvec_shared(%x: tensor<8xf32>, %x2: tensor<8xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %w = arith.constant dense<[[7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0], [-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0]]> : tensor<2x8xf32>
  %zero = arith.constant dense<0.0> : tensor<2xf32>
  %y = linalg.matvec ins(%w, %x : tensor<2x8xf32>, tensor<8xf32>) outs(%zero : tensor<2xf32>) -> tensor<2xf32>
  %y2 = linalg.matvec ins(%w, %x2 : tensor<2x8xf32>, tensor<8xf32>) outs(%zero : tensor<2xf32>) -> tensor<2xf32>
  return %y, %y2 : tensor<2xf32>, tensor<2xf32>
}

// -----

// Not a constant weight (a plain argument, no bound array): left alone.
// CHECK-LABEL: func.func @runtime_weight
// CHECK: linalg.matmul
// CHECK-NOT: lowbit
func.func @runtime_weight(%x: tensor<3x8xf32>, %w: tensor<8x2xf32>, %o: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<3x8xf32>, tensor<8x2xf32>) outs(%o : tensor<3x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// ERR: error: lowbit-quantize-weights: option format: unknown format 'int13'
