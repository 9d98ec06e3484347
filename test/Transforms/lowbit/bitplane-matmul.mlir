// RUN: kvc-opt %s --lowbit-bitplane-matmul --canonicalize --cse | FileCheck %s
// Lowered all the way (the packs it introduces fold away against the unpacks):
// RUN: kvc-opt %s --lowbit-bitplane-matmul --lowbit-lower-to-storage --canonicalize | FileCheck %s --check-prefix=LOWERED

// bipolar2 activations x bipolar3 weights: 2 + 3 plane tensors of i64 words (64 codes a word,
// each of the 3 groups of 32 starting a fresh word), then per word popc(a_i XOR b_j) shifted by
// i + j; D = cnt * (2^2-1)(2^3-1) - 2 T; the epilogue runs in f64 and rounds once.
// CHECK-LABEL: func.func @bipolar_bipolar
// CHECK-NOT: lowbit.dequantize
// CHECK-NOT: "lowbit.matmul"
// CHECK-NOT: lowbit.unpack
// CHECK: linalg.generic {{.*}} outs(%{{.*}}, %{{.*}} : tensor<4x3x1xi64>, tensor<4x3x1xi64>)
// CHECK: linalg.generic {{.*}} outs(%{{.*}}, %{{.*}}, %{{.*}} : tensor<6x3x1xi64>, tensor<6x3x1xi64>, tensor<6x3x1xi64>)
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4x6xf32>)
// CHECK: arith.xori %{{.*}}, %{{.*}} : i64
// CHECK: math.ctpop %{{.*}} : i64
// CHECK: arith.muli %{{.*}}, %c21_i64 : i64
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// CHECK: arith.truncf %{{.*}} : f64 to f32
// LOWERED-LABEL: func.func @bipolar_bipolar
// LOWERED-NOT: lowbit.
// LOWERED: math.ctpop
// LOWERED-NOT: lowbit.
func.func @bipolar_bipolar(%xp: tensor<4x24xi8>, %xs: tensor<4x1xf16>, %wp: tensor<6x36xi8>, %ws: tensor<6x3xf16>) -> tensor<4x6xf32> {
  %xc = "lowbit.unpack"(%xp) : (tensor<4x24xi8>) -> tensor<4x96x!lowbit.bipolar<2 : i32>>
  %wc = "lowbit.unpack"(%wp) : (tensor<6x36xi8>) -> tensor<6x96x!lowbit.bipolar<3 : i32>>
  %xd = "lowbit.dequantize"(%xc, %xs) {group_size = 96 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<4x96x!lowbit.bipolar<2 : i32>>, tensor<4x1xf16>) -> tensor<4x96xf32>
  %y = "lowbit.matmul"(%xd, %wc, %ws) {group_size = 32 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<4x96xf32>, tensor<6x96x!lowbit.bipolar<3 : i32>>, tensor<6x3xf16>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}

// int8 activations (runtime-quantized) x bipolar1 weights with zeros: AND planes, the top
// activation plane weighs -2^7, and the zero-point terms need the per-group plane sums.
// CHECK-LABEL: func.func @int8_bipolar
// CHECK: "lowbit.quantize"
// CHECK: "lowbit.pack"
// CHECK: arith.andi %{{.*}}, %{{.*}} : i64
// CHECK: math.ctpop
// CHECK: arith.subf %{{.*}} : f64
func.func @int8_bipolar(%x: tensor<2x64xf32>, %wp: tensor<3x8xi8>, %ws: tensor<3x1xf16>, %wz: tensor<3x1xf16>) -> tensor<2x3xf32> {
  %xc, %xs = "lowbit.quantize"(%x) {group_size = 64 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<2x64xf32>) -> (tensor<2x64x!lowbit.int<8 : i32>>, tensor<2x1xf16>)
  %xd = "lowbit.dequantize"(%xc, %xs) {group_size = 64 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<2x64x!lowbit.int<8 : i32>>, tensor<2x1xf16>) -> tensor<2x64xf32>
  %wc = "lowbit.unpack"(%wp) : (tensor<3x8xi8>) -> tensor<3x64x!lowbit.bipolar<1 : i32>>
  %y = "lowbit.matmul"(%xd, %wc, %ws, %wz) {group_size = 64 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}
      : (tensor<2x64xf32>, tensor<3x64x!lowbit.bipolar<1 : i32>>, tensor<3x1xf16>, tensor<3x1xf16>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// Weights that are not bipolar, or activations that are not codes: untouched.
// CHECK-LABEL: func.func @not_bipolar
// CHECK: "lowbit.matmul"
// CHECK-NOT: math.ctpop
func.func @not_bipolar(%x: tensor<2x64xf32>, %wp: tensor<3x32xi8>, %ws: tensor<3x1xf16>) -> tensor<2x3xf32> {
  %wc = "lowbit.unpack"(%wp) : (tensor<3x32xi8>) -> tensor<3x64x!lowbit.int<4 : i32>>
  %y = "lowbit.matmul"(%x, %wc, %ws) {group_size = 64 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x64xf32>, tensor<3x64x!lowbit.int<4 : i32>>, tensor<3x1xf16>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// Constant weight codes: their planes are computed once by the pass (numpy) and stored as
// resources. For bipolar1 with one 64-code group, plane 0 is the packed row itself read as a
// little-endian i64 word.
// CHECK-LABEL: func.func @constant_weight
// CHECK: %[[PLANE:.*]] = arith.constant dense_resource<[[BLOB:bitplanes[^>]*]]> : tensor<2x1x1xi64>
// CHECK-NOT: "lowbit.unpack"
// CHECK: tensor.extract %[[PLANE]]
// CHECK: [[BLOB]]: "0x400000000102030405060708FF00FF00FF00FF00"
func.func @constant_weight(%x: tensor<1x64xf32>) -> tensor<1x2xf32> {
  %xc, %xs = "lowbit.quantize"(%x) {group_size = 64 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<1x64xf32>) -> (tensor<1x64x!lowbit.int<8 : i32>>, tensor<1x1xf16>)
  %xd = "lowbit.dequantize"(%xc, %xs) {group_size = 64 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<1x64x!lowbit.int<8 : i32>>, tensor<1x1xf16>) -> tensor<1x64xf32>
  %wp = arith.constant dense<[[1, 2, 3, 4, 5, 6, 7, 8], [-1, 0, -1, 0, -1, 0, -1, 0]]> : tensor<2x8xi8>
  %ws = arith.constant dense<1.0> : tensor<2x1xf16>
  %wc = "lowbit.unpack"(%wp) : (tensor<2x8xi8>) -> tensor<2x64x!lowbit.bipolar<1 : i32>>
  %y = "lowbit.matmul"(%xd, %wc, %ws) {group_size = 64 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<1x64xf32>, tensor<2x64x!lowbit.bipolar<1 : i32>>, tensor<2x1xf16>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
