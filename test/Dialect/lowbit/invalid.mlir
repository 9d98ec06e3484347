// RUN: kvc-opt %s --split-input-file --verify-diagnostics

// One chunk per kvc verifier rule of the lowbit dialect (dialects/lowbit.py).

// expected-error @+1 {{bit width must be in [1, 8], got 9}}
func.func @int_too_wide(%a: tensor<4x!lowbit.int<9 : i32>>) { return }

// -----
// expected-error @+1 {{bit width must be in [1, 8], got 0}}
func.func @uint_zero_bits(%a: tensor<4x!lowbit.uint<0 : i32>>) { return }

// -----
// expected-error @+1 {{bit width must be in [1, 8], got 12}}
func.func @bipolar_too_wide(%a: tensor<4x!lowbit.bipolar<12 : i32>>) { return }

// -----
// expected-error @+1 {{sign + exponent + mantissa must fit 8 bits, got 9 (e5m3)}}
func.func @float_too_wide(%a: tensor<4x!lowbit.float<5 : i32, 3 : i32>>) { return }

// -----
// expected-error @+1 {{needs at least one exponent bit}}
func.func @float_no_exponent(%a: tensor<4x!lowbit.float<0 : i32, 3 : i32>>) { return }

// -----
// expected-error @+1 {{needs exactly 4 special values (a 2-bit selector per group), got 3}}
func.func @razer_three_specials(%a: tensor<4x!lowbit.razer<array<f32: 5.0, 8.0, -5.0>>>) { return }

// -----
func.func @group_size_positive(%x: tensor<8x64xf32>) {
  // expected-error @+1 {{group_size must be positive, got 0}}
  %c, %s = "lowbit.quantize"(%x) {group_size = 0 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64xf32>) -> (tensor<8x64x!lowbit.int<4 : i32>>, tensor<8x2xf16>)
  return
}

// -----
func.func @axis_in_range(%x: tensor<8x64xf32>) {
  // expected-error @+1 {{axis 2 is out of range for a rank-2 tensor}}
  %c, %s = "lowbit.quantize"(%x) {group_size = 32 : i64, axis = 2 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64xf32>) -> (tensor<8x64x!lowbit.int<4 : i32>>, tensor<8x2xf16>)
  return
}

// -----
func.func @codes_shape(%x: tensor<8x64xf32>) {
  // expected-error @+1 {{codes shape 8x32 must equal the float shape 8x64}}
  %c, %s = "lowbit.quantize"(%x) {group_size = 32 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64xf32>) -> (tensor<8x32x!lowbit.int<4 : i32>>, tensor<8x2xf16>)
  return
}

// -----
func.func @codes_lowbit(%x: tensor<8x64xf32>) {
  // expected-error @+1 {{codes must have a lowbit element type, got i8}}
  %c, %s = "lowbit.quantize"(%x) {group_size = 32 : i64, axis = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64xf32>) -> (tensor<8x64xi8>, tensor<8x2xf16>)
  return
}

// -----
func.func @float_side(%c: tensor<8x64x!lowbit.int<4 : i32>>, %s: tensor<8x2xf16>) {
  // expected-error @+1 {{the float side must have a float element type, got i32}}
  %y = "lowbit.dequantize"(%c, %s) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64x!lowbit.int<4 : i32>>, tensor<8x2xf16>) -> tensor<8x64xi32>
  return
}

// -----
func.func @scales_shape(%c: tensor<8x64x!lowbit.int<4 : i32>>, %s: tensor<8x3xf16>) {
  // expected-error @+1 {{scales shape 8x3 does not match axis 1 in groups of 32: expected 8x2}}
  %y = "lowbit.dequantize"(%c, %s) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64x!lowbit.int<4 : i32>>, tensor<8x3xf16>) -> tensor<8x64xf32>
  return
}

// -----
func.func @scales_float(%c: tensor<8x64x!lowbit.int<4 : i32>>, %s: tensor<8x2xi16>) {
  // expected-error @+1 {{scales must have a float element type, got i16}}
  %y = "lowbit.dequantize"(%c, %s) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64x!lowbit.int<4 : i32>>, tensor<8x2xi16>) -> tensor<8x64xf32>
  return
}

// -----
func.func @zeros_type(%c: tensor<8x64x!lowbit.uint<4 : i32>>, %s: tensor<8x2xf16>, %z: tensor<8x2xf32>) {
  // expected-error @+1 {{zeros type tensor<8x2xf32> must equal the scales type tensor<8x2xf16>}}
  %y = "lowbit.dequantize"(%c, %s, %z) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0>}
      : (tensor<8x64x!lowbit.uint<4 : i32>>, tensor<8x2xf16>, tensor<8x2xf32>) -> tensor<8x64xf32>
  return
}

// -----
func.func @uint_needs_zeros(%c: tensor<8x64x!lowbit.uint<4 : i32>>, %s: tensor<8x2xf16>) {
  // expected-error @+1 {{unsigned format uint4 needs a zeros operand (asymmetric quantization)}}
  %y = "lowbit.dequantize"(%c, %s) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64x!lowbit.uint<4 : i32>>, tensor<8x2xf16>) -> tensor<8x64xf32>
  return
}

// -----
func.func @razer_needs_meta(%c: tensor<8x64x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, %s: tensor<8x2xf16>) {
  // expected-error @+1 {{razer4 needs a meta operand holding the per-group special-value selector}}
  %y = "lowbit.dequantize"(%c, %s) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
      : (tensor<8x64x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, tensor<8x2xf16>) -> tensor<8x64xf32>
  return
}

