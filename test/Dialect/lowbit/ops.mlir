// RUN: kvc-opt %s | kvc-opt | FileCheck %s
// RUN: kvc-opt %s --mlir-print-op-generic | kvc-opt | FileCheck %s

// Every lowbit type and op round-trips through kvc-opt.

// CHECK-LABEL: func.func @types
// CHECK-SAME: tensor<4x!lowbit.int<4 : i32>>
// CHECK-SAME: tensor<4x!lowbit.uint<3 : i32>>
// CHECK-SAME: tensor<4x!lowbit.float<2 : i32, 1 : i32>>
// CHECK-SAME: tensor<4x!lowbit.float<4 : i32, 3 : i32>>
// CHECK-SAME: tensor<4x!lowbit.razer<array<f32: 5.000000e+00, 8.000000e+00, -5.000000e+00, -8.000000e+00>>>
// CHECK-SAME: tensor<4x!lowbit.bipolar<2 : i32>>
func.func @types(%a: tensor<4x!lowbit.int<4 : i32>>, %b: tensor<4x!lowbit.uint<3 : i32>>,
                 %c: tensor<4x!lowbit.float<2 : i32, 1 : i32>>, %d: tensor<4x!lowbit.float<4 : i32, 3 : i32>>,
                 %e: tensor<4x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, %f: tensor<4x!lowbit.bipolar<2 : i32>>) {
  return
}

// CHECK-LABEL: func.func @quantize_dequantize
// CHECK: "lowbit.quantize"(%{{.*}}) {axis = 1 : i64, group_size = 32 : i64
// CHECK-SAME: -> (tensor<8x64x!lowbit.uint<4 : i32>>, tensor<8x2xf16>, tensor<8x2xf16>)
// CHECK: "lowbit.dequantize"
// CHECK-SAME: -> tensor<8x64xf32>
func.func @quantize_dequantize(%x: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %codes, %scales, %zeros = "lowbit.quantize"(%x) {group_size = 32 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 1, 0>}
      : (tensor<8x64xf32>) -> (tensor<8x64x!lowbit.uint<4 : i32>>, tensor<8x2xf16>, tensor<8x2xf16>)
  %y = "lowbit.dequantize"(%codes, %scales, %zeros) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0>}
      : (tensor<8x64x!lowbit.uint<4 : i32>>, tensor<8x2xf16>, tensor<8x2xf16>) -> tensor<8x64xf32>
  return %y : tensor<8x64xf32>
}

// CHECK-LABEL: func.func @pack_unpack
// CHECK: "lowbit.pack"(%{{.*}}) : (tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x4xi8>
// CHECK: "lowbit.unpack"(%{{.*}}) : (tensor<3x4xi8>) -> tensor<3x10x!lowbit.int<3 : i32>>
func.func @pack_unpack(%c: tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x10x!lowbit.int<3 : i32>> {
  %p = "lowbit.pack"(%c) : (tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x4xi8>
  %u = "lowbit.unpack"(%p) : (tensor<3x4xi8>) -> tensor<3x10x!lowbit.int<3 : i32>>
  return %u : tensor<3x10x!lowbit.int<3 : i32>>
}

// CHECK-LABEL: func.func @razer_matmul
// CHECK: "lowbit.matmul"
// CHECK-SAME: group_size = 128 : i64
// CHECK-SAME: -> tensor<?x5xf16>
func.func @razer_matmul(%x: tensor<?x256xf16>, %w: tensor<5x256x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>,
                        %s: tensor<5x2xf16>, %m: tensor<5x2xi8>) -> tensor<?x5xf16> {
  %y = "lowbit.matmul"(%x, %w, %s, %m) {group_size = 128 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>}
      : (tensor<?x256xf16>, tensor<5x256x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, tensor<5x2xf16>, tensor<5x2xi8>) -> tensor<?x5xf16>
  return %y : tensor<?x5xf16>
}

// CHECK-LABEL: func.func @bipolar_matmul_partial_group
// CHECK: "lowbit.matmul"
func.func @bipolar_matmul_partial_group(%x: tensor<2x100xf32>, %w: tensor<7x100x!lowbit.bipolar<3 : i32>>,
                                        %s: tensor<7x4xf16>, %z: tensor<7x4xf16>) -> tensor<2x7xf32> {
  %y = "lowbit.matmul"(%x, %w, %s, %z) {group_size = 32 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}
      : (tensor<2x100xf32>, tensor<7x100x!lowbit.bipolar<3 : i32>>, tensor<7x4xf16>, tensor<7x4xf16>) -> tensor<2x7xf32>
  return %y : tensor<2x7xf32>
}
