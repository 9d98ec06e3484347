// RUN: not kvc-opt %s --split-input-file --lowbit-lower-to-storage 2>&1 >/dev/null | FileCheck %s

// Runtime quantization is bit-exact for int/uint/bipolar only; the others are rejected at the op.
// CHECK: lower-to-storage-errors.mlir:[[@LINE+3]]:{{[0-9]+}}: error: lowbit-lower-to-storage: runtime lowbit.quantize to e2m1 is not supported: only int, uint and bipolar formats quantize at runtime

func.func @quantize_minifloat(%x: tensor<4x32xf32>) -> tensor<4x2xf16> {
  %c, %s = "lowbit.quantize"(%x) {group_size = 16 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<4x32xf32>) -> (tensor<4x32x!lowbit.float<2 : i32, 1 : i32>>, tensor<4x2xf16>)
  return %s : tensor<4x2xf16>
}

// -----

// CHECK: lower-to-storage-errors.mlir:[[@LINE+2]]:{{[0-9]+}}: error: lowbit-lower-to-storage: runtime lowbit.quantize to razer4 is not supported
func.func @quantize_razer(%x: tensor<4x32xf32>) -> tensor<4x2xf16> {
  %c, %s, %m = "lowbit.quantize"(%x) {group_size = 16 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 1>}
      : (tensor<4x32xf32>) -> (tensor<4x32x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, tensor<4x2xf16>, tensor<4x2xi8>)
  return %s : tensor<4x2xf16>
}

// -----

// CHECK: lower-to-storage-errors.mlir:[[@LINE+2]]:{{[0-9]+}}: error: lowbit-lower-to-storage: runtime lowbit.quantize supports f16 and f32 scales, got bf16
func.func @quantize_bf16_scales(%x: tensor<4x32xf32>) -> tensor<4x2xbf16> {
  %c, %s = "lowbit.quantize"(%x) {group_size = 16 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<4x32xf32>) -> (tensor<4x32x!lowbit.int<4 : i32>>, tensor<4x2xbf16>)
  return %s : tensor<4x2xbf16>
}