// -----
func.func @razer_meta_shape(%c: tensor<8x64x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, %s: tensor<8x2xf16>, %m: tensor<8x4xi8>) {
  // expected-error @+1 {{meta must be an integer tensor shaped like the scales (8x2)}}
  %y = "lowbit.dequantize"(%c, %s, %m) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 1>}
      : (tensor<8x64x!lowbit.razer<array<f32: 5.0, 8.0, -5.0, -8.0>>>, tensor<8x2xf16>, tensor<8x4xi8>) -> tensor<8x64xf32>
  return
}

// -----
func.func @meta_only_razer(%c: tensor<8x64x!lowbit.int<4 : i32>>, %s: tensor<8x2xf16>, %m: tensor<8x2xi8>) {
  // expected-error @+1 {{meta is only meaningful for razer formats, not int4}}
  %y = "lowbit.dequantize"(%c, %s, %m) {group_size = 32 : i64, axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 1>}
      : (tensor<8x64x!lowbit.int<4 : i32>>, tensor<8x2xf16>, tensor<8x2xi8>) -> tensor<8x64xf32>
  return
}

// -----
func.func @packed_words(%c: tensor<3x10x!lowbit.int<3 : i32>>) {
  // expected-error @+1 {{packed storage must be i8 words, got i32}}
  %p = "lowbit.pack"(%c) : (tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x1xi32>
  return
}

// -----
func.func @packed_length(%c: tensor<3x10x!lowbit.int<3 : i32>>) {
  // expected-error @+1 {{packed shape 3x3 does not hold codes 3x10 at 3 bits: expected 3x4}}
  %p = "lowbit.pack"(%c) : (tensor<3x10x!lowbit.int<3 : i32>>) -> tensor<3x3xi8>
  return
}

// -----
func.func @unpack_length(%p: tensor<3x4xi8>) {
  // expected-error @+1 {{packed shape 3x4 does not hold codes 3x10 at 5 bits: expected 3x7}}
  %c = "lowbit.unpack"(%p) : (tensor<3x4xi8>) -> tensor<3x10x!lowbit.uint<5 : i32>>
  return
}

// -----
func.func @matmul_weight_rank(%x: tensor<2x8xf32>, %w: tensor<1x3x8x!lowbit.int<4 : i32>>, %s: tensor<3x1xf16>) {
  // expected-error @+1 {{codes must be a 2-D [N, K] weight, got 1x3x8}}
  %y = "lowbit.matmul"(%x, %w, %s) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x8xf32>, tensor<1x3x8x!lowbit.int<4 : i32>>, tensor<3x1xf16>) -> tensor<2x3xf32>
  return
}

// -----
func.func @matmul_k(%x: tensor<2x16xf32>, %w: tensor<3x8x!lowbit.int<4 : i32>>, %s: tensor<3x1xf16>) {
  // expected-error @+1 {{input's last dimension 16 must equal the weight's K = 8}}
  %y = "lowbit.matmul"(%x, %w, %s) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x16xf32>, tensor<3x8x!lowbit.int<4 : i32>>, tensor<3x1xf16>) -> tensor<2x3xf32>
  return
}

// -----
func.func @matmul_input_float(%x: tensor<2x8xi32>, %w: tensor<3x8x!lowbit.int<4 : i32>>, %s: tensor<3x1xf16>) {
  // expected-error @+1 {{input must have a float element type, got i32}}
  %y = "lowbit.matmul"(%x, %w, %s) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x8xi32>, tensor<3x8x!lowbit.int<4 : i32>>, tensor<3x1xf16>) -> tensor<2x3xi32>
  return
}

// -----
func.func @matmul_result_shape(%x: tensor<2x8xf32>, %w: tensor<3x8x!lowbit.int<4 : i32>>, %s: tensor<3x1xf16>) {
  // expected-error @+1 {{result shape 2x4 must be 2x3}}
  %y = "lowbit.matmul"(%x, %w, %s) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x8xf32>, tensor<3x8x!lowbit.int<4 : i32>>, tensor<3x1xf16>) -> tensor<2x4xf32>
  return
}

// -----
func.func @matmul_result_type(%x: tensor<2x8xf32>, %w: tensor<3x8x!lowbit.int<4 : i32>>, %s: tensor<3x1xf16>) {
  // expected-error @+1 {{result element type f16 must equal the input's f32}}
  %y = "lowbit.matmul"(%x, %w, %s) {group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x8xf32>, tensor<3x8x!lowbit.int<4 : i32>>, tensor<3x1xf16>) -> tensor<2x3xf16>
  return
}

// -----
func.func @matmul_group_scales(%x: tensor<2x100xf32>, %w: tensor<3x100x!lowbit.int<4 : i32>>, %s: tensor<3x3xf16>) {
  // expected-error @+1 {{scales shape 3x3 does not match K = 100 in groups of 32: expected 3x4}}
  %y = "lowbit.matmul"(%x, %w, %s) {group_size = 32 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
      : (tensor<2x100xf32>, tensor<3x100x!lowbit.int<4 : i32>>, tensor<3x3xf16>) -> tensor<2x3xf32>
  return
}

// -----
func.func @irdl_operand_count(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{'operandSegmentSizes' attribute is expected but not provided}}
  %y = "lowbit.matmul"(%x) {group_size = 8 : i64} : (tensor<2x8xf32>) -> tensor<2x3xf32>
  return
}
